"""Reference models shipped in the package: intact, small, loadable by name, and computing what they
computed when they were exported (golden outputs in tests/fixtures/reference/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from genfer.apps.reference import golden_outputs
from genfer.cli.main import main
from genfer.core.reference import FILES, reference_models, sha256_file
from genfer.engine.checkpoint import load_method

MODELS = reference_models()
NAMES = sorted(MODELS)
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
REPO = Path(__file__).resolve().parents[2]


def test_the_two_synthface_models_are_shipped():
    assert {"synthface-tdgan", "synthface-au"} <= set(NAMES)
    assert MODELS["synthface-tdgan"].method == "tdgan" and MODELS["synthface-au"].method == "au_cyclegan"


@pytest.mark.parametrize("name", NAMES)
def test_files_match_the_sha256_in_the_provenance(name):
    model = MODELS[name]
    recorded = model.recorded_sha256()
    assert set(recorded) == set(FILES)
    for f in FILES:
        assert sha256_file(model.path / f) == recorded[f], f"{name}/{f} differs from its PROVENANCE.md"
    for fact in ("command", "commit", "training time", "machine"):
        assert f"- {fact}: " in model.provenance


@pytest.mark.parametrize("name", NAMES)
def test_weights_are_fp16_and_at_most_10_mb(name):
    path = MODELS[name].path / "model.safetensors"
    assert path.stat().st_size <= 10 * 2**20
    with safe_open(str(path), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes <= {"F16", "I64"}, dtypes


@pytest.mark.parametrize("name", NAMES)
def test_outputs_match_the_golden_ones_recorded_at_export(name):
    method, cfg = load_method(name)  # by name, as --checkpoint takes it
    got = golden_outputs(method, cfg)
    want = load_file(str(GOLDEN / f"{name}.safetensors"))
    assert set(got) == set(want) and got
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=2e-3, rtol=1e-3, msg=f"{name}: {k}")


def test_ls_lists_them_with_their_figures(capsys):
    assert main(["ls", "models"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"{name}: {MODELS[name].method}, {MODELS[name].figures['summary']}" in out


def test_transfer_edit_and_recognize_take_them_by_name(tmp_path, capsys):
    from genfer.apps.reference import golden_inputs
    from genfer.core.imaging import save_image

    cfg = load_method("synthface-tdgan")[1]
    x = golden_inputs(cfg)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_image(x["faces"][0].float() / 255, a)
    save_image(x["others"][0].float() / 255, b)
    assert main(["transfer", "--checkpoint", "synthface-tdgan", "--face", str(a), "--expression", str(b),
                 "-o", str(tmp_path / "t.png")]) == 0
    assert main(["edit", "--checkpoint", "synthface-au", str(a), "--aus", "AU12=4", "--aligned",
                 "-o", str(tmp_path / "e.png")]) == 0
    assert (tmp_path / "t.png").is_file() and (tmp_path / "e.png").is_file()
    assert main(["recognize", "--checkpoint", "synthface-tdgan", "--aligned", str(a)]) == 0
    assert "SynthFace" not in capsys.readouterr().err  # a render: no warning


def test_a_real_photo_gets_a_one_line_warning_not_a_refusal(tmp_path, capsys):
    from genfer.core.imaging import save_image

    photo = tmp_path / "photo.png"  # not a render-sized crop
    save_image(torch.rand(3, 150, 120), photo)
    assert main(["recognize", "--checkpoint", "synthface-tdgan", "--aligned", str(photo)]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "SynthFace" in ln]
    assert len(err) == 1 and "does not know real faces" in err[0] and "photo.png" in err[0]


def test_an_unknown_name_lists_the_shipped_ones(tmp_path, capsys):
    assert main(["transfer", "--checkpoint", "synthface-nope", "--face", "a.png", "--expression", "b.png",
                 "-o", str(tmp_path / "t.png")]) != 0
    err = capsys.readouterr().err
    assert "synthface-nope" in err and "synthface-tdgan" in err


@pytest.mark.slow
def test_the_wheel_ships_them_and_they_load_from_the_installed_package(tmp_path):
    src = tmp_path / "repo"  # a copy, so the build leaves no build/ folder in the checkout
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("genfer-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for name in NAMES:
            for f in (*FILES, "PROVENANCE.md"):
                assert f"genfer/reference_models/{name}/{f}" in names
        site = tmp_path / "site"
        z.extractall(site)
    code = ("import genfer.core.reference as r; from genfer.engine.checkpoint import load_method; "
            "m, c = load_method('synthface-tdgan'); print(r.ROOT)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert out.stdout.strip().startswith(str(site))
