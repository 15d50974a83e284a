"""Request builders of the activations service: readable names for its enums, targets and
neuron ids, so that SDK calls read like the CLI.

Example:
    >>> from interpretability import Client
    >>> with Client() as c:
    ...     r = c.analyze_activations("smollm2-135m", texts, sites=["mlp_post"], layers=[3, 4])
    ...     r.sites[0].layer_summaries[0].dead_neurons
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from interp.v1 import activations_service_pb2 as pb
from interp.v1 import common_pb2

SITES = ("mlp_post", "resid_post", "attn_out", "mlp_out")
GRADIENT_TYPES = ("input", "hidden", "attention")
RANKING_METHODS = ("gradient_magnitude", "gradient_x_activation", "ablation")
AGGREGATIONS = ("max", "mean")
ABLATIONS = ("zero", "mean")


def _enum(enum: Any, prefix: str, value: str | int, choices: Iterable[str]) -> int:
    """An enum value from a readable name (``"mlp_post"``) or the number itself."""
    if isinstance(value, int):
        return value
    name = str(value).strip().lower().replace("-", "_")
    if name not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return enum.Value(prefix + name.upper())


def site(value: str | int) -> int:
    """ActivationSite of a name: ``mlp_post``, ``resid_post``, ``attn_out``, ``mlp_out``."""
    return _enum(pb.ActivationSite, "ACTIVATION_SITE_", value, SITES)


def site_name(value: int) -> str:
    """The readable name of an ActivationSite value."""
    return pb.ActivationSite.Name(value).removeprefix("ACTIVATION_SITE_").lower()


def neuron(site_: str | int, layer: int, index: int) -> pb.NeuronId:
    """A NeuronId, e.g. ``neuron("mlp_post", 3, 17)``."""
    return pb.NeuronId(site=site(site_), layer=layer, index=index)


def target(*, next_token: str | None = None, class_index: int | None = None, correct: str | None = None,
           incorrect: str | None = None) -> pb.AnalysisTarget:
    """An AnalysisTarget: a next token, a class, or a logit difference (``correct`` and
    ``incorrect``); nothing: the model's own prediction."""
    if correct is not None or incorrect is not None:
        if correct is None or incorrect is None:
            raise ValueError("a logit difference needs both correct and incorrect")
        return pb.AnalysisTarget(logit_difference=pb.TokenPair(correct=correct, incorrect=incorrect))
    if next_token is not None:
        return pb.AnalysisTarget(next_token=next_token)
    if class_index is not None:
        return pb.AnalysisTarget(class_index=class_index)
    return pb.AnalysisTarget()


_CONVERT = {
    "sites": lambda v: [site(x) for x in v],
    "gradient_types": lambda v: [_enum(pb.GradientType, "GRADIENT_TYPE_", x, GRADIENT_TYPES) for x in v],
    "method": lambda v: _enum(pb.RankingMethod, "RANKING_METHOD_", v, RANKING_METHODS),
    "aggregation": lambda v: _enum(pb.TokenAggregation, "TOKEN_AGGREGATION_", v, AGGREGATIONS),
    "ablation": lambda v: _enum(pb.AblationKind, "ABLATION_KIND_", v, ABLATIONS),
    "neurons": lambda v: [n if isinstance(n, pb.NeuronId) else neuron(*n) for n in v],
    "target": lambda v: v if isinstance(v, pb.AnalysisTarget) else target(**v),
}
_TEXT_BATCHES = ("texts", "concept_texts", "control_texts")


def build(cls: type, fields: Mapping[str, Any]) -> Any:
    """A request message from keyword fields: readable enum names and plain lists of texts are
    converted; ``None`` values are left unset."""
    req = cls()
    for key, value in fields.items():
        if value is None:
            continue
        if key in _TEXT_BATCHES:
            getattr(req, key).CopyFrom(common_pb2.TextBatch(texts=list(value)))
            continue
        if key in _CONVERT:
            value = _CONVERT[key](value)
        field = getattr(req, key)
        if isinstance(value, list) or isinstance(value, tuple):
            del field[:]
            field.extend(value)
        elif hasattr(field, "CopyFrom"):
            field.CopyFrom(value)
        else:
            setattr(req, key, value)
    return req
