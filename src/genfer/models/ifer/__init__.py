"""IFER (Chen et al.): expression recognition fine-tuned from the ASIT inversion encoder."""

from genfer.models.ifer.config import IFERConfig
from genfer.models.ifer.method import IFER

__all__ = ["IFER", "IFERConfig"]
