"""``SynthFace``: a labelled face dataset rendered in memory, with subject-independent splits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from genfer.data.labels import BASIC7

from .params import EXPRESSION_DRAWS, STREAM_EXPRESSION, aus_from_uniform, hash_uniform, sparse_aus
from .raster import render_keys

AU_DRAWS = ("prototype", "mixed")
"""How image AUs are drawn: from the expression's FACS prototype, or (``mixed``) every second image
(odd index) with independent sparse AUs instead (``params.sparse_aus``; its expression label then
does not describe it), so AU models see each AU apart from the ones it usually comes with."""

TEST_ID_START = 100_000
"""First identity id of held-out (test) identities; training ids count from 0."""


def split_identities(n_train: int, n_test: int) -> tuple[list[int], list[int]]:
    """Disjoint identity ids for a subject-independent split.

    Returns:
        (train ids ``0 .. n_train-1``, test ids ``100000 .. 100000+n_test-1``).
    """
    if not 0 <= n_train <= TEST_ID_START:
        raise ValueError(f"n_train must be in 0..{TEST_ID_START}, got {n_train}")
    if n_test < 0:
        raise ValueError(f"n_test must be >= 0, got {n_test}")
    return list(range(n_train)), list(range(TEST_ID_START, TEST_ID_START + n_test))


def expression_labels(identities: Tensor, indices: Tensor, expressions: Sequence[int]) -> Tensor:
    """Expression of image ``index`` of each identity: the classes in turn, from an offset of the id.

    Contiguous identity ids then give every class equally often (exactly, when ``per_identity``
    is a multiple of the number of classes), and each identity shows every class.
    """
    table = torch.tensor(list(expressions), dtype=torch.long)
    return table[torch.remainder(identities + indices, len(table))]


class SynthFace(Dataset):
    """Procedural faces with known identity, expression and AU intensities, rendered at construction.

    Image ``j`` of identity ``k`` depends only on ``(seed, k, j, size, channels, expressions,
    nuisance)``: any subset or order of identities gives the same pictures for the same keys.

    Args:
        identities: an int ``n`` (ids ``0..n-1``) or the identity ids to render.
        per_identity: images per identity.
        size: image height and width (>= 32).
        channels: 1 (grey) or 3 (RGB).
        seed: appearance of identities and all draws.
        expressions: canonical labels to use (default all 7 basic classes, 0 neutral .. 6 anger).
        nuisance: pose/lighting/background/noise variation (0 none, 1 default).
        au_draw: ``prototype`` or ``mixed`` (see ``AU_DRAWS``).

    Attributes:
        images: uint8 [N, C, H, W].
        expressions: long [N] canonical labels.
        identities: long [N] identity ids.
        aus: float32 [N, 17] AU intensities (0..5) in ``AU_NAMES`` order.
        indices: long [N] index of each image within its identity.
    """

    classes: tuple[str, ...] = BASIC7

    def __init__(
        self,
        identities: int | Sequence[int],
        per_identity: int,
        size: int = 128,
        channels: int = 1,
        seed: int = 0,
        expressions: Sequence[int] | None = None,
        nuisance: float = 1.0,
        au_draw: str = "prototype",
    ) -> None:
        ids = list(range(identities)) if isinstance(identities, int) else [int(i) for i in identities]
        exprs = list(range(len(BASIC7))) if expressions is None else [int(e) for e in expressions]
        if not exprs or any(not 0 <= e < len(BASIC7) for e in exprs):
            raise ValueError(f"expressions must be canonical labels 0..6, got {exprs}")
        if per_identity < 0:
            raise ValueError(f"per_identity must be >= 0, got {per_identity}")
        if au_draw not in AU_DRAWS:
            raise ValueError(f"au_draw must be one of {AU_DRAWS}, got {au_draw!r}")
        self.size, self.channels, self.seed, self.nuisance = size, channels, seed, nuisance
        self.identities = torch.tensor(ids, dtype=torch.long).repeat_interleave(per_identity)
        self.indices = torch.arange(per_identity).repeat(len(ids))
        self.expressions = expression_labels(self.identities, self.indices, exprs)
        u = hash_uniform(seed, (self.identities, self.indices), STREAM_EXPRESSION, EXPRESSION_DRAWS)
        self.aus = aus_from_uniform(self.expressions, u)
        if au_draw == "mixed":
            k = self.aus.shape[1]
            odd = self.indices % 2 == 1
            self.aus[odd] = sparse_aus(u[odd, :k], u[odd, k : 2 * k])
        self.images = render_keys(self.identities, self.indices, self.aus, size, channels, seed, nuisance)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {
            "image": self.images[i],
            "expression": int(self.expressions[i]),
            "identity": int(self.identities[i]),
            "aus": self.aus[i],
        }

    def __repr__(self) -> str:
        n_id = len(torch.unique(self.identities))
        return (
            f"SynthFace({len(self)} images, {n_id} identities, {self.size}x{self.size}x{self.channels}, "
            f"seed={self.seed}, nuisance={self.nuisance})"
        )
