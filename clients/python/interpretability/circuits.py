"""Circuit discovery from Python: the mechanistic-interpretability classes of the suite.

Every call goes to the fleet's CircuitsService, whose experiments are typed model-host runs; a
task is data (:func:`interpretability.circuit_tasks.load_circuit_task`, or the built-in ``"ioi"``
and ``"factual_recall"`` tasks for the packaged SmolLM2).

Example:
    >>> from interpretability.circuits import MechanisticAnalyzer
    >>> analyzer = MechanisticAnalyzer()  # doctest: +SKIP
    >>> circuits = analyzer.discover_circuits(  # doctest: +SKIP
    ...     model="smollm2-135m", task="indirect_object_identification", method="eap_ig",
    ...     circuit_types=["attention_only", "mlp_only", "mixed"])
    >>> info_flow = analyzer.trace_information_flow(  # doctest: +SKIP
    ...     model="smollm2-135m", input_text="The Eiffel Tower is located in the city of",
    ...     target_prediction=" Paris", flow_method="causal_tracing", subject="Eiffel Tower")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from interp.v1 import circuits_service_pb2 as cipb
from interp.v1 import common_pb2 as cpb
from interpretability.circuit_tasks import CircuitTask, load_circuit_task
from interpretability.client import Analyzer
from interpretability.results import message_to_dict

__all__ = ["AlgorithmDiscovery", "MechanisticAnalyzer", "task_message", "report_data"]

TASK_ALIASES = {"indirect_object_identification": "ioi", "ioi": "ioi", "factual_recall": "factual_recall", "factual": "factual_recall"}
"""Names of the built-in tasks as the seed and papers spell them."""
METHOD_ALIASES = {"activation_patching": "edge_patching", "edge_patching": "edge_patching", "attribution_patching": "eap", "eap": "eap",
                  "eap_ig": "eap_ig", "acdc": "acdc"}
"""``discover_circuits`` methods: activation patching of every edge (exhaustive), its
attribution-patching estimate (EAP), EAP-IG, ACDC."""
ALGORITHM_ALIASES = {"modular_arithmetic": "modular_addition", "modular_addition": "modular_addition", "induction": "induction",
                     "in_context_copying": "induction"}


def task_message(task: CircuitTask | str | Path | cipb.CircuitTask) -> cipb.CircuitTask:
    """A task as the service's message: a :class:`CircuitTask`, a built-in name or a JSON file."""
    if isinstance(task, cipb.CircuitTask):
        return task
    if not isinstance(task, CircuitTask):
        task = load_circuit_task(TASK_ALIASES.get(str(task), str(task)))
    metric = cipb.TaskMetric.Value("TASK_METRIC_" + task.metric.upper())
    return cipb.CircuitTask(name=task.name, metric=metric, pairs=[
        cipb.PromptPair(clean=p.clean, corrupted=p.corrupted, answer=p.answer, wrong_answer=p.wrong_answer, subject=p.subject)
        for p in task.pairs
    ])


def report_data(result: Any, *, model: str = "", task: str = "", circuit: int = 0) -> dict:
    """The dict the HTML reports render (``interpretability.report.circuits``) for a result
    message; for a ``CircuitResult`` one of its circuits with the result's figures."""
    data = message_to_dict(result)
    data.update(model=model, task=task)
    if isinstance(result, cipb.PatchingResult):
        data["kind"] = "patching"
        data["method"] = "attribution_patching" if result.method == cipb.PATCHING_METHOD_ATTRIBUTION else "activation_patching"
    elif isinstance(result, cipb.CausalTrace):
        data["kind"] = "causal_tracing"
    elif isinstance(result, cipb.CircuitResult):
        c = message_to_dict(result.circuits[circuit]) if result.circuits else {}
        data = {**c, "kind": "circuit", "model": model, "task": task, "method": data.get("method", "eap"),
                "circuit_types": [c.get("circuit_type", "mixed")], "clean_metric": result.clean_metric,
                "corrupted_metric": result.corrupted_metric, "ablation": data.get("ablation", "resample"),
                "edges_kept": len(result.circuits[circuit].edges) if result.circuits else 0, "findings": list(result.findings)}
    return data


class MechanisticAnalyzer(Analyzer):
    """Circuits and information flow of a model on a task.

    Args:
        client: a connected :class:`Client` (default: one to ``endpoint``).
    """

    def discover_circuits(
        self,
        model: str,
        task: CircuitTask | str | Path | cipb.CircuitTask,
        method: str = "activation_patching",
        circuit_types: Sequence[str] = ("mixed",),
        *,
        threshold: float = 0.0,
        top_edges: int = 0,
        ig_steps: int = 0,
        ablation: str = "resample",
        minimality: bool = False,
        on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
        timeout: float | None = None,
    ) -> cipb.CircuitResult:
        """One circuit per type over the graph of heads and MLPs.

        Args:
            task: a built-in task (``"indirect_object_identification"``/``"ioi"``,
                ``"factual_recall"``), a task JSON file, or a loaded task.
            method: ``"activation_patching"`` (every edge patched alone -- exact, one batched
                group per edge, for small graphs), ``"attribution_patching"``/``"eap"``,
                ``"eap_ig"``, or ``"acdc"``.
            circuit_types: from ``"attention_only"``, ``"mlp_only"``, ``"mixed"``.
            threshold: ACDC's pruning threshold, or the share of the top |score| an edge needs.
            top_edges: keep the N best edges instead of thresholding (scored methods).
            ig_steps: ``eap_ig``: points on the path from the corrupted to the clean input the
                gradients are averaged over (0: the service's default, 5; at most 50).
            ablation: how edges outside the circuit are ablated: ``"resample"`` or ``"mean"``.

        Returns:
            A ``CircuitResult``: each circuit's nodes, edges with scores, and the share of the
            task metric it keeps with everything else ablated; findings in words.
        """
        if method not in METHOD_ALIASES:
            raise ValueError(f"unknown method {method!r}; one of {', '.join(METHOD_ALIASES)}")
        return self.client.discover_circuit(
            model, task_message(task), method=METHOD_ALIASES[method], circuit_types=circuit_types, threshold=threshold,
            top_edges=top_edges, ig_steps=ig_steps, ablation=ablation, minimality=minimality, on_progress=on_progress, timeout=timeout,
        )

    def trace_information_flow(
        self,
        model: str,
        input_text: str,
        target_prediction: str = "",
        flow_method: str = "causal_tracing",
        *,
        subject: str = "",
        subject_positions: Sequence[int] = (),
        states: Sequence[str] = (),
        samples: int = 0,
        noise_scale: float = 0.0,
        window: int = 0,
        seed: int = 0,
        on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
        timeout: float | None = None,
    ) -> cipb.CausalTrace:
        """Where the information that decides ``target_prediction`` flows (ROME's causal
        tracing): the subject's embeddings noised, each state restored in turn.

        Args:
            target_prediction: the predicted token to trace (default: the model's top
                prediction).
            flow_method: ``"causal_tracing"``.
            subject: the substring of ``input_text`` to corrupt (or ``subject_positions``).
            states: from ``"hidden"``, ``"mlp"``, ``"attn"`` (default all three).
        """
        if flow_method != "causal_tracing":
            raise ValueError(f"unknown flow_method {flow_method!r}; supported: causal_tracing")
        return self.client.trace_causal_flow(
            model, input_text, subject=subject, subject_positions=subject_positions, target=target_prediction, states=states,
            noise_scale=noise_scale, samples=samples, window=window, seed=seed, on_progress=on_progress, timeout=timeout,
        )


class AlgorithmDiscovery(Analyzer):
    """How a (toy) model implements an algorithm, found by intervention and confirmed by
    ablation."""

    def find_algorithm_implementation(
        self,
        model: str,
        algorithm: str = "modular_arithmetic",
        search_method: str = "causal_intervention",
        validation_method: str = "ablation_study",
        *,
        modulus: int = 0,
        seed: int = 0,
        on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
        timeout: float | None = None,
    ) -> cipb.AlgorithmResult:
        """Find the algorithm's components in ``model``.

        Args:
            model: a model trained on the algorithm, e.g. the project's modular-addition model
                (``python -m tests.toy_models.modular_addition --out DIR``) or in-context-bigram
                model (``python -m tests.toy_models.induction --out DIR``).
            algorithm: ``"modular_arithmetic"`` (key Fourier frequencies of the embeddings) or
                ``"induction"`` (the previous-token -> induction circuit).
            search_method: ``"causal_intervention"``.
            validation_method: ``"ablation_study"``.
        """
        if algorithm not in ALGORITHM_ALIASES:
            raise ValueError(f"unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHM_ALIASES)}")
        if search_method != "causal_intervention":
            raise ValueError(f"unknown search_method {search_method!r}; supported: causal_intervention")
        if validation_method != "ablation_study":
            raise ValueError(f"unknown validation_method {validation_method!r}; supported: ablation_study")
        return self.client.find_algorithm(model, ALGORITHM_ALIASES[algorithm], modulus=modulus, seed=seed, on_progress=on_progress,
                                          timeout=timeout)
