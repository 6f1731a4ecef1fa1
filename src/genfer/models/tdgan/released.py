"""Weights of the released TDGAN code: its file names, its parameter names, its class order.

The release saves one state dict per network (``Enc_FR_G.pkl``, ``Enc_ER_G.pkl``, ``fc_ER_G.pkl``,
``dec.pkl``, ``Dis_FR.pkl``, ``Dis_ER.pkl``) with parameter names such as ``conv1.0.bn.weight`` or
``us1.0.weight``, and its expression heads output RAF-DB's class order. ``load_released`` reads
those files (``torch.load(weights_only=True)``; plain tensor dicts, so no code runs), drops the
``running_*`` instance-norm buffers old PyTorch versions left in them (the release needed
``del_extra_keys`` for this), renames the parameters and reorders the expression rows to genfer's
canonical classes. ``released_state_dicts`` is the inverse, used to build reference models.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor

from genfer.data.labels import expression_index
from genfer.models.tdgan.method import TDGAN

RELEASED_FILES: dict[str, str] = {
    "enc_FR": "Enc_FR_G.pkl",
    "enc_ER": "Enc_ER_G.pkl",
    "fc_ER": "fc_ER_G.pkl",
    "dec": "dec.pkl",
    "dis_FR": "Dis_FR.pkl",
    "dis_ER": "Dis_ER.pkl",
}
"""genfer network -> file name in the release's parameter directory."""

RAF_ORDER: tuple[str, ...] = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
"""The released expression heads' output order (RAF-DB's labels 1..7)."""

# canonical class i is row _RAF_ROW_OF[i] of a released expression head
_RAF_ROW_OF = [RAF_ORDER.index(name) for name in sorted(RAF_ORDER, key=expression_index)]

# (genfer name prefix, released name prefix); {n} is a block index, {b} a branch layer like branch1.0
_ENCODER = [
    ("conv{n}.conv.", "conv{n}.0.conv."),
    ("conv{n}.norm.", "conv{n}.0.bn."),
    ("blocks.{n}.{b}.conv.", "repeat.{n}.{b}.conv."),
    ("blocks.{n}.{b}.norm.", "repeat.{n}.{b}.bn."),
    ("blocks.{n}.proj.", "repeat.{n}.conv2d."),
]
_DECODER = [
    ("emb.", "emb1.0."),
    ("res.{n}.conv.", "emb2.{n}.infer.0."),
    *((f"ups.{i}.conv.", f"us{i + 1}.0.") for i in range(4)),
    ("out.", "us5.0."),
]


def _rules(net: str) -> list[tuple[str, str]]:
    if net in ("enc_FR", "enc_ER"):
        return _ENCODER
    if net == "dec":
        return _DECODER
    if net in ("dis_FR", "dis_ER"):
        return [("enc." + a, "enc." + b) for a, b in _ENCODER]
    return []  # the heads use fc1/fc2/fc3 in both


def _rename(key: str, rules: list[tuple[str, str]]) -> str:
    for src, dst in rules:
        regex = re.escape(src).replace(r"\{n\}", r"(?P<n>\d+)").replace(r"\{b\}", r"(?P<b>branch\d\.\d)")
        m = re.match(regex, key)
        if m:
            return dst.format(**m.groupdict()) + key[m.end() :]
    return key


def to_released(key: str, net: str) -> str:
    """genfer parameter name inside network ``net`` (e.g. ``enc_FR``) -> the release's name."""
    return _rename(key, _rules(net))


def from_released(key: str, net: str) -> str:
    """The release's parameter name inside its file for ``net`` -> genfer's name."""
    return _rename(key, [(b, a) for a, b in _rules(net)])


def _reorder_rows(sd: dict[str, Tensor], prefix: str, rows: list[int]) -> None:
    for name in ("weight", "bias"):
        key = f"{prefix}fc3.{name}"
        sd[key] = sd[key][rows].clone()


def load_released(method: TDGAN, directory: str | Path, raf_order: bool = True) -> list[str]:
    """Load the released ``.pkl`` state dicts found in ``directory`` into ``method``.

    Args:
        method: a TDGAN at the released architecture (the default config).
        directory: folder holding some of :data:`RELEASED_FILES`.
        raf_order: the expression heads were trained with RAF-DB's class order (as released);
            their rows are reordered to genfer's canonical classes.

    Returns:
        The genfer networks that were loaded (files that are absent are skipped).

    Raises:
        FileNotFoundError: if none of the files is in ``directory``.
    """
    directory = Path(directory)
    loaded = []
    for net, fname in RELEASED_FILES.items():
        path = directory / fname
        if not path.exists():
            continue
        raw = torch.load(path, map_location="cpu", weights_only=True)
        sd = {
            from_released(k, net): v
            for k, v in raw.items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        }
        if raf_order and net == "fc_ER":
            _reorder_rows(sd, "", _RAF_ROW_OF)
        if raf_order and net == "dis_ER":
            _reorder_rows(sd, "fc.", _RAF_ROW_OF)
        getattr(method, net).load_state_dict(sd, strict=True)
        loaded.append(net)
    if not loaded:
        names = ", ".join(RELEASED_FILES.values())
        raise FileNotFoundError(f"no released TDGAN weights ({names}) in {directory}")
    return loaded


def released_state_dicts(method: TDGAN, raf_order: bool = False) -> dict[str, dict[str, Tensor]]:
    """``method``'s weights as the release's per-file state dicts, keyed by genfer network name.

    Args:
        method: the model to export.
        raf_order: reorder the expression heads' rows from canonical to RAF-DB's order.
    """
    canon_row_of = [_RAF_ROW_OF.index(i) for i in range(len(_RAF_ROW_OF))]
    out = {}
    for net in RELEASED_FILES:
        sd = {to_released(k, net): v.detach().clone() for k, v in getattr(method, net).state_dict().items()}
        if raf_order and net == "fc_ER":
            _reorder_rows(sd, "", canon_row_of)
        if raf_order and net == "dis_ER":
            _reorder_rows(sd, "fc.", canon_row_of)
        out[net] = sd
    return out
