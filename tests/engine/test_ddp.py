"""Data parallelism under torchrun: two gloo processes on the CPU stay in lock-step, rank 0 writes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    cmd = [torchrun, "--nproc_per_node=2", f"--master_port={_free_port()}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_two_gloo_processes_stay_in_sync_and_only_rank0_writes(tmp_path):
    overrides = ["train.device=cpu", "train.progress=false", "train.tensorboard=false", "train.max_steps=3",
                 "train.log_every=1", f"train.out={tmp_path / 'runs'}", "train.name=ddp", "data.batch_size=8"]
    proc = _torchrun(str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path), *overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    run = tmp_path / "runs" / "ddp"
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3]  # one writer, not two
    assert (run / "summary.json").is_file()
    # the weights moved away from the (identical) initialisation, i.e. both ranks trained
    from genfer.core.config import make_config
    from genfer.models import build_method

    torch.manual_seed(make_config("tdgan", "tiny").train.seed)
    init = build_method(make_config("tdgan", "tiny")).state_dict()
    assert any(not torch.equal(init[k], a[k]) for k in a if a[k].is_floating_point())


def test_torchrun_runs_the_cli_unchanged(tmp_path):
    proc = _torchrun("-m", "genfer.cli.main", "train", "tdgan", "--config", "tiny", "--out", str(tmp_path),
                     "--name", "tr", "train.max_steps=2", "train.device=cpu", "train.progress=false",
                     "train.tensorboard=false", "data.batch_size=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 2  # both ranks return normally
    assert (tmp_path / "tr" / "summary.json").is_file()
    assert json.loads((tmp_path / "tr" / "summary.json").read_text())["steps"] == 2
