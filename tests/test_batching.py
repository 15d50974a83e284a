"""Cross-request batching (core.batching): merged jobs keep their own results, errors stay with
the request that caused them, and a lone request runs at once."""

from __future__ import annotations

import threading

import pytest
import torch

from interp_services.core.batching import RunBatcher
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.run import RunJob, prepare_job, run_jobs, tokenize

TEXTS = [
    "The quick brown fox",
    "Paris is the capital of France, and Rome is the capital of",
    "One, two, three,",
    "When Mary and John went to the store, John gave a drink to",
]


def _job(loaded, i: int) -> RunJob:
    ids = tokenize(loaded, [TEXTS[i % len(TEXTS)]], max_tokens=512)
    ivs = [Intervention("blocks.2.hook_resid_post", "steer", tensor=torch.full((576,), 0.05 * i))] if i % 3 == 0 else []
    return prepare_job(loaded, ids, capture=["blocks.4.hook_attn_out"], interventions=ivs, top_k=3, return_logits=True)


def test_concurrent_jobs_are_merged_and_each_gets_its_own_result(smollm):
    seen: list[tuple[int, int]] = []
    batcher = RunBatcher(max_sequences=32, max_tokens=8192, on_batch=lambda r, s: seen.append((r, s)))
    n = 16
    jobs = [_job(smollm, i) for i in range(n)]
    alone = [run_jobs(smollm, [j])[0] for j in jobs]
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = batcher.run(smollm, jobs[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert batcher.stats.jobs == n and batcher.stats.largest > 1, batcher.stats
    assert sum(r for r, _ in seen) == n and sum(s for _, s in seen) == n and len(seen) == batcher.stats.batches
    for i in range(n):
        got, want = results[i], alone[i]
        assert got.token_ids == want.token_ids
        assert [t.token_id for t in got.top_next[0]] == [t.token_id for t in want.top_next[0]]
        # Different GEMM shapes round differently: logits (|x| ~ 10-20) agree to ~1e-4 absolute.
        torch.testing.assert_close(got.logits, want.logits, atol=3e-4, rtol=1e-5)
        torch.testing.assert_close(got.captures["blocks.4.hook_attn_out"], want.captures["blocks.4.hook_attn_out"], atol=3e-5, rtol=1e-5)


def test_a_lone_request_runs_alone_at_once(smollm):
    batcher = RunBatcher()
    out = batcher.run(smollm, _job(smollm, 1))
    assert batcher.stats.batches == 1 and batcher.stats.largest == 1
    assert out.top_next[0]


def _run_queued(batcher: RunBatcher, loaded, jobs: dict[str, RunJob]) -> dict[str, object]:
    """Queue every job while the batcher is held busy, then release them: they meet in the queue.
    Returns each job's output or exception."""
    batcher._busy = True
    out: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            out[name] = batcher.run(loaded, jobs[name])
        except Exception as exc:  # noqa: BLE001 - returned to the test
            out[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for t in threads:
        t.start()
    while len(batcher._queue) < len(jobs):
        threading.Event().wait(0.01)
    with batcher._lock:
        first = batcher._queue.popleft()
        first.lead = True
        first.event.set()
    for t in threads:
        t.join()
    return out


def test_gradient_and_plain_jobs_are_not_merged(smollm):
    batcher = RunBatcher()
    ids = tokenize(smollm, [TEXTS[0]], max_tokens=512)
    grad = prepare_job(smollm, ids, metric=Metric("token", token_ids=[42]), gradients=["hook_embed"])
    plain = prepare_job(smollm, ids, top_k=1)
    out = _run_queued(batcher, smollm, {"grad": grad, "plain": plain})
    assert batcher.stats.batches == 2 and batcher.stats.largest == 1
    assert out["grad"].gradients["hook_embed"].shape[:2] == (1, len(ids[0]))


def test_a_failing_job_fails_alone(smollm):
    batcher = RunBatcher()
    # A job that skipped validation: its patch source cannot fit, so the merged pass fails.
    bad = RunJob(tokenize(smollm, [TEXTS[0]], max_tokens=512), interventions=[
        Intervention("blocks.0.hook_resid_pre", "patch", tensor=torch.zeros(1, 2, 3))
    ])
    out = _run_queued(batcher, smollm, {"good": _job(smollm, 1), "bad": bad})
    assert batcher.stats.largest == 2
    assert isinstance(out["bad"], Exception)
    assert not isinstance(out["good"], Exception) and out["good"].top_next[0]


@pytest.mark.parametrize("enabled", [False])
def test_disabled_batcher_runs_each_job_alone(smollm, enabled):
    batcher = RunBatcher(enabled=enabled)
    assert batcher.run(smollm, _job(smollm, 2)).top_next[0]
    assert batcher.stats.batches == 0
