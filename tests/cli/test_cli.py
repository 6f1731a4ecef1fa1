"""The command line end to end on a tiny run: help, dry run, train, eval, recognize, transfer."""

from __future__ import annotations

import csv
import io
import json
from contextlib import redirect_stdout

import pytest
import torch

from genfer.cli.main import SUBCOMMANDS, build_parser, main
from genfer.core.imaging import save_image

TINY = ["--config", "tiny", "train.device=cpu", "train.progress=false", "train.tensorboard=false"]


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def _check_help(name: str, p) -> None:
    assert p.description, name
    for a in p._actions:
        if a.choices and hasattr(a, "_name_parser_map"):  # nested subcommands
            for sub_name, sub in a.choices.items():
                _check_help(f"{name} {sub_name}", sub)
        elif a.dest != "help":
            assert a.help, f"genfer {name}: option {a.dest} has no help"


def test_every_subcommand_is_wired_and_every_option_has_help():
    subs = _subparsers()
    assert set(subs) == set(SUBCOMMANDS)
    for name, p in subs.items():
        _check_help(name, p)


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_exits_cleanly(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert name in capsys.readouterr().out


def test_dry_run_prints_resolved_config_with_overrides():
    rc, out = _run(["train", "tdgan", "--dry-run", "data.batch_size=16", "optim.lr=2e-4"])
    assert rc == 0
    import yaml

    d = yaml.safe_load(out)
    assert d["method"] == "tdgan" and d["data"]["batch_size"] == 16 and d["optim"]["lr"] == 2e-4
    assert d["model"]["image_size"] == 128  # the paper's default


def test_bad_override_is_a_clear_error_not_a_traceback(capsys):
    rc = main(["train", "tdgan", "--dry-run", "data.batchsize=3"])
    assert rc == 1
    assert "batchsize" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    rc, text = _run(["train", "tdgan", *TINY, "--out", str(out), "--name", "cli", "train.max_steps=3"])
    assert rc == 0 and "run directory" in text
    return out / "cli"


@pytest.fixture(scope="module")
def face_files(tmp_path_factory):
    from genfer.data.synthface import SynthFace

    d = tmp_path_factory.mktemp("faces")
    ds = SynthFace(2, 7, size=48, channels=3, seed=3)
    paths = []
    for i in range(4):
        p = d / f"face {i} é.png"  # spaces and non-ASCII in names
        save_image(ds.images[i], p)
        paths.append(str(p))
    return paths


def test_eval_writes_metrics_and_confusion(tiny_run, tmp_path):
    rc, out = _run(["eval", "--checkpoint", str(tiny_run), "--out", str(tmp_path / "ev")])
    assert rc == 0 and "accuracy" in out
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    cm = torch.tensor(m["confusion_normalised"])
    assert cm.shape == (7, 7)
    assert torch.allclose(cm.sum(1)[cm.sum(1) > 0], torch.ones(1, dtype=cm.dtype))
    assert (tmp_path / "ev" / "confusion.png").stat().st_size > 0


def test_recognize_table_json_csv(tiny_run, face_files):
    rc, out = _run(["recognize", "--checkpoint", str(tiny_run), *face_files, "--json"])
    rows = json.loads(out)
    assert rc == 0 and [r["image"] for r in rows] == face_files
    for r in rows:
        p = [r[c] for c in ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")]
        assert abs(sum(p) - 1) < 1e-4 and r["expression"] in r
    rc, out = _run(["recognize", "--checkpoint", str(tiny_run), *face_files, "--csv"])
    assert rc == 0 and len(list(csv.DictReader(io.StringIO(out)))) == len(face_files)
    rc, out = _run(["recognize", "--checkpoint", str(tiny_run), face_files[0]])
    assert rc == 0 and "neutral" in out.splitlines()[0]


def test_transfer_single_and_grid(tiny_run, face_files, tmp_path):
    from PIL import Image

    out = tmp_path / "one.png"
    rc, _ = _run(["transfer", "--checkpoint", str(tiny_run), "--face", face_files[0],
                  "--expression", face_files[1], "-o", str(out)])
    assert rc == 0 and Image.open(out).size[0] > 0
    grid = tmp_path / "grid.png"
    rc, _ = _run(["transfer", "--checkpoint", str(tiny_run), "--face", *face_files[:2],
                  "--expression", *face_files[:3], "-o", str(grid)])
    assert rc == 0
    w, h = Image.open(grid).size
    one = Image.open(out).size[0]
    assert w > 3 * one and h > 2 * one  # (2+1) rows x (3+1) columns of cells


def test_unreadable_image_is_named_in_the_error(tiny_run, face_files, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rc = main(["recognize", "--checkpoint", str(tiny_run), face_files[0], str(bad)])
    assert rc == 1
    assert "broken.jpg" in capsys.readouterr().err


def test_corrupt_image_in_a_dataset_directory_is_named(tiny_run, tmp_path, capsys):
    from genfer.data.labels import RAFDB

    root = tmp_path / "raf" / "basic"
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    lines = []
    for i in range(1, 3):
        name = f"test_{i:04d}"
        save_image(torch.zeros(3, 16, 16, dtype=torch.uint8), root / "Image" / "aligned" / f"{name}_aligned.jpg")
        lines.append(f"{name}.jpg {RAFDB.from_canonical(1)}")
    (root / "Image" / "aligned" / "test_0002_aligned.jpg").write_bytes(b"garbage")
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    rc = main(["eval", "--checkpoint", str(tiny_run), "--data", f"rafdb:{root}", "--out", str(tmp_path / "e")])
    assert rc == 1
    assert "test_0002_aligned.jpg" in capsys.readouterr().err


@pytest.fixture(scope="module")
def au_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    rc, text = _run(["train", "au_cyclegan", *TINY, "--out", str(out), "--name", "au", "train.max_steps=1"])
    assert rc == 0 and "run directory" in text
    return out / "au"


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    return err.strip()


def test_eval_recognize_and_transfer_on_an_editor_name_what_it_can_do(au_run, face_files, tmp_path, capsys):
    can = "it can: edit, estimate_aus, reconstruct"
    assert main(["eval", "--checkpoint", str(au_run), "--out", str(tmp_path / "ev")]) == 1
    err = _one_line_error(capsys)
    assert f"{au_run} is an au_cyclegan checkpoint; {can}; it cannot classify (genfer eval needs a classifier)" in err
    assert not (tmp_path / "ev").exists()
    assert main(["recognize", "--checkpoint", str(au_run), face_files[0]]) == 1
    assert f"{can}; it cannot classify (genfer recognize" in _one_line_error(capsys)
    assert main(["transfer", "--checkpoint", str(au_run), "--face", face_files[0], "--expression", face_files[1],
                 "-o", str(tmp_path / "t.png")]) == 1
    assert f"{can}; it cannot transfer (genfer transfer" in _one_line_error(capsys)


def test_edit_on_a_recogniser_names_what_it_can_do(tiny_run, face_files, tmp_path, capsys):
    out = tmp_path / "e.png"
    assert main(["edit", "--checkpoint", str(tiny_run), face_files[0], "--aus", "AU12=3", "-o", str(out)]) == 1
    err = _one_line_error(capsys)
    assert err.startswith("genfer edit: error: ")
    assert (f"{tiny_run} is a tdgan checkpoint; it can: classify, transfer, reconstruct; "
            "it cannot edit (genfer edit needs an AU editor)") in err
    assert not out.exists()


def test_ls_lists_each_method_with_its_capabilities():
    rc, out = _run(["ls", "methods"])
    assert rc == 0
    assert "  tdgan: classify, transfer, reconstruct" in out.splitlines()
    assert "  au_cyclegan: edit, estimate_aus, reconstruct" in out.splitlines()


def test_eval_and_recognize_use_the_methods_own_classes(tmp_path, face_files):
    # an 8-class TDGAN (contempt as well): no 7-class list anywhere between the method and the output
    rc, _ = _run(["train", "tdgan", *TINY, "--out", str(tmp_path), "--name", "k8", "train.max_steps=1",
                  "model.num_classes=8"])
    assert rc == 0
    run = tmp_path / "k8"
    rc, _ = _run(["eval", "--checkpoint", str(run), "--out", str(tmp_path / "ev")])
    assert rc == 0
    cm = json.loads((tmp_path / "ev" / "confusion.json").read_text())
    assert cm["class_names"][-1] == "contempt" and torch.tensor(cm["confusion"]).shape == (8, 8)
    rc, out = _run(["recognize", "--checkpoint", str(run), face_files[0], "--json"])
    row = json.loads(out)[0]
    assert rc == 0 and "contempt" in row
    assert sum(row[c] for c in ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger",
                                "contempt")) == pytest.approx(1, abs=1e-4)
