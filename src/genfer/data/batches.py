"""Training batches as a pure function of (seed, step), sharded over ranks; evaluation batches.

The order of an epoch comes from ``DistributedSampler`` seeded by the run's seed (each rank takes
its shard). Everything random about a batch (crop offsets, flips, a swap partner) is drawn for the
whole global batch from a generator seeded by (seed, step), and each rank keeps the draws of its
own items. So the batch of any step is known without data-loader state (resuming is exact), and
with the same global batch the ranks together see the same items and draws as one process does.
What a batch holds is its data kind's business (``genfer.data.kinds``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from genfer.data.tensors import TensorSet, resize_uint8

if TYPE_CHECKING:
    from genfer.data.kinds import DataKind


def augment_batch(images: Tensor, size: int, gen: torch.Generator, rank: int = 0, world: int = 1) -> Tensor:
    """Random crop ``size`` out of larger uint8 images [B,C,S,S] and random horizontal flip.

    The draws are made for ``B * world`` items and this rank keeps items ``rank::world`` (its
    places in the global batch, as ``DistributedSampler`` deals them).
    """
    b, _, s, _ = images.shape
    offs = torch.randint(0, s - size + 1, (b * world, 2), generator=gen)[rank::world]
    flips = (torch.rand(b * world, generator=gen) < 0.5)[rank::world]
    out = torch.empty(b, images.shape[1], size, size, dtype=images.dtype)
    for i in range(b):
        y, x = int(offs[i, 0]), int(offs[i, 1])
        crop = images[i, :, y : y + size, x : x + size]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


class StepDraws:
    """The random draws of one step's global batch, seen from one rank.

    Args:
        seed: the run's seed.
        step: the global step.
        batch: this rank's batch size.
        size: the training image size (larger stored images are cropped to it).
        rank: this process's rank.
        world: number of ranks.
    """

    def __init__(self, seed: int, step: int, batch: int, size: int, rank: int, world: int) -> None:
        self.seed, self.step, self.batch, self.size, self.rank, self.world = seed, step, batch, size, rank, world

    def generator(self, stream: int = 0) -> torch.Generator:
        """A generator for one independent use (``stream``) of this step's randomness."""
        base = self.seed * 1_000_003 + self.step
        return torch.Generator().manual_seed(base if stream == 0 else base * 7_919 + stream)

    def uniform(self, stream: int) -> Tensor:
        """One uniform [0, 1) draw per item of this rank's batch, float64 ``[B]``."""
        u = torch.rand(self.batch * self.world, generator=self.generator(stream), dtype=torch.float64)
        return u[self.rank :: self.world]

    def augment(self, images: Tensor, stream: int = 0) -> Tensor:
        """Crop/flip images stored larger than the training size (no-op when they already fit)."""
        if images.shape[-1] == self.size:
            return images
        return augment_batch(images, self.size, self.generator(stream), self.rank, self.world)


class Batches:
    """Training batches of one data kind, indexed by global step.

    Args:
        kind: the :class:`~genfer.data.kinds.DataKind` that cuts batches.
        sets: the decoded training sets the kind loaded (``{"main": ..., "faces": ...}``).
        batch_size: global batch size (summed over ranks; divisible by ``world``).
        size: training image size.
        seed: the run's seed.
        rank: this process's rank (plain int: data knows nothing of the engine).
        world: number of ranks.
    """

    def __init__(
        self,
        kind: DataKind,
        sets: dict[str, TensorSet],
        batch_size: int,
        size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} is not divisible by {world} ranks")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside 0..{world - 1}")
        self.kind, self.sets = kind, sets
        self.batch = batch_size // world
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        n = kind.length(sets)
        self.sampler = DistributedSampler(
            range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // self.batch
        if self.steps_per_epoch == 0:
            raise ValueError(f"{n} training items are fewer than one batch of {batch_size}")
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> Tensor:
        """This rank's item indices (into the kind's item range) at ``step``, long ``[batch]``."""
        epoch, pos = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, torch.tensor(list(self.sampler))
        return self._order[pos * self.batch : (pos + 1) * self.batch]

    def get(self, step: int, device: torch.device) -> dict[str, Tensor]:
        """The batch of ``step`` on ``device``; keys, dtypes and shapes as the kind documents."""
        draws = StepDraws(self.seed, step, self.batch, self.size, self.rank, self.world)
        batch = self.kind.batch(self.sets, self.indices(step), draws)
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


class RecogniserBatches:
    """Batches of a recogniser trained on real plus synthesised faces (JESRL's ``--multi_add_gan``).

    Step ``s`` of the stage that starts at ``start`` holds a real batch (``x_real`` uint8, ``y_real``;
    an epoch permutation of ``real``, one permutation per recogniser epoch) and ``k`` synthetic
    batches (``x_syn``, ``y_syn``, ``fx_syn`` float), drawn from ``synth`` by the step's seed, where
    ``k`` follows ``curriculum`` by recogniser epoch ``epoch_offset + (s - start) // epoch_steps``.
    Every image is flipped horizontally with probability 1/2 (fx is not). A pure function of
    (seed, step), so resuming needs no state.

    Args:
        real: the real training faces (labels 0..K-1).
        synth: synthesised faces and labels.
        fx: float ``[len(synth), 2c, h, w]``, the synthesised faces' fx.
        batch_size: real images per step (and per synthetic batch).
        size: the image side the method trains at (larger images are resized).
        seed: the run's seed.
        start: the first step of the stage.
        epoch_steps: steps of one recogniser epoch.
        epoch_offset: recogniser epochs of earlier stages.
        curriculum: ``(first epoch, k)`` pairs, increasing.
    """

    def __init__(self, real: TensorSet, synth: TensorSet, fx: Tensor, batch_size: int, size: int, seed: int,
                 start: int, epoch_steps: int, epoch_offset: int, curriculum: tuple[tuple[int, int], ...]) -> None:
        if len(fx) != len(synth):
            raise ValueError(f"{synth.name}: {len(synth)} images but {len(fx)} fx arrays")
        self.real, self.synth, self.fx = real, synth, fx
        self.sets = {"main": real, "synth": synth}
        self.batch, self.size, self.seed = batch_size, size, seed
        self.start, self.epoch_steps, self.epoch_offset = start, max(epoch_steps, 1), epoch_offset
        self.curriculum = tuple(sorted(curriculum))
        self.steps_per_epoch = self.epoch_steps

    def extra(self, epoch: int) -> int:
        """Synthetic batches per real batch at recogniser epoch ``epoch``."""
        k = 0
        for first, n in self.curriculum:
            if epoch >= first:
                k = n
        return k

    def get(self, step: int, device: torch.device) -> dict[str, Tensor]:
        local = max(step - self.start, 0)
        epoch = self.epoch_offset + local // self.epoch_steps
        n, b = len(self.real), self.batch
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + 7 * epoch + 1))
        pos = (local % self.epoch_steps) * b
        idx = perm[torch.arange(pos, pos + b) % n]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step + 11)
        k = self.extra(epoch) if len(self.synth) else 0
        sidx = torch.randint(len(self.synth), (k * b,), generator=gen) if k else torch.zeros(0, dtype=torch.long)
        flips = torch.rand(b + k * b, generator=gen) < 0.5

        def flip(x: Tensor, f: Tensor) -> Tensor:
            x = resize_uint8(x, self.size)
            return torch.where(f[:, None, None, None], x.flip(-1), x)

        out = {
            "x_real": flip(self.real.images[idx], flips[:b]),
            "y_real": self.real.expressions[idx],
            "x_syn": flip(self.synth.images[sidx], flips[b:]),
            "y_syn": self.synth.expressions[sidx],
            "fx_syn": self.fx[sidx],
        }
        return {key: v.to(device, non_blocking=True) for key, v in out.items()}
