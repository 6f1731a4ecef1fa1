"""Methods: one package per published system, registered in ``genfer.core.registry.METHODS``.

Every sub-package here except the shared ``layers`` and ``pretrained`` is a method package; importing
it runs its ``@METHODS.register(...)`` decorator. So adding a method is adding its package: the
decorator is the one line that registers it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from genfer.core.registry import METHODS

_SHARED = frozenset({"layers", "pretrained"})
"""Sub-packages that hold shared building blocks, not methods."""


def method_packages() -> list[str]:
    """Names of the method packages under ``genfer.models``."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and m.name not in _SHARED)


def load_all() -> None:
    """Import every method package so that it registers itself."""
    for name in method_packages():
        importlib.import_module(f"{__name__}.{name}")


def build_method(cfg: Any) -> Any:
    """Instantiate the method named by a ``RunConfig`` with its ``model`` section."""
    return METHODS.get(cfg.method)(cfg.model)
