"""Reference models: shipped ones are intact, small and compute what they computed when exported; the
machinery (export, lookup by name, ls, CLI, demo grids, wheel) is tested on tiny runs exported to a
temporary root, so it is covered whatever the package ships."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import TINY_TRAIN
from safetensors import safe_open
from safetensors.torch import load_file

import genfer.core.reference as reference
from genfer.apps.reference import export_reference, golden_outputs
from genfer.cli.main import main
from genfer.core.reference import FILES, reference_models, sha256_file
from genfer.engine.checkpoint import load_config, load_method

SHIPPED = reference_models()
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
REPO = Path(__file__).resolve().parents[2]
FIGURES = {"tdgan": {"expression_carried": 0.5, "summary": "transfer: tiny test run"},
           "au_cyclegan": {"au_mae_all": 1.0, "summary": "AU edits: tiny test run"}}


def check_intact(model: reference.ReferenceModel) -> None:
    recorded = model.recorded_sha256()
    assert set(recorded) == set(FILES)
    for f in FILES:
        assert sha256_file(model.path / f) == recorded[f], f"{model.name}/{f} differs from its PROVENANCE.md"
    for fact in ("command", "commit", "training time", "machine"):
        assert f"- {fact}: " in model.provenance
    path = model.path / "model.safetensors"
    assert path.stat().st_size <= 10 * 2**20
    with safe_open(str(path), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} <= {"F16", "I64"}  # noqa: SIM118 (safe_open is not iterable)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_is_intact_small_and_fp16(name):
    check_intact(SHIPPED[name])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_computes_its_golden_outputs(name):
    method, cfg = load_method(name)  # by name, as --checkpoint takes it
    got, want = golden_outputs(method, cfg), load_file(str(GOLDEN / f"{name}.safetensors"))
    assert set(got) == set(want) and got
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=2e-3, rtol=1e-3, msg=f"{name}: {k}")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Tiny tdgan and au_cyclegan runs exported as synthface-tdgan / synthface-au into a temporary root."""
    from genfer.core.config import make_config
    from genfer.engine.trainer import train

    tmp = tmp_path_factory.mktemp("reference")
    golden = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reference, "ROOT", tmp / "models")
        for method, name in (("tdgan", "synthface-tdgan"), ("au_cyclegan", "synthface-au")):
            run = train(make_config(method, "tiny", [*TINY_TRAIN, f"train.out={tmp / 'runs'}", f"train.name={name}",
                                                     "train.max_steps=2", "train.ema=0.9"]))
            out = export_reference(run, name, {"command": "`genfer train ...`", "training time": "seconds"},
                                   FIGURES[method], root=tmp / "models")
            golden[name] = golden_outputs(*load_method(out))
        mp.undo()
    return tmp / "models", golden


@pytest.fixture
def shipped(root, monkeypatch):
    monkeypatch.setattr(reference, "ROOT", root[0])
    return root[1]


def test_export_writes_an_intact_fp16_model_that_loads_by_name(shipped):
    models = reference_models()
    assert {"synthface-tdgan", "synthface-au"} <= set(models)
    assert models["synthface-tdgan"].method == "tdgan" and models["synthface-au"].method == "au_cyclegan"
    for name, want in shipped.items():
        check_intact(models[name])
        cfg = load_config(models[name].path)
        assert (cfg.train.out, cfg.train.name) == ("runs", "")  # no trace of where the run was written
        got = golden_outputs(*load_method(name))
        assert set(got) == set(want) and got
        for k in want:
            torch.testing.assert_close(got[k], want[k], atol=1e-4, rtol=1e-4)


def test_ls_lists_them_with_their_figures(shipped, capsys):
    assert main(["ls", "models"]) == 0
    out = capsys.readouterr().out
    assert "synthface-tdgan: tdgan, transfer: tiny test run" in out
    assert "synthface-au: au_cyclegan, AU edits: tiny test run" in out


def test_transfer_edit_and_recognize_take_them_by_name(shipped, tmp_path, capsys):
    from genfer.apps.reference import golden_inputs
    from genfer.core.imaging import save_image

    x = golden_inputs(load_method("synthface-tdgan")[1])
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_image(x["faces"][0].float() / 255, a)
    save_image(x["others"][0].float() / 255, b)
    assert main(["transfer", "--checkpoint", "synthface-tdgan", "--face", str(a), "--expression", str(b),
                 "-o", str(tmp_path / "t.png")]) == 0
    assert main(["recognize", "--checkpoint", "synthface-tdgan", "--aligned", str(a)]) == 0
    assert "SynthFace" not in capsys.readouterr().err  # a render-sized crop: no warning
    xa = golden_inputs(load_method("synthface-au")[1])
    save_image(xa["faces"][0].float() / 255, a)
    assert main(["edit", "--checkpoint", "synthface-au", str(a), "--aus", "AU12=4", "--aligned",
                 "-o", str(tmp_path / "e.png")]) == 0
    assert (tmp_path / "t.png").is_file() and (tmp_path / "e.png").is_file()


def test_a_real_photo_gets_a_one_line_warning_not_a_refusal(shipped, tmp_path, capsys):
    from genfer.core.imaging import save_image

    photo = tmp_path / "photo.png"  # not a render-sized crop
    save_image(torch.rand(3, 150, 120), photo)
    assert main(["recognize", "--checkpoint", "synthface-tdgan", "--aligned", str(photo)]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "SynthFace" in ln]
    assert len(err) == 1 and "does not know real faces" in err[0] and "photo.png" in err[0]


def test_transfer_warns_once_for_both_of_its_inputs(shipped, tmp_path, capsys):
    from genfer.core.imaging import save_image

    a, b = tmp_path / "face.png", tmp_path / "expr.png"  # neither is a render-sized crop
    save_image(torch.rand(3, 150, 120), a)
    save_image(torch.rand(3, 90, 90), b)
    assert main(["transfer", "--checkpoint", "synthface-tdgan", "--face", str(a), "--expression", str(b),
                 "--aligned", "-o", str(tmp_path / "t.png")]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if "SynthFace" in ln]
    assert len(err) == 1 and "face.png and 1 more" in err[0]


def test_an_unknown_name_lists_the_shipped_ones(shipped, tmp_path, capsys):
    assert main(["transfer", "--checkpoint", "synthface-nope", "--face", "a.png", "--expression", "b.png",
                 "-o", str(tmp_path / "t.png")]) != 0
    err = capsys.readouterr().err
    assert "synthface-nope" in err and "synthface-tdgan" in err


def test_the_demo_report_shows_each_shipped_grid_with_its_figures(shipped, tmp_path):
    from genfer.apps.demo import shipped_grids

    grids = shipped_grids(tmp_path)
    assert set(grids) == {"synthface-tdgan", "synthface-au"}
    for path, model in grids.values():
        assert path.stat().st_size > 0 and model.figures["summary"]


@pytest.mark.slow
def test_the_wheel_ships_them_and_they_load_from_the_installed_package(root, tmp_path):
    src = tmp_path / "repo"  # a copy, so the build leaves no build/ folder in the checkout
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.rmtree(src / "src" / "genfer" / "reference_models", ignore_errors=True)
    shutil.copytree(root[0], src / "src" / "genfer" / "reference_models")
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("genfer-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for name in ("synthface-tdgan", "synthface-au"):
            for f in (*FILES, "PROVENANCE.md"):
                assert f"genfer/reference_models/{name}/{f}" in names
        site = tmp_path / "site"
        z.extractall(site)
    code = ("import genfer.core.reference as r; from genfer.engine.checkpoint import load_method; "
            "m, c = load_method('synthface-au'); print(r.ROOT)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    assert out.stdout.strip().startswith(str(site))
