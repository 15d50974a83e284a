"""Causal tracing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT").

1. Corrupt: Gaussian noise on the subject tokens' input embeddings, ``noise_scale`` times the
   standard deviation of the prompt's embeddings (3 by default, as in the paper), several
   seeded samples.
2. Restore: in the corrupted run, put back the clean value of one state at one token -- the
   residual stream after a block (``hidden``), or the MLP or attention output of a window of
   layers around it (``window``, 10 in the paper) -- and read the target's probability.

The indirect effect of a state is its restored probability minus the corrupted probability.
All restorations of all samples are per-sequence interventions of a few batched calls: the
clean prompt is the source row; each sample's noise is seeded by (seed + sample, position), so
the corruption is identical in every row of a sample. Position 0 is never noised: in models
with an attention sink at the first token (SmolLM2) noising it breaks every later position at
once and hides the effect being traced; a subject that is position 0 alone is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from interp_services.core.circuits.experiments import Monitor
from interp_services.core.circuits.runner import Runner
from interp_services.core.errors import invalid
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.reasons import Reason

STATES = {"hidden": "blocks.{}.hook_resid_post", "mlp": "blocks.{}.hook_mlp_out", "attn": "blocks.{}.hook_attn_out"}


@dataclass
class TraceResult:
    clean_probability: float
    corrupted_probability: float
    noise_std: float
    samples: int
    subject_positions: list[int]
    maps: dict[str, torch.Tensor] = field(default_factory=dict)  # state -> [layers, tokens]
    windows: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    dropped_first: bool = False


def window_layers(layer: int, window: int, num_layers: int) -> list[int]:
    """The layers restored together around ``layer`` (ROME: ``layer - w/2 .. layer + w/2``)."""
    lo = max(0, layer - window // 2)
    hi = min(num_layers, lo + window)
    lo = max(0, hi - window)
    return list(range(lo, hi))


def causal_trace(
    runner: Runner,
    tokens: list[int],
    target: int,
    subject_positions: list[int],
    num_layers: int,
    monitor: Monitor,
    *,
    states: list[str] | tuple[str, ...] = ("hidden", "mlp", "attn"),
    noise_scale: float = 3.0,
    samples: int = 5,
    window: int = 10,
    seed: int = 0,
) -> TraceResult:
    """Trace one prompt (see the module docstring).

    Raises:
        InvalidArgument: SUBJECT_NOT_FOUND when no subject position is left once position 0 is
            dropped -- the noise intervention would read an empty position list as "every
            position" and corrupt the whole prompt.
    """
    dropped = 0 in subject_positions
    subject = sorted(p for p in set(subject_positions) if p != 0)
    if not subject:
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject_positions",
                      f"no subject position other than 0 in {sorted(set(subject_positions))}: position 0 is never noised")
    metric_of = lambda rows: Metric("token", token_ids=[target], score="prob")  # noqa: E731 - shared id
    monitor.step(0.0, "clean run")
    base = runner.run([tokens], capture=["hook_embed"], metric=metric_of(1))
    monitor.runs += 1
    assert base.metric is not None
    clean_p = float(base.metric[0])
    emb = base.captures["hook_embed"][0].float()
    std = float(emb.std()) * noise_scale
    length = len(tokens)

    def noise(rows: list[int], sample: int) -> Intervention:
        return Intervention("hook_embed", "noise", positions=subject, sequences=rows, std=std, seed=seed + sample)

    # Experiments: (state, layer, token) x samples, plus the plain corrupted run per sample.
    cells: list[tuple[str, int, int] | None] = [None]
    for state in states:
        cells.extend((state, layer, t) for layer in range(num_layers) for t in range(length))
    experiments = [(c, s) for c in cells for s in range(samples)]
    per_row = 1 + (window if any(s != "hidden" for s in states) else 1)  # noise + restored layers
    per_call = max(1, min(runner.max_sequences - 1, runner.max_interventions // per_row))
    values: list[float] = []
    for start in range(0, len(experiments), per_call):
        chunk = experiments[start : start + per_call]
        batch = [tokens] * (len(chunk) + 1)
        ivs = []
        for i, (cell, sample) in enumerate(chunk):
            row = i + 1
            ivs.append(noise([row], sample))
            if cell is None:
                continue
            state, layer, t = cell
            restored = [layer] if state == "hidden" else window_layers(layer, window, num_layers)
            ivs.extend(
                Intervention(STATES[state].format(l_), "patch", positions=[t], sequences=[row], source_sequences=[0]) for l_ in restored
            )
        out = runner.run(batch, interventions=ivs, metric=metric_of(len(batch)))
        monitor.runs += 1
        assert out.metric is not None
        values.extend(float(v) for v in out.metric[1:])
        monitor.step((start + len(chunk)) / len(experiments), "restoring states")
    per_cell = torch.tensor(values).reshape(len(cells), samples).mean(dim=1)
    result = TraceResult(clean_p, float(per_cell[0]), std, samples, subject, runs=0, dropped_first=dropped)
    offset = 1
    for state in states:
        n = num_layers * length
        result.maps[state] = per_cell[offset : offset + n].reshape(num_layers, length)
        result.windows[state] = 1 if state == "hidden" else window
        offset += n
    result.runs = monitor.runs
    return result
