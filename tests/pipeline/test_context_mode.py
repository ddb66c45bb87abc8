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
