"""CircuitsService servicer: patching, EAP / EAP-IG, ACDC, causal tracing, head detection and
algorithm discovery, every experiment a sequence of ``RunModel`` calls.

The service holds no weights (``ServiceSpec.holds_weights`` is false). Circuit discovery needs
many forward passes and some backward passes, but each is one typed model-host request: patches
copy values from other sequences of the same batch (clean and corrupted prompts run together),
edges are ``EdgePatch`` interventions, gradients are the model host's metric gradients at the
split-input sites. So nothing here needs autograd next to the weights, the model host's batcher
and cache serve every analysis, and a Go or TypeScript client could replay any experiment --
:class:`HostRunner` is the only place that speaks to the model host.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
import torch

from interp.v1 import circuits_service_pb2 as pb
from interp.v1 import model_host_service_pb2 as mh
from interp_services.core import circuits as core
from interp_services.core.circuits.runner import RunResult
from interp_services.core.errors import Cancelled, ResourceExhausted, invalid
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.reasons import Reason
from interp_services.rpc.clients import ServiceClient
from interp_services.rpc.codec import DeliveryPolicy, encode_raw
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.rpc.toolkit import (
    ActivationReader,
    DatasetRunner,
    ModelInfoCache,
    check_texts,
    enum_choice,
    progress,
    streamed,
)
from interp_services.store.base import TensorStore

MAX_PAIRS = 64
"""Prompt pairs of one task (each experiment runs all of them)."""
MAX_PATCHED_EDGES = 5000
"""Edges ACDC and exhaustive edge patching may test one by one in a request."""
MAX_RUN_SEQUENCES = 64
"""Sequences per model-host call that keeps activations for a backward pass (EAP's gradients)."""
MAX_FORWARD_TOKENS = 4096
"""Padded tokens (sequences x longest) per forward-only model-host call: a sweep packs its
groups up to this, and up to the model host's own ``max_batch`` sequences per RunModel (it
bounds nothing else per request). 4096 keeps a 32-pair task of ~15-token prompts at 7 cells
per call, below the 64 x 512 tokens one backward-sized call may already hold."""

_METRICS = {pb.TASK_METRIC_UNSPECIFIED: "logit_difference", pb.TASK_METRIC_LOGIT_DIFFERENCE: "logit_difference",
            pb.TASK_METRIC_PROBABILITY: "probability", pb.TASK_METRIC_LOG_PROBABILITY: "log_probability"}
_COMPONENTS = {pb.COMPONENT_RESID_PRE: "resid_pre", pb.COMPONENT_ATTN_OUT: "attn_out", pb.COMPONENT_MLP_OUT: "mlp_out",
               pb.COMPONENT_HEAD_RESULT: "head_result"}
_METHODS = {pb.CIRCUIT_METHOD_UNSPECIFIED: "eap", pb.CIRCUIT_METHOD_EAP: "eap", pb.CIRCUIT_METHOD_EAP_IG: "eap_ig",
            pb.CIRCUIT_METHOD_ACDC: "acdc", pb.CIRCUIT_METHOD_EDGE_PATCHING: "edge_patching"}
_TYPES = {pb.CIRCUIT_TYPE_UNSPECIFIED: "mixed", pb.CIRCUIT_TYPE_ATTENTION_ONLY: "attention_only", pb.CIRCUIT_TYPE_MLP_ONLY: "mlp_only",
          pb.CIRCUIT_TYPE_MIXED: "mixed"}
_TYPE_ENUM = {v: k for k, v in _TYPES.items() if k != pb.CIRCUIT_TYPE_UNSPECIFIED}
_ABLATIONS = {pb.ABLATION_UNSPECIFIED: "resample", pb.ABLATION_RESAMPLE: "resample", pb.ABLATION_MEAN: "mean"}
_STATES = {pb.TRACE_STATE_HIDDEN: "hidden", pb.TRACE_STATE_MLP: "mlp", pb.TRACE_STATE_ATTN: "attn"}
_NODE_KINDS = {"input": pb.NODE_KIND_INPUT, "head": pb.NODE_KIND_HEAD, "mlp": pb.NODE_KIND_MLP, "logits": pb.NODE_KIND_LOGITS}
_SCORES = {"log_prob": mh.SCORE_KIND_LOG_PROB, "prob": mh.SCORE_KIND_PROBABILITY, "logit": mh.SCORE_KIND_LOGIT}
# Candidate tokens of random sequences (head detection, induction): letters and common words,
# each kept where it is one token of its own (an unknown-token id shared by several is dropped).
_POOL_WORDS = [f" {c}" for c in "abcdefghijklmnopqrstuvwxyz"] + [
    f" {w}" for w in (
        "time year people way day man thing woman life child world school state family student group country problem "
        "hand part place case week company system program question work government number night point home water room "
        "mother area money story fact month lot right study book eye job word business issue side kind head house service "
        "friend father power hour game line end member law car city community name president team minute idea kid body "
        "information back parent face others level office door health person art war history party result change morning "
        "reason research girl guy moment air teacher force education"
    ).split()
]


def _encode_intervention(iv: Intervention) -> mh.Intervention:
    """A core intervention as the model host's message (the inverse of its decoder)."""
    msg = mh.Intervention(hook_site=iv.hook_site, positions=iv.positions, heads=iv.heads, sequences=iv.sequences,
                          key_positions=iv.key_positions, neurons=iv.neurons, source_sequences=iv.source_sequences)
    if iv.kind == "zero":
        msg.zero_ablation.SetInParent()
    elif iv.kind == "mean":
        msg.mean_ablation.SetInParent()
        if iv.tensor is not None:
            msg.mean_ablation.mean.CopyFrom(encode_raw(iv.tensor))
    elif iv.kind == "patch":
        msg.patch.SetInParent()
        msg.patch.keep = iv.keep
        if iv.tensor is not None:
            msg.patch.source.CopyFrom(encode_raw(iv.tensor))
    elif iv.kind == "scale":
        msg.scale.factor = iv.scale
    elif iv.kind == "noise":
        msg.noise.std, msg.noise.seed = iv.std, iv.seed
    elif iv.kind == "edge":
        msg.edge_patch.mean_source = iv.mean_source
        msg.edge_patch.senders.extend(mh.EdgeSender(hook_site=s, heads=h) for s, h in iv.senders)
    else:
        raise ValueError(f"no wire form for intervention kind {iv.kind!r}")
    return msg


def _encode_metric(m: Metric) -> mh.Metric:
    if m.kind == "token":
        return mh.Metric(token=mh.TokenScore(token_ids=m.token_ids, positions=m.positions, kind=_SCORES[m.score]))
    if m.kind == "logit_diff":
        return mh.Metric(logit_difference=mh.LogitDifference(correct_token_ids=m.token_ids, incorrect_token_ids=m.other_ids,
                                                             positions=m.positions))
    raise ValueError(f"no wire form for metric kind {m.kind!r}")


class HostRunner:
    """A :class:`~interp_services.core.circuits.runner.Runner` whose every run is one
    ``RunModel`` request to the model host (captures and gradients come back inline or through
    the store, read by :class:`ActivationReader`)."""

    def __init__(self, reader: ActivationReader, model: str, tenant: str, *, max_sequences: int, max_interventions: int,
                 max_batch: int, forward_tokens: int, stopped: Callable[[], bool]) -> None:
        self.reader = reader
        self.model = model
        self.tenant = tenant
        self._max_sequences = max_sequences
        self._max_interventions = max_interventions
        self._max_batch = max_batch
        self._forward_tokens = forward_tokens
        self.stopped = stopped
        self.calls = 0

    @property
    def max_sequences(self) -> int:
        return self._max_sequences

    @property
    def max_interventions(self) -> int:
        return self._max_interventions

    def forward_rows(self, length: int) -> int:
        """``forward_tokens`` padded tokens within the model host's ``max_batch``; never fewer
        rows than ``max_sequences``."""
        return max(self._max_sequences, min(self._max_batch, self._forward_tokens // max(1, length)))

    def run(self, batch, *, capture=(), interventions=(), metric=None, gradients=(), top_k=0) -> RunResult:
        if self.stopped():  # between any two model-host calls of an analysis
            raise Cancelled(Reason.CANCELLED, "the client cancelled the analysis")
        req = mh.RunModelRequest(
            model=self.model,
            tokens=mh.TokenBatch(sequences=[mh.TokenIds(ids=list(s)) for s in batch]),
            capture=list(capture),
            interventions=[_encode_intervention(iv) for iv in interventions],
            gradients=list(gradients),
            top_k=top_k,
        )
        if metric is not None:
            req.metric.CopyFrom(_encode_metric(metric))
        out = self.reader.run_all(req, self.tenant)
        self.calls += 1
        resp = out.response
        return RunResult(
            captures=out.activations,
            gradients=out.gradients,
            metric=torch.tensor(list(resp.metric_values), dtype=torch.float64) if metric is not None else None,
            top_ids=[[t.token_id for t in s.top_next_tokens] for s in resp.sequences],
        )


class CircuitsServicer:
    """Serves CircuitsService from a model-host client."""

    def __init__(self, model_host: ServiceClient, store: TensorStore | None, limits: Limits, policy: DeliveryPolicy) -> None:
        self.store = store
        self.limits = limits
        self.models = ModelInfoCache(model_host)
        self.reader = ActivationReader(model_host, store, policy)
        self.data = DatasetRunner(model_host, self.reader, limits)

    # ------------------------------------------------------------------------------ helpers

    def _info(self, model: str, tenant: str, *, lm_head: bool = True) -> mh.ModelInfo:
        info = self.models.get(model, tenant)
        if lm_head and not info.has_lm_head:
            raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "model", f"{info.name} has no language-model head; circuits are read from next-token predictions")
        return info

    def _runner(self, model: str, tenant: str, stopped: Callable[[], bool]) -> HostRunner:
        return HostRunner(self.reader, model, tenant, max_sequences=min(MAX_RUN_SEQUENCES, self.limits.max_batch),
                          max_interventions=self.limits.max_interventions, max_batch=self.limits.max_batch,
                          forward_tokens=MAX_FORWARD_TOKENS, stopped=stopped)

    def _tokenize(self, model: str, texts: Sequence[str], tenant: str) -> Sequence[mh.TokenizedText]:
        return self.data.tokenize(model, list(texts), tenant)

    def _next_token(self, model: str, prompts: Sequence[str], answers: Sequence[str], field: Callable[[int], str], tenant: str,
                    prompt_ids: Sequence[Sequence[int]]) -> list[int]:
        """The token id of each answer as the next token after its prompt (tokenizing prompt +
        answer together, so merges at the boundary are the model's own)."""
        joined = self._tokenize(model, [p + a for p, a in zip(prompts, answers, strict=True)], tenant)
        out = []
        for i, (tok, ids) in enumerate(zip(joined, prompt_ids, strict=True)):
            full = list(tok.token_ids)
            if len(full) != len(ids) + 1 or full[: len(ids)] != list(ids):
                raise invalid(Reason.ANSWER_NOT_SINGLE_TOKEN, field(i),
                              f"{answers[i]!r} is {len(full) - len(ids)} tokens after its prompt; the metric needs exactly one")
            out.append(full[-1])
        return out

    def _task(self, model: str, task: pb.CircuitTask, tenant: str) -> tuple[core.TaskBatch, list[str]]:
        """Tokenize and check a task; also the display tokens of the first clean prompt."""
        pairs = list(task.pairs)
        if not pairs:
            raise invalid(Reason.CIRCUIT_TASK_INVALID, "task.pairs", "the task has no pairs")
        if len(pairs) > MAX_PAIRS:
            raise ResourceExhausted(Reason.BATCH_TOO_LARGE, f"task.pairs: {len(pairs)} pairs; at most {MAX_PAIRS}")
        metric = enum_choice(task.metric, _METRICS, "task.metric", "task metric", Reason.CIRCUIT_TASK_INVALID)
        for i, p in enumerate(pairs):
            for name in ("clean", "corrupted", "answer"):
                if not getattr(p, name).strip():
                    raise invalid(Reason.CIRCUIT_TASK_INVALID, f"task.pairs[{i}].{name}", "must not be empty")
            if metric == "logit_difference" and not p.wrong_answer.strip():
                raise invalid(Reason.CIRCUIT_TASK_INVALID, f"task.pairs[{i}].wrong_answer", "a logit difference needs the competing answer")
        check_texts([p.clean for p in pairs] + [p.corrupted for p in pairs], "task.pairs", self.limits)
        clean_tok = self._tokenize(model, [p.clean for p in pairs], tenant)
        corrupt_tok = self._tokenize(model, [p.corrupted for p in pairs], tenant)
        clean = [list(t.token_ids) for t in clean_tok]
        corrupted = [list(t.token_ids) for t in corrupt_tok]
        answers = self._next_token(model, [p.clean for p in pairs], [p.answer for p in pairs], lambda i: f"task.pairs[{i}].answer", tenant, clean)
        wrong: list[int] = []
        if metric == "logit_difference":
            wrong = self._next_token(model, [p.clean for p in pairs], [p.wrong_answer for p in pairs],
                                     lambda i: f"task.pairs[{i}].wrong_answer", tenant, clean)
        tokens = list(clean_tok[0].display_tokens) or list(clean_tok[0].tokens)
        return core.check_task(clean, corrupted, answers, wrong, metric), tokens

    def _token_pool(self, model: str, tenant: str) -> list[int]:
        """Distinct single-token ids for random sequences (see ``_POOL_WORDS``)."""
        ids = [list(t.token_ids) for t in self._tokenize(model, _POOL_WORDS, tenant)]
        # Tokens every tokenization starts with are the tokenizer's special prefix (e.g. BOS).
        prefix = 0
        while all(len(i) > prefix + 1 for i in ids) and len({i[prefix] for i in ids}) == 1:
            prefix += 1
        singles = [i[prefix] for i in ids if len(i) == prefix + 1]
        pool = sorted(t for t in set(singles) if singles.count(t) == 1)  # an unknown-token id repeats
        if len(pool) < 4:
            raise invalid(Reason.ALGORITHM_UNSUPPORTED, "model", f"fewer than 4 distinct single-token words in the vocabulary of {model!r}")
        return pool

    def _top_token(self, model: str, ids: Sequence[int], tenant: str) -> tuple[int, str]:
        """The model's most likely next token after ``ids``: its id and how a reader sees it."""
        req = mh.RunModelRequest(model=model, tokens=mh.TokenBatch(sequences=[mh.TokenIds(ids=list(ids))]), top_k=1)
        t = self.reader.run_all(req, tenant).response.sequences[0].top_next_tokens[0]
        return t.token_id, t.display_token or t.token

    @staticmethod
    def _monitor(emit, response_type, stopped) -> core.Monitor:
        return core.Monitor(lambda stage, f: emit(response_type(progress=progress(stage, f))), stopped)

    # ------------------------------------------------------------------------------ RPCs

    @rpc_method(pb.PatchActivationsResponse)
    def PatchActivations(self, request: pb.PatchActivationsRequest, context: grpc.ServicerContext) -> Iterator[pb.PatchActivationsResponse]:
        tenant = tenant_of(context)
        info = self._info(request.model, tenant)
        components = [enum_choice(c, _COMPONENTS, f"components[{i}]", "component", Reason.COMPONENT_UNKNOWN) for i, c in enumerate(request.components)] or list(
            core.COMPONENTS)
        method = {pb.PATCHING_METHOD_UNSPECIFIED: "activation", pb.PATCHING_METHOD_ACTIVATION: "activation",
                  pb.PATCHING_METHOD_ATTRIBUTION: "attribution"}.get(request.method)
        if method is None:
            raise invalid(Reason.METHOD_UNKNOWN, "method", f"{request.method} is not a known patching method")
        task, tokens = self._task(request.model, request.task, tenant)
        task.require_same_lengths(across_pairs=request.per_position)

        def work(emit, stop) -> pb.PatchingResult:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            monitor = self._monitor(emit, pb.PatchActivationsResponse, stopped)
            runner = self._runner(request.model, tenant, stopped)
            clean, corrupted = core.baseline_metrics(runner, task, monitor)
            fn = core.activation_patching if method == "activation" else core.attribution_patching
            maps = fn(runner, task, info, components, clean, corrupted, monitor, per_position=request.per_position, tokens=tokens)
            out = pb.PatchingResult(clean_metric=clean, corrupted_metric=corrupted, runs=monitor.runs,
                                    method=pb.PATCHING_METHOD_ACTIVATION if method == "activation" else pb.PATCHING_METHOD_ATTRIBUTION)
            for m in maps:
                out.maps.append(pb.PatchingMap(component=m.component, row_label=m.row_label, col_label=m.col_label, rows=m.rows, cols=m.cols,
                                               values=[float(v) for v in m.values.flatten().tolist()]))
            out.findings.extend(_patching_findings(maps, clean, corrupted, task.metric))
            return out

        yield from streamed(context, work, pb.PatchActivationsResponse, "patch-activations")

    @rpc_method(pb.PatchPathsResponse)
    def PatchPaths(self, request: pb.PatchPathsRequest, context: grpc.ServicerContext) -> pb.PatchPathsResponse:
        tenant = tenant_of(context)
        info = self._info(request.model, tenant)
        if not request.senders:
            raise invalid(Reason.COMPONENT_UNKNOWN, "senders", "name at least one sender")
        if not request.receivers:
            raise invalid(Reason.COMPONENT_UNKNOWN, "receivers", "name at least one receiver")
        graph = core.build_graph(info, "mixed")
        senders = core.parse_nodes(list(request.senders), graph, "senders", senders=True)
        receivers = core.parse_nodes(list(request.receivers), graph, "receivers", senders=False)
        edges = [e for e in graph.edges if e.sender in senders and e.receiver in receivers]
        if not edges:
            raise invalid(Reason.COMPONENT_UNKNOWN, "receivers", "no sender comes before any receiver: there is no path to patch")
        task, _ = self._task(request.model, request.task, tenant)
        task.require_same_lengths()
        stopped = lambda: not context.is_active()  # noqa: E731
        monitor = core.Monitor(None, stopped)
        runner = self._runner(request.model, tenant, stopped)
        clean, corrupted = core.baseline_metrics(runner, task, monitor)
        groups: dict[tuple[str, str], list] = {}
        for e in edges:
            groups.setdefault((e.sender.name, e.receiver.name), []).append(e)
        sets = [edges, *groups.values()]
        values = core.metric_with_edges_removed(runner, task, sets, monitor, stage="path patching")
        span = clean - corrupted if abs(clean - corrupted) > 1e-12 else 1.0

        def effect(sender: str, receiver: str, v: float) -> pb.PathEffect:
            return pb.PathEffect(sender=sender, receiver=receiver, metric=v, effect=(clean - v) / span)

        out = pb.PatchPathsResponse(clean_metric=clean, corrupted_metric=corrupted, joint=effect("", "", float(values[0])))
        out.pairs.extend(effect(s, r, float(v)) for (s, r), v in zip(groups, values[1:].tolist(), strict=True))
        top = sorted(out.pairs, key=lambda p: -abs(p.effect))[:3]
        out.findings.append(f"Corrupting all {len(edges)} edges from the senders to the receivers removes {out.joint.effect:.0%} of the "
                            "clean-vs-corrupted gap.")
        if top:
            out.findings.append("Strongest single paths: " + ", ".join(f"{p.sender} -> {p.receiver} ({p.effect:.0%})" for p in top) + ".")
        return out

    @rpc_method(pb.DiscoverCircuitResponse)
    def DiscoverCircuit(self, request: pb.DiscoverCircuitRequest, context: grpc.ServicerContext) -> Iterator[pb.DiscoverCircuitResponse]:
        tenant = tenant_of(context)
        info = self._info(request.model, tenant)
        method = enum_choice(request.method, _METHODS, "method", "circuit method", Reason.METHOD_UNKNOWN)
        types = [enum_choice(t, _TYPES, f"circuit_types[{i}]", "circuit type", Reason.COMPONENT_UNKNOWN) for i, t in enumerate(request.circuit_types)] or ["mixed"]
        types = list(dict.fromkeys(types))
        ablation = enum_choice(request.ablation, _ABLATIONS, "ablation", "ablation method", Reason.METHOD_UNKNOWN)
        threshold = request.threshold
        if not (math.isfinite(threshold) and 0 <= threshold <= 1):
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "threshold", f"must be in [0, 1], got {threshold}")
        if threshold == 0:
            threshold = 0.01 if method == "acdc" else 0.05
        if request.top_edges < 0:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "top_edges", f"must be >= 0, got {request.top_edges}")
        ig_steps = request.ig_steps or 5
        if not 1 <= ig_steps <= 50:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "ig_steps", f"must be in [1, 50], got {request.ig_steps}")
        graphs = {t: core.build_graph(info, t) for t in types}
        if method in ("acdc", "edge_patching"):
            for t, g in graphs.items():
                if len(g.edges) > MAX_PATCHED_EDGES:
                    raise ResourceExhausted(Reason.CIRCUIT_TOO_LARGE, f"the {t} graph of {info.name} has {len(g.edges)} edges; {method} patches "
                                            f"them one by one and is limited to {MAX_PATCHED_EDGES} here: use EAP or EAP-IG")
        task, _ = self._task(request.model, request.task, tenant)
        task.require_same_lengths()

        def work(emit, stop) -> pb.CircuitResult:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            monitor = self._monitor(emit, pb.DiscoverCircuitResponse, stopped)
            runner = self._runner(request.model, tenant, stopped)
            clean, corrupted = core.baseline_metrics(runner, task, monitor)
            out = pb.CircuitResult(method=request.method or pb.CIRCUIT_METHOD_EAP, clean_metric=clean, corrupted_metric=corrupted,
                                   ablation=pb.ABLATION_MEAN if ablation == "mean" else pb.ABLATION_RESAMPLE)
            for t in types:
                graph = graphs[t]
                if method == "acdc":
                    kept, drops, _ = core.acdc(runner, task, graph, clean, corrupted, threshold, monitor, ablation=ablation)
                    found = core.FoundCircuit(t, kept, {e: drops.get(e, 0.0) for e in kept}, len(graph.edges), threshold)
                else:
                    if method == "edge_patching":
                        scores = core.exhaustive_edge_patching(runner, task, graph, clean, corrupted, monitor, ablation=ablation)
                    else:
                        scores = core.edge_scores(runner, task, graph, clean, corrupted, monitor, ig_steps=ig_steps if method == "eap_ig" else 0)
                    kept = core.select_edges(graph, scores, threshold=threshold, top_edges=request.top_edges)
                    found = core.FoundCircuit(t, kept, {e: float(s) for e, s in zip(graph.edges, scores.tolist(), strict=True)},
                                              len(graph.edges), threshold, top_edges=request.top_edges)
                    if len(types) == 1:
                        out.all_scores.extend(float(s) for s in scores.tolist())
                        out.edge_names.extend(e.name for e in graph.edges)
                core.evaluate_circuit(runner, task, graph, found, clean, corrupted, monitor, ablation=ablation, minimality=request.minimality)
                out.circuits.append(_circuit_message(found, graph))
            out.runs = monitor.runs
            out.findings.extend(_circuit_findings(out, method))
            return out

        yield from streamed(context, work, pb.DiscoverCircuitResponse, "discover-circuit")

    @rpc_method(pb.TraceCausalFlowResponse)
    def TraceCausalFlow(self, request: pb.TraceCausalFlowRequest, context: grpc.ServicerContext) -> Iterator[pb.TraceCausalFlowResponse]:
        tenant = tenant_of(context)
        info = self._info(request.model, tenant)
        check_texts([request.prompt], "prompt", self.limits)
        tok = self._tokenize(request.model, [request.prompt], tenant)[0]
        ids = list(tok.token_ids)
        states = [enum_choice(s, _STATES, f"states[{i}]", "state kind", Reason.COMPONENT_UNKNOWN) for i, s in enumerate(request.states)] or ["hidden", "mlp", "attn"]
        states = list(dict.fromkeys(states))
        noise_scale = request.noise_scale or 3.0
        if not (math.isfinite(noise_scale) and 0 < noise_scale <= 100):
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "noise_scale", f"must be in (0, 100], got {request.noise_scale}")
        samples = request.samples or 5
        if not 1 <= samples <= 50:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "samples", f"must be in [1, 50], got {request.samples}")
        window = request.window or min(10, info.num_layers)
        if not 1 <= window <= info.num_layers:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "window", f"must be in [1, {info.num_layers}], got {request.window}")
        subject = _subject_positions(request, tok, len(ids))
        cells = len(states) * info.num_layers * len(ids) * samples
        if cells > 200_000:
            raise ResourceExhausted(Reason.ANALYSIS_TOO_LARGE, f"{cells} restored runs (states x layers x tokens x samples); at most 200000")
        if request.target:
            target = self._next_token(request.model, [request.prompt], [request.target], lambda i: "target", tenant, [ids])[0]
            target_text = request.target
        else:
            target, target_text = self._top_token(request.model, ids, tenant)

        def work(emit, stop) -> pb.CausalTrace:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            monitor = self._monitor(emit, pb.TraceCausalFlowResponse, stopped)
            runner = self._runner(request.model, tenant, stopped)
            res = core.causal_trace(runner, ids, target, subject, info.num_layers, monitor, states=states, noise_scale=noise_scale,
                                    samples=samples, window=window, seed=request.seed)
            out = pb.CausalTrace(tokens=list(tok.display_tokens) or list(tok.tokens), subject_positions=res.subject_positions,
                                 target=target_text, clean_probability=res.clean_probability,
                                 corrupted_probability=res.corrupted_probability, noise_std=res.noise_std, samples=samples,
                                 num_layers=info.num_layers, runs=monitor.runs)
            for state in states:
                out.maps.append(pb.TraceMap(state=state, window=res.windows[state], values=[float(v) for v in res.maps[state].flatten().tolist()]))
            out.findings.extend(_trace_findings(res, list(out.tokens), target_text))
            return out

        yield from streamed(context, work, pb.TraceCausalFlowResponse, "trace-causal-flow")

    @rpc_method(pb.DetectHeadsResponse)
    def DetectHeads(self, request: pb.DetectHeadsRequest, context: grpc.ServicerContext) -> pb.DetectHeadsResponse:
        tenant = tenant_of(context)
        info = self._info(request.model, tenant, lm_head=False)
        length = request.sequence_length or 20
        count = request.num_sequences or 8
        if not 2 <= length <= 200:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "sequence_length", f"must be in [2, 200], got {request.sequence_length}")
        if not 1 <= count <= 64:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "num_sequences", f"must be in [1, 64], got {request.num_sequences}")
        if 2 * length > info.max_tokens:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "sequence_length", f"2 x {length} tokens is over the model's {info.max_tokens}")
        pool = self._token_pool(request.model, tenant)
        runner = self._runner(request.model, tenant, lambda: not context.is_active())
        scores = core.detect_heads(runner, info, pool, core.Monitor(), length=length, count=count, seed=request.seed)
        out = pb.DetectHeadsResponse(heads=_head_scores(scores))
        out.findings.extend(_head_findings(scores))
        return out

    @rpc_method(pb.FindAlgorithmResponse)
    def FindAlgorithm(self, request: pb.FindAlgorithmRequest, context: grpc.ServicerContext) -> Iterator[pb.FindAlgorithmResponse]:
        tenant = tenant_of(context)
        algorithm = {pb.ALGORITHM_MODULAR_ADDITION: "modular_addition", pb.ALGORITHM_INDUCTION: "induction"}.get(request.algorithm)
        if algorithm is None:
            raise invalid(Reason.ALGORITHM_UNSUPPORTED, "algorithm", "set modular_addition or induction")
        info = self._info(request.model, tenant)
        if algorithm == "modular_addition":
            number_ids, equals_id = self._number_tokens(request, info, tenant)
        else:
            pool = self._token_pool(request.model, tenant)
            length = request.sequence_length or 20
            if not 4 <= length <= 100 or 2 * length > info.max_tokens:
                raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "sequence_length", f"must be in [4, 100] and fit the model, got {request.sequence_length}")

        def work(emit, stop) -> pb.AlgorithmResult:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            monitor = self._monitor(emit, pb.FindAlgorithmResponse, stopped)
            runner = self._runner(request.model, tenant, stopped)
            out = pb.AlgorithmResult(algorithm=request.algorithm)
            if algorithm == "induction":
                res = core.find_induction(runner, info, pool, monitor, length=length, seed=request.seed)
                graph = core.build_graph(info, "attention_only")
                assert res.circuit is not None
                out.induction.CopyFrom(pb.InductionFinding(
                    heads=_head_scores(res.heads), previous_token_heads=[f"a{x}.h{y}" for x, y in res.previous_token_heads],
                    induction_heads=[f"a{x}.h{y}" for x, y in res.induction_heads], circuit=_circuit_message(res.circuit, graph),
                    loss=res.loss, loss_without_previous_token=res.loss_without_previous_token, loss_without_induction=res.loss_without_induction,
                    uniform_loss=res.uniform_loss))
                out.findings.extend(res.findings)
            else:
                from interp_services.core.circuits.modular import discover_modular_addition

                res = discover_modular_addition(runner, number_ids=number_ids, equals_id=equals_id, control_seed=request.seed,
                                                progress=monitor.progress, cancelled=stopped)
                out.modular_addition.CopyFrom(_modular_message(res))
                out.findings.extend(res.findings)
            out.runs = runner.calls
            return out

        yield from streamed(context, work, pb.FindAlgorithmResponse, "find-algorithm")

    def _number_tokens(self, request: pb.FindAlgorithmRequest, info: mh.ModelInfo, tenant: str) -> tuple[list[int], int]:
        """The ids of the number tokens "0".."p-1" and of "=" (one token each, all distinct)."""
        limit = min(info.vocab_size, 1000)
        p = request.modulus
        if p < 0 or p > limit:
            raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "modulus", f"must be in [2, {limit}], got {p}")
        texts = [str(i) for i in range(p or limit)]
        toks = self._tokenize(request.model, [*texts, "="], tenant)
        ids = [list(t.token_ids) for t in toks]
        # An id that several numbers share is the unknown token: the numbers end before it.
        counts: dict[int, int] = {}
        for row in ids[:-1]:
            if len(row) == 1:
                counts[row[0]] = counts.get(row[0], 0) + 1
        seen: set[int] = set()
        numbers: list[int] = []
        for row in ids[:-1]:
            if len(row) != 1 or counts[row[0]] > 1:
                break
            seen.add(row[0])
            numbers.append(row[0])
        eq = ids[-1]
        if len(eq) != 1 or eq[0] in seen:
            raise invalid(Reason.ALGORITHM_UNSUPPORTED, "model", f"{info.name} has no single token '=' of its own; modular addition reads 'a b ='")
        if (p and len(numbers) < p) or len(numbers) < 3:
            raise invalid(Reason.ALGORITHM_UNSUPPORTED, "model", f"{info.name} lacks distinct single tokens for the numbers 0..{(p or 3) - 1}")
        return numbers, eq[0]


_ONLY_FIRST = ("position 0, which causal tracing never noises (the first token is an attention sink: noising it "
               "breaks every later position at once); put the subject after the first token")


def _subject_positions(request: pb.TraceCausalFlowRequest, tok: mh.TokenizedText, length: int) -> list[int]:
    """The subject's token positions; refused where they are only position 0, which tracing never
    noises (``core.causal_trace``), so nothing would be corrupted."""
    if request.subject and request.subject_positions:
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject_positions", "give the subject or its positions, not both")
    if request.subject_positions:
        for i, p in enumerate(request.subject_positions):
            if not 0 <= p < length:
                raise invalid(Reason.SUBJECT_NOT_FOUND, f"subject_positions[{i}]", f"{p} is outside the prompt's {length} tokens")
        if set(request.subject_positions) == {0}:
            raise invalid(Reason.SUBJECT_NOT_FOUND, "subject_positions", f"only {_ONLY_FIRST}")
        return sorted(set(request.subject_positions))
    if not request.subject.strip():
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject", "name the subject (a substring of the prompt) or its positions")
    start = request.prompt.find(request.subject)
    if start < 0:
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject", f"{request.subject!r} is not in the prompt")
    end = start + len(request.subject)
    if not tok.char_starts:
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject", "this tokenizer cannot map tokens to characters; give subject_positions")
    found = [i for i, (s, e) in enumerate(zip(tok.char_starts, tok.char_ends, strict=True)) if s < end and e > start and e > s]
    if not found:
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject", f"no token covers {request.subject!r}")
    if found == [0]:
        raise invalid(Reason.SUBJECT_NOT_FOUND, "subject", f"{request.subject!r} covers only {_ONLY_FIRST}")
    return found


def _head_scores(scores: core.HeadScores) -> list[pb.HeadScore]:
    layers, heads = scores.previous_token.shape
    return [pb.HeadScore(layer=layer, head=h, previous_token=float(scores.previous_token[layer, h]),
                         duplicate_token=float(scores.duplicate_token[layer, h]), induction=float(scores.induction[layer, h]))
            for layer in range(layers) for h in range(heads)]


def _head_findings(scores: core.HeadScores, threshold: float = 0.4) -> list[str]:
    out = []
    for name, t in (("previous-token", scores.previous_token), ("duplicate-token", scores.duplicate_token), ("induction", scores.induction)):
        found = [(int(x), int(y)) for x, y in (t >= threshold).nonzero().tolist()]
        if found:
            shown = ", ".join(f"a{x}.h{y} ({float(t[x, y]):.2f})" for x, y in sorted(found, key=lambda lh: -float(t[lh]))[:8])
            out.append(f"{len(found)} {name} head{'s' if len(found) > 1 else ''}: {shown}.")
        else:
            x, y = divmod(int(t.argmax()), t.shape[1])
            out.append(f"No {name} head above {threshold}; the strongest is a{x}.h{y} ({float(t[x, y]):.2f}).")
    return out


def _circuit_message(found: core.FoundCircuit, graph: core.Graph) -> pb.Circuit:
    msg = pb.Circuit(circuit_type=_TYPE_ENUM[found.circuit_type], edges_total=found.edges_total, threshold=found.threshold,
                     circuit_metric=found.circuit_metric, metric_recovered=found.metric_recovered, top_edges=found.top_edges)
    node_scores = found.node_scores()
    nodes: dict[str, pb.CircuitNode] = {}
    for e in found.edges:
        s, r = e.sender, e.receiver
        nodes.setdefault(s.name, pb.CircuitNode(name=s.name, kind=_NODE_KINDS[s.kind], layer=s.layer, head=s.head))
        # A key/value group node of grouped-query attention (a{L}.kv{G}) is no single head.
        head = int(r.node.rsplit(".h", 1)[1]) if r.kind == "head" and ".h" in r.node else -1
        layer = graph.num_layers if r.kind == "logits" else r.layer
        nodes.setdefault(r.node, pb.CircuitNode(name=r.node, kind=_NODE_KINDS[r.kind], layer=layer, head=head))
    for name, n in nodes.items():
        n.score = node_scores.get(name, 0.0)
    msg.nodes.extend(sorted(nodes.values(), key=lambda n: (n.layer, n.kind, n.head)))
    for e in sorted(found.edges, key=lambda e: -abs(found.scores.get(e, 0.0))):
        msg.edges.append(pb.CircuitEdge(sender=e.sender.name, receiver=e.receiver.node, input=e.receiver.input,
                                        score=found.scores.get(e, 0.0), minimality=found.minimality.get(e, 0.0)))
    return msg


def _modular_message(res: Any) -> pb.ModularAdditionFinding:
    control = res.control if res.control is not None else res.key_only
    msg = pb.ModularAdditionFinding(modulus=res.p, key_frequencies=res.key_frequencies, accuracy=res.baseline.accuracy,
                                    accuracy_key_only=res.key_only.accuracy, accuracy_control=control.accuracy,
                                    losses=[res.baseline.loss, res.key_only.loss, control.loss])
    without = {w.frequency: w.accuracy for w in res.without}
    for k, norm in enumerate(res.frequency_norms, start=1):
        msg.frequencies.append(pb.FrequencyEffect(frequency=k, norm=norm, accuracy_without=without.get(k, 0.0)))
    return msg


def _patching_findings(maps: list[core.PatchingMap], clean: float, corrupted: float, metric: str) -> list[str]:
    out = [f"The {metric.replace('_', ' ')} is {clean:.3f} on the clean prompts and {corrupted:.3f} on the corrupted ones."]
    if abs(clean - corrupted) < 1e-6:
        out.append("Clean and corrupted prompts score the same: the task has no effect to localise.")
        return out
    for m in maps:
        v = m.values
        r, c = divmod(int(v.argmax()), v.shape[1])
        label = m.cols[c] if m.col_label != "all positions" else ""
        where = f"layer {m.rows[r]}" + (f", {m.col_label} {label!r}" if label else "")
        out.append(f"{m.component}: patching {where} restores {float(v[r, c]):.0%} of the clean behaviour (the most of any cell).")
    return out


def _circuit_findings(result: pb.CircuitResult, method: str) -> list[str]:
    out = []
    for c in result.circuits:
        kind = pb.CircuitType.Name(c.circuit_type).removeprefix("CIRCUIT_TYPE_").lower()
        out.append(f"{kind}: {len(c.edges)} of {c.edges_total} edges kept ({method}); with every other edge ablated the model keeps "
                   f"{c.metric_recovered:.0%} of the clean-vs-corrupted gap.")
        if c.edges:
            out.append("Strongest edges: " + ", ".join(f"{e.sender} -> {e.receiver}{'.' + e.input if e.input else ''} ({e.score:+.2f})"
                                                        for e in c.edges[:5]) + ".")
    return out


def _trace_findings(res: core.TraceResult, tokens: list[str], target: str) -> list[str]:
    out = [f"p({target!r}) is {res.clean_probability:.3f} on the clean prompt and {res.corrupted_probability:.3f} with the subject "
           f"noised (std {res.noise_std:.3f}, {res.samples} samples)."]
    if res.dropped_first:
        out.append("Position 0 was left un-noised: the first token is an attention sink and noising it breaks every later position.")
    for state, v in res.maps.items():
        layer, t = divmod(int(v.argmax()), v.shape[1])
        out.append(f"{state}: restoring layer {layer} at {tokens[t]!r} recovers p = {float(v[layer, t]):.3f} "
                   f"(indirect effect {float(v[layer, t]) - res.corrupted_probability:+.3f}).")
    return out
