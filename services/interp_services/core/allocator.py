"""The C allocator's handling of large buffers in a serving process.

glibc serves allocations above its mmap threshold with ``mmap`` (returned to the OS when freed)
and smaller ones from the heap; after each large free it *raises* the threshold to that size (up
to 32 MiB on 64-bit). A service that handles a stream of 10-50 MB tensors and messages -- one
activation batch after another -- therefore soon allocates them on the heap, which fragments and
keeps growing. Measured with a local fleet analysing SmolLM2 activations: three identical
300-text requests raised the process's peak RSS from 1842 to 2035 MiB (+0.5 GB over 10,000
texts); with the threshold pinned at 1 MiB, 1315 / 1345 / 1345 MiB. Pinning it also turns the
dynamic adjustment off.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["pin_mmap_threshold"]

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def pin_mmap_threshold(nbytes: int = 1 << 20) -> bool:
    """Serve allocations of ``nbytes`` and more from ``mmap`` for the rest of the process.

    Returns False (and changes nothing) where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(nbytes)))
