"""The one thing circuit discovery asks of a model: run a batch of token ids with typed
interventions, captures, a metric and its gradients.

Every experiment of this package is a sequence of such runs, each of which is exactly one
``RunModel`` request of the model host (``interp.v1.RunModelRequest``): a Go or TypeScript client
could replay it. The service passes a runner that sends those requests to the model host
(``interp_services.rpc.circuits``); tests and the in-process benchmark pass
:class:`LocalRunner`, which calls the same core function the model host runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric


@dataclass
class RunResult:
    """What one run returns.

    Attributes:
        captures: site -> tensor, batch first, padded to the batch's longest sequence.
        gradients: site -> gradient of the summed metric, shaped like the capture.
        metric: ``[batch]`` metric values, when a metric was given.
        top_ids: per sequence, the ``top_k`` most likely next-token ids after its last token.
    """

    captures: dict[str, torch.Tensor] = field(default_factory=dict)
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    metric: torch.Tensor | None = None
    top_ids: list[list[int]] = field(default_factory=list)


class Runner(Protocol):
    """Runs one model-host request (see the module docstring)."""

    def run(
        self,
        batch: Sequence[Sequence[int]],
        *,
        capture: Sequence[str] = (),
        interventions: Sequence[Intervention] = (),
        metric: Metric | None = None,
        gradients: Sequence[str] = (),
        top_k: int = 0,
    ) -> RunResult: ...

    @property
    def max_sequences(self) -> int:
        """Most sequences one run may carry (experiments are split into runs of this size)."""
        ...

    @property
    def max_interventions(self) -> int:
        """Most interventions one run may carry."""
        ...

    def forward_rows(self, length: int) -> int:
        """Most sequences of ``length`` tokens one forward-only run (a metric, no gradients, no
        captures) may carry. Such runs hold one layer's activations at a time, so they may be
        larger than ``max_sequences``, which bounds the runs that keep activations for a
        backward pass (a sweep of many cells packs its groups up to this)."""
        ...


class LocalRunner:
    """A :class:`Runner` over a model loaded in this process (tests, scripts, benchmarks)."""

    def __init__(self, loaded, max_sequences: int = 64, max_interventions: int = 1024, forward_tokens: int = 4096) -> None:
        self.loaded = loaded
        self._max_sequences = max_sequences
        self._max_interventions = max_interventions
        self._forward_tokens = forward_tokens

    @property
    def max_sequences(self) -> int:
        return self._max_sequences

    @property
    def max_interventions(self) -> int:
        return self._max_interventions

    def forward_rows(self, length: int) -> int:
        """``forward_tokens`` padded tokens, and never fewer rows than ``max_sequences``."""
        return max(self._max_sequences, self._forward_tokens // max(1, length))

    def run(
        self,
        batch: Sequence[Sequence[int]],
        *,
        capture: Sequence[str] = (),
        interventions: Sequence[Intervention] = (),
        metric: Metric | None = None,
        gradients: Sequence[str] = (),
        top_k: int = 0,
    ) -> RunResult:
        from interp_services.core.run import run_model

        out = run_model(
            self.loaded,
            batch,
            capture=capture,
            interventions=interventions,
            metric=metric,
            gradients=gradients,
            top_k=top_k,
        )
        return RunResult(
            captures=out.captures,
            gradients=out.gradients,
            metric=out.metric,
            top_ids=[[t.token_id for t in row] for row in out.top_next],
        )
