"""IFER (Chen et al.): expression recognition fine-tuned from the ASIT inversion encoder."""
