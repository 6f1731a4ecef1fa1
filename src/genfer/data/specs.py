"""Data source specs: ``"NAME:PATH?key=value&..."`` to a registered dataset reader.

Lives apart from ``genfer.data.base`` so that the readers (which subclass ``FaceDataset``) and the
function that looks them up do not import each other: readers are found through
``genfer.core.registry.DATASETS``, which imports ``genfer.data.datasets`` by name on first use.
"""

from __future__ import annotations

from typing import Any

import yaml

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """Split ``"NAME:PATH?key=value&key=value"`` into ``(name, path, options)``.

    Names are lower-cased; option values are parsed as YAML (``fold=3`` is an int, ``neutral=false``
    a bool).
    """
    name, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(f"dataset spec {spec!r} is not NAME:PATH; readers: {', '.join(DATASETS.names())}")
    path, _, query = rest.partition("?")
    opts: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"dataset spec {spec!r}: option {part!r} is not key=value")
        opts[key.strip()] = yaml.safe_load(value)
    return name.strip().lower(), path, opts


def open_dataset(spec: str, split: str = "train", channels: int = 3, **kwargs: Any) -> FaceDataset:
    """Build a registered reader from ``"NAME:PATH"`` (e.g. ``"rafdb:/data/RAF-DB/basic"``).

    Reader options can follow the path as ``?key=value&key=value`` (values parsed as YAML, e.g.
    ``ckplus:/data/CK+?fold=3&frames=peak``); explicit ``kwargs`` win over them.
    """
    name, path, opts = parse_spec(spec)
    opts.update(kwargs)
    return DATASETS.get(name)(path, split=split, channels=channels, **opts)


def has_split(spec: str, split: str) -> bool:
    """Whether the reader of ``spec`` has ``split`` (its own name or an alias such as ``test`` -> ``val``)."""
    name, _, _ = parse_spec(spec)
    reader = DATASETS.get(name)
    s = {"valid": "val", "validation": "val", "training": "train", "testing": "test"}.get(split, split)
    return reader.split_aliases.get(s, s) in reader.splits
