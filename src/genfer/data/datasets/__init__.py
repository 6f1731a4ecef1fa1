"""Dataset readers, one small module per format; importing this package registers them all.

Each reader is registered in ``genfer.core.registry.DATASETS`` under its short name and built as
``DATASETS.get(name)(root, split=..., channels=...)`` or ``genfer.data.specs.open_dataset``.
Layouts, label maps and splits: each module's docstring and ``docs/datasets/<name>.md``.
"""

from genfer.data import store  # noqa: F401  (the prepared-face store reads like a dataset: store:PATH)
from genfer.data.datasets import (
    affectnet,
    casia,
    cdan,
    celebahq,
    ckplus,
    emotionet,
    fer2013,
    ferplus,
    ffhq,
    folder,
    ganimation,
    kdef,
    multipie,
    oulu,
    rafdb,
    sfew,
)

__all__ = [
    "affectnet",
    "casia",
    "cdan",
    "celebahq",
    "ckplus",
    "emotionet",
    "fer2013",
    "ferplus",
    "ffhq",
    "folder",
    "ganimation",
    "kdef",
    "multipie",
    "oulu",
    "rafdb",
    "sfew",
]
