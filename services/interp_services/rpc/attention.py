"""AttentionService servicer: decode -> core.attention -> encode.

Attention analysis only *reads* activations, so the service holds no weights: it asks the model
host to capture ``blocks.L.attn.hook_pattern`` for the chosen layers (``toolkit.ActivationReader``:
inline when small, through the store otherwise, intermediate objects deleted), and runs the pure
analysis in ``core.attention``. Patterns of a 64-token input on a 30-layer model are ~4 MB, which
the model host returns inline within one call; the store is only used past the inline cap.
"""

from __future__ import annotations

import grpc
import torch

from interp.v1 import attention_service_pb2 as pb
from interp.v1 import model_host_service_pb2 as mh
from interp_services.core import attention as core
from interp_services.core.errors import Cancelled, invalid
from interp_services.core.reasons import Reason
from interp_services.rpc.clients import ServiceClient
from interp_services.rpc.codec import Deliverer, DeliveryPolicy, nbytes
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.rpc.toolkit import ActivationReader, ModelInfoCache, check_count, check_texts, select_layers_heads
from interp_services.store.base import TensorStore

DEFAULT_TOP_K_LINKS = 10
MAX_TOP_K_LINKS = 1000
PATTERN_DIMS = ("head", "query_pos", "key_pos")


def role_to_proto(role: core.HeadRole) -> int:
    """HeadRole enum value of a core role."""
    return pb.HeadRole.Value("HEAD_ROLE_" + role.value.upper())


def result_to_proto(model: str, text: str, r: core.AttentionResult) -> pb.AttentionAnalysis:
    """Encode a core AttentionResult (without patterns)."""
    return pb.AttentionAnalysis(
        model=model,
        text=text,
        tokens=r.tokens,
        token_ids=r.token_ids,
        display_tokens=r.display_tokens,
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
                role_counts=[pb.RoleCount(role=role_to_proto(role), count=n) for role, n in s.role_counts.items()],
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


class AttentionServicer:
    """Serves AttentionService using a model-host client and the tensor store."""

    def __init__(self, model_host: ServiceClient, store: TensorStore | None, limits: Limits, policy: DeliveryPolicy) -> None:
        self.store = store
        self.limits = limits
        self.policy = policy
        self.models = ModelInfoCache(model_host)
        self.reader = ActivationReader(model_host, store, policy)

    def _prepare(self, req, tenant: str) -> tuple[mh.ModelInfo, list[int], list[int], int]:
        top_k = check_count(req.options.top_k_links, "options.top_k_links", low=0, high=MAX_TOP_K_LINKS) or DEFAULT_TOP_K_LINKS
        info = self.models.get(req.model, tenant)
        layers, heads = select_layers_heads(req.selection, info)
        return info, layers, heads, top_k

    def _deliverer(self, req, tenant: str) -> Deliverer:
        """How this request's matrices go back (validates ``options.delivery`` up front)."""
        return Deliverer(req.options.delivery, self.policy, self.store, tenant, "attention/", field="options.delivery")

    def _analyze(
        self,
        req,
        text: str,
        tenant: str,
        info: mh.ModelInfo,
        layers: list[int],
        heads: list[int],
        top_k: int,
        deliverer: Deliverer,
    ) -> tuple[pb.AttentionAnalysis, core.AttentionResult]:
        sites = [f"blocks.{layer}.attn.hook_pattern" for layer in layers]
        run, captured = self.reader.capture(req.model, [text], sites, tenant)
        head_idx = torch.tensor(heads, dtype=torch.long)
        patterns = {layer: captured[site][0].index_select(0, head_idx).float() for layer, site in zip(layers, sites, strict=True)}
        seq = run.sequences[0]
        result = core.analyze_attention(
            patterns,
            heads,
            list(seq.tokens),
            list(seq.token_ids),
            causal=info.causal,
            num_layers=info.num_layers,
            num_heads=info.num_heads,
            top_k_links=top_k,
            display_tokens=list(seq.display_tokens) or None,
        )
        analysis = result_to_proto(info.name, text, result)
        if req.options.include_patterns:
            inline = deliverer.plan(sum(nbytes(p) for p in patterns.values()))
            for layer in layers:
                analysis.patterns.append(
                    pb.LayerPattern(layer=layer, heads=heads, pattern=deliverer.encode(patterns[layer].contiguous(), PATTERN_DIMS, inline))
                )
        return analysis, result

    @rpc_method(pb.AnalyzeAttentionResponse)
    def AnalyzeAttention(self, request: pb.AnalyzeAttentionRequest, context: grpc.ServicerContext) -> pb.AnalyzeAttentionResponse:
        tenant = tenant_of(context)
        check_texts([request.text], "text", self.limits, max_count=1)
        deliverer = self._deliverer(request, tenant)
        info, layers, heads, top_k = self._prepare(request, tenant)
        analysis, _ = self._analyze(request, request.text, tenant, info, layers, heads, top_k, deliverer)
        return pb.AnalyzeAttentionResponse(analysis=analysis)

    @rpc_method(pb.CompareAttentionResponse)
    def CompareAttention(self, request: pb.CompareAttentionRequest, context: grpc.ServicerContext) -> pb.CompareAttentionResponse:
        tenant = tenant_of(context)
        texts = list(request.texts.texts)
        if len(texts) == 1:
            raise invalid(Reason.TOO_FEW_INPUTS, "texts.texts", "comparison needs at least two texts")
        check_texts(texts, "texts.texts", self.limits, max_count=self.limits.max_compare_inputs)
        deliverer = self._deliverer(request, tenant)
        info, layers, heads, top_k = self._prepare(request, tenant)
        analyses, results = [], []
        for text in texts:
            if not context.is_active():
                raise Cancelled(Reason.CANCELLED, "the client cancelled the comparison")
            analysis, result = self._analyze(request, text, tenant, info, layers, heads, top_k, deliverer)
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
