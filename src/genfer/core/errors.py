"""The errors and warnings genfer expects to raise: each names the file or field, the problem and the fix.

``genfer`` (``genfer.cli.main``) prints a :class:`GenferError` as one line on stderr, without a
traceback, and exits with its ``exit_code``: 2 when the command line itself is wrong
(:class:`UsageError`), 1 when the work failed. Any other exception is a bug and keeps its
traceback. Library code raises these; it never prints or exits.
"""

from __future__ import annotations

import os
from typing import Any


class GenferError(Exception):
    """An expected failure, worded for the user: ``"<path>: <message>; <fix>"``.

    Args:
        message: what is wrong, in words.
        path: the file, folder or config field concerned (shown first), if any.
        fix: what to do about it, if there is something to say.

    Attributes:
        exit_code: the ``genfer`` exit status for this error (1: the work failed).
        partial: results computed before the failure (JSON-ready), which ``genfer`` prints so
            they are not lost; ``None`` when there are none.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, fix: str | None = None) -> None:
        self.message, self.path, self.fix = message, path, fix
        self.partial: Any = None
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        return f"{text.rstrip('.')}; {self.fix}" if self.fix else text


class UsageError(GenferError):
    """The command line asks for something that cannot be done as given (exit status 2)."""

    exit_code = 2


class OutputError(GenferError):
    """An output file or folder cannot be written."""


class GenferWarning(UserWarning):
    """Something the user should know, which does not stop the work; ``genfer`` prints it as one line."""
