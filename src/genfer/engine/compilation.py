"""``train.compile``: torch.compile the method's networks in place, or say why not and run eagerly."""

from __future__ import annotations

from torch import nn


def compile_networks(modules: list[nn.Module]) -> str | None:
    """Compile ``modules`` in place (``nn.Module.compile``, so state-dict keys stay the same).

    Graphs that fail to compile later fall back to eager execution (dynamo's ``suppress_errors``).
    Returns ``None`` on success, else a one-line message saying why the run stays eager.
    """
    try:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True
        for m in modules:
            m.compile()
    except Exception as e:  # unsupported Python/platform, missing compiler...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"train.compile: torch.compile is unavailable ({type(e).__name__}: {first}); training runs eagerly"
    return None


__all__ = ["compile_networks"]
