"""Python client of the interpretability fleet.

Example:
    >>> from interpretability import Client
    >>> with Client("127.0.0.1:50051") as c:   # key: argument, $INTERP_API_KEY or a local fleet's
    ...     a = c.analyze_attention("smollm2-135m", "The quick brown fox", layers=[6, 7])
    ...     a.findings[0]
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from interp.v1 import activations_service_pb2 as acpb
from interp.v1 import activations_service_pb2_grpc as acpb_grpc
from interp.v1 import attention_service_pb2 as apb
from interp.v1 import attention_service_pb2_grpc as apb_grpc
from interp.v1 import attribution_service_pb2 as atpb
from interp.v1 import attribution_service_pb2_grpc as atpb_grpc
from interp.v1 import circuits_service_pb2 as cipb
from interp.v1 import circuits_service_pb2_grpc as cipb_grpc
from interp.v1 import common_pb2 as cpb
from interp.v1 import model_host_service_pb2 as mpb
from interp.v1 import model_host_service_pb2_grpc as mpb_grpc
from interp.v1 import probing_service_pb2 as ppb
from interp.v1 import probing_service_pb2_grpc as ppb_grpc
from interp.v1 import storage_service_pb2 as spb
from interp.v1 import storage_service_pb2_grpc as spb_grpc
from interp.v1 import tensor_pb2 as tpb
from interpretability.credentials import resolve_api_key
from interpretability.errors import InterpClientError, Unavailable, from_rpc_error

DEFAULT_ENDPOINT = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 300.0
_NP = {
    tpb.DATA_TYPE_FLOAT32: np.float32,
    tpb.DATA_TYPE_FLOAT16: np.float16,
    tpb.DATA_TYPE_FLOAT64: np.float64,
    tpb.DATA_TYPE_INT64: np.int64,
    tpb.DATA_TYPE_INT32: np.int32,
    tpb.DATA_TYPE_BOOL: np.bool_,
}


def to_numpy(t: tpb.Tensor) -> np.ndarray:
    """Decode an inline Tensor (bfloat16 is widened to float32).

    Raises:
        ValueError: the tensor is a store reference (read it with ``Client.to_numpy``, or ask for
            RESULT_DELIVERY_INLINE) or malformed.
    """
    if t.WhichOneof("data") != "raw":
        raise ValueError("tensor is held in the object store; read it with Client.to_numpy or request inline delivery")
    if t.dtype == tpb.DATA_TYPE_BFLOAT16:
        bits = np.frombuffer(t.raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(list(t.shape))
    if t.dtype not in _NP:
        raise ValueError(f"unknown dtype {t.dtype}")
    return np.frombuffer(t.raw, dtype=np.dtype(_NP[t.dtype]).newbyteorder("<")).reshape(list(t.shape))


def from_numpy(a: np.ndarray, dim_names: Sequence[str] = ()) -> tpb.Tensor:
    """Encode an array inline (float32/16/64, int32/64, bool)."""
    for dtype, np_type in _NP.items():
        if a.dtype == np_type:
            return tpb.Tensor(
                dtype=dtype,
                shape=list(a.shape),
                dim_names=list(dim_names),
                raw=np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes(),
            )
    raise ValueError(f"dtype {a.dtype} has no wire form")


def _enum_value(enum: Any, prefix: str, name: str | int) -> int:
    """An enum value from its short name (``"cka"`` -> ``SIMILARITY_METRIC_CKA``) or number."""
    if isinstance(name, int):
        return name
    try:
        return enum.Value(prefix + name.strip().upper())
    except ValueError:
        known = ", ".join(n[len(prefix):].lower() for n in enum.keys() if not n.endswith("UNSPECIFIED"))
        raise ValueError(f"unknown {prefix.rstrip('_').lower().replace('_', ' ')} {name!r}; known: {known}") from None


def _pooling(name: str | int) -> int:
    return _enum_value(ppb.Pooling, "POOLING_", name)


def _final(events: Iterable[Any], on_progress: Callable[[Any], None] | None, what: str) -> Any:
    """The result of a stream of progress events closed by one result (``on_progress`` sees
    each progress event)."""
    for event in events:
        if event.HasField("result"):
            return event.result
        if on_progress is not None:
            on_progress(event.progress)
    raise Unavailable(f"the {what} stream ended without a result", reason="BACKEND_UNAVAILABLE")


def _repeatable(delivery: int, returns_tensors: bool = True) -> bool:
    """Whether a call may be retried: not when it asks for its tensors in the store, where every
    call writes new objects."""
    return not (returns_tensors and delivery == tpb.RESULT_DELIVERY_OBJECT_STORE)


class Client:
    """A connection to the gateway.

    Args:
        endpoint: ``host:port`` of the gateway.
        api_key: sent as ``x-api-key``; defaults to ``$INTERP_API_KEY``, then to the key a local
            fleet published (``interpretability.credentials``).
        timeout: default deadline per call in seconds.
        retries: attempts for idempotent calls that fail with UNAVAILABLE. A call that asks
            for RESULT_DELIVERY_OBJECT_STORE is not idempotent (each one writes new objects, and
            a retry after a lost reply would leave some the caller never hears of), so it is
            tried once.
        tls: connect over TLS (e.g. through the Helm chart's Ingress); defaults to
            ``$INTERP_TLS`` (``1``/``true``), and to True when ``ca_file`` is given.
        ca_file: PEM file of the certificate authorities to trust (``$INTERP_CA_FILE``; the
            system's roots when unset).
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = 3,
        max_message_bytes: int = 64 << 20,
        tls: bool | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.api_key = resolve_api_key(endpoint, api_key)
        self.timeout = timeout
        self.retries = max(1, retries)
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        ca_file = ca_file or os.environ.get("INTERP_CA_FILE") or None
        if tls is None:
            tls = bool(ca_file) or os.environ.get("INTERP_TLS", "").lower() in ("1", "true", "yes")
        self.tls = tls
        if tls:
            roots = Path(ca_file).read_bytes() if ca_file else None
            self.channel = grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(roots), options=options)
        else:
            self.channel = grpc.insecure_channel(endpoint, options=options)
        self.model_host = mpb_grpc.ModelHostServiceStub(self.channel)
        self.attention = apb_grpc.AttentionServiceStub(self.channel)
        self.storage = spb_grpc.StorageServiceStub(self.channel)
        self.attribution = atpb_grpc.AttributionServiceStub(self.channel)
        self.activations = acpb_grpc.ActivationsServiceStub(self.channel)
        self.probing = ppb_grpc.ProbingServiceStub(self.channel)
        self.circuits = cipb_grpc.CircuitsServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    # -- plumbing ------------------------------------------------------------------------------
    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-api-key", self.api_key),) if self.api_key else ()

    def _call(self, fn: Callable[..., Any], request: Any, timeout: float | None, idempotent: bool = True) -> Any:
        attempts = self.retries if idempotent else 1
        for attempt in range(attempts):
            try:
                return fn(request, timeout=timeout or self.timeout, metadata=self._metadata())
            except grpc.RpcError as exc:
                err = from_rpc_error(exc)
                if isinstance(err, Unavailable) and attempt + 1 < attempts:
                    time.sleep(min(2.0, 0.2 * 2**attempt) * (0.5 + random.random()))
                    continue
                raise err from None
        raise AssertionError("unreachable")

    def _stream(self, fn: Callable[..., Any], request: Any, timeout: float | None) -> Iterator[Any]:
        """A server-streaming call's events; closing the iterator cancels the call."""
        call = fn(request, timeout=timeout or self.timeout, metadata=self._metadata())
        try:
            yield from call
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    # -- health ----------------------------------------------------------------------------------
    def health(self, service: str = "", timeout: float = 5.0) -> str:
        """Standard gRPC health status name (``SERVING``, ``NOT_SERVING``, ...)."""
        try:
            resp = self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    def services(self, timeout: float = 5.0) -> list[str]:
        """Full names of the services the endpoint serves, from server reflection (gRPC's own
        health and reflection services left out)."""
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        try:
            replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=timeout)
            names = [s.name for reply in replies for s in reply.list_services_response.service]
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return sorted(n for n in names if not n.startswith("grpc."))

    # -- model host ------------------------------------------------------------------------------
    def list_models(self, timeout: float | None = None) -> list[mpb.ModelSummary]:
        """Models the fleet can serve."""
        return list(self._call(self.model_host.ListModels, mpb.ListModelsRequest(), timeout).models)

    def model_info(self, model: str, timeout: float | None = None) -> mpb.ModelInfo:
        """Layers, heads and hook sites of a model (loads it if needed)."""
        return self._call(self.model_host.GetModelInfo, mpb.GetModelInfoRequest(model=model), timeout).info

    def load_model(self, model: str, timeout: float | None = None) -> Iterator[mpb.LoadModelResponse]:
        """Stream load progress; the last event has ``info`` set."""
        yield from self._stream(self.model_host.LoadModel, mpb.LoadModelRequest(model=model), timeout)

    def tokenize(self, model: str, texts: Iterable[str], timeout: float | None = None) -> list[mpb.TokenizedText]:
        """Token ids and strings per text."""
        req = mpb.TokenizeRequest(model=model, texts=cpb.TextBatch(texts=list(texts)))
        return list(self._call(self.model_host.Tokenize, req, timeout).tokenized)

    def run(
        self,
        model: str,
        texts: Sequence[str] | None = None,
        *,
        tokens: Sequence[Sequence[int]] | None = None,
        capture: Sequence[str] = (),
        interventions: Sequence[mpb.Intervention] = (),
        top_k: int = 0,
        return_logits: bool = False,
        delivery: int = tpb.RESULT_DELIVERY_UNSPECIFIED,
        max_inline_bytes: int = 0,
        metric: mpb.Metric | None = None,
        gradients: Sequence[str] = (),
        pools: Sequence[tuple[int, Sequence[int]]] | None = None,
        timeout: float | None = None,
    ) -> mpb.RunModelResponse:
        """Forward pass with capture and interventions, and optionally a metric per sequence
        (``metric_values``) with its gradients at chosen sites (``gradients``; ``hook_embed``
        is the input embeddings). ``pools``: (sequence, positions) pairs; each captured site
        then comes back as ``[pool, ...]``, the mean over each pool's positions, computed at the
        model host. Builders: ``interpretability.experiments``."""
        req = mpb.RunModelRequest(
            model=model,
            capture=list(capture),
            interventions=list(interventions),
            top_k=top_k,
            return_logits=return_logits,
            delivery=delivery,
            max_inline_bytes=max_inline_bytes,
            gradients=list(gradients),
        )
        if metric is not None:
            req.metric.CopyFrom(metric)
        if pools is not None:
            req.capture_pooling.CopyFrom(mpb.CapturePooling(pools=[mpb.PositionPool(sequence=s, positions=list(p)) for s, p in pools]))
        if tokens is not None:
            req.tokens.CopyFrom(mpb.TokenBatch(sequences=[mpb.TokenIds(ids=list(s)) for s in tokens]))
        else:
            req.texts.CopyFrom(cpb.TextBatch(texts=list(texts or [])))
        return self._call(self.model_host.RunModel, req, timeout, idempotent=_repeatable(delivery))

    def generate(
        self,
        model: str,
        prompt: str | Sequence[int],
        *,
        max_new_tokens: int = 0,
        temperature: float = 0.0,
        top_p: float = 0.0,
        seed: int = 0,
        stop: Sequence[str] = (),
        interventions: Sequence[mpb.Intervention] = (),
        capture: Sequence[str] = (),
        ignore_eos: bool = False,
        delivery: int = tpb.RESULT_DELIVERY_UNSPECIFIED,
        max_inline_bytes: int = 0,
        timeout: float | None = None,
    ) -> Iterator[mpb.GenerateResponse]:
        """Stream a continuation of ``prompt`` (text or token ids): one event per token
        (``event.token``), then the final ``event.result``. Interventions apply at every step;
        closing the iterator cancels the generation on the server."""
        req = mpb.GenerateRequest(
            model=model,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=list(stop),
            interventions=list(interventions),
            capture=list(capture),
            ignore_eos=ignore_eos,
            delivery=delivery,
            max_inline_bytes=max_inline_bytes,
        )
        if isinstance(prompt, str):
            req.text = prompt
        else:
            req.tokens.CopyFrom(mpb.TokenIds(ids=list(prompt)))
        yield from self._stream(self.model_host.Generate, req, timeout)

    # -- attention ------------------------------------------------------------------------------
    def analyze_attention(
        self,
        model: str,
        text: str,
        *,
        layers: Sequence[int] = (),
        heads: Sequence[int] = (),
        include_patterns: bool = False,
        top_k_links: int = 0,
        delivery: int = tpb.RESULT_DELIVERY_UNSPECIFIED,
        timeout: float | None = None,
    ) -> apb.AttentionAnalysis:
        """Attention analysis of one text (layers/heads empty = all)."""
        req = apb.AnalyzeAttentionRequest(
            model=model,
            text=text,
            selection=cpb.LayerHeadSelection(layers=list(layers), heads=list(heads)),
            options=apb.AttentionOptions(include_patterns=include_patterns, top_k_links=top_k_links, delivery=delivery),
        )
        return self._call(self.attention.AnalyzeAttention, req, timeout, idempotent=_repeatable(delivery, include_patterns)).analysis

    def compare_attention(
        self,
        model: str,
        texts: Sequence[str],
        *,
        layers: Sequence[int] = (),
        heads: Sequence[int] = (),
        include_patterns: bool = False,
        top_k_links: int = 0,
        delivery: int = tpb.RESULT_DELIVERY_UNSPECIFIED,
        timeout: float | None = None,
    ) -> apb.CompareAttentionResponse:
        """Analyses of several texts and a per-head comparison."""
        req = apb.CompareAttentionRequest(
            model=model,
            texts=cpb.TextBatch(texts=list(texts)),
            selection=cpb.LayerHeadSelection(layers=list(layers), heads=list(heads)),
            options=apb.AttentionOptions(include_patterns=include_patterns, top_k_links=top_k_links, delivery=delivery),
        )
        return self._call(self.attention.CompareAttention, req, timeout, idempotent=_repeatable(delivery, include_patterns))

    # -- attribution ----------------------------------------------------------------------------
    def list_attribution_methods(self, timeout: float | None = None) -> atpb.ListAttributionMethodsResponse:
        """The attribution methods, their defaults and the server's limits."""
        return self._call(self.attribution.ListAttributionMethods, atpb.ListAttributionMethodsRequest(), timeout)

    def attribute_stream(
        self,
        model: str,
        text: str,
        *,
        target: atpb.AttributionTarget | None = None,
        methods: Sequence[str | int] | str = (),
        depth: str = "basic",
        options: atpb.AttributionOptions | None = None,
        timeout: float | None = None,
    ) -> Iterator[atpb.AttributeResponse]:
        """Stream an attribution: progress events, then the result (``event.result``). Closing
        the iterator cancels the work on the server. Builders: ``interpretability.attribution``."""
        from interpretability.attribution import DEPTHS, method_values

        req = atpb.AttributeRequest(model=model, text=text, methods=method_values(methods), depth=DEPTHS[depth])
        if target is not None:
            req.target.CopyFrom(target)
        if options is not None:
            req.options.CopyFrom(options)
        yield from self._stream(self.attribution.Attribute, req, timeout)

    def attribute(
        self,
        model: str,
        text: str,
        *,
        target: atpb.AttributionTarget | None = None,
        methods: Sequence[str | int] | str = (),
        depth: str = "basic",
        options: atpb.AttributionOptions | None = None,
        on_progress: Callable[[atpb.AttributionProgress], None] | None = None,
        timeout: float | None = None,
    ) -> atpb.AttributionResult:
        """Attribute ``target`` (default: the predicted class, else the most likely next token)
        of ``text`` to its tokens with ``methods`` (default: by ``depth``, ``basic`` or
        ``detailed``); ``on_progress`` sees each progress event."""
        events = self.attribute_stream(model, text, target=target, methods=methods, depth=depth, options=options, timeout=timeout)
        return _final(events, on_progress, "attribution")

    # -- activations -----------------------------------------------------------------------------
    def _analysis(self, method: str, request_type: type, on_progress, timeout: float | None, fields: dict[str, Any]) -> Any:
        from interpretability.activations import build

        req = build(request_type, fields)
        return _final(self._stream(getattr(self.activations, method), req, timeout), on_progress, method)

    def analyze_activations(self, model: str, texts: Sequence[str], *, on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                            timeout: float | None = None, **options: Any) -> acpb.ActivationAnalysis:
        """Per-neuron statistics, histograms, dead/saturated neurons and top activating contexts
        over a dataset. ``options`` are AnalyzeActivationsRequest fields (``sample_size``,
        ``sites=["mlp_post", "resid_post"]``, ``layers``, ``neurons=[("mlp_post", 3, 17)]``,
        ``top_neurons_per_layer``, ``include_statistics``, ...)."""
        return self._analysis("AnalyzeActivations", acpb.AnalyzeActivationsRequest, on_progress, timeout,
                              {"model": model, "texts": texts, **options})

    def find_concept_neurons(self, model: str, concept_texts: Sequence[str], control_texts: Sequence[str], *,
                             on_progress: Callable[[cpb.AnalysisProgress], None] | None = None, timeout: float | None = None,
                             **options: Any) -> acpb.ConceptNeurons:
        """Neurons ranked by how well they separate concept texts from control texts (AUROC,
        Cohen's d, corrected p-values). ``options``: ``concept``, ``sites``, ``layers``,
        ``top_k_neurons``, ``aggregation="max"|"mean"``, ``examples_per_neuron``, ..."""
        return self._analysis("FindConceptNeurons", acpb.FindConceptNeuronsRequest, on_progress, timeout,
                              {"model": model, "concept_texts": concept_texts, "control_texts": control_texts, **options})

    def analyze_gradients(self, model: str, texts: Sequence[str], *, on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                          timeout: float | None = None, **options: Any) -> acpb.GradientAnalysis:
        """Gradient norms per layer and token, input saliency, attention-weight gradients and
        the flow across layers. ``options``: ``target`` (``activations.target(...)`` or a dict
        of its arguments), ``gradient_types=["input", "hidden", "attention"]``, ``layers``,
        ``include_norm_analysis``."""
        return self._analysis("AnalyzeGradients", acpb.AnalyzeGradientsRequest, on_progress, timeout,
                              {"model": model, "texts": texts, **options})

    def rank_neuron_importance(self, model: str, texts: Sequence[str], *, method: str = "gradient_x_activation",
                               on_progress: Callable[[cpb.AnalysisProgress], None] | None = None, timeout: float | None = None,
                               **options: Any) -> acpb.NeuronImportance:
        """Neurons ranked by importance to a target: ``gradient_magnitude``,
        ``gradient_x_activation`` or ``ablation``. ``options``: ``target``, ``sites``,
        ``layers``, ``top_k``, ``ablation_candidates``, ``ablation="zero"|"mean"``."""
        return self._analysis("RankNeuronImportance", acpb.RankNeuronImportanceRequest, on_progress, timeout,
                              {"model": model, "texts": texts, "method": method, **options})

    def logit_lens(self, model: str, text: str, *, layers: Sequence[int] = (), top_k: int = 0, target: str = "",
                   timeout: float | None = None) -> acpb.LogitLensResponse:
        """Every layer's residual stream read through the model's final norm and unembedding:
        top tokens per layer and position, and a tracked token's rank and probability
        (``target``; default: each position's next token and the final prediction)."""
        req = acpb.LogitLensRequest(model=model, text=text, layers=list(layers), top_k=top_k, target=target)
        return self._call(self.activations.LogitLens, req, timeout)

    # -- probing ---------------------------------------------------------------------------------
    def probe_representations(self, model: str, tasks: Sequence[ppb.ProbeTask], *, layers: Sequence[int] = (),
                              bias: ppb.BiasAnalysis | None = None, options: ppb.ProbeOptions | None = None,
                              sentence_pooling: str = "mean", word_pooling: str = "last", include_first_token: bool = False,
                              delivery: int = tpb.RESULT_DELIVERY_UNSPECIFIED,
                              on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                              timeout: float | None = None) -> ppb.ProbeAnalysis:
        """Probes of every task on every layer (default: all) of ``model``'s residual stream:
        test score with a 95% interval, majority baseline, control task and selectivity, MDL,
        label directions, and with ``bias`` the alignment with a protected attribute and the
        effect of counterfactual pairs. ``tasks`` come from
        :func:`interpretability.probing_data.load_probe_dataset` or are built by hand;
        poolings are ``"mean"``, ``"last"`` or ``"first"``."""
        req = ppb.ProbeRepresentationsRequest(
            model=model, tasks=list(tasks), layers=list(layers), options=options, bias=bias, delivery=delivery,
            sentence_pooling=_pooling(sentence_pooling), word_pooling=_pooling(word_pooling), include_first_token=include_first_token,
        )
        return _final(self._stream(self.probing.ProbeRepresentations, req, timeout), on_progress, "probing")

    def compare_representations(self, sources: Sequence[ppb.RepresentationSource | tuple[str, Sequence[str]] | tuple[str, Sequence[str], str]],
                                *, model: str = "", layers: Sequence[int] = (), metrics: Sequence[str] = (), pairing: str = "auto",
                                pooling: str = "mean", include_first_token: bool = False, standardize: bool = False,
                                on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                                timeout: float | None = None) -> ppb.RepresentationSimilarity:
        """Cosine, linear CKA (plain and debiased) and RSA between aligned texts of two or more
        sources, each ``(label, texts)`` or ``(label, texts, model)`` or a RepresentationSource;
        ``metrics`` from ``"cosine"``, ``"cka"``, ``"rsa"`` (default all); ``pairing``
        ``"matched"`` (layer i with layer i), ``"all"`` (every pair of layers) or ``"auto"``
        (matched for one model, all across models); ``standardize`` z-scores every dimension of
        each source first (a few outlier dimensions otherwise dominate CKA and cosine)."""
        srcs = []
        for s in sources:
            if not isinstance(s, ppb.RepresentationSource):
                s = ppb.RepresentationSource(label=s[0], texts=list(s[1]), model=s[2] if len(s) > 2 else "")
            srcs.append(s)
        req = ppb.CompareRepresentationsRequest(
            model=model, sources=srcs, layers=list(layers), include_first_token=include_first_token, pooling=_pooling(pooling),
            standardize=standardize,
            metrics=[_enum_value(ppb.SimilarityMetric, "SIMILARITY_METRIC_", m) for m in metrics],
            pairing=ppb.LAYER_PAIRING_UNSPECIFIED if pairing == "auto" else _enum_value(ppb.LayerPairing, "LAYER_PAIRING_", pairing),
        )
        return _final(self._stream(self.probing.CompareRepresentations, req, timeout), on_progress, "comparison")

    # -- circuits --------------------------------------------------------------------------------
    def patch_activations(self, model: str, task: cipb.CircuitTask, *, components: Sequence[str] = (), per_position: bool = False,
                          method: str = "activation", on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                          timeout: float | None = None) -> cipb.PatchingResult:
        """Normalised patching maps of ``task`` (from :func:`interpretability.circuit_tasks.task_message`):
        ``components`` from ``resid_pre``, ``attn_out``, ``mlp_out``, ``head_result`` (default
        all), by position or over all positions; ``method`` ``"activation"`` or ``"attribution"``."""
        req = cipb.PatchActivationsRequest(
            model=model, task=task, per_position=per_position, method=_enum_value(cipb.PatchingMethod, "PATCHING_METHOD_", method),
            components=[_enum_value(cipb.Component, "COMPONENT_", c) for c in components],
        )
        return _final(self._stream(self.circuits.PatchActivations, req, timeout), on_progress, "patching")

    def patch_paths(self, model: str, task: cipb.CircuitTask, senders: Sequence[str], receivers: Sequence[str], *,
                    timeout: float | None = None) -> cipb.PatchPathsResponse:
        """The effect of the edges from ``senders`` (``input``, ``a{L}.h{H}``, ``m{L}``) to
        ``receivers`` (``a{L}.h{H}[.q|.k|.v]``, ``m{L}``, ``logits``), jointly and per pair."""
        req = cipb.PatchPathsRequest(model=model, task=task, senders=list(senders), receivers=list(receivers))
        return self._call(self.circuits.PatchPaths, req, timeout)

    def discover_circuit(self, model: str, task: cipb.CircuitTask, *, method: str = "eap", circuit_types: Sequence[str] = (),
                         threshold: float = 0.0, top_edges: int = 0, ig_steps: int = 0, ablation: str = "resample",
                         minimality: bool = False, on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                         timeout: float | None = None) -> cipb.CircuitResult:
        """A circuit per type (``attention_only``, ``mlp_only``, ``mixed``) by ``method``
        (``eap``, ``eap_ig``, ``acdc``, ``edge_patching``), with its faithfulness under
        ``ablation`` (``resample`` or ``mean``)."""
        req = cipb.DiscoverCircuitRequest(
            model=model, task=task, method=_enum_value(cipb.CircuitMethod, "CIRCUIT_METHOD_", method),
            circuit_types=[_enum_value(cipb.CircuitType, "CIRCUIT_TYPE_", t) for t in circuit_types], threshold=threshold,
            top_edges=top_edges, ig_steps=ig_steps, ablation=_enum_value(cipb.Ablation, "ABLATION_", ablation), minimality=minimality,
        )
        return _final(self._stream(self.circuits.DiscoverCircuit, req, timeout), on_progress, "circuit")

    def trace_causal_flow(self, model: str, prompt: str, *, subject: str = "", subject_positions: Sequence[int] = (), target: str = "",
                          states: Sequence[str] = (), noise_scale: float = 0.0, samples: int = 0, window: int = 0, seed: int = 0,
                          on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                          timeout: float | None = None) -> cipb.CausalTrace:
        """Causal tracing of ``prompt``: noise on ``subject`` (a substring) and the
        probability of ``target`` (default: the model's top prediction) restored per state
        (``hidden``, ``mlp``, ``attn``), layer and token."""
        req = cipb.TraceCausalFlowRequest(
            model=model, prompt=prompt, subject=subject, subject_positions=list(subject_positions), target=target,
            states=[_enum_value(cipb.TraceState, "TRACE_STATE_", s) for s in states], noise_scale=noise_scale, samples=samples,
            window=window, seed=seed,
        )
        return _final(self._stream(self.circuits.TraceCausalFlow, req, timeout), on_progress, "tracing")

    def detect_heads(self, model: str, *, sequence_length: int = 0, num_sequences: int = 0, seed: int = 0,
                     timeout: float | None = None) -> cipb.DetectHeadsResponse:
        """Previous-token, duplicate-token and induction scores of every head."""
        req = cipb.DetectHeadsRequest(model=model, sequence_length=sequence_length, num_sequences=num_sequences, seed=seed)
        return self._call(self.circuits.DetectHeads, req, timeout)

    def find_algorithm(self, model: str, algorithm: str, *, modulus: int = 0, seed: int = 0, sequence_length: int = 0,
                       on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
                       timeout: float | None = None) -> cipb.AlgorithmResult:
        """How a toy model implements ``algorithm`` (``modular_addition`` or ``induction``)."""
        req = cipb.FindAlgorithmRequest(model=model, algorithm=_enum_value(cipb.Algorithm, "ALGORITHM_", algorithm), modulus=modulus,
                                        seed=seed, sequence_length=sequence_length)
        return _final(self._stream(self.circuits.FindAlgorithm, req, timeout), on_progress, "algorithm")

    # -- storage ---------------------------------------------------------------------------------
    @staticmethod
    def _refs(items: Iterable[tpb.Tensor | tpb.ObjectRef]) -> list[tpb.ObjectRef]:
        refs = []
        for item in items:
            if isinstance(item, tpb.Tensor):
                if item.WhichOneof("data") != "object":
                    raise ValueError("an inline tensor has no stored object")
                item = item.object
            refs.append(item)
        return refs

    def read_tensors(self, items: Iterable[tpb.Tensor | tpb.ObjectRef], timeout: float | None = None) -> list[tpb.Tensor]:
        """Fetch stored tensors (returned ``Tensor``s or bare ``ObjectRef``s) as inline Tensors."""
        req = spb.ReadTensorsRequest(objects=self._refs(items))
        return list(self._call(self.storage.ReadTensors, req, timeout).tensors)

    def delete_tensors(self, items: Iterable[tpb.Tensor | tpb.ObjectRef], timeout: float | None = None) -> int:
        """Delete stored tensors now instead of waiting for the store's time-to-live."""
        req = spb.DeleteTensorsRequest(objects=self._refs(items))
        return self._call(self.storage.DeleteTensors, req, timeout).deleted

    def to_numpy(self, t: tpb.Tensor) -> np.ndarray:
        """A returned Tensor as an array, fetching it from the store if it is a reference."""
        if t.WhichOneof("data") == "object":
            return to_numpy(self.read_tensors([t])[0])
        return to_numpy(t)


__all__ = [
    "Client",
    "InterpClientError",
    "from_numpy",
    "to_numpy",
]


class Analyzer:
    """Base of the SDK's analyzer classes (``CrossLingualAnalyzer``, ``MechanisticAnalyzer``,
    ...): a given :class:`Client`, or one connected to ``endpoint`` on first use."""

    def __init__(self, client: Client | None = None, *, endpoint: str = DEFAULT_ENDPOINT, api_key: str | None = None) -> None:
        self._client = client
        self._endpoint = endpoint
        self._api_key = api_key

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self._endpoint, api_key=self._api_key)
        return self._client
