"""From edge scores to a circuit, and how faithful the circuit is.

Scored methods (EAP, EAP-IG, edge patching) grow the circuit from the logits back, best edge
first, to ``top_edges`` edges or down to ``threshold`` times the largest |score|
(:func:`select_edges`). ACDC's kept edges are its circuit. Faithfulness: the task metric with every edge *outside*
the circuit ablated, normalised -- the share of the clean-vs-corrupted gap the circuit keeps;
minimality: per circuit edge, the normalised drop when that edge alone is removed as well.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import torch

from interp_services.core.circuits.acdc import metric_with_edges_removed
from interp_services.core.circuits.experiments import Monitor
from interp_services.core.circuits.graph import Edge, Graph
from interp_services.core.circuits.runner import Runner
from interp_services.core.circuits.task import TaskBatch, normalise


@dataclass
class FoundCircuit:
    circuit_type: str
    edges: list[Edge]
    scores: dict[Edge, float]
    edges_total: int
    threshold: float
    top_edges: int = 0
    circuit_metric: float = 0.0
    metric_recovered: float = 0.0
    minimality: dict[Edge, float] = field(default_factory=dict)

    def node_scores(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.edges:
            s = abs(self.scores.get(e, 0.0))
            out[e.sender.name] = out.get(e.sender.name, 0.0) + s
            out[e.receiver.node] = out.get(e.receiver.node, 0.0) + s
        return out


def select_edges(graph: Graph, scores: torch.Tensor, *, threshold: float, top_edges: int) -> list[Edge]:
    """The circuit of a scored graph, grown greedily from the logits back (Hanna et al. 2024):
    among the edges into nodes already in the circuit (the logits at first) the one with the
    largest |score| joins, and its sender's own inputs become candidates -- until ``top_edges``
    edges, or (``top_edges`` 0) until the best candidate is below ``threshold`` x the largest
    |score|. Every kept edge therefore lies on a path to the logits, which the top edges of a
    large graph taken blindly often do not."""
    mags = scores.abs().tolist()
    peak = max(mags, default=0.0)
    cut = 0.0 if top_edges else threshold * peak
    limit = top_edges or len(graph.edges)
    into: dict[str, list[int]] = {}
    for i, e in enumerate(graph.edges):
        into.setdefault(e.receiver.node, []).append(i)
    heap: list[tuple[float, int]] = []
    reached: set[str] = set()

    def reach(node: str) -> None:
        if node in reached:
            return
        reached.add(node)
        for i in into.get(node, []):
            heapq.heappush(heap, (-mags[i], i))

    reach("logits")
    kept: list[Edge] = []
    while heap and len(kept) < limit:
        neg, i = heapq.heappop(heap)
        if peak <= 0 or -neg < cut or -neg == 0:
            break
        e = graph.edges[i]
        kept.append(e)
        for node in graph.receiver_nodes(e.sender):
            reach(node)
    return kept


def evaluate_circuit(
    runner: Runner,
    task: TaskBatch,
    graph: Graph,
    found: FoundCircuit,
    clean: float,
    corrupted: float,
    monitor: Monitor,
    *,
    ablation: str = "resample",
    minimality: bool = False,
) -> FoundCircuit:
    """Fill in the circuit's metric, the share it recovers and (optionally) minimality."""
    inside = set(found.edges)
    outside = [e for e in graph.edges if e not in inside]
    sets = [outside]
    if minimality:
        sets.extend([*outside, e] for e in found.edges)
    values = metric_with_edges_removed(runner, task, sets, monitor, ablation=ablation, stage="faithfulness")
    found.circuit_metric = float(values[0])
    found.metric_recovered = float(normalise(values[0], clean, corrupted))
    if minimality:
        span = clean - corrupted if abs(clean - corrupted) > 1e-12 else 1.0
        for e, v in zip(found.edges, values[1:].tolist(), strict=True):
            found.minimality[e] = (found.circuit_metric - v) / span
    return found
