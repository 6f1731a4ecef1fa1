"""TDGAN (Xie, Hu, Chen, IEEE TCSVT 2020); importing this package registers the ``tdgan`` method."""

from genfer.models.tdgan.config import TDGANConfig
from genfer.models.tdgan.method import TDGAN

__all__ = ["TDGAN", "TDGANConfig"]
