"""Training data: SpaceJam / folder readers, clip decoding and sampling, augmentation, leak-free splits."""

from __future__ import annotations

import json
import os
import re
from collections import Counter

import numpy as np
import pytest
import torch

from recognizer.clips import (
    Augment,
    ClipDataset,
    clip_tensor,
    jitter_indices,
    model_input,
    read_clip,
    sample_indices,
    write_clip,
)
from recognizer.data import (
    annotated_label,
    make_split,
    original_id,
    read_annotations,
    read_dataset,
    read_key_list,
    read_spacejam,
)
from recognizer.labels import SPACEJAM_DISCARD, SPACEJAM_LABELS, read_labels_dict
from recognizer.checkpoint import ClipConfig
from tests.conftest import shared_asset
from tracker.common.errors import InputVideoError, UsageError

SAMPLES = ("0000000_flipped_rotate_330", "0000000_translate_32_0")


def _ramp_clip(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    """``(n, h, w, 3)`` frames whose brightness encodes the frame number (20 + 10 * i)."""
    return np.stack([np.full((h, w, 3), 20 + 10 * i, np.uint8) for i in range(n)])


# ---------------------------------------------------------------- the real SpaceJam files


@pytest.fixture(scope="module")
def annotations() -> dict[str, int]:
    return read_annotations(shared_asset("spacejam/annotation_dict.json"))


def test_real_samples_read_with_spacejam_shape_and_label(tmp_path, annotations):
    """The two SpaceJam-format clips: 16 frames of 176 (h) x 128 (w) RGB, labelled 1 = pass via clip 0000000."""
    names = read_labels_dict(shared_asset("spacejam/labels_dict.json"))
    examples = tmp_path / "examples"
    examples.mkdir()
    for stem in SAMPLES:
        frames = read_clip(shared_asset(f"spacejam/samples/{stem}.mp4"))
        assert frames.shape == (16, 176, 128, 3) and frames.dtype == np.uint8
        assert 10 < frames.mean() < 245  # real picture content, not a blank decode
        assert annotated_label(stem, annotations) == annotations["0000000"] == 1
        assert names[1] == "pass"
        (examples / f"{stem}.mp4").symlink_to(shared_asset(f"spacejam/samples/{stem}.mp4"))
    (tmp_path / "annotation_dict.json").symlink_to(shared_asset("spacejam/annotation_dict.json"))
    (tmp_path / "labels_dict.json").symlink_to(shared_asset("spacejam/labels_dict.json"))

    clips = read_spacejam(tmp_path)  # the SpaceJam layout, unannotated augmented file names included
    assert clips.labels == SPACEJAM_LABELS
    assert [(it.key, clips.labels[it.label]) for it in clips.items] == [(s, "pass") for s in SAMPLES]
    assert clips.missing == len(annotations)  # none of the annotated keys has its own file here

    x, label, problem = ClipDataset(clips.items, ClipConfig(frames=16, size=[176, 128]))[0]
    assert problem == ""
    assert x.shape == (3, 16, 176, 128) and x.dtype == torch.float32 and label == 1
    # normalised with the Kinetics mean/std: roughly zero-centred, not raw pixels
    assert -3 < x.mean().item() < 3 and x.abs().max().item() < 5


def test_annotation_dict_class_counts_are_consistent(annotations):
    names = read_labels_dict(shared_asset("spacejam/labels_dict.json"))
    assert names[SPACEJAM_DISCARD] == "discard"
    assert [names[i] for i in range(len(SPACEJAM_LABELS))] == SPACEJAM_LABELS
    counts = Counter(annotations.values())
    assert sum(counts.values()) == len(annotations) > 30_000
    assert set(counts) <= set(names)
    kept = {c: n for c, n in counts.items() if c != SPACEJAM_DISCARD}
    assert sorted(kept) == list(range(len(SPACEJAM_LABELS)))  # all ten classes present
    assert all(n > 0 for n in kept.values())
    assert sum(kept.values()) + counts.get(SPACEJAM_DISCARD, 0) == len(annotations)
    # augmented keys are "<7-digit id>_flipped", each beside its original with the same label
    flipped = [k for k in annotations if k.endswith("_flipped")]
    assert all(re.fullmatch(r"\d{7}(_flipped)?", k) for k in annotations)
    assert flipped and all(annotations[original_id(k)] == annotations[k] for k in flipped)
    # strongly imbalanced: what the class-weighted loss / balanced sampler is for
    assert max(kept.values()) > 10 * min(kept.values())


# ---------------------------------------------------------------- splits


def _groups_by_split(split) -> dict[str, set[str]]:
    return {name: {original_id(k) for k in getattr(split, name)} for name in ("train", "val", "test", "dropped")}


def test_official_test_split_never_leaks_augmented_siblings(annotations):
    keys = list(annotations)
    labels = [annotations[k] for k in keys]
    test_keys = read_key_list(shared_asset("spacejam/testset_keys_1lug2020.txt"))
    split = make_split(keys, labels, val_fraction=0.15, test_keys=test_keys, seed=3)

    assert set(split.test) == set(test_keys)  # exactly the official test set
    g = _groups_by_split(split)
    assert not g["train"] & g["val"] and not g["train"] & g["test"] and not g["val"] & g["test"]
    # the official list names some clips but not their flipped copy: those copies are used nowhere
    listed, test_ids = set(test_keys), {t.split("_")[0] for t in test_keys}
    oracle = {k for k in keys if k not in listed and k.split("_")[0] in test_ids}
    assert set(split.dropped) == oracle and len(oracle) > 0
    assert sorted(split.train + split.val + split.test + split.dropped) == sorted(keys)

    # stratified: validation class shares track the training ones
    train_share = np.bincount([annotations[k] for k in split.train], minlength=10) / len(split.train)
    val_share = np.bincount([annotations[k] for k in split.val], minlength=10) / len(split.val)
    assert np.abs(train_share - val_share).max() < 0.02
    assert 0.12 < len(split.val) / (len(split.train) + len(split.val)) < 0.18

    with_siblings = make_split(keys, labels, test_keys=test_keys, seed=3, siblings_of_test="test")
    assert set(with_siblings.test) == listed | oracle and not with_siblings.dropped


def test_random_split_keeps_every_augmented_family_together(annotations):
    rng = np.random.default_rng(0)
    keys = list(annotations)
    # add SpaceJam-style pre-written augmentations (as in the sample file names) to some clips
    for k in rng.choice([k for k in annotations if "_" not in k], 2000, replace=False):
        keys += [f"{k}_flipped_rotate_330", f"{k}_translate_32_0", f"{k}_rotate_-15"]
    labels = [annotations[original_id(k)] for k in keys]
    a = make_split(keys, labels, val_fraction=0.1, test_fraction=0.2, seed=7)
    g = _groups_by_split(a)
    assert not g["train"] & g["val"] and not g["train"] & g["test"] and not g["val"] & g["test"]
    assert sorted(a.train + a.val + a.test) == sorted(keys) and not a.dropped
    assert 0.17 < len(a.test) / len(keys) < 0.23 and 0.07 < len(a.val) / len(keys) < 0.13
    # --seed makes it reproducible; another seed gives another split
    assert make_split(keys, labels, val_fraction=0.1, test_fraction=0.2, seed=7) == a
    assert make_split(keys, labels, val_fraction=0.1, test_fraction=0.2, seed=8).test != a.test


def test_original_id_and_key_lists(tmp_path):
    assert original_id("0006103_flipped") == "0006103"
    assert original_id("0000000_flipped_rotate_330") == "0000000"
    assert original_id("0000000_translate_32_0") == "0000000"
    assert original_id("0000000_translate_-8_4_flipped") == "0000000"
    assert original_id("player_rotate_left") == "player_rotate_left"  # not an augmentation suffix
    assert original_id("v_Shoot_g08_c03", r"^(v_\w+_g\d+)_c\d+$") == "v_Shoot_g08"
    (tmp_path / "keys.json").write_text(json.dumps(["0000001", "0000002_flipped"]))
    (tmp_path / "keys.txt").write_text("# test clips\n0000001.mp4\n\n0000002_flipped\n")
    assert read_key_list(tmp_path / "keys.json") == read_key_list(tmp_path / "keys.txt") == ["0000001", "0000002_flipped"]


def test_too_small_for_a_stratified_holdout_is_a_usage_error():
    with pytest.raises(UsageError, match="too few clips"):
        make_split(["a", "b", "c", "d"], [0, 0, 1, 1], val_fraction=0.75, seed=0)


# ---------------------------------------------------------------- decoding and sampling


def test_sampling_rules_for_short_exact_and_long_clips():
    short = sample_indices(10, 16)
    assert len(short) == 16 and short[0] == 0 and short[-1] == 9
    assert np.all(np.diff(short) >= 0) and set(short) == set(range(10))  # every frame used, some twice
    assert np.array_equal(sample_indices(16, 16), np.arange(16))
    long = sample_indices(40, 16)
    assert long[0] == 0 and long[-1] == 39 and np.all(np.diff(long) >= 2)  # evenly skipping frames
    gen = torch.Generator().manual_seed(0)
    for n in (5, 16, 64):
        for _ in range(20):
            idx = jitter_indices(n, 16, min_span=0.8, generator=gen)
            assert len(idx) == 16 and idx.min() >= 0 and idx.max() < n and np.all(np.diff(idx) >= 0)
            assert idx[-1] - idx[0] >= round(0.8 * n) - 1
    spans = {tuple(jitter_indices(64, 16, generator=gen)) for _ in range(10)}
    assert len(spans) > 1


@pytest.mark.parametrize("n_frames", [10, 16, 24])
def test_clips_of_any_length_come_out_with_the_model_length(tmp_path, n_frames):
    path = tmp_path / f"c{n_frames}.mp4"
    src = _ramp_clip(n_frames)
    write_clip(path, src)
    frames = read_clip(path)
    assert frames.shape == src.shape
    assert np.abs(frames.astype(int) - src.astype(int)).mean() < 4  # lossy but faithful

    clip = ClipConfig(frames=16, size=[16, 24])
    x = model_input(clip_tensor(frames, clip, sample_indices(len(frames), 16)), clip)
    assert x.shape == (3, 16, 16, 24)
    # brightness follows the evenly sampled frame numbers
    mean = torch.tensor(clip.mean).view(3, 1, 1, 1)
    std = torch.tensor(clip.std).view(3, 1, 1, 1)
    pixels = (x * std + mean) * 255
    expected = 20 + 10 * sample_indices(n_frames, 16)
    assert np.abs(pixels.mean(dim=(0, 2, 3)).numpy() - expected).max() < 5


def test_augment_is_one_transform_per_clip_and_keeps_shape():
    rng = np.random.default_rng(0)
    still = torch.from_numpy(np.repeat(rng.integers(0, 255, (1, 3, 24, 32), dtype=np.uint8), 8, axis=0))
    out = Augment(flip=0.5, rotate=15, translate=0.2)(still, torch.Generator().manual_seed(1))
    assert out.shape == still.shape and out.dtype == torch.uint8
    assert not torch.equal(out, still)
    assert all(torch.equal(out[0], f) for f in out)  # same warp on every frame: a still clip stays still
    flip_only = Augment(flip=1.0, rotate=0, translate=0, scale=(1.0, 1.0))
    assert torch.equal(flip_only(still), still.flip(-1))
    a = Augment()(still, torch.Generator().manual_seed(5))
    b = Augment()(still, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


# ---------------------------------------------------------------- layouts and errors


def test_folder_layout_reads_any_label_set(tmp_path):
    classes = ["block", "dribble", "jump-shot", "pass", "throw", "run", "walk"]  # e.g. a handball set of 7
    for ci, name in enumerate(classes):
        (tmp_path / name).mkdir()
        for j in range(2):
            write_clip(tmp_path / name / f"v_{name}_g{j:02d}_c01.mp4", _ramp_clip(4, 16, 16))
    (tmp_path / "notes.txt").write_text("not a class")
    clips = read_dataset(tmp_path)
    assert clips.layout == "folders" and clips.labels == sorted(classes)
    assert clips.class_counts() == [2] * 7
    assert all(clips.labels[it.label] == it.path.parent.name for it in clips.items)


def test_discard_and_unannotated_clips_are_dropped(tmp_path):
    (tmp_path / "examples").mkdir()
    ann = {"0000001": 0, "0000002": 1, "0000003": SPACEJAM_DISCARD, "0000004": 1}
    for key in ["0000001", "0000002", "0000003", "0000001_flipped", "0000099"]:
        write_clip(tmp_path / "examples" / f"{key}.mp4", _ramp_clip(2, 16, 16))
    (tmp_path / "annotation_dict.json").write_text(json.dumps(ann))
    clips = read_dataset(tmp_path)
    assert clips.layout == "spacejam" and clips.labels == SPACEJAM_LABELS  # no labels_dict: SpaceJam's
    assert {it.key: it.label for it in clips.items} == {"0000001": 0, "0000001_flipped": 0, "0000002": 1}
    assert clips.dropped == 2 and clips.missing == 2


def test_unreadable_inputs_raise_input_errors(tmp_path):
    with pytest.raises(InputVideoError, match="not found"):
        read_dataset(tmp_path / "nope")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(2048))
    with pytest.raises(InputVideoError) as err:
        read_clip(bad)
    assert str(bad) in err.value.one_line() and "\n" not in err.value.one_line()
    with pytest.raises(InputVideoError, match="examples/"):
        read_spacejam(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "annotation_dict.json").write_text("{not json")
    with pytest.raises(InputVideoError, match="annotation"):
        read_dataset(tmp_path)
    (tmp_path / "annotation_dict.json").write_text(json.dumps({"0000001": 0}))
    with pytest.raises(InputVideoError, match="two classes"):
        read_dataset(tmp_path)


def test_hkair_clip_settings_give_the_bgr_bytes_of_a_spacejam_clip():
    """bball-eval / bball-train feed an hkair checkpoint's clips as hkair did: OpenCV's BGR, 0-255, no mean/std."""
    from recognizer.checkpoint import HKAIR_CLIP
    from recognizer.data import ClipItem

    path = shared_asset(f"spacejam/samples/{SAMPLES[0]}.mp4")
    x, label, problem = ClipDataset([ClipItem("k", path, 1)], HKAIR_CLIP)[0]
    rgb = read_clip(path)  # (16, 176, 128, 3), already hkair's size: nothing is resized
    bgr = torch.from_numpy(rgb[..., ::-1].copy()).permute(3, 0, 1, 2).float()
    assert problem == "" and x.shape == (3, 16, 176, 128)
    assert torch.equal(x, bgr)
