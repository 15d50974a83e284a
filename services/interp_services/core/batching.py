"""Cross-request batching: concurrent runs for the same model become one forward pass.

Small requests leave most of a forward pass's cost on the table (per-layer overheads, thin
matrix products); merged, sixteen of them cost little more than one. :class:`RunBatcher` is
the meeting point: each request thread submits its prepared :class:`~interp_services.core.run.RunJob`
and blocks. If nothing is running, the submitter leads at once -- a lone request waits for no
one, so its latency is unchanged -- and runs its job together with every *compatible* job
already queued (same model, same gradient mode, within the sequence and padded-token bounds).
While a batch runs, new arrivals queue up; when it finishes, the oldest waiter leads the next
batch. Batches therefore grow with the load (continuous batching), without a timer.

Each job keeps its own rows, interventions, captures and results (``run_jobs``). If a merged
batch fails, its jobs are rerun one by one, so an error reaches only the request that caused it.
This module is pure Python threading over the core; it is used by the model host's servicer
and works the same in a plain gRPC server and in a Ray Serve replica.

Example:
    >>> batcher = RunBatcher(max_sequences=32, max_tokens=8192)
    >>> out = batcher.run(loaded, prepare_job(loaded, ids, top_k=5))  # from many threads at once
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from interp_services.core.models import LoadedModel
from interp_services.core.run import RunJob, RunOutput, run_jobs


@dataclass(eq=False)
class _Ticket:
    loaded: LoadedModel
    job: RunJob
    event: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    done: bool = False
    result: RunOutput | None = None
    error: BaseException | None = None


@dataclass
class BatchStats:
    """Counters for metrics and benchmarks."""

    batches: int = 0
    jobs: int = 0
    largest: int = 0


class RunBatcher:
    """Merges concurrent jobs into shared forward passes (see the module docstring).

    Args:
        max_sequences: most sequences in one merged batch.
        max_tokens: most padded tokens (rows x longest sequence) in one merged batch.
        enabled: False runs every job alone (for comparisons).
        on_batch: called after each pass with (requests merged, sequences), e.g. for metrics.
    """

    def __init__(
        self,
        max_sequences: int = 32,
        max_tokens: int = 8192,
        enabled: bool = True,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self.max_sequences = max_sequences
        self.max_tokens = max_tokens
        self.enabled = enabled
        self.on_batch = on_batch
        self.stats = BatchStats()
        self._lock = threading.Lock()
        self._queue: deque[_Ticket] = deque()
        self._busy = False

    def run(self, loaded: LoadedModel, job: RunJob) -> RunOutput:
        """Run ``job``, possibly merged with concurrent ones; returns its own output."""
        if not self.enabled:
            return run_jobs(loaded, [job])[0]
        ticket = _Ticket(loaded, job)
        with self._lock:
            if self._busy:
                self._queue.append(ticket)
            else:
                self._busy = True
                ticket.lead = True
        while not ticket.lead and not ticket.done:
            ticket.event.wait()
            ticket.event.clear()
        if not ticket.done:
            self._lead(ticket)
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result

    def _take(self, first: _Ticket) -> list[_Ticket]:
        """``first`` plus the compatible queued tickets that fit the bounds (oldest first)."""
        batch = [first]
        rows, longest = len(first.job.batch), first.job.length
        with self._lock:
            for t in list(self._queue):
                if t.loaded is not first.loaded or t.job.needs_grad != first.job.needs_grad:
                    continue
                n_rows, n_long = rows + len(t.job.batch), max(longest, t.job.length)
                if n_rows > self.max_sequences or n_rows * n_long > self.max_tokens:
                    continue
                self._queue.remove(t)
                batch.append(t)
                rows, longest = n_rows, n_long
        return batch

    def _lead(self, first: _Ticket) -> None:
        batch = self._take(first)
        try:
            outs = run_jobs(first.loaded, [t.job for t in batch])
            for t, out in zip(batch, outs, strict=True):
                t.result = out
        except BaseException as exc:  # noqa: BLE001 - retried alone, so each error finds its owner
            if len(batch) == 1:
                first.error = exc
            else:
                for t in batch:
                    try:
                        t.result = run_jobs(t.loaded, [t.job])[0]
                    except BaseException as own:  # noqa: BLE001
                        t.error = own
        with self._lock:
            self.stats.batches += 1
            self.stats.jobs += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            for t in batch:
                t.done = True
                if t is not first:
                    t.event.set()
            if self._queue:
                nxt = self._queue.popleft()
                nxt.lead = True
                nxt.event.set()
            else:
                self._busy = False
        if self.on_batch is not None:
            self.on_batch(len(batch), sum(len(t.job.batch) for t in batch))
