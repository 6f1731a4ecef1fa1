"""From a run config to batches: ``build_data``, and the names other code imports from here.

Sources are ``synthface`` or ``READER:PATH`` (a registered dataset reader and its root), decoded
once into memory (:mod:`genfer.data.sources`); a data kind (:mod:`genfer.data.kinds`) says what
it loads and keeps and how a batch is cut; :class:`~genfer.data.batches.Batches` makes the batch
of any step a pure function of (seed, step), so resuming needs no data-loader state.
"""

from __future__ import annotations

from genfer.core.config import RunConfig
from genfer.data.batches import Batches, augment_batch, eval_batches
from genfer.data.kinds import AUG_SCALE, DATA_KINDS
from genfer.data.sources import load_source
from genfer.data.tensors import TensorSet, resize_uint8, to_channels

__all__ = [
    "AUG_SCALE",
    "Batches",
    "TensorSet",
    "augment_batch",
    "build_data",
    "eval_batches",
    "load_source",
    "resize_uint8",
    "to_channels",
]


def build_data(
    cfg: RunConfig, kind: str, rank: int = 0, world: int = 1, progress: bool = True
) -> tuple[Batches, TensorSet]:
    """Training batches of data kind ``kind`` for this rank, and the held-out set.

    Args:
        cfg: the run config (``data`` sources and sizes, ``model.image_size``/``channels``,
            ``train.seed``).
        kind: a name in ``genfer.data.kinds.DATA_KINDS`` (``pairs``, ``expressions``, ``aus``,
            ``swap_pairs``, ``unlabelled``).
        rank: this process's rank.
        world: number of ranks (``data.batch_size`` is split evenly between them).
        progress: show decoding progress bars.

    Returns:
        ``(batches, test)``: ``batches.get(step, device)`` gives the kind's dict of tensors;
        ``test`` is the decoded held-out set for ``eval_batches``.
    """
    data_kind = DATA_KINDS.get(kind)()
    sets, test = data_kind.load(cfg, progress)
    batches = Batches(data_kind, sets, cfg.data.batch_size, cfg.model.image_size, cfg.train.seed, rank, world)
    return batches, test
