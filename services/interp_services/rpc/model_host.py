"""ModelHostService servicer: decode -> core (models, run, generate) -> encode.

The model host holds the weights; other services that only *read* activations (attention,
probing, activation statistics) call RunModel here and get tensors through the store.
Concurrent RunModel calls for one model are merged into shared forward passes by
``core.batching.RunBatcher``; every request is validated on its own thread first
(``core.run.prepare_job``), so a bad request fails alone and never joins a batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import torch

from interp.v1 import model_host_service_pb2 as pb
from interp_services.core.batching import RunBatcher
from interp_services.core.errors import ResourceExhausted, invalid
from interp_services.core.generate import GeneratedToken, GenerationSettings, check_generation, generate
from interp_services.core.interventions import Intervention
from interp_services.core.lens import LensSpec
from interp_services.core.metrics import Metric
from interp_services.core.models import BUILTIN_MODELS, LoadedModel, ModelCache, ModelInfo
from interp_services.core.pooling import check_pools, pool_positions
from interp_services.core.reasons import Reason
from interp_services.core.run import check_token_ids, prepare_job, resolve_reference_means, tokenize
from interp_services.core.tokens import char_offsets, display_tokens
from interp_services.rpc.codec import Deliverer, DeliveryPolicy, decode, nbytes
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.rpc.toolkit import check_texts, stream_from_worker
from interp_services.store.base import TensorStore

_SOURCE = {
    "builtin": pb.MODEL_SOURCE_BUILTIN,
    "local": pb.MODEL_SOURCE_LOCAL_DIRECTORY,
    "hub": pb.MODEL_SOURCE_HUB,
}


def info_to_proto(info: ModelInfo) -> pb.ModelInfo:
    """Encode a core ModelInfo."""
    return pb.ModelInfo(
        name=info.name,
        family=info.family,
        architecture=info.architecture,
        causal=info.causal,
        num_layers=info.num_layers,
        num_heads=info.num_heads,
        num_kv_heads=info.num_kv_heads,
        d_model=info.d_model,
        d_head=info.d_head,
        d_mlp=info.d_mlp,
        vocab_size=info.vocab_size,
        max_tokens=info.max_tokens,
        num_parameters=info.num_parameters,
        has_lm_head=info.has_lm_head,
        source=_SOURCE.get(info.source, pb.MODEL_SOURCE_UNSPECIFIED),
        num_labels=info.num_labels,
        hook_sites=[
            pb.HookSite(name=s.name, dim_names=list(s.dim_names), intervenable=s.intervenable, has_heads=s.has_heads)
            for s in info.hook_sites
        ],
    )


_ACTIONS = {
    "zero_ablation": "zero",
    "mean_ablation": "mean",
    "patch": "patch",
    "steering": "steer",
    "scale": "scale",
    "noise": "noise",
    "edge_patch": "edge",
}


def _lens_spec(req: pb.RunModelRequest) -> LensSpec | None:
    """The core lens request, if the request has one."""
    if not req.HasField("logit_lens"):
        return None
    lens = req.logit_lens
    return LensSpec(list(lens.hook_sites), lens.top_k, list(lens.target_token_ids))


# ScoreKind -> the core's score names (metrics.SCORE_KINDS); the attribution servicer reads it too.
SCORE_NAMES = {pb.SCORE_KIND_UNSPECIFIED: "log_prob", pb.SCORE_KIND_LOG_PROB: "log_prob", pb.SCORE_KIND_LOGIT: "logit", pb.SCORE_KIND_PROBABILITY: "prob"}
_FINISH = {"length": pb.FINISH_REASON_LENGTH, "eos": pb.FINISH_REASON_END_OF_SEQUENCE, "stop": pb.FINISH_REASON_STOP_STRING}


class ModelHostServicer:
    """Serves ModelHostService from a ModelCache and a TensorStore."""

    def __init__(
        self,
        cache: ModelCache,
        store: TensorStore | None,
        limits: Limits,
        policy: DeliveryPolicy,
        batcher: RunBatcher | None = None,
    ) -> None:
        self.cache = cache
        self.store = store
        self.limits = limits
        self.policy = policy
        self.batcher = batcher or RunBatcher()

    # -- helpers -----------------------------------------------------------------------------
    def _model(self, name: str) -> LoadedModel:
        return self.cache.get(name.strip() if name else name)

    def _decode_interventions(self, items, tenant: str, model: LoadedModel) -> list[Intervention]:
        if len(items) > self.limits.max_interventions:
            raise ResourceExhausted(Reason.TOO_MANY_INTERVENTIONS, f"interventions: at most {self.limits.max_interventions}")
        out = []
        refs: dict[bytes, torch.Tensor] = {}  # a sweep names one stored source many times: read it once

        def tensor_of(msg, fname: str) -> torch.Tensor:
            if msg.WhichOneof("data") != "object":
                return decode(msg, fname, store=self.store, tenant=tenant)
            key = msg.object.SerializeToString()
            if key not in refs:
                refs[key] = decode(msg, fname, store=self.store, tenant=tenant)
            return refs[key]

        for i, iv in enumerate(items):
            f = f"interventions[{i}]"
            action = iv.WhichOneof("action")
            if action is None:
                raise invalid(Reason.INTERVENTION_ACTION_MISSING, f"{f}.action", "set one of " + ", ".join(_ACTIONS))
            tensor, scale, reference = None, 1.0, None
            if action == "mean_ablation" and iv.mean_ablation.HasField("mean"):
                tensor = tensor_of(iv.mean_ablation.mean, f"{f}.mean_ablation.mean")
            elif action == "mean_ablation" and iv.mean_ablation.HasField("reference_texts"):
                fname = f"{f}.mean_ablation.reference_texts.texts"
                texts = check_texts(iv.mean_ablation.reference_texts.texts, fname, self.limits)
                reference = tokenize(model, texts, max_tokens=model.info.max_tokens, field_name=fname)
            elif action == "patch":
                if iv.patch.HasField("source"):
                    tensor = tensor_of(iv.patch.source, f"{f}.patch.source")
                elif not iv.source_sequences:
                    raise invalid(Reason.INTERVENTION_TENSOR_MISSING, f"{f}.patch.source", "required (or source_sequences)")
            elif action == "steering":
                if not iv.steering.HasField("vector"):
                    raise invalid(Reason.INTERVENTION_TENSOR_MISSING, f"{f}.steering.vector", "required")
                tensor = tensor_of(iv.steering.vector, f"{f}.steering.vector")
                scale = iv.steering.scale or 1.0
            elif action == "scale":
                scale = iv.scale.factor
            out.append(
                Intervention(
                    iv.hook_site,
                    _ACTIONS[action],
                    positions=list(iv.positions),
                    heads=list(iv.heads),
                    tensor=tensor,
                    scale=scale,
                    sequences=list(iv.sequences),
                    key_positions=list(iv.key_positions),
                    neurons=list(iv.neurons),
                    std=iv.noise.std if action == "noise" else 0.0,
                    seed=iv.noise.seed if action == "noise" else 0,
                    reference=reference,
                    source_sequences=list(iv.source_sequences),
                    keep=iv.patch.keep if action == "patch" else 0.0,
                    senders=[(e.hook_site, list(e.heads)) for e in iv.edge_patch.senders] if action == "edge_patch" else [],
                    mean_source=action == "edge_patch" and iv.edge_patch.mean_source,
                )
            )
        return out

    def _decode_metric(self, req: pb.RunModelRequest, tenant: str) -> Metric | None:
        if not req.HasField("metric"):
            return None
        which = req.metric.WhichOneof("metric")
        if which is None:
            raise invalid(Reason.METRIC_INVALID, "metric", "set one of token, logit_difference, class_score, activation")
        if which == "token":
            t = req.metric.token
            return Metric("token", token_ids=list(t.token_ids), positions=list(t.positions), score=SCORE_NAMES.get(t.kind, "?"))
        if which == "logit_difference":
            d = req.metric.logit_difference
            return Metric("logit_diff", token_ids=list(d.correct_token_ids), other_ids=list(d.incorrect_token_ids), positions=list(d.positions))
        if which == "class_score":
            c = req.metric.class_score
            return Metric("class", class_indices=list(c.class_indices), score=SCORE_NAMES.get(c.kind, "?"))
        a = req.metric.activation
        direction = None
        if a.HasField("direction"):
            direction = decode(a.direction, "metric.activation.direction", store=self.store, tenant=tenant)
        return Metric("activation", hook_site=a.hook_site, positions=list(a.positions), index=list(a.index), direction=direction)

    # -- RPCs --------------------------------------------------------------------------------
    @rpc_method(pb.ListModelsResponse)
    def ListModels(self, request: pb.ListModelsRequest, context: grpc.ServicerContext) -> pb.ListModelsResponse:
        loaded = self.cache.loaded_names()
        rows = [
            pb.ModelSummary(name=b.name, source=pb.MODEL_SOURCE_BUILTIN, loaded=b.name in loaded, description=b.description)
            for b in BUILTIN_MODELS.values()
        ]
        for name in loaded:
            if name not in BUILTIN_MODELS:
                m = self.cache.peek(name)
                if m is not None:
                    rows.append(
                        pb.ModelSummary(name=name, source=_SOURCE.get(m.info.source, 0), loaded=True, description=m.info.architecture)
                    )
        return pb.ListModelsResponse(models=rows)

    @rpc_method(pb.GetModelInfoResponse)
    def GetModelInfo(self, request: pb.GetModelInfoRequest, context: grpc.ServicerContext) -> pb.GetModelInfoResponse:
        return pb.GetModelInfoResponse(info=info_to_proto(self._model(request.model).info))

    @rpc_method(pb.LoadModelResponse)
    def LoadModel(self, request: pb.LoadModelRequest, context: grpc.ServicerContext) -> Iterator[pb.LoadModelResponse]:
        start = time.monotonic()

        def event(stage: str, frac: float) -> pb.LoadModelResponse:
            return pb.LoadModelResponse(stage=stage, progress=frac, elapsed_seconds=time.monotonic() - start)

        def load(emit, stop) -> LoadedModel:
            # The final "ready" event carries the model's info (below); the cache's own is dropped.
            return self.cache.get(request.model, lambda stage, frac: stage == "ready" or emit(event(stage, frac)))

        yield event("started", 0.0)
        # A heartbeat keeps the stream alive during long conversions; when the client leaves, the
        # load goes on in the background and fills the cache.
        loaded = yield from stream_from_worker(context, load, idle=lambda: event("working", -1.0), name="model-load")
        yield pb.LoadModelResponse(
            stage="ready", progress=1.0, elapsed_seconds=time.monotonic() - start, info=info_to_proto(loaded.info)
        )

    @rpc_method(pb.TokenizeResponse)
    def Tokenize(self, request: pb.TokenizeRequest, context: grpc.ServicerContext) -> pb.TokenizeResponse:
        texts = check_texts(request.texts.texts, "texts.texts", self.limits)
        m = self._model(request.model)
        ids = tokenize(m, texts, max_tokens=m.info.max_tokens, field_name="texts.texts")
        tok = m.tokenizer
        out = []
        for text, s in zip(texts, ids, strict=True):
            raw = tok.convert_ids_to_tokens(s)  # type: ignore[attr-defined]
            starts, ends = char_offsets(tok, text, s) or ((), ())
            out.append(pb.TokenizedText(token_ids=s, tokens=raw, display_tokens=display_tokens(tok, s, raw), char_starts=starts, char_ends=ends))
        return pb.TokenizeResponse(tokenized=out)

    @rpc_method(pb.RunModelResponse)
    def RunModel(self, request: pb.RunModelRequest, context: grpc.ServicerContext) -> pb.RunModelResponse:
        tenant = tenant_of(context)
        which = request.WhichOneof("input")
        if which is None:
            raise invalid(Reason.INPUT_EMPTY, "input", "set texts or tokens")
        if len(request.capture) + len(request.gradients) > self.limits.max_capture:
            raise ResourceExhausted(Reason.TOO_MANY_CAPTURES, f"capture and gradients: at most {self.limits.max_capture} sites")
        if which == "texts":
            check_texts(request.texts.texts, "texts.texts", self.limits)
        elif len(request.tokens.sequences) > self.limits.max_batch:
            raise ResourceExhausted(Reason.BATCH_TOO_LARGE, f"tokens.sequences: the limit is {self.limits.max_batch}")
        deliverer = Deliverer(request.delivery, self.policy, self.store, tenant, "runs/", inline_limit=request.max_inline_bytes)
        m = self._model(request.model)
        if which == "texts":
            batch = tokenize(m, list(request.texts.texts), max_tokens=m.info.max_tokens, field_name="texts.texts")
        else:
            batch = check_token_ids(m, [list(s.ids) for s in request.tokens.sequences], max_tokens=m.info.max_tokens)
        job = prepare_job(
            m,
            batch,
            capture=list(request.capture),
            interventions=self._decode_interventions(request.interventions, tenant, m),
            top_k=request.top_k,
            return_logits=request.return_logits,
            metric=self._decode_metric(request, tenant),
            gradients=list(request.gradients),
            logit_lens=_lens_spec(request),
        )
        pools = self._pools(request, m, job)
        out = self.batcher.run(m, job)
        if pools is not None:
            out.captures = {name: pool_positions(t, pools) for name, t in out.captures.items()}
        tensors = [*out.captures.values(), *out.gradients.values()] + ([out.logits] if out.logits is not None else [])
        if out.lens is not None:
            tensors += [*out.lens.top_ids.values(), *out.lens.top_probs.values(), *out.lens.target_probs.values()]
            tensors += [*out.lens.target_ranks.values(), out.lens.targets]
        inline = deliverer.plan(sum(nbytes(t) for t in tensors))
        resp = pb.RunModelResponse(model=m.info.name)
        for ids, toks, shown, top in zip(
            out.token_ids, out.tokens, out.display_tokens, out.top_next or [[]] * len(out.token_ids), strict=True
        ):
            resp.sequences.append(
                pb.SequenceResult(
                    token_ids=ids,
                    tokens=toks,
                    display_tokens=shown,
                    top_next_tokens=[
                        pb.TokenProbability(
                            token_id=t.token_id, token=t.token, probability=t.probability, logit=t.logit, display_token=t.display
                        )
                        for t in top
                    ],
                )
            )
        for name in request.capture:
            site = m.info.site(name)
            assert site is not None
            dims = site.dim_names if pools is None else ("pool", *site.dim_names[2:])
            resp.activations.append(pb.CapturedActivation(hook_site=name, tensor=deliverer.encode(out.captures[name], dims, inline)))
        for name in request.gradients:
            site = m.info.site(name)
            assert site is not None
            resp.gradients.append(
                pb.CapturedActivation(hook_site=name, tensor=deliverer.encode(out.gradients[name], site.dim_names, inline))
            )
        if out.metric is not None:
            resp.metric_values.extend(out.metric.tolist())
        if out.logits is not None:
            resp.logits.CopyFrom(deliverer.encode(out.logits, ("batch", "pos", "vocab"), inline))
        if len(set(map(len, out.token_ids))) > 1:
            resp.attention_mask.CopyFrom(deliverer.encode(out.attention_mask, ("batch", "pos"), True))
        if out.lens is not None:
            self._encode_lens(resp, out.lens, m, deliverer, inline)
        return resp

    def _pools(self, request: pb.RunModelRequest, m: LoadedModel, job) -> list[tuple[int, list[int]]] | None:
        """The request's capture pools, checked against the batch and the captured sites."""
        if not request.HasField("capture_pooling"):
            return None
        pools = [(p.sequence, list(p.positions)) for p in request.capture_pooling.pools]
        if not pools:
            raise invalid(Reason.INPUT_EMPTY, "capture_pooling.pools", "give at least one pool (or leave capture_pooling unset)")
        for i, name in enumerate(request.capture):
            site = m.info.site(name)
            if site is not None and tuple(site.dim_names[:2]) != ("batch", "pos"):
                raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, f"capture[{i}]",
                              f"{name} is {list(site.dim_names)}: only sites with batch and pos axes can be pooled")
        check_pools(pools, job.lengths, "capture_pooling.pools", max_positions=self.limits.max_batch * m.info.max_tokens)
        return pools

    @staticmethod
    def _encode_lens(resp: pb.RunModelResponse, lens, m: LoadedModel, deliverer: Deliverer, inline: bool) -> None:
        ranked, by_pos = ("batch", "pos", "k"), ("batch", "pos")
        for name in lens.top_ids:
            resp.logit_lens.append(pb.LogitLensOutput(
                hook_site=name,
                top_token_ids=deliverer.encode(lens.top_ids[name], ranked, inline),
                top_probabilities=deliverer.encode(lens.top_probs[name], ranked, inline),
                target_probabilities=deliverer.encode(lens.target_probs[name], by_pos, inline),
                target_ranks=deliverer.encode(lens.target_ranks[name], by_pos, inline),
            ))
        resp.logit_lens_targets.CopyFrom(deliverer.encode(lens.targets, by_pos, inline))
        ids = sorted({int(i) for t in (*lens.top_ids.values(), lens.targets) for i in t.unique().tolist() if i >= 0})
        for i, shown in zip(ids, display_tokens(m.tokenizer, ids), strict=True):
            resp.logit_lens_tokens[i] = shown

    @rpc_method(pb.GenerateResponse)
    def Generate(self, request: pb.GenerateRequest, context: grpc.ServicerContext) -> Iterator[pb.GenerateResponse]:
        tenant = tenant_of(context)
        which = request.WhichOneof("input")
        if which is None:
            raise invalid(Reason.INPUT_EMPTY, "input", "set text or tokens")
        if len(request.capture) > self.limits.max_capture:
            raise ResourceExhausted(Reason.TOO_MANY_CAPTURES, f"capture: at most {self.limits.max_capture} sites")
        deliverer = Deliverer(request.delivery, self.policy, self.store, tenant, "runs/", inline_limit=request.max_inline_bytes)
        m = self._model(request.model)
        if which == "text":
            check_texts([request.text], "text", self.limits)
            prompt = tokenize(m, [request.text], max_tokens=m.info.max_tokens, field_name="text")[0]
        else:
            prompt = list(request.tokens.ids)  # checked by check_generation, with the field names of this request
        settings = GenerationSettings(
            max_new_tokens=32 if request.max_new_tokens == 0 else request.max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=list(request.stop),
            ignore_eos=request.ignore_eos,
        )
        interventions = self._decode_interventions(request.interventions, tenant, m)
        capture = list(request.capture)
        check_generation(
            m, prompt, settings, interventions, capture,
            max_new_tokens_limit=self.limits.max_new_tokens, max_stop_strings=self.limits.max_stop_strings,
        )
        interventions = resolve_reference_means(m, interventions)
        for event in generate(m, prompt, settings, interventions=interventions, capture=capture, should_stop=lambda: not context.is_active()):
            if isinstance(event, GeneratedToken):
                yield pb.GenerateResponse(
                    token=pb.GeneratedToken(
                        token_id=event.token_id, token=event.token, text=event.text, logprob=event.logprob, position=event.position
                    )
                )
                continue
            inline = deliverer.plan(sum(nbytes(t) for t in event.captures.values()))
            result = pb.GenerationResult(
                model=m.info.name,
                prompt_token_ids=event.prompt_ids,
                token_ids=event.token_ids,
                text=event.text,
                finish_reason=_FINISH[event.finish_reason],
            )
            for name in capture:
                site = m.info.site(name)
                assert site is not None
                result.activations.append(
                    pb.CapturedActivation(hook_site=name, tensor=deliverer.encode(event.captures[name], site.dim_names, inline))
                )
            yield pb.GenerateResponse(result=result)

