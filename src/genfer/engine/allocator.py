"""Keep freed CPU memory in the process, so that training does not page-fault it back every step.

PyTorch frees its large CPU buffers as each iteration ends, and glibc hands blocks above its
``mmap`` threshold straight back to the kernel; the next iteration then page-faults fresh zeroed
pages for the same sizes. Serving every block from the heap and never trimming it makes those
pages reused instead: 10-25% of a CPU training iteration on TDGAN and the AU cycle GAN
(benchmarks/RESULTS.md), for a peak RSS a few per cent higher. It is a process-wide setting that
lasts for the life of the process, so the engine applies it only to CPU training
(``train.keep_freed_memory``).
"""

from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Tell glibc to serve big blocks from the heap and never return freed heap pages to the kernel.

    Returns:
        True when the setting was applied; False where there is no glibc (macOS, Windows, musl).
    """
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
