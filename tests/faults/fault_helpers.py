"""Helpers for the fault tests: run the CLI in-process, read its one error line."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from genfer.cli.main import main

TINY = ["--config", "tiny", "train.device=cpu", "train.progress=false", "train.tensorboard=false"]


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``genfer ARGV`` in-process: (exit status, stdout)."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def one_line_error(err: str) -> str:
    """The single error line of a failed command (no traceback, nothing else)."""
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]
