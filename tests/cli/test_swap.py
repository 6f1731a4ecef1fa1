"""``genfer swap`` and ``genfer eval`` on a tiny JESRL run; bad --swap-list values are clear errors."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
import torch
from PIL import Image

from genfer.cli.main import main
from genfer.core.imaging import save_image

TINY = ["--config", "tiny", "train.device=cpu", "train.progress=false", "train.tensorboard=false"]


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


@pytest.fixture(scope="module")
def jesrl_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    rc, text = _run(["train", "jesrl", *TINY, "--out", str(out), "--name", "j"])
    assert rc == 0 and "run directory" in text
    return out / "j"


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    from genfer.data.synthface import SynthFace

    d = tmp_path_factory.mktemp("faces")
    ds = SynthFace(2, 2, size=32, channels=3, seed=3)
    paths = []
    for i in (0, 3):
        p = d / f"f{i}.png"
        save_image(ds.images[i], p)
        paths.append(str(p))
    return paths


def test_swap_writes_the_six_image_row(jesrl_run, two_faces, tmp_path):
    out = tmp_path / "swap.png"
    rc, text = _run(["swap", "--checkpoint", str(jesrl_run), "--input", two_faces[0], "--target", two_faces[1],
                     "-o", str(out), "--swap-list", "1", "happiness", "--aligned"])
    assert rc == 0 and "input: happiness, target: happiness" in text
    w, h = Image.open(out).size
    assert w > 5 * h  # six 32-px tiles in a row


def test_swap_without_a_list_uses_the_recogniser(jesrl_run, two_faces, tmp_path):
    rc, text = _run(["swap", "--checkpoint", str(jesrl_run), "--input", two_faces[0], "--target", two_faces[1],
                     "-o", str(tmp_path / "s.png"), "--aligned"])
    assert rc == 0 and "input: " in text


@pytest.mark.parametrize(("values", "message"), [
    (["smile", "0"], "unknown expression 'smile'"),
    (["0", "9"], "expression id 9 outside 0..6"),
])
def test_bad_swap_list_is_a_clear_error(jesrl_run, two_faces, tmp_path, capsys, values, message):
    rc = main(["swap", "--checkpoint", str(jesrl_run), "--input", two_faces[0], "--target", two_faces[1],
               "-o", str(tmp_path / "x.png"), "--swap-list", *values, "--aligned"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_eval_of_a_jesrl_run_uses_the_test_split_and_its_classes(jesrl_run, tmp_path):
    rc, _ = _run(["eval", "--checkpoint", str(jesrl_run), "--out", str(tmp_path / "ev")])
    assert rc == 0
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["split"] == "test" and m["class_names"][0] == "neutral" and len(m["class_names"]) == 7
    cm = torch.tensor(m["confusion_normalised"])
    assert torch.allclose(cm.sum(1)[cm.sum(1) > 0], torch.ones(1, dtype=cm.dtype))
    assert (tmp_path / "ev" / "confusion.png").stat().st_size > 0
