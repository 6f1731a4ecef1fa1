"""Fixtures for the fault tests: tiny runs, face images, an output path that cannot be created.

Tests run as root here, where permission bits do not stop a write, so "unwritable" is a path
under a regular file (``blocker.txt/out``): no user can create it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parent))
from fault_helpers import TINY, run_cli
from photo_fakes import TwoFaceDetector

from genfer.core.imaging import save_image


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A path nobody can create: its parent is a regular file."""
    blocker = tmp_path / "blocker.txt"
    blocker.write_text("a file, not a folder")
    return blocker / "out"


@pytest.fixture(scope="session")
def tdgan_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    rc, _ = run_cli(["train", "tdgan", *TINY, "--out", str(out), "--name", "td", "train.max_steps=1"])
    assert rc == 0
    return out / "td"


@pytest.fixture(scope="session")
def au_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    rc, _ = run_cli(["train", "au_cyclegan", *TINY, "--out", str(out), "--name", "au", "train.max_steps=1"])
    assert rc == 0
    return out / "au"


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """A 32x32 face crop, a 10x10 crop, a flat 60x90 photo (no face) and a 60x90 photo with faces."""
    from photo_fakes import two_tone

    from genfer.data.synthface import SynthFace

    d = tmp_path_factory.mktemp("images")
    ds = SynthFace(2, 7, size=32, channels=3, seed=3)
    paths = {"crop": d / "crop.png", "tiny": d / "tiny.png", "nobody": d / "nobody.png", "group": d / "group.png"}
    save_image(ds.images[0], paths["crop"])
    save_image(ds.images[1][:, :10, :10], paths["tiny"])
    save_image(torch.full((3, 60, 90), 7, dtype=torch.uint8), paths["nobody"])
    save_image(two_tone(), paths["group"])
    return paths


@pytest.fixture
def fake_detector(monkeypatch) -> list[TwoFaceDetector]:
    """``load_detector`` swapped for the weightless two-face detector; the list holds those built."""
    import genfer.apps.photos

    built: list[TwoFaceDetector] = []

    def load_detector(name="mtcnn", device="cpu", min_face_size=40.0, fast=False):
        built.append(TwoFaceDetector())
        return built[-1]

    monkeypatch.setattr(genfer.apps.photos, "load_detector", load_detector)
    return built
