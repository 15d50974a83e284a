"""Token-by-token generation of one prompt under typed interventions (pure torch, no gRPC).

:func:`generate` runs a causal LM with a key/value cache: the first step feeds the whole prompt
(prefill), every later step feeds only the token chosen last. Interventions are the same typed
:class:`~interp_services.core.interventions.Intervention` objects a run uses, installed with the
same hooks (``core.hooks.install_hook`` on ``bind_site``) at every step. Each step's hooks see
only the positions fed in that step, so each gets a
:class:`~interp_services.core.interventions.Placement` whose ``pos_offset`` is the absolute
position of the first token fed: positions in an intervention count from the first prompt
token, and an empty position list means every position, generated ones included -- a steering
vector steers every step. Attention-pattern interventions see absolute key positions too (the
key axis is the whole cache). The cache keeps what the intervened model computed, so a prompt
position intervened at prefill stays intervened for every later token, exactly as in a forward
pass over the full sequence.

Why the lock is taken per step: a loaded model is one module shared by every request of a
replica, and hooks are installed on that module, so a forward pass must not overlap another
request's (``LoadedModel.lock``). Generation takes the lock for one step only -- install hooks,
forward, remove hooks -- and releases it before the token is handed to the caller. Other
requests (a batched run, another generation) interleave between steps instead of waiting for a
whole generation; the cache belongs to this generation alone, so nothing else can disturb it.
Streaming consumers that pause between tokens never hold the model either. ``should_stop`` is
asked before every step, so a cancelled call frees the model after at most one step.

Decoding: temperature 0 is greedy (argmax); otherwise the logits are divided by the
temperature, optionally cut to the nucleus ``top_p``, and sampled on the CPU with a
``torch.Generator`` seeded with ``seed`` (the same seed gives the same tokens on every device).
Every token's ``logprob`` is the log-softmax at temperature 1 of the intervened model's logits.

Text: the generated ids are decoded in full after every token and each
:class:`GeneratedToken` carries the new suffix. Text ending in a partial character
(``"\\ufffd"``) or in the beginning of a stop string is held back until it is complete (or
the generation ends), so the ``text`` fields of the tokens add up to
:attr:`GenerationResult.text`. An end-of-sequence token that stops generation is yielded and
kept in ``token_ids`` but adds no text; with ``ignore_eos`` it is decoded like any token.

Example:
    >>> ids = loaded.tokenizer("The capital of France is")["input_ids"]
    >>> steer = Intervention("blocks.10.hook_resid_post", "steer", tensor=vector, scale=8.0)
    >>> settings = GenerationSettings(max_new_tokens=12, stop=["\\n"])
    >>> check_generation(loaded, ids, settings, [steer], ["blocks.10.hook_resid_post"], max_new_tokens_limit=256)
    >>> for event in generate(loaded, ids, settings, interventions=[steer], capture=["blocks.10.hook_resid_post"]):
    ...     if isinstance(event, GeneratedToken):
    ...         print(event.text, end="", flush=True)
    >>> event.finish_reason, event.captures["blocks.10.hook_resid_post"].shape  # [1, prompt + generated - 1, d_model]
    ('length', torch.Size([1, 16, 576]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.errors import FieldViolation, ResourceExhausted, invalid
from interp_services.core.hooks import POSITION_DIMS, bind_site, install_hook
from interp_services.core.interventions import Intervention, Placement, apply_intervention, check_interventions
from interp_services.core.models import LoadedModel
from interp_services.core.reasons import Reason
from interp_services.core.run import check_site_list, forward_parameters

__all__ = ["GeneratedToken", "GenerationResult", "GenerationSettings", "check_generation", "generate"]

MAX_STOP_STRINGS = 8
MAX_STOP_CHARS = 200


@dataclass
class GenerationSettings:
    """How to decode.

    Attributes:
        max_new_tokens: most tokens to generate.
        temperature: 0 decodes greedily; otherwise the sampling temperature.
        top_p: nucleus sampling -- keep the smallest set of tokens whose probability reaches
            ``top_p`` (0 or 1: no filter). Ignored when greedy.
        seed: seed of the sampler.
        stop: generation ends once the generated text contains one of these; the text is cut
            before it.
        ignore_eos: continue past the end-of-sequence token.
    """

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float = 0.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False


@dataclass
class GeneratedToken:
    """One token, yielded as soon as it is chosen.

    Attributes:
        token_id: the token.
        token: the tokenizer's raw piece.
        text: the decoded text this token adds (empty while a character or a possible stop
            string is incomplete; the held-back text comes with a later token).
        logprob: log-probability under the intervened model at temperature 1.
        position: absolute position of the token (prompt tokens first).
    """

    token_id: int
    token: str
    text: str
    logprob: float
    position: int


@dataclass
class GenerationResult:
    """The end of a generation.

    Attributes:
        prompt_ids: the prompt.
        token_ids: every generated token (a stopping end-of-sequence token and the tokens of a
            stop string included).
        text: the generated text, cut before a stop string.
        finish_reason: ``"length"`` | ``"eos"`` | ``"stop"``.
        captures: site name -> ``[1, pos, ...]`` activations at every position the model read:
            the prompt and every generated token but the last (which is never fed back).
    """

    prompt_ids: list[int]
    token_ids: list[int]
    text: str
    finish_reason: str
    captures: dict[str, torch.Tensor] = field(default_factory=dict)


def check_generation(
    loaded: LoadedModel,
    prompt_ids: Sequence[int],
    settings: GenerationSettings,
    interventions: Sequence[Intervention],
    capture: Sequence[str],
    *,
    max_new_tokens_limit: int,
    max_stop_strings: int = MAX_STOP_STRINGS,
) -> None:
    """Validate a generation request before anything runs.

    A mean ablation needs its mean given or its ``reference`` token ids (resolve those with
    ``core.run.resolve_reference_means`` before :func:`generate`); a mean over "this run" has
    no fixed set of tokens while generating and is refused.

    Raises:
        InvalidArgument: anything that does not fit the model or the request.
        ResourceExhausted: prompt plus ``max_new_tokens`` is longer than the model allows.
    """
    info = loaded.info
    if not info.has_lm_head:
        raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "model", f"{info.name} has no language-model head; it cannot generate")
    n = settings.max_new_tokens
    if not 0 <= n <= max_new_tokens_limit:
        raise invalid(Reason.MAX_NEW_TOKENS_OUT_OF_RANGE, "max_new_tokens", f"{n} is outside [0, {max_new_tokens_limit}]")
    t = settings.temperature
    if not math.isfinite(t) or t < 0:
        raise invalid(Reason.SAMPLING_PARAMETER_INVALID, "temperature", f"must be finite and >= 0, got {t}")
    if not 0 <= settings.top_p <= 1:  # NaN fails too
        raise invalid(Reason.SAMPLING_PARAMETER_INVALID, "top_p", f"must be in [0, 1], got {settings.top_p}")
    if len(settings.stop) > max_stop_strings:
        raise invalid(Reason.SAMPLING_PARAMETER_INVALID, "stop", f"{len(settings.stop)} stop strings; at most {max_stop_strings}")
    for i, s in enumerate(settings.stop):
        if not 1 <= len(s) <= MAX_STOP_CHARS:
            raise invalid(Reason.SAMPLING_PARAMETER_INVALID, f"stop[{i}]", f"{len(s)} characters; must be 1 to {MAX_STOP_CHARS}")

    if not prompt_ids:
        raise invalid(Reason.INPUT_EMPTY, "tokens.ids", "the prompt must hold at least one token")
    vocab = loaded.model.get_input_embeddings().num_embeddings  # type: ignore[union-attr]
    for j, tok in enumerate(prompt_ids):
        if not 0 <= tok < vocab:
            raise invalid(Reason.TOKEN_ID_OUT_OF_RANGE, f"tokens.ids[{j}]", f"{tok} is outside [0, {vocab})")
    total = len(prompt_ids) + n
    if total > info.max_tokens:
        raise ResourceExhausted(
            Reason.INPUT_TOO_LONG,
            f"prompt ({len(prompt_ids)} tokens) + max_new_tokens ({n}) = {total} > the limit for this model, {info.max_tokens}",
            [FieldViolation("max_new_tokens", f"{len(prompt_ids)} + {n} tokens > {info.max_tokens}")],
        )

    check_site_list(info, capture, "capture")
    for i, name in enumerate(capture):
        if "key_pos" in info.site(name).dim_names:
            raise invalid(
                Reason.HOOK_SITE_NOT_SUPPORTED_HERE,
                f"capture[{i}]",
                f"{name!r} cannot be captured while generating: its key axis grows each step",
            )

    for i, iv in enumerate(interventions):
        site = info.site(iv.hook_site)
        if iv.kind == "edge" or iv.source_sequences:
            raise invalid(
                Reason.HOOK_SITE_NOT_SUPPORTED_HERE,
                f"interventions[{i}].{'edge_patch' if iv.kind == 'edge' else 'source_sequences'}",
                "generation has one sequence: there is no other sequence of the batch to take values from",
            )
        if site is not None and "key_pos" in site.dim_names and iv.kind in ("mean", "steer"):
            # Their tensor would be shaped like one query row of a key axis that grows each step.
            raise invalid(
                Reason.HOOK_SITE_NOT_SUPPORTED_HERE,
                f"interventions[{i}].hook_site",
                f"a {iv.kind} on {iv.hook_site!r} is impossible while generating (the key axis grows); use zero, scale or patch",
            )
    check_interventions(info, interventions, batch_size=1, length=None, field_prefix="interventions")
    for i, iv in enumerate(interventions):
        if iv.sequences not in ([], [0]):
            raise invalid(
                Reason.SEQUENCE_OUT_OF_RANGE, f"interventions[{i}].sequences", "generation has one sequence: give [] or [0]"
            )
        if iv.kind == "mean" and iv.tensor is None and iv.reference is None:
            raise invalid(
                Reason.INTERVENTION_TENSOR_MISSING,
                f"interventions[{i}].mean_ablation",
                "a mean over this run is undefined while generating; give mean_ablation.mean or reference_texts",
            )


def _eos_ids(loaded: LoadedModel) -> set[int]:
    """End-of-sequence ids: the tokenizer's and the model's generation config's (which may list
    several, e.g. an end-of-turn token)."""
    ids: set[int] = set()
    candidates = [getattr(loaded.tokenizer, "eos_token_id", None)]
    gen_config = getattr(loaded.model, "generation_config", None)
    if gen_config is not None:
        candidates.append(getattr(gen_config, "eos_token_id", None))
    for c in candidates:
        if isinstance(c, int):
            ids.add(c)
        elif isinstance(c, (list, tuple)):
            ids.update(int(x) for x in c)
    return ids


class _Stepper:
    """Runs one forward step of a generation (the prompt first, then one token per step) with
    the hooks installed for that step only, under the model's lock."""

    def __init__(self, loaded: LoadedModel, interventions: Sequence[Intervention], capture: Sequence[str]) -> None:
        from transformers import DynamicCache

        self.loaded = loaded
        model = loaded.model
        self.device = next(model.parameters()).device
        self.cache = DynamicCache(config=model.config)
        params = forward_parameters(model)
        # transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name warns).
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        info = loaded.info
        self.interventions = [(iv, info.site(iv.hook_site).dim_names) for iv in interventions]
        self.capture = list(capture)
        self.pieces: dict[str, list[torch.Tensor]] = {name: [] for name in capture}
        self.pos_axis = {
            name: next(i for i, d in enumerate(info.site(name).dim_names) if d in POSITION_DIMS) for name in capture
        }
        self.length = 0  # positions already in the cache

    def _bind(self, name: str):
        info = self.loaded.info
        return bind_site(self.loaded.model, self.loaded.spec, name, info.num_heads, info.num_kv_heads)

    def step(self, ids: Sequence[int]) -> torch.Tensor:
        """Feed ``ids`` (the positions after those in the cache); the last position's logits
        as float32 on the CPU."""
        off, n = self.length, len(ids)
        total = off + n
        input_ids = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        attention_mask = torch.ones((1, total), dtype=torch.long, device=self.device)
        position_ids = torch.arange(off, total, dtype=torch.long, device=self.device).unsqueeze(0)
        place = Placement(row0=0, lengths=(total,), length=total, pos_offset=off)
        handles = []
        with self.loaded.lock:
            try:
                for iv, dims in self.interventions:
                    handles.append(
                        install_hook(
                            self._bind(iv.hook_site),
                            lambda act, iv=iv, d=dims: apply_intervention(act, d, iv, place, attention_mask),
                        )
                    )
                for name in self.capture:
                    out = self.pieces[name]

                    def grab(act: torch.Tensor, out: list[torch.Tensor] = out) -> None:
                        out.append(act.detach().to("cpu", copy=True))

                    handles.append(install_hook(self._bind(name), grab))
                with torch.inference_mode():
                    result = self.loaded.model(
                        input_ids=input_ids,
                        attention_mask=attention_mask,
                        position_ids=position_ids,
                        use_cache=True,
                        **{self.cache_kw: self.cache},
                        **self.extra,
                    )
                    logits = result.logits[0, -1].detach().float().cpu()
            finally:
                for h in handles:
                    h.remove()
        self.length = total
        return logits

    def captures(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, pieces in self.pieces.items():
            if pieces:
                out[name] = torch.cat(pieces, dim=self.pos_axis[name])
        return out


def _choose(logits: torch.Tensor, settings: GenerationSettings, gen: torch.Generator) -> int:
    """Greedy or sampled next token from one position's float32 CPU logits."""
    if settings.temperature == 0:
        return int(torch.argmax(logits))
    # Shifted first: a tiny temperature then sends the others to -inf instead of overflowing.
    scaled = (logits - logits.max()) / settings.temperature
    probs = torch.softmax(scaled, dim=-1)
    if 0 < settings.top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        # Keep a token while the probability before it has not reached top_p (the first always).
        keep = (sorted_probs.cumsum(0) - sorted_probs) < settings.top_p
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs * keep)
    return int(torch.multinomial(probs, 1, generator=gen))


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of ``text`` to hold back: a partial character and then the
    longest suffix that begins a stop string."""
    stable = text.rstrip("\ufffd")
    hold = len(text) - len(stable)
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(stable)), longest, -1):
            if stable.endswith(s[:k]):
                longest = k
                break
    return hold + longest


def generate(
    loaded: LoadedModel,
    prompt_ids: list[int],
    settings: GenerationSettings,
    *,
    interventions: Sequence[Intervention] = (),
    capture: Sequence[str] = (),
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[GeneratedToken | GenerationResult]:
    """Generate a continuation of one prompt, yielding each token as soon as it is chosen.

    Validate first with :func:`check_generation`. The model's lock is held during each forward
    step only, never while the caller handles a yielded token.

    Args:
        loaded: a causal LM.
        prompt_ids: the prompt's token ids.
        settings: decoding settings.
        interventions: applied at every step; positions are absolute (prompt first), empty
            positions mean every position, generated ones included.
        capture: sites captured at every position the model reads.
        should_stop: asked before every step; once it returns True the generation ends and
            yields nothing more (no result) -- cancellation.

    Yields:
        One :class:`GeneratedToken` per generated token, then exactly one
        :class:`GenerationResult` (unless stopped by ``should_stop``).
    """
    tok = loaded.tokenizer
    prompt = [int(t) for t in prompt_ids]
    eos = set() if settings.ignore_eos else _eos_ids(loaded)
    stops = list(settings.stop)
    stepper = _Stepper(loaded, interventions, capture)
    gen = torch.Generator(device="cpu").manual_seed(int(settings.seed))

    def decode(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)  # type: ignore[attr-defined]

    generated: list[int] = []
    text = ""
    emitted = ""
    finish = "length"
    feed = prompt
    if settings.max_new_tokens == 0:
        if capture:  # the prompt is all the model reads
            if should_stop():
                return
            stepper.step(feed)
    else:
        while True:
            if should_stop():
                return
            logits = stepper.step(feed)
            with torch.inference_mode():
                token_id = _choose(logits, settings, gen)
                logprob = float(torch.log_softmax(logits, dim=-1)[token_id])
            generated.append(token_id)
            done = False
            if token_id in eos:
                finish, done = "eos", True
            else:
                text = decode(generated)
                cut = [i for i in (text.find(s) for s in stops) if i >= 0]
                if cut:
                    text = text[: min(cut)]
                    finish, done = "stop", True
                elif len(generated) >= settings.max_new_tokens:
                    finish, done = "length", True
            visible = text if done else text[: len(text) - _held_back(text, stops)]
            delta = visible[len(emitted) :] if visible.startswith(emitted) else ""
            emitted += delta
            yield GeneratedToken(
                token_id=token_id,
                token=tok.convert_ids_to_tokens(token_id),  # type: ignore[attr-defined]
                text=delta,
                logprob=logprob,
                position=len(prompt) + len(generated) - 1,
            )
            if done:
                break
            feed = [token_id]
    yield GenerationResult(prompt_ids=prompt, token_ids=generated, text=text, finish_reason=finish, captures=stepper.captures())
