"""Attribution requests in a few words: targets, method names and options for
``Client.attribute``.

Example:
    >>> from interpretability import Client, attribution as at
    >>> with Client() as c:
    ...     r = c.attribute("minilm-sentiment", "This movie was absolutely fantastic!",
    ...                     target=at.class_target("positive"), depth="detailed")
    ...     [(t, round(s, 3)) for t, s in zip(r.display_tokens, r.methods[0].scores)]
"""

from __future__ import annotations

from collections.abc import Sequence

from interp.v1 import attribution_service_pb2 as pb
from interp.v1 import model_host_service_pb2 as mpb

__all__ = [
    "BASELINES",
    "DEPTHS",
    "METHOD_ALIASES",
    "class_target",
    "generation_target",
    "logit_difference_target",
    "method_name",
    "method_values",
    "next_token_target",
    "options",
    "prompt_classifier",
]

METHOD_ALIASES = {
    "gradient": "saliency",
    "gradients": "saliency",
    "ig": "integrated_gradients",
    "ixg": "input_x_gradient",
    "shap": "kernel_shap",
    "shapley": "shapley_value_sampling",
    "ablation": "feature_ablation",
}
"""Short names the CLI accepts besides the catalog's own (``integrated_gradients``, ...)."""

DEPTHS = {"basic": pb.EXPLANATION_DEPTH_BASIC, "detailed": pb.EXPLANATION_DEPTH_DETAILED}
BASELINES = {
    "pad": pb.BASELINE_KIND_PAD_TOKEN,
    "unk": pb.BASELINE_KIND_UNK_TOKEN,
    "mask": pb.BASELINE_KIND_MASK_TOKEN,
    "zero": pb.BASELINE_KIND_ZERO_EMBEDDING,
}
_SCORES = {"log_prob": mpb.SCORE_KIND_LOG_PROB, "logit": mpb.SCORE_KIND_LOGIT, "prob": mpb.SCORE_KIND_PROBABILITY}


def method_name(value: int) -> str:
    """``ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS`` -> ``integrated_gradients``."""
    return pb.AttributionMethod.Name(value).removeprefix("ATTRIBUTION_METHOD_").lower()


def method_values(names: Sequence[str | int] | str) -> list[int]:
    """Method names (a list, or a comma-separated string; aliases allowed) as enum values;
    enum values pass through unchanged.

    Raises:
        ValueError: a name that is not a method (the server would answer
            ATTRIBUTION_METHOD_UNKNOWN; a client can say so before calling).
    """
    if isinstance(names, str):
        names = [n for n in (p.strip() for p in names.split(",")) if n]
    out = []
    for name in names:
        if isinstance(name, int):
            out.append(name)
            continue
        key = METHOD_ALIASES.get(name.lower(), name.lower())
        try:
            out.append(pb.AttributionMethod.Value("ATTRIBUTION_METHOD_" + key.upper()))
        except ValueError:
            known = sorted({method_name(v) for v in pb.AttributionMethod.values() if v} | set(METHOD_ALIASES))
            raise ValueError(f"unknown attribution method {name!r}; known: {', '.join(known)}") from None
    return out


def prompt_classifier(template: str, labels: Sequence[str], label_words: Sequence[str]) -> pb.PromptClassifier:
    """A causal LM as a classifier: ``template`` holds ``{text}``; ``label_words[i]`` (one
    token each, usually with a leading space) stands for ``labels[i]``."""
    return pb.PromptClassifier(template=template, labels=list(labels), label_words=list(label_words))


def class_target(
    label: str | None = None, *, index: int | None = None, prompt: pb.PromptClassifier | None = None, score: str = "log_prob"
) -> pb.AttributionTarget:
    """A class by name (``id2label``) or index; neither: the predicted class. A ``label`` that
    names no class but is a number is read by the server as an index."""
    c = pb.ClassTarget(label=label or "", kind=_SCORES[score])
    if index is not None:
        c.class_index, c.use_index = index, True
    if prompt is not None:
        c.prompt.CopyFrom(prompt)
    return pb.AttributionTarget(class_target=c)


def next_token_target(continuation: str | Sequence[int] = "") -> pb.AttributionTarget:
    """The log-probability of a continuation (text or token ids); empty: the most likely next token."""
    if isinstance(continuation, str):
        return pb.AttributionTarget(next_token=pb.NextTokenTarget(continuation=continuation))
    return pb.AttributionTarget(next_token=pb.NextTokenTarget(token_ids=list(continuation)))


def logit_difference_target(correct: str | int, incorrect: str | int) -> pb.AttributionTarget:
    """``logit(correct) - logit(incorrect)`` of the next token (one-token texts or token ids)."""
    d = pb.LogitDifferenceTarget()
    if isinstance(correct, str):
        d.correct = correct
    else:
        d.correct_token_id = correct
    if isinstance(incorrect, str):
        d.incorrect = incorrect
    else:
        d.incorrect_token_id = incorrect
    return pb.AttributionTarget(logit_difference=d)


def generation_target(max_new_tokens: int = 0, target_text: str = "") -> pb.AttributionTarget:
    """Each token of a greedy continuation (or of ``target_text``)."""
    return pb.AttributionTarget(generation=pb.GenerationTarget(max_new_tokens=max_new_tokens, target_text=target_text))


def options(
    *,
    baseline: str = "pad",
    replace_first_token: bool = False,
    replace_special_tokens: bool = False,
    n_steps: int = 0,
    n_samples: int = 0,
    seed: int = 0,
    internal_batch_size: int = 0,
    infidelity_samples: int = 0,
    sensitivity_samples: int = 0,
) -> pb.AttributionOptions:
    """Method parameters (0: the server's documented default)."""
    return pb.AttributionOptions(
        baseline=pb.Baseline(kind=BASELINES[baseline], replace_first_token=replace_first_token,
                             replace_special_tokens=replace_special_tokens),
        n_steps=n_steps, n_samples=n_samples, seed=seed, internal_batch_size=internal_batch_size,
        infidelity_samples=infidelity_samples, sensitivity_samples=sensitivity_samples,
    )
