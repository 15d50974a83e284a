"""Discover the Fourier ("clock") algorithm of a model that adds numbers modulo ``p``.

Nanda et al. 2023 ("Progress measures for grokking via mechanistic interpretability") showed
that a small transformer trained on ``a + b mod p`` embeds each number as waves
``cos(2 pi k x / p)``, ``sin(2 pi k x / p)`` at a few *key frequencies* ``k``, combines the waves
of ``a`` and ``b`` with trigonometric identities into ``cos(2 pi k (a + b - c) / p)`` and reads
the answer ``c`` off where all those waves peak together. :func:`discover_modular_addition`
checks the first and most testable part of that story on any model, through a :class:`Runner`:

1. **Read the embedding** of the ``p`` number tokens (a capture of ``hook_embed``) and measure
   its norm per frequency (:mod:`interp_services.core.circuits.fourier`). A model that uses the
   algorithm has a sparse spectrum: a few frequencies hold most of the norm.
2. **Pick the key frequencies** with :func:`~interp_services.core.circuits.fourier.key_frequencies`
   (the smallest set holding ``share`` of the non-constant squared norm).
3. **Test them causally** on all ``p * p`` pairs ``"a b ="``: accuracy and loss (a) as the model
   is, (b) with the embeddings of ``a`` and ``b`` replaced by their projections onto the key
   frequencies (plus the constant), (c) the same with as many *other* frequencies, chosen at
   random, as a control, and (d) with the key frequencies kept but one removed, for each one.

If (b) stays near (a) while (c) falls to chance, the model's computation runs through those
frequencies and nothing else in the embedding matters; (d) says how much each one carries.
Every model evaluation is an ordinary run (``RunModel`` request) of at most
``runner.max_sequences`` sequences with a ``patch`` intervention at ``hook_embed``.

Example:
    >>> result = discover_modular_addition(LocalRunner(loaded), number_ids=list(range(59)), equals_id=59)
    >>> result.key_frequencies, result.key_only.accuracy, round(result.control.accuracy, 3)
    ([1, 2, 3, 9, 26], 1.0, 0.016)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from interp_services.core.circuits.fourier import (
    DEFAULT_SHARE,
    frequency_norms,
    key_frequencies,
    num_frequencies,
    project_onto_frequencies,
)
from interp_services.core.circuits.runner import Runner
from interp_services.core.errors import Cancelled, invalid
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.reasons import Reason

__all__ = ["Evaluation", "FrequencyRemoval", "ModularAdditionResult", "discover_modular_addition"]

ProgressFn = Callable[[str, float], None]


@dataclass
class Evaluation:
    """Accuracy and loss over all ``p * p`` pairs.

    Attributes:
        accuracy: share of pairs whose most likely next token is ``(a + b) mod p``.
        loss: mean negative log-probability of that token (nats).
    """

    accuracy: float
    loss: float


@dataclass
class FrequencyRemoval:
    """The key frequencies kept, all but one.

    Attributes:
        frequency: the key frequency left out (1-based ``k``).
        accuracy: accuracy with the other key frequencies (and the constant) only.
        loss: mean loss likewise.
        accuracy_drop: accuracy with all key frequencies minus ``accuracy``: what this
            frequency adds on top of the others.
    """

    frequency: int
    accuracy: float
    loss: float
    accuracy_drop: float


@dataclass
class ModularAdditionResult:
    """What :func:`discover_modular_addition` found.

    Attributes:
        p: the modulus (number of number tokens).
        number_ids: token id of each number ``0 .. p-1``.
        equals_id: token id of ``=``.
        share: the share of the embedding's non-constant squared norm the key frequencies had
            to hold (selection rule of :func:`~interp_services.core.circuits.fourier.key_frequencies`).
        frequency_norms: the embedding's norm at each frequency ``k = 1 .. (p-1)//2`` (entry
            ``k - 1``).
        key_frequencies: the chosen frequencies, increasing.
        key_share: the share of the non-constant squared norm they actually hold.
        control_frequencies: as many non-key frequencies, drawn with ``control_seed``.
        baseline: the model as it is.
        key_only: number embeddings projected onto the constant and the key frequencies.
        control: the same onto the control frequencies; None when every frequency is key.
        without: per key frequency, the key frequencies but that one.
        chance_accuracy: ``1 / p``.
        findings: the result in sentences.
    """

    p: int
    number_ids: list[int]
    equals_id: int
    share: float
    frequency_norms: list[float]
    key_frequencies: list[int]
    key_share: float
    control_frequencies: list[int]
    baseline: Evaluation
    key_only: Evaluation
    control: Evaluation | None
    without: list[FrequencyRemoval] = field(default_factory=list)
    chance_accuracy: float = 0.0
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (ints, floats, strings, lists, dicts, None)."""
        return dataclasses.asdict(self)


class _Progress:
    """Counts model runs against the planned total; reports and checks for cancellation."""

    def __init__(self, total: int, progress: ProgressFn | None, cancelled: Callable[[], bool] | None) -> None:
        self.total, self.done = max(total, 1), 0
        self.progress, self.cancelled = progress, cancelled
        self.stage = ""

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(Reason.CANCELLED, "the client cancelled the modular-addition discovery")

    def start(self, stage: str) -> None:
        self.stage = stage
        self.check()
        if self.progress is not None:
            self.progress(stage, self.done / self.total)

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.stage, min(1.0, self.done / self.total))
        # Checked after every run, so a cancel waits at most for one run of max_sequences.
        self.check()


def discover_modular_addition(
    runner: Runner,
    *,
    number_ids: Sequence[int],
    equals_id: int,
    share: float = DEFAULT_SHARE,
    control_seed: int = 0,
    progress: ProgressFn | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ModularAdditionResult:
    """Find the key Fourier frequencies of a modular-addition model and test them causally.

    The model is read only through ``runner``: one capture of ``hook_embed`` for the number
    tokens, then ``3 + len(key_frequencies)`` evaluations of all ``p * p`` sequences
    ``[number_ids[a], number_ids[b], equals_id]`` (chunks of ``runner.max_sequences``), each
    with ``top_k=1`` (accuracy) and a ``token`` log-prob metric of ``number_ids[(a + b) % p]``
    (loss). See the module docstring for what the evaluations are.

    Args:
        runner: runs the model (:class:`~interp_services.core.circuits.runner.LocalRunner` in
            process, or the model host over gRPC).
        number_ids: ``[p]`` token ids of the numbers ``0 .. p-1``, in order, distinct; ``p``
            must be odd and at least 3 (a prime in the usual task).
        equals_id: token id of ``=``, the last token of every sequence.
        share: fraction of the embedding's non-constant squared norm the key frequencies must
            hold, in ``(0, 1]``.
        control_seed: seeds the draw of the control frequencies.
        progress: called as ``progress(stage, fraction_done)`` after every run.
        cancelled: polled before the first run and after every run; when it returns True the
            discovery stops with :class:`~interp_services.core.errors.Cancelled`.

    Returns:
        A :class:`ModularAdditionResult`.

    Raises:
        InvalidArgument: ``CIRCUIT_TASK_INVALID`` (bad ``number_ids``/``equals_id``) or
            ``CIRCUIT_OPTION_OUT_OF_RANGE`` (``share``).
        Cancelled: ``CANCELLED`` when ``cancelled()`` returned True.

    Example:
        >>> r = discover_modular_addition(runner, number_ids=list(range(59)), equals_id=59)
        >>> r.key_frequencies, r.key_share >= 0.9  # the toy model of tests/toy_models/modular_addition.py
        ([1, 2, 3, 9, 26], True)
        >>> [(w.frequency, round(w.accuracy, 2)) for w in r.without]  # 1, 9 and 26 carry it
        [(1, 0.14), (2, 1.0), (3, 1.0), (9, 0.39), (26, 0.52)]
    """
    ids = [int(i) for i in number_ids]
    p = len(ids)
    if p < 3 or p % 2 == 0:
        raise invalid(Reason.CIRCUIT_TASK_INVALID, "number_ids", f"give an odd number p >= 3 of number tokens, got {p}")
    if len(set(ids)) != p:
        raise invalid(Reason.CIRCUIT_TASK_INVALID, "number_ids", "the number tokens must be distinct")
    if int(equals_id) in ids:
        raise invalid(Reason.CIRCUIT_TASK_INVALID, "equals_id", "the '=' token must not be a number token")
    if not 0.0 < share <= 1.0:
        raise invalid(Reason.CIRCUIT_OPTION_OUT_OF_RANGE, "share", f"must be in (0, 1], got {share}")

    chunk = max(1, int(runner.max_sequences))
    pairs = torch.cartesian_prod(torch.arange(p), torch.arange(p))  # [p*p, 2], row a*p + b
    n_eval_runs = -(-pairs.shape[0] // chunk)
    n_embed_runs = -(-p // chunk)
    # The number of key frequencies is not known yet: plan for the worst case (every frequency
    # key) and shrink the plan once it is known, so the fraction may jump forward, never back.
    tracker = _Progress(n_embed_runs + n_eval_runs * (3 + num_frequencies(p)), progress, cancelled)

    tracker.start("reading the number embeddings")
    embedding = _read_embedding(runner, ids, chunk, tracker)  # [p, d]
    norms = frequency_norms(embedding)
    keys = key_frequencies(norms, share=share)
    energy = norms.double().pow(2)
    key_share = float(energy[[k - 1 for k in keys]].sum() / energy.sum()) if keys else 0.0
    others = [k for k in range(1, num_frequencies(p) + 1) if k not in keys]
    gen = torch.Generator().manual_seed(control_seed)
    control_freqs = sorted(others[i] for i in torch.randperm(len(others), generator=gen)[: len(keys)].tolist())
    tracker.total = n_embed_runs + n_eval_runs * (2 + bool(control_freqs) + len(keys))

    seqs = [[ids[a], ids[b], int(equals_id)] for a, b in pairs.tolist()]
    targets = [ids[(a + b) % p] for a, b in pairs.tolist()]

    def evaluate(stage: str, freqs: list[int] | None) -> Evaluation:
        tracker.start(stage)
        projected = None if freqs is None else project_onto_frequencies(embedding, freqs, p)
        return _evaluate(runner, seqs, targets, pairs, projected, chunk, tracker)

    baseline = evaluate("evaluating the model as it is", None)
    key_only = evaluate("keeping only the key frequencies", keys)
    control = evaluate("keeping random other frequencies (control)", control_freqs) if control_freqs else None
    without = []
    for k in keys:
        ev = evaluate(f"removing frequency {k}", [j for j in keys if j != k])
        without.append(FrequencyRemoval(k, ev.accuracy, ev.loss, key_only.accuracy - ev.accuracy))
    if progress is not None:
        progress("done", 1.0)

    result = ModularAdditionResult(
        p=p,
        number_ids=ids,
        equals_id=int(equals_id),
        share=float(share),
        frequency_norms=[float(x) for x in norms],
        key_frequencies=keys,
        key_share=key_share,
        control_frequencies=control_freqs,
        baseline=baseline,
        key_only=key_only,
        control=control,
        without=without,
        chance_accuracy=1.0 / p,
    )
    result.findings = _findings(result)
    return result


def _read_embedding(runner: Runner, ids: list[int], chunk: int, tracker: _Progress) -> torch.Tensor:
    """``[p, d]``: ``hook_embed`` of each number token, read as a one-token sequence.

    A capture rather than the weight matrix, so that the same code works over the gRPC model
    host, and so that it is exactly what the patches below replace.
    """
    rows = []
    for start in range(0, len(ids), chunk):
        out = runner.run([[i] for i in ids[start : start + chunk]], capture=["hook_embed"])
        rows.append(out.captures["hook_embed"][:, 0])
        tracker.tick()
    return torch.cat(rows)


def _evaluate(
    runner: Runner,
    seqs: list[list[int]],
    targets: list[int],
    pairs: torch.Tensor,
    projected: torch.Tensor | None,
    chunk: int,
    tracker: _Progress,
) -> Evaluation:
    """Accuracy and mean loss over all sequences, with the number embeddings at positions 0 and
    1 patched to ``projected[a]``, ``projected[b]`` when ``projected`` is given."""
    correct = 0
    log_prob = 0.0
    for start in range(0, len(seqs), chunk):
        stop = min(start + chunk, len(seqs))
        interventions = []
        if projected is not None:
            a, b = pairs[start:stop, 0], pairs[start:stop, 1]
            # The source must cover the whole sequence ([batch, 3, d]); position 2 ("=") is not
            # selected by ``positions``, so its zeros are never used.
            src = torch.zeros(stop - start, 3, projected.shape[1], dtype=projected.dtype)
            src[:, 0], src[:, 1] = projected[a], projected[b]
            interventions.append(Intervention("hook_embed", "patch", positions=[0, 1], tensor=src))
        out = runner.run(
            seqs[start:stop],
            interventions=interventions,
            metric=Metric(kind="token", token_ids=targets[start:stop], score="log_prob"),
            top_k=1,
        )
        assert out.metric is not None
        log_prob += float(out.metric.double().sum())
        correct += sum(int(top[0] == t) for top, t in zip(out.top_ids, targets[start:stop], strict=True))
        tracker.tick()
    n = len(seqs)
    return Evaluation(accuracy=correct / n, loss=-log_prob / n)


def _freq_list(freqs: Sequence[int]) -> str:
    return ", ".join(str(k) for k in freqs)


def _findings(r: ModularAdditionResult) -> list[str]:
    """The result in sentences, most important first.

    "Sparse" means at most a third of the frequencies hold the share; "computes through these
    frequencies" needs the key-only accuracy within 90% of the unablated one and the control's
    at most half the key-only one.
    """
    n = num_frequencies(r.p)
    lines = []
    if r.key_frequencies:
        lines.append(
            f"The number embedding is {'sparse' if len(r.key_frequencies) <= n / 3 else 'not sparse'} in the Fourier basis: "
            f"{len(r.key_frequencies)} of {n} frequencies (k = {_freq_list(r.key_frequencies)}) hold "
            f"{r.key_share:.0%} of its non-constant squared norm."
        )
    else:
        lines.append("The number embedding has no non-constant Fourier component: it does not tell the numbers apart.")
    base, key = r.baseline, r.key_only
    line = (
        f"Keeping only these frequencies (and the constant) in the embeddings of a and b preserves accuracy "
        f"{key.accuracy:.3f} (unablated {base.accuracy:.3f}; loss {key.loss:.3f} vs {base.loss:.3f})"
    )
    if r.control is not None:
        line += (
            f"; keeping {len(r.control_frequencies)} other frequencies chosen at random "
            f"(k = {_freq_list(r.control_frequencies)}) instead gives {r.control.accuracy:.3f} "
            f"(chance {r.chance_accuracy:.3f})."
        )
    else:
        line += "; every frequency is a key frequency, so there is no control."
    lines.append(line)
    if r.control is not None and base.accuracy > 0:
        if key.accuracy >= 0.9 * base.accuracy and r.control.accuracy <= 0.5 * key.accuracy:
            lines.append(
                "The model computes through these frequencies: the rest of the embedding can be removed without "
                "changing its answers, and frequencies of the same number but not these ones do not suffice."
            )
        elif key.accuracy < 0.9 * base.accuracy:
            lines.append(
                "The key frequencies alone do not carry the computation: the model also relies on other parts of the embedding."
            )
    if r.without:
        ranked = sorted(r.without, key=lambda w: (-w.accuracy_drop, w.frequency))
        parts = [f"k = {w.frequency}: {w.accuracy:.3f} (loss {w.loss:.3f})" for w in ranked]
        lines.append(
            f"Removing one key frequency from the others ({key.accuracy:.3f}, loss {key.loss:.3f}), the largest drop first: "
            + "; ".join(parts) + "."
        )
    return lines
