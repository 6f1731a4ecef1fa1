"""Worker for the 2-process gloo test: every case feeds its shard of fixed data to a metric.

Lives in its own module (not a test file) so ``torch.multiprocessing.spawn`` children can import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from genfer.metrics.embedding import EmbeddingDistance
from genfer.metrics.fid import FID, KID, InceptionScore
from genfer.metrics.paired import psnr_metric, ssim_metric
from genfer.metrics.recognition import RecognitionMetric


def _recognition(rank: int, world: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(37, 7, generator=g)
    targets = torch.randint(0, 7, (37,), generator=g)
    targets[5] = -1
    m = RecognitionMetric([f"c{i}" for i in range(7)])
    for chunk in range(4 * rank, 37, 4 * world):  # uneven shards on purpose
        sl = slice(chunk, min(chunk + 4, 37))
        m.update(logits[sl], targets[sl])
    return m.compute()


def _shard(n: int, rank: int, world: int) -> slice:
    """Contiguous, uneven shards in rank order (what all_gather concatenates back)."""
    cut = [0, n // 3, n] if world == 2 else [0, n]
    return slice(cut[rank], cut[rank + 1])


def _features(rank: int, world: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(23, 6, generator=g), torch.randn(17, 6, generator=g) + 0.4
    logits = torch.randn(20, 1008, generator=g) * 3
    fid, kid, isc = FID(dim=6), KID(subsets=5, subset_size=8, dim=6), InceptionScore(splits=4)
    fid.update_features(real[_shard(23, rank, world)], real=True)
    fid.update_features(fake[_shard(17, rank, world)], real=False)
    kid.update_features(real[_shard(23, rank, world)], real=True)
    kid.update_features(fake[_shard(17, rank, world)], real=False)
    isc.update_logits(logits[_shard(20, rank, world)])
    return {"fid": fid.compute(), "kid": kid.compute(), "is": isc.compute()}


def _paired(rank: int, world: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(2)
    a = torch.rand(7, 3, 16, 16, generator=g)
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    b[3] = a[3]  # one identical pair: infinite PSNR, counted on whichever rank holds it
    emb_a = [None if i == 2 else torch.randn(4, generator=g) for i in range(7)]
    emb_b = [None if i in (2, 5) else torch.randn(4, generator=g) for i in range(7)]
    p, s, e = psnr_metric(), ssim_metric(), EmbeddingDistance("acd", embedder_name="toy")
    sl = _shard(7, rank, world)
    p.update(a[sl], b[sl])
    s.update(a[sl], b[sl])
    e.update_embeddings(emb_a[sl], emb_b[sl])
    return {"psnr": p.compute(), "ssim": s.compute(), "acd": e.compute()}


CASES: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "recognition": _recognition,
    "features": _features,
    "paired": _paired,
}


def run_cases(rank: int, world: int) -> dict[str, Any]:
    return {name: fn(rank, world) for name, fn in CASES.items()}


def worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        res = run_cases(rank, world)
        with open(f"{out}.{rank}.json", "w") as f:
            json.dump(res, f)
    finally:
        dist.destroy_process_group()
