"""The training engine: ``trainer`` (a run), ``step`` (one iteration, ``run_iteration``), ``stages``,
``optim`` (``OPTIMIZERS``), ``precision``, ``ema``, ``partial`` (``init_from``), ``compilation``,
``checkpoint``, ``distributed``, ``schedule``, ``logger``, ``device``, ``allocator``."""
