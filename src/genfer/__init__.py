"""genfer: generative facial expression analysis in pure PyTorch."""

__version__ = "0.1.0"
