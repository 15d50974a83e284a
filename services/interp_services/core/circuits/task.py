"""A circuit task as token ids: clean/corrupted prompt pairs, answers, and the task metric.

The metric is computed by the model host (a typed ``Metric``), per sequence, so batches of many
experiments read it in one pass: a logit difference ``logit(answer) - logit(wrong)``, the
answer's probability, or its log-probability, at each sequence's last real token. Gradient
methods (attribution patching, EAP) do best with the logit difference or the log-probability:
the probability saturates on prompts the model is sure of, and its gradient vanishes there. Effects are reported *normalised*:
``(m - corrupted) / (clean - corrupted)`` is 0 on the corrupted run and 1 on the clean run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp_services.core.errors import invalid
from interp_services.core.metrics import Metric
from interp_services.core.reasons import Reason

TASK_METRICS = ("logit_difference", "probability", "log_probability")


@dataclass(frozen=True)
class TaskBatch:
    """A task ready to run.

    Attributes:
        clean: token ids per pair.
        corrupted: token ids per pair (same length as the clean prompt where patching needs it).
        answers: the clean answer's token id per pair.
        wrong: the competing token id per pair (``logit_difference``), else empty.
        metric: one of :data:`TASK_METRICS`.
    """

    clean: list[list[int]]
    corrupted: list[list[int]]
    answers: list[int]
    wrong: list[int]
    metric: str = "logit_difference"

    @property
    def n(self) -> int:
        return len(self.clean)

    def metric_for(self, groups: int) -> Metric:
        """The model-host metric for ``groups`` consecutive copies of the pairs."""
        if self.metric in ("probability", "log_probability"):
            score = "prob" if self.metric == "probability" else "log_prob"
            return Metric("token", token_ids=self.answers * groups, score=score)
        return Metric("logit_diff", token_ids=self.answers * groups, other_ids=self.wrong * groups)

    def same_lengths(self) -> bool:
        return all(len(a) == len(b) for a, b in zip(self.clean, self.corrupted, strict=True))

    def require_same_lengths(self, field_name: str = "task.pairs", *, across_pairs: bool = False) -> None:
        """Position-wise methods need aligned prompts (and, for maps by position, one length)."""
        for i, (a, b) in enumerate(zip(self.clean, self.corrupted, strict=True)):
            if len(a) != len(b):
                raise invalid(
                    Reason.PROMPT_LENGTHS_DIFFER,
                    f"{field_name}[{i}]",
                    f"clean has {len(a)} tokens, corrupted {len(b)}: patching needs them aligned position by position",
                )
        if across_pairs and len({len(a) for a in self.clean}) > 1:
            raise invalid(
                Reason.PROMPT_LENGTHS_DIFFER,
                field_name,
                f"maps by position need every prompt of one length; got lengths {sorted({len(a) for a in self.clean})}",
            )


def normalise(value: float | torch.Tensor, clean: float, corrupted: float):
    """``(value - corrupted) / (clean - corrupted)``; 0 where clean equals corrupted."""
    span = clean - corrupted
    if abs(span) < 1e-12:
        return value * 0.0
    return (value - corrupted) / span


def check_task(
    clean: Sequence[Sequence[int]],
    corrupted: Sequence[Sequence[int]],
    answers: Sequence[int],
    wrong: Sequence[int],
    metric: str,
) -> TaskBatch:
    """Build a :class:`TaskBatch`, checking what does not depend on the model."""
    if not clean:
        raise invalid(Reason.CIRCUIT_TASK_INVALID, "task.pairs", "the task has no pairs")
    if metric not in TASK_METRICS:
        raise invalid(Reason.CIRCUIT_TASK_INVALID, "task.metric", f"unknown metric {metric!r}; one of {', '.join(TASK_METRICS)}")
    if metric == "logit_difference" and len(wrong) != len(clean):
        raise invalid(Reason.CIRCUIT_TASK_INVALID, "task.pairs", "a logit difference needs a wrong_answer in every pair")
    return TaskBatch([list(s) for s in clean], [list(s) for s in corrupted], list(answers), list(wrong), metric)
