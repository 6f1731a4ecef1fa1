"""Run configuration: dataclasses as the schema, YAML presets, dotted command-line overrides.

A run is described by one ``RunConfig``: the method's own dataclass (paper defaults) under
``model``, plus ``data``, ``optim`` and ``train``. Presets live as YAML files in
``genfer/configs/<method>/<preset>.yaml`` (``configs/`` at the repository root points there) and
only list what differs from the defaults. Overrides are ``section.field=value`` strings whose
value is parsed as YAML and checked against the field's type. The resolved config is written to
every run directory and checkpoint, and loading it back gives an equal object.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genfer.core.errors import UsageError

CONFIG_DIR = Path(__file__).parent.parent / "configs"


class ConfigError(UsageError, ValueError):
    """A config value outside its accepted range: ``"data.batch_size=-4: out of range; use ..."``."""


class ConfigTypeError(ConfigError, TypeError):
    """A config value of the wrong type (``data.batch_size=abc``)."""


def _show(value: Any) -> str:
    return value if isinstance(value, str) and value else repr(value)


def check_range(where: str, value: Any, ok: bool, accepted: str) -> None:
    """Raise :class:`ConfigError` naming the field, the value and the accepted range unless ``ok``."""
    if not ok:
        raise ConfigError("out of range", path=f"{where}={_show(value)}", fix=f"use {accepted}")


def _at_least(section: Any, where: str, low: int | float, *names: str) -> None:
    for n in names:
        v = getattr(section, n)
        check_range(f"{where}.{n}", v, _finite(v) and v >= low,
                    f"an integer >= {low}" if isinstance(v, int) else f"a number >= {low}")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


@dataclass
class MethodConfig:
    """What every method's config holds besides its own hyper-parameters (methods extend it).

    Args:
        image_size: square input side in pixels.
        channels: image channels (1 = grey, 3 = RGB).
        crop: name of the face-crop preset the method's images follow ("" = none).
        init_from: start a fresh run from these weights: a run directory (its best checkpoint,
            else the latest), a checkpoint directory or a ``.safetensors`` file; "" = none. Keys
            whose shapes differ are skipped; the engine logs what was loaded, skipped and missed.
        init_keys: glob patterns of the state-dict keys ``init_from`` may load (empty = all),
            e.g. ``["enc_ER.*"]``.
    """

    image_size: int = 64
    channels: int = 3
    crop: str = ""
    init_from: str = ""
    init_keys: list[str] = field(default_factory=list)


@dataclass
class DataConfig:
    """Where training and evaluation images come from.

    Args:
        expressions: expression-labelled data, ``synthface`` or ``READER:PATH`` (e.g.
            ``rafdb:/data/RAF-DB/basic``).
        faces: identity-labelled data for methods that need it (TDGAN's face branch),
            ``synthface`` or ``READER:PATH`` (e.g. ``casia:/data/CASIA-WebFace``).
        batch_size: images (or pairs) per optimisation step, summed over all ranks.
        max_identities: keep only the first N face identities (TDGAN uses 20 CASIA ids); with
            SynthFace these are the rendered face identities.
        synth_identities: SynthFace identities of the expression training set (disjoint from the
            face identities, as RAF-DB's people are not CASIA's).
        synth_per_identity: SynthFace training images per identity.
        synth_test_identities: held-out SynthFace identities of the expression test set.
        synth_test_per_identity: SynthFace test images per held-out identity.
        synth_seed: seed of the SynthFace parameter draw (independent of ``train.seed``).
        synth_au_draw: how SynthFace draws each image's AUs: ``prototype`` (from its expression's
            FACS prototype) or ``mixed`` (every second image with independent sparse AUs, for AU
            models that must tell each AU apart; see ``genfer.data.synthface.dataset.AU_DRAWS``).
        augment: the paper's training transform on expression images: resize to 9/8 of the size,
            random crop back to the size, random horizontal flip.
    """

    expressions: str = "synthface"
    faces: str = "synthface"
    batch_size: int = 32
    max_identities: int = 20
    synth_identities: int = 20
    synth_per_identity: int = 200
    synth_test_identities: int = 10
    synth_test_per_identity: int = 50
    synth_seed: int = 0
    synth_au_draw: str = "prototype"
    augment: bool = True

    def __post_init__(self) -> None:
        _at_least(self, "data", 1, "batch_size", "max_identities", "synth_identities", "synth_per_identity",
                  "synth_test_identities", "synth_test_per_identity")
        for n in ("expressions", "faces"):
            check_range(f"data.{n}", getattr(self, n), bool(getattr(self, n)), "synthface or READER:PATH")
        check_range("data.synth_au_draw", self.synth_au_draw, self.synth_au_draw in ("prototype", "mixed"),
                    "prototype or mixed")


@dataclass
class OptimConfig:
    """Optimizer settings shared by every network group (a method's stage may override some).

    Args:
        optimizer: a name in ``genfer.engine.optim.OPTIMIZERS``: ``adam`` (the papers'), ``adamw``,
            ``sgd``.
        lr: learning rate.
        betas: Adam/AdamW (beta1, beta2).
        momentum: SGD momentum.
        nesterov: SGD with Nesterov momentum.
        weight_decay: weight decay (L2 for Adam and SGD, decoupled for AdamW).
        group_lr: per network-group learning rates, e.g. ``{"D_FR": 4e-4}``.
        schedule: learning-rate multiplier over the run: ``constant`` (the papers' setting),
            ``cosine`` or ``linear`` decay from 1 to ``final_lr_ratio`` after ``warmup_steps``, or
            ``steplr``: times ``gamma`` every ``step_size`` iterations (torch's StepLR).
        warmup_steps: iterations of linear warm-up from 0 (0 = none).
        final_lr_ratio: the multiplier reached at the last iteration for ``cosine``/``linear``.
        step_size: iterations between two ``steplr`` decays.
        gamma: the ``steplr`` schedule's factor.
    """

    optimizer: str = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    group_lr: dict[str, float] = field(default_factory=dict)
    schedule: str = "constant"
    warmup_steps: int = 0
    final_lr_ratio: float = 0.0
    step_size: int = 0
    gamma: float = 1.0

    def __post_init__(self) -> None:
        check_range("optim.lr", self.lr, _finite(self.lr) and self.lr > 0, "a number > 0, e.g. 1e-4")
        for g, lr in self.group_lr.items():
            check_range(f"optim.group_lr.{g}", lr, _finite(lr) and lr > 0, "a number > 0")
        for i, b in enumerate(self.betas):
            check_range(f"optim.betas[{i}]", b, _finite(b) and 0 <= b < 1, "a number in [0, 1)")
        _at_least(self, "optim", 0, "momentum", "weight_decay", "warmup_steps")
        check_range("optim.final_lr_ratio", self.final_lr_ratio, _finite(self.final_lr_ratio)
                    and 0 <= self.final_lr_ratio <= 1, "a number in [0, 1]")


@dataclass
class TrainConfig:
    """The training loop.

    Args:
        epochs: passes over the training set (ignored when ``max_steps`` > 0).
        max_steps: stop after this many iterations (0 = use ``epochs``).
        max_minutes: also stop when this much wall-clock training time has passed (0 = no limit);
            the iteration that crosses it ends the run (final evaluation, checkpoint, samples).
            The number of iterations then depends on the machine's speed.
        seed: seeds parameters, data order, noise and augmentation.
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        threads: CPU threads for intra-op parallelism (0 = leave torch's default).
        keep_freed_memory: on CPU training, have glibc keep freed memory for reuse instead of
            returning it to the kernel (10-25% faster iterations, a little more peak memory; a
            process-wide setting, :mod:`genfer.engine.allocator`).
        log_every: iterations between log lines (JSONL, TensorBoard, progress bar).
        sample_every: iterations between sample grids (0 = only at the end).
        eval_every: iterations between evaluations (0 = once per epoch).
        ckpt_every: iterations between checkpoints of the latest state (0 = at evaluations).
        max_nonfinite: consecutive non-finite losses after which the run stops.
        out: parent directory of run directories.
        name: run directory name (default: ``<method>-<timestamp>``).
        tensorboard: also write TensorBoard event files when tensorboard is installed.
        progress: show a progress bar.
        precision: ``fp32``; ``bf16`` or ``fp16`` autocast of the forward passes (fp16 adds a
            gradient scaler); ``auto``: bf16 on CUDA devices that support it and on CPUs with AMX,
            else fp32. The resolved choice is logged and kept in the training state.
        compile: ``torch.compile`` the method's networks (falls back to eager, with a one-line
            message, when compiling fails).
        ema: decay of an exponential moving average of the networks the method names in
            ``ema_modules()`` (0 = off; e.g. 0.999). The averaged weights are used for sample
            grids, evaluation and inference, and stored in checkpoints (``ema.safetensors``).
        ema_start: iterations before the average starts; until then it copies the weights.
        accumulate: split each step's batch into this many micro-batches whose gradients are
            summed before one optimizer step (same result as the whole batch, less memory).
        clip_grad_norm: clip each phase's gradient norm to this value before its step (0 = off).
    """

    epochs: int = 100
    max_steps: int = 0
    max_minutes: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    keep_freed_memory: bool = True
    log_every: int = 10
    sample_every: int = 0
    eval_every: int = 0
    ckpt_every: int = 0
    max_nonfinite: int = 20
    out: str = "runs"
    name: str = ""
    tensorboard: bool = True
    progress: bool = True
    precision: str = "fp32"
    compile: bool = False
    ema: float = 0.0
    ema_start: int = 0
    accumulate: int = 1
    clip_grad_norm: float = 0.0

    def __post_init__(self) -> None:
        _at_least(self, "train", 1, "epochs", "log_every", "max_nonfinite", "accumulate")
        _at_least(self, "train", 0, "max_steps", "max_minutes", "threads", "sample_every", "eval_every",
                  "ckpt_every", "ema_start", "clip_grad_norm")
        check_range("train.ema", self.ema, _finite(self.ema) and 0 <= self.ema < 1, "a number in [0, 1), e.g. 0.999")
        check_range("train.precision", self.precision, self.precision in PRECISIONS, " or ".join(PRECISIONS))
        check_range("train.device", self.device, bool(self.device), "auto, cpu, cuda, cuda:N or mps")


PRECISIONS = ("fp32", "bf16", "fp16", "auto")


@dataclass
class RunConfig:
    """Everything a run needs: ``genfer train`` builds it, the engine consumes it."""

    method: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        method = d["method"]
        model_cls = method_config_class(method)
        return RunConfig(
            method=method,
            model=_build(model_cls, d.get("model", {}), "model"),
            data=_build(DataConfig, d.get("data", {}), "data"),
            optim=_build(OptimConfig, d.get("optim", {}), "optim"),
            train=_build(TrainConfig, d.get("train", {}), "train"),
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        try:
            d = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(d, dict) or "method" not in d:
            raise ValueError(f"{path}: not a genfer run config (no 'method' key)")
        return cls.from_dict(d)


def method_config_class(method: str) -> type:
    """The registered config dataclass of a method (imports the method packages on first use)."""
    from genfer.core.registry import METHODS

    return METHODS.get(method).Config


def presets(method: str) -> list[str]:
    """Names of the YAML presets shipped for a method."""
    return sorted(p.stem for p in (CONFIG_DIR / method).glob("*.yaml"))


def make_config(
    method: str, preset: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> RunConfig:
    """Defaults of ``method``, then a preset (name or YAML path), then dotted overrides.

    Args:
        method: registered method name.
        preset: a preset name shipped with genfer (``tiny``, ``demo``...) or a YAML file path;
            ``None`` keeps the paper's defaults.
        overrides: ``section.field=value`` strings, e.g. ``data.batch_size=16``.
    """
    d: dict[str, Any] = {"method": method, "model": dataclasses.asdict(method_config_class(method)())}
    d = _to_plain(RunConfig.from_dict(d))
    if preset is not None:
        path = Path(preset)
        if not path.suffix:
            path = CONFIG_DIR / method / f"{preset}.yaml"
            if not path.exists():
                raise KeyError(f"no preset {preset!r} for {method}; known: {', '.join(presets(method))}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read preset: {e}") from None
        if loaded.get("method", method) != method:
            raise ValueError(f"{path} is a {loaded['method']} config, not {method}")
        loaded.pop("method", None)
        for section, values in loaded.items():
            if section not in d or not isinstance(values, dict):
                raise KeyError(f"{path}: unknown section {section!r}; known: model, data, optim, train")
            for k, v in values.items():
                if k not in d[section]:
                    raise KeyError(f"{path}: {section} has no field {k!r}; known: {', '.join(d[section])}")
                d[section][k] = v
    apply_overrides(d, overrides)
    return RunConfig.from_dict(d)


def apply_overrides(d: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> list[str]:
    """Set ``section.field=value`` strings (values parsed as YAML) in the plain config dict ``d``.

    Returns:
        The dotted keys set, in order.
    """
    keys = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form section.field=value")
        *parents, leaf = key.strip().split(".")
        node = d
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise KeyError(f"override {item!r}: no section {p!r}")
            node = node[p]
        if leaf not in node:
            raise KeyError(f"override {item!r}: no field {leaf!r}; known: {', '.join(node)}")
        node[leaf] = yaml.safe_load(value) if value.strip() else ""
        keys.append(key.strip())
    return keys


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigTypeError("expected a mapping", path=f"{where}={_show(values)}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against a field type, converting only where it is lossless."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except (TypeError, ValueError):
                continue
        raise ConfigTypeError(f"expected {_type_name(tp)}", path=f"{where}={_show(value)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigTypeError("expected a list", path=f"{where}={_show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"expected {len(args)} values, got {len(value)}", path=f"{where}={_show(value)}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigTypeError("expected a list", path=f"{where}={_show(value)}")
        return [_coerce(v, args[0], where) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigTypeError("expected a mapping", path=f"{where}={_show(value)}")
        return {k: _coerce(v, args[1], where) for k, v in value.items()} if args else dict(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigTypeError("expected a number", path=f"{where}={_show(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigTypeError("expected an integer", path=f"{where}={_show(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigTypeError("expected true or false", path=f"{where}={_show(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigTypeError("expected a string", path=f"{where}={_show(value)}")
        return value
    return value


def _type_name(tp: Any) -> str:
    return " or ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(tp) or (tp,))
