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


CASES: dict[str, Callable[[int, int], dict[str, Any]]] = {"recognition": _recognition}


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
