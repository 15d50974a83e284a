"""Feature attribution with Captum: which input tokens made the model predict its target, by
several methods side by side, with the numbers that say how far to trust each.

Why this service holds weights: every gradient method needs autograd through the model. The
forward-only methods run on the same copy so that attributions, deletion/insertion curves and
infidelity share one forward function; benchmarks/bench_attribution.py --only remote measures
the alternative (one batched RunModel at the model host), which was faster for a single feature
ablation on SmolLM2.

Modules (one concern each): ``catalog`` (the methods and their defaults), ``targets`` (what is
attributed), ``problem`` (embeddings, baselines, the scored forward), ``generation`` (Captum's
LLM wrappers), ``faithfulness`` (deletion/insertion, infidelity, sensitivity), ``agreement``,
``findings`` and ``explain`` (one request end to end).

Example:
    >>> from interp_services.core.attribution import AttributionJob, Target, explain
    >>> r = explain(loaded, AttributionJob("This movie was absolutely fantastic!", Target("class", label="positive")))
    >>> [round(s, 3) for s in r.methods[0].scores]
"""

from .agreement import agreement, spearman, top_k_overlap
from .catalog import (
    AUTO_STEPS,
    AUTO_TOLERANCE,
    BASIC_METHODS,
    DEFAULTS,
    DETAILED_METHODS,
    LIMITS,
    METHODS,
    MethodSpec,
    Params,
    deeplift_supported,
    run_method,
)
from .explain import ServerLimits, check_job, explain, resolve_params
from .faithfulness import deletion_insertion, faithfulness, infidelity_of, sensitivity_of
from .problem import Problem, baseline_token_id, build_problem
from .targets import ResolvedTarget, resolve_target
from .types import (
    Agreement,
    AttributionJob,
    AttributionOptions,
    AttributionResult,
    Faithfulness,
    GeneratedRow,
    MethodResult,
    PromptSpec,
    Target,
)

__all__ = [
    "AUTO_STEPS",
    "AUTO_TOLERANCE",
    "BASIC_METHODS",
    "DEFAULTS",
    "DETAILED_METHODS",
    "LIMITS",
    "METHODS",
    "Agreement",
    "AttributionJob",
    "AttributionOptions",
    "AttributionResult",
    "Faithfulness",
    "GeneratedRow",
    "MethodResult",
    "MethodSpec",
    "Params",
    "Problem",
    "PromptSpec",
    "ResolvedTarget",
    "ServerLimits",
    "Target",
    "agreement",
    "baseline_token_id",
    "build_problem",
    "check_job",
    "deeplift_supported",
    "deletion_insertion",
    "explain",
    "faithfulness",
    "infidelity_of",
    "resolve_params",
    "resolve_target",
    "run_method",
    "sensitivity_of",
    "spearman",
    "top_k_overlap",
]
