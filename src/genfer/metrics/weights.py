"""Finding third-party weight files on the user's machine (genfer never downloads them).

A weight file is looked up, in order, at an explicit path, at a path named by an environment
variable, and under the genfer cache (``$GENFER_CACHE``, else ``~/.cache/genfer``) plus any extra
folders a caller names (e.g. torch's hub checkpoint folder for torchvision files). Its SHA-256 is
checked against the prefix in its published name (the torch.hub ``-<sha256[:8]>`` convention) or
a full digest. A missing file raises ``MissingWeightsError`` whose message says where to get it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genfer.core.weights import cache_dir  # one cache for every kind of weights


class MissingWeightsError(FileNotFoundError):
    """A weight file is not on this machine; the message says where to get it and where to put it."""


class WeightsHashError(ValueError):
    """A weight file's SHA-256 does not match the published one."""


def torch_hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), where torchvision keeps weights."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "torch"
    )
    return Path(home).expanduser() / "hub" / "checkpoints"


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file (memoised on path, size and mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


@dataclass(frozen=True)
class WeightFile:
    """A third-party weight file genfer knows how to use.

    Args:
        filename: the file's published name.
        sha256: the expected digest, or its leading hex characters (at least 8).
        source: where to get it (project and release, in words; no download happens in code).
        env: environment variable that may hold its path.
        subdir: folder under the genfer cache where it is looked for.
    """

    filename: str
    sha256: str
    source: str
    env: str = ""
    subdir: str = "weights"

    def candidates(self, extra_dirs: Sequence[Path] = ()) -> list[Path]:
        out = []
        if self.env and os.environ.get(self.env):
            out.append(Path(os.environ[self.env]).expanduser())
        out.append(cache_dir() / self.subdir / self.filename)
        out.extend(Path(d) / self.filename for d in extra_dirs)
        return out

    def locate(
        self, path: str | Path | None = None, extra_dirs: Sequence[Path] = (), check: bool = True
    ) -> Path:
        """Path of the file, hash-checked.

        Args:
            path: an explicit file path (wins over every other place).
            extra_dirs: further folders to look in.
            check: verify the SHA-256.

        Raises:
            MissingWeightsError: not found anywhere; the message lists where it looked.
            WeightsHashError: found but the digest differs.
        """
        tried = [Path(path).expanduser()] if path is not None else self.candidates(extra_dirs)
        for p in tried:
            if p.is_file():
                if check:
                    self.verify(p)
                return p
        where = "\n  ".join(str(p) for p in tried)
        hint = f" or set ${self.env}" if self.env else ""
        raise MissingWeightsError(
            f"{self.filename} not found. Looked at:\n  {where}\n"
            f"Get it from {self.source} and save it as {cache_dir() / self.subdir / self.filename}"
            f"{hint} (or pass its path explicitly). genfer never downloads weights itself."
        )

    def verify(self, path: str | Path) -> str:
        """Check the file's SHA-256 against ``self.sha256``; return the full digest."""
        digest = sha256_file(path)
        if not digest.startswith(self.sha256.lower()):
            raise WeightsHashError(
                f"{path}: sha256 {digest} does not start with {self.sha256} (expected {self.filename}); "
                "the file is corrupt or a different release"
            )
        return digest
