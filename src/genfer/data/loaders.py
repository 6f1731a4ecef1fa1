"""From a run config to batches: sources decoded once into memory, sharded, resumable order.

Sources are ``synthface`` or ``READER:PATH`` (a registered dataset reader and its root). Every
image is decoded and resized once, at start-up, into a uint8 tensor, so an iteration only indexes
memory. The order of an epoch comes from ``DistributedSampler`` seeded by ``train.seed`` (each
rank takes its shard), and a batch's augmentation is seeded by its step, so the batch of any step
is a pure function of (seed, step): resuming needs no data-loader state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from genfer.core.config import RunConfig

AUG_SCALE = 144 / 128  # TDGAN's Resize(144) -> RandomCrop(128)


@dataclass
class TensorSet:
    """A decoded image set: ``images`` uint8 [N,C,H,W] and per-image labels."""

    images: Tensor
    expressions: Tensor
    identities: Tensor
    aus: Tensor | None = None
    name: str = ""

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, idx: Tensor) -> TensorSet:
        return TensorSet(
            self.images[idx],
            self.expressions[idx],
            self.identities[idx],
            None if self.aus is None else self.aus[idx],
            self.name,
        )


def resize_uint8(images: Tensor, size: int) -> Tensor:
    """Antialiased bilinear resize of uint8 [N,C,H,W] images to ``size`` x ``size``."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def to_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 [N,C,H,W] to 1 (ITU-R 601 luma) or 3 channels."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels")


def load_source(
    spec: str,
    split: str,
    size: int,
    channels: int,
    cfg: RunConfig,
    role: str,
    progress: bool = True,
) -> TensorSet:
    """Decode a data source into memory.

    Args:
        spec: ``synthface`` or ``READER:PATH``.
        split: ``train`` or ``test``.
        size: square output size.
        channels: 1 or 3.
        cfg: the run config (SynthFace sizes, identity limit).
        role: ``faces`` (identity-labelled set; keeps ``data.max_identities`` identities) or
            ``expressions``.
    """
    d = cfg.data
    if spec == "synthface":
        from genfer.data.synthface import SynthFace, split_identities

        train_ids, test_ids = split_identities(d.max_identities + d.synth_identities, d.synth_test_identities)
        if role == "faces":
            ids, per = train_ids[: d.max_identities], d.synth_per_identity
        elif split == "train":
            ids, per = train_ids[d.max_identities :], d.synth_per_identity
        else:
            ids, per = test_ids, d.synth_test_per_identity
        ds = SynthFace(ids, per, size=size, channels=channels, seed=d.synth_seed)
        identities = ds.identities
        if role == "faces":  # contiguous identity classes 0..K-1
            identities = torch.searchsorted(torch.tensor(sorted(ids)), identities)
        return TensorSet(ds.images, ds.expressions, identities, ds.aus, f"synthface:{role}:{split}")

    from genfer.data.base import open_dataset

    reader = spec.partition(":")[0].strip().lower()
    kwargs = {"size": size}
    if role == "faces" and reader == "casia":
        kwargs["max_identities"] = d.max_identities  # don't index 10k folders to keep 20
    ds = open_dataset(spec, split=split, channels=channels, **kwargs)
    keep = torch.arange(len(ds))
    if role == "faces":
        keep = keep[(ds.identities >= 0) & (ds.identities < d.max_identities)]
    else:
        keep = keep[(ds.expressions >= 0) & (ds.expressions < 7)]
    if len(keep) == 0:
        raise ValueError(f"{spec} ({split}): no usable images for {role}")
    images = torch.empty(len(keep), channels, size, size, dtype=torch.uint8)
    it = tqdm(keep.tolist(), desc=f"decoding {reader} {split}", disable=not progress, leave=False)
    for j, i in enumerate(it):
        img = ds[i]["image"]
        images[j] = resize_uint8(to_channels(img[None], channels), size)[0]
    return TensorSet(images, ds.expressions[keep], ds.identities[keep], None, f"{spec}:{split}")


def augment_batch(images: Tensor, size: int, gen: torch.Generator) -> Tensor:
    """Random crop ``size`` out of larger uint8 images [B,C,S,S] and random horizontal flip."""
    b, _, s, _ = images.shape
    offs = torch.randint(0, s - size + 1, (b, 2), generator=gen)
    flips = torch.rand(b, generator=gen) < 0.5
    out = torch.empty(b, images.shape[1], size, size, dtype=images.dtype)
    for i in range(b):
        y, x = int(offs[i, 0]), int(offs[i, 1])
        crop = images[i, :, y : y + size, x : x + size]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


class Batches:
    """Training batches for a method's ``data_kind``, indexed by global step.

    ``pairs``: ``{"x_f", "id_f", "x_e", "y_e"}``, the face set indexed modulo its length as the
    released TDGAN pairs them; ``expressions``: ``{"image", "expression", "identity"[, "aus"]}``.
    """

    def __init__(
        self,
        kind: str,
        expressions: TensorSet,
        faces: TensorSet | None,
        batch_size: int,
        size: int,
        seed: int,
        rank: int,
        world: int,
        augment: bool,
    ) -> None:
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} is not divisible by {world} ranks")
        self.kind, self.expr, self.faces = kind, expressions, faces
        self.batch = batch_size // world
        self.size, self.seed, self.augment = size, seed, augment
        n = len(expressions) if faces is None else max(len(expressions), len(faces))
        self.sampler = DistributedSampler(
            range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // self.batch
        if self.steps_per_epoch == 0:
            raise ValueError(f"{n} training items are fewer than one batch of {batch_size}")
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> Tensor:
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, torch.tensor(list(self.sampler))
        return self._order[pos * self.batch : (pos + 1) * self.batch]

    def get(self, step: int, device: torch.device) -> dict[str, Tensor]:
        idx = self.indices(step)
        e_idx = idx % len(self.expr)
        x_e = self.expr.images[e_idx]
        if x_e.shape[-1] != self.size:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
            x_e = augment_batch(x_e, self.size, gen)
        if self.kind == "pairs":
            assert self.faces is not None
            f_idx = idx % len(self.faces)
            batch = {
                "x_f": self.faces.images[f_idx],
                "id_f": self.faces.identities[f_idx],
                "x_e": x_e,
                "y_e": self.expr.expressions[e_idx],
            }
        else:
            batch = {
                "image": x_e,
                "expression": self.expr.expressions[e_idx],
                "identity": self.expr.identities[e_idx],
            }
            if self.expr.aus is not None:
                batch["aus"] = self.expr.aus[e_idx]
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def eval_batches(data: TensorSet, device: torch.device, batch_size: int = 256) -> Iterator[dict[str, Tensor]]:
    """Sequential evaluation batches ``{"image", "expression", "identity"}``, plus ``"aus"`` when the
    set has AU intensities (so AU methods can report their AU error)."""
    for i in range(0, len(data), batch_size):
        batch = {
            "image": data.images[i : i + batch_size].to(device),
            "expression": data.expressions[i : i + batch_size].to(device),
            "identity": data.identities[i : i + batch_size].to(device),
        }
        if data.aus is not None:
            batch["aus"] = data.aus[i : i + batch_size].to(device)
        yield batch


def build_data(
    cfg: RunConfig, kind: str, rank: int = 0, world: int = 1, progress: bool = True
) -> tuple[Batches, TensorSet]:
    """Training batches (this rank's shard of ``world``) and the held-out expression set for a run."""
    size, channels = cfg.model.image_size, cfg.model.channels
    d = cfg.data
    train_size = round(size * AUG_SCALE) if d.augment else size
    expr = load_source(d.expressions, "train", train_size, channels, cfg, "expressions", progress)
    test = load_source(d.expressions, "test", size, channels, cfg, "expressions", progress)
    faces = None
    if kind == "pairs":
        faces = load_source(d.faces, "train", size, channels, cfg, "faces", progress)
    batches = Batches(kind, expr, faces, d.batch_size, size, cfg.train.seed, rank, world, d.augment)
    return batches, test
