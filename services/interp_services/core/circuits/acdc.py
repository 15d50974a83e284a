"""Edge patching: the task metric with a set of edges corrupted, measured -- the ground truth
that EAP estimates -- and ACDC (Conmy et al. 2023), greedy pruning built on it.

An edge ``u -> r`` is *corrupted* (ablated) when the receiver input ``r`` sees the sender's
output on the corrupted prompt (``resample``) or its mean over the corrupted prompts (``mean``)
instead of its current output; every other path is untouched (``EdgePatch`` interventions of
the model host, with the corrupted prompts as source rows of the same batch). The mean is taken
position by position (position 0 included) over all of the task's corrupted prompts, which every
call carries. Mean ablation also removes what clean and corrupted prompts share (e.g. the
induction head's query token of the copying task, which resampling leaves in place), so a
circuit found under resampling can keep little under mean ablation: judge a circuit with the
ablation it was found with.

ACDC visits receivers from the logits back to the first layer; for each incoming edge it tries
removing it on top of everything already removed, and keeps it removed when the normalised
metric drops by less than ``threshold``. Receivers whose node no longer reaches the logits lose
all their incoming edges unvisited (nothing they read can matter). A receiver reaches the logits
when a sender it feeds keeps an outgoing edge: a head's query input feeds that head; a key/value
input feeds the heads of its group (``a{L}.kv{G}`` with grouped-query attention), so its edges
are tested while any query head of the group is still in the circuit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from interp_services.core.circuits.experiments import Monitor, run_groups
from interp_services.core.circuits.graph import Edge, Graph, edge_interventions
from interp_services.core.circuits.runner import Runner
from interp_services.core.circuits.task import TaskBatch


def metric_with_edges_removed(
    runner: Runner,
    task: TaskBatch,
    edge_sets: Sequence[Sequence[Edge]],
    monitor: Monitor,
    *,
    ablation: str = "resample",
    stage: str = "patching edges",
) -> torch.Tensor:
    """The mean task metric on the clean prompts with each set of edges corrupted, ``[sets]``."""
    task.require_same_lengths()
    mean = ablation == "mean"

    def builder(edges: Sequence[Edge]):
        def build(rows: list[int], sources: list[int]):
            return edge_interventions(edges, rows, sources, mean=mean)

        return build

    result = run_groups(runner, task, [builder(s) for s in edge_sets], base="clean", source="corrupted", monitor=monitor, stage=stage)
    return result.values


def exhaustive_edge_patching(
    runner: Runner, task: TaskBatch, graph: Graph, clean: float, corrupted: float, monitor: Monitor, *, ablation: str = "resample"
) -> torch.Tensor:
    """Measured normalised drop ``(clean - m) / (clean - corrupted)`` per edge, each corrupted
    alone (one batched group per edge)."""
    values = metric_with_edges_removed(runner, task, [[e] for e in graph.edges], monitor, ablation=ablation)
    span = clean - corrupted
    return (clean - values) / span if abs(span) > 1e-12 else values * 0.0


def acdc(
    runner: Runner,
    task: TaskBatch,
    graph: Graph,
    clean: float,
    corrupted: float,
    threshold: float,
    monitor: Monitor,
    *,
    ablation: str = "resample",
) -> tuple[list[Edge], dict[Edge, float], float]:
    """Greedy pruning; returns the kept edges, each tested edge's normalised drop when it was
    tested, and the metric of the final circuit."""
    span = clean - corrupted if abs(clean - corrupted) > 1e-12 else 1.0
    removed: list[Edge] = []
    kept: set[Edge] = set(graph.edges)
    drops: dict[Edge, float] = {}
    current = clean
    order = sorted(graph.receivers, key=lambda r: r.order, reverse=True)
    incoming = {r: [e for e in graph.edges if e.receiver == r] for r in graph.receivers}
    feeds = {node: {s for s in graph.senders if node in graph.receiver_nodes(s)} for node in {r.node for r in graph.receivers}}
    total = len(graph.edges)
    done = 0
    for r in order:
        # A receiver's node must still reach the logits through kept edges of the senders it feeds.
        if r.kind != "logits" and not any(e.sender in feeds[r.node] for e in kept):
            for e in incoming[r]:
                kept.discard(e)
                removed.append(e)
            done += len(incoming[r])
            continue
        for e in sorted(incoming[r], key=lambda e: e.sender.order, reverse=True):
            trial = metric_with_edges_removed(runner, task, [[*removed, e]], monitor, ablation=ablation, stage="ACDC")
            m = float(trial[0])
            drop = (current - m) / span
            drops[e] = drop
            if drop < threshold:
                removed.append(e)
                kept.discard(e)
                current = m
            done += 1
            monitor.step(done / total, "ACDC")
    return [e for e in graph.edges if e in kept], drops, current
