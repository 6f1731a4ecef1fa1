"""JESRL: expression swapping between two faces and a recogniser trained on real plus synthesised faces."""

from genfer.models.jesrl.config import JESRLConfig
from genfer.models.jesrl.method import JESRL

__all__ = ["JESRL", "JESRLConfig"]
