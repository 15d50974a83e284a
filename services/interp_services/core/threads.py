"""Torch's intra-op thread count in threads started by a server.

OpenMP keeps its thread count per thread: ``torch.set_num_threads`` applies to the calling
thread (and ``torch.get_num_threads`` reports the process-wide value everywhere), while a
thread started later runs its parallel regions with the count the process started with --
``OMP_NUM_THREADS``, which Ray sets to 1 for a replica with a fractional CPU request. Measured
on 2 cores with ``OMP_NUM_THREADS=1``: ten 2000x2000 matmuls took 0.82 s in the thread that set 2
threads and 2.1 s in a worker thread, 0.80 s once the worker called :func:`adopt_torch_threads`.
Every thread that runs models calls it first.
"""

from __future__ import annotations

import torch

__all__ = ["adopt_torch_threads"]


def adopt_torch_threads() -> None:
    """Give the calling thread the process's torch intra-op thread count."""
    torch.set_num_threads(torch.get_num_threads())
