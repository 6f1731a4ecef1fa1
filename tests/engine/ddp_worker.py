"""Run under torchrun by test_ddp.py: train a tiny TDGAN, save this rank's weights."""

import sys
from pathlib import Path

import torch
from ddp_exit import leave

from genfer.core.config import make_config
from genfer.engine.trainer import Trainer

if __name__ == "__main__":
    torch.set_num_threads(1)
    out, overrides = Path(sys.argv[1]), sys.argv[2:]
    t = Trainer(make_config("tdgan", "tiny", overrides))
    t.fit()
    torch.save({k: v.clone() for k, v in t.method.state_dict().items()}, out / f"rank{t.dist.rank}.pt")
    leave()
