"""Run under torchrun by test_ddp.py: train the toy method, save this rank's weights and EMA weights."""

import sys
from pathlib import Path

import torch
from ddp_exit import leave
from toy_method import TINY, register

from genfer.core.config import make_config
from genfer.engine.trainer import Trainer

if __name__ == "__main__":
    torch.set_num_threads(1)
    register()
    out, overrides = Path(sys.argv[1]), sys.argv[2:]
    t = Trainer(make_config("toy", None, [*TINY, *overrides]))
    t.fit()
    state = {"weights": {k: v.clone() for k, v in t.method.state_dict().items()},
             "ema": t.ema.state_dict() if t.ema is not None else {}}
    torch.save(state, out / f"rank{t.dist.rank}.pt")
    leave()
