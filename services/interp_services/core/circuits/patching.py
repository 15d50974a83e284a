"""Activation patching maps (Meng et al. 2022; Wang et al. 2022) and attribution patching, their
first-order estimate (Nanda 2023).

Activation patching runs the *corrupted* prompts with one activation taken from the clean run
(one site, one position or all positions, one head) and reads the normalised metric
``(m - corrupted) / (clean - corrupted)``: 1 where that activation alone restores the clean
behaviour. Every cell is one group of rows in a batched call whose source rows are the clean
prompts (``ActivationPatch`` with ``source_sequences``), so a sweep of layers x positions is a
handful of model-host calls, not one per cell.

Attribution patching estimates every cell at once from the corrupted run's gradient:
``(a(clean) - a(corrupted)) . dM/da`` summed over the cell, normalised the same way. It agrees
with activation patching where the model is close to linear between the two runs (the residual
stream of small models, most heads) and is known to miss saturated components.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from interp_services.core.circuits.experiments import Monitor, run_groups
from interp_services.core.circuits.runner import Runner
from interp_services.core.circuits.task import TaskBatch, normalise
from interp_services.core.interventions import Intervention

COMPONENTS = {
    "resid_pre": "blocks.{}.hook_resid_pre",
    "attn_out": "blocks.{}.hook_attn_out",
    "mlp_out": "blocks.{}.hook_mlp_out",
    "head_result": "blocks.{}.attn.hook_result",
}
"""Patchable components and their hook sites."""


@dataclass
class PatchingMap:
    """One map: ``values[row][col]`` normalised metric."""

    component: str
    row_label: str
    col_label: str
    rows: list[str]
    cols: list[str]
    values: torch.Tensor  # [rows, cols]


@dataclass
class PatchingResult:
    clean_metric: float
    corrupted_metric: float
    maps: list[PatchingMap] = field(default_factory=list)
    method: str = "activation"
    runs: int = 0


def _cells(component: str, layers: int, heads: int, length: int, per_position: bool) -> tuple[list[tuple[int, int | None, int | None]], str, list[str]]:
    """(layer, position or None, head or None) per cell, the column label and column names."""
    if component == "head_result":
        return [(layer, None, h) for layer in range(layers) for h in range(heads)], "head", [str(h) for h in range(heads)]
    if per_position:
        return [(layer, p, None) for layer in range(layers) for p in range(length)], "position", []
    return [(layer, None, None) for layer in range(layers)], "all positions", ["all"]


def activation_patching(
    runner: Runner,
    task: TaskBatch,
    info,
    components: list[str],
    clean: float,
    corrupted: float,
    monitor: Monitor,
    *,
    per_position: bool = False,
    tokens: list[str] | None = None,
) -> list[PatchingMap]:
    """Denoising maps: clean activations patched into the corrupted run, cell by cell."""
    task.require_same_lengths(across_pairs=per_position)
    length = len(task.clean[0])
    maps = []
    for comp in components:
        cells, _, _ = _cells(comp, info.num_layers, info.num_heads, length, per_position)
        site = COMPONENTS[comp]

        def builder(cell):
            layer, pos, head = cell

            def build(rows: list[int], sources: list[int]) -> list[Intervention]:
                return [
                    Intervention(
                        site.format(layer),
                        "patch",
                        positions=[] if pos is None else [pos],
                        heads=[] if head is None else [head],
                        sequences=rows,
                        source_sequences=sources,
                    )
                ]

            return build

        result = run_groups(runner, task, [builder(c) for c in cells], base="corrupted", source="clean", monitor=monitor, stage=f"patching {comp}")
        maps.append(_map(comp, info, length, per_position, tokens, normalise(result.values, clean, corrupted)))
    return maps


def _map(component: str, info, length: int, per_position: bool, tokens: list[str] | None, values: torch.Tensor) -> PatchingMap:
    """A map of ``values`` (one per cell of :func:`_cells`, in order) with its labels."""
    _, col_label, cols = _cells(component, info.num_layers, info.num_heads, length, per_position)
    cols = cols or tokens or [str(p) for p in range(length)]
    rows = [str(layer) for layer in range(info.num_layers)]
    return PatchingMap(component, "layer", col_label, rows, cols, values.reshape(info.num_layers, len(cols)))


def attribution_patching(
    runner: Runner,
    task: TaskBatch,
    info,
    components: list[str],
    clean: float,
    corrupted: float,
    monitor: Monitor,
    *,
    per_position: bool = False,
    tokens: list[str] | None = None,
) -> list[PatchingMap]:
    """The same maps estimated from one clean capture and one corrupted backward pass."""
    task.require_same_lengths(across_pairs=per_position)
    length = len(task.clean[0])
    sites = [COMPONENTS[c].format(layer) for c in components for layer in range(info.num_layers)]
    monitor.step(0.1, "capturing the clean run")
    clean_run = runner.run(task.clean, capture=sites)
    monitor.step(0.4, "corrupted run with gradients")
    corrupt_run = runner.run(task.corrupted, capture=sites, metric=task.metric_for(1), gradients=sites)
    monitor.runs += 2
    maps = []
    for comp in components:
        rows = []
        for layer in range(info.num_layers):
            site = COMPONENTS[comp].format(layer)
            est = ((clean_run.captures[site] - corrupt_run.captures[site]) * corrupt_run.gradients[site]).float()
            # [n, pos, (head,) d] -> mean over pairs, sum over the cell's entries
            est = est.sum(dim=-1).mean(dim=0)  # [pos] or [pos, head]
            if comp == "head_result":
                rows.append(est.sum(dim=0))
            elif per_position:
                rows.append(est[:length])
            else:
                rows.append(est.sum(dim=0, keepdim=True))
        values = torch.stack(rows)
        span = clean - corrupted
        maps.append(_map(comp, info, length, per_position, tokens, values / span if abs(span) > 1e-12 else values * 0.0))
    return maps
