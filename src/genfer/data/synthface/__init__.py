"""SynthFace: procedural labelled faces with known identity, AU intensities and expression.

See docs/synthface.md. Public API:

* ``SynthFace(identities, per_identity, size=128, channels=1, seed=0, expressions=None,
  nuisance=1.0)``: a torch Dataset rendered at construction (``images``, ``expressions``,
  ``identities``, ``aus``).
* ``split_identities(n_train, n_test)``: disjoint identity ids (test ids from ``TEST_ID_START``).
* ``render(identities, aus, size, channels, seed, nuisance, nuisance_seed)``: given identities
  wearing given AU vectors.
* ``sample_aus(expressions, generator)`` and ``PROTOTYPES``: FACS prototype AU intensities of
  each canonical expression; ``aus_vector({"AU12": 3})`` builds one AU vector.
* ``export_synthface(out, ...)``: RAF-DB, CASIA-WebFace and OpenFace/EmotioNet layouts on disk.
"""

from .dataset import TEST_ID_START, SynthFace, split_identities
from .export import export_synthface
from .params import DROP_PROB, PROTOTYPES, aus_vector, sample_aus
from .raster import render

__all__ = [
    "DROP_PROB",
    "PROTOTYPES",
    "TEST_ID_START",
    "SynthFace",
    "aus_vector",
    "export_synthface",
    "render",
    "sample_aus",
    "split_identities",
]
