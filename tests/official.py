"""The official reference fixtures (``../shared/fixtures/official/<system>/``), for tests.

Each fixture lists a released state dict (``keys.tsv``: network, key, seed key, shape, dtype, kind,
branch, numel, sha256_16, used by the fixture forward) and a rule that rebuilds every value from
its seed key alone; ``inputs.npz`` and ``outputs.npz`` hold the official code's inputs and outputs
under those weights. :func:`rebuild` implements that rule, so a test can load the official layout
into genfer (directly or through a converter) and compare outputs.

The fixtures live outside the repository: ``$GENFER_OFFICIAL_FIXTURES`` or ``../shared/fixtures/
official`` beside the checkout (where CI puts them). Tests skip, naming the path, when absent.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def fixture_dir(system: str) -> Path:
    """The folder of one system's fixture (``cdan``, ``jesrl``, ``stylegan2``, ``ifer``); skips if absent."""
    root = Path(os.environ.get("GENFER_OFFICIAL_FIXTURES", REPO.parent / "shared" / "fixtures" / "official"))
    path = root / system
    if not (path / "keys.tsv").is_file():
        pytest.skip(f"official fixture not found: {path} (set GENFER_OFFICIAL_FIXTURES)")
    return path


@dataclass(frozen=True)
class KeyRow:
    """One row of ``keys.tsv``."""

    network: str
    key: str
    seed_key: str
    shape: tuple[int, ...]
    dtype: str
    kind: str
    branch: str
    sha256_16: str
    used: bool


def read_keys(system: str, network: str | None = None) -> list[KeyRow]:
    """The rows of ``keys.tsv`` in state-dict order, optionally of one ``network`` column value."""
    lines = (fixture_dir(system) / "keys.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        f = dict(zip(header, line.split("\t"), strict=True))
        if network is not None and f["network"] != network:
            continue
        shape = tuple(int(s) for s in f["shape"].split(",")) if f["shape"] else ()
        rows.append(KeyRow(f["network"], f["key"], f["seed_key"], shape, f["dtype"], f["kind"], f["branch"],
                           f["sha256_16"], f["used_by_fixture_forward"] == "yes"))
    return rows


def rebuild(row: KeyRow, lr_mul: float = 0.01) -> torch.Tensor | None:
    """The value the fixture rule gives ``row``; ``None`` for ``keep_official`` (the constructor's own value).

    ``ASIT_ckpt:<branch>`` rows (IFER's copy of the ASIT encoder) follow ``<branch>`` with their seed key.
    """
    branch = row.branch.split(":", 1)[-1]
    if branch == "keep_official":
        return None
    if branch == "zeros_int64":
        return torch.zeros(row.shape, dtype=torch.int64)
    g = torch.Generator().manual_seed(zlib.crc32(row.seed_key.encode("utf-8")))
    t = torch.randn(row.shape, generator=g, dtype=torch.float32)
    if branch == "running_var":
        return 1.0 + 0.1 * t.abs()
    if branch in ("running_mean", "bias_0.1t"):
        return 0.1 * t
    if branch in ("random_buffer_plain_t", "sg2_plain_t"):
        return t
    if branch in ("random_buffer_one_plus_0.1t", "one_plus_0.1t"):
        return 1.0 + 0.1 * t
    if branch == "sg2_div_lr_mul":
        return t.div(lr_mul)
    if branch == "fan_in":
        return t * (1.0 / math.sqrt(math.prod(row.shape[1:])))
    raise ValueError(f"{row.key}: unknown branch {row.branch!r}")


def sha256_16(t: torch.Tensor) -> str:
    """First 16 hex digits of the SHA-256 of a tensor's C-order little-endian bytes (the ``keys.tsv`` check)."""
    a = np.ascontiguousarray(t.numpy())
    return hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()[:16]


def official_state_dict(system: str, network: str | None = None,
                        keep: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The official state dict of ``system`` (one ``network`` or all), rebuilt by the fixture rule.

    ``keep_official`` entries are taken from ``keep`` (a genfer model's own buffers under the official
    key) when given, and left out otherwise.
    """
    out: dict[str, torch.Tensor] = {}
    for row in read_keys(system, network):
        value = rebuild(row)
        if value is None:
            if keep is None or row.key not in keep:
                continue
            value = keep[row.key]
        out[row.key] = value
    return out


def arrays(system: str, which: str) -> dict[str, np.ndarray]:
    """``inputs.npz`` or ``outputs.npz`` of a fixture, as a dict of arrays."""
    with np.load(fixture_dir(system) / f"{which}.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
