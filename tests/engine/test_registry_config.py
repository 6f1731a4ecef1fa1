from __future__ import annotations

import dataclasses

import pytest

from genfer.core.config import RunConfig, make_config, presets
from genfer.core.registry import METHODS, Registry
from genfer.models import load_all

load_all()


def test_registry_rejects_duplicates_and_lists_known_names():
    r: Registry = Registry("thing")
    r.register("a")(object)
    with pytest.raises(ValueError, match="already registered"):
        r.register("a")(object)
    with pytest.raises(KeyError, match="known: a"):
        r.get("b")
    with pytest.raises(ValueError):
        r.register("Upper")(object)


@pytest.mark.parametrize("method", METHODS.names())
def test_defaults_are_the_method_config_defaults(method):
    cfg = make_config(method)
    assert cfg.model == METHODS.get(method).Config()


@pytest.mark.parametrize("method", METHODS.names())
def test_every_method_ships_tiny_and_presets_load(method):
    assert "tiny" in presets(method)
    for name in presets(method):
        cfg = make_config(method, name)
        assert cfg.method == method


def test_overrides_are_typed_and_checked():
    cfg = make_config("tdgan", None, ["data.batch_size=16", "optim.lr=2e-4", "optim.betas=[0.5, 0.99]"])
    assert cfg.data.batch_size == 16 and cfg.optim.lr == 2e-4 and cfg.optim.betas == (0.5, 0.99)
    with pytest.raises(KeyError, match="no field 'batchsize'"):
        make_config("tdgan", None, ["data.batchsize=16"])
    with pytest.raises(TypeError, match="data.batch_size"):
        make_config("tdgan", None, ["data.batch_size=big"])
    with pytest.raises(ValueError, match="section.field=value"):
        make_config("tdgan", None, ["data.batch_size"])
    with pytest.raises(KeyError, match="no preset"):
        make_config("tdgan", "nope")


def test_yaml_round_trip_is_exact(tmp_path):
    cfg = make_config("tdgan", "tiny", ["optim.group_lr={D_FR: 0.001}", "train.seed=7"])
    cfg.save(tmp_path / "c.yaml")
    back = RunConfig.load(tmp_path / "c.yaml")
    assert back == cfg
    assert dataclasses.asdict(back.model) == dataclasses.asdict(cfg.model)


def test_bad_config_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: tdgan\nmodel: [1, 2\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        RunConfig.load(bad)
    other = tmp_path / "other.yaml"
    other.write_text("data:\n  batchsize: 3\n")
    with pytest.raises(KeyError, match="batchsize"):
        make_config("tdgan", other)
