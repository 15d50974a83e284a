"""AttributionService servicer: decode -> core.attribution -> encode.

The service holds models in its own process (``ServiceSpec.holds_weights``): gradient methods
need autograd through the weights. Forward-only methods run here too, so that attributions and
their faithfulness curves come from one forward function, although one batched ``RunModel`` at
the model host measured faster for a single feature ablation (``benchmarks/bench_attribution.py
--only remote``; see the README). The work runs in a worker thread; its progress comes back as
stream events, and a cancelled call stops it at the next model evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from interp.v1 import attribution_service_pb2 as pb
from interp_services.core import attribution as core
from interp_services.core.errors import invalid
from interp_services.core.models import ModelCache
from interp_services.core.reasons import Reason
from interp_services.rpc.context import Limits
from interp_services.rpc.errors import rpc_method
from interp_services.rpc.model_host import SCORE_NAMES
from interp_services.rpc.toolkit import check_texts, stream_from_worker

_METHOD_PREFIX = "ATTRIBUTION_METHOD_"
_BASELINES = {
    pb.BASELINE_KIND_UNSPECIFIED: "pad",
    pb.BASELINE_KIND_PAD_TOKEN: "pad",
    pb.BASELINE_KIND_UNK_TOKEN: "unk",
    pb.BASELINE_KIND_MASK_TOKEN: "mask",
    pb.BASELINE_KIND_ZERO_EMBEDDING: "zero",
}


def method_name(value: int) -> str:
    """Core name of an AttributionMethod value (``""`` for unknown values)."""
    try:
        return pb.AttributionMethod.Name(value).removeprefix(_METHOD_PREFIX).lower()
    except ValueError:
        return ""


def method_value(name: str) -> int:
    """AttributionMethod value of a core method name."""
    return pb.AttributionMethod.Value(_METHOD_PREFIX + name.upper())


def _target(msg: pb.AttributionTarget) -> core.Target:
    which = msg.WhichOneof("target")
    if which is None:
        return core.Target()
    if which == "class_target":
        c = msg.class_target
        prompt = None
        if c.HasField("prompt"):
            prompt = core.PromptSpec(c.prompt.template, list(c.prompt.labels), list(c.prompt.label_words))
        return core.Target(
            "class", class_index=c.class_index if c.use_index else None, label=c.label, score=SCORE_NAMES.get(c.kind, "log_prob"),
            prompt=prompt,
        )
    if which == "next_token":
        return core.Target("next_token", continuation=msg.next_token.continuation, token_ids=list(msg.next_token.token_ids))
    if which == "logit_difference":
        d = msg.logit_difference
        return core.Target(
            "logit_diff", correct=d.correct, incorrect=d.incorrect,
            correct_id=d.correct_token_id if not d.correct else None, incorrect_id=d.incorrect_token_id if not d.incorrect else None,
        )
    g = msg.generation
    return core.Target("generation", max_new_tokens=g.max_new_tokens, target_text=g.target_text)


def job_from_proto(req: pb.AttributeRequest) -> core.AttributionJob:
    """The core job of a request (method names checked here: unknown enum values and
    UNSPECIFIED are ATTRIBUTION_METHOD_UNKNOWN)."""
    methods = []
    for i, value in enumerate(req.methods):
        name = method_name(value)
        if not name or name == "unspecified":
            raise invalid(Reason.ATTRIBUTION_METHOD_UNKNOWN, f"methods[{i}]", f"{value} is not an attribution method")
        methods.append(name)
    if req.options.baseline.kind not in _BASELINES:
        raise invalid(Reason.BASELINE_UNAVAILABLE, "options.baseline.kind", f"{req.options.baseline.kind} is not a baseline kind")
    o = req.options
    options = core.AttributionOptions(
        baseline=_BASELINES[o.baseline.kind],
        replace_first_token=o.baseline.replace_first_token,
        replace_special_tokens=o.baseline.replace_special_tokens,
        n_steps=o.n_steps,
        n_samples=o.n_samples,
        seed=o.seed,
        internal_batch_size=o.internal_batch_size,
        infidelity_samples=o.infidelity_samples,
        sensitivity_samples=o.sensitivity_samples,
    )
    return core.AttributionJob(
        text=req.text, target=_target(req.target), methods=methods, detailed=req.depth == pb.EXPLANATION_DEPTH_DETAILED,
        options=options,
    )


def result_to_proto(model: str, r: core.AttributionResult) -> pb.AttributionResult:
    """Encode a core result."""
    methods = []
    for m in r.methods:
        msg = pb.MethodAttribution(
            method=method_value(m.method), scores=m.scores, seconds=m.seconds, evaluations=m.evaluations, parameters=m.parameters,
            generated=[pb.GeneratedTokenAttribution(token=g.token, token_id=g.token_id, log_prob=g.log_prob, scores=g.scores)
                       for g in m.generated],
        )
        if m.delta is not None:
            msg.has_delta = True
            msg.delta = m.delta
            msg.relative_delta = m.relative_delta if m.relative_delta is not None else 0.0
        f = m.faithfulness
        if f is not None:
            msg.faithfulness.CopyFrom(pb.Faithfulness(
                fractions=f.fractions, deletion=f.deletion, insertion=f.insertion, deletion_auc=f.deletion_auc,
                insertion_auc=f.insertion_auc, random_deletion_auc=f.random_deletion_auc,
                random_insertion_auc=f.random_insertion_auc,
                has_infidelity=f.infidelity is not None, infidelity=f.infidelity or 0.0,
                has_sensitivity=f.sensitivity_max is not None, sensitivity_max=f.sensitivity_max or 0.0,
            ))
        methods.append(msg)
    return pb.AttributionResult(
        model=model, text=r.text, tokens=r.tokens, token_ids=r.token_ids, display_tokens=r.display_tokens, attributed=r.attributed,
        target=r.target, target_score=r.target_score, baseline_score=r.baseline_score, target_probability=r.target_probability,
        prediction=r.prediction, baseline=r.baseline, methods=methods,
        agreement=[pb.MethodAgreement(first=method_value(a.first), second=method_value(a.second), spearman=a.spearman,
                                      top_k_overlap=a.top_k_overlap) for a in r.agreement],
        findings=r.findings, generated_text=r.generated_text,
    )


class AttributionServicer:
    """Serves AttributionService from this process's model cache."""

    def __init__(self, cache: ModelCache, limits: Limits, server_limits: core.ServerLimits) -> None:
        self.cache = cache
        self.limits = limits
        self.server_limits = server_limits

    @rpc_method(pb.ListAttributionMethodsResponse)
    def ListAttributionMethods(
        self, request: pb.ListAttributionMethodsRequest, context: grpc.ServicerContext
    ) -> pb.ListAttributionMethodsResponse:
        defaults = core.Params(internal_batch_size=self.server_limits.batch_size)
        return pb.ListAttributionMethodsResponse(
            methods=[
                pb.MethodInfo(method=method_value(s.name), name=s.name, description=s.description, family=s.family,
                              has_delta=s.has_delta, supports_generation=s.supports_generation,
                              defaults=s.defaults(defaults, auto_steps=True))
                for s in core.METHODS.values()
            ],
            basic=[method_value(n) for n in core.BASIC_METHODS],
            detailed=[method_value(n) for n in core.DETAILED_METHODS],
            max_n_steps=self.server_limits.max_n_steps,
            max_n_samples=self.server_limits.max_n_samples,
        )

    @rpc_method(pb.AttributeResponse)
    def Attribute(self, request: pb.AttributeRequest, context: grpc.ServicerContext) -> Iterator[pb.AttributeResponse]:
        check_texts([request.text], "text", self.limits, max_count=1)
        job = job_from_proto(request)
        core.check_job(job, generation=job.target.kind == "generation")
        core.resolve_params(job.options, self.server_limits)
        model_name = request.model.strip() if request.model else request.model

        def work(emit, stop) -> core.AttributionResult:
            def progress(stage: str, fraction: float, method: str, evaluations: int) -> None:
                emit(pb.AttributeResponse(progress=pb.AttributionProgress(
                    stage=stage, fraction=fraction, method=method_value(method) if method else 0, evaluations=evaluations,
                )))

            loaded = self.cache.get(model_name, lambda stage, frac: progress(f"loading model: {stage}", 0.0, "", 0))
            return core.explain(
                loaded, job, self.server_limits, progress=progress, cancelled=lambda: stop.is_set() or not context.is_active()
            )

        result = yield from stream_from_worker(context, work, name="attribution")
        yield pb.AttributeResponse(result=result_to_proto(request.model, result))
