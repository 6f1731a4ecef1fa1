"""Output paths checked before the work starts, so a long run never ends in an unwritable folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from genfer.core.errors import OutputError


def check_writable(path: str | os.PathLike, *, folder: bool = False, option: str | None = None) -> Path:
    """Check that ``path`` can be written (created or overwritten), creating nothing that stays.

    Missing folders on the way are fine (they will be created); what fails is a file where a folder
    is needed, a folder where a file is, and a folder that refuses new files. The last is probed by
    creating and removing a temporary file in the nearest existing folder, which also catches
    read-only mounts and holds for root, for whom permission bits do not apply.

    Args:
        path: the output file, or folder with ``folder=True``.
        folder: whether ``path`` names a folder.
        option: the command-line option that named ``path`` (e.g. ``"--out"``), for the fix.

    Returns:
        ``path`` with ``~`` expanded.

    Raises:
        OutputError: ``path`` cannot be written; the message names the part that is in the way.
    """
    p = Path(path).expanduser()
    fix = f"choose another {option}" if option else "choose another output path"
    if p.is_dir() and not folder:
        raise OutputError("is a folder; an output file was expected here", path=p, fix=fix)
    if p.exists() and not p.is_dir() and folder:
        raise OutputError("is a file; an output folder was expected here", path=p, fix=fix)
    if p.exists() and not p.is_dir() and not os.access(p, os.W_OK):
        raise OutputError("the file exists and is read-only", path=p, fix=fix)
    base = p if p.is_dir() else p.parent
    while not base.exists():  # the nearest existing ancestor decides whether the rest can be made
        base = base.parent
    if not base.is_dir():
        raise OutputError(f"cannot be created: {base} is a file, not a folder", path=p, fix=fix)
    try:
        fd, probe = tempfile.mkstemp(prefix=".genfer-write-test-", dir=base)
    except OSError as e:
        raise OutputError(f"cannot write in {base} ({e.strerror or e})", path=p,
                          fix=f"check its permissions and free space, or {fix}") from None
    os.close(fd)
    os.unlink(probe)
    return p
