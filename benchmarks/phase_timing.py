"""Per-phase timing for the speed benchmarks: each phase's forward and optimizer step, measured
with hooks on the method and its optimizers, so the iteration body stays the engine's own."""

from __future__ import annotations

from collections.abc import Callable


def time_phases(m, opts: dict, times: dict[str, list[float]], clock: Callable[[], float]) -> None:
    """Record each phase's forward (``training_step``) and optimizer-step time in ``times``; the
    iteration's remainder is the backward passes (and the engine's bookkeeping). When ``times``
    holds a ``"_parts"`` list, every recorded duration is also appended there."""
    step_fn = m.training_step

    def timed_step(batch, phase, cache):
        t = clock()
        out = step_fn(batch, phase, cache)
        add(times, f"{phase} fwd", clock() - t)
        return out

    m.training_step = timed_step
    for phase, opt in opts.items():
        start = {}
        opt.register_step_pre_hook(lambda *a, start=start: start.__setitem__("t", clock()))
        opt.register_step_post_hook(lambda *a, start=start, phase=phase: add(times, f"{phase} step",
                                                                             clock() - start["t"]))


def add(times: dict[str, list[float]], key: str, dt: float) -> None:
    times.setdefault(key, []).append(dt)
    if "_parts" in times:
        times["_parts"].append(dt)
