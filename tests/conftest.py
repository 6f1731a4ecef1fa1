"""Shared fixtures: tiny run configs that train in seconds on a CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

# shared test helpers (official.py, photo_fakes.py) import by name from any test folder
sys.path.insert(0, str(Path(__file__).parent))

# Tests share 2 cores with each other's subprocesses; one intra-op thread keeps them predictable.
torch.set_num_threads(1)

TINY_TRAIN = [
    "train.device=cpu",
    "train.progress=false",
    "train.tensorboard=false",
    "train.log_every=1",
]


@pytest.fixture
def tiny_cfg(tmp_path):
    """Factory: the ``tiny`` preset of a method, writing its runs under ``tmp_path``."""
    from genfer.core.config import make_config

    def make(method: str = "tdgan", *overrides: str):
        return make_config(method, "tiny", [*TINY_TRAIN, f"train.out={tmp_path / 'runs'}", *overrides])

    return make
