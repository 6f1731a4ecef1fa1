"""One small name -> object registry type, instantiated once per kind of plug-in.

Methods, datasets, metrics, detectors, embedders, crop presets and weight packages register under
short lower-case names. A duplicate name is an error (two plug-ins silently shadowing each other is
worse than a crash at import), and an unknown name raises ``KeyError`` listing what exists.

A registry lives here, at the bottom of the import layers, while its plug-ins live above it. So
that a lookup from any layer sees every plug-in without importing upward, each registry names the
modules that register its built-in entries (``plugins``); the first lookup imports them by name.
Entries of one kind may come from several layers (embedders: AU files in metrics, pretrained nets
in models, trained genfer runs in apps); each layer registers its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_MISSING: Any = object()


class Registry(Generic[T]):
    """A named collection of plug-ins of one kind.

    Args:
        kind: what the entries are ("method", "dataset", ...), used in error messages.
        plugins: what the first lookup imports to register the built-in entries: a dotted module
            path, or ``module:function`` to also call a function of it (``genfer.models:load_all``),
            or a sequence of these, imported in order.
    """

    def __init__(self, kind: str, plugins: str | Sequence[str] | None = None) -> None:
        self.kind = kind
        self.plugins: tuple[str, ...] = (plugins,) if isinstance(plugins, str) else tuple(plugins or ())
        self._entries: dict[str, T] = {}
        self._loaded = not self.plugins

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # before the import: registering modules may look entries up
            try:
                for spec in self.plugins:
                    module, _, func = spec.partition(":")
                    loaded = importlib.import_module(module)
                    if func:
                        getattr(loaded, func)()
            except BaseException:
                self._loaded = False
                raise

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

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The entry ``name``; ``default`` if given and there is none, else ``KeyError`` listing the known names."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            if default is not _MISSING:
                return default
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs sorted by name."""
        self._load()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


METHODS: Registry = Registry("method", plugins="genfer.models:load_all")
DATASETS: Registry = Registry("dataset", plugins="genfer.data.datasets")
METRICS: Registry = Registry("metric", plugins="genfer.metrics")
DETECTORS: Registry = Registry("detector", plugins="genfer.data.preprocess.mtcnn")
PRETRAINED: Registry = Registry("pretrained model", plugins="genfer.models.pretrained:load_all")
"""Pretrained expression recognisers (``genfer.models.pretrained.base.ExpressionRecognizer`` factories)."""
EMBEDDERS: Registry = Registry(
    "embedder", plugins=("genfer.metrics.embedding", "genfer.models.pretrained.embedders", "genfer.apps.embedders")
)
"""Factories of the embedding networks of ACD and ED (``genfer.metrics.embedding.build_embedder``)."""
CROP_PRESETS: Registry = Registry("crop preset", plugins="genfer.data.preprocess.align")
"""How each reproduced method cuts faces from photos (``genfer.data.preprocess.align.CropPreset``)."""
WEIGHT_PACKAGES: Registry = Registry("weights", plugins="genfer.core.weights")
"""Third-party weights published inside registry packages (``genfer.core.weights.PackagedWeights``)."""
