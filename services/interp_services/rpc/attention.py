"""AttentionService servicer.

Attention analysis only *reads* activations, so it does not hold weights: it asks the model host
to capture ``blocks.L.attn.hook_pattern`` for the chosen layers, reads the tensors (inline or from
the store, hash-verified), and runs the pure analysis in ``core.attention``. Intermediate store
objects it consumed are deleted afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import torch

from interp.v1 import attention_service_pb2 as pb
from interp.v1 import attention_service_pb2_grpc as pb_grpc
from interp.v1 import model_host_service_pb2 as mh
from interp.v1 import tensor_pb2 as tpb
from interp_services.core import attention as core
from interp_services.core.errors import Cancelled, ResourceExhausted, invalid
from interp_services.rpc.backends import ServiceClient
from interp_services.rpc.codec import Deliverer, DeliveryPolicy, decode, nbytes
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.store.base import StoredRef, TensorStore

DEFAULT_TOP_K_LINKS = 10
MAX_TOP_K_LINKS = 1000


def role_to_proto(role: core.HeadRole) -> int:
    """HeadRole enum value of a core role."""
    return pb.HeadRole.Value("HEAD_ROLE_" + role.value.upper())


def _select(values: Sequence[int], limit: int, field: str, what: str) -> list[int]:
    """Validate a layer/head list; empty means all."""
    if not values:
        return list(range(limit))
    seen: set[int] = set()
    for i, v in enumerate(values):
        if not 0 <= v < limit:
            raise invalid(f"{what.upper()}_OUT_OF_RANGE", f"{field}[{i}]", f"{v} is outside [0, {limit})")
        if v in seen:
            raise invalid(f"{what.upper()}_DUPLICATE", f"{field}[{i}]", f"{v} is listed twice")
        seen.add(v)
    return list(values)


def result_to_proto(model: str, text: str, r: core.AttentionResult) -> pb.AttentionAnalysis:
    """Encode a core AttentionResult (without patterns)."""
    return pb.AttentionAnalysis(
        model=model,
        text=text,
        tokens=r.tokens,
        token_ids=r.token_ids,
        causal=r.causal,
        num_layers=r.num_layers,
        num_heads=r.num_heads,
        heads=[
            pb.HeadAnalysis(
                layer=h.layer,
                head=h.head,
                entropy=h.entropy,
                normalized_entropy=h.normalized_entropy,
                role=role_to_proto(h.role),
                role_score=h.role_score,
                mean_attention_distance=h.mean_attention_distance,
                role_beyond_sink=role_to_proto(h.role_beyond_sink or h.role),
                role_beyond_sink_score=h.role_beyond_sink_score,
                scores=pb.HeadRoleScores(
                    previous_token=h.scores.previous_token,
                    current_token=h.scores.current_token,
                    first_token=h.scores.first_token,
                    positional_offset=h.scores.positional_offset,
                    best_offset=h.scores.best_offset,
                    broad=h.scores.broad,
                    induction=h.scores.induction,
                    induction_defined=h.scores.induction_defined,
                    next_token=h.scores.next_token,
                ),
            )
            for h in r.heads
        ],
        layers=[
            pb.LayerSummary(
                layer=s.layer,
                mean_entropy=s.mean_entropy,
                mean_attention_distance=s.mean_attention_distance,
                dominant_role=role_to_proto(s.dominant_role),
                role_counts=[
                    sum(n for role, n in s.role_counts.items() if role_to_proto(role) == v)
                    for v in range(max(pb.HeadRole.values()) + 1)
                ],
            )
            for s in r.layers
        ],
        hotspots=[
            pb.AttentionLink(
                layer=link.layer,
                head=link.head,
                query_position=link.query_position,
                key_position=link.key_position,
                query_token=link.query_token,
                key_token=link.key_token,
                weight=link.weight,
            )
            for link in r.hotspots
        ],
        findings=r.findings,
    )


class AttentionServicer(pb_grpc.AttentionServiceServicer):
    """Serves AttentionService using a model-host client and the tensor store."""

    def __init__(self, model_host: ServiceClient, store: TensorStore | None, limits: Limits, policy: DeliveryPolicy) -> None:
        self.model_host = model_host
        self.store = store
        self.limits = limits
        self.policy = policy

    def _check_common(self, req, texts: list[str], field: str) -> None:
        if not 0 <= req.top_k_links <= MAX_TOP_K_LINKS:
            raise invalid("TOP_K_OUT_OF_RANGE", "top_k_links", f"must be in [0, {MAX_TOP_K_LINKS}]")
        if req.delivery not in tpb.ResultDelivery.values():
            raise invalid("DELIVERY_INVALID", "delivery", f"unknown delivery mode {req.delivery}")
        for i, t in enumerate(texts):
            f = f"{field}[{i}]" if field == "texts" else field
            if not t or not t.strip():
                raise invalid("INPUT_EMPTY", f, "must not be empty")
            if len(t) > self.limits.max_text_chars:
                raise ResourceExhausted("INPUT_TOO_LONG", f"{f}: {len(t)} characters; the limit is {self.limits.max_text_chars}")

    def _analyze(
        self, req, text: str, tenant: str, info: mh.ModelInfo, layers: list[int], heads: list[int]
    ) -> tuple[pb.AttentionAnalysis, core.AttentionResult]:
        run = self.model_host.call(
            "RunModel",
            mh.RunModelRequest(
                model=req.model,
                texts=mh.TextBatch(texts=[text]),
                capture=[f"blocks.{layer}.attn.hook_pattern" for layer in layers],
            ),
            tenant,
        )
        head_idx = torch.tensor(heads, dtype=torch.long)
        patterns: dict[int, torch.Tensor] = {}
        consumed: list[StoredRef] = []
        try:
            for layer, act in zip(layers, run.activations, strict=True):
                t = decode(act.tensor, f"activations[{layer}]", store=self.store, tenant=tenant)
                if act.tensor.WhichOneof("data") == "object":
                    o = act.tensor.object
                    consumed.append(StoredRef(o.bucket, o.key, o.byte_size, o.sha256))
                patterns[layer] = t[0].index_select(0, head_idx).float()  # [heads, q, k]
        finally:
            for ref in consumed:  # intermediate objects: ours to clean up
                self.store.delete(tenant, ref)  # type: ignore[union-attr]
        seq = run.sequences[0]
        result = core.analyze_attention(
            patterns,
            heads,
            list(seq.tokens),
            list(seq.token_ids),
            causal=info.causal,
            num_layers=info.num_layers,
            num_heads=info.num_heads,
            top_k_links=req.top_k_links or DEFAULT_TOP_K_LINKS,
        )
        analysis = result_to_proto(info.name, text, result)
        if req.include_patterns:
            deliverer = Deliverer(req.delivery, self.policy, self.store, tenant, prefix="attention/")
            inline = deliverer.plan(sum(nbytes(p) for p in patterns.values()))
            for layer in layers:
                analysis.patterns.append(
                    pb.LayerPattern(
                        layer=layer,
                        heads=heads,
                        pattern=deliverer.encode(patterns[layer].contiguous(), ("head", "query_pos", "key_pos"), inline),
                    )
                )
        return analysis, result

    def _prepare(self, req, tenant: str) -> tuple[mh.ModelInfo, list[int], list[int]]:
        info = self.model_host.call("GetModelInfo", mh.GetModelInfoRequest(model=req.model), tenant).info
        layers = _select(list(req.layers), info.num_layers, "layers", "layer")
        heads = _select(list(req.heads), info.num_heads, "heads", "head")
        return info, layers, heads

    @rpc_method(pb.AnalyzeAttentionResponse)
    def AnalyzeAttention(self, request: pb.AnalyzeAttentionRequest, context: grpc.ServicerContext) -> pb.AnalyzeAttentionResponse:
        tenant = tenant_of(context)
        self._check_common(request, [request.text], "text")
        info, layers, heads = self._prepare(request, tenant)
        analysis, _ = self._analyze(request, request.text, tenant, info, layers, heads)
        return pb.AnalyzeAttentionResponse(analysis=analysis)

    @rpc_method(pb.CompareAttentionResponse)
    def CompareAttention(self, request: pb.CompareAttentionRequest, context: grpc.ServicerContext) -> pb.CompareAttentionResponse:
        tenant = tenant_of(context)
        texts = list(request.texts)
        if len(texts) < 2:
            raise invalid("TOO_FEW_INPUTS", "texts", "comparison needs at least two texts")
        if len(texts) > self.limits.max_compare_inputs:
            raise ResourceExhausted("BATCH_TOO_LARGE", f"texts: {len(texts)} inputs; the limit is {self.limits.max_compare_inputs}")
        self._check_common(request, texts, "texts")
        info, layers, heads = self._prepare(request, tenant)
        analyses = []
        results = []
        for text in texts:
            if not context.is_active():
                raise Cancelled("CANCELLED", "the client cancelled the comparison")
            analysis, result = self._analyze(request, text, tenant, info, layers, heads)
            analyses.append(analysis)
            results.append(result)
        comparisons, findings = core.compare_attention(results)
        return pb.CompareAttentionResponse(
            analyses=analyses,
            heads=[
                pb.HeadComparison(
                    layer=c.layer,
                    head=c.head,
                    consensus_role=role_to_proto(c.consensus_role),
                    role_agreement=c.role_agreement,
                    mean_entropy=c.mean_entropy,
                    entropy_std=c.entropy_std,
                )
                for c in comparisons
            ],
            findings=findings,
        )

