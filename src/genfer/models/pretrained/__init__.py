"""Ports of published pretrained face networks (expression, landmarks, identity), pure torch.

Each port loads weights that ``genfer weights fetch NAME`` took from a registry package, applies
the original preprocessing exactly, and is checked against outputs of the original runtime stored
as test fixtures. Expression recognisers register in :data:`genfer._registry.PRETRAINED` so that
``genfer recognize --model NAME`` finds them (see :mod:`genfer.models.pretrained.base`).
"""
