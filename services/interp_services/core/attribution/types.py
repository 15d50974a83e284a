"""The attribution core's data: what is asked (:class:`AttributionJob`) and what comes back
(:class:`AttributionResult`). Plain dataclasses; the rpc layer maps them to and from the
``interp.v1.AttributionService`` messages."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Agreement",
    "AttributionJob",
    "AttributionOptions",
    "AttributionResult",
    "Faithfulness",
    "GeneratedRow",
    "MethodResult",
    "PromptSpec",
    "Target",
]

TARGET_KINDS = ("default", "class", "next_token", "logit_diff", "generation")
BASELINE_KINDS = ("pad", "unk", "mask", "zero")


@dataclass
class PromptSpec:
    """A causal LM used as a classifier: ``template`` holds ``{text}``; class ``i`` is the
    next-token score of ``label_words[i]``, normalised over the label words."""

    template: str
    labels: list[str]
    label_words: list[str]


@dataclass
class Target:
    """The scalar being attributed.

    Attributes:
        kind: one of ``TARGET_KINDS``; ``default`` is the predicted class of a classifier, else
            the most likely next token.
        class_index: ``class``: the class (None with an empty ``label``: the predicted class).
        label: ``class``: the class by name (id2label or the prompt's labels).
        score: ``log_prob`` | ``logit`` | ``prob`` (``class``).
        prompt: ``class`` on a causal LM: the prompt classifier.
        continuation: ``next_token``: text whose tokens' log-probabilities are summed.
        token_ids: ``next_token``: instead of ``continuation``, its ids.
        correct, incorrect: ``logit_diff``: the answers as one-token texts ...
        correct_id, incorrect_id: ... or as token ids.
        max_new_tokens: ``generation``: tokens to generate greedily.
        target_text: ``generation``: a given continuation instead.
    """

    kind: str = "default"
    class_index: int | None = None
    label: str = ""
    score: str = "log_prob"
    prompt: PromptSpec | None = None
    continuation: str = ""
    token_ids: list[int] = field(default_factory=list)
    correct: str = ""
    incorrect: str = ""
    correct_id: int | None = None
    incorrect_id: int | None = None
    max_new_tokens: int = 0
    target_text: str = ""


@dataclass
class AttributionOptions:
    """Method parameters; 0 means the documented default (see ``catalog.DEFAULTS``)."""

    baseline: str = "pad"
    replace_first_token: bool = False
    replace_special_tokens: bool = False
    n_steps: int = 0
    n_samples: int = 0
    seed: int = 0
    internal_batch_size: int = 0
    infidelity_samples: int = 0
    sensitivity_samples: int = 0


@dataclass
class AttributionJob:
    """One input to attribute."""

    text: str
    target: Target = field(default_factory=Target)
    methods: list[str] = field(default_factory=list)
    detailed: bool = False
    options: AttributionOptions = field(default_factory=AttributionOptions)


@dataclass
class Faithfulness:
    """Deletion/insertion curves over the attributed tokens, their normalised areas, and
    Captum's infidelity / sensitivity where computed (None otherwise)."""

    fractions: list[float]
    deletion: list[float]
    insertion: list[float]
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    infidelity: float | None = None
    sensitivity_max: float | None = None


@dataclass
class GeneratedRow:
    """One generated token's attribution to the input tokens."""

    token: str
    token_id: int
    log_prob: float
    scores: list[float]


@dataclass
class MethodResult:
    """One method's answer: a score per token of the input (0 where not attributed)."""

    method: str
    scores: list[float]
    delta: float | None = None
    relative_delta: float | None = None
    faithfulness: Faithfulness | None = None
    seconds: float = 0.0
    evaluations: int = 0
    parameters: list[str] = field(default_factory=list)
    generated: list[GeneratedRow] = field(default_factory=list)


@dataclass
class Agreement:
    """Rank agreement of two methods over the attributed tokens."""

    first: str
    second: str
    spearman: float
    top_k_overlap: float


@dataclass
class AttributionResult:
    """The attribution of one input by every method asked for."""

    text: str
    tokens: list[str]
    token_ids: list[int]
    display_tokens: list[str]
    attributed: list[bool]
    target: str
    target_score: float
    baseline_score: float
    target_probability: float
    prediction: str
    baseline: str
    methods: list[MethodResult]
    agreement: list[Agreement]
    findings: list[str]
    generated_text: str = ""
