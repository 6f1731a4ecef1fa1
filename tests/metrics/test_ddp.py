import json
import socket
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
import metrics_ddp_worker as w


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-7, abs=1e-9), path
    else:
        assert a == b, path


def test_two_gloo_ranks_match_one_process(tmp_path):
    single = w.run_cases(0, 1)
    out = str(tmp_path / "res")
    mp.spawn(w.worker, args=(2, _free_port(), out), nprocs=2, join=True)
    for rank in range(2):
        res = json.loads(Path(f"{out}.{rank}.json").read_text())
        _close(single, json.loads(json.dumps(res)))
    assert single["recognition"]["num_samples"] == 36 and single["recognition"]["ignored"] == 1
    assert single["features"]["fid"]["num_real"] == 23 and single["features"]["is"]["num_images"] == 20
    assert single["paired"]["psnr"]["num_nonfinite"] == 1 and single["paired"]["acd"]["num_no_face"] == 2
