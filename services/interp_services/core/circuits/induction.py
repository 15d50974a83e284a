"""Algorithm discovery for in-context copying: find the previous-token -> induction circuit
(Elhage et al. 2021; Olsson et al. 2022) and confirm it by ablation.

1. Head detection on repeated random sequences names previous-token and induction heads.
2. A copying task -- clean ``r + r[:-1]`` (the answer ``r[-1]`` can be copied), corrupted
   ``r' + r[:-1]`` with ``r'`` another random sequence (nothing to copy), metric the answer's
   log-probability -- and EAP-IG over the attention-only graph scores every edge; the induction
   circuit is the previous-token head's output read by an induction head's *key*
   (K-composition). Plain EAP misses that edge on the project's toy model: both heads' softmax
   is saturated on the clean run, so the gradient at the key input is near zero there, while
   the integrated gradients along the corrupted -> clean path see it (measured against
   exhaustive edge patching in ``tests/test_circuits_core.py``).
3. Ablation: the loss on the copyable tokens (the second half of ``r + r``) with the
   previous-token heads, or the induction heads, mean-ablated. A model that cannot copy scores
   ``ln(alphabet size)`` there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from interp_services.core.circuits.circuit import FoundCircuit, evaluate_circuit, select_edges
from interp_services.core.circuits.eap import edge_scores
from interp_services.core.circuits.experiments import Monitor, baseline_metrics
from interp_services.core.circuits.graph import build_graph
from interp_services.core.circuits.heads import HeadScores, detect_heads, repeated_sequences
from interp_services.core.circuits.runner import Runner
from interp_services.core.circuits.task import TaskBatch
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric

IG_STEPS = 5
ROLE_THRESHOLD = 0.4
"""A head has a role when at least this share of its attention goes to the role's keys (the
attention service's threshold)."""


@dataclass
class InductionResult:
    heads: HeadScores
    previous_token_heads: list[tuple[int, int]]
    induction_heads: list[tuple[int, int]]
    circuit: FoundCircuit | None
    clean_metric: float
    corrupted_metric: float
    loss: float
    loss_without_previous_token: float
    loss_without_induction: float
    uniform_loss: float
    findings: list[str] = field(default_factory=list)


def copying_task(token_pool: list[int], length: int, count: int, seed: int) -> TaskBatch:
    """Clean ``r + r[:-1]`` -> ``r[-1]``; corrupted ``r' + r[:-1]``; metric: the answer's
    log-probability."""
    clean_full = repeated_sequences(token_pool, length, count, seed)
    other = repeated_sequences(token_pool, length, count, seed + 10_007)
    clean = [s[:-1] for s in clean_full]
    corrupted = [o[:length] + s[length:-1] for s, o in zip(clean_full, other, strict=True)]
    answers = [s[-1] for s in clean_full]
    return TaskBatch(clean, corrupted, answers, [], "log_probability")


def copy_loss(runner: Runner, seqs: list[list[int]], length: int, monitor: Monitor, ablate: list[tuple[int, int]] | None = None) -> float:
    """Mean next-token loss over the copyable positions of ``r + r`` sequences (one row per
    (sequence, position), so the model host's per-sequence metric reads each)."""
    rows, targets, positions = [], [], []
    for s in seqs:
        for q in range(length, 2 * length - 1):
            rows.append(s)
            targets.append(s[q + 1])
            positions.append(q)
    ivs = []
    for layer, head in ablate or []:
        ivs.append(Intervention(f"blocks.{layer}.attn.hook_result", "mean", heads=[head]))
    out = runner.run(rows, interventions=ivs, metric=Metric("token", token_ids=targets, positions=positions, score="log_prob"))
    monitor.runs += 1
    assert out.metric is not None
    return float(-out.metric.float().mean())


def find_induction(
    runner: Runner, info, token_pool: list[int], monitor: Monitor, *, length: int = 20, count: int = 8, seed: int = 0
) -> InductionResult:
    """Run the three steps of the module docstring."""
    length = max(4, min(length, len(token_pool)))
    heads = detect_heads(runner, info, token_pool, monitor, length=length, count=count, seed=seed)
    prev = [(layer, h) for layer, h in (heads.previous_token >= ROLE_THRESHOLD).nonzero().tolist()]
    ind = [(layer, h) for layer, h in (heads.induction >= ROLE_THRESHOLD).nonzero().tolist()]
    monitor.step(0.2, "EAP-IG on the copying task")
    task = copying_task(token_pool, length, count, seed + 1)
    clean, corrupted = baseline_metrics(runner, task, monitor)
    graph = build_graph(info, "attention_only")
    scores = edge_scores(runner, task, graph, clean, corrupted, monitor, ig_steps=IG_STEPS)
    circuit = FoundCircuit("attention_only", select_edges(graph, scores, threshold=0.2, top_edges=0), {}, len(graph.edges), 0.2)
    circuit.scores = {e: float(s) for e, s in zip(graph.edges, scores.tolist(), strict=True) if e in set(circuit.edges)}
    evaluate_circuit(runner, task, graph, circuit, clean, corrupted, monitor)
    monitor.step(0.8, "ablations")
    seqs = repeated_sequences(token_pool, length, count, seed + 2)
    loss = copy_loss(runner, seqs, length, monitor)
    loss_prev = copy_loss(runner, seqs, length, monitor, prev) if prev else loss
    loss_ind = copy_loss(runner, seqs, length, monitor, ind) if ind else loss
    uniform = math.log(len(token_pool))
    result = InductionResult(heads, prev, ind, circuit, clean, corrupted, loss, loss_prev, loss_ind, uniform)
    name = lambda lh: f"a{lh[0]}.h{lh[1]}"  # noqa: E731
    f = result.findings
    if prev:
        f.append(f"Previous-token heads: {', '.join(map(name, prev))} (score >= {ROLE_THRESHOLD}).")
    if ind:
        f.append(f"Induction heads: {', '.join(map(name, ind))}.")
    k_edges = [e for e in circuit.edges if e.receiver.input == "k" and (e.sender.layer, e.sender.head) in prev]
    if k_edges:
        f.append(
            "K-composition found: " + ", ".join(f"{e.sender.name} -> {e.receiver.node} (key)" for e in k_edges)
            + " -- the previous-token head's output is what the induction head's keys read."
        )
    f.append(
        f"Loss on copyable tokens {loss:.3f}; with the previous-token heads ablated {loss_prev:.3f}; with the induction "
        f"heads ablated {loss_ind:.3f}; a model that cannot copy scores ln({len(token_pool)}) = {uniform:.3f}."
    )
    f.append(f"The EAP-IG circuit ({len(circuit.edges)} edges) keeps {circuit.metric_recovered:.0%} of the copying effect.")
    return result
