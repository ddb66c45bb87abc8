"""``bball-train``: train an action model on SpaceJam-format (or ``<class>/*.mp4``) clips.

One command from a dataset folder to a checkpoint the pipeline loads
(``bball-annotate game.mp4 --action-model runs/x/best.pt``)::

    bball-train --data SpaceJam --test-keys SpaceJam/testset_keys_1lug2020.txt \\
                --init kinetics --out runs/r2p1d

writes into ``--out``: ``best.pt`` (best validation macro-F1) and ``last.pt`` (every epoch,
with the optimiser state for ``--resume``), each in our checkpoint format with a ``.sha256``
beside it; ``history.csv``; ``split.json``; ``test/metrics.json`` and
``test/confusion_matrix.png`` for ``best.pt`` when there is a test split. The run itself is
:func:`recognizer.training.run.train`; this module is its command line.

``bball-train convert SRC --out NEW.pt [--labels ...] [--preset kinetics|hkair]`` wraps a
foreign file (a bare state_dict, hkair's checkpoint) in our format
(:func:`recognizer.checkpoint.convert_checkpoint`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import torch

from recognizer.checkpoint import PRESETS, convert_checkpoint
from recognizer.evaluate import add_common_options, parse_or_exit_code
from recognizer.labels import SPACEJAM_LABELS
from recognizer.models import ARCHS
from recognizer.training.config import TrainConfig
from recognizer.training.run import train
from tracker.common.errors import run_command

PROG = "bball-train"


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig(data="", out="")
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Train an action model on SpaceJam-layout clips (examples/<id>.mp4 + annotation_dict.json + "
        "labels_dict.json) or <root>/<class>/*.mp4 folders; writes best.pt / last.pt checkpoints that "
        "bball-annotate --action-model loads. Recipe: docs/training.md. "
        "'bball-train convert --help': wrap a bare state_dict or hkair's checkpoint in our format.",
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--out", help="run folder (default: the --resume checkpoint's folder, else runs/<arch>)")
    p.add_argument("--layout", default=d.layout, choices=["auto", "spacejam", "folders"])
    p.add_argument("--arch", default=d.arch, choices=list(ARCHS),
                   help="r2plus1d_tiny: one block per stage, no pretrained weights (tests, quick trials)")
    p.add_argument("--init", default=d.init, help="kinetics (torchvision's Kinetics-400 weights), none, or PATH")
    p.add_argument("--frames", type=int, default=d.frames, help="frames per clip")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="clip size (default: 176 128 for SpaceJam, "
                   "224 224 for s3d/mvit_v2_s, else 112 112)")
    p.add_argument("--margin", type=float, default=d.margin,
                   help="context around the player box in the training clips (fraction of the box's larger side); "
                   "stored in the checkpoint for the pipeline's crops")
    p.add_argument("--epochs", type=int, help=f"total epochs (default {d.epochs}; with --resume: the run's, or more to extend it)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--balance", default=d.balance, choices=["loss", "sampler", "none"],
                   help="class balance: weighted loss, balanced sampler, or none")
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--test-fraction", type=float, default=d.test_fraction,
                   help="held-out test share without --test-keys (default 0: no test split)")
    p.add_argument("--test-keys", help="official test clip keys (SpaceJam: testset_keys_1lug2020.txt)")
    p.add_argument("--siblings-of-test", default=d.siblings_of_test, choices=["drop", "test"],
                   help="augmented copies of test clips not in --test-keys: drop them, or add them to test")
    p.add_argument("--group-pattern", help="regex whose group 1 names a clip's original (default: strip _flipped, "
                   "_rotate_N, _translate_X_Y suffixes)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--unfreeze-every", type=int, default=d.unfreeze_every,
                   help="progressive unfreezing: head first, one more stage every N epochs (0: all from the start)")
    p.add_argument("--patience", type=int, default=d.patience, help="stop after N epochs without val gain (0: off)")
    p.add_argument("--recalibrate-bn", type=int, default=d.recalibrate_bn, metavar="N",
                   help="before each validation, re-estimate all BatchNorm statistics (frozen stages' too) over N training "
                   "batches (torch.optim.swa_utils.update_bn; helps short runs whose running statistics lag the weights)")
    p.add_argument("--threads", type=int, help="CPU threads for torch in this process (default: torch's choice)")
    p.add_argument("--log-every", type=int, default=d.log_every, metavar="N",
                   help="when stderr is not a terminal (no progress bar), a line every N batches (0: per epoch only)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no float16 autocast on CUDA")
    p.add_argument("--no-test", dest="evaluate_test", action="store_false", help="skip the final test evaluation")
    p.add_argument("--resume", type=Path, help="continue the run in this last.pt (give --data too)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    add_common_options(p, d.workers)
    return p


def build_convert_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} convert",
        description="Wrap a foreign action checkpoint in bball-annotate's format, naming what it does not say: "
        "its classes (--labels) and the input its weights were trained on (--preset). "
        "hkair's {'epoch', 'state_dict', 'optimizer'} files need neither (SpaceJam classes, hkair preset).",
    )
    p.add_argument("source", type=Path, help="a bare state_dict, hkair's checkpoint, or one of ours (to relabel)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (a .sha256 is written beside it)")
    p.add_argument("--labels", help="class names in the head's order, comma-separated, or 'spacejam' "
                   f"({','.join(SPACEJAM_LABELS)})")
    p.add_argument("--preset", choices=list(PRESETS),
                   help="kinetics: RGB, [0, 1], Kinetics mean/std, 112x112 (torchvision's video models); "
                   "hkair: BGR, 0-255, no mean/std, 176x128 (hkair's SpaceJam training)")
    p.add_argument("--arch", default="r2plus1d_18", choices=list(ARCHS), help="architecture of a bare state_dict")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p


def _train(args: argparse.Namespace) -> int:
    out = args.out or (str(args.resume.parent) if args.resume else f"runs/{args.arch}")
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values.update(out=out, epochs=args.epochs)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    try:
        summary = train(TrainConfig(**values), resume=args.resume, overwrite=args.overwrite)
    finally:
        torch.set_num_threads(threads)
    print(f"best: {summary['best']} (epoch {summary['best_epoch']}, val macro-F1 {summary['best_val_macro_f1']:.4f})")
    if "test" in summary:
        t = summary["test"]
        print(f"test: n={t['n']} accuracy {t['accuracy']:.4f} macro-F1 {t['macro_f1']:.4f} "
              f"(over {len(t['macro_f1_classes'])} classes with clips)")
    return 0


def _convert(args: argparse.Namespace) -> int:
    labels = None
    if args.labels:
        labels = list(SPACEJAM_LABELS) if args.labels == "spacejam" else [s.strip() for s in args.labels.split(",")]
    ckpt = convert_checkpoint(args.source, args.out, labels=labels, preset=args.preset, arch=args.arch,
                              overwrite=args.overwrite)
    c = ckpt.clip
    print(f"wrote {args.out}: {ckpt.arch}, {len(ckpt.labels)} classes ({', '.join(ckpt.labels)}); input "
          f"{c.frames}x{c.size[0]}x{c.size[1]} {c.channels}, 0-{c.pixel_range:g}, "
          f"{'mean/std' if c.mean is not None else 'no mean/std'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    convert = argv[:1] == ["convert"]
    parser, body = (build_convert_parser(), _convert) if convert else (build_parser(), _train)
    args = parse_or_exit_code(parser, argv[1:] if convert else argv)
    if isinstance(args, int):
        return args
    return run_command(PROG, lambda: body(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
