"""SynthFace: procedural labelled faces with known identity, AU intensities and expression.

See docs/synthface.md. Public API: ``SynthFace`` (a dataset rendered at construction),
``split_identities``, ``render`` (given identities wearing given AU vectors), ``sample_aus`` and
``PROTOTYPES`` (the FACS prototype of each canonical expression), and ``export_synthface`` (the
RAF-DB, CASIA-WebFace and OpenFace/EmotioNet on-disk layouts).
"""

from .dataset import TEST_ID_START, SynthFace, split_identities
from .params import PROTOTYPES, aus_vector, sample_aus
from .render import render

__all__ = [
    "PROTOTYPES",
    "TEST_ID_START",
    "SynthFace",
    "aus_vector",
    "render",
    "sample_aus",
    "split_identities",
]
