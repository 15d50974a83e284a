"""The attribution problem every method solves: the target's score as a function of the
embeddings of the attributed tokens.

:func:`build_problem` embeds the target's token sequence, picks the attributed positions (the
text's tokens, minus the first token and special tokens unless the baseline replaces them) and
builds their baseline embeddings. :meth:`Problem.forward` puts a batch of attributed-token
embeddings back into the sequence around the fixed ones and runs the model on
``inputs_embeds``; every evaluation is counted (progress) and checks for cancellation, so a
long Captum call stops at its next model evaluation.

Why the first token is kept by default: in causal LMs such as SmolLM2 the first position is an
attention sink that most heads of the middle layers attend to; replacing it changes every later
position at once, and integrated gradients along that path converge badly (ARCHITECTURE.md).

Example:
    >>> p = build_problem(loaded, resolved, AttributionOptions(baseline="pad"))
    >>> p.forward(p.x).shape
    torch.Size([1])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from interp_services.core.errors import invalid
from interp_services.core.reasons import Reason
from interp_services.core.run import forward_parameters

from .targets import ResolvedTarget
from .types import AttributionOptions

__all__ = ["Problem", "baseline_token_id", "build_problem"]


def baseline_token_id(tokenizer, kind: str) -> int:
    """The token id a ``pad`` / ``unk`` / ``mask`` baseline puts in place of attributed tokens.

    Raises:
        InvalidArgument: BASELINE_UNAVAILABLE when the tokenizer has no such token.
    """
    if kind == "pad":
        for attr in ("pad_token_id", "unk_token_id", "eos_token_id"):
            value = getattr(tokenizer, attr, None)
            if value is not None:
                return int(value)
    else:
        value = getattr(tokenizer, f"{kind}_token_id", None)
        if value is not None:
            return int(value)
    raise invalid(Reason.BASELINE_UNAVAILABLE, "options.baseline.kind", f"the tokenizer has no {kind} token")


@dataclass
class Problem:
    """``f(x)`` over the attributed tokens' embeddings.

    Attributes:
        model: the module run.
        resolved: the target.
        embeds: embeddings of the whole sequence ``(1, T, D)``.
        baseline_embeds: the baseline sequence ``(1, T, D)`` (kept tokens unchanged).
        positions: the attributed positions ``(T',)``.
        baseline: the baseline in words.
        baseline_id: the baseline token id (None for a zero embedding).
    """

    model: torch.nn.Module
    resolved: ResolvedTarget
    embeds: torch.Tensor
    baseline_embeds: torch.Tensor
    positions: torch.Tensor
    baseline: str
    baseline_id: int | None
    on_eval: Callable[[int], None] = field(default=lambda n: None)
    evaluations: int = 0

    @property
    def device(self) -> torch.device:
        """Where the model and its embeddings are."""
        return self.embeds.device

    @property
    def x(self) -> torch.Tensor:
        """Embeddings of the attributed tokens ``(1, T', D)``."""
        return self.embeds[:, self.positions]

    @property
    def b(self) -> torch.Tensor:
        """Their baseline ``(1, T', D)``."""
        return self.baseline_embeds[:, self.positions]

    def full(self, xv: torch.Tensor) -> torch.Tensor:
        """The whole sequence's embeddings with the attributed ones from ``xv`` ``(B, T', D)``."""
        seq = self.embeds.expand(xv.shape[0], -1, -1).clone()
        seq[:, self.positions] = xv.to(seq.dtype)
        return seq

    def outputs(self, seq: torch.Tensor):
        """Model outputs on whole-sequence embeddings ``(B, T, D)``."""
        extra = {}
        keep = self.resolved.keep_logits
        if keep and "logits_to_keep" in forward_parameters(self.model):
            extra["logits_to_keep"] = keep
        mask = torch.ones(seq.shape[:2], dtype=torch.long, device=seq.device)
        return self.model(inputs_embeds=seq, attention_mask=mask, **extra)

    def forward(self, xv: torch.Tensor) -> torch.Tensor:
        """The target score per row of ``xv`` ``(B, T', D)`` -> ``(B,)``."""
        self.evaluations += int(xv.shape[0])
        self.on_eval(int(xv.shape[0]))
        return self.resolved.score(self.outputs(self.full(xv)))

    def gate_forward(self, gates: torch.Tensor) -> torch.Tensor:
        """The score with each attributed token present (gate 1) or at its baseline (gate 0),
        ``(B, T')`` -> ``(B,)``; the interpretable form used by faithfulness and infidelity.
        Gates made elsewhere (a CPU default) are moved to the model's device."""
        x, b = self.x, self.b
        g = gates.to(device=x.device, dtype=x.dtype).unsqueeze(-1)
        return self.forward(b + g * (x - b))

    def score_of(self, xv: torch.Tensor) -> float:
        """The score of one input, without gradients."""
        with torch.no_grad():
            return float(self.forward(xv)[0])


def build_problem(loaded, resolved: ResolvedTarget, options: AttributionOptions) -> Problem:
    """Embed the target's sequence and set up the baseline.

    Raises:
        InvalidArgument: BASELINE_UNAVAILABLE, NOTHING_TO_ATTRIBUTE.
    """
    model, tok = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    ids = resolved.ids.to(device)
    attributed = resolved.attributable.clone()
    if not options.replace_first_token:
        attributed[0] = False
    if not options.replace_special_tokens:
        special = set(getattr(tok, "all_special_ids", []) or [])
        attributed &= torch.tensor([int(i) not in special for i in resolved.ids.tolist()], dtype=torch.bool)
    positions = attributed.nonzero().flatten().to(device)
    if positions.numel() == 0:
        raise invalid(
            Reason.NOTHING_TO_ATTRIBUTE, "text",
            "every token is kept in the baseline (first or special tokens); use a longer text or options.baseline.replace_first_token",
        )
    embedding = model.get_input_embeddings()
    with torch.no_grad():
        embeds = embedding(ids.unsqueeze(0)).detach()
        base = embeds.clone()
        if options.baseline == "zero":
            base[:, positions] = 0.0
            baseline_id, words = None, "zero embedding"
        else:
            baseline_id = baseline_token_id(tok, options.baseline)
            base[:, positions] = embedding(torch.tensor([[baseline_id]], device=device))[0, 0]
            words = f"{options.baseline} token {tok.convert_ids_to_tokens([baseline_id])[0]!r}"
    kept = []
    if not options.replace_first_token:
        kept.append("the first token")
    if not options.replace_special_tokens:
        kept.append("special tokens")
    if not bool(resolved.attributable.all()):
        kept.append("tokens outside the text")
    description = f"{words} in place of each attributed token" + (f"; kept: {', '.join(kept)}" if kept else "")
    return Problem(model, resolved, embeds, base, positions, description, baseline_id)
