"""Methods: one package per published system, registered in ``genfer.core.registry.METHODS``."""

from __future__ import annotations

from typing import Any

from genfer.core.registry import METHODS


def load_all() -> None:
    """Import every method package so that it registers itself."""
    from genfer.models import (
        au_cyclegan,  # noqa: F401
        tdgan,  # noqa: F401
    )


def build_method(cfg: Any) -> Any:
    """Instantiate the method named by a ``RunConfig`` with its ``model`` section."""
    load_all()
    return METHODS.get(cfg.method)(cfg.model)
