"""ASIT (IFER, Chen et al.): GAN inversion of faces into StyleGAN2 W+ codes and a structure code."""
