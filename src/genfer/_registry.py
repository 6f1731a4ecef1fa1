"""One small name -> object registry type, instantiated once per kind of plug-in.

Methods, datasets, metrics and detectors register under short lower-case names. A duplicate name
is an error (two plug-ins silently shadowing each other is worse than a crash at import), and an
unknown name raises ``KeyError`` listing what exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plug-ins of one kind.

    Args:
        kind: what the entries are ("method", "dataset", ...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@DATASETS.register("rafdb")`` on a class or function."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T) -> None:
        if name != name.lower() or not name:
            raise ValueError(f"{self.kind} names are lower-case and non-empty, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


METHODS: Registry = Registry("method")
DATASETS: Registry = Registry("dataset")
METRICS: Registry = Registry("metric")
DETECTORS: Registry = Registry("detector")
PRETRAINED: Registry = Registry("pretrained model")
"""Pretrained expression recognisers (``genfer.models.pretrained.base.ExpressionRecognizer`` factories)."""
