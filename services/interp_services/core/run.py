"""Batch forward (and backward) passes with capture, typed interventions and typed metrics.

A request becomes a :class:`RunJob` once :func:`prepare_job` has validated it against the
model (every index, shape and site checked before anything runs, so a merged batch never fails
because of one bad request). :func:`run_jobs` runs several jobs as **one** right-padded batch:
each keeps its own interventions (placed on its own rows), captures, metric, gradients, logits
and next-token candidates -- the model host uses this to merge concurrent requests
(``core.batching``), and a single job is just a batch of one request.

Gradients: with a metric and gradient sites, the pass runs under autograd with the parameters
frozen; the embedding output is the only leaf that requires grad, only the requested sites are
kept alive for ``torch.autograd.grad``, and the graph is freed when the call returns.

Example:
    >>> ids = tokenize(loaded, ["When Mary and John went to the store, John gave a drink to"], max_tokens=512)
    >>> job = prepare_job(loaded, ids, metric=Metric("logit_diff", token_ids=[mary], other_ids=[john]),
    ...                   gradients=["blocks.5.hook_resid_pre"])
    >>> out = run_jobs(loaded, [job])[0]
    >>> out.gradients["blocks.5.hook_resid_pre"].shape  # [batch, pos, d_model]
    torch.Size([1, 15, 576])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from interp_services.core.errors import FieldViolation, InvalidArgument, ResourceExhausted, invalid
from interp_services.core.hooks import POSITION_DIMS, bind_site, install_hook
from interp_services.core.interventions import Intervention, Placement, apply_edge, apply_intervention, check_interventions
from interp_services.core.lens import LensOutput, LensSpec, check_lens, run_lens
from interp_services.core.metrics import Metric, check_metric, compute_metric, resolve_positions
from interp_services.core.models import LoadedModel
from interp_services.core.reasons import Reason
from interp_services.core.tokens import display_tokens

__all__ = ["Intervention", "Metric", "RunJob", "RunOutput", "TopToken", "prepare_job", "run_jobs", "run_model", "tokenize"]


@dataclass
class TopToken:
    """A candidate next token."""

    token_id: int
    token: str
    probability: float
    logit: float
    display: str = ""


@dataclass
class RunOutput:
    """What a run returns for one request.

    Attributes:
        token_ids: per sequence, without padding.
        tokens: the tokenizer's raw pieces per sequence.
        captures: site name -> tensor, batch first (padded to the request's longest sequence).
        attention_mask: ``[batch, pos]``, 1 for real tokens.
        logits: ``[batch, pos, vocab]`` when requested.
        top_next: per sequence, the top-k next tokens after its last real position.
        display_tokens: per sequence, each token as a reader should see it (``core.tokens``).
        metric: ``[batch]`` metric values when a metric was given.
        gradients: site name -> gradient of the summed metric, shaped like the capture.
    """

    token_ids: list[list[int]]
    tokens: list[list[str]]
    captures: dict[str, torch.Tensor]
    attention_mask: torch.Tensor
    logits: torch.Tensor | None
    top_next: list[list[TopToken]]
    display_tokens: list[list[str]] = field(default_factory=list)
    metric: torch.Tensor | None = None
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    lens: LensOutput | None = None


@dataclass
class RunJob:
    """A validated request (see :func:`prepare_job`)."""

    batch: list[list[int]]
    capture: list[str] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    top_k: int = 0
    return_logits: bool = False
    metric: Metric | None = None
    gradients: list[str] = field(default_factory=list)
    lens: LensSpec | None = None

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.batch)

    @property
    def length(self) -> int:
        return max(self.lengths)

    @property
    def needs_grad(self) -> bool:
        return bool(self.gradients)


def tokenize(loaded: LoadedModel, texts: Sequence[str], *, max_tokens: int, field_name: str = "texts") -> list[list[int]]:
    """Tokenize texts, rejecting empty ones and ones over ``max_tokens`` tokens."""
    violations: list[FieldViolation] = []
    out: list[list[int]] = []
    for i, text in enumerate(texts):
        if not text or not text.strip():
            violations.append(FieldViolation(f"{field_name}[{i}]", "must not be empty"))
            continue
        ids = loaded.tokenizer(text, add_special_tokens=True)["input_ids"]  # type: ignore[operator]
        if len(ids) > max_tokens:
            raise ResourceExhausted(
                Reason.INPUT_TOO_LONG,
                f"{field_name}[{i}]: {len(ids)} tokens; the limit for this model is {max_tokens}",
                [FieldViolation(f"{field_name}[{i}]", f"{len(ids)} tokens > {max_tokens}")],
            )
        out.append(list(ids))
    if violations:
        raise InvalidArgument(Reason.INPUT_EMPTY, "; ".join(f"{v.field}: {v.description}" for v in violations), violations)
    return out


def check_token_ids(loaded: LoadedModel, batch: Sequence[Sequence[int]], *, max_tokens: int) -> list[list[int]]:
    """Validate pre-tokenized input: non-empty, equal lengths, ids in the vocabulary."""
    vocab = loaded.model.get_input_embeddings().num_embeddings  # type: ignore[union-attr]
    if not batch:
        raise invalid(Reason.INPUT_EMPTY, "tokens.sequences", "must hold at least one sequence")
    lengths = {len(s) for s in batch}
    if 0 in lengths:
        raise invalid(Reason.INPUT_EMPTY, "tokens.sequences", "sequences must not be empty")
    if len(lengths) > 1:
        raise invalid(Reason.TOKEN_LENGTHS_DIFFER, "tokens.sequences", f"all sequences must have one length, got {sorted(lengths)}")
    if max(lengths) > max_tokens:
        raise ResourceExhausted(Reason.INPUT_TOO_LONG, f"tokens.sequences: {max(lengths)} tokens > limit {max_tokens}")
    for i, seq in enumerate(batch):
        for j, t in enumerate(seq):
            if not 0 <= t < vocab:
                raise invalid(Reason.TOKEN_ID_OUT_OF_RANGE, f"tokens.sequences[{i}].ids[{j}]", f"{t} is outside [0, {vocab})")
    return [list(s) for s in batch]


def check_site_list(info, names: Sequence[str], fname: str) -> None:
    """Every name is a site of the model, listed once (``HOOK_SITE_UNKNOWN``/``_DUPLICATE``)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if info.site(name) is None:
            raise invalid(Reason.HOOK_SITE_UNKNOWN, f"{fname}[{i}]", f"{name!r} does not exist in this model (see GetModelInfo)")
        if name in seen:
            raise invalid(Reason.HOOK_SITE_DUPLICATE, f"{fname}[{i}]", f"{name!r} is listed twice")
        seen.add(name)


def prepare_job(
    loaded: LoadedModel,
    batch: Sequence[Sequence[int]],
    *,
    capture: Sequence[str] = (),
    interventions: Sequence[Intervention] = (),
    top_k: int = 0,
    return_logits: bool = False,
    metric: Metric | None = None,
    gradients: Sequence[str] = (),
    logit_lens: LensSpec | None = None,
) -> RunJob:
    """Validate a request against the model and resolve what must be computed first.

    Args:
        loaded: the model.
        batch: token ids per sequence (validated by ``tokenize``/``check_token_ids``).
        capture: canonical site names; captured after any intervention at the same site.
        interventions: applied in order; a mean with ``reference`` token ids gets its tensor
            from a run of those sequences here.
        top_k: next-token candidates after each sequence's last real token (needs an LM head).
        return_logits: also return ``[batch, pos, vocab]`` logits.
        metric: a per-sequence scalar to report (and differentiate).
        gradients: sites at which to return the metric's gradient (``hook_embed`` = inputs).
        logit_lens: residual sites to read through the final norm and unembedding.

    Raises:
        InvalidArgument: anything that does not fit the model or the request.
    """
    info = loaded.info
    job = RunJob([list(s) for s in batch], list(capture), list(interventions), top_k, return_logits, metric, list(gradients), logit_lens)
    if logit_lens is not None:
        check_lens(loaded, logit_lens, len(job.batch))
    check_site_list(info, job.capture, "capture")
    if (top_k or return_logits) and not info.has_lm_head:
        raise invalid(Reason.MODEL_HAS_NO_LM_HEAD, "top_k", f"{info.name} has no language-model head; next tokens are undefined")
    if top_k < 0 or top_k > info.vocab_size:
        raise invalid(Reason.TOP_K_OUT_OF_RANGE, "top_k", f"must be in [0, {info.vocab_size}]")
    check_interventions(info, job.interventions, batch_size=len(job.batch), length=job.length)
    if metric is not None:
        check_metric(info, metric, job.lengths)
    check_site_list(info, job.gradients, "gradients")
    if job.gradients and metric is None:
        raise invalid(Reason.METRIC_MISSING, "metric", "gradients need a metric to differentiate")
    if metric is not None and metric.kind == "activation":
        order = {s.name: i for i, s in enumerate(info.hook_sites)}
        for i, name in enumerate(job.gradients):
            if order[name] > order[metric.hook_site]:
                raise invalid(
                    Reason.GRADIENT_SITE_UNREACHABLE,
                    f"gradients[{i}]",
                    f"{name!r} comes after the metric's site {metric.hook_site!r}; the metric does not depend on it",
                )
    job.interventions = resolve_reference_means(loaded, job.interventions)
    return job


def resolve_reference_means(loaded: LoadedModel, interventions: Sequence[Intervention]) -> list[Intervention]:
    """The interventions with each mean over ``reference`` token ids computed into its tensor
    (copies: the caller's objects stay as they were)."""
    out = list(interventions)
    for i, iv in enumerate(out):
        if iv.kind == "mean" and iv.reference is not None and iv.tensor is None:
            mean = reference_mean(loaded, iv.hook_site, iv.reference, f"interventions[{i}].mean_ablation.reference_texts")
            out[i] = replace(iv, tensor=mean)
    return out


def reference_mean(loaded: LoadedModel, site: str, reference: Sequence[Sequence[int]], fname: str) -> torch.Tensor:
    """Mean activation of ``site`` over the real tokens of ``reference`` (no interventions)."""
    spec = loaded.info.site(site)
    if spec is None or spec.dim_names[:2] != ("batch", "pos"):
        raise invalid(Reason.HOOK_SITE_NOT_SUPPORTED_HERE, fname, f"a reference mean needs a [batch, pos, ...] site, not {site!r}")
    if not reference:
        raise invalid(Reason.INPUT_EMPTY, fname, "give at least one text")
    out = run_jobs(loaded, [RunJob([list(s) for s in reference], capture=[site])])[0]
    act = out.captures[site]
    total = sum(act[b, :n].sum(dim=0) for b, n in enumerate(len(s) for s in reference))
    return total / sum(len(s) for s in reference)


def _job_slice(t: torch.Tensor, dims: Sequence[str], place: Placement) -> torch.Tensor:
    """The request's rows of a merged tensor, positions cut to its own padded length."""
    idx = tuple(
        slice(place.row0, place.row0 + place.rows) if d == "batch" else slice(0, place.length) if d in POSITION_DIMS else slice(None)
        for d in dims
    )
    return t[idx]


def run_jobs(loaded: LoadedModel, jobs: Sequence[RunJob]) -> list[RunOutput]:
    """Run prepared jobs as one right-padded batch; one :class:`RunOutput` per job."""
    info = loaded.info
    places: list[Placement] = []
    row = 0
    for job in jobs:
        places.append(Placement(row, job.lengths, job.length))
        row += len(job.batch)
    seq_len = max(job.length for job in jobs)
    pad_id = loaded.tokenizer.pad_token_id  # type: ignore[attr-defined]
    pad_id = 0 if pad_id is None else int(pad_id)
    input_ids = torch.full((row, seq_len), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((row, seq_len), dtype=torch.long)
    for job, place in zip(jobs, places, strict=True):
        for b, seq in enumerate(job.batch):
            input_ids[place.row0 + b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention_mask[place.row0 + b, : len(seq)] = 1
    device = next(loaded.model.parameters()).device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)

    needs_grad = any(job.needs_grad for job in jobs)
    keep = _logit_positions(loaded, jobs, places)
    extra = {} if keep is None else {"logits_to_keep": keep.to(device)}
    columns = None
    if keep is not None:
        columns = torch.full((seq_len,), -1, dtype=torch.long, device=device)
        columns[keep.to(device)] = torch.arange(len(keep), device=device)
    live_sites = list(dict.fromkeys(
        [s for job in jobs for s in job.gradients]
        + [job.metric.hook_site for job in jobs if job.metric is not None and job.metric.kind == "activation"]
    ))
    capture_sites = list(dict.fromkeys(s for job in jobs for s in (*job.capture, *(job.lens.hook_sites if job.lens else ()))))
    captures: list[dict[str, torch.Tensor]] = [{} for _ in jobs]
    live: dict[str, torch.Tensor] = {}

    def bind(name: str):
        return bind_site(loaded.model, loaded.spec, name, info.num_heads, info.num_kv_heads)

    def dims_of(name: str) -> tuple[str, ...]:
        return info.site(name).dim_names

    handles = []
    recorded: dict[str, torch.Tensor] = {}  # edge senders' outputs in this pass
    with loaded.lock:
        try:
            if needs_grad:
                # Parameters are frozen: the embedding output is the one leaf autograd tracks.
                handles.append(install_hook(bind("hook_embed"), lambda act: act.detach().requires_grad_(True)))
            for job, place in zip(jobs, places, strict=True):
                for iv in job.interventions:
                    dims = dims_of(iv.hook_site)
                    if iv.kind == "edge":
                        fn = lambda act, iv=iv, p=place, d=dims: apply_edge(act, d, iv, p, recorded, dims_of)  # noqa: E731
                    else:
                        fn = lambda act, iv=iv, p=place, d=dims: apply_intervention(act, d, iv, p, attention_mask)  # noqa: E731
                    handles.append(install_hook(bind(iv.hook_site), fn))
            # Edge senders are recorded after the interventions at their own site: what a
            # sender really wrote in this pass.
            for name in dict.fromkeys(n for job in jobs for iv in job.interventions if iv.kind == "edge" for n, _ in iv.senders):

                def record(act: torch.Tensor, name: str = name) -> None:
                    recorded[name] = act

                handles.append(install_hook(bind(name), record))
            for name in live_sites:

                def keep(act: torch.Tensor, name: str = name) -> torch.Tensor:
                    live[name] = act
                    return act  # returned so that views (e.g. heads of a fused QKV) stay in the graph

                handles.append(install_hook(bind(name), keep))
            for name in capture_sites:
                wanted = [(j, places[j]) for j, job in enumerate(jobs) if name in job.capture or (job.lens and name in job.lens.hook_sites)]
                dims = info.site(name).dim_names

                def grab(act: torch.Tensor, name: str = name, wanted=wanted, dims=dims) -> None:
                    for j, place in wanted:
                        captures[j][name] = _job_slice(act.detach(), dims, place).to("cpu", copy=True)

                handles.append(install_hook(bind(name), grab))
            with torch.enable_grad() if needs_grad else torch.inference_mode():
                out = loaded.model(input_ids=input_ids, attention_mask=attention_mask, **extra)
        finally:
            for h in handles:
                h.remove()
            recorded.clear()
        logits = getattr(out, "logits", None)
        with torch.enable_grad() if needs_grad else torch.inference_mode():
            metrics: list[torch.Tensor | None] = []
            for job, place in zip(jobs, places, strict=True):
                if job.metric is None:
                    metrics.append(None)
                    continue
                m = job.metric
                metrics.append(
                    compute_metric(
                        m,
                        rows=range(place.row0, place.row0 + place.rows),
                        lengths=place.lengths,
                        logits=logits,
                        site=live.get(m.hook_site),
                        site_dims=info.site(m.hook_site).dim_names if m.kind == "activation" else (),
                        columns=columns,
                    )
                )
        grads: dict[str, torch.Tensor] = {}
        if needs_grad:
            grad_sites = list(dict.fromkeys(s for job in jobs for s in job.gradients))
            total = sum(v.sum() for v, job in zip(metrics, jobs, strict=True) if v is not None and job.needs_grad)
            found = torch.autograd.grad(total, [live[s] for s in grad_sites], allow_unused=True)  # type: ignore[arg-type]
            for s, g in zip(grad_sites, found, strict=True):
                grads[s] = torch.zeros_like(live[s]) if g is None else g
            live.clear()

    outputs = []
    tok = loaded.tokenizer
    for j, (job, place) in enumerate(zip(jobs, places, strict=True)):
        missing = [n for n in job.capture if n not in captures[j]]
        if missing:  # e.g. an attention implementation that returns no weights
            raise InvalidArgument(Reason.HOOK_SITE_NOT_CAPTURED, f"these sites produced no tensor: {missing}")
        lens = None
        if job.lens is not None:
            final_top = []
            if not job.lens.target_ids:
                assert logits is not None
                for b, n in enumerate(place.lengths):
                    col = n - 1 if columns is None else int(columns[n - 1])
                    final_top.append(int(logits[place.row0 + b, col].argmax()))
            lens = run_lens(loaded, job.lens, job.batch, captures[j], final_top)
            for name in job.lens.hook_sites:
                if name not in job.capture:
                    captures[j].pop(name, None)
        top_next: list[list[TopToken]] = []
        if job.top_k and logits is not None:
            for b, n in enumerate(place.lengths):
                col = n - 1 if columns is None else int(columns[n - 1])
                row_logits = logits[place.row0 + b, col].detach().float().cpu()
                probs = torch.softmax(row_logits, dim=-1)
                p, ids = probs.topk(job.top_k)
                id_list = ids.tolist()
                shown = display_tokens(tok, id_list)
                top_next.append(
                    [
                        TopToken(i, tok.convert_ids_to_tokens(i), pp, float(row_logits[i]), d)  # type: ignore[attr-defined]
                        for pp, i, d in zip(p.tolist(), id_list, shown, strict=True)
                    ]
                )
        raw = [tok.convert_ids_to_tokens(list(s)) for s in job.batch]  # type: ignore[attr-defined]
        job_logits = None
        if job.return_logits and logits is not None:
            job_logits = _job_slice(logits.detach(), ("batch", "pos", "vocab"), place).to("cpu", copy=True)
        outputs.append(
            RunOutput(
                token_ids=[list(s) for s in job.batch],
                tokens=raw,
                captures=captures[j],
                attention_mask=_job_slice(attention_mask, ("batch", "pos"), place).cpu(),
                logits=job_logits,
                top_next=top_next,
                display_tokens=[display_tokens(tok, s, r) for s, r in zip(job.batch, raw, strict=True)],
                metric=None if metrics[j] is None else metrics[j].detach().float().cpu(),  # type: ignore[union-attr]
                gradients={
                    s: _job_slice(grads[s].detach(), info.site(s).dim_names, place).to("cpu", copy=True) for s in job.gradients
                },
                lens=lens,
            )
        )
    return outputs


FULL_GRADIENT_LOGITS_BYTES = 256 << 20
"""Gradient runs whose full logits stay under this size project every position (see _logit_positions)."""


def _logit_positions(loaded: LoadedModel, jobs: Sequence[RunJob], places: Sequence[Placement]) -> torch.Tensor | None:
    """The positions whose logits the jobs read, or None for all of them.

    The language-model head is a large share of a short sequence's cost (SmolLM2: a 576 x 49152
    projection per position) and its logits the largest tensor of the pass; when no job returns
    full logits, only the positions that top-k and the metrics read are projected.

    Gradient runs keep the full head while its logits stay under :data:`FULL_GRADIENT_LOGITS_BYTES`,
    so they do the same arithmetic as a plain autograd pass (projecting fewer positions changes
    the float32 rounding of the log-softmax: ~2e-5 relative on SmolLM2's input gradients). A
    larger one, e.g. a sweep of 256 rows x 64 positions (3 GB of SmolLM2 logits, and as much
    again for their gradient), projects only the positions its metrics read.
    """
    if not loaded.info.has_lm_head or any(job.return_logits for job in jobs):
        return None
    if any(job.needs_grad for job in jobs):
        rows, seq_len = sum(len(job.batch) for job in jobs), max(job.length for job in jobs)
        if rows * seq_len * loaded.info.vocab_size * 4 <= FULL_GRADIENT_LOGITS_BYTES:
            return None
    if "logits_to_keep" not in forward_parameters(loaded.model):
        return None
    needed: set[int] = set()
    for job, place in zip(jobs, places, strict=True):
        if job.top_k or (job.lens is not None and not job.lens.target_ids):
            needed.update(n - 1 for n in place.lengths)
        if job.metric is not None and job.metric.kind in ("token", "logit_diff"):
            needed.update(resolve_positions(job.metric.positions, place.lengths))
    return torch.tensor(sorted(needed) or [0], dtype=torch.long)


def forward_parameters(model: torch.nn.Module) -> frozenset[str]:
    """Names of the model's ``forward`` parameters (read once per model: transformers versions
    differ, e.g. ``logits_to_keep``, ``cache`` vs ``past_key_values``)."""
    cached = getattr(model, "_interp_forward_parameters", None)
    if cached is None:
        cached = frozenset(inspect.signature(model.forward).parameters)
        model._interp_forward_parameters = cached  # type: ignore[assignment]
    return cached


def run_model(loaded: LoadedModel, batch: Sequence[Sequence[int]], **kwargs) -> RunOutput:
    """Validate and run one request (see :func:`prepare_job` for the arguments)."""
    return run_jobs(loaded, [prepare_job(loaded, batch, **kwargs)])[0]
