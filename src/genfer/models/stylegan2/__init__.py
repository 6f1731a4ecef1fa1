"""StyleGAN2 (Karras et al. 2020) in plain torch ops, loading rosinality's checkpoints key for key."""

from genfer.models.stylegan2.networks import Discriminator, Generator

__all__ = ["Discriminator", "Generator"]
