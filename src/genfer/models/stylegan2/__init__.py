"""StyleGAN2 (Karras et al. 2020) in plain torch ops; importing this package registers ``stylegan2``.

Networks key for key rosinality's (``networks``), its checkpoints loaded with ``weights_only``
(``rosinality``), and its training recipe through the genfer engine (``method``).
"""

from genfer.models.stylegan2.config import StyleGAN2Config
from genfer.models.stylegan2.method import StyleGAN2
from genfer.models.stylegan2.networks import Discriminator, Generator
from genfer.models.stylegan2.rosinality import RosinalityCheckpoint, StyleGAN2CheckpointError, load_rosinality

__all__ = [
    "Discriminator", "Generator", "RosinalityCheckpoint", "StyleGAN2", "StyleGAN2CheckpointError", "StyleGAN2Config",
    "load_rosinality",
]
