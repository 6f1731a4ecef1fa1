"""Issue 14's fault table, engine side: config values checked at load, resume that applies only safe
overrides, nothing lost to Ctrl-C or a kill, a NaN guard that names a checkpoint only if it was good,
damaged checkpoint files that name themselves, and ``?on_error=skip`` that reports what it skipped.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from fault_helpers import TINY, one_line_error, run_cli
from safetensors.torch import load_file

from genfer.cli.main import main
from genfer.core.config import ConfigError, make_config
from genfer.core.imaging import save_image
from genfer.engine import checkpoint as ck
from genfer.engine.trainer import Trainer, TrainingInterrupted

# a run long enough to be interrupted anywhere, with checkpoints inside it
COMMON = ["train.device=cpu", "train.progress=false", "train.tensorboard=false", "train.threads=1",
          "train.max_steps=12", "train.ckpt_every=4", "train.eval_every=6"]
ROOT = Path(__file__).parents[2]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(ck.resolve_checkpoint(run_dir, "latest") / ck.MODEL_FILE))


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _train_steps(run_dir: Path) -> list[int]:
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if r["kind"] == "train"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    assert run_cli(["train", "tdgan", "--config", "tiny", *COMMON, "--out", str(out), "--name", "s"])[0] == 0
    return out / "s"


# --- config values: every row is one line naming the field, the value and the accepted range -------------
@pytest.mark.parametrize("override, message", [
    ("data.batch_size=-4", "data.batch_size=-4: out of range; use an integer >= 1"),
    ("data.batch_size=0", "data.batch_size=0: out of range; use an integer >= 1"),
    ("data.batch_size=abc", "data.batch_size=abc: expected an integer"),
    ("train.max_steps=-5", "train.max_steps=-5: out of range; use an integer >= 0"),
    ("optim.lr=0", "optim.lr=0.0: out of range; use a number > 0"),
    ("train.ema=1.5", "train.ema=1.5: out of range; use a number in [0, 1)"),
    ("optim.betas=[0.5, 1.2]", "optim.betas[1]=1.2: out of range; use a number in [0, 1)"),
    ("train.precision=fp8", "train.precision=fp8: out of range; use fp32 or bf16 or fp16 or auto"),
])
def test_a_bad_config_value_is_a_usage_error_before_any_work(override, message, tmp_path, capsys):
    assert main(["train", "tdgan", *TINY, override, "--out", str(tmp_path)]) == 2
    assert f"genfer train: error: {message}" in one_line_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # no run directory


def test_every_range_is_checked_where_configs_are_built():
    for bad in ("train.epochs=0", "train.log_every=0", "train.max_minutes=-1", "optim.final_lr_ratio=2",
                "optim.weight_decay=-0.1", "data.synth_per_identity=0", "train.accumulate=0",
                "optim.group_lr={G: -1}", "train.max_nonfinite=0", "data.synth_au_draw=random"):
        with pytest.raises(ConfigError, match=bad.split("=")[0].split("{")[0]):
            make_config("tdgan", "tiny", [bad])
    for preset in ("tiny", "demo"):  # what genfer ships passes
        make_config("tdgan", preset)
    for preset in ("tiny", "cpu", "released"):
        make_config("au_cyclegan", preset)


# --- a failed start leaves nothing behind ---------------------------------------------------------------
def test_a_failed_start_leaves_no_stub_run_directory(tmp_path, capsys):
    assert main(["train", "tdgan", *TINY, "--data", f"folder:{tmp_path / 'nothing'}", "--out", str(tmp_path / "r"),
                 "--name", "x"]) == 1
    assert "nothing" in one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "r" / "x").exists()


def test_ctrl_c_during_set_up_leaves_no_run_directory(tmp_path, monkeypatch):
    import genfer.engine.trainer as trainer

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "build_data", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Trainer(make_config("tdgan", "tiny", [*COMMON, f"train.out={tmp_path}", "train.name=x"]))
    assert list(tmp_path.iterdir()) == []


# --- Ctrl-C: saved at the step it stopped, resumable, nothing logged twice --------------------------------
@pytest.mark.parametrize("seed", [1, 2])
def test_ctrl_c_saves_the_current_step_and_resumes_to_the_same_weights(seed, straight, tmp_path, monkeypatch):
    at = random.Random(seed).randint(1, 11)  # a random iteration; the signal lands in its middle
    cfg = make_config("tdgan", "tiny", [*COMMON, f"train.out={tmp_path}", "train.name=c"])
    t = Trainer(cfg)
    real = t.method.training_step

    def signalled(batch, phase, cache):
        if t.step == at - 1 and phase == "G":  # inside the iteration that makes step `at`
            os.kill(os.getpid(), signal.SIGINT)
        return real(batch, phase, cache)

    monkeypatch.setattr(t.method, "training_step", signalled)
    with pytest.raises(TrainingInterrupted, match=f"stopped at step {at} .*genfer train tdgan --resume"):
        t.fit()
    assert ck.resolve_checkpoint(t.run_dir, "latest").name == f"step-{at:07d}"  # no step lost
    assert run_cli(["train", "tdgan", "--resume", str(t.run_dir)])[0] == 0
    _same_weights(straight, t.run_dir)
    assert _train_steps(t.run_dir) == list(range(1, 13))


def test_ctrl_c_from_the_terminal_exits_130_with_the_resume_command(straight, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "genfer.cli.main", "train", "tdgan", "--config", "tiny", *COMMON,
         "train.max_steps=400", "--out", str(tmp_path), "--name", "t"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "t" / "log.jsonl"
    _wait_for_step(log, random.Random(3).randint(2, 8), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("genfer train: interrupted: stopped at step") and f"--resume {tmp_path / 't'}" in line
    step = ck.load_training_state(tmp_path / "t")["step"]
    assert _train_steps(tmp_path / "t")[-1] == step  # saved where it stopped
    # resumed with a shorter run than planned: a safe override
    assert run_cli(["train", "tdgan", "--resume", str(tmp_path / "t"), "train.max_steps=12"])[0] == 0 or step > 12
    if step <= 12:
        _same_weights(straight, tmp_path / "t")
        assert _train_steps(tmp_path / "t") == list(range(1, 13))


# --- SIGKILL at random moments: the next resume cleans up and ends equal --------------------------------
@pytest.mark.parametrize("seed", [4, 5])
def test_sigkill_at_a_random_moment_then_resume_equals_an_uninterrupted_run(seed, straight, tmp_path):
    rng = random.Random(seed)
    proc = subprocess.Popen(
        [sys.executable, "-m", "genfer.cli.main", "train", "tdgan", "--config", "tiny", *COMMON,
         "--out", str(tmp_path), "--name", "k"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stderr=subprocess.DEVNULL)
    _wait_for_step(tmp_path / "k" / "log.jsonl", rng.randint(5, 10), proc)  # past the first checkpoint
    time.sleep(rng.uniform(0, 0.2))
    proc.kill()
    proc.wait()
    run = tmp_path / "k"
    (run / "checkpoints" / ".step-0000099.tmp-1").mkdir()  # what a kill inside a checkpoint write leaves
    (run / "checkpoints" / ".latest.tmp-1").write_text("step-0000099\n")
    assert run_cli(["train", "tdgan", "--resume", str(run)])[0] == 0
    _same_weights(straight, run)
    steps = _train_steps(run)
    assert steps == list(range(1, 13)), Counter(steps)
    assert not list((run / "checkpoints").glob(".*"))


def _wait_for_step(log: Path, step: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and any(s >= step for s in _train_steps_safe(log)):
            return
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"


def _train_steps_safe(log: Path) -> list[int]:
    out = []
    for line in log.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("kind") == "train":
            out.append(row["step"])
    return out


def test_orphans_are_removed_and_a_replaced_checkpoint_is_put_back(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "step-0000004").mkdir(parents=True)
    (root / ".step-0000008.tmp-7").mkdir()
    (root / ".step-0000004.old-7").mkdir()  # its successor arrived: stale
    (root / ".step-0000002.old-7").mkdir()  # killed between the two renames: the only copy
    (root / ".best.tmp-7").write_text("x")
    ck.remove_orphans(root)
    assert sorted(p.name for p in root.iterdir()) == ["step-0000002", "step-0000004"]


# --- --resume with overrides -----------------------------------------------------------------------------
def test_resume_applies_safe_overrides_and_refuses_the_rest(tmp_path, capsys):
    out = str(tmp_path)
    assert run_cli(["train", "tdgan", "--config", "tiny", *COMMON, "train.max_steps=2", "--out", out,
                    "--name", "r"])[0] == 0
    run = tmp_path / "r"
    rc = main(["train", "tdgan", "--resume", str(run), "train.max_steps=3", "optim.lr=1", "data.batch_size=8"])
    line = one_line_error(capsys.readouterr().err)
    assert rc == 2 and "data.batch_size, optim.lr cannot change" in line and "train.max_steps" in line
    assert main(["train", "au_cyclegan", "--resume", str(run)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "is a tdgan run" in line and "as au_cyclegan" in line
    assert main(["train", "tdgan", "--config", "tiny", "--resume", str(run)]) == 2
    assert "--config does not apply with --resume" in one_line_error(capsys.readouterr().err)
    assert json.loads((run / "summary.json").read_text())["steps"] == 2  # none of these trained
    assert run_cli(["train", "tdgan", "--resume", str(run), "train.max_steps=3", "train.log_every=3"])[0] == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 3
    assert ck.load_config(ck.resolve_checkpoint(run, "latest")).train.max_steps == 3  # kept for the next resume
    assert main(["train", "tdgan", "--resume", str(run), "train.max_steps=1"]) == 2
    assert "at step 3, past the 1 steps" in one_line_error(capsys.readouterr().err)


# --- the NaN guard ------------------------------------------------------------------------------------------
def test_nan_guard_says_when_no_checkpoint_was_good(tmp_path, capsys):
    # optim.lr=1e9: G's loss is non-finite from step 1; checkpoints are still written (steps 4, 8)
    assert main(["train", "tdgan", *TINY, "optim.lr=1e9", "train.max_steps=40", "train.max_nonfinite=10",
                 "train.ckpt_every=4", "--out", str(tmp_path), "--name", "n"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "the first of them at step 1" in line and "No checkpoint of this run was saved while the losses" in line
    assert "last good" not in line and "lower optim.lr (now 1e+09)" in line
    assert ck.resolve_checkpoint(tmp_path / "n", "latest").name == "step-0000008"
    assert ck.pointer_target(tmp_path / "n", "good") is None


# --- damaged checkpoint files ---------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncate_state", "garbage_state", "truncate_weights"])
def test_a_damaged_checkpoint_file_is_named_with_the_fix(damage, tmp_path, capsys):
    assert run_cli(["train", "tdgan", *TINY, "train.max_steps=4", "train.ckpt_every=2", "train.eval_every=1000",
                    "--out", str(tmp_path), "--name", "d"])[0] == 0
    run = tmp_path / "d"
    ckpt = ck.resolve_checkpoint(run, "latest")
    if damage != "garbage_state":  # an earlier checkpoint to fall back on
        shutil.copytree(ckpt, ckpt.with_name("step-0000002"))
    target = ckpt / (ck.MODEL_FILE if damage == "truncate_weights" else ck.STATE_FILE)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 3] if damage.startswith("truncate") else b"\x80\x02garbage" * 9)
    assert main(["train", "tdgan", "--resume", str(run), "train.max_steps=6"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert str(target) in line and ("truncated" in line or "corrupt" in line) and "weights_only" not in line
    if damage == "garbage_state":
        assert "restore it from a copy, or start the run again" in line
    else:  # another checkpoint of the run, or anew
        assert "use another checkpoint of the run (step-0000002; to resume from it" in line
        assert "start the run again" in line


# --- ?on_error=skip reports what it skipped ----------------------------------------------------------------
def _image_folder(root: Path) -> tuple[Path, Path]:
    """Class folders of face images; the first item (held out for testing) is corrupt, the second empty."""
    from genfer.data.synthface import SynthFace

    ds = SynthFace(2, 12, size=32, channels=3, seed=5)
    names = ("angry", "happy")
    for i in range(len(ds)):
        save_image(ds.images[i], root / names[i % 2] / f"{i:03d}.png")
    bad, empty = root / "angry" / "000.png", root / "angry" / "002.png"
    bad.write_bytes(bad.read_bytes()[:60])
    empty.write_bytes(b"")
    return bad, empty


def test_on_error_skip_covers_images_that_do_not_decode_and_reports_them(tmp_path, capsys):
    bad, empty = _image_folder(tmp_path / "faces")
    spec = f"folder:{tmp_path / 'faces'}"
    out = ["--out", str(tmp_path / "runs"), "--name", "s", "train.max_steps=1"]
    assert main(["train", "tdgan", *TINY, "--data", spec, *out]) == 1  # without skip: the file is named
    line = one_line_error(capsys.readouterr().err)
    assert str(bad) in line or str(empty) in line
    assert main(["train", "tdgan", *TINY, "--data", f"{spec}?on_error=skip", *out]) == 0
    err = capsys.readouterr().err
    assert f"{empty}: empty file" in err and f"{bad}: truncated" in err and "skipped 1 item(s)" in err
    summary = json.loads((tmp_path / "runs" / "s" / "summary.json").read_text())
    assert len(summary["skipped_items"]) == 2 and any(str(bad) in m for m in summary["skipped_items"])
    ev = tmp_path / "ev"
    assert main(["eval", "--checkpoint", str(tmp_path / "runs" / "s"), "--data", f"{spec}?on_error=skip",
                 "--out", str(ev)]) == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    assert [m.split(":")[0] for m in metrics["skipped_items"]] == [str(bad)]
    assert metrics["num_samples"] == 2  # the other held-out items
