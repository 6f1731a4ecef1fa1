"""The one Registry type: lazy plug-ins from several modules, lookups, and the names that must agree."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from genfer.core.registry import CROP_PRESETS, EMBEDDERS, METHODS, WEIGHT_PACKAGES, Registry

SRC = Path(__file__).resolve().parents[2] / "src"


def test_plugins_from_several_modules_load_on_the_first_lookup(tmp_path, monkeypatch):
    r: Registry = Registry("thing", plugins=("plug_low", "plug_high:register"))
    monkeypatch.setitem(sys.modules, "plug_holder", types.SimpleNamespace(R=r))
    (tmp_path / "plug_low.py").write_text("import plug_holder\nplug_holder.R.add('low', 1)\n")
    (tmp_path / "plug_high.py").write_text(
        "import plug_holder\n\ndef register():\n    plug_holder.R.add('high', 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("plug_low", "plug_high"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert "plug_low" not in sys.modules  # nothing imported at construction
    assert r["high"] == 2 and r.get("low") == 1
    assert r.items() == [("high", 2), ("low", 1)] and list(r) == ["high", "low"] and len(r) == 2


def test_lookups_default_and_errors():
    r: Registry = Registry("thing")
    r.add("a", 1)
    assert r.get("b", None) is None and r.get("b", 0) == 0 and r.get("a", None) == 1
    with pytest.raises(KeyError, match="unknown thing 'b'; known: a"):
        r["b"]
    with pytest.raises(ValueError, match="already registered"):
        r.add("a", 2)


def test_a_failed_plugin_import_is_retried():
    r: Registry = Registry("thing", plugins="genfer_no_such_module")
    for _ in range(2):
        with pytest.raises(ModuleNotFoundError):
            r.names()


def test_low_layers_see_every_plugin_without_importing_it_themselves():
    """A fresh interpreter that imports only genfer.core.registry finds embedders registered by the
    metrics, models and apps layers, the crop presets of data and the methods."""
    code = (
        "import sys\n"
        "from genfer.core.registry import CROP_PRESETS, EMBEDDERS, METHODS\n"
        "assert 'genfer.apps.embedders' not in sys.modules\n"
        "print(','.join(EMBEDDERS.names()), ','.join(CROP_PRESETS.names()), ','.join(METHODS.names()))\n"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    embedders, presets, methods = (set(part.split(",")) for part in out.stdout.split())
    assert embedders == {"openface_au", "face_api", "dlib", "ir_se50", "fer", "faceapi_expression", "recogniser"}
    assert {"tdgan", "au_cyclegan", "cdan", "jesrl", "asit"} <= presets
    assert {"tdgan", "au_cyclegan"} <= methods


def test_names_agree_every_method_has_its_crop_preset():
    for name in METHODS.names():
        assert CROP_PRESETS[name].name == name


def test_weight_packages_are_registered_with_digests():
    assert {"mtcnn", "faceapi", "fer", "dlib"} <= set(WEIGHT_PACKAGES.names())
    for _, spec in WEIGHT_PACKAGES.items():
        assert all(len(f.sha256) == 64 for f in spec.files)
    assert "recogniser" in EMBEDDERS
