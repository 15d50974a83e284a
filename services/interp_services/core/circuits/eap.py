"""Edge attribution patching (Syed et al. 2023) and EAP-IG (Hanna et al. 2024): a score for every
edge of the graph from forward and backward passes, not one patched run per edge.

For an edge ``u -> r`` (sender output ``a_u``, receiver input ``x_r``), corrupting the edge adds
``a_u(corrupted) - a_u(clean)`` to ``x_r`` alone, so to first order the metric changes by

    score(u -> r) = sum over positions of (a_u(corrupted) - a_u(clean)) . dM/dx_r

with the gradient taken on the clean run (EAP), or averaged over ``ig_steps`` points on the
straight path from the corrupted to the clean input embeddings (EAP-IG, which fixes EAP's
blind spot where the clean run is saturated). The receivers' gradients come from the model host
at the split-input sites ``blocks.L.hook_{q,k,v}_input`` and ``blocks.L.hook_mlp_in`` and the
last ``hook_resid_post``; the senders' outputs from one capture. Scores are reported as the
estimated *normalised drop* ``-score / (clean - corrupted)`` (1: the edge carries the whole
effect), averaged over the task's pairs.

Cost: one capture of clean + corrupted prompts and one backward pass (EAP) or ``ig_steps``
(batched), whatever the number of edges; all edges' scores are then one matrix product.
"""

from __future__ import annotations

import torch

from interp_services.core.circuits.experiments import Monitor
from interp_services.core.circuits.graph import Graph, Receiver, Sender
from interp_services.core.circuits.runner import Runner
from interp_services.core.circuits.task import TaskBatch
from interp_services.core.interventions import Intervention


def sender_outputs(runner: Runner, task: TaskBatch, senders: list[Sender], monitor: Monitor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a(clean)`` and ``a(corrupted)``, each ``[senders, n, pos, d_model]``."""
    sites = list(dict.fromkeys(s.site for s in senders))
    out = runner.run([*task.clean, *task.corrupted], capture=sites)
    monitor.runs += 1
    stacked = torch.stack([_sender_value(out.captures, s) for s in senders]).float()
    return stacked[:, : task.n], stacked[:, task.n :]


def _sender_value(captures: dict[str, torch.Tensor], s: Sender) -> torch.Tensor:
    t = captures[s.site]
    return t[:, :, s.head] if s.kind == "head" else t


def _receiver_value(tensors: dict[str, torch.Tensor], r: Receiver) -> torch.Tensor:
    site, heads = r.site
    t = tensors[site]
    return t[:, :, heads[0]] if heads else t


def receiver_gradients(runner: Runner, task: TaskBatch, receivers: list[Receiver], monitor: Monitor, *, ig_steps: int = 0) -> torch.Tensor:
    """``dM/dx_r`` per receiver, ``[receivers, n, pos, d_model]``: at the clean run, or (with
    ``ig_steps``) averaged over the input path from corrupted to clean."""
    sites = list(dict.fromkeys(r.site[0] for r in receivers))
    n = task.n
    if not ig_steps:
        out = runner.run(task.clean, metric=task.metric_for(1), gradients=sites)
        monitor.runs += 1
        return torch.stack([_receiver_value(out.gradients, r) for r in receivers]).float()
    # Rows: the corrupted prompts (sources), then one group of clean prompts per step whose input
    # embeddings are alpha * clean + (1 - alpha) * corrupted (a patch that keeps alpha of the
    # current activation). Midpoints alpha = (k + 0.5) / steps: the midpoint rule of the path
    # integral, as in EAP-IG.
    alphas = [(k + 0.5) / ig_steps for k in range(ig_steps)]
    per_call = max(1, runner.max_sequences // n - 1)
    total: torch.Tensor | None = None
    for start in range(0, len(alphas), per_call):
        chunk = alphas[start : start + per_call]
        batch = [*task.corrupted]
        ivs = []
        for g, alpha in enumerate(chunk):
            rows = [n * (g + 1) + i for i in range(n)]
            ivs.append(Intervention("hook_embed", "patch", sequences=rows, source_sequences=list(range(n)), keep=alpha))
            batch.extend(task.clean)
        out = runner.run(batch, interventions=ivs, metric=task.metric_for(len(chunk) + 1), gradients=sites)
        monitor.runs += 1
        monitor.step((start + len(chunk)) / len(alphas) * 0.8 + 0.1, "integrating gradients")
        grads = torch.stack([_receiver_value(out.gradients, r) for r in receivers]).float()[:, n:]
        summed = grads.reshape(grads.shape[0], len(chunk), n, *grads.shape[2:]).sum(dim=1)
        total = summed if total is None else total + summed
    assert total is not None
    return total / len(alphas)


MEMORY_BUDGET = 256 << 20
"""Bytes of sender outputs and receiver gradients held at once; larger tasks run in chunks of
pairs whose scores are summed."""


def edge_scores(
    runner: Runner,
    task: TaskBatch,
    graph: Graph,
    clean_metric: float,
    corrupted_metric: float,
    monitor: Monitor,
    *,
    ig_steps: int = 0,
) -> torch.Tensor:
    """Estimated normalised drop per edge of ``graph.edges`` (see the module docstring)."""
    task.require_same_lengths()
    length = max(len(s) for s in task.clean)
    d_model: int | None = None
    # Bytes per pair, times d_model: clean and corrupted sender outputs, receiver gradients.
    per_pair = length * 4 * (2 * len(graph.senders) + len(graph.receivers))
    pair: torch.Tensor | None = None
    start = 0
    while start < task.n:
        if d_model is None:
            chunk = 1  # the first chunk tells d_model
        else:
            chunk = max(1, MEMORY_BUDGET // (per_pair * d_model))
        part = TaskBatch(task.clean[start : start + chunk], task.corrupted[start : start + chunk], task.answers[start : start + chunk],
                         task.wrong[start : start + chunk], task.metric)
        monitor.step(0.05 + 0.9 * start / task.n, "capturing senders")
        clean, corrupted = sender_outputs(runner, part, graph.senders, monitor)
        d_model = clean.shape[-1]
        monitor.step(0.05 + 0.9 * (start + part.n / 2) / task.n, "gradients at the receivers")
        grads = receiver_gradients(runner, part, graph.receivers, monitor, ig_steps=ig_steps)
        # Sum over every (pair, position, dimension) of every (sender, receiver) pair at once;
        # padded positions carry no gradient (the metric reads each prompt's last real token).
        n_pos = min(clean.shape[2], grads.shape[2])  # clean and corrupted prompts have equal lengths
        delta = (corrupted - clean)[:, :, :n_pos].flatten(1)
        summed = delta @ grads[:, :, :n_pos].flatten(1).T
        pair = summed if pair is None else pair + summed
        start += part.n
    assert pair is not None
    pair = pair / task.n
    s_index = {s: i for i, s in enumerate(graph.senders)}
    r_index = {r: i for i, r in enumerate(graph.receivers)}
    rows = torch.tensor([s_index[e.sender] for e in graph.edges])
    cols = torch.tensor([r_index[e.receiver] for e in graph.edges])
    raw = pair[rows, cols]
    span = clean_metric - corrupted_metric
    return -raw / span if abs(span) > 1e-12 else raw * 0.0
