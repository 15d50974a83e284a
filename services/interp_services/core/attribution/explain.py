"""One attribution request from start to end: check it, bind the target, run every method,
measure faithfulness and agreement, and say what the numbers mean.

Example:
    >>> result = explain(loaded, AttributionJob("This movie was absolutely fantastic!", detailed=True))
    >>> result.methods[0].method, result.findings[0]
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch

from interp_services.core.errors import Cancelled, invalid
from interp_services.core.reasons import Reason
from interp_services.core.tokens import display_tokens

from .agreement import agreement
from .catalog import (
    AUTO_STEPS,
    AUTO_TOLERANCE,
    BASIC_METHODS,
    DETAILED_METHODS,
    GENERATION_DETAILED,
    LIMITS,
    METHODS,
    PERTURBATION_BATCH_FACTOR,
    Params,
    deeplift_supported,
    expected_evaluations,
    run_method,
)
from .faithfulness import faithfulness, sensitivity_of
from .generation import llm_attribute
from .problem import Problem, build_problem
from .targets import resolve_target
from .types import AttributionJob, AttributionOptions, AttributionResult, MethodResult

__all__ = ["ServerLimits", "check_job", "explain", "resolve_params"]

ProgressFn = Callable[[str, float, str, int], None]
"""Called with (stage, fraction of the request done, method or "", evaluations so far)."""

SENSITIVITY_METHODS = ("saliency", "input_x_gradient", "integrated_gradients")
DETAILED_INFIDELITY_SAMPLES = 16
DETAILED_SENSITIVITY_SAMPLES = 4


@dataclass(frozen=True)
class ServerLimits:
    """The server's bounds: the internal batch (memory) and the counts a request may ask."""

    batch_size: int = 16
    max_n_steps: int = LIMITS["n_steps"]
    max_n_samples: int = LIMITS["n_samples"]


def _check_range(value: int, field: str, high: int) -> int:
    if not 0 <= value <= high:
        raise invalid(Reason.ATTRIBUTION_PARAMETER_OUT_OF_RANGE, field, f"must be in [0, {high}] (0: the default), got {value}")
    return value


def resolve_params(options: AttributionOptions, limits: ServerLimits) -> Params:
    """The parameters the methods run with (defaults filled in, ranges checked)."""
    _check_range(options.n_steps, "options.n_steps", limits.max_n_steps)
    _check_range(options.n_samples, "options.n_samples", limits.max_n_samples)
    _check_range(options.internal_batch_size, "options.internal_batch_size", limits.batch_size)
    _check_range(options.infidelity_samples, "options.infidelity_samples", LIMITS["infidelity_samples"])
    _check_range(options.sensitivity_samples, "options.sensitivity_samples", LIMITS["sensitivity_samples"])
    return Params(
        n_steps=options.n_steps or Params.n_steps,
        n_samples=options.n_samples,
        seed=options.seed,
        internal_batch_size=options.internal_batch_size or limits.batch_size,
    )


def check_job(job: AttributionJob, *, generation: bool, model: torch.nn.Module | None = None) -> list[str]:
    """The methods to run (depth defaults filled in), each checked against the target and, when
    ``model`` is given, DeepLift's against the model's architecture (:func:`deeplift_supported`;
    without a model, as the servicer checks a request before loading one, DeepLift passes).

    Raises:
        InvalidArgument: ATTRIBUTION_METHOD_UNKNOWN, ATTRIBUTION_METHOD_DUPLICATE,
            ATTRIBUTION_METHOD_NOT_SUPPORTED.
    """
    if not job.methods:
        if generation:
            return list(GENERATION_DETAILED if job.detailed else BASIC_METHODS)
        return list(DETAILED_METHODS if job.detailed else BASIC_METHODS)
    seen: set[str] = set()
    for i, name in enumerate(job.methods):
        field = f"methods[{i}]"
        if name not in METHODS:
            raise invalid(Reason.ATTRIBUTION_METHOD_UNKNOWN, field, f"unknown method {name!r}; methods: {', '.join(METHODS)}")
        if name in seen:
            raise invalid(Reason.ATTRIBUTION_METHOD_DUPLICATE, field, f"{name} is listed twice")
        seen.add(name)
        spec = METHODS[name]
        if generation and not spec.supports_generation:
            ok = ", ".join(n for n, s in METHODS.items() if s.supports_generation)
            raise invalid(Reason.ATTRIBUTION_METHOD_NOT_SUPPORTED, field, f"{name} does not attribute generated text; use one of {ok}")
        if spec.needs_deeplift and model is not None:
            ok, why = deeplift_supported(model)
            if not ok:
                raise invalid(
                    Reason.ATTRIBUTION_METHOD_NOT_SUPPORTED, field,
                    f"{name} cannot run on this model: {why}. DeepLift's rescale rule holds for linear layers and "
                    "elementwise nonlinearities only; a transformer's norms, attention products and softmax get wrong "
                    "attributions; use integrated_gradients or gradient_shap",
                )
    return list(job.methods)


class _Progress:
    """Turns model evaluations into progress events (a monotonic fraction of the request) and
    checks for cancellation. Each method is one unit, shared between its parts (the method,
    then its faithfulness figures)."""

    def __init__(self, report: ProgressFn | None, cancelled: Callable[[], bool] | None, units: float) -> None:
        self.report = report
        self.cancelled = cancelled or (lambda: False)
        self.units = max(units, 1.0)
        self.done = 0.0
        self.evaluations = 0
        self.stage, self.method, self.expected, self.in_stage, self.share = "", "", 1, 0, 1.0
        self._last = 0.0
        self._fraction = 0.0

    def start(self, stage: str, method: str, expected: int, share: float) -> None:
        """A part of ``share`` units expected to take ``expected`` evaluations begins."""
        self.stage, self.method, self.expected, self.in_stage, self.share = stage, method, max(expected, 1), 0, share
        self._emit(force=True)

    def tick(self, n: int) -> None:
        if self.cancelled():
            raise Cancelled(Reason.CANCELLED, "the client cancelled the attribution")
        self.evaluations += n
        self.in_stage += n
        self._emit()

    def end(self) -> None:
        """The current part is done."""
        self.done += self.share
        self.in_stage = 0
        self.share = 0.0

    def _emit(self, force: bool = False) -> None:
        if self.report is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        within = self.share * min(self.in_stage / self.expected, 0.99)
        self._fraction = max(self._fraction, min((self.done + within) / self.units, 1.0))
        self.report(self.stage, self._fraction, self.method, self.evaluations)


@contextlib.contextmanager
def _fast_attention(model: torch.nn.Module) -> Iterator[None]:
    """Run with transformers' SDPA attention while the model's lock is held: attribution reads
    no hook sites, so the suite's hookable eager attention (the loader's default) only costs
    time (~10% of integrated gradients on SmolLM2). Models without SDPA keep their own."""
    before = getattr(model.config, "_attn_implementation", None)
    try:
        model.set_attn_implementation("sdpa")
    except (ValueError, ImportError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def _token_scores(name: str, attrs: torch.Tensor) -> torch.Tensor:
    """Per attributed token ``(1, T', D)`` -> ``(T',)``: gradient methods' attributions summed
    over the embedding; perturbation methods give every entry of a token its token's score
    (Captum broadcasts a feature's attribution over its mask), so one entry is read."""
    attrs = attrs.detach().float()[0].cpu()
    return attrs[:, 0] if METHODS[name].family == "perturbation" else attrs.sum(dim=-1)


def _full(problem: Problem, scores: torch.Tensor) -> list[float]:
    out = torch.zeros(problem.embeds.shape[1])
    out[problem.positions.cpu()] = scores.float()
    return out.tolist()


def _run_one(name, loaded, problem, params, job, detailed, generation, progress, f_x, f_b) -> tuple[MethodResult, torch.Tensor]:
    spec = METHODS[name]
    start = time.monotonic()
    before = problem.evaluations
    result = MethodResult(method=name, scores=[], parameters=spec.defaults(params))
    sensitivity = detailed and name in SENSITIVITY_METHODS and not generation
    shares = (0.6, 0.25, 0.15) if sensitivity else (0.6, 0.4, 0.0) if detailed else (1.0, 0.0, 0.0)
    progress.start(name, name, expected_evaluations(name, int(problem.positions.numel()), params), shares[0])
    attrs = None
    span = max(abs(f_x - f_b), 1e-6)
    auto = name == "integrated_gradients" and not job.options.n_steps
    evaluations = 0
    for steps in AUTO_STEPS if auto else (params.n_steps,):
        run_params = replace(params, n_steps=steps)
        delta = None
        if generation:
            rows, scores, evals = llm_attribute(name, loaded, problem, run_params, progress.tick)
            evaluations += evals
            if spec.has_delta:
                # Captum's LLM wrapper reports no delta; the summed log-probability it attributes
                # is the problem's own score, so completeness is checked against it here.
                delta = float(scores.sum()) - (f_x - f_b)
        else:
            with torch.enable_grad():
                attrs, delta = run_method(
                    name, problem.forward, problem.x, problem.b, run_params, module=problem.model, span=f_x - f_b
                )
            scores = _token_scores(name, attrs)
        if delta is None or abs(delta) / span <= AUTO_TOLERANCE:
            break
    params = run_params
    result.parameters = spec.defaults(run_params) + ([f"n_steps chosen automatically (|delta| <= {AUTO_TOLERANCE:.0%})"] if auto else [])
    if generation:
        for row in rows:
            row.scores = _full(problem, torch.tensor(row.scores))
        result.generated = rows
        result.evaluations = evaluations
    else:
        result.evaluations = problem.evaluations - before
    if delta is not None:
        result.delta = delta
        result.relative_delta = abs(delta) / span
    result.scores = _full(problem, scores)
    result.seconds = time.monotonic() - start
    progress.end()
    if detailed:
        progress.start("faithfulness", name, 8 * (int(problem.positions.numel()) + 1), shares[1])
        result.faithfulness = faithfulness(
            problem.gate_forward, scores, seed=params.seed, batch=params.internal_batch_size * PERTURBATION_BATCH_FACTOR,
            infidelity_samples=job.options.infidelity_samples or DETAILED_INFIDELITY_SAMPLES, device=problem.device,
        )
        progress.end()
        if sensitivity and attrs is not None:
            progress.start("sensitivity", name, 4 * expected_evaluations(name, 0, params), shares[2])
            samples = job.options.sensitivity_samples or DETAILED_SENSITIVITY_SAMPLES

            def again(xv: torch.Tensor) -> torch.Tensor:
                with torch.enable_grad():
                    return run_method(name, problem.forward, xv, problem.b, params)[0]

            result.faithfulness.sensitivity_max = sensitivity_of(again, problem.x, attrs, samples=samples, seed=params.seed)
            progress.end()
    return result, scores


def explain(
    loaded,
    job: AttributionJob,
    limits: ServerLimits = ServerLimits(),
    *,
    progress: ProgressFn | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> AttributionResult:
    """Attribute ``job`` on ``loaded`` (a ``LoadedModel``).

    Raises:
        InvalidArgument / ResourceExhausted: a request the model cannot serve (see
            :func:`check_job`, :func:`resolve_params`, ``targets.resolve_target``).
        Cancelled: ``cancelled()`` turned true.
    """
    generation = job.target.kind == "generation"
    methods = check_job(job, generation=generation, model=loaded.model)
    if job.options.baseline not in ("pad", "unk", "mask", "zero"):
        raise invalid(Reason.BASELINE_UNAVAILABLE, "options.baseline.kind", f"unknown baseline {job.options.baseline!r}")
    params = resolve_params(job.options, limits)
    if not job.text or not job.text.strip():
        raise invalid(Reason.INPUT_EMPTY, "text", "must not be empty")
    with loaded.lock, _fast_attention(loaded.model):
        resolved = resolve_target(loaded, job.text, job.target)
        problem = build_problem(loaded, resolved, job.options)
        tracker = _Progress(progress, cancelled, len(methods))
        problem.on_eval = tracker.tick
        with torch.no_grad():
            out = problem.outputs(torch.cat([problem.embeds, problem.baseline_embeds]))
            f_x, f_b = (float(v) for v in resolved.score(out))
            probability = resolved.probability(out)
        results, scores = [], []
        for name in methods:
            r, s = _run_one(name, loaded, problem, params, job, job.detailed, generation, tracker, f_x, f_b)
            results.append(r)
            scores.append(s)
    ids = resolved.ids.tolist()
    tok = loaded.tokenizer
    raw = tok.convert_ids_to_tokens(ids)
    shown = display_tokens(tok, ids, raw)
    attributed = torch.zeros(len(ids), dtype=torch.bool)
    attributed[problem.positions.cpu()] = True
    result = AttributionResult(
        text=job.text,
        tokens=raw,
        token_ids=ids,
        display_tokens=shown,
        attributed=attributed.tolist(),
        target=resolved.description,
        target_score=f_x,
        baseline_score=f_b,
        target_probability=probability,
        prediction=resolved.prediction,
        baseline=problem.baseline,
        methods=results,
        agreement=agreement(methods, scores),
        findings=[],
        generated_text=resolved.generated_text,
    )
    from .findings import findings

    result.findings = findings(result)
    return result
