"""Former home of the trainer, kept so that ``genfer.engine.loop`` imports keep working.

The engine now lives in small modules: ``trainer`` (the run), ``step`` (one iteration),
``stages``, ``optim``, ``precision``, ``ema``, ``partial`` (``init_from``), ``compilation``.
"""

from genfer.engine.trainer import Trainer, TrainingDiverged, train

__all__ = ["Trainer", "TrainingDiverged", "train"]
