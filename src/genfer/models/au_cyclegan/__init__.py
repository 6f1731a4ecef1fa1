"""AU-conditioned cycle GAN (SA-C-CC-GAN, gtesei); importing this package registers ``au_cyclegan``."""

from genfer.models.au_cyclegan.config import AUCycleGANConfig
from genfer.models.au_cyclegan.editing import emotion_aus, parse_aus
from genfer.models.au_cyclegan.method import AUCycleGAN

__all__ = ["AUCycleGAN", "AUCycleGANConfig", "emotion_aus", "parse_aus"]
