"""--context-mode: a bad value is a one-line usage error, in the CLI and in the library."""

from __future__ import annotations

import pytest

from pipeline.cli import main
from pipeline.config import PipelineConfig


def test_cli_refuses_an_unknown_context_mode(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's own exit, with our one-line message
        main([str(tmp_path / "game.mp4"), "--context-mode", "both", "--no-progress"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("bball-annotate: error:") and "--context-mode" in err
    assert len(err.strip().splitlines()) == 1


def test_config_refuses_an_unknown_context_mode():
    with pytest.raises(ValueError, match="context_mode must be one of ball-roles, checkpoint"):
        PipelineConfig(context_mode="both")


def test_action_model_and_game_context_combine_as_the_mode_says(tmp_path):
    """--action-model with --actions context: 'ball-roles' wraps the checkpoint in the game-context
    recogniser (named after both); 'checkpoint', or --actions kinematic, gives the checkpoint alone."""
    import torch

    from recognizer.checkpoint import ClipConfig, save_checkpoint
    from recognizer.context import ContextRecognizer
    from recognizer.models import build_model
    from recognizer.r2plus1d import R2Plus1DRecognizer

    torch.manual_seed(0)
    clip = ClipConfig(frames=16, size=[32, 32], stride=8, margin=0.1, mean=[0.5] * 3, std=[0.25] * 3)
    save_checkpoint(tmp_path / "tiny.pt", build_model("r2plus1d_tiny", 2), "r2plus1d_tiny", ["run", "pass"], clip)
    built = {}
    for actions, mode in (("context", "ball-roles"), ("context", "checkpoint"), ("kinematic", "ball-roles")):
        cfg = PipelineConfig(weights="yolov8n.yaml", action_model=str(tmp_path / "tiny.pt"), actions=actions,
                             context_mode=mode, device="cpu", progress=False)
        built[(actions, mode)] = cfg.build().recognizer
    both = built[("context", "ball-roles")]
    assert isinstance(both, ContextRecognizer) and isinstance(both.motion, R2Plus1DRecognizer)
    assert both.name.startswith("game context: ball + possession + checkpoint")
    assert both.labels == ["run", "pass", "dribble", "ball in hand", "shoot", "defense"]
    for key in (("context", "checkpoint"), ("kinematic", "ball-roles")):
        assert isinstance(built[key], R2Plus1DRecognizer), key


def test_the_game_context_is_the_default_while_the_ball_is_tracked():
    """--actions auto (the default): the game-context recogniser with the ball, the kinematic one with
    --no-ball (the library's Pipeline chooses the same); an explicit 'context' without the ball is refused."""
    from pipeline.core import Pipeline
    from recognizer.context import ContextRecognizer
    from recognizer.kinematic import KinematicRecognizer

    assert PipelineConfig().actions == "auto"
    cases = {(True, "auto"): ContextRecognizer, (False, "auto"): KinematicRecognizer,
             (True, "kinematic"): KinematicRecognizer, (True, "context"): ContextRecognizer}
    for (ball, actions), kind in cases.items():
        recognizer = PipelineConfig(weights="yolov8n.yaml", ball=ball, actions=actions, device="cpu").build().recognizer
        assert type(recognizer) is kind, (ball, actions)
    for ball, kind in ((True, ContextRecognizer), (False, KinematicRecognizer)):
        assert type(Pipeline(detector=lambda frames: [], ball=ball, device="cpu").recognizer) is kind
    with pytest.raises(ValueError, match="needs the ball"):
        PipelineConfig(actions="context", ball=False)
