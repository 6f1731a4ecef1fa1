"""Reference models shipped inside the package: trained genfer checkpoints known by name.

A reference model is a genfer checkpoint directory under ``genfer/reference_models/<name>/``:
``model.safetensors`` (fp16, the EMA weights where the run kept them), ``config.yaml`` (its run
config), ``figures.json`` (what it was measured to do) and ``PROVENANCE.md`` (the exact command,
commit, training time, machine and figures, and the sha256 of each of the other files). Any
method registers one by adding such a directory; ``--checkpoint NAME`` then finds it wherever a
run directory is accepted, and ``genfer ls`` lists it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1] / "reference_models"
"""Where the shipped reference models live (package data)."""
FILES = ("model.safetensors", "config.yaml", "figures.json")
"""The files each reference model holds besides ``PROVENANCE.md``, whose sha256 the provenance lists."""
_SHA_LINE = re.compile(r"^- `(?P<file>[^`]+)`: sha256 `(?P<sha>[0-9a-f]{64})`", re.MULTILINE)


@dataclass(frozen=True)
class ReferenceModel:
    """One shipped model: its name, directory, method and measured figures."""

    name: str
    path: Path
    method: str
    figures: dict[str, Any]

    @property
    def provenance(self) -> str:
        return (self.path / "PROVENANCE.md").read_text()

    def recorded_sha256(self) -> dict[str, str]:
        """``{file: sha256}`` as listed in ``PROVENANCE.md``."""
        return {m["file"]: m["sha"] for m in _SHA_LINE.finditer(self.provenance)}


def reference_models() -> dict[str, ReferenceModel]:
    """Every shipped reference model by name (directories holding all of :data:`FILES` and a provenance)."""
    out = {}
    for d in sorted(ROOT.glob("*/")) if ROOT.is_dir() else []:
        if all((d / f).is_file() for f in (*FILES, "PROVENANCE.md")):
            method = re.search(r"^method:\s*(\S+)", (d / "config.yaml").read_text(), re.MULTILINE)
            out[d.name] = ReferenceModel(d.name, d, method[1] if method else "?",
                                         json.loads((d / "figures.json").read_text()))
    return out


def reference_path(name: str) -> Path | None:
    """The directory of shipped model ``name``, or None."""
    model = reference_models().get(name)
    return model.path if model else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance_block(path: Path) -> str:
    """The ``PROVENANCE.md`` lines listing the sha256 of a reference model's files."""
    return "\n".join(f"- `{f}`: sha256 `{sha256_file(path / f)}`" for f in FILES)
