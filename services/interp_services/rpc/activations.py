"""ActivationsService servicer: dataset statistics, concept neurons, gradients, neuron importance
and the logit lens, all computed from the model host's answers.

The service holds no weights (``ServiceSpec.holds_weights`` is false): activations and gradients
come from ``RunModel`` (``toolkit.ActivationReader``: inline up to the inline cap, through the
store otherwise, stored objects deleted as soon as read), ablations run there as batched
per-sequence interventions (``Intervention.neurons``) -- on the ``ablation_candidates`` neurons
that gradient x activation ranks highest, not on every neuron -- and the logit lens is the model
host's ``RunModel.logit_lens``, which runs where the final norm and unembedding live. Batches
are sized so that one answer's captures stay under ``batch_bytes`` (inline) and one call's
sequences under ``max_batch`` (the model host's limit), texts of similar length are batched
together (little padding), and every analysis streams progress and stops between batches when
the client goes away. Texts over the model's token limit are found before any model work: the
dataset analyses skip them (``skipped``), AnalyzeGradients and RankNeuronImportance fail naming
them.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence

import grpc
import numpy as np
import torch

from interp.v1 import activations_service_pb2 as pb
from interp.v1 import model_host_service_pb2 as mh
from interp_services.core import activations as core
from interp_services.core.errors import Cancelled, FieldViolation, ResourceExhausted, invalid
from interp_services.core.reasons import Reason
from interp_services.rpc.clients import ServiceClient
from interp_services.rpc.codec import Deliverer, DeliveryPolicy, encode_raw, nbytes
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.rpc.toolkit import (
    MAX_SKIPPED_SHOWN,
    ActivationReader,
    DatasetRunner,
    ModelInfoCache,
    TextLength,
    check_count,
    check_texts,
    enum_choice,
    progress,
    select_layers,
    skipped_input,
    streamed,
)
from interp_services.store.base import TensorStore

_SITES = {
    pb.ACTIVATION_SITE_MLP_POST: "mlp_post",
    pb.ACTIVATION_SITE_RESID_POST: "resid_post",
    pb.ACTIVATION_SITE_ATTN_OUT: "attn_out",
    pb.ACTIVATION_SITE_MLP_OUT: "mlp_out",
}
_SITE_VALUES = {v: k for k, v in _SITES.items()}
SITE_NAMES = {"mlp_post": "MLP activations", "resid_post": "residual stream", "attn_out": "attention output", "mlp_out": "MLP output"}
_GRADIENT_TYPES = {pb.GRADIENT_TYPE_INPUT: "input", pb.GRADIENT_TYPE_HIDDEN: "hidden", pb.GRADIENT_TYPE_ATTENTION: "attention"}
_RANKING = {
    pb.RANKING_METHOD_GRADIENT_MAGNITUDE: "gradient_magnitude",
    pb.RANKING_METHOD_GRADIENT_X_ACTIVATION: "gradient_x_activation",
    pb.RANKING_METHOD_ABLATION: "ablation",
}
DEFAULT_ABLATION_CANDIDATES, MAX_ABLATION_CANDIDATES = 64, 4096
"""RankNeuronImportance by ablation ablates only this many neurons, the top by gradient x
activation (``ablation_candidates``); the others are not ablated and not ranked."""
MAX_CONCEPT_VALUES = 60_000_000
"""texts x neurons a concept search may hold (float32 values + int16 positions: ~360 MB)."""


def _option(value: int, default: int, high: int, field: str, low: int = 1) -> int:
    """An integer option: 0 means ``default``; otherwise it must be in ``[low, high]``."""
    return check_count(value, field, low=low, high=high, reason=Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE) if value else default


def _sites(values: Sequence[int], default: Sequence[str], field: str) -> list[str]:
    if not values:
        return list(default)
    out: list[str] = []
    for i, v in enumerate(values):
        if v not in _SITES:
            raise invalid(Reason.ACTIVATION_SITE_INVALID, f"{field}[{i}]", f"{v} is not an activation site")
        if _SITES[v] in out:
            raise invalid(Reason.ACTIVATION_SITE_INVALID, f"{field}[{i}]", f"{pb.ActivationSite.Name(v)} is listed twice")
        out.append(_SITES[v])
    return out


def _neuron_id(kind: str, layer: int, index: int) -> pb.NeuronId:
    return pb.NeuronId(site=_SITE_VALUES[kind], layer=layer, index=index)


class ActivationsServicer:
    """Serves ActivationsService from a model-host client and the tensor store.

    Args:
        batch_bytes: most bytes of captures one ``RunModel`` answer may carry.
    """

    def __init__(
        self, model_host: ServiceClient, store: TensorStore | None, limits: Limits, policy: DeliveryPolicy, *, batch_bytes: int = 32 << 20
    ) -> None:
        self.model_host = model_host
        self.store = store
        self.limits = limits
        self.policy = policy
        self.models = ModelInfoCache(model_host)
        self.data = DatasetRunner(model_host, ActivationReader(model_host, store, policy), limits, batch_bytes=batch_bytes)

    def _contexts(
        self, model: str, texts: Sequence[str], wanted: Sequence[tuple[int, int, float]], size: int, tenant: str
    ) -> list[pb.ActivationContext]:
        """Contexts of (text index, position, activation) triples (texts tokenized once each)."""
        unique = sorted({i for i, _, _ in wanted})
        tokens: dict[int, list[str]] = {}
        for start in range(0, len(unique), self.limits.max_batch):
            chunk = unique[start : start + self.limits.max_batch]
            for i, tok in zip(chunk, self.data.tokenize(model, [texts[i] for i in chunk], tenant), strict=True):
                tokens[i] = list(tok.display_tokens) or list(tok.tokens)
        out = []
        for i, pos, value in wanted:
            toks = tokens[i]
            if not 0 <= pos < len(toks):
                continue
            left, token, right = core.context_window(toks, pos, size)
            out.append(pb.ActivationContext(text_index=i, position=pos, activation=value, token=token, left_context=left, right_context=right))
        return out

    def _checked_lengths(self, model: str, texts: Sequence[str], info: mh.ModelInfo, tenant: str, field: str,
                         stop: Callable[[], bool]) -> list[TextLength]:
        """Every text's token count, in request order, the whole request checked against the
        model's token limit before any model work.

        AnalyzeGradients and RankNeuronImportance have no ``skipped`` field to report a dropped
        text in, so a text over the limit fails the call; checked here, the error names the
        text's index in the request (the model host, sent a batch or one text, names its place
        in that batch) and no text before it was run for nothing."""
        usable, skipped, n_skipped = self.data.screen(model, texts, range(len(texts)), info, tenant, stop)
        if n_skipped:
            violations = [FieldViolation(f"{field}[{s.index}]", s.reason) for s in skipped]
            more = f" ({n_skipped} texts in all)" if n_skipped > len(skipped) else ""
            raise ResourceExhausted(Reason.INPUT_TOO_LONG, "; ".join(f"{v.field}: {v.description}" for v in violations) + more,
                                    violations)
        return sorted(usable, key=lambda t: t.index)

    def _target(self, target: pb.AnalysisTarget, info: mh.ModelInfo, model: str, texts: Sequence[str], lengths: Sequence[TextLength],
                tenant: str) -> tuple[mh.Metric, str]:
        """The model host metric of an AnalysisTarget, and its description (``lengths``: the
        texts' :meth:`_checked_lengths`)."""
        which = target.WhichOneof("target")
        if which in ("next_token", "logit_difference") or (which is None and info.has_lm_head):
            if not info.has_lm_head:
                raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "target", f"{info.name} has no language-model head")
            if which == "next_token":
                tid = self._one_token(model, target.next_token, "target.next_token", tenant)
                return mh.Metric(token=mh.TokenScore(token_ids=[tid])), f"log p({target.next_token!r})"
            if which == "logit_difference":
                d = target.logit_difference
                a = self._one_token(model, d.correct, "target.logit_difference.correct", tenant)
                b = self._one_token(model, d.incorrect, "target.logit_difference.incorrect", tenant)
                return mh.Metric(logit_difference=mh.LogitDifference(correct_token_ids=[a], incorrect_token_ids=[b])), (
                    f"logit({d.correct!r}) - logit({d.incorrect!r})"
                )
            top = self.data.run(model, texts, tenant, top_k=1).response
            ids = [s.top_next_tokens[0].token_id for s in top.sequences]
            return mh.Metric(token=mh.TokenScore(token_ids=ids)), "log p(the model's top next token)"
        if info.num_labels <= 0:
            raise invalid(Reason.MODEL_HAS_NO_CLASSIFIER, "target", f"{info.name} has neither a language-model head nor a classifier")
        if which == "class_index":
            if not 0 <= target.class_index < info.num_labels:
                raise invalid(Reason.CLASS_OUT_OF_RANGE, "target.class_index", f"must be in [0, {info.num_labels})")
            return mh.Metric(class_score=mh.ClassScore(class_indices=[target.class_index])), f"log p(class {target.class_index})"
        # The predicted class: every (text, class) pair scored, at most max_batch sequences per
        # RunModel (the model host's limit: texts x classes easily exceeds it); pairs sorted by
        # length, so that each call pads little.
        pairs = sorted(((t, c) for t in lengths for c in range(info.num_labels)), key=lambda p: p[0].length)
        scores = np.empty((len(texts), info.num_labels))
        for start in range(0, len(pairs), self.limits.max_batch):
            chunk = pairs[start : start + self.limits.max_batch]
            metric = mh.Metric(class_score=mh.ClassScore(class_indices=[c for _, c in chunk]))
            values = self.data.run(model, [texts[t.index] for t, _ in chunk], tenant, metric=metric).response.metric_values
            for (t, c), v in zip(chunk, values, strict=True):
                scores[t.index, c] = v
        return mh.Metric(class_score=mh.ClassScore(class_indices=scores.argmax(1).tolist())), "log p(the predicted class)"

    def _one_token(self, model: str, text: str, field: str, tenant: str) -> int:
        if not text:
            raise invalid(Reason.TARGET_TOKEN_INVALID, field, "must not be empty")
        ids = self.data.tokenize(model, [text], tenant)[0].token_ids
        if len(ids) != 1:
            raise invalid(Reason.TARGET_TOKEN_INVALID, field, f"{text!r} is {len(ids)} tokens; give exactly one (mind the leading space)")
        return int(ids[0])

    # ------------------------------------------------------------------------ AnalyzeActivations

    @rpc_method(pb.AnalyzeActivationsResponse)
    def AnalyzeActivations(self, request: pb.AnalyzeActivationsRequest, context: grpc.ServicerContext) -> Iterator[pb.AnalyzeActivationsResponse]:
        tenant = tenant_of(context)
        texts = self.data.dataset(request.texts.texts, "texts.texts")
        if request.HasField("sample_size") and request.sample_size < 1:
            raise invalid(Reason.SAMPLE_SIZE_INVALID, "sample_size", f"must be >= 1 when set, got {request.sample_size}")
        bins = _option(request.histogram_bins, 50, 1000, "histogram_bins")
        top_k = _option(request.top_k_examples, 5, 50, "top_k_examples")
        ctx_size = _option(request.context_tokens, 8, 64, "context_tokens")
        per_layer = _option(request.top_neurons_per_layer, 0, 64, "top_neurons_per_layer", low=0)
        zero = request.zero_threshold or core.DEFAULT_ZERO_THRESHOLD
        if not math.isfinite(zero) or zero < 0:
            raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, "zero_threshold", "must be finite and >= 0")
        deliverer = Deliverer(request.delivery, self.policy, self.store, tenant, "activations/")
        info = self.models.get(request.model, tenant)
        kinds = _sites(request.sites, ("mlp_post", "resid_post"), "sites")
        layers = select_layers(request.layers, info, "layers")
        widths = {k: core.site_width(info, k) for k in kinds}
        chosen: list[tuple[str, int, int]] = []
        for i, n in enumerate(request.neurons):
            f = f"neurons[{i}]"
            if n.site not in _SITES:
                raise invalid(Reason.ACTIVATION_SITE_INVALID, f"{f}.site", f"{n.site} is not an activation site")
            kind = _SITES[n.site]
            if kind not in kinds or n.layer not in layers:
                raise invalid(Reason.ACTIVATION_SITE_INVALID, f, "the neuron's site and layer must be among the analysed ones")
            if not 0 <= n.index < widths[kind]:
                raise invalid(Reason.NEURON_OUT_OF_RANGE, f"{f}.index", f"must be in [0, {widths[kind]})")
            chosen.append((kind, n.layer, n.index))
        indices = list(range(len(texts)))
        if request.HasField("sample_size") and request.sample_size < len(texts):
            indices = sorted(random.Random(request.seed).sample(indices, request.sample_size))
        sites = {(k, layer): core.site_name(k, layer) for k in kinds for layer in layers}
        bytes_per_token = 4 * sum(widths[k] for k, _ in sites)

        def work(emit, stop) -> pb.ActivationAnalysis:
            started = time.monotonic()
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            emit(pb.AnalyzeActivationsResponse(progress=progress("tokenizing", 0.0)))
            usable, skipped, n_skipped = self.data.screen(request.model, texts, indices, info, tenant, stopped)
            if not usable:
                raise invalid(Reason.INPUT_EMPTY, "texts.texts", f"none of the {len(indices)} texts is usable ({n_skipped} skipped)")
            stats = core.DatasetStatistics({k: layers for k in kinds}, widths, top_k=top_k, bins=bins, zero_threshold=zero)
            total = sum(t.length for t in usable)
            done = 0
            batches = self.data.batches(usable, bytes_per_token)
            # One batch at a time: running the next batch's RunModel while this one's statistics
            # are computed made the default analysis 3x slower on 2 cores (80 s vs 27 s for 160
            # texts), the model host's and this replica's torch thread pools fighting for the cores.
            for b, batch in enumerate(batches):
                if stopped():
                    raise Cancelled(Reason.CANCELLED, "the client cancelled the analysis")
                run = self.data.run(request.model, [texts[t.index] for t in batch], tenant, capture=list(sites.values()))
                mask = run.mask()
                if request.exclude_first_token:
                    mask[:, 0] = False
                stats.update({key: run.activations[name] for key, name in sites.items()}, mask, [t.index for t in batch])
                done += sum(t.length for t in batch)
                emit(pb.AnalyzeActivationsResponse(progress=progress(f"batch {b + 1} of {len(batches)}", done / total, stats.texts, stats.tokens)))
            return self._activation_result(request, info, texts, stats, kinds, layers, chosen, per_layer, ctx_size, deliverer, tenant,
                                           skipped, n_skipped, time.monotonic() - started)

        yield from streamed(context, work, pb.AnalyzeActivationsResponse, "analyze-activations")

    def _activation_result(self, request, info, texts, stats, kinds, layers, chosen, per_layer, ctx_size, deliverer, tenant,
                           skipped, n_skipped, seconds) -> pb.ActivationAnalysis:
        result = pb.ActivationAnalysis(model=info.name, texts_analyzed=stats.texts, tokens_analyzed=stats.tokens, skipped=skipped,
                                       skipped_count=n_skipped, zero_threshold=stats.zero_threshold)
        summaries = []
        per_neuron: list[tuple[pb.SiteStatistics, dict[str, torch.Tensor]]] = []
        for kind in kinds:
            site = pb.SiteStatistics(site=_SITE_VALUES[kind], layers=layers, width=core.site_width(info, kind))
            for layer in layers:
                s = stats.layer_summary(kind, layer)
                summaries.append(s)
                site.layer_summaries.append(pb.LayerActivationSummary(
                    layer=layer, mean=s.mean, std=s.std, fraction_zero=s.fraction_zero, fraction_positive=s.fraction_positive,
                    median_kurtosis=s.median_kurtosis, max=s.max, min=s.min, dead_neurons=s.dead, saturated_neurons=s.saturated,
                    outlier_neurons=s.outliers,
                    histogram=pb.Histogram(edges=s.edges, counts=s.counts, underflow=s.underflow, overflow=s.overflow),
                ))
            if request.include_statistics:
                ms = [stats.moments(kind, layer) for layer in layers]
                per_neuron.append((site, {
                    "mean": torch.stack([m.mean for m in ms]), "std": torch.stack([m.std for m in ms]),
                    "fraction_zero": torch.stack([m.fraction_zero for m in ms]),
                    "fraction_positive": torch.stack([m.fraction_positive for m in ms]),
                    "kurtosis": torch.stack([m.kurtosis for m in ms]), "max": torch.stack([m.max for m in ms]),
                    "min": torch.stack([m.min for m in ms]),
                }))
            result.sites.append(site)
        if per_neuron:
            tensors = {(i, k): v.float().contiguous() for i, (_, d) in enumerate(per_neuron) for k, v in d.items()}
            inline = deliverer.plan(sum(nbytes(t) for t in tensors.values()))
            for i, (site, d) in enumerate(per_neuron):
                for k in d:
                    getattr(result.sites[i], k).CopyFrom(deliverer.encode(tensors[(i, k)], ("layer", "neuron"), inline))
        result.findings.extend(core.describe_layers(summaries, SITE_NAMES))
        if n_skipped:
            result.findings.append(f"{n_skipped} text(s) were skipped (see `skipped`); the other {stats.texts} were analysed.")
        picks = [(k, layer, i, "requested") for k, layer, i in chosen]
        for kind in kinds:
            for layer in layers:
                picks += [(kind, layer, i, "top of layer") for i in stats.top_neurons(kind, layer, per_layer)]
        seen: set[tuple[str, int, int]] = set()
        wanted: list[tuple[int, int, float]] = []
        entries = []
        for kind, layer, i, why in picks:
            if (kind, layer, i) in seen:
                continue
            seen.add((kind, layer, i))
            top = stats.top(kind, layer).top(i)
            entries.append((kind, layer, i, why, top))
            wanted += [(t, p, v) for v, t, p in top]
        contexts = {(c.text_index, c.position): c for c in self._contexts(request.model, texts, wanted, ctx_size, tenant)}
        for kind, layer, i, why, top in entries:
            m = stats.moments(kind, layer)
            result.neuron_examples.append(pb.NeuronExamples(
                neuron=_neuron_id(kind, layer, i), chosen_as=why, mean=float(m.mean[i]), max=float(m.max[i]),
                examples=[_with_value(contexts[(t, p)], v) for v, t, p in top if (t, p) in contexts],
            ))
        result.seconds = seconds
        return result

    # ------------------------------------------------------------------------ FindConceptNeurons

    @rpc_method(pb.FindConceptNeuronsResponse)
    def FindConceptNeurons(self, request: pb.FindConceptNeuronsRequest, context: grpc.ServicerContext) -> Iterator[pb.FindConceptNeuronsResponse]:
        tenant = tenant_of(context)
        concept, control = list(request.concept_texts.texts), list(request.control_texts.texts)
        for name, group in (("concept_texts.texts", concept), ("control_texts.texts", control)):
            if len(group) < 2:
                raise invalid(Reason.CONCEPT_CONTROLS_MISSING, name, "a concept search needs at least 2 concept and 2 control texts")
        texts = self.data.dataset(concept + control, "concept_texts.texts")
        top_k = _option(request.top_k_neurons, 50, 1000, "top_k_neurons")
        n_examples = _option(request.examples_per_neuron, 3, 20, "examples_per_neuron")
        ctx_size = _option(request.context_tokens, 8, 64, "context_tokens")
        if request.aggregation not in (pb.TOKEN_AGGREGATION_UNSPECIFIED, pb.TOKEN_AGGREGATION_MAX, pb.TOKEN_AGGREGATION_MEAN):
            raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, "aggregation", f"{request.aggregation} is not an aggregation")
        how = "mean" if request.aggregation == pb.TOKEN_AGGREGATION_MEAN else "max"
        info = self.models.get(request.model, tenant)
        kinds = _sites(request.sites, ("mlp_post",), "sites")
        layers = select_layers(request.layers, info, "layers")
        columns = [(k, layer, core.site_width(info, k)) for k in kinds for layer in layers]
        n_neurons = sum(w for _, _, w in columns)
        if len(texts) * n_neurons > MAX_CONCEPT_VALUES:
            raise ResourceExhausted(Reason.ANALYSIS_TOO_LARGE, f"{len(texts)} texts x {n_neurons} neurons is over {MAX_CONCEPT_VALUES} values; "
                                    "choose fewer layers or texts")
        sites = {(k, layer): core.site_name(k, layer) for k, layer, _ in columns}
        offsets, off = {}, 0
        for k, layer, w in columns:
            offsets[(k, layer)] = off
            off += w
        n_concept = len(concept)

        def work(emit, stop) -> pb.ConceptNeurons:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            usable, skipped, n_skipped = self.data.screen(request.model, texts, range(len(texts)), info, tenant, stopped)
            if request.exclude_first_token:  # a one-token text has nothing left to aggregate
                alone = [t for t in usable if t.length < 2]
                n_skipped += len(alone)
                skipped = sorted([*skipped, *(skipped_input(t.index, "one token, and the first token is excluded", texts[t.index])
                                              for t in alone)][:MAX_SKIPPED_SHOWN], key=lambda s: s.index)
                usable = [t for t in usable if t.length >= 2]
            used_concept = [t.index for t in usable if t.index < n_concept]
            used_control = [t.index for t in usable if t.index >= n_concept]
            if len(used_concept) < 2 or len(used_control) < 2:
                raise invalid(Reason.CONCEPT_CONTROLS_MISSING, "concept_texts", "fewer than 2 usable concept or control texts remain")
            values = torch.zeros((len(texts), n_neurons), dtype=torch.float32)
            argmax = torch.zeros((len(texts), n_neurons), dtype=torch.int16)
            batches = self.data.batches(usable, 4 * n_neurons)
            done = 0
            for b, batch in enumerate(batches):
                if stopped():
                    raise Cancelled(Reason.CANCELLED, "the client cancelled the concept search")
                run = self.data.run(request.model, [texts[t.index] for t in batch], tenant, capture=list(sites.values()))
                mask = run.mask()
                if request.exclude_first_token:
                    mask[:, 0] = False
                rows = torch.tensor([t.index for t in batch])
                for key, name in sites.items():
                    v, pos = core.aggregate_tokens(run.activations[name], mask, how)
                    o = offsets[key]
                    values[rows, o : o + v.shape[1]] = v
                    argmax[rows, o : o + v.shape[1]] = pos.to(torch.int16)
                done += len(batch)
                emit(pb.FindConceptNeuronsResponse(progress=progress(f"batch {b + 1} of {len(batches)}", 0.9 * done / len(usable), done)))
            emit(pb.FindConceptNeuronsResponse(progress=progress("testing neurons", 0.9, done)))
            scores = core.concept_scores(values[used_concept].numpy(), values[used_control].numpy())
            order = core.rank_concept_neurons(scores, top_k)
            out = pb.ConceptNeurons(model=info.name, concept=request.concept, num_concept=len(used_concept), num_control=len(used_control),
                                    neurons_tested=n_neurons, significant_bonferroni=int((scores.p_bonferroni < 0.05).sum()),
                                    significant_fdr=int((scores.q_value < 0.05).sum()), skipped=skipped, skipped_count=n_skipped)
            concept_rows = torch.tensor(used_concept)
            wanted, picks = [], []
            for col in order:
                kind, layer, index = _column(columns, col)
                col_values = values[concept_rows, col]
                best = col_values.argsort(descending=True)[:n_examples]
                ex = [(int(concept_rows[r]), int(argmax[concept_rows[r], col]), float(col_values[r])) for r in best]
                wanted += ex
                picks.append((col, kind, layer, index, ex))
            contexts = {(c.text_index, c.position): c for c in self._contexts(request.model, texts, wanted, ctx_size, tenant)}
            for rank, (col, kind, layer, index, ex) in enumerate(picks, start=1):
                out.neurons.append(pb.ConceptNeuron(
                    neuron=_neuron_id(kind, layer, index), rank=rank, auroc=float(scores.auroc[col]), effect_size=float(scores.effect_size[col]),
                    p_value=float(scores.p_value[col]), p_bonferroni=float(scores.p_bonferroni[col]), q_value=float(scores.q_value[col]),
                    concept_mean=float(scores.concept_mean[col]), control_mean=float(scores.control_mean[col]),
                    examples=[_with_value(contexts[(t, p)], v) for t, p, v in ex if (t, p) in contexts],
                ))
            out.findings.extend(_concept_findings(out, request.concept or "the concept", how))
            return out

        yield from streamed(context, work, pb.FindConceptNeuronsResponse, "concept-neurons")

    # -------------------------------------------------------------------------- AnalyzeGradients

    @rpc_method(pb.AnalyzeGradientsResponse)
    def AnalyzeGradients(self, request: pb.AnalyzeGradientsRequest, context: grpc.ServicerContext) -> Iterator[pb.AnalyzeGradientsResponse]:
        tenant = tenant_of(context)
        texts = check_texts(request.texts.texts, "texts.texts", self.limits)
        types: list[str] = []
        for i, v in enumerate(request.gradient_types):
            # The catalog's reason for a bad gradient type is ACTIVATION_SITE_INVALID (its entry
            # covers "an activation site or gradient type"); the message says which.
            kind = enum_choice(v, _GRADIENT_TYPES, f"gradient_types[{i}]", "gradient type (use one of "
                               + ", ".join(pb.GradientType.Name(g) for g in _GRADIENT_TYPES) + ")", Reason.ACTIVATION_SITE_INVALID)
            if kind in types:
                raise invalid(Reason.ACTIVATION_SITE_INVALID, f"gradient_types[{i}]", f"{pb.GradientType.Name(v)} is listed twice")
            types.append(kind)
        types = types or ["input", "hidden", "attention"]
        info = self.models.get(request.model, tenant)
        layers = select_layers(request.layers, info, "layers")
        lengths = self._checked_lengths(request.model, texts, info, tenant, "texts.texts", lambda: not context.is_active())
        metric, described = self._target(request.target, info, request.model, texts, lengths, tenant)
        grads: list[str] = []
        capture: list[str] = []
        if "input" in types:
            grads.append("hook_embed")
            capture.append("hook_embed")
        if "hidden" in types:
            grads += [core.site_name("resid_post", layer) for layer in layers]
        if "attention" in types:
            patterns = [f"blocks.{layer}.attn.hook_pattern" for layer in layers]
            grads += patterns
            capture += patterns

        def work(emit, stop) -> pb.GradientAnalysis:
            out = pb.GradientAnalysis(model=info.name)
            reduced, shown = [], []
            for i, text in enumerate(texts):
                if stop.is_set() or not context.is_active():
                    raise Cancelled(Reason.CANCELLED, "the client cancelled the gradient analysis")
                emit(pb.AnalyzeGradientsResponse(progress=progress(f"text {i + 1} of {len(texts)}", i / len(texts), i)))
                m = _metric_rows(metric, [i])
                run = self.data.run(request.model, [text], tenant, capture=capture, gradients=grads, metric=m)
                seq = run.response.sequences[0]
                tokens = list(seq.display_tokens) or list(seq.tokens)
                g = core.text_gradients(
                    run.activations["hook_embed"][0] if "input" in types else None,
                    run.gradients["hook_embed"][0] if "input" in types else None,
                    {layer: run.gradients[core.site_name("resid_post", layer)][0] for layer in layers} if "hidden" in types else {},
                    {layer: (run.activations[f"blocks.{layer}.attn.hook_pattern"][0], run.gradients[f"blocks.{layer}.attn.hook_pattern"][0])
                     for layer in layers} if "attention" in types else {},
                    per_token=request.include_norm_analysis,
                )
                reduced.append(g)
                shown.append(tokens)
                out.texts.append(pb.TextGradients(
                    text=text, tokens=tokens, target=described, target_value=run.response.metric_values[0],
                    saliency=g.saliency, input_x_gradient=g.input_x_gradient,
                    hidden=[pb.LayerGradient(layer=h.layer, norm=h.norm, norms=h.norms) for h in g.hidden],
                    attention=[pb.LayerGradient(layer=a.layer, norm=a.norm, norms=a.norms, weight_x_gradient=a.weight_x_gradient)
                               for a in g.attention],
                ))
            flow = core.gradient_flow(reduced, layers)
            out.flow.CopyFrom(pb.GradientFlow(layers=flow.layers, hidden_norms=flow.hidden_norms, attention_norms=flow.attention_norms,
                                              first_to_last_ratio=flow.first_to_last_ratio, verdict=flow.verdict))
            out.findings.extend(core.gradient_findings(reduced, shown, flow))
            return out

        yield from streamed(context, work, pb.AnalyzeGradientsResponse, "analyze-gradients")

    # ---------------------------------------------------------------------- RankNeuronImportance

    @rpc_method(pb.RankNeuronImportanceResponse)
    def RankNeuronImportance(self, request: pb.RankNeuronImportanceRequest, context: grpc.ServicerContext) -> Iterator[pb.RankNeuronImportanceResponse]:
        tenant = tenant_of(context)
        texts = check_texts(request.texts.texts, "texts.texts", self.limits)
        if request.method not in _RANKING:
            raise invalid(Reason.RANKING_METHOD_UNKNOWN, "method", f"{request.method} is not a ranking method; use one of "
                          + ", ".join(pb.RankingMethod.Name(v) for v in _RANKING))
        method = _RANKING[request.method]
        if request.top_k < 0:
            raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, "top_k", "must be >= 0 (0: every neuron)")
        n_candidates = _option(request.ablation_candidates, DEFAULT_ABLATION_CANDIDATES, MAX_ABLATION_CANDIDATES, "ablation_candidates")
        if request.ablation not in (pb.ABLATION_KIND_UNSPECIFIED, pb.ABLATION_KIND_ZERO, pb.ABLATION_KIND_MEAN):
            raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, "ablation", f"{request.ablation} is not an ablation kind")
        info = self.models.get(request.model, tenant)
        kinds = _sites(request.sites, ("mlp_post",), "sites")
        layers = select_layers(request.layers, info, "layers")
        columns = [(k, layer, core.site_width(info, k)) for k in kinds for layer in layers]
        lengths = self._checked_lengths(request.model, texts, info, tenant, "texts.texts", lambda: not context.is_active())
        metric, described = self._target(request.target, info, request.model, texts, lengths, tenant)

        def work(emit, stop) -> pb.NeuronImportance:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            names = [core.site_name(k, layer) for k, layer, _ in columns]
            # Activations and gradients of every site, a batch of texts at a time (each batch's
            # captures sized like AnalyzeActivations' batches); per-text scores summed here.
            batches = self.data.batches(lengths, 8 * sum(w for _, _, w in columns))
            grad_method = "gradient_magnitude" if method == "gradient_magnitude" else "gradient_x_activation"
            totals = {n: torch.zeros(w, dtype=torch.float64) for n, (_, _, w) in zip(names, columns, strict=True)}
            sums = {n: torch.zeros(w, dtype=torch.float64) for n, (_, _, w) in zip(names, columns, strict=True)}
            n_tokens = texts_done = 0
            clean = torch.zeros(len(texts), dtype=torch.float64)
            for b, batch in enumerate(batches):
                if stopped():
                    raise Cancelled(Reason.CANCELLED, "the client cancelled the ranking")
                rows = [t.index for t in batch]
                run = self.data.run(request.model, [texts[i] for i in rows], tenant, capture=names, gradients=names,
                                metric=_metric_rows(metric, rows))
                mask = run.mask()
                clean[rows] = torch.tensor(list(run.response.metric_values), dtype=torch.float64)
                for n in names:
                    totals[n] += core.gradient_scores(run.activations[n], run.gradients[n], mask, grad_method).sum(0)
                    sums[n] += (run.activations[n].double() * mask[..., None]).sum(dim=(0, 1))
                n_tokens += int(mask.sum())
                texts_done += len(batch)
                emit(pb.RankNeuronImportanceResponse(progress=progress(f"gradients: batch {b + 1} of {len(batches)}",
                                                                        (b + 1) / len(batches) * (0.3 if method == "ablation" else 1.0),
                                                                        texts_done)))
            scores = torch.cat([totals[n] / len(texts) for n in names])
            means = {n: sums[n] / max(n_tokens, 1) for n in names}
            scored = list(range(scores.numel()))
            if method == "ablation":
                candidates = core.rank(scores)[: n_candidates]
                effects = self._ablate(request, texts, metric, columns, candidates, clean, means, tenant, emit, stopped)
                scores = torch.full_like(scores, float("nan"))
                scores[candidates] = effects
                scored = candidates
            order = sorted(scored, key=lambda c: -float(scores[c]))
            if request.top_k:
                order = order[: request.top_k]
            out = pb.NeuronImportance(model=info.name, method=request.method, target=described, target_mean=float(clean.mean()),
                                      neurons_scored=len(scored))
            for rank, col in enumerate(order, start=1):
                kind, layer, index = _column(columns, col)
                out.neurons.append(pb.NeuronScore(neuron=_neuron_id(kind, layer, index), score=float(scores[col]), rank=rank))
            out.findings.extend(_importance_findings(out, method, len(texts), len(scored), sum(w for _, _, w in columns)))
            return out

        yield from streamed(context, work, pb.RankNeuronImportanceResponse, "neuron-importance")

    def _ablate(self, request, texts, metric: mh.Metric, columns, candidates: list[int], clean: torch.Tensor, means, tenant, emit, stopped) -> torch.Tensor:
        """|clean - ablated| per candidate, averaged over texts: one sequence per (candidate,
        text), one intervention per candidate, batched within the request limits."""
        n = len(texts)
        per_call = max(1, min(self.limits.max_batch // n, self.limits.max_interventions))
        effects = torch.zeros(len(candidates), dtype=torch.float64)
        for start in range(0, len(candidates), per_call):
            if stopped():
                raise Cancelled(Reason.CANCELLED, "the client cancelled the ranking")
            chunk = candidates[start : start + per_call]
            interventions = []
            for j, col in enumerate(chunk):
                kind, layer, index = _column(columns, col)
                site = core.site_name(kind, layer)
                iv = mh.Intervention(hook_site=site, sequences=range(j * n, (j + 1) * n), neurons=[index])
                if request.ablation == pb.ABLATION_KIND_MEAN:
                    # Only the selected neuron changes; the other entries of the mean are unused.
                    vec = torch.zeros(means[site].numel())
                    vec[index] = means[site][index]
                    iv.mean_ablation.mean.CopyFrom(encode_raw(vec.float()))
                else:
                    iv.zero_ablation.SetInParent()
                interventions.append(iv)
            m = _metric_rows(metric, list(range(n)) * len(chunk))  # sequence j * n + r is text r
            resp = self.data.run(request.model, [t for _ in chunk for t in texts], tenant, interventions=interventions, metric=m).response
            ablated = torch.tensor(list(resp.metric_values), dtype=torch.float64).reshape(len(chunk), n)
            effects[start : start + len(chunk)] = (ablated - clean[None, :]).abs().mean(dim=1)
            emit(pb.RankNeuronImportanceResponse(progress=progress(f"ablated {start + len(chunk)} of {len(candidates)} neurons",
                                                                    (start + len(chunk)) / len(candidates))))
        return effects

    # --------------------------------------------------------------------------------- LogitLens

    @rpc_method(pb.LogitLensResponse)
    def LogitLens(self, request: pb.LogitLensRequest, context: grpc.ServicerContext) -> pb.LogitLensResponse:
        tenant = tenant_of(context)
        check_texts([request.text], "text", self.limits, max_count=1)
        top_k = _option(request.top_k, 5, 20, "top_k")
        info = self.models.get(request.model, tenant)
        if not info.has_lm_head:
            raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "model", f"{info.name} has no language-model head to read the residual stream with")
        layers = select_layers(request.layers, info, "layers")
        targets = [self._one_token(request.model, request.target, "target", tenant)] if request.target else []
        sites = [core.site_name("resid_post", layer) for layer in layers]
        run = self.data.run(request.model, [request.text], tenant, logit_lens=mh.LogitLens(hook_sites=sites, top_k=top_k, target_token_ids=targets))
        resp = run.response
        shown = dict(resp.logit_lens_tokens)
        seq = resp.sequences[0]
        tids = run.lens_targets[0].tolist()
        out = pb.LogitLensResponse(model=info.name, tokens=list(seq.display_tokens) or list(seq.tokens), target_ids=tids,
                                   targets=[shown.get(t, "") for t in tids])
        for layer, site in zip(layers, sites, strict=True):
            lens = run.lens[site]
            ids, probs = lens["top_token_ids"][0], lens["top_probabilities"][0]
            t_probs, t_ranks = lens["target_probabilities"][0], lens["target_ranks"][0]
            out.layers.append(pb.LensLayer(layer=layer, cells=[
                pb.LensCell(top=[pb.LensPrediction(token_id=int(i), token=shown.get(int(i), ""), probability=float(p))
                                 for i, p in zip(ids[pos].tolist(), probs[pos].tolist(), strict=True)],
                            target_probability=float(t_probs[pos]), target_rank=int(t_ranks[pos]))
                for pos in range(ids.shape[0])
            ]))
        out.findings.extend(_lens_findings(out))
        return out


def _column(columns: Sequence[tuple[str, int, int]], col: int) -> tuple[str, int, int]:
    """(family, layer, neuron) of a flat column index over ``columns``' concatenated widths."""
    for kind, layer, width in columns:
        if col < width:
            return kind, layer, col
        col -= width
    raise IndexError(col)


def _with_value(c: pb.ActivationContext, value: float) -> pb.ActivationContext:
    out = pb.ActivationContext()
    out.CopyFrom(c)
    out.activation = value
    return out


def _metric_rows(metric: mh.Metric, rows: Sequence[int]) -> mh.Metric:
    """The metric of the sequences ``rows`` of its batch (per-sequence lists cut to those rows;
    lists of one entry are shared and stay)."""
    out = mh.Metric()
    out.CopyFrom(metric)
    for msg, fields in ((out.token, ("token_ids", "positions")), (out.class_score, ("class_indices",)),
                        (out.logit_difference, ("correct_token_ids", "incorrect_token_ids", "positions"))):
        for f in fields:
            values = list(getattr(msg, f))
            if len(values) > 1:
                del getattr(msg, f)[:]
                getattr(msg, f).extend(values[r] for r in rows)
    return out


def _concept_direction(auroc: float) -> str:
    """How a concept neuron separates the groups, in words (AUROC below 0.5: lower on the
    concept texts, i.e. suppressed by the concept)."""
    if auroc > 0.5:
        return "fires more on the concept"
    if auroc < 0.5:
        return "fires less on the concept (suppressed)"
    return "does not separate the groups"


def _concept_findings(r: pb.ConceptNeurons, concept: str, how: str) -> list[str]:
    out = [
        f"{r.neurons_tested} neurons tested on {r.num_concept} {concept} and {r.num_control} control texts (per-text {how} activation); "
        f"{r.significant_bonferroni} separate them at p < 0.05 after Bonferroni correction, {r.significant_fdr} at FDR q < 0.05."
    ]
    if r.neurons:
        best = r.neurons[0]
        out.append(
            f"Best: layer {best.neuron.layer} neuron {best.neuron.index} (AUROC {best.auroc:.3f}, Cohen's d {best.effect_size:+.2f}, "
            f"Bonferroni p {best.p_bonferroni:.2g}): it {_concept_direction(best.auroc)}."
        )
        more = sum(n.auroc > 0.5 for n in r.neurons)
        less = sum(n.auroc < 0.5 for n in r.neurons)
        out.append(f"Neurons are ranked by separation in either direction (|AUROC - 0.5|): of the top {len(r.neurons)}, {more} fire more "
                   f"on the concept and {less} fire less (suppressed by it; AUROC < 0.5, negative d).")
        layers: dict[int, int] = {}
        for n in r.neurons:
            layers[n.neuron.layer] = layers.get(n.neuron.layer, 0) + 1
        busiest = max(layers, key=lambda k: layers[k])
        out.append(f"Of the top {len(r.neurons)} neurons, {layers[busiest]} are in layer {busiest}.")
    if r.num_concept + r.num_control < 40:
        out.append("Few texts: with under ~20 per group, AUROC and p-values are coarse; add examples before trusting single neurons.")
    return out


def _importance_findings(r: pb.NeuronImportance, method: str, n_texts: int, scored: int, total: int) -> list[str]:
    out = [f"{scored} of {total} neurons scored by {method.replace('_', ' ')} over {n_texts} text(s); target {r.target}, mean {r.target_mean:.4g}."]
    if method == "ablation" and scored < total:
        out.append(f"Only {scored} of the {total} neurons were ablated: the {scored} that gradient x activation ranks highest "
                   f"(ablation_candidates). The other {total - scored} were not ablated and are not in the ranking; a neuron whose "
                   "gradient x activation understates its effect (e.g. a saturated one) can be missed. Raise ablation_candidates "
                   f"(at most {MAX_ABLATION_CANDIDATES}) to ablate more.")
    if r.neurons:
        best = r.neurons[0]
        out.append(f"Most important: layer {best.neuron.layer} neuron {best.neuron.index} (score {best.score:.4g}).")
    return out


def _lens_findings(r: pb.LogitLensResponse) -> list[str]:
    if not r.layers or not r.tokens:
        return []
    last = len(r.tokens) - 1
    target = r.targets[last]
    out = []
    first_top = next((layer.layer for layer in r.layers if layer.cells[last].target_rank == 0), None)
    if first_top is None:
        out.append(f"At the last position, {target!r} is never the lens's top prediction in the layers read.")
    else:
        out.append(f"At the last position, {target!r} first becomes the top prediction at layer {first_top}.")
    top10 = next((layer.layer for layer in r.layers if 0 <= layer.cells[last].target_rank < 10), None)
    if top10 is not None and top10 != first_top:
        out.append(f"It enters the top 10 at layer {top10}.")
    final = r.layers[-1].cells[last]
    out.append(f"At layer {r.layers[-1].layer} it has probability {final.target_probability:.3f} (rank {final.target_rank}).")
    return out
