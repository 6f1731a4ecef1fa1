"""ASIT (IFER, Chen et al.): GAN inversion of faces into StyleGAN2 W+ codes and a structure code."""

from genfer.models.asit.config import ASITConfig
from genfer.models.asit.method import ASIT

__all__ = ["ASIT", "ASITConfig"]
