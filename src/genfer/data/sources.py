"""Decoding a data source into memory: ``synthface`` or ``READER:PATH`` to a :class:`TensorSet`.

Every image is decoded and resized once, at start-up, into a uint8 tensor, so a training
iteration only indexes memory. Which items are kept is the caller's choice (a ``keep`` filter on
the labels, applied before any image is decoded): a data kind that needs expression labels keeps
the 7 basic classes, one that needs Action Units keeps items with AUs, one that needs nothing
keeps every image. So unlabelled images load, and AUs travel with the images when the reader has
them (``FaceDataset.has_aus``).

Readers without a test split (EmotioNet, a plain folder, a CSV list without a split column, a
store of such a source) hold out every ``HOLD_OUT_EVERY``-th kept item, in the reader's order and
starting with the first, as ``test``; their ``train`` is the rest. (Not subject-independent: such
sources have no subjects.)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from genfer.core.config import RunConfig
from genfer.core.errors import GenferWarning
from genfer.data.base import DatasetIndexError, FaceDataset
from genfer.data.io import ImageError
from genfer.data.specs import open_dataset, parse_spec
from genfer.data.tensors import TensorSet, resize_uint8, to_channels

HOLD_OUT_EVERY = 10


@dataclass
class Labels:
    """The labels of a source's items before decoding, for ``keep`` filters (shapes as TensorSet)."""

    expressions: Tensor
    identities: Tensor
    aus: Tensor | None
    name: str = ""


Keep = Callable[[Labels], Tensor]
"""A filter: bool ``[N]``, True for the items to decode."""


def keep_all(labels: Labels) -> Tensor:
    """Every item (unlabelled images included)."""
    return torch.ones(len(labels.expressions), dtype=torch.bool)


def keep_basic7(labels: Labels) -> Tensor:
    """Items labelled with one of the 7 basic expressions (0 neutral .. 6 anger)."""
    return (labels.expressions >= 0) & (labels.expressions < 7)


def keep_aus(labels: Labels) -> Tensor:
    """Items with a finite AU vector; a source without Action Units is an error."""
    if labels.aus is None:
        raise ValueError(f"{labels.name} has no Action Units (readers with AUs: emotionet, ganimation, folder?aus=...)")
    return torch.isfinite(labels.aus).all(1)


def keep_first_identities(n: int) -> Keep:
    """Items of identities ``0 .. n-1`` (TDGAN's face set: the first 20 CASIA identities)."""

    def keep(labels: Labels) -> Tensor:
        return (labels.identities >= 0) & (labels.identities < n)

    return keep


def keep_identified(labels: Labels) -> Tensor:
    """Items with an identity label."""
    return labels.identities >= 0


def load_source(
    spec: str,
    split: str,
    size: int,
    channels: int,
    cfg: RunConfig,
    role: str = "expressions",
    progress: bool = True,
    keep: Keep | None = None,
) -> TensorSet:
    """Decode a data source into memory.

    Args:
        spec: ``synthface`` or ``READER:PATH[?options]``.
        split: ``train`` or ``test``.
        size: square output size.
        channels: 1 or 3.
        cfg: the run config (SynthFace sizes, identity limit).
        role: ``faces`` (the identity-labelled set: SynthFace's first ``data.max_identities``
            identities, renumbered 0..K-1; the whole reader split, never a hold-out) or any other
            name for the main set (SynthFace's other training identities or its held-out test ones).
        progress: show a decoding progress bar.
        keep: which items to decode; default ``keep_first_identities`` for ``faces``,
            ``keep_basic7`` otherwise.

    Returns:
        A :class:`TensorSet` with ``aus`` when the source has Action Units.
    """
    d = cfg.data
    if keep is None:
        keep = keep_first_identities(d.max_identities) if role == "faces" else keep_basic7
    if spec == "synthface":
        return _synthface(split, size, channels, cfg, role, keep)

    name, _, opts = parse_spec(spec)
    kwargs: dict = {"size": size}
    if "unknown" not in opts:
        kwargs["unknown"] = "keep"  # expression-less items reach ``keep``, which decides
    if role == "faces" and name == "casia":
        kwargs["max_identities"] = d.max_identities  # don't index 10k folders to keep 20
    ds, hold_out = None, None
    if role != "faces":
        test = _try_open(spec, "test", channels, kwargs)
        if test is None:  # no test split: hold some of train out
            ds, hold_out = open_dataset(spec, split="train", channels=channels, **kwargs), split
        elif split == "test":
            ds = test
    if ds is None:
        ds = open_dataset(spec, split=split, channels=channels, **kwargs)
    labels = dataset_labels(ds, f"{spec} ({split})")
    idx = torch.nonzero(keep(labels)).flatten()
    if len(idx) == 0:
        wanted = (keep.__doc__ or "").strip().splitlines()[0].rstrip(".").lower() or "what this method trains on"
        raise ValueError(
            f"{spec} ({split}): no usable images: {len(ds)} indexed, none kept; this method needs {wanted}"
        )
    if hold_out is not None:
        test = torch.arange(len(idx)) % HOLD_OUT_EVERY == 0
        if hold_out == "train" and bool(test.all()):
            raise ValueError(
                f"{spec}: no test split, and its {len(idx)} usable image(s) all went to the held-out test set "
                f"(every {HOLD_OUT_EVERY}th item); add images or a test/ split"
            )
        idx = idx[test if hold_out == "test" else ~test]
    images = torch.empty(len(idx), channels, size, size, dtype=torch.uint8)
    decoded = torch.ones(len(idx), dtype=torch.bool)
    skipped = list(ds.problems)  # index problems the reader skipped under on_error=skip
    it = tqdm(idx.tolist(), desc=f"decoding {name} {split}", disable=not progress, leave=False)
    for j, i in enumerate(it):
        try:
            images[j] = resize_uint8(to_channels(ds[i]["image"][None], channels), size)[0]
        except ImageError as e:  # a corrupt, truncated or empty image file
            if ds.on_error != "skip":
                raise
            decoded[j] = False
            skipped.append(str(e))
    if not bool(decoded.any()):
        raise ValueError(f"{spec} ({split}): none of its {len(idx)} images could be decoded; first: {skipped[-1]}")
    aus = None if labels.aus is None else labels.aus[idx]
    out = TensorSet(images, labels.expressions[idx], labels.identities[idx], aus, f"{spec}:{split}", skipped)
    if not bool(decoded.all()):
        out = out.subset(torch.nonzero(decoded).flatten())
    if skipped:
        warnings.warn(skipped_message(out), GenferWarning, stacklevel=2)
    return out


def skipped_message(ts: TensorSet, show: int = 5) -> str:
    """One line for the items a set skipped (``?on_error=skip``): how many, and the first few."""
    first = "; ".join(ts.skipped[:show]) + ("; ..." if len(ts.skipped) > show else "")
    return f"{ts.name}: skipped {len(ts.skipped)} item(s) (on_error=skip), kept {len(ts)}: {first}"


def dataset_labels(ds: FaceDataset, name: str = "") -> Labels:
    """The labels of a reader's items; ``aus`` float32 ``[N, 17]`` when it has Action Units (NaN rows
    for items without)."""
    aus = None
    if ds.has_aus:
        rows = [np.full(17, np.nan, np.float32) if it.aus is None else it.aus for it in ds.items]
        aus = torch.from_numpy(np.stack(rows).astype(np.float32))
    return Labels(ds.expressions, ds.identities, aus, name or repr(ds))


def _try_open(spec: str, split: str, channels: int, kwargs: dict) -> FaceDataset | None:
    """``split`` of ``spec``, or None when the reader has no such split or it is empty (index problems raise)."""
    try:
        return open_dataset(spec, split=split, channels=channels, **kwargs)
    except DatasetIndexError:
        raise
    except (FileNotFoundError, ValueError):
        return None


def _synthface(split: str, size: int, channels: int, cfg: RunConfig, role: str, keep: Keep) -> TensorSet:
    from genfer.data.synthface import SynthFace, split_identities

    d = cfg.data
    train_ids, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
    if role == "faces":
        ids, per = train_ids[: d.max_identities], d.synth_per_identity
    elif split == "train":
        ids, per = train_ids[d.max_identities :], d.synth_per_identity
    else:
        ids, per = test_ids, d.synth_test_per_identity
    ds = SynthFace(ids, per, size=size, channels=channels, seed=d.synth_seed, au_draw=d.synth_au_draw)
    identities = ds.identities
    if role == "faces":  # contiguous identity classes 0..K-1
        identities = torch.searchsorted(torch.tensor(sorted(ids)), identities)
    full = TensorSet(ds.images, ds.expressions, identities, ds.aus, f"synthface:{role}:{split}")
    mask = keep(Labels(full.expressions, full.identities, full.aus, full.name))
    return full if bool(mask.all()) else full.subset(torch.nonzero(mask).flatten())
