"""Circuit discovery: every experiment is a sequence of model-host runs (see :mod:`.runner`).

One method per module: :mod:`.patching` (activation and attribution patching maps),
:mod:`.eap` (EAP, EAP-IG), :mod:`.acdc` (edge patching, ACDC), :mod:`.circuit` (selection,
faithfulness, minimality), :mod:`.tracing` (causal tracing), :mod:`.heads` (head detectors),
:mod:`.induction` and :mod:`.modular` (algorithm discovery on toy models), :mod:`.fourier`.
"""

from interp_services.core.circuits.acdc import acdc, exhaustive_edge_patching, metric_with_edges_removed
from interp_services.core.circuits.circuit import FoundCircuit, evaluate_circuit, select_edges
from interp_services.core.circuits.eap import edge_scores
from interp_services.core.circuits.experiments import Monitor, baseline_metrics, run_groups
from interp_services.core.circuits.graph import (
    CIRCUIT_TYPES,
    Edge,
    Graph,
    Receiver,
    Sender,
    build_graph,
    edge_interventions,
    parse_nodes,
)
from interp_services.core.circuits.heads import HeadScores, detect_heads, repeated_sequences
from interp_services.core.circuits.induction import InductionResult, copying_task, find_induction
from interp_services.core.circuits.patching import COMPONENTS, PatchingMap, activation_patching, attribution_patching
from interp_services.core.circuits.runner import LocalRunner, Runner, RunResult
from interp_services.core.circuits.task import TASK_METRICS, TaskBatch, check_task, normalise
from interp_services.core.circuits.tracing import STATES, TraceResult, causal_trace

__all__ = [
    "CIRCUIT_TYPES",
    "COMPONENTS",
    "STATES",
    "TASK_METRICS",
    "Edge",
    "FoundCircuit",
    "Graph",
    "HeadScores",
    "InductionResult",
    "LocalRunner",
    "Monitor",
    "PatchingMap",
    "Receiver",
    "RunResult",
    "Runner",
    "Sender",
    "TaskBatch",
    "TraceResult",
    "acdc",
    "activation_patching",
    "attribution_patching",
    "baseline_metrics",
    "build_graph",
    "causal_trace",
    "check_task",
    "copying_task",
    "detect_heads",
    "edge_interventions",
    "edge_scores",
    "evaluate_circuit",
    "exhaustive_edge_patching",
    "find_induction",
    "metric_with_edges_removed",
    "normalise",
    "parse_nodes",
    "repeated_sequences",
    "run_groups",
    "select_edges",
]
