"""Data kinds: what a method's training batches hold, registered by name in ``DATA_KINDS``.

A method names its kind (``Method.data_kind``); the kind knows which sources it loads from the
run's ``data`` config, which items it keeps (:mod:`genfer.data.sources` filters, applied before
decoding) and how a batch is cut from the decoded sets. Batches are uint8 images and long/float
labels on the CPU; ``B`` is the rank's batch size.

- ``pairs`` (TDGAN): ``x_f`` face [B,C,H,W] and ``id_f`` its identity [B] (``data.faces``, its
  first ``data.max_identities`` identities); ``x_e`` expression image and ``y_e`` its label 0..6
  (``data.expressions``). The face set is indexed modulo its length, as the released TDGAN pairs
  them.
- ``expressions``: ``image``, ``expression`` 0..6, ``identity`` (-1 if none), and ``aus`` float
  [B,17] when the source has Action Units.
- ``aus``: ``image``, ``aus`` float [B,17], ``expression`` (-1 where unlabelled: such items are
  kept), ``identity`` (-1 if none). The source must have AUs.
- ``swap_pairs`` (JESRL): ``x_a, y_a, id_a`` and ``x_b, y_b, id_b``, two labelled faces of
  different identities (plus ``aus_a``/``aus_b`` when the source has AUs). ``a`` runs through the
  epoch order; its partner ``b`` is drawn uniformly among the other identities' items from the
  step's seeded draws, so pairs are a function of (seed, step) too. Items without an identity
  (JESRL's Multi-PIE lists have none) count as identities of their own, so any other item can be
  their partner, as the release pairs them.
- ``unlabelled``: ``image`` only, every image of the source (FFHQ, CelebA-HQ, a plain folder).

Each kind's held-out set (``build_data``'s second value) is the source's test split with the same
filter, evaluated through ``genfer.data.batches.eval_batches``. A new kind subclasses
:class:`DataKind` (``keep``, ``keys``, ``batch``; ``load``/``length`` when it needs other sets)
and registers with ``@DATA_KINDS.register("name")``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from genfer.core.config import RunConfig
from genfer.core.registry import Registry
from genfer.data.batches import StepDraws
from genfer.data.sources import (
    Keep,
    keep_all,
    keep_aus,
    keep_basic7,
    keep_first_identities,
    load_source,
)
from genfer.data.tensors import TensorSet

AUG_SCALE = 144 / 128  # TDGAN's Resize(144) -> RandomCrop(128)

DATA_KINDS: Registry = Registry("data kind")
"""Data kinds by name; entries are :class:`DataKind` subclasses."""


class DataKind:
    """How one kind of training batch is made. Subclasses set ``keep`` and implement :meth:`batch`.

    Attributes:
        keep: the filter on the main source, for training and for the held-out set.
        keys: the keys every batch has (``batch`` may add optional ones such as ``aus``).
    """

    keep: ClassVar[Keep] = staticmethod(keep_all)
    keys: ClassVar[tuple[str, ...]] = ()

    def load(self, cfg: RunConfig, progress: bool = True) -> tuple[dict[str, TensorSet], TensorSet]:
        """Decode the training sets (``{"main": ...}`` and any others) and the held-out set."""
        size, channels, d = cfg.model.image_size, cfg.model.channels, cfg.data
        train_size = round(size * AUG_SCALE) if d.augment else size
        main = load_source(d.expressions, "train", train_size, channels, cfg, "expressions", progress, self.keep)
        test = load_source(d.expressions, "test", size, channels, cfg, "expressions", progress, self.keep)
        return {"main": main}, test

    def length(self, sets: dict[str, TensorSet]) -> int:
        """Number of items an epoch runs through."""
        return len(sets["main"])

    def batch(self, sets: dict[str, TensorSet], idx: Tensor, draws: StepDraws) -> dict[str, Tensor]:
        """This rank's batch for item indices ``idx`` [B] (in ``0 .. length-1``)."""
        raise NotImplementedError


@DATA_KINDS.register("pairs")
class Pairs(DataKind):
    """TDGAN's pairs: a face of the identity set and an expression image (see the module table)."""

    keep = staticmethod(keep_basic7)
    keys = ("x_f", "id_f", "x_e", "y_e")

    def load(self, cfg: RunConfig, progress: bool = True) -> tuple[dict[str, TensorSet], TensorSet]:
        sets, test = super().load(cfg, progress)
        d, size, channels = cfg.data, cfg.model.image_size, cfg.model.channels
        keep = keep_first_identities(d.max_identities)
        sets["faces"] = load_source(d.faces, "train", size, channels, cfg, "faces", progress, keep)
        return sets, test

    def length(self, sets: dict[str, TensorSet]) -> int:
        return max(len(sets["main"]), len(sets["faces"]))

    def batch(self, sets: dict[str, TensorSet], idx: Tensor, draws: StepDraws) -> dict[str, Tensor]:
        expr, faces = sets["main"], sets["faces"]
        e_idx, f_idx = idx % len(expr), idx % len(faces)
        return {
            "x_f": faces.images[f_idx],
            "id_f": faces.identities[f_idx],
            "x_e": draws.augment(expr.images[e_idx]),
            "y_e": expr.expressions[e_idx],
        }


@DATA_KINDS.register("expressions")
class Expressions(DataKind):
    """Expression-labelled images (see the module table)."""

    keep = staticmethod(keep_basic7)
    keys = ("image", "expression", "identity")

    def batch(self, sets: dict[str, TensorSet], idx: Tensor, draws: StepDraws) -> dict[str, Tensor]:
        return _items(sets["main"], idx % len(sets["main"]), draws)


@DATA_KINDS.register("aus")
class ActionUnits(DataKind):
    """Images with AU intensities; expression optional (see the module table)."""

    keep = staticmethod(keep_aus)
    keys = ("image", "aus", "expression", "identity")

    def batch(self, sets: dict[str, TensorSet], idx: Tensor, draws: StepDraws) -> dict[str, Tensor]:
        return _items(sets["main"], idx, draws)


@DATA_KINDS.register("swap_pairs")
class SwapPairs(DataKind):
    """JESRL's pairs of faces of different identities (see the module table)."""

    keep = staticmethod(keep_basic7)
    keys = ("x_a", "y_a", "id_a", "x_b", "y_b", "id_b")

    def load(self, cfg: RunConfig, progress: bool = True) -> tuple[dict[str, TensorSet], TensorSet]:
        sets, test = super().load(cfg, progress)
        for ts in (sets["main"], test):
            ts.identities = own_identities(ts.identities)
        if len(sets["main"].identities.unique()) < 2:
            raise ValueError(f"{sets['main'].name}: swap pairs need faces of at least 2 identities")
        return sets, test

    def batch(self, sets: dict[str, TensorSet], idx: Tensor, draws: StepDraws) -> dict[str, Tensor]:
        data = sets["main"]
        partner = other_identity(data.identities, idx, draws.uniform(stream=1))
        a, b = _items(data, idx, draws, stream=0), _items(data, partner, draws, stream=2)
        out = {}
        for side, items in (("a", a), ("b", b)):
            for key, name in (("image", "x"), ("expression", "y"), ("identity", "id"), ("aus", "aus")):
                if key in items:
                    out[f"{name}_{side}"] = items[key]
        return out


@DATA_KINDS.register("unlabelled")
class Unlabelled(DataKind):
    """Images only (see the module table)."""

    keep = staticmethod(keep_all)
    keys = ("image",)

    def batch(self, sets: dict[str, TensorSet], idx: Tensor, draws: StepDraws) -> dict[str, Tensor]:
        return {"image": draws.augment(sets["main"].images[idx])}


def own_identities(identities: Tensor) -> Tensor:
    """Identities ``[N]`` with every ``-1`` (none) replaced by a new identity of its own."""
    missing = identities < 0
    if not bool(missing.any()):
        return identities
    out = identities.clone()
    start = int(identities.max().clamp_min(-1)) + 1
    out[missing] = start + torch.arange(int(missing.sum()))
    return out


def other_identity(identities: Tensor, idx: Tensor, u: Tensor) -> Tensor:
    """For each item ``idx``, an item of another identity, picked uniformly by ``u`` in [0, 1).

    Args:
        identities: long ``[N]`` identity of every item.
        idx: long ``[B]`` the items to find partners for.
        u: float ``[B]`` uniform draws.

    Returns:
        long ``[B]`` partner indices with ``identities[partner] != identities[idx]``.
    """
    order = torch.sort(identities, stable=True).indices
    ids = identities[order]
    start = torch.searchsorted(ids, identities[idx], right=False)
    end = torch.searchsorted(ids, identities[idx], right=True)
    others = len(identities) - (end - start)
    if bool((others == 0).any()):
        raise ValueError("every item has the same identity; no partner of another identity exists")
    r = (u * others).long().clamp_max(others - 1)
    r = torch.where(r >= start, r + (end - start), r)  # skip the item's own identity block
    return order[r]


def _items(data: TensorSet, idx: Tensor, draws: StepDraws, stream: int = 0) -> dict[str, Tensor]:
    out = {
        "image": draws.augment(data.images[idx], stream),
        "expression": data.expressions[idx],
        "identity": data.identities[idx],
    }
    if data.aus is not None:
        out["aus"] = data.aus[idx]
    return out
