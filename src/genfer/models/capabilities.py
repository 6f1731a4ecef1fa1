"""What a trained method can do once training is over: the capability protocols.

A method says what it can do by the members it has, not by a flag: TDGAN has ``classes`` and
``classify``, so it is a :class:`Classifier`; the AU cycle GAN has ``edit``, so it is an
:class:`Editor`. Every command and app that uses a trained method (``genfer eval``, ``recognize``,
``transfer``, ``edit``, the inference helpers) checks the protocol it needs with :func:`require`,
which names what the checkpoint *can* do when it lacks what was asked for.

Conventions shared by every protocol:

- Images in are ``[B, C, H, W]`` face crops at the method's ``image_size`` and ``channels``, uint8
  (0..255) or float in [0, 1]; the method converts them to its own range (``to_input``).
- Images out are float ``[B, C, H, W]`` in [0, 1], plain NCHW, on the method's device.
- Calls run in eval mode without gradients and leave the method's training mode as it was.
- AU vectors are intensities on the 0..5 scale in :data:`genfer.data.aus.AU_NAMES` order.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

from torch import Tensor


class CapabilityError(ValueError):
    """A method was asked for something it cannot do; the message is one line naming what it can."""


@runtime_checkable
class Classifier(Protocol):
    """An expression recogniser.

    Attributes:
        classes: the name of each logit column, canonical expression names
            (:data:`genfer.data.labels.EXPRESSIONS`) where they apply; ``len(classes) == K``.
    """

    classes: tuple[str, ...]

    def classify(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` -> logits float ``[B, K]`` (softmax gives probabilities)."""
        ...


@runtime_checkable
class Transferer(Protocol):
    """Expression transfer: one face wearing another image's expression."""

    def transfer(self, x_f: Tensor, x_e: Tensor) -> Tensor:
        """Identity of ``x_f`` ``[B, C, H, W]`` with the expression of ``x_e`` ``[B, C, H, W]``
        -> ``x_hat`` float ``[B, C, H, W]`` in [0, 1]."""
        ...


@runtime_checkable
class Editor(Protocol):
    """Action Unit editing: a face re-rendered with target AU intensities."""

    def edit(self, x: Tensor, aus: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` and target intensities float ``[B, A]`` (or ``[A]`` for all), 0..5
        in ``AU_NAMES`` order -> edited images float ``[B, C, H, W]`` in [0, 1]."""
        ...


@runtime_checkable
class AUEstimator(Protocol):
    """Action Unit intensities of a face (what ``genfer edit`` keeps when it changes only some AUs)."""

    def estimate_aus(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` -> intensities float ``[B, A]`` in 0..5, ``AU_NAMES`` order."""
        ...


@runtime_checkable
class Swapper(Protocol):
    """Expression swapping between two faces."""

    def swap(self, x_a: Tensor, x_b: Tensor) -> tuple[Tensor, Tensor]:
        """Images ``x_a``, ``x_b`` ``[B, C, H, W]`` -> ``(x_ab, x_ba)``, each float ``[B, C, H, W]`` in
        [0, 1]: ``x_ab`` is face a with b's expression, ``x_ba`` face b with a's."""
        ...


@runtime_checkable
class Reconstructor(Protocol):
    """Auto-encoding: the face as the method itself re-renders it (its own expression, AUs or code)."""

    def reconstruct(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` -> reconstructions float ``[B, C, H, W]`` in [0, 1]."""
        ...


@runtime_checkable
class Inverter(Protocol):
    """GAN inversion: images to latent codes and back."""

    def invert(self, x: Tensor) -> Any:
        """Images ``[B, C, H, W]`` -> codes (a tensor ``[B, ...]`` or a tuple of them) that
        ``generate`` accepts."""
        ...

    def generate(self, codes: Any) -> Tensor:
        """Codes from ``invert`` (or sampled) -> images float ``[B, C, H, W]`` in [0, 1]."""
        ...


CAPABILITIES: dict[str, type] = {
    "classify": Classifier,
    "transfer": Transferer,
    "edit": Editor,
    "estimate_aus": AUEstimator,
    "swap": Swapper,
    "reconstruct": Reconstructor,
    "invert": Inverter,
}
"""Capability name -> protocol, in the order :func:`capabilities` lists them."""

_NOUNS = {
    "classify": "a classifier",
    "transfer": "an expression transferer",
    "edit": "an AU editor",
    "estimate_aus": "an AU estimator",
    "swap": "an expression swapper",
    "reconstruct": "a reconstructor",
    "invert": "an inverter",
}


def _members(protocol: type) -> set[str]:
    """The attributes and methods a protocol asks for."""
    names = {k for k in vars(protocol) if not k.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def provides(obj: Any, capability: str | type) -> bool:
    """Whether ``obj`` (a method instance, or a method class) has a capability.

    An instance is checked with ``isinstance`` against the protocol. A class is checked for the
    protocol's members on the class itself, so an attribute set only in ``__init__`` (such as a
    classifier's ``classes``) needs a class-level default to be seen there.
    """
    protocol = CAPABILITIES[capability] if isinstance(capability, str) else capability
    if isinstance(obj, type):
        return all(hasattr(obj, m) for m in _members(protocol))
    return isinstance(obj, protocol)


def capabilities(obj: Any) -> list[str]:
    """Names of the capabilities of a method instance or class, in :data:`CAPABILITIES` order."""
    return [name for name, protocol in CAPABILITIES.items() if provides(obj, protocol)]


def _name_of(capability: str | type) -> str:
    if isinstance(capability, str):
        if capability not in CAPABILITIES:
            raise KeyError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
        return capability
    for name, protocol in CAPABILITIES.items():
        if protocol is capability:
            return name
    raise KeyError(f"{capability!r} is not a capability protocol; known: {', '.join(CAPABILITIES)}")


def method_name(obj: Any) -> str:
    """The registered name of a method instance or class (its class name when not registered)."""
    from genfer.core.registry import METHODS

    cls = obj if isinstance(obj, type) else type(obj)
    for name in METHODS.names():
        if METHODS.get(name) is cls:
            return name
    return cls.__name__


def require(obj: Any, capability: str | type, what_for: str, source: str | os.PathLike | None = None) -> Any:
    """Return ``obj`` if it has ``capability``, else raise a one-line :class:`CapabilityError`.

    Args:
        obj: a method (or anything else that may follow the protocols).
        capability: a :data:`CAPABILITIES` name (``"classify"``) or its protocol (``Classifier``).
        what_for: who needs it, e.g. ``"genfer eval"``.
        source: where ``obj`` came from (a run or checkpoint directory), named in the message.

    Raises:
        CapabilityError: e.g. ``runs/x is an au_cyclegan checkpoint; it can: edit, estimate_aus,
            reconstruct; it cannot classify (genfer eval needs a classifier)``.
        KeyError: ``capability`` is not a known capability.
    """
    name = _name_of(capability)
    if provides(obj, name):
        return obj
    kind = method_name(obj)
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    subject = f"{source} is {article} {kind} checkpoint" if source is not None else f"{article} {kind} method"
    can = ", ".join(capabilities(obj)) or "none"
    raise CapabilityError(f"{subject}; it can: {can}; it cannot {name} ({what_for} needs {_NOUNS[name]})")


__all__ = [
    "CAPABILITIES",
    "AUEstimator",
    "CapabilityError",
    "Classifier",
    "Editor",
    "Inverter",
    "Reconstructor",
    "Swapper",
    "Transferer",
    "capabilities",
    "method_name",
    "provides",
    "require",
]
