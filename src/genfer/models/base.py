"""The contract between a method and the training engine.

A method is an ``nn.Module`` that owns its networks and computes its losses. It never builds
optimizers, moves itself between devices, wraps DDP or writes files: the engine does all that.

One training iteration is a list of *phases* (``method.phases(step)``); each phase names the
network group whose optimizer it steps. The engine calls ``training_step(batch, phase, cache)`` for
each phase in order, backpropagates the returned loss into that group, and steps its optimizer.
A phase may also be ``GROUP:part`` (``"D:r1"``): a second update of ``GROUP`` in the same iteration
with its own loss (a lazily applied regulariser); ``phase_group`` maps it to its group.
``cache`` is a dict that lives for one iteration, so phases can share work (a generated image, an
encoder feature) instead of recomputing it; the engine starts it as ``{"step": step}`` (with
``train.accumulate`` > 1, one cache per micro-batch).

Beyond that minimum a method may declare:

- ``stages()``: named training stages run one after the other, each with its own network groups,
  optimizer, learning rate, schedule and length, and a ``before`` hook that runs when the stage
  begins (and again when a run resumes inside it). ``phases(step)`` stays the schedule within a
  stage: the engine passes the global step and runs the phases whose group the stage trains.
- ``frozen_modules()``: pretrained sub-networks that never train. Checkpoints do not store them;
  ``load_pretrained()`` fills them from their own weight files whenever the method is built for
  training or loaded from a checkpoint.
- ``ema_modules()``: networks whose exponential moving average the engine keeps when
  ``train.ema`` > 0; sample grids, evaluation and inference then see the averaged weights.
- ``lazy_intervals()``: groups whose regulariser runs as its own phase every N iterations; the
  engine corrects their optimizer as Karras et al. (2020, appendix B) do: learning rate x c and
  Adam's betas to the power c, with c = N / (N + 1).
- ``best_metric`` and ``best_mode``: the evaluation figure that keeps the best checkpoint, and
  whether its lowest (``min``) or highest (``max``) value is best.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No weight gradients for ``modules`` while inside; their inputs still get theirs.

    Used in a generator phase so that backpropagating through a discriminator computes only what
    the generator needs.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def phase_group(phase: str) -> str:
    """The network group a phase updates: ``"D:r1"`` -> ``"D"``, ``"G"`` -> ``"G"``."""
    return phase.partition(":")[0]


@dataclass
class Stage:
    """One named stage of training.

    Args:
        name: unique within the method; checkpoints keep optimizer states under it.
        steps: iterations of the stage; 0 = until the end of the run (last stage only). The run's
            length is still ``train.max_steps`` (or ``epochs``); the last stage takes what remains.
        groups: the network groups (names from ``Method.groups()``) this stage trains; ``None`` = all.
        optimizer: a name in ``genfer.engine.optim.OPTIMIZERS``; ``None`` = ``optim.optimizer``.
        lr: base learning rate; ``None`` = ``optim.lr`` (``optim.group_lr`` still wins per group).
        schedule: learning-rate schedule over the stage's own steps; ``None`` = ``optim.schedule``.
        before: ``before(method, ctx)`` runs when the stage begins, and again when a run resumes
            inside it, under a forked RNG (so it never shifts the training RNG). ``ctx`` is the
            engine's ``genfer.engine.stages.StageContext`` (config, device, run directory, step,
            stage, ``batches``, which the hook may replace, e.g. with a synthesised data set, and
            the run's ``ema``, whose average the hook may adopt).
        options: ``optim`` fields this stage overrides (``weight_decay``, ``momentum``, ``betas``,
            ``step_size``, ``gamma``...), e.g. a recogniser stage's SGD settings after a GAN's Adam.
        schedule_offset: steps of the same schedule that earlier stages already ran, so a schedule
            split over several stages (one StepLR over alternating rounds) continues instead of
            restarting.
    """

    name: str
    steps: int = 0
    groups: list[str] | None = None
    optimizer: str | None = None
    lr: float | None = None
    schedule: str | None = None
    before: Callable[[Method, Any], None] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    schedule_offset: int = 0


@dataclass
class LossOut:
    """What one phase returns: the scalar to backpropagate and its named, unweighted parts."""

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of every published method genfer implements.

    Subclasses set ``Config`` (their registered dataclass, extending
    ``genfer.core.config.MethodConfig``), build their networks in ``__init__`` and implement
    ``groups``, ``phases`` and ``training_step``; recognisers also implement ``evaluate``.
    """

    Config: ClassVar[type]
    data_kind: ClassVar[str] = "expressions"
    """What the engine feeds ``training_step``: a name in the data layer's batch kinds
    (``pairs`` for face + expression pairs, ``expressions``...)."""
    best_metric: ClassVar[str | None] = None
    """The ``evaluate`` figure that keeps the best checkpoint (``None``: no best checkpoint)."""
    best_mode: ClassVar[str] = "max"
    """``max`` when higher ``best_metric`` values are better (accuracy), ``min`` when lower are
    (an error)."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg

    # --- training -------------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        """Network groups, one optimizer each: ``{"G": [enc, dec], "D": [disc]}``."""
        raise NotImplementedError

    def phases(self, step: int) -> list[str]:
        """Group names to update at iteration ``step`` (0-based), in order; ``GROUP:part`` names a
        further update of ``GROUP`` with its own loss."""
        raise NotImplementedError

    def lazy_intervals(self) -> dict[str, int]:
        """``{group: N}`` for groups regularised lazily, every N iterations, in a phase of their own;
        the engine multiplies their learning rate by c = N / (N + 1) and raises Adam's betas to the
        power c (the default has none)."""
        return {}

    def stages(self) -> list[Stage]:
        """Training stages in order; the default is one stage, ``main``, training every group
        with the run's ``optim`` settings for the whole run."""
        return [Stage("main")]

    def frozen_modules(self) -> dict[str, nn.Module]:
        """Pretrained sub-networks that never train and that checkpoints do not store, by name."""
        return {}

    def load_pretrained(self) -> None:
        """Fill ``frozen_modules()`` from their own weight files (the default has none).

        The engine calls it after building the method for training, and ``load_method`` after
        loading a checkpoint; it must not touch the trained networks.
        """

    def train(self, mode: bool = True) -> Method:
        """``nn.Module.train``, except that frozen sub-networks always stay in eval mode (their
        BatchNorm statistics and dropout are part of the pretrained function)."""
        super().train(mode)
        for m in self.frozen_modules().values():
            m.eval()
        return self

    def frozen_keys(self) -> set[str]:
        """State-dict keys that belong to ``frozen_modules()`` (what checkpoints leave out)."""
        frozen = [id(m) for m in self.frozen_modules().values()]
        if not frozen:
            return set()
        prefixes = tuple(f"{name}." for name, mod in self.named_modules() if id(mod) in frozen and name)
        return {k for k in self.state_dict() if k.startswith(prefixes)}

    @contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode under ``torch.inference_mode`` for a capability call; the training mode is put back."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.train(was_training)

    def ema_modules(self) -> list[str]:
        """Attribute names of the networks that get EMA weights when ``train.ema`` > 0, e.g. ``["G"]``."""
        return []

    def to_input(self, images: Tensor) -> Tensor:
        """uint8 images ``[B, C, H, W]`` to the paper's input range (default: float in [0, 1])."""
        return images.float().div_(255)

    def prepare(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Convert every uint8 image tensor of a batch (already on the device) with ``to_input``."""
        return {k: self.to_input(v) if v.dtype == torch.uint8 else v for k, v in batch.items()}

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        raise NotImplementedError

    # --- evaluation and samples -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Figures on held-out data; the default has none."""
        return {}

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """A grid of images in [0, 1], ``[N, C, H, W]``, and its number of columns."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
