"""Metric protocols: the names registered in ``genfer.core.registry.METRICS``.

A protocol pins what a name means (which network, which settings) so that ``"lpips_alex"`` in
one report is the same figure as in another. Each entry is a ``MetricProtocol`` whose
``factory(**kwargs)`` builds the accumulating ``Metric`` and whose ``folders(...)`` computes it over
image folders (``genfer metrics``), so callers look a metric up by name instead of branching on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genfer.core.registry import METRICS
from genfer.metrics.base import Metric


@dataclass(frozen=True)
class MetricProtocol:
    """One registered metric.

    Args:
        name: registry name.
        kind: ``recognition`` (preds vs labels), ``distribution`` (two image sets),
            ``paired`` (image pairs matched by name) or ``embedding`` (pairs through an embedder).
        higher_is_better: direction of improvement.
        summary: one line saying what the number is.
        factory: builds the accumulating metric; keyword arguments are the protocol's options.
        options: the keyword options of ``factory`` that a folder run passes on when given.
        folders: computes the figure over image folders, ``folders(**inputs_and_options)`` ->
            JSON-serialisable dict (the folders are keywords: ``real``/``fake``, ``folder`` or
            ``pred``/``gt``); None where the metric has no folder form (``accuracy``).
    """

    name: str
    kind: str
    higher_is_better: bool
    summary: str
    factory: Callable[..., Metric]
    options: tuple[str, ...] = ()
    folders: Callable[..., dict[str, Any]] | None = field(default=None, compare=False)

    def build(self, **kwargs: Any) -> Metric:
        return self.factory(**kwargs)


def register_protocol(p: MetricProtocol) -> None:
    """Add ``p`` to ``METRICS`` unless a protocol of that name is already there (re-import safe)."""
    if p.name not in METRICS:
        METRICS.add(p.name, p)
