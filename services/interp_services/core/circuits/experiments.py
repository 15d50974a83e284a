"""Many experiments in few model-host calls: each experiment is one *group* of rows (the task's
prompts once more) with its own per-sequence interventions, and the values the interventions
copy come from *source* rows of the same batch (``Intervention.source_sequences``), so no
activation ever leaves the model host.

A call carries ``n`` source rows (e.g. the clean prompts) and as many groups of ``n`` rows as
fit in ``runner.forward_rows`` (these runs take no gradients) and its intervention limit; the
metric comes back per row and is averaged per group. The pairs are never split across calls:
every call holds all the source rows, so a mean over them (mean ablation) is over the whole task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.circuits.runner import Runner
from interp_services.core.circuits.task import TaskBatch
from interp_services.core.errors import Cancelled
from interp_services.core.interventions import Intervention
from interp_services.core.reasons import Reason

GroupBuilder = Callable[[list[int], list[int]], list[Intervention]]
"""(the group's rows, the matching source rows) -> the group's interventions."""

ProgressFn = Callable[[str, float], None]


@dataclass
class Monitor:
    """Progress and cancellation of one analysis, and a count of the model-host calls."""

    progress: ProgressFn | None = None
    cancelled: Callable[[], bool] | None = None
    runs: int = 0
    stage: str = ""

    def step(self, fraction: float, stage: str | None = None) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(Reason.CANCELLED, "the client cancelled the analysis")
        if stage is not None:
            self.stage = stage
        if self.progress is not None:
            self.progress(self.stage, max(0.0, min(1.0, fraction)))


@dataclass
class GroupResult:
    """Per group: the mean metric over the task's pairs (and per pair)."""

    values: torch.Tensor  # [groups]
    per_pair: torch.Tensor  # [groups, n]
    source_metric: float | None = None
    extra: dict = field(default_factory=dict)


def run_groups(
    runner: Runner,
    task: TaskBatch,
    groups: Sequence[GroupBuilder],
    *,
    base: str,
    source: str | None,
    monitor: Monitor,
    stage: str = "patching",
) -> GroupResult:
    """Run every group and return its metric.

    Args:
        base: the prompts each group runs on, ``"clean"`` or ``"corrupted"``.
        source: the prompts of the source rows, or None for none.
    """
    n = task.n
    prompts = {"clean": task.clean, "corrupted": task.corrupted}
    group_rows = prompts[base]
    src = prompts[source] if source else []
    length = max(len(s) for s in [*src, *group_rows])
    per_call = max(1, (runner.forward_rows(length) - len(src)) // len(group_rows))
    budget = runner.max_interventions
    values: list[torch.Tensor] = []
    source_metric = None
    start = 0
    while start < len(groups):
        batch = [list(s) for s in src]
        interventions: list[Intervention] = []
        count = 0
        # As many groups as fit the call's rows and interventions (at least one).
        while start + count < len(groups) and count < per_call:
            rows = [len(src) + count * len(group_rows) + i for i in range(len(group_rows))]
            made = groups[start + count](rows, list(range(len(src))) if src else [])
            if count and len(interventions) + len(made) > budget:
                break
            interventions.extend(made)
            batch.extend(group_rows)
            count += 1
        out = runner.run(batch, interventions=interventions, metric=task.metric_for(count + (1 if src else 0)))
        monitor.runs += 1
        assert out.metric is not None
        m = out.metric.float()
        if src:
            source_metric = float(m[: len(src)].mean())
        values.append(m[len(src) :].reshape(count, len(group_rows)))
        start += count
        monitor.step(start / len(groups), stage)
    per_pair = torch.cat(values) if values else torch.zeros(0, n)
    return GroupResult(per_pair.mean(dim=1), per_pair, source_metric)


def baseline_metrics(runner: Runner, task: TaskBatch, monitor: Monitor) -> tuple[float, float]:
    """The task metric on the clean and on the corrupted prompts (mean over pairs), one call."""
    out = runner.run([*task.clean, *task.corrupted], metric=task.metric_for(2))
    monitor.runs += 1
    assert out.metric is not None
    m = out.metric.float()
    return float(m[: task.n].mean()), float(m[task.n :].mean())
