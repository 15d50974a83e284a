"""Targets: which scalar of the model is attributed, on which token sequence.

A target decides the sequence the model sees (a prompt classifier fills its template; a
continuation is appended for teacher forcing), which of its tokens may be attributed (the
text's own), and ``score(outputs) -> (B,)`` on the model's outputs.

* ``class`` on a sequence-classification model: log-probability (or logit, probability) of a
  class from the head; the class by index, by ``id2label`` name (a label that names no class but
  is a number is read as an index), or the predicted one.
* ``class`` on a causal LM with a :class:`PromptSpec`: the label words' next-token logits after
  the filled template, normalised over the label words.
* ``next_token``: the summed log-probability of a continuation's tokens (default: the most
  likely next token).
* ``logit_diff``: ``logit(correct) - logit(incorrect)`` of the next token.
* ``generation``: the summed log-probability of a greedy (or given) continuation; the per-token
  rows come from Captum's LLM wrappers (``generation.py``).

Example:
    >>> resolved = resolve_target(loaded, "This movie was great", Target("class", label="positive"))
    >>> resolved.description
    'class positive (log-probability)'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from interp_services.core.errors import ResourceExhausted, invalid
from interp_services.core.metrics import score_rows
from interp_services.core.reasons import Reason

from .types import PromptSpec, Target

__all__ = ["ResolvedTarget", "resolve_target", "token_ids_of"]

MAX_NEW_TOKENS = 64
DEFAULT_NEW_TOKENS = 8
_SCORE_WORDS = {"log_prob": "log-probability", "logit": "logit", "prob": "probability"}


@dataclass
class ResolvedTarget:
    """A target bound to a model and a text.

    Attributes:
        ids: the token ids the model sees ``(T,)``.
        attributable: which positions belong to the text (may be attributed) ``(T,)``.
        score: model outputs -> the attributed scalar per batch row ``(B,)``.
        probability: model outputs of one row -> the target's probability.
        keep_logits: how many last positions' logits ``score`` reads (0: a classifier head).
        description: the target in words.
        prediction: what the model predicts, in words.
        continuation: generation and next-token targets: the target token ids.
        generated_text: generation targets: the continuation in text.
    """

    ids: torch.Tensor
    attributable: torch.Tensor
    score: Callable[[object], torch.Tensor]
    probability: Callable[[object], float]
    keep_logits: int
    description: str
    prediction: str
    continuation: list[int]
    generated_text: str = ""


def _encode(tokenizer, text: str, special: bool = True) -> tuple[list[int], list[tuple[int, int]] | None]:
    try:
        enc = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    except (NotImplementedError, ValueError, TypeError):  # slow tokenizers have no offsets
        return list(tokenizer(text, add_special_tokens=special)["input_ids"]), None


def token_ids_of(tokenizer, text: str) -> list[int]:
    """Ids of ``text`` without special tokens."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _one_token(tokenizer, text: str, field: str, vocab: int, token_id: int | None) -> int:
    if text:
        ids = token_ids_of(tokenizer, text)
        if len(ids) != 1:
            pieces = tokenizer.convert_ids_to_tokens(ids)
            raise invalid(Reason.TARGET_TOKEN_INVALID, field, f"{text!r} is {len(ids)} tokens {pieces}; give a one-token answer")
        return ids[0]
    if token_id is None:
        raise invalid(Reason.TARGET_TOKEN_INVALID, field, "required: a one-token text or a token id")
    if not 0 <= token_id < vocab:
        raise invalid(Reason.TOKEN_ID_OUT_OF_RANGE, field, f"token id {token_id} is outside [0, {vocab})")
    return token_id


def _score(logits: torch.Tensor, index: int, kind: str) -> torch.Tensor:
    """Class ``index``'s score in every row of ``logits`` ``(B, C)``."""
    return score_rows(logits, torch.full((logits.shape[0],), index, dtype=torch.long, device=logits.device), kind)


def _check_length(ids: list[int], max_tokens: int) -> None:
    if len(ids) > max_tokens:
        raise ResourceExhausted(Reason.INPUT_TOO_LONG, f"text: {len(ids)} tokens; the limit is {max_tokens}")


def _require_lm(info, what: str) -> None:
    if not (info.causal and info.has_lm_head):
        raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "target", f"{what} needs a causal language model; {info.name} is not one")


def _class_names(model, n: int) -> list[str]:
    id2label = getattr(model.config, "id2label", None) or {}
    return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]


def _pick_class(target: Target, labels: list[str], predicted: int) -> int:
    """The class a target names: by label (the exact name, then ignoring case, then -- for a
    label that names no class and is a number -- as an index, so that classes named "1".."5"
    stay addressable by name while "0" still means the first class), by index, or the
    predicted one."""
    if target.label:
        lowered = [lab.lower() for lab in labels]
        if target.label in labels:
            return labels.index(target.label)
        if target.label.lower() in lowered:
            return lowered.index(target.label.lower())
        if target.label.isdigit() and int(target.label) < len(labels):
            return int(target.label)
        raise invalid(
            Reason.CLASS_LABEL_UNKNOWN, "target.class_target.label",
            f"{target.label!r} is neither a class nor a class index; classes: {', '.join(labels)}",
        )
    if target.class_index is not None:
        if not 0 <= target.class_index < len(labels):
            raise invalid(
                Reason.CLASS_OUT_OF_RANGE, "target.class_target.class_index", f"{target.class_index} is outside [0, {len(labels)})"
            )
        return target.class_index
    return predicted


def _forward_logits(loaded, ids: list[int], keep: int) -> torch.Tensor:
    device = next(loaded.model.parameters()).device
    with torch.no_grad():
        out = loaded.model(input_ids=torch.tensor([ids], device=device))
    return out.logits[0, -keep:] if keep else out.logits[0]


def _check_prompt(prompt: PromptSpec, tokenizer) -> list[int]:
    field = "target.class_target.prompt"
    if prompt.template.count("{text}") != 1:
        raise invalid(Reason.PROMPT_TEMPLATE_INVALID, f"{field}.template", 'must hold "{text}" exactly once')
    if len(prompt.labels) < 2:
        raise invalid(Reason.PROMPT_TEMPLATE_INVALID, f"{field}.labels", "give at least two classes")
    if len(prompt.label_words) != len(prompt.labels):
        raise invalid(
            Reason.PROMPT_TEMPLATE_INVALID, f"{field}.label_words", f"{len(prompt.label_words)} words for {len(prompt.labels)} labels"
        )
    words = []
    for i, word in enumerate(prompt.label_words):
        ids = token_ids_of(tokenizer, word)
        if len(ids) != 1:
            raise invalid(Reason.PROMPT_TEMPLATE_INVALID, f"{field}.label_words[{i}]", f"{word!r} is {len(ids)} tokens, not one")
        words.append(ids[0])
    if len(set(words)) != len(words):
        raise invalid(Reason.PROMPT_TEMPLATE_INVALID, f"{field}.label_words", "two labels share a word")
    return words


def _prompt_ids(tokenizer, prompt: PromptSpec, text: str) -> tuple[list[int], list[bool]]:
    """Ids of the filled template, and which tokens come from ``text``."""
    start = prompt.template.index("{text}")
    filled = prompt.template.replace("{text}", text)
    ids, offsets = _encode(tokenizer, filled)
    if offsets is None:
        return ids, [True] * len(ids)
    end = start + len(text)
    return ids, [a < end and b > start for a, b in offsets]


def resolve_target(loaded, text: str, target: Target) -> ResolvedTarget:
    """Bind ``target`` to ``loaded`` (a ``LoadedModel``) and ``text``.

    Raises:
        InvalidArgument: MODEL_HAS_NO_CLASSIFIER, MODEL_HAS_NO_LM_HEAD, CLASS_LABEL_UNKNOWN,
            CLASS_OUT_OF_RANGE, PROMPT_TEMPLATE_INVALID, TARGET_TOKEN_INVALID,
            TOKEN_ID_OUT_OF_RANGE, MAX_NEW_TOKENS_OUT_OF_RANGE.
        ResourceExhausted: INPUT_TOO_LONG.
    """
    info, tok = loaded.info, loaded.tokenizer
    kind = target.kind
    if kind == "default":
        if info.num_labels:
            kind = "class"
        elif info.causal and info.has_lm_head:
            kind = "next_token"
        else:
            raise invalid(
                Reason.MODEL_HAS_NO_CLASSIFIER, "target",
                f"{info.name} has neither a classification head nor a language-model head: nothing to attribute",
            )
    if kind == "class":
        return _class_target(loaded, text, target)
    _require_lm(info, {"next_token": "a next-token target", "logit_diff": "a logit difference", "generation": "generation"}[kind])
    ids, _ = _encode(tok, text)
    if not ids:
        raise invalid(Reason.INPUT_EMPTY, "text", "has no tokens")
    n = len(ids)
    vocab = info.vocab_size
    if kind == "logit_diff":
        good = _one_token(tok, target.correct, "target.logit_difference.correct", vocab, target.correct_id)
        bad = _one_token(tok, target.incorrect, "target.logit_difference.incorrect", vocab, target.incorrect_id)
        _check_length(ids, info.max_tokens)
        names = tok.convert_ids_to_tokens([good, bad])
        logits = _forward_logits(loaded, ids, 1)[-1]
        top = int(logits.argmax())
        return ResolvedTarget(
            ids=torch.tensor(ids),
            attributable=torch.ones(n, dtype=torch.bool),
            score=lambda out: out.logits[:, -1, good] - out.logits[:, -1, bad],
            probability=lambda out: float(torch.softmax(out.logits[0, -1].float(), -1)[good]),
            keep_logits=1,
            description=f"logit({tok.decode([good])!r}) - logit({tok.decode([bad])!r})",
            prediction=f"next token {tok.decode([top])!r}; {names[0]!r} vs {names[1]!r}",
            continuation=[good],
        )
    generated_text = ""
    if kind == "next_token":
        if target.token_ids:
            cont = [int(t) for t in target.token_ids]
            for i, t in enumerate(cont):
                if not 0 <= t < vocab:
                    raise invalid(Reason.TOKEN_ID_OUT_OF_RANGE, f"target.next_token.token_ids[{i}]", f"{t} is outside [0, {vocab})")
        elif target.continuation:
            cont = token_ids_of(tok, target.continuation)
            if not cont:
                raise invalid(Reason.TARGET_TOKEN_INVALID, "target.next_token.continuation", "has no tokens")
        else:
            _check_length(ids, info.max_tokens)
            cont = [int(_forward_logits(loaded, ids, 1)[-1].argmax())]
    else:  # generation
        if target.target_text:
            cont = token_ids_of(tok, target.target_text)
            if not cont:
                raise invalid(Reason.TARGET_TOKEN_INVALID, "target.generation.target_text", "has no tokens")
        else:
            steps = target.max_new_tokens or DEFAULT_NEW_TOKENS
            if not 1 <= steps <= MAX_NEW_TOKENS:
                raise invalid(
                    Reason.MAX_NEW_TOKENS_OUT_OF_RANGE, "target.generation.max_new_tokens", f"must be in [1, {MAX_NEW_TOKENS}]"
                )
            _check_length(ids + [0] * steps, info.max_tokens)
            cont = _greedy(loaded, ids, steps)
        generated_text = tok.decode(cont)
    full = ids + cont[:-1]
    _check_length(full, info.max_tokens)
    m = len(cont)
    cont_t = torch.tensor(cont)

    def score(out) -> torch.Tensor:
        logp = torch.log_softmax(out.logits[:, -m:].float(), dim=-1)
        return logp.gather(-1, cont_t.to(logp.device).view(1, m, 1).expand(logp.shape[0], m, 1)).sum(dim=(1, 2))

    shown = tok.decode(cont)
    return ResolvedTarget(
        ids=torch.tensor(full),
        attributable=torch.tensor([True] * n + [False] * (m - 1)),
        score=score,
        probability=lambda out: float(score(out)[0].exp()),
        keep_logits=m,
        description=(f"log-probability of {shown!r}" if kind == "next_token" else f"log-probability of the continuation {shown!r}"),
        prediction=f"{'continuation' if m > 1 else 'next token'} {shown!r}",
        continuation=cont,
        generated_text=generated_text,
    )


def _greedy(loaded, ids: list[int], steps: int) -> list[int]:
    device = next(loaded.model.parameters()).device
    pad = loaded.tokenizer.pad_token_id
    with torch.no_grad():
        out = loaded.model.generate(
            input_ids=torch.tensor([ids], device=device), attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device),
            max_new_tokens=steps, do_sample=False, pad_token_id=pad, temperature=None, top_p=None, top_k=None,
        )
    return [int(t) for t in out[0, len(ids):]]


def _class_target(loaded, text: str, target: Target) -> ResolvedTarget:
    info, tok, model = loaded.info, loaded.tokenizer, loaded.model
    kind = target.score or "log_prob"
    words_text = _SCORE_WORDS[kind]
    if info.num_labels:
        labels = _class_names(model, info.num_labels)
        ids, _ = _encode(tok, text)
        _check_length(ids, info.max_tokens)
        logits = _forward_logits(loaded, ids, 0)
        predicted = int(logits.argmax())
        c = _pick_class(target, labels, predicted)
        probs = torch.softmax(logits.float(), -1)
        return ResolvedTarget(
            ids=torch.tensor(ids),
            attributable=torch.ones(len(ids), dtype=torch.bool),
            score=lambda out: _score(out.logits, c, kind),
            probability=lambda out: float(torch.softmax(out.logits[0].float(), -1)[c]),
            keep_logits=0,
            description=f"class {labels[c]} ({words_text})",
            prediction=f"{labels[predicted]} (p = {float(probs[predicted]):.3f})",
            continuation=[],
        )
    if target.prompt is None or not (target.prompt.labels or target.prompt.template):
        raise invalid(
            Reason.MODEL_HAS_NO_CLASSIFIER, "target.class_target.prompt",
            f"{info.name} has no classification head; give a prompt (template, labels and label words) to use it as a classifier",
        )
    _require_lm(info, "a prompt classifier")
    words = _check_prompt(target.prompt, tok)
    labels = list(target.prompt.labels)
    ids, from_text = _prompt_ids(tok, target.prompt, text)
    _check_length(ids, info.max_tokens)
    word_t = torch.tensor(words)
    restricted = _forward_logits(loaded, ids, 1)[-1, word_t]
    predicted = int(restricted.argmax())
    c = _pick_class(target, labels, predicted)
    probs = torch.softmax(restricted.float(), -1)
    return ResolvedTarget(
        ids=torch.tensor(ids),
        attributable=torch.tensor(from_text, dtype=torch.bool),
        score=lambda out: _score(out.logits[:, -1, word_t.to(out.logits.device)], c, kind),
        probability=lambda out: float(torch.softmax(out.logits[0, -1, word_t.to(out.logits.device)].float(), -1)[c]),
        keep_logits=1,
        description=f"class {labels[c]} ({words_text} of {target.prompt.label_words[c]!r} among the label words)",
        prediction=f"{labels[predicted]} (p = {float(probs[predicted]):.3f} among the label words)",
        continuation=[],
    )
