"""ProbingService servicer: probes with control tasks and MDL, bias analysis, and representation
similarity, all from the model host's residual stream.

The service holds no weights (``ServiceSpec.holds_weights`` is false): probing reads
activations, it never needs autograd through the model, so the residual stream of every asked
layer comes from ``RunModel`` (``toolkit.DatasetRunner``: texts screened, batched by length so
that one answer stays under the inline cap, no store round trip) and is pooled right away into
one vector per sentence or word. A text shared by several tasks (the POS and parsing tasks of one
treebank) runs once. Fitting is scikit-learn (and a small torch optimiser for the structural
probe) in this process, between batches and layers checking for cancellation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import grpc
import numpy as np
import torch

from interp.v1 import model_host_service_pb2 as mh
from interp.v1 import probing_service_pb2 as pb
from interp_services.core import probing as core
from interp_services.core.errors import Cancelled, ResourceExhausted, invalid
from interp_services.core.reasons import Reason
from interp_services.rpc.clients import ServiceClient
from interp_services.rpc.codec import Deliverer, DeliveryPolicy, nbytes
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.rpc.toolkit import (
    ActivationReader,
    DatasetRunner,
    ModelInfoCache,
    check_count,
    enum_choice,
    progress,
    select_layers,
    skipped_input,
    streamed,
)
from interp_services.store.base import TensorStore

_LEVELS = {pb.PROBE_LEVEL_TOKEN: "token", pb.PROBE_LEVEL_SENTENCE: "sentence", pb.PROBE_LEVEL_DEPTH: "depth",
           pb.PROBE_LEVEL_DISTANCE: "distance"}
_METRIC_OF_LEVEL = {"token": "accuracy", "sentence": "accuracy", "depth": "root accuracy", "distance": "UUAS"}
_CLASSIFIERS = {pb.PROBE_CLASSIFIER_UNSPECIFIED: "logistic", pb.PROBE_CLASSIFIER_LOGISTIC: "logistic", pb.PROBE_CLASSIFIER_MLP: "mlp"}
_POOLINGS = {pb.POOLING_UNSPECIFIED: None, pb.POOLING_MEAN: "mean", pb.POOLING_LAST: "last", pb.POOLING_FIRST: "first"}
_METRICS = {pb.SIMILARITY_METRIC_COSINE: "cosine", pb.SIMILARITY_METRIC_CKA: "cka", pb.SIMILARITY_METRIC_RSA: "rsa"}
_PAIRINGS = {pb.LAYER_PAIRING_UNSPECIFIED: None, pb.LAYER_PAIRING_MATCHED: "matched", pb.LAYER_PAIRING_ALL: "all"}
MAX_FEATURE_BYTES = 1_500_000_000
"""Pooled vectors (sentences and words x layers x d_model x 4 bytes) one analysis may hold."""
MAX_REGULARIZATION_VALUES = 10
MIN_SPLIT_GROUPS = 5
"""Fewest groups (examples, unless the request groups them) each of the train, validation and test
splits may hold, so a task needs at least 15. With fewer, a test score's interval spans most of
[0, 1] (5 of 5 right: Wilson [0.57, 1]), the choice of C on validation is a coin toss, and the
sentence-to-sentence spread that a token-level interval is estimated from rests on a handful of
sentences."""
MIN_EXAMPLES_PER_LABEL = 3
"""Fewest examples a sentence-level label may have: fewer cannot reach all three splits, and one
or two examples of a class are far more often a typo or an unfinished dataset than a class. (Token
labels have no minimum: a treebank's rare tags are real; the split keeps each in training.)"""
CAPTURE_BUDGET_BYTES = 64 << 20
"""Captures one batch may make at the model host before they are pooled (every layer's residual
stream of every token); larger batches than an inline answer allows, since only the pooled
vectors travel (measured: ~10% more tokens/s than 32 MB batches on 2 cores)."""


@dataclass
class _Example:
    text: int  # index into the analysis' unique texts
    source: str
    group: str
    label: int = -1  # sentence tasks
    word_labels: list[int] = field(default_factory=list)  # token tasks
    heads: list[int] = field(default_factory=list)  # structural tasks
    n_words: int = 0
    index: int = 0  # in the request's task


@dataclass
class _Task:
    name: str
    level: str
    labels: list[str]
    examples: list[_Example]
    index: int = 0  # in the request's tasks

    def split(self, examples: Sequence[_Example], opts: dict[str, Any]) -> core.Split:
        """Train / validation / test of ``examples`` by group, every label kept in training and
        at least ``MIN_SPLIT_GROUPS`` groups in each split."""
        labels = None
        if self.level == "sentence":
            labels = [[e.label] for e in examples]
        elif self.level == "token":
            labels = [e.word_labels for e in examples]
        return core.group_split([e.group for e in examples], validation_fraction=opts["val"], test_fraction=opts["test"],
                                seed=opts["seed"], field=f"tasks[{self.index}].examples", labels=labels,
                                min_per_split=MIN_SPLIT_GROUPS)


@dataclass
class _Texts:
    """The unique texts of an analysis and what each needs: a sentence vector, word vectors."""

    texts: list[str] = field(default_factory=list)
    words: dict[int, list[str]] = field(default_factory=dict)
    sentence: set[int] = field(default_factory=set)
    spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)

    def id_of(self, text: str) -> int:
        """The index of a text already added."""
        return self._ids[text]

    def check_size(self, n_layers: int, d_model: int) -> None:
        """Refuse an analysis whose pooled vectors would not fit ``MAX_FEATURE_BYTES``."""
        n_vectors = len(self.sentence) + sum(len(w) for w in self.words.values())
        if n_vectors * n_layers * d_model * 4 > MAX_FEATURE_BYTES:
            raise ResourceExhausted(Reason.ANALYSIS_TOO_LARGE, f"{n_vectors} sentence and word vectors x {n_layers} layers x "
                                    f"{d_model} is over {MAX_FEATURE_BYTES // 10**6} MB; choose fewer layers or examples")

    def add(self, text: str, *, words: Sequence[str] | None = None, where: str = "") -> int:
        i = self._ids.get(text)
        if i is None:
            i = self._ids[text] = len(self.texts)
            self.texts.append(text)
        if words is None:
            self.sentence.add(i)
        else:
            words = list(words)
            if i in self.words and self.words[i] != words:
                raise invalid(Reason.WORDS_NOT_ALIGNED, where, "the same text is given with two different word lists")
            if i not in self.words:
                self.spans[i] = core.word_spans(text, words, f"{where}.words")
                self.words[i] = words
        return i


@dataclass
class _Features:
    """Pooled vectors: per text, ``[layer, d]`` for sentences and ``[layer, word, d]`` for words."""

    sentence: dict[int, np.ndarray] = field(default_factory=dict)
    words: dict[int, np.ndarray] = field(default_factory=dict)
    unusable: dict[int, str] = field(default_factory=dict)
    tokens: int = 0
    seconds: float = 0.0


def _where(task: int, i: int, source: str) -> str:
    return f"tasks[{task}].examples[{i}]" + (f" ({source})" if source else "")


class ProbingServicer:
    """Serves ProbingService from a model-host client.

    Args:
        batch_bytes: most bytes of captures one ``RunModel`` answer may carry.
    """

    def __init__(self, model_host: ServiceClient, store: TensorStore | None, limits: Limits, policy: DeliveryPolicy, *,
                 batch_bytes: int = 32 << 20) -> None:
        self.store = store
        self.limits = limits
        self.policy = policy
        self.models = ModelInfoCache(model_host)
        self.data = DatasetRunner(model_host, ActivationReader(model_host, store, policy), limits, batch_bytes=batch_bytes)

    # ---------------------------------------------------------------------------- extraction

    def _extract(self, model: str, info: mh.ModelInfo, texts: _Texts, layers: Sequence[int], tenant: str, *, sentence_pooling: str,
                 word_pooling: str, include_first: bool, stopped: Callable[[], bool], report: Callable[[float, int, int], None]) -> _Features:
        """Run every text once, capturing the residual stream of ``layers``, and pool it."""
        started = time.monotonic()
        out = _Features()
        wanted = sorted(texts.sentence | set(texts.words))
        usable, skipped, _ = self.data.screen(model, texts.texts, wanted, info, tenant, stopped, keep_tokens=True)
        reasons = {s.index: s.reason for s in skipped}
        kept = {t.index for t in usable}
        for i in wanted:
            if i not in kept:
                out.unusable[i] = reasons.get(i, "over the model's token limit")
        alignment: dict[int, list[list[int]]] = {}
        for t in usable:
            if t.index not in texts.words:
                continue
            tok = t.tokens
            if not tok.char_starts:
                raise invalid(Reason.WORDS_NOT_ALIGNED, "tasks", f"the tokenizer of {info.name} cannot map tokens to characters; "
                              "word-level tasks need a fast tokenizer")
            idx = core.word_tokens(texts.spans[t.index], tok.char_starts, tok.char_ends)
            if idx is None:
                out.unusable[t.index] = "a word the tokenizer dropped (no token covers it)"
            else:
                alignment[t.index] = idx
        usable = [t for t in usable if t.index not in out.unusable]
        sites = [f"blocks.{layer}.hook_resid_post" for layer in layers]
        # The model host captures every token before pooling: budget its working memory.
        batches = self.data.batches(usable, 4 * info.d_model * len(layers), budget=CAPTURE_BUDGET_BYTES)
        done = 0
        for b, batch in enumerate(batches):
            if stopped():
                raise Cancelled(Reason.CANCELLED, "the client cancelled the analysis")
            # One pool per sentence and per word: the model host averages the positions and sends
            # one vector each, not every token's residual stream.
            pools: list[mh.PositionPool] = []
            owners: list[tuple[int, int]] = []  # (text, word index or -1 for the sentence)
            for row, t in enumerate(batch):
                if t.index in texts.sentence:
                    keep = list(range(t.length)) if include_first or t.length == 1 else list(range(1, t.length))
                    pools.append(mh.PositionPool(sequence=row, positions=core.positions_to_pool(keep, sentence_pooling)))
                    owners.append((t.index, -1))
                for w, idx in enumerate(alignment.get(t.index, ())):
                    pools.append(mh.PositionPool(sequence=row, positions=core.positions_to_pool(idx, word_pooling)))
                    owners.append((t.index, w))
                out.tokens += t.length
            run = self.data.run(model, [texts.texts[t.index] for t in batch], tenant, capture=sites,
                                capture_pooling=mh.CapturePooling(pools=pools))
            pooled = torch.stack([run.activations[s] for s in sites], dim=1).float().numpy()  # [pool, layer, d]
            words: dict[int, list[np.ndarray]] = {}
            for row, (text, w) in enumerate(owners):
                if w < 0:
                    out.sentence[text] = pooled[row]
                else:
                    words.setdefault(text, []).append(pooled[row])
            for text, vecs in words.items():
                out.words[text] = np.stack(vecs, axis=1)  # [layer, word, d]
            done += 1
            report(done / max(1, len(batches)), done, out.tokens)
        out.seconds = time.monotonic() - started
        return out

    # ------------------------------------------------------------------------- ProbeRepresentations

    def _tasks(self, request: pb.ProbeRepresentationsRequest, texts: _Texts) -> list[_Task]:
        if not request.tasks:
            raise invalid(Reason.PROBE_TASK_INVALID, "tasks", "give at least one task")
        names: set[str] = set()
        out = []
        total = 0
        for t, task in enumerate(request.tasks):
            f = f"tasks[{t}]"
            if not task.name.strip():
                raise invalid(Reason.PROBE_TASK_INVALID, f"{f}.name", "a task needs a name")
            if task.name in names:
                raise invalid(Reason.PROBE_TASK_INVALID, f"{f}.name", f"{task.name!r} is given twice")
            names.add(task.name)
            level = enum_choice(task.level, _LEVELS, f"{f}.level", "probe level (TOKEN, SENTENCE, DEPTH or DISTANCE)", Reason.PROBE_TASK_INVALID)
            total += len(task.examples)
            if total > self.limits.max_dataset_texts:
                raise ResourceExhausted(Reason.BATCH_TOO_LARGE, f"tasks: over {self.limits.max_dataset_texts} examples in all")
            labels: dict[str, int] = {}
            examples = []
            for i, ex in enumerate(task.examples):
                where = _where(t, i, ex.source)
                examples.append(self._example(ex, level, labels, texts, where, i))
            if level in ("token", "sentence") and len(labels) < 2:
                raise invalid(Reason.PROBE_LABELS_INVALID, f"{f}.examples", f"task {task.name!r} has a single class "
                              f"({next(iter(labels), '')!r}); a probe needs at least two")
            if level == "sentence":
                counts = np.bincount([e.label for e in examples], minlength=len(labels))
                rare = [f"{name!r} ({int(counts[k])})" for name, k in labels.items() if counts[k] < MIN_EXAMPLES_PER_LABEL]
                if rare:
                    raise invalid(Reason.PROBE_LABELS_INVALID, f"{f}.examples", f"task {task.name!r}: label(s) {', '.join(rare)} have "
                                  f"fewer than {MIN_EXAMPLES_PER_LABEL} examples; give more, or fix the label if it is a typo")
            out.append(_Task(task.name, level, list(labels), examples, t))
        return out

    @staticmethod
    def _example(ex: pb.ProbeExample, level: str, labels: dict[str, int], texts: _Texts, where: str, index: int) -> _Example:
        words = list(ex.words)
        text = ex.text or " ".join(words)
        if not text.strip():
            raise invalid(Reason.INPUT_EMPTY, where, "the example has neither text nor words")
        group = ex.group or text
        if level == "sentence":
            if not ex.label:
                raise invalid(Reason.PROBE_LABELS_INVALID, f"{where}.label", "a sentence-level example needs a label")
            if ex.word_labels or ex.heads:
                raise invalid(Reason.PROBE_LABELS_INVALID, where, "a sentence-level example has `label`, not word labels or heads")
            label = labels.setdefault(ex.label, len(labels))
            return _Example(texts.add(text), ex.source, group, label=label, index=index)
        if not words:
            raise invalid(Reason.PROBE_LABELS_INVALID, f"{where}.words", f"a {level}-level example needs its words")
        tid = texts.add(text, words=words, where=where)
        if level == "token":
            if len(ex.word_labels) != len(words) or ex.label or ex.heads:
                raise invalid(Reason.PROBE_LABELS_INVALID, f"{where}.word_labels",
                              f"{len(words)} words but {len(ex.word_labels)} word labels (a token-level example has one per word)")
            if not all(ex.word_labels):
                raise invalid(Reason.PROBE_LABELS_INVALID, f"{where}.word_labels", "a word label must not be empty")
            return _Example(tid, ex.source, group, word_labels=[labels.setdefault(x, len(labels)) for x in ex.word_labels],
                            n_words=len(words), index=index)
        if len(ex.heads) != len(words) or ex.label or ex.word_labels:
            raise invalid(Reason.PROBE_LABELS_INVALID, f"{where}.heads",
                          f"{len(words)} words but {len(ex.heads)} heads (a structural example has one head per word)")
        core.check_tree(list(ex.heads), f"{where}.heads")
        return _Example(tid, ex.source, group, heads=list(ex.heads), n_words=len(words), index=index)

    def _options(self, request: pb.ProbeRepresentationsRequest, info: mh.ModelInfo) -> dict[str, Any]:
        o = request.options
        classifier = enum_choice(o.classifier, _CLASSIFIERS, "options.classifier", "probe classifier", Reason.PROBE_OPTION_INVALID)
        grid = list(o.regularization) or list(core.DEFAULT_REGULARIZATION)
        if len(grid) > MAX_REGULARIZATION_VALUES:
            raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, "options.regularization", f"at most {MAX_REGULARIZATION_VALUES} values")
        for i, c in enumerate(grid):
            if not (math.isfinite(c) and c > 0):
                raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, f"options.regularization[{i}]", "must be finite and > 0")
        val = o.validation_fraction or 0.15
        test = o.test_fraction or 0.2
        for name, v in (("validation_fraction", val), ("test_fraction", test)):
            if not 0.05 <= v <= 0.5:
                raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, f"options.{name}", f"must be in [0.05, 0.5], got {v}")
        if val + test > 0.7:
            raise invalid(Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE, "options.test_fraction", "validation and test together leave too little to train on")
        rank = check_count(o.structural_rank, "options.structural_rank", low=1, high=info.d_model,
                           reason=Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE) if o.structural_rank else min(64, info.d_model)
        hidden = check_count(o.mlp_hidden, "options.mlp_hidden", low=1, high=4096,
                             reason=Reason.ANALYSIS_PARAMETER_OUT_OF_RANGE) if o.mlp_hidden else 256
        return {"classifier": classifier, "grid": sorted(grid), "val": val, "test": test, "seed": int(o.seed), "mdl": not o.skip_mdl,
                "rank": rank, "hidden": hidden}

    @rpc_method(pb.ProbeRepresentationsResponse)
    def ProbeRepresentations(self, request: pb.ProbeRepresentationsRequest, context: grpc.ServicerContext) -> Iterator[pb.ProbeRepresentationsResponse]:
        tenant = tenant_of(context)
        texts = _Texts()
        tasks = self._tasks(request, texts)
        sentence_pooling = enum_choice(request.sentence_pooling, _POOLINGS, "sentence_pooling", "pooling", Reason.PROBE_OPTION_INVALID) or "mean"
        word_pooling = enum_choice(request.word_pooling, _POOLINGS, "word_pooling", "pooling", Reason.PROBE_OPTION_INVALID) or "last"
        bias_pairs: list[tuple[int, int, str]] = []
        protected = None
        if request.HasField("bias"):
            protected = next((t for t in tasks if t.name == request.bias.protected_task), None)
            if protected is None or protected.level != "sentence":
                raise invalid(Reason.BIAS_ANALYSIS_INVALID, "bias.protected_task",
                              f"{request.bias.protected_task!r} must name a sentence-level task of the request")
            for i, p in enumerate(request.bias.pairs):
                for side in ("original", "counterfactual"):
                    if not getattr(p, side).strip():
                        raise invalid(Reason.BIAS_ANALYSIS_INVALID, f"bias.pairs[{i}].{side}", "must not be empty"
                                      + (f" ({p.source})" if p.source else ""))
                bias_pairs.append((texts.add(p.original), texts.add(p.counterfactual), p.source))
        info = self.models.get(request.model, tenant)
        layers = select_layers(request.layers, info, "layers")
        opts = self._options(request, info)
        for task in tasks:
            # Refuse a task too small to split before the model runs; it is split again, the same
            # way, once the examples the model cannot take are known.
            task.split(task.examples, opts)
        texts.check_size(len(layers), info.d_model)
        deliverer = Deliverer(request.delivery, self.policy, self.store, tenant, "probing/")
        n_fits = len(tasks) * len(layers)

        def work(emit, stop) -> pb.ProbeAnalysis:
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731

            def extracted(fraction: float, batches: int, tokens: int) -> None:
                emit(pb.ProbeRepresentationsResponse(progress=progress(f"extracting: {batches} batches", 0.4 * fraction, tokens=tokens)))

            emit(pb.ProbeRepresentationsResponse(progress=progress("tokenizing", 0.0)))
            feats = self._extract(request.model, info, texts, layers, tenant, sentence_pooling=sentence_pooling, word_pooling=word_pooling,
                                  include_first=request.include_first_token, stopped=stopped, report=extracted)
            started = time.monotonic()
            result = pb.ProbeAnalysis(model=info.name, layers=layers, extraction_seconds=feats.seconds, tokens=feats.tokens)
            kept: dict[str, _Fitted] = {}
            done = 0
            for task in tasks:
                def fitted(layer: int) -> None:
                    nonlocal done
                    done += 1
                    emit(pb.ProbeRepresentationsResponse(progress=progress(f"probing {task.name}: layer {layer}", 0.4 + 0.6 * done / n_fits,
                                                                           tokens=feats.tokens)))

                out, fits = _probe_task(task, feats, texts, layers, opts, deliverer, stopped, fitted, keep_for_bias=protected is not None)
                result.tasks.append(out)
                if fits is not None:
                    kept[task.name] = fits
            if protected is not None:
                result.bias.CopyFrom(_bias(protected.name, tasks, kept, feats, bias_pairs, layers))
            result.fitting_seconds = time.monotonic() - started
            result.findings.extend(_probe_findings(result, mdl=opts["mdl"]))
            return result

        yield from streamed(context, work, pb.ProbeRepresentationsResponse, "probe-representations")

    # ------------------------------------------------------------------------ CompareRepresentations

    @rpc_method(pb.CompareRepresentationsResponse)
    def CompareRepresentations(self, request: pb.CompareRepresentationsRequest, context: grpc.ServicerContext) -> Iterator[pb.CompareRepresentationsResponse]:
        tenant = tenant_of(context)
        sources = list(request.sources)
        if len(sources) < 2:
            raise invalid(Reason.PARALLEL_MISALIGNED, "sources", f"give at least two sources to compare, got {len(sources)}")
        n = len(sources[0].texts)
        labels: list[str] = []
        for i, s in enumerate(sources):
            label = s.label or f"source {i}"
            if label in labels:
                raise invalid(Reason.PARALLEL_MISALIGNED, f"sources[{i}].label", f"{label!r} is given twice")
            labels.append(label)
            if len(s.texts) != n:
                raise invalid(Reason.PARALLEL_MISALIGNED, f"sources[{i}].texts",
                              f"{label!r} has {len(s.texts)} texts but {labels[0]!r} has {n}; texts are aligned by index")
            for j, t in enumerate(s.texts):
                if not t.strip():
                    raise invalid(Reason.INPUT_EMPTY, f"sources[{i}].texts[{j}]", "must not be empty")
            if not (s.model or request.model):
                raise invalid(Reason.INPUT_EMPTY, f"sources[{i}].model", "name a model here or in `model`")
        if n < 4:
            raise invalid(Reason.PROBE_TOO_FEW_EXAMPLES, "sources[0].texts", f"{n} texts; similarity needs at least 4 aligned texts")
        if n * len(sources) > self.limits.max_dataset_texts:
            raise ResourceExhausted(Reason.BATCH_TOO_LARGE, f"sources: {n * len(sources)} texts; the limit is {self.limits.max_dataset_texts}")
        metrics = [enum_choice(m, _METRICS, f"metrics[{i}]", "similarity metric", Reason.PROBE_OPTION_INVALID) for i, m in enumerate(request.metrics)] or list(_METRICS.values())
        pairing = enum_choice(request.pairing, _PAIRINGS, "pairing", "layer pairing", Reason.PROBE_OPTION_INVALID)
        pooling = enum_choice(request.pooling, _POOLINGS, "pooling", "pooling", Reason.PROBE_OPTION_INVALID) or "mean"
        models = [s.model or request.model for s in sources]
        infos = {m: self.models.get(m, tenant) for m in dict.fromkeys(models)}
        layers = {m: select_layers(request.layers, info, "layers") for m, info in infos.items()}
        if pairing == "matched":
            for a, b in combinations(dict.fromkeys(models), 2):
                if len(layers[a]) != len(layers[b]):
                    raise invalid(Reason.PROBE_OPTION_INVALID, "pairing", f"MATCHED pairs layer i with layer i, but {a} has "
                                  f"{len(layers[a])} layers and {b} {len(layers[b])}; use ALL")

        model_texts = {m: _Texts() for m in infos}  # each model runs the texts of its sources once
        for src, m in zip(sources, models, strict=True):
            for t in src.texts:
                model_texts[m].add(t)
        for m, texts in model_texts.items():
            texts.check_size(len(layers[m]), infos[m].d_model)

        def work(emit, stop) -> pb.RepresentationSimilarity:
            started = time.monotonic()
            stopped = lambda: stop.is_set() or not context.is_active()  # noqa: E731
            feats: dict[str, _Features] = {}
            for k, (m, texts) in enumerate(model_texts.items()):

                def extracted(fraction: float, batches: int, tokens: int, k: int = k) -> None:
                    emit(pb.CompareRepresentationsResponse(progress=progress(f"extracting {m}", 0.9 * (k + fraction) / len(infos), tokens=tokens)))

                feats[m] = self._extract(m, infos[m], texts, layers[m], tenant, sentence_pooling=pooling, word_pooling="last",
                                         include_first=request.include_first_token, stopped=stopped, report=extracted)
            # A row unusable in any source (too long for one model) is left out of every source.
            ids = [[model_texts[m].id_of(t) for t in src.texts] for src, m in zip(sources, models, strict=True)]
            rows = [r for r in range(n) if all(ids[k][r] in feats[m].sentence for k, m in enumerate(models))]
            if len(rows) < 4:
                raise invalid(Reason.PROBE_TOO_FEW_EXAMPLES, "sources", f"only {len(rows)} aligned rows are usable by every model")
            reps = [np.stack([feats[m].sentence[ids[k][r]] for r in rows], axis=1) for k, m in enumerate(models)]  # [layer, n, d]
            dominated = _dominant_dimensions(labels, [layers[m] for m in models], reps)
            if request.standardize:
                reps = [(x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6) for x in reps]
            result = pb.RepresentationSimilarity(texts=len(rows))
            for a, b in combinations(range(len(sources)), 2):
                if stopped():
                    raise Cancelled(Reason.CANCELLED, "the client cancelled the analysis")
                grid = (pairing or ("matched" if models[a] == models[b] else "all")) == "all"
                if not grid and len(layers[models[a]]) != len(layers[models[b]]):
                    grid = True
                result.pairs.append(_similarity(labels[a], labels[b], models[a], models[b], layers[models[a]], layers[models[b]],
                                                reps[a], reps[b], metrics, grid))
            skipped = n - len(rows)
            result.findings.extend(_similarity_findings(result, metrics, skipped))
            if dominated:
                result.findings.append(
                    ("Standardised (`standardize`): every dimension counts alike. Before that, one" if request.standardize else "One")
                    + f" dimension carried over half the variance in {'; '.join(dominated)}"
                    + ("." if request.standardize else ": linear CKA and cosine there compare mostly that dimension; "
                       "RSA (correlation distance) less so. Set `standardize` to weigh every dimension alike."))
            result.seconds = time.monotonic() - started
            return result

        yield from streamed(context, work, pb.CompareRepresentationsResponse, "compare-representations")


# ---------------------------------------------------------------------------------- probing


@dataclass
class _Fitted:
    """A sentence task's per-layer probes, directions and features, kept for the bias analysis."""

    fits: list[Any]
    directions: list[np.ndarray]
    features: list[np.ndarray]
    labels: list[str]
    y: np.ndarray


def _layer_matrix(feats: dict[int, np.ndarray], ids: Sequence[int], layer: int) -> np.ndarray:
    return np.ascontiguousarray(np.stack([feats[i][layer] for i in ids]), dtype=np.float32)


def _probe_task(task: _Task, feats: _Features, texts: _Texts, layers: Sequence[int], opts: dict[str, Any], deliverer: Deliverer,
                stopped: Callable[[], bool], fitted: Callable[[int], None], *, keep_for_bias: bool) -> tuple[pb.TaskProbes, _Fitted | None]:
    """One task's probes on every layer; with ``keep_for_bias``, a sentence task's probes and
    features are returned for the bias analysis."""
    usable = [e for e in task.examples if e.text not in feats.unusable]
    out = pb.TaskProbes(name=task.name, level=_level_value(task.level), labels=task.labels, metric=_METRIC_OF_LEVEL[task.level],
                        examples=len(usable), skipped_count=len(task.examples) - len(usable))
    for e in task.examples:
        if e.text in feats.unusable and len(out.skipped) < 10:
            out.skipped.append(skipped_input(e.index, feats.unusable[e.text] + (f" ({e.source})" if e.source else ""), texts.texts[e.text]))
    split = task.split(usable, opts)
    seed = opts["seed"]
    if task.level in ("depth", "distance"):
        return _probe_structural(task, usable, split, feats, texts, layers, opts, out, stopped, fitted), None
    k = len(task.labels)
    # The unit of independence is the split's group: a score's interval is clustered by it
    # (words of a sentence, sentences of a template) and reduces to Wilson's for ungrouped texts.
    group_id = {g: i for i, g in enumerate(dict.fromkeys(e.group for e in usable))}
    if task.level == "sentence":
        ids = [e.text for e in usable]
        y = np.array([e.label for e in usable])
        groups = np.array([group_id[e.group] for e in usable])
        item_split = split
        layer_x = lambda layer: _layer_matrix(feats.sentence, ids, layer)  # noqa: E731
        control = core.sentence_control_labels([texts.texts[i] for i in ids], y.tolist(), k, seed + 1)
        out.control_description = ("each word type gets a random weight; texts are cut at the quantiles of their words' mean weight "
                                   "into bins the size of the task's classes (a control by word type, after Hewitt & Liang 2019)")
    else:
        item_example = np.concatenate([np.full(e.n_words, j) for j, e in enumerate(usable)])
        y = np.concatenate([np.array(e.word_labels) for e in usable])
        groups = np.concatenate([np.full(e.n_words, group_id[e.group]) for e in usable])
        item_split = core.Split(core.items_of(split.train, item_example), core.items_of(split.validation, item_example),
                                core.items_of(split.test, item_example))
        layer_x = lambda layer: np.ascontiguousarray(  # noqa: E731
            np.concatenate([feats.words[e.text][layer] for e in usable]), dtype=np.float32)
        control = core.control_labels([w.lower() for e in usable for w in texts.words[e.text]], y.tolist(), k, seed + 1)
        out.control_description = "each word type gets one label drawn from the label distribution (Hewitt & Liang 2019)"
    out.train_items, out.validation_items, out.test_items = len(item_split.train), len(item_split.validation), len(item_split.test)
    label, base = core.majority_baseline(y[item_split.train], y[item_split.test])
    out.baseline_score, out.baseline = base, f"always {task.labels[label]}"
    kw = {"classifier": opts["classifier"], "regularization": opts["grid"], "seed": seed, "mlp_hidden": opts["hidden"], "stop": stopped,
          "groups": groups}
    keep = _Fitted([], [], [], task.labels, y) if task.level == "sentence" and keep_for_bias else None
    directions = []
    for li, layer in enumerate(layers):
        x = layer_x(li)
        fit = core.fit_probe(x, y, item_split, k, **kw)
        cfit = core.fit_probe(x, control, item_split, k, **kw)
        entry = pb.LayerProbe(layer=layer, task=_score(fit), control=_score(cfit), selectivity=fit.score - cfit.score)
        if opts["mdl"]:
            train = item_split.train
            for score, labels, f in ((entry.task, y, fit), (entry.control, control, cfit)):
                m = core.online_codelength(x[train], np.asarray(labels)[train], k, regularization=f.regularization, seed=seed,
                                           classifier=opts["classifier"], mlp_hidden=opts["hidden"], stop=stopped)
                score.mdl_bits, score.uniform_bits, score.compression = m.bits, m.uniform_bits, m.compression
        d = core.label_directions(x[item_split.train], y[item_split.train], k)
        directions.append(torch.from_numpy(d.astype(np.float32)))
        if keep is not None:
            keep.fits.append(fit)
            keep.directions.append(d)
            keep.features.append(x)
        out.layers.append(entry)
        fitted(layer)
    out.best_layer = max(out.layers, key=lambda e: e.selectivity).layer
    dirs = torch.stack(directions)
    out.directions.CopyFrom(deliverer.encode(dirs, ("layer", "label", "d_model"), deliverer.plan(nbytes(dirs))))
    return out, keep


def _probe_structural(task: _Task, usable: list[_Example], split: Any, feats: _Features, texts: _Texts, layers: Sequence[int],
                      opts: dict[str, Any], out: pb.TaskProbes, stopped: Callable[[], bool], fitted: Callable[[int], None]) -> pb.TaskProbes:
    heads = [e.heads for e in usable]
    control = core.control_heads([[w.lower() for w in texts.words[e.text]] for e in usable], opts["seed"] + 1)
    out.train_items, out.validation_items, out.test_items = len(split.train), len(split.validation), len(split.test)
    out.baseline_score = core.baseline_score([heads[i] for i in split.test], task.level)
    out.baseline = "every word attached to its left neighbour" if task.level == "distance" else "the first word as the root"
    out.control_description = ("each word type attaches to the previous word or to the first word, chosen at random per type "
                               "(Hewitt & Liang 2019)")
    for li, layer in enumerate(layers):
        xs = [np.ascontiguousarray(feats.words[e.text][li], dtype=np.float32) for e in usable]
        kw = {"rank": opts["rank"], "seed": opts["seed"], "stop": stopped}
        fit = core.fit_structural(xs, heads, split, task.level, **kw)
        cfit = core.fit_structural(xs, control, split, task.level, **kw)
        out.layers.append(pb.LayerProbe(layer=layer, task=_score(fit), control=_score(cfit), selectivity=fit.score - cfit.score))
        fitted(layer)
    out.best_layer = max(out.layers, key=lambda e: e.selectivity).layer
    return out


def _level_value(level: str) -> int:
    return {v: k for k, v in _LEVELS.items()}[level]


def _score(fit: Any) -> pb.ProbeScore:
    return pb.ProbeScore(score=fit.score, score_low=fit.score_low, score_high=fit.score_high, train_score=fit.train_score,
                         validation_score=fit.validation_score, regularization=getattr(fit, "regularization", 0.0),
                         spearman=getattr(fit, "spearman", 0.0))


def _bias(protected: str, tasks: Sequence[_Task], kept: dict[str, _Fitted], feats: _Features, pairs: Sequence[tuple[int, int, str]],
          layers: Sequence[int]) -> pb.BiasReport:
    """Alignment of every sentence task's label directions with the protected ones, and what
    swapping the protected attribute does to each task's probe."""
    out = pb.BiasReport(protected_task=protected)
    p = kept[protected]
    usable = [(a, b) for a, b, _ in pairs if a in feats.sentence and b in feats.sentence]
    for li, layer in enumerate(layers):
        # Alignment in standardised coordinates: a few outlier dimensions of the residual stream
        # carry most of its variance and would otherwise make every pair of directions look alike.
        scale = np.concatenate([t.features[li] for t in kept.values()]).std(0) + 1e-6
        pdirs = core.label_directions(p.features[li] / scale, p.y, len(p.labels))
        for task in tasks:
            if task.name == protected or task.name not in kept:
                continue
            t = kept[task.name]
            cos = core.cosine_matrix(core.label_directions(t.features[li] / scale, t.y, len(t.labels)), pdirs)
            for r, label in enumerate(t.labels):
                for c, plabel in enumerate(p.labels):
                    out.alignments.append(pb.DirectionAlignment(layer=layer, task=task.name, label=label, protected_label=plabel,
                                                                cosine=float(cos[r, c])))
        if usable:
            orig = np.stack([feats.sentence[a][li] for a, _ in usable]).astype(np.float32)
            cf = np.stack([feats.sentence[b][li] for _, b in usable]).astype(np.float32)
            for name, t in kept.items():
                e = core.counterfactual_effect(orig, cf, t.fits[li], t.directions[li], t.features[li])
                out.effects.append(pb.CounterfactualEffect(layer=layer, task=name, flip_rate=e.flip_rate, mean_shift_sd=e.mean_shift_sd,
                                                           pairs=e.pairs))
    return out


def _probe_findings(r: pb.ProbeAnalysis, *, mdl: bool) -> list[str]:
    """The analysis in sentences; ``mdl``: whether description lengths were asked for."""
    out = []
    for t in r.tasks:
        if not t.layers:
            continue
        best = next(e for e in t.layers if e.layer == t.best_layer)
        top = max(t.layers, key=lambda e: e.task.score)
        out.append(f"{t.name}: the highest selectivity is at layer {best.layer} ({t.metric} {best.task.score:.3f} "
                   f"[{best.task.score_low:.3f}, {best.task.score_high:.3f}] vs control {best.control.score:.3f}, selectivity "
                   f"{best.selectivity:+.3f}); baseline ({t.baseline}) {t.baseline_score:.3f}.")
        if top.layer != best.layer:
            out.append(f"{t.name}: the raw {t.metric} peaks at layer {top.layer} ({top.task.score:.3f}), where the control reaches "
                       f"{top.control.score:.3f}.")
        if best.task.score_low <= t.baseline_score:
            out.append(f"{t.name}: even the best layer's interval does not clear the baseline; the probe finds no reliable signal.")
        elif best.selectivity < 0.05:
            out.append(f"{t.name}: the control task is learned about as well, so the accuracy says more about the probe's capacity "
                       "than about the representation.")
        coded = [e for e in t.layers if e.task.mdl_bits > 0]
        if coded:
            m = max(coded, key=lambda e: e.task.compression)
            out.append(f"{t.name}: MDL compression peaks at layer {m.layer} ({m.task.compression:.2f}x vs control {m.control.compression:.2f}x).")
        elif mdl and t.level in (pb.PROBE_LEVEL_DEPTH, pb.PROBE_LEVEL_DISTANCE):
            out.append(f"{t.name}: no MDL figure. The online code (Voita & Titov 2020) prices a probe's predicted probabilities of "
                       "discrete labels; a structural probe regresses depths or distances, whose codelength would rest on a noise model "
                       "and a discretisation chosen for the purpose, not on the probe. Read the control and the baseline instead.")
        if t.skipped_count:
            out.append(f"{t.name}: {t.skipped_count} example(s) skipped (see `skipped`).")
    if r.HasField("bias") and r.bias.alignments:
        a = max(r.bias.alignments, key=lambda x: abs(x.cosine))
        out.append(f"Bias: the {a.task} label {a.label!r} aligns most with the {r.bias.protected_task} direction {a.protected_label!r} "
                   f"(cosine {a.cosine:+.3f} at layer {a.layer}).")
    if r.HasField("bias") and r.bias.effects:
        others = [e for e in r.bias.effects if e.task != r.bias.protected_task]
        own = [e for e in r.bias.effects if e.task == r.bias.protected_task]
        if own:
            e = max(own, key=lambda x: x.flip_rate)
            out.append(f"Bias: swapping the protected attribute flips the {e.task} probe on {e.flip_rate:.0%} of {e.pairs} pairs at "
                       f"layer {e.layer} (a check that the swap registers).")
        if others:
            e = max(others, key=lambda x: x.flip_rate)
            out.append(f"Bias: the swap flips the {e.task} probe's prediction on {e.flip_rate:.0%} of pairs at layer {e.layer} "
                       f"(projection shift {e.mean_shift_sd:.2f} SD).")
    return out


# ------------------------------------------------------------------------------- similarity


def _similarity(label_a: str, label_b: str, model_a: str, model_b: str, layers_a: Sequence[int], layers_b: Sequence[int],
                a: np.ndarray, b: np.ndarray, metrics: Sequence[str], grid: bool) -> pb.SimilarityResult:
    """``a``: [layers_a, n, d_a], ``b``: [layers_b, n, d_b]."""
    out = pb.SimilarityResult(source_a=label_a, source_b=label_b, model_a=model_a, model_b=model_b, layers_a=layers_a, layers_b=layers_b,
                              grid=grid)
    pairs = [(i, j) for i in range(len(layers_a)) for j in range(len(layers_b))] if grid else [(i, i) for i in range(len(layers_a))]
    values: dict[str, list[float]] = {}

    def put(name: str, v: float) -> None:
        values.setdefault(name, []).append(float(v))

    same_width = a.shape[-1] == b.shape[-1]
    for i, j in pairs:
        x, y = a[i].astype(np.float64), b[j].astype(np.float64)
        if "cosine" in metrics and same_width:
            c = core.paired_cosine(x, y)
            put("cosine", c.aligned)
            put("cosine_unaligned", c.unaligned)
            put("retrieval_top1", c.retrieval_top1)
        if "cka" in metrics:
            put("cka", core.linear_cka(x, y))
            put("cka_debiased", core.linear_cka(x, y, debiased=True))
        if "rsa" in metrics:
            put("rsa", core.rsa(x, y))
    out.metrics.extend(pb.MetricValues(name=k, values=v) for k, v in values.items())
    return out


def _dominant_dimensions(labels: Sequence[str], layers: Sequence[Sequence[int]], reps: Sequence[np.ndarray]) -> list[str]:
    """"<source> layers [...] (up to N% in one dimension)" where one dimension holds over half of
    a layer's variance across the texts."""
    out = []
    for label, ls, x in zip(labels, layers, reps, strict=True):
        var = x.astype(np.float64).var(axis=1)  # [layer, d]
        share = var.max(axis=1) / np.maximum(var.sum(axis=1), 1e-30)
        hit = [ls[i] for i in np.flatnonzero(share > 0.5)]
        if hit:
            out.append(f"{label} layers {hit} (up to {share.max():.0%} in one dimension)")
    return out


def _similarity_findings(r: pb.RepresentationSimilarity, metrics: Sequence[str], skipped: int) -> list[str]:
    out = []
    for p in r.pairs:
        m = {x.name: list(x.values) for x in p.metrics}
        name = f"{p.source_a} vs {p.source_b}"
        if "cosine" in metrics and "cosine" not in m:
            out.append(f"{name}: no cosine (the models' widths differ); CKA and RSA compare them.")
        key = "cka_debiased" if "cka_debiased" in m else next(iter(m), None)
        if key is None:
            continue
        v = m[key]
        if p.grid:
            la, lb = len(p.layers_a), len(p.layers_b)
            g = np.array(v).reshape(la, lb)
            i, j = np.unravel_index(int(g.argmax()), g.shape)
            best = [p.layers_b[int(g[r].argmax())] for r in range(la)]
            out.append(f"{name}: {key} is highest between layer {p.layers_a[i]} and layer {p.layers_b[j]} ({g[i, j]:.3f}); "
                       f"the best-matching layer of {p.source_b} for each layer of {p.source_a}: {best}.")
        else:
            i = int(np.argmax(v))
            out.append(f"{name}: {key} is highest at layer {p.layers_a[i]} ({v[i]:.3f}); first layer {v[0]:.3f}, last {v[-1]:.3f}.")
            if "retrieval_top1" in m:
                rt = m["retrieval_top1"]
                k = int(np.argmax(rt))
                out.append(f"{name}: the aligned partner is the nearest neighbour for {rt[k]:.0%} of texts at layer {p.layers_a[k]} "
                           f"(chance {1 / max(1, r.texts):.1%}).")
    if r.texts < 30:
        out.append(f"Only {r.texts} texts: plain CKA is biased upwards at this size; read cka_debiased.")
    if skipped:
        out.append(f"{skipped} aligned row(s) were left out because some model could not take them (too long).")
    return out
