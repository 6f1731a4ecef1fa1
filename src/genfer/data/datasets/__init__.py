"""Dataset readers, one small module per format; importing this package registers them all.

Each reader is registered in ``genfer._registry.DATASETS`` under its short name and built as
``DATASETS.get(name)(root, split=..., channels=...)`` or ``genfer.data.base.open_dataset``.
"""

from genfer.data.datasets import casia, rafdb

__all__ = ["casia", "rafdb"]
