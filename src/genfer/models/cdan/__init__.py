"""CDAN (self-supervised expression parsing with Action Units); importing this package registers ``cdan``."""

from genfer.models.cdan.config import CDAN_AUS, CDANConfig
from genfer.models.cdan.method import CDAN, CDAN_AU_INDEX
from genfer.models.cdan.released import Converted, convert, load_released, lpips_from_release, read_release

__all__ = ["CDAN", "CDAN_AUS", "CDAN_AU_INDEX", "CDANConfig", "Converted", "convert", "load_released",
           "lpips_from_release", "read_release"]
