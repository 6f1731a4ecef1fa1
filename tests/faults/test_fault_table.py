"""Issue 14's fault table, CLI side: each row as a new user would hit it, and what genfer now does.

Every failure is one line on stderr naming the file and the fix, with exit status 1 (failed work)
or 2 (a wrong command line); output paths are checked before the work starts; results already
computed are not lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fault_helpers import one_line_error, run_cli

from genfer.cli.main import main
from genfer.core.errors import OutputError
from genfer.core.imaging import save_image
from genfer.core.paths import check_writable


# --- the writability check itself --------------------------------------------------------------------
def test_check_writable_refuses_what_is_in_the_way_and_creates_nothing(tmp_path, unwritable):
    with pytest.raises(OutputError, match="blocker.txt is a file, not a folder") as e:
        check_writable(unwritable / "deeper", folder=True, option="--out")
    assert "choose another --out" in str(e.value)
    with pytest.raises(OutputError, match="an output file was expected"):
        check_writable(tmp_path)
    with pytest.raises(OutputError, match="an output folder was expected"):
        check_writable(unwritable.parent, folder=True)
    fresh = tmp_path / "new" / "sub" / "out.png"
    assert check_writable(fresh) == fresh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker.txt"]  # no folder, no probe file left


def test_check_writable_reports_a_folder_that_refuses_files(tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what a read-only folder or mount answers
    with pytest.raises(OutputError, match="cannot write in .*Permission denied.*check its permissions"):
        check_writable(tmp_path / "runs", folder=True, option="--out")


# --- rows: output into an unwritable place --------------------------------------------------------------
def test_eval_out_unwritable_fails_before_any_inference(tdgan_run, unwritable, monkeypatch, capsys):
    import genfer.apps.evaluation as ev

    calls = []
    monkeypatch.setattr(ev, "predict_expressions", lambda *a, **k: calls.append(1))
    assert main(["eval", "--checkpoint", str(tdgan_run), "--out", str(unwritable)]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{unwritable}: cannot be created" in line and "choose another --out" in line
    assert calls == []


def test_eval_hands_back_its_figures_when_writing_still_fails(tdgan_run, tmp_path, monkeypatch, capsys):
    import genfer.apps.evaluation as ev

    out = tmp_path / "ev"
    monkeypatch.setattr(ev, "check_writable", lambda p, **k: Path(p))  # the folder breaks after the check
    (tmp_path / "ev").write_text("now a file")
    rc, stdout = run_cli(["eval", "--checkpoint", str(tdgan_run), "--out", str(out)])
    assert rc == 1
    report = json.loads(stdout)
    assert report["num_samples"] > 0 and 0 <= report["accuracy"] <= 1
    assert "figures are printed above" in one_line_error(capsys.readouterr().err)


def test_recognize_annotate_unwritable_fails_before_reading_photos(tdgan_run, images, unwritable, capsys):
    assert main(["recognize", "--checkpoint", str(tdgan_run), str(images["crop"]),
                 "--annotate", str(unwritable / "a.png")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "blocker.txt is a file" in line and "--annotate" in line


def test_recognize_keeps_the_faces_when_an_annotated_copy_cannot_be_written(
    tdgan_run, images, unwritable, monkeypatch, capsys
):
    import genfer.core.paths

    monkeypatch.setattr(genfer.core.paths, "check_writable", lambda p, **k: Path(p))
    rc, out = run_cli(["recognize", "--checkpoint", str(tdgan_run), str(images["crop"]), "--json",
                       "--annotate", str(unwritable / "a.png")])
    assert rc == 1  # a problem was reported ...
    rows = json.loads(out)  # ... but the face was classified and printed
    assert len(rows) == 1 and rows[0]["expression"] is not None
    assert "annotated copy not written" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "resume", "transfer", "edit"])
def test_outputs_into_an_unwritable_place_are_one_line_before_any_work(
    command, tdgan_run, au_run, images, unwritable, monkeypatch, capsys
):
    import genfer.engine.checkpoint
    import genfer.engine.trainer

    def no_work(*a, **k):
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(genfer.engine.trainer, "train", no_work)
    monkeypatch.setattr(genfer.engine.checkpoint, "load_method", no_work)
    argv = {
        "train": ["train", "tdgan", "--config", "tiny", "--out", str(unwritable)],
        "resume": ["train", "tdgan", "--resume", str(unwritable / "run")],
        "transfer": ["transfer", "-c", str(tdgan_run), "--face", str(images["crop"]),
                     "--expression", str(images["crop"]), "-o", str(unwritable / "t.png")],
        "edit": ["edit", "-c", str(au_run), str(images["crop"]), "--aus", "AU12=3", "-o", str(unwritable / "e.png")],
    }[command]
    assert main(argv) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith(f"genfer {argv[0]}: error: {unwritable}") and "blocker.txt is a file" in line


def test_a_permission_error_from_the_work_is_one_line_naming_the_file(tdgan_run, images, tmp_path, monkeypatch,
                                                                      capsys):
    import genfer.core.imaging

    def denied(image, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(genfer.core.imaging, "save_image", denied)
    out = tmp_path / "t.png"
    assert main(["transfer", "-c", str(tdgan_run), "--face", str(images["crop"]), "--expression",
                 str(images["crop"]), "-o", str(out)]) == 1
    assert f"{out}: Permission denied; check its permissions" in one_line_error(capsys.readouterr().err)


def test_eval_on_an_au_cyclegan_run_is_a_capability_error(au_run, tmp_path, capsys):
    # also covered, with recognize and transfer, in tests/cli/test_cli.py
    assert main(["eval", "--checkpoint", str(au_run), "--out", str(tmp_path / "ev")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "it can: edit, estimate_aus, reconstruct; it cannot classify (genfer eval needs a classifier)" in line
    assert not (tmp_path / "ev").exists()


# --- rows: metrics ---------------------------------------------------------------------------------------
def _pair_folders(tmp_path: Path, size_b: int = 16) -> tuple[Path, Path]:
    a, b = tmp_path / "pred", tmp_path / "gt"
    g = torch.Generator().manual_seed(0)
    for i in range(2):
        save_image(torch.randint(0, 256, (3, 16, 16), generator=g, dtype=torch.uint8), a / f"{i}.png")
        save_image(torch.randint(0, 256, (3, size_b, size_b), generator=g, dtype=torch.uint8), b / f"{i}.png")
    return a, b


def test_metrics_names_a_truncated_image(tmp_path, capsys):
    a, b = _pair_folders(tmp_path)
    data = (b / "1.png").read_bytes()
    (b / "1.png").write_bytes(data[: len(data) // 2])
    assert main(["metrics", "psnr", str(a), str(b), "--quiet"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{b / '1.png'}: truncated or corrupt image data" in line


def test_metrics_size_mismatch_names_the_folders_and_the_fix(tmp_path, capsys):
    a, b = _pair_folders(tmp_path, size_b=20)
    assert main(["metrics", "psnr", str(a), str(b), "--quiet"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert str(a / "0.png") in line and "PRED_DIR" in line and str(b / "0.png") in line and "GT_DIR" in line
    assert "16x16" in line and "20x20" in line and "pass --size N" in line
    rc, out = run_cli(["metrics", "psnr", str(a), str(b), "--quiet", "--size", "16"])
    assert rc == 0 and json.loads(out)["num_pairs"] == 2


def test_metrics_out_unwritable_fails_before_the_work(tmp_path, unwritable, monkeypatch, capsys):
    import genfer.metrics.folder_metrics as fm

    monkeypatch.setattr(fm, "paired", lambda *a, **k: pytest.fail("computed before checking --out"))
    a, b = _pair_folders(tmp_path)
    assert main(["metrics", "psnr", str(a), str(b), "--quiet", "--out", str(unwritable / "m.json")]) == 1
    assert "--out" in one_line_error(capsys.readouterr().err)


# --- rows: data ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout, why", [
    ({"happy/a": b"", "happy/b.txt": b""}, "hold 2 files (2 of them empty, 0 bytes) but none is an image"),
    ({"happy/": None}, "the class folders (happy) hold no files"),
])
def test_folder_without_usable_items_says_why(tmp_path, capsys, layout, why):
    root = tmp_path / "faces"
    for name, data in layout.items():
        p = root / name
        if data is None:
            p.mkdir(parents=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    assert main(["train", "tdgan", "--config", "tiny", "--data", f"folder:{root}", "--out",
                 str(tmp_path / "runs"), "train.device=cpu", "train.progress=false"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{root}: folder: no usable items for split 'train'" in line and why in line


def test_folder_of_unlabelled_images_says_what_the_method_needs(tmp_path, capsys):
    # loose images index as unlabelled faces; TDGAN's expression set needs labelled ones
    root = tmp_path / "faces"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"")
    assert main(["train", "tdgan", "--config", "tiny", "--data", f"folder:{root}", "--out",
                 str(tmp_path / "runs"), "train.device=cpu", "train.progress=false"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "1 indexed, none kept" in line and "needs items labelled with one of the 7 basic expressions" in line


def test_folder_of_empty_image_files_names_the_file(tmp_path, capsys):
    (tmp_path / "faces" / "happy").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):  # without a test/ split, a.jpg is held out and b.jpg trains
        (tmp_path / "faces" / "happy" / name).write_bytes(b"")
    assert main(["train", "tdgan", "--config", "tiny", "--data", f"folder:{tmp_path / 'faces'}", "--out",
                 str(tmp_path / "runs"), "train.device=cpu", "train.progress=false"]) == 1
    assert "b.jpg: empty file (0 bytes)" in one_line_error(capsys.readouterr().err)


# --- rows: face sanity on photos ---------------------------------------------------------------------------
def test_a_10x10_image_in_recognize_is_classified_with_a_warning(tdgan_run, images, capsys):
    rc, out = run_cli(["recognize", "--checkpoint", str(tdgan_run), str(images["tiny"]), "--json"])
    assert rc == 0 and json.loads(out)[0]["expression"] is not None
    lines = capsys.readouterr().err.splitlines()
    # one line on the crop; the run learnt from SynthFace renders only, so one more says so (not a refusal)
    assert len(lines) == 2 and all(ln.startswith("genfer recognize: warning: ") for ln in lines)
    assert lines[1].startswith(f"genfer recognize: warning: {images['tiny']}: a 10x10 face crop is small for the "
                               "model's 32x32")
    assert "trained on SynthFace renders only" in lines[0]


@pytest.mark.parametrize("command", ["transfer", "edit"])
def test_a_photo_without_a_face_is_a_named_error(command, tdgan_run, au_run, images, fake_detector, tmp_path,
                                                  capsys):
    out = tmp_path / "o.png"
    argv = (["transfer", "-c", str(tdgan_run), "--face", str(images["nobody"]), "--expression", str(images["crop"])]
            if command == "transfer" else ["edit", "-c", str(au_run), str(images["nobody"]), "--aus", "AU12=3"])
    assert main([*argv, "-o", str(out)]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{images['nobody']}: no face found in this 90x60 image" in line and "--aligned" in line
    assert len(fake_detector) == 1 and not out.exists()


@pytest.mark.parametrize("command", ["transfer", "edit"])
def test_a_non_square_photo_is_detected_and_aligned_not_stretched(
    command, tdgan_run, au_run, images, fake_detector, tmp_path, monkeypatch
):
    import genfer.apps.photos as photos

    seen = []
    real = photos.face_crops
    monkeypatch.setattr(photos, "face_crops", lambda img, dets, crop: seen.append(dets) or real(img, dets, crop))
    out = tmp_path / "o.png"
    argv = (["transfer", "-c", str(tdgan_run), "--face", str(images["group"]), "--expression", str(images["crop"])]
            if command == "transfer" else ["edit", "-c", str(au_run), str(images["group"]), "--aus", "AU12=3"])
    rc, _ = run_cli([*argv, "-o", str(out)])
    assert rc == 0 and out.is_file()
    assert fake_detector[0].calls == 1  # the photo was searched; the square crop was not
    assert seen[0] is not None and len(seen[0]) == 1  # one face (the largest), aligned by the crop rule
    # --aligned uses the photo whole, saying that it is stretched
    rc, _ = run_cli([*argv, "-o", str(out), "--aligned"])
    assert rc == 0 and seen[-1] is None and fake_detector[0].calls == 1


def test_without_detector_weights_the_error_says_how_to_get_them(tdgan_run, images, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path / "empty-cache"))
    assert main(["transfer", "-c", str(tdgan_run), "--face", str(images["group"]), "--expression",
                 str(images["crop"]), "-o", str(tmp_path / "o.png")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{images['group']}: is 90x60, not a 32x32 face crop" in line
    assert "genfer weights fetch mtcnn" in line and "pass --aligned" in line


def test_a_small_face_crop_in_transfer_gets_a_warning(tdgan_run, images, tmp_path, capsys):
    rc, _ = run_cli(["transfer", "-c", str(tdgan_run), "--face", str(images["tiny"]), "--expression",
                     str(images["crop"]), "-o", str(tmp_path / "o.png")])
    assert rc == 0
    assert "warning:" in capsys.readouterr().err


# --- the error path itself -------------------------------------------------------------------------------
def test_usage_errors_exit_2(au_run, images, tmp_path, capsys):
    assert main(["edit", "-c", str(au_run), str(images["crop"]), "-o", str(tmp_path / "e.png")]) == 2
    assert "no edit target; give --aus, --emotion or --au-grid" in one_line_error(capsys.readouterr().err)


def test_a_bug_keeps_its_traceback_and_debug_shows_expected_ones(tdgan_run, unwritable, monkeypatch, capsys):
    import genfer.cli.eval

    monkeypatch.setattr(genfer.cli.eval, "run", lambda args: None + 1)  # a TypeError: a bug
    from genfer.cli.main import build_parser

    monkeypatch.setattr("genfer.cli.main.build_parser", lambda: _rewired(build_parser(), genfer.cli.eval.run))
    assert main(["eval", "-c", str(tdgan_run)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "TypeError" in err and "this is a bug in genfer" in err
    monkeypatch.undo()
    assert main(["eval", "-c", str(tdgan_run), "--out", str(unwritable), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("genfer eval: error: ")


def _rewired(parser, func):
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["eval"].set_defaults(func=func)
    return parser


def test_no_message_suggests_weights_only_false():
    root = Path(__file__).parents[2]
    hits = [p for d in ("src", "docs") for p in (root / d).rglob("*") if p.is_file()
            and p.suffix in (".py", ".md") and "weights_only=False" in p.read_text(encoding="utf-8")]
    assert hits == []


class _NotATensor:
    """Pickled by reference to this module: a global that weights-only loading refuses."""


def test_an_unsafe_checkpoint_is_one_line_that_never_advises_unsafe_loading(tmp_path, images, monkeypatch, capsys):
    import genfer.engine.checkpoint

    bad = tmp_path / "training_state.pt"
    torch.save({"step": _NotATensor()}, bad)
    monkeypatch.setattr(genfer.engine.checkpoint, "load_method",
                        lambda *a, **k: torch.load(bad, weights_only=True))
    assert main(["transfer", "-c", str(tmp_path), "--face", str(images["crop"]), "--expression",
                 str(images["crop"]), "-o", str(tmp_path / "o.png")]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "was not loaded" in line and "_NotATensor" in line and "weights_only" not in line
