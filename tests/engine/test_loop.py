"""Engine behaviour on tiny runs: outputs, exact resume after SIGKILL, the non-finite guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genfer.engine import checkpoint as ck
from genfer.engine.trainer import Trainer, TrainingDiverged, train


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(ck.resolve_checkpoint(run_dir, "latest") / ck.MODEL_FILE))


def test_run_writes_config_logs_samples_and_checkpoints(tiny_cfg):
    cfg = tiny_cfg("tdgan", "train.max_steps=6", "train.eval_every=3", "train.name=r")
    run = train(cfg)
    assert (run / "config.yaml").is_file()
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [3, 6] and all(0 <= r["acc_M_ER"] <= 1 for r in evals)
    assert all(r["images_per_s"] > 0 for r in rows if r["kind"] == "train")
    assert list((run / "samples").glob("*.png"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["best_step"] in (3, 6)
    best = ck.resolve_checkpoint(run, "best")
    assert best.name == f"step-{summary['best_step']:07d}"
    # only the latest and the best checkpoints are kept
    kept = {p.name for p in (run / "checkpoints").glob("step-*")}
    assert kept == {best.name, ck.resolve_checkpoint(run, "latest").name}


def test_a_phase_that_stops_running_is_not_logged_again(tiny_cfg):
    cfg = tiny_cfg("cdan", "model.au_warmup_steps=2", "train.max_steps=4", "train.log_every=1", "train.name=w")
    rows = [json.loads(x) for x in (train(cfg) / "log.jsonl").read_text().splitlines()]
    phases = {r["step"]: sorted({k.split("/")[0] for k in r if "/" in k}) for r in rows if r["kind"] == "train"}
    assert phases == {1: ["D:au"], 2: ["D:au"], 3: ["D", "G"], 4: ["D"]}  # G every 2nd iteration


def test_existing_run_directory_is_not_overwritten(tiny_cfg):
    cfg = tiny_cfg("tdgan", "train.max_steps=1", "train.name=same")
    train(cfg)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg)


_KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from genfer.core.config import make_config
    from genfer.engine.trainer import Trainer
    cfg = make_config("tdgan", "tiny", sys.argv[1:])
    t = Trainer(cfg)
    t.fit(stop_after=int(os.environ["STOP_AFTER"]))
    os.kill(os.getpid(), signal.SIGKILL)  # dies mid-run, after the last checkpoint, steps lost
    """
)


def test_resume_after_sigkill_equals_uninterrupted_run(tiny_cfg, tmp_path):
    # a decaying schedule with warm-up: the learning rate must resume where it was too
    common = ["train.max_steps=8", "train.eval_every=3", "train.ckpt_every=3", "train.threads=1",
              "optim.schedule=cosine", "optim.warmup_steps=2"]
    straight = train(tiny_cfg("tdgan", *common, "train.name=straight"))

    cfg = tiny_cfg("tdgan", *common, "train.name=killed")
    args = [f"{k}={v}" for k, v in _flat(cfg.to_dict())]
    env = {**os.environ, "STOP_AFTER": "5"}  # checkpoint at step 3, steps 4-5 are lost
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, *args], env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed = Path(cfg.train.out) / "killed"
    assert ck.resolve_checkpoint(killed, "latest").name == "step-0000003"
    assert not (killed / "summary.json").exists()

    train(cfg, resume=killed)
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log_steps = [json.loads(x)["step"] for x in (killed / "log.jsonl").read_text().splitlines()
                 if json.loads(x)["kind"] == "train"]
    assert log_steps[-1] == 8


def _flat(d, prefix=""):
    for k, v in d.items():
        if k == "method":
            continue
        if isinstance(v, dict) and k in ("model", "data", "optim", "train") and not prefix:
            yield from _flat(v, f"{k}.")
        elif isinstance(v, dict):
            yield f"{prefix}{k}", "{" + ", ".join(f"{kk}: {vv}" for kk, vv in v.items()) + "}"
        elif isinstance(v, list):
            yield f"{prefix}{k}", "[" + ", ".join(str(x) for x in v) + "]"
        elif isinstance(v, bool):
            yield f"{prefix}{k}", str(v).lower()
        else:
            yield f"{prefix}{k}", v


def test_nonfinite_losses_are_skipped_counted_and_stop_the_run(tiny_cfg, monkeypatch):
    cfg = tiny_cfg("tdgan", "train.max_steps=40", "train.eval_every=2", "train.max_nonfinite=3",
                   "train.name=nan")
    t = Trainer(cfg)
    t.fit(stop_after=2)  # a good checkpoint at step 2
    assert ck.resolve_checkpoint(t.run_dir, "latest").name == "step-0000002"

    real = t.method.training_step
    calls = {"n": 0}

    def poisoned(batch, phase, cache):
        out = real(batch, phase, cache)
        if phase == "G":
            calls["n"] += 1
            if calls["n"] == 1 or calls["n"] >= 3:  # one isolated NaN, then NaN forever
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(t.method, "training_step", poisoned)
    g_before = [p.detach().clone() for p in t.groups["G"]]
    t.iteration()  # step 3: G is NaN -> G not updated, others are
    assert all(torch.equal(a, b) for a, b in zip(g_before, t.groups["G"]))
    with pytest.raises(TrainingDiverged, match="consecutive") as e:
        t.fit()
    rows = [json.loads(x) for x in (t.run_dir / "log.jsonl").read_text().splitlines()]
    bad = [r for r in rows if r["kind"] == "nonfinite"]
    assert len(bad) == 3 and bad[0]["streak"] == 1 and bad[-1]["streak"] == 3 and bad[-1]["phases"] == ["G"]
    # the error names the last checkpoint saved while the losses were finite (step 4, after the isolated
    # NaN), not the latest one (step 6, saved inside the streak), and that one holds finite weights
    assert ck.resolve_checkpoint(t.run_dir, "latest").name == "step-0000006"
    good = ck.pointer_target(t.run_dir, "good")
    assert good.name == "step-0000004" and str(good) in str(e.value) and "step-0000006" not in str(e.value)
    weights = load_file(str(good / ck.MODEL_FILE))
    assert torch.isfinite(torch.cat([v.float().flatten() for v in weights.values()])).all()
