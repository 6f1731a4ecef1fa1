"""JESRL's stage hooks: what happens as each training stage begins (the engine calls ``before(method, ctx)``).

- ``perceptual`` and the first ``gan`` stage check the data's classes and load the initial weights;
- a ``gan`` stage after a recogniser stage restores the swap-pair batches;
- a ``recogniser`` stage adopts the generator's EMA weights (with ``train.ema``), synthesises its
  set (or reads it back on resume) and feeds real plus synthesised batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from genfer.core.errors import GenferError, UsageError
from genfer.data.batches import RecogniserBatches
from genfer.data.labels import BASIC7
from genfer.data.tensors import TensorSet
from genfer.models.layers.vgg import load_torchvision_vgg19_bn

if TYPE_CHECKING:
    from genfer.models.jesrl.method import JESRL


def check_classes(method: JESRL, ctx: Any) -> None:
    """The data's class list must be ``model.classes``; clear error otherwise."""
    spec = ctx.cfg.data.expressions
    if spec == "synthface":
        names = BASIC7
    else:
        from genfer.data.specs import open_dataset

        names = tuple(open_dataset(spec, split="train", channels=ctx.cfg.model.channels).class_names)
    want = tuple(method.classes)
    main = _gan_sets(method, ctx)["main"]
    top = int(main.expressions.max()) if len(main) else -1
    if names[: len(want)] != want or top >= len(want):
        raise UsageError(
            f"the classes of {spec} ({', '.join(names)}) do not match model.classes ({', '.join(want)})",
            path=spec, fix=f"set model.classes to [{', '.join(names)}] (and model.neutral), or choose other data")


def _gan_sets(method: JESRL, ctx: Any) -> dict[str, TensorSet]:
    batches = method._gan_batches if method._gan_batches is not None else ctx.batches
    return batches.sets


def _init_weights(method: JESRL, ctx: Any) -> None:
    """At step 0: ImageNet weights into the VGG trunks, and a given perceptual net."""
    if ctx.step != 0:
        return
    c = method.cfg
    if c.imagenet_weights:
        load_torchvision_vgg19_bn(method.P, c.imagenet_weights)
        load_torchvision_vgg19_bn(method.R, c.imagenet_weights)
    if c.perceptual_from:
        load_perceptual(method, c.perceptual_from)


def load_perceptual(method: JESRL, source: str | Path) -> None:
    """Copy the perceptual net ``P`` of another JESRL run (directory or ``model.safetensors``)."""
    from safetensors.torch import load_file

    path = Path(source).expanduser()
    if path.is_dir():
        latest = path / "checkpoints" / "latest"
        if latest.is_file():
            path = path / "checkpoints" / latest.read_text().strip()
        path = path / "model.safetensors"
    if not path.is_file():
        raise GenferError("no model.safetensors here", path=source,
                          fix="give a JESRL run directory or its model.safetensors")
    state = {k[2:]: v for k, v in load_file(str(path)).items() if k.startswith("P.")}
    if not state:
        raise GenferError("holds no perceptual net (keys P.*)", path=path)
    try:
        method.P.load_state_dict(state)
    except RuntimeError as e:
        raise GenferError(f"its perceptual net does not fit this config: {str(e).splitlines()[0]}", path=path) from None


def enter_perceptual(method: JESRL, ctx: Any) -> None:
    check_classes(method, ctx)
    _init_weights(method, ctx)


def enter_gan(method: JESRL, ctx: Any) -> None:
    if method._gan_batches is not None:  # back from a recogniser stage
        ctx.batches, method._gan_batches = method._gan_batches, None
    if ctx.stage.name == "gan_0":
        check_classes(method, ctx)
        _init_weights(method, ctx)


def enter_recogniser(method: JESRL, ctx: Any) -> None:
    if ctx.ema is not None:
        # the GAN round ends on its averaged generator: the synthesis, the recogniser's fx and the
        # next round all use it, so R never meets an encoder other than the one it is judged with
        ctx.ema.adopt()
    if method._gan_batches is None:
        method._gan_batches = ctx.batches
    real = method._gan_batches.sets["main"]
    out_dir = Path(ctx.run_dir) / "synth" / ctx.stage.name
    seed = ctx.cfg.train.seed * 1000 + int(ctx.stage.name.rsplit("_", 1)[1])
    got = method.load_synthesised(out_dir) if ctx.resumed else None
    synth, fx = got if got is not None else method.synthesise(real, out_dir, seed)
    c = method.cfg
    start = _stage_start(method, ctx.stage.name)
    round_ = int(ctx.stage.name.rsplit("_", 1)[1])
    ctx.batches = RecogniserBatches(real, synth, fx, c.rec_batch, c.image_size, ctx.cfg.train.seed, start,
                                    c.rec_epoch_steps, round_ * c.rec_epochs, c.curriculum)


def _stage_start(method: JESRL, name: str) -> int:
    start = 0
    for s in method.stages():
        if s.name == name:
            return start
        start += s.steps
    raise KeyError(name)


__all__ = ["check_classes", "enter_gan", "enter_perceptual", "enter_recogniser", "load_perceptual"]
