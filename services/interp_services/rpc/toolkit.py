"""What analysis servicers share: request validation against the model, result delivery, and
"capture at the model host -> read the tensors -> delete what was consumed".

A new analysis service builds on these instead of copying them:

- :func:`check_texts`, :func:`check_count`, :func:`select_layers`, :func:`select_layers_heads` -- validation with the
  catalog's reasons and the request's field paths.
- :class:`ModelInfoCache` -- ``GetModelInfo`` answers kept for a short while (every analysis needs
  the model's shape; asking the model host each time costs a round trip).
- :class:`ActivationReader` -- runs the model host with capture and returns the tensors
  (``run_all``: captures, gradients and the logit lens, as :class:`RunTensors`). Small
  results come back inline (through the service-to-service call, no store round trip); large ones
  through the store, hash-verified, and deleted as soon as they are read.
- :class:`DatasetRunner` -- a dataset of texts through the model host: screened (unusable texts
  skipped with a reason, never lost silently), batched by length so that one answer's captures
  fit a byte budget, and run.
- :func:`stream_from_worker` / :func:`streamed` -- long work in a thread of its own, its progress
  events (:func:`progress`) streamed as they come, stopped when the client goes away.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from interp.v1 import common_pb2
from interp.v1 import model_host_service_pb2 as mh
from interp.v1 import tensor_pb2 as tpb
from interp_services.core.errors import Cancelled, ResourceExhausted, check_indices, invalid
from interp_services.core.reasons import Reason
from interp_services.core.threads import adopt_torch_threads
from interp_services.rpc.clients import ServiceClient
from interp_services.rpc.codec import DeliveryPolicy, decode, stored_ref
from interp_services.rpc.context import Limits
from interp_services.store.base import TensorStore

T = TypeVar("T")

MAX_SKIPPED_SHOWN = 10
"""Skipped inputs listed by name in a result (all of them are counted)."""


def stream_from_worker(
    context: Any,
    work: Callable[[Callable[[Any], None], threading.Event], T],
    *,
    idle: Callable[[], Any] | None = None,
    heartbeat_s: float = 1.0,
    name: str = "stream-worker",
) -> Generator[Any, None, T]:
    """Run ``work(emit, stop)`` in a thread of its own and yield what it emits as it comes; the
    generator returns ``work``'s result (``result = yield from stream_from_worker(...)``) or
    raises its error.

    After each quiet ``heartbeat_s``, ``idle()`` (if given) makes an event that keeps a long
    stream alive. When the client goes away the stream raises Cancelled, and whenever it ends
    before the work does, ``stop`` is set so that work that checks it ends early.
    """
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}
    stop = threading.Event()
    done = object()

    def run() -> None:
        adopt_torch_threads()
        try:
            outcome["result"] = work(events.put, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the streaming thread
            outcome["error"] = exc
        events.put(done)

    threading.Thread(target=run, name=name, daemon=True).start()
    finished = False
    try:
        while True:
            try:
                item = events.get(timeout=heartbeat_s)
            except queue.Empty:
                item = None
            if item is done:
                finished = True
                break
            if not context.is_active():
                raise Cancelled(Reason.CANCELLED, "the client cancelled the call")
            if item is not None:
                yield item
            elif idle is not None:
                yield idle()
    finally:
        if not finished:
            stop.set()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def streamed(context: Any, work: Callable[[Callable[[Any], None], threading.Event], Any], response_type: type, name: str) -> Iterator:
    """A streaming RPC's responses: ``work``'s progress events as they come (see
    :func:`stream_from_worker`), then one ``response_type(result=...)`` holding its result."""
    result = yield from stream_from_worker(context, work, name=name)
    yield response_type(result=result)


def progress(stage: str, fraction: float, texts: int = 0, tokens: int = 0) -> common_pb2.AnalysisProgress:
    """A progress event; ``fraction`` is clipped to [0, 1]."""
    return common_pb2.AnalysisProgress(stage=stage, fraction=min(1.0, max(0.0, fraction)), texts_done=texts, tokens_done=tokens)


def skipped_input(index: int, reason: str, text: str) -> common_pb2.SkippedInput:
    """A dataset entry left out, with why and the start of its text."""
    return common_pb2.SkippedInput(index=index, reason=reason, excerpt=text[:80])


def check_texts(texts: Sequence[str], field: str, limits: Limits, *, max_count: int | None = None) -> list[str]:
    """Validate a batch of texts: at least one, at most ``max_count`` (default
    ``limits.max_batch``), none blank, none longer than ``limits.max_text_chars``.

    ``field`` is the request field holding the list (``"texts.texts"``), or the single text's
    field (``"text"``) when ``max_count`` is 1.
    """
    texts = list(texts)
    limit = limits.max_batch if max_count is None else max_count
    if not texts:
        raise invalid(Reason.INPUT_EMPTY, field, "must hold at least one text")
    if len(texts) > limit:
        raise ResourceExhausted(Reason.BATCH_TOO_LARGE, f"{field}: {len(texts)} inputs; the limit is {limit}")
    for i, text in enumerate(texts):
        where = field if limit == 1 else f"{field}[{i}]"
        if not text or not text.strip():
            raise invalid(Reason.INPUT_EMPTY, where, "must not be empty")
        if len(text) > limits.max_text_chars:
            raise ResourceExhausted(
                Reason.INPUT_TOO_LONG, f"{where}: {len(text)} characters; the limit is {limits.max_text_chars}"
            )
    return texts


def check_count(value: int, field: str, *, low: int, high: int, reason: Reason = Reason.TOP_K_OUT_OF_RANGE) -> int:
    """Validate an integer option in ``[low, high]``."""
    if not low <= value <= high:
        raise invalid(reason, field, f"must be in [{low}, {high}], got {value}")
    return value


def enum_choice(value: int, table: dict, field: str, what: str, reason: Reason) -> Any:
    """``table[value]`` for a request's enum field, or INVALID_ARGUMENT with ``reason`` naming
    the field when the number is not one the service knows (a newer client's value)."""
    if value not in table:
        raise invalid(reason, field, f"{value} is not a known {what}")
    return table[value]


def _indices(values: Iterable[int], limit: int, field: str, out_of_range: Reason, duplicate: Reason) -> list[int]:
    """The checked indices, or all of them when none are given."""
    return check_indices(values, limit, field, out_of_range, duplicate) or list(range(limit))


def select_layers(values: Iterable[int], info: mh.ModelInfo, field: str) -> list[int]:
    """Layer indices checked against the model (LAYER_OUT_OF_RANGE, LAYER_DUPLICATE, with fields
    like ``layers[1]``); none given means every layer."""
    return _indices(values, info.num_layers, field, Reason.LAYER_OUT_OF_RANGE, Reason.LAYER_DUPLICATE)


def select_layers_heads(
    selection: common_pb2.LayerHeadSelection, info: mh.ModelInfo, field: str = "selection"
) -> tuple[list[int], list[int]]:
    """Layers and (query) heads of a ``LayerHeadSelection``, checked against the model; empty
    lists mean all. Reasons: LAYER_OUT_OF_RANGE, LAYER_DUPLICATE, HEAD_OUT_OF_RANGE,
    HEAD_DUPLICATE, with fields like ``selection.layers[1]``."""
    layers = select_layers(selection.layers, info, f"{field}.layers")
    heads = _indices(selection.heads, info.num_heads, f"{field}.heads", Reason.HEAD_OUT_OF_RANGE, Reason.HEAD_DUPLICATE)
    return layers, heads


class ModelInfoCache:
    """``GetModelInfo`` answers per model name, kept ``ttl_s`` seconds.

    Errors are not cached: a model that failed to load is asked for again next time.
    """

    def __init__(self, model_host: ServiceClient, ttl_s: float = 60.0, max_entries: int = 64) -> None:
        self.model_host = model_host
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, mh.ModelInfo]] = {}

    def get(self, model: str, tenant: str) -> mh.ModelInfo:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(model)
            if hit is not None and now - hit[0] < self.ttl_s:
                return hit[1]
        info = self.model_host.call("GetModelInfo", mh.GetModelInfoRequest(model=model), tenant).info
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[model] = (now, info)
        return info


_LENS_FIELDS = ("top_token_ids", "top_probabilities", "target_probabilities", "target_ranks")


@dataclass
class RunTensors:
    """A decoded ``RunModel`` answer: the response and its tensors by hook site."""

    response: mh.RunModelResponse
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    lens: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    lens_targets: torch.Tensor | None = None

    def mask(self) -> torch.Tensor:
        """``[batch, pos]`` bool: the real tokens (all true when nothing was padded)."""
        resp = self.response
        if resp.HasField("attention_mask"):
            return decode(resp.attention_mask, "attention_mask", store=None, tenant="").bool()
        n = len(resp.sequences[0].token_ids) if resp.sequences else 0
        return torch.ones((len(resp.sequences), n), dtype=torch.bool)


class ActivationReader:
    """Captures hook sites at the model host and reads the tensors back.

    Results up to ``policy.max_inline_bytes`` travel inline in the model host's answer; larger
    ones go through the store and every object read is deleted right away (they are this
    request's intermediate data, and ours to clean up).
    """

    def __init__(self, model_host: ServiceClient, store: TensorStore | None, policy: DeliveryPolicy) -> None:
        self.model_host = model_host
        self.store = store
        self.policy = policy

    def run(self, request: mh.RunModelRequest, tenant: str) -> tuple[mh.RunModelResponse, dict[str, torch.Tensor]]:
        """Run ``request`` (its delivery is chosen here) and return the response and the
        captured tensors by hook site."""
        out = self.run_all(request, tenant)
        return out.response, out.activations

    def run_all(self, request: mh.RunModelRequest, tenant: str) -> RunTensors:
        """Run ``request`` and decode every tensor of the answer: captures, gradients and the
        logit lens."""
        req = mh.RunModelRequest()
        req.CopyFrom(request)
        req.delivery = tpb.RESULT_DELIVERY_UNSPECIFIED
        req.max_inline_bytes = self.policy.max_inline_bytes
        resp = self.model_host.call("RunModel", req, tenant)
        named: list[tuple[str, tpb.Tensor]] = [(f"activations[{a.hook_site}]", a.tensor) for a in resp.activations]
        named += [(f"gradients[{g.hook_site}]", g.tensor) for g in resp.gradients]
        for lens in resp.logit_lens:
            named += [(f"logit_lens[{lens.hook_site}].{f}", getattr(lens, f)) for f in _LENS_FIELDS]
        if resp.HasField("logit_lens_targets"):
            named.append(("logit_lens_targets", resp.logit_lens_targets))
        # Every stored object of this answer is ours to delete, even if reading one fails.
        consumed = [stored_ref(t.object, self.store) for _, t in named if t.WhichOneof("data") == "object"]
        tensors: dict[str, torch.Tensor] = {}
        try:
            for name, t in named:
                tensors[name] = decode(t, name, store=self.store, tenant=tenant)
        finally:
            for ref in consumed:
                self.store.delete(tenant, ref)  # type: ignore[union-attr]
        out = RunTensors(resp)
        out.activations = {a.hook_site: tensors[f"activations[{a.hook_site}]"] for a in resp.activations}
        out.gradients = {g.hook_site: tensors[f"gradients[{g.hook_site}]"] for g in resp.gradients}
        out.lens = {x.hook_site: {f: tensors[f"logit_lens[{x.hook_site}].{f}"] for f in _LENS_FIELDS} for x in resp.logit_lens}
        out.lens_targets = tensors.get("logit_lens_targets")
        return out

    def capture(
        self, model: str, texts: Sequence[str], sites: Sequence[str], tenant: str
    ) -> tuple[mh.RunModelResponse, dict[str, torch.Tensor]]:
        """Capture ``sites`` for a batch of texts."""
        return self.run(
            mh.RunModelRequest(model=model, texts=common_pb2.TextBatch(texts=list(texts)), capture=list(sites)), tenant
        )

@dataclass
class TextLength:
    """A usable text of a dataset: its index, its length in tokens, and (when asked for) its
    tokenization."""

    index: int
    length: int
    tokens: mh.TokenizedText | None = None


class DatasetRunner:
    """Runs a dataset of texts through the model host.

    Args:
        model_host: the model host's client.
        reader: reads the tensors of each answer.
        limits: the server's limits (batch size, text length, dataset size).
        batch_bytes: most bytes of captures one ``RunModel`` answer may carry (capped at the
            inline limit, so batches come back inline without a store round trip).
    """

    def __init__(self, model_host: ServiceClient, reader: ActivationReader, limits: Limits, *, batch_bytes: int = 32 << 20) -> None:
        self.model_host = model_host
        self.reader = reader
        self.limits = limits
        self.batch_bytes = min(batch_bytes, reader.policy.max_inline_bytes)

    def dataset(self, texts: Sequence[str], field: str) -> list[str]:
        """The texts of a dataset: at least one, at most ``limits.max_dataset_texts``."""
        texts = list(texts)
        if not texts:
            raise invalid(Reason.INPUT_EMPTY, field, "the dataset holds no texts")
        if len(texts) > self.limits.max_dataset_texts:
            raise ResourceExhausted(Reason.BATCH_TOO_LARGE, f"{field}: {len(texts)} texts; the limit is {self.limits.max_dataset_texts}")
        return texts

    def screen(
        self, model: str, texts: Sequence[str], indices: Iterable[int], info: mh.ModelInfo, tenant: str, stop: Callable[[], bool],
        *, keep_tokens: bool = False,
    ) -> tuple[list[TextLength], list[common_pb2.SkippedInput], int]:
        """Token counts of the usable texts among ``indices`` (with their tokenizations when
        ``keep_tokens``); the others are skipped with a reason (never lost silently): empty, too
        many characters, too many tokens. Returns (usable, the first skipped, how many were
        skipped)."""
        usable: list[TextLength] = []
        skipped: list[common_pb2.SkippedInput] = []
        count = 0

        def note(i: int, problem: str) -> None:
            nonlocal count
            count += 1
            if len(skipped) < MAX_SKIPPED_SHOWN:
                skipped.append(skipped_input(i, problem, texts[i]))

        def tokenize(chunk: list[int]) -> None:
            """Token counts of a chunk; a chunk with a text over the token limit is split until
            that text stands alone and is skipped (the rest is kept)."""
            try:
                tokenized = self.tokenize(model, [texts[i] for i in chunk], tenant)
            except ResourceExhausted as exc:
                if exc.reason != Reason.INPUT_TOO_LONG:
                    raise
                if len(chunk) == 1:
                    note(chunk[0], f"more tokens than this model's limit of {info.max_tokens}")
                    return
                tokenize(chunk[: len(chunk) // 2])
                tokenize(chunk[len(chunk) // 2 :])
                return
            usable.extend(TextLength(i, len(tok.token_ids), tok if keep_tokens else None) for i, tok in zip(chunk, tokenized, strict=True))

        pending: list[int] = []
        for i in indices:
            text = texts[i]
            if not text or not text.strip():
                note(i, "empty")
            elif len(text) > self.limits.max_text_chars:
                note(i, f"{len(text)} characters; the limit is {self.limits.max_text_chars}")
            else:
                pending.append(i)
            if len(pending) >= self.limits.max_batch:
                if stop():
                    raise Cancelled(Reason.CANCELLED, "the client cancelled the analysis")
                tokenize(pending)
                pending = []
        if pending:
            tokenize(pending)
        skipped.sort(key=lambda s: s.index)
        return usable, skipped, count

    def batches(self, items: Sequence[TextLength], bytes_per_token: int, budget: int | None = None) -> list[list[TextLength]]:
        """Batches of texts of similar length whose padded captures fit ``budget`` bytes (default
        ``batch_bytes``, what one answer may carry inline; a caller whose captures are pooled at
        the model host budgets the model host's working memory instead)."""
        budget = budget or self.batch_bytes
        ordered = sorted(items, key=lambda t: t.length)
        out: list[list[TextLength]] = []
        cur: list[TextLength] = []
        for t in ordered:
            # Sorted by length: the text joining the batch is its longest, its padded length.
            if cur and ((len(cur) + 1) * t.length * bytes_per_token > budget or len(cur) >= self.limits.max_batch):
                out.append(cur)
                cur = []
            cur.append(t)
        if cur:
            out.append(cur)
        return out

    def tokenize(self, model: str, texts: Sequence[str], tenant: str) -> Sequence[mh.TokenizedText]:
        """The model host's tokenization of a batch of texts."""
        return self.model_host.call("Tokenize", mh.TokenizeRequest(model=model, texts=common_pb2.TextBatch(texts=list(texts))), tenant).tokenized

    def run(self, model: str, texts: Sequence[str], tenant: str, **fields: Any) -> RunTensors:
        """``RunModel`` on a batch of texts with the given request fields, decoded."""
        return self.reader.run_all(mh.RunModelRequest(model=model, texts=common_pb2.TextBatch(texts=list(texts)), **fields), tenant)
