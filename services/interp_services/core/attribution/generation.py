"""Generation targets through Captum's LLM wrappers: ``LLMAttribution`` (feature ablation,
Shapley value sampling, LIME, kernel SHAP) and ``LLMGradientAttribution`` (layer integrated
gradients and layer gradient x activation on the embedding layer), attributing each generated
token to the prompt's tokens.

The wrappers read token ids, so the baseline is a token (pad/unk/mask), never a zero embedding.
The attributed tokens are the problem's (first and special tokens kept) through a
``TextTokenInput`` whose interpretable mask is set by position rather than by token id. The
wrappers call the model once per perturbation; a thin module around the model counts those
calls (progress) and stops the run when the caller cancels.

Example:
    >>> rows, seq, evals = llm_attribute("feature_ablation", loaded, problem, params)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from interp_services.core.errors import invalid
from interp_services.core.reasons import Reason

from .catalog import DEFAULT_SAMPLES, Params
from .problem import Problem
from .types import GeneratedRow

__all__ = ["llm_attribute"]


def _token_input(problem: Problem, tokenizer, n_prompt: int):
    """A ``TextTokenInput`` over the prompt whose attributed tokens are given by position."""
    from captum.attr import TextTokenInput

    class PositionTokenInput(TextTokenInput):
        def __init__(self) -> None:  # noqa: D107 - fields of TextTokenInput, set directly
            ids = problem.resolved.ids[:n_prompt].unsqueeze(0)
            mask = torch.zeros(n_prompt, dtype=torch.bool)
            mask[problem.positions.cpu()] = True
            self.inp_tensor = ids
            self.itp_mask = mask.unsqueeze(0)
            self.itp_tensor = ids[self.itp_mask].unsqueeze(0)
            self.skip_tokens = None
            self.tokenizer = tokenizer
            self.values = tokenizer.convert_ids_to_tokens(self.itp_tensor[0].tolist())
            self.n_itp_features = len(self.values)
            self.baselines = problem.baseline_id

    return PositionTokenInput()


class _Counted(torch.nn.Module):
    """The model as Captum's wrappers see it: every evaluation counted and reported (they call
    ``model.forward`` directly, which module hooks would not see)."""

    def __init__(self, model: torch.nn.Module, on_eval: Callable[[int], None]) -> None:
        super().__init__()
        self.inner = model
        self.on_eval = on_eval
        self.evaluations = 0

    @property
    def device(self) -> torch.device:
        return next(self.inner.parameters()).device

    def forward(self, *args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        n = int(ids.shape[0]) if ids is not None else 1
        self.evaluations += n
        self.on_eval(n)
        return self.inner(*args, **kwargs)


def llm_attribute(
    name: str, loaded, problem: Problem, params: Params, on_eval: Callable[[int], None]
) -> tuple[list[GeneratedRow], torch.Tensor, int]:
    """Attribute each token of the problem's continuation to the attributed prompt tokens.

    Returns:
        One row per generated token (none for LIME and kernel SHAP, which attribute the whole
        continuation), the sequence attribution ``(T',)`` (the summed log-probability), and the
        number of model evaluations.
    """
    import captum.attr as ca
    from captum._utils.models.linear_model import SkLearnRidge

    if problem.baseline_id is None:
        raise invalid(
            Reason.BASELINE_UNAVAILABLE, "options.baseline.kind",
            "generation targets replace tokens by a baseline token (pad, unk or mask), not a zero embedding",
        )
    tok = loaded.tokenizer
    model = _Counted(loaded.model, on_eval)
    cont = torch.tensor(problem.resolved.continuation)
    n_prompt = len(problem.resolved.ids) - (len(cont) - 1)
    inp = _token_input(problem, tok, n_prompt)
    samples = params.n_samples or DEFAULT_SAMPLES.get(name, 0)
    emb = loaded.model.get_input_embeddings()
    torch.manual_seed(params.seed)
    if name == "integrated_gradients":
        attr = ca.LLMGradientAttribution(ca.LayerIntegratedGradients(model, emb), tok)
        res = attr.attribute(inp, target=cont, n_steps=params.n_steps, internal_batch_size=params.internal_batch_size)
    elif name == "input_x_gradient":
        res = ca.LLMGradientAttribution(ca.LayerGradientXActivation(model, emb), tok).attribute(inp, target=cont)
    elif name == "feature_ablation":
        res = ca.LLMAttribution(ca.FeatureAblation(model), tok).attribute(inp, target=cont, forward_in_tokens=False)
    elif name == "shapley_value_sampling":
        res = ca.LLMAttribution(ca.ShapleyValueSampling(model), tok).attribute(
            inp, target=cont, forward_in_tokens=False, n_samples=samples
        )
    elif name == "lime":
        method = ca.Lime(model, interpretable_model=SkLearnRidge(alpha=1e-3))
        res = ca.LLMAttribution(method, tok).attribute(inp, target=cont, forward_in_tokens=False, n_samples=samples)
    elif name == "kernel_shap":
        res = ca.LLMAttribution(ca.KernelShap(model), tok).attribute(inp, target=cont, forward_in_tokens=False, n_samples=samples)
    else:
        raise KeyError(name)
    rows = []
    if res.token_attr is not None:
        with torch.no_grad():
            logp = torch.log_softmax(problem.outputs(problem.embeds).logits[0, -len(cont):].float(), -1)
        pieces = tok.convert_ids_to_tokens(cont.tolist())
        from interp_services.core.tokens import display_tokens

        shown = display_tokens(tok, cont.tolist(), pieces)
        for i, token_id in enumerate(cont.tolist()):
            rows.append(GeneratedRow(shown[i], token_id, float(logp[i, token_id]), res.token_attr[i].detach().float().cpu().tolist()))
    return rows, res.seq_attr.detach().float().cpu(), model.evaluations
