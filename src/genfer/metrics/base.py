"""Accumulating metrics: declared sufficient statistics that reduce across DDP ranks.

A metric subclass declares each piece of state once with ``add_state(name, default, reduce)``:
``"sum"`` states (counts, feature sums, covariance sums) are all-reduced as float64 sums, ``"cat"``
states (per-image features that a metric needs in full, e.g. KID's subsets) are all-gathered and
concatenated in rank order. ``compute()`` reads the reduced copies through ``self.state()``, so
local state is left untouched and calling ``compute()`` twice gives the same answer.

Reduction happens only when ``torch.distributed`` is initialised with more than one rank; every
rank must then call ``compute()`` (it is a collective). Set ``metric.sync = False`` to compute
from the local state only (e.g. an evaluation that runs on rank 0 alone).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor

Reduce = Literal["sum", "cat"]


def distributed_world() -> int:
    """Number of ranks taking part in reductions (1 when torch.distributed is not initialised)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class Metric:
    """Base class of the accumulating metrics.

    Subclasses call ``add_state`` in ``__init__``, implement ``update`` (adds to the local state)
    and ``compute`` (reads ``self.state()``, returns a JSON-serialisable dict).
    """

    name: str = "metric"

    def __init__(self) -> None:
        self._defaults: dict[str, Tensor] = {}
        self._reduce: dict[str, Reduce] = {}
        self._sum: dict[str, Tensor] = {}
        self._cat: dict[str, list[Tensor]] = {}
        self.device = torch.device("cpu")
        self.sync = True

    def add_state(self, name: str, default: Tensor, reduce: Reduce = "sum") -> None:
        """Declare one sufficient statistic.

        Args:
            name: state name.
            default: the initial value (for ``"cat"``: an empty tensor ``[0, ...]`` giving the
                trailing shape and dtype).
            reduce: ``"sum"`` (float64 all-reduce) or ``"cat"`` (all-gather along dim 0).
        """
        if reduce not in ("sum", "cat"):
            raise ValueError(f"reduce must be 'sum' or 'cat', got {reduce!r}")
        self._defaults[name] = default.detach().clone()
        self._reduce[name] = reduce
        self._reset_one(name)

    def _reset_one(self, name: str) -> None:
        d = self._defaults[name].to(self.device)
        if self._reduce[name] == "sum":
            self._sum[name] = d.clone()
        else:
            self._cat[name] = [d.clone()]

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        for name in self._defaults:
            self._reset_one(name)

    def to(self, device: str | torch.device) -> Metric:
        """Move the state (and any networks a subclass holds) to ``device``."""
        self.device = torch.device(device)
        for k, v in self._sum.items():
            self._sum[k] = v.to(self.device)
        for k, vs in self._cat.items():
            self._cat[k] = [v.to(self.device) for v in vs]
        return self

    # --- state access for subclasses ------------------------------------------------------
    def _add(self, name: str, value: Tensor) -> None:
        """Add ``value`` to a ``"sum"`` state (in the state's dtype)."""
        self._sum[name] += value.to(self._sum[name].dtype).to(self.device)

    def _append(self, name: str, value: Tensor) -> None:
        """Append rows to a ``"cat"`` state."""
        self._cat[name].append(value.detach().to(self._defaults[name].dtype).to(self.device))

    def local_state(self) -> dict[str, Tensor]:
        """This rank's state, ``"cat"`` states concatenated."""
        out = {k: v.clone() for k, v in self._sum.items()}
        out.update({k: torch.cat(v) for k, v in self._cat.items()})
        return out

    def state(self) -> dict[str, Tensor]:
        """The state reduced over all ranks (the local state on a single process)."""
        local = self.local_state()
        if not self.sync or distributed_world() == 1:
            return local
        out: dict[str, Tensor] = {}
        for name in self._defaults:
            if self._reduce[name] == "sum":
                out[name] = all_reduce_sum(local[name])
            else:
                out[name] = all_gather_cat(local[name])
        return out

    # --- the interface --------------------------------------------------------------------
    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, Any]:
        raise NotImplementedError


def _comm_device(t: Tensor) -> torch.device:
    # NCCL only moves CUDA tensors; states kept on the CPU travel through the current GPU
    if dist.get_backend() == "nccl" and not t.is_cuda:
        return torch.device("cuda", torch.cuda.current_device())
    return t.device


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` over ranks in float64 and return it in its own dtype (exact for counts < 2**53)."""
    buf = t.to(device=_comm_device(t), dtype=torch.float64).clone()
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.to(device=t.device, dtype=t.dtype)


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate ``t`` (``[n_rank, ...]``, n may differ per rank) over ranks, in rank order."""
    world = dist.get_world_size()
    home, t = t.device, t.to(_comm_device(t))
    n = torch.tensor([t.shape[0]], dtype=torch.int64, device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    longest = int(max(int(s) for s in sizes))
    padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes)]).to(home)
