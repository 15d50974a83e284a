"""Which neurons tell a concept's texts from control texts: AUROC, effect size and tests.

Input is one value per text and neuron (typically a neuron's max or mean activation over the
text's tokens, see :func:`aggregate_tokens`) for a set of concept texts and a set of control
texts. Each neuron is scored independently:

* ``auroc`` -- the probability that a random concept text activates the neuron more than a
  random control text (ties count half): ``U / (n_concept * n_control)`` with ``U`` the
  Mann-Whitney statistic of the concept group. 1.0 means every concept text is above every
  control text, 0.5 no separation, 0.0 the reverse.
* ``effect_size`` -- Cohen's d, the difference of the group means over the pooled standard
  deviation (each group's variance with ``ddof=1``).
* ``p_value`` -- the two-sided Mann-Whitney U test (normal approximation with tie and continuity
  correction), then ``p_bonferroni`` and the Benjamini-Hochberg ``q_value`` over all neurons,
  because a layer tests thousands of neurons at once and raw p-values would flag hundreds by
  chance.

:func:`rank_concept_neurons` ranks by separation in either direction (``|auroc - 0.5|``), as
the test is two-sided: a neuron the concept suppresses ranks as high as one it excites.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> concept, control = rng.normal(size=(20, 5)), rng.normal(size=(30, 5))
    >>> concept[:, 3] += 10.0  # neuron 3 fires on the concept
    >>> scores = concept_scores(concept, control)
    >>> float(scores.auroc[3]), rank_concept_neurons(scores, top_k=1)
    (1.0, [3])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.stats
import torch

__all__ = [
    "ConceptScores",
    "aggregate_tokens",
    "concept_scores",
    "rank_concept_neurons",
]

# mannwhitneyu ranks each column, so it briefly holds a few [n_concept + n_control, chunk] float64
# arrays; 4096 columns of 10k texts is ~330 MB per copy.
_NEURON_CHUNK = 4096


@dataclass
class ConceptScores:
    """Per-neuron concept-selectivity scores; every field is a ``[n_neurons]`` float64 array.

    Attributes:
        auroc: ``P(concept > control) + 0.5 P(tie)`` over pairs of texts.
        effect_size: Cohen's d, ``(concept_mean - control_mean) / pooled_std``; 0 where both
            groups are constant.
        p_value: two-sided Mann-Whitney U p-value (asymptotic, tie- and continuity-corrected).
        p_bonferroni: ``min(1, p_value * n_neurons)``.
        q_value: Benjamini-Hochberg adjusted p-value over all neurons.
        concept_mean: mean over the concept texts.
        control_mean: mean over the control texts.
    """

    auroc: np.ndarray
    effect_size: np.ndarray
    p_value: np.ndarray
    p_bonferroni: np.ndarray
    q_value: np.ndarray
    concept_mean: np.ndarray
    control_mean: np.ndarray


def _as_matrix(values: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to(device="cpu", dtype=torch.float64).numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape [n_texts, n_neurons], got {list(arr.shape)}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 texts, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def concept_scores(concept: np.ndarray | torch.Tensor, control: np.ndarray | torch.Tensor) -> ConceptScores:
    """Score every neuron on how well it separates concept texts from control texts.

    Args:
        concept: ``[n_concept, n_neurons]`` one value per concept text and neuron.
        control: ``[n_control, n_neurons]`` the same for the control texts.

    Returns:
        :class:`ConceptScores` over the ``n_neurons`` neurons.

    Raises:
        ValueError: a group has fewer than 2 texts, the neuron counts differ, or a value is not
            finite.
    """
    a = _as_matrix(concept, "concept")
    b = _as_matrix(control, "control")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"concept has {a.shape[1]} neurons but control has {b.shape[1]}")
    n1, n2 = a.shape[0], b.shape[0]
    m = a.shape[1]

    auroc = np.empty(m)
    p_value = np.empty(m)
    for start in range(0, m, _NEURON_CHUNK):
        cols = slice(start, start + _NEURON_CHUNK)
        res = scipy.stats.mannwhitneyu(
            a[:, cols], b[:, cols], axis=0, alternative="two-sided", method="asymptotic", use_continuity=True
        )
        # scipy's statistic is U of the first sample: #(concept > control) + 0.5 #(ties).
        auroc[cols] = res.statistic / (n1 * n2)
        p_value[cols] = res.pvalue

    # When every value of a column is the same the tie-corrected variance is 0 and the test is
    # undefined; "no evidence, no separation" is the only sensible answer.
    a_const = a.max(axis=0) == a.min(axis=0)
    b_const = b.max(axis=0) == b.min(axis=0)
    all_tied = a_const & b_const & (a[0] == b[0])
    auroc[all_tied] = 0.5
    p_value[all_tied] = 1.0

    concept_mean = a.mean(axis=0)
    control_mean = b.mean(axis=0)
    pooled_var = ((n1 - 1) * a.var(axis=0, ddof=1) + (n2 - 1) * b.var(axis=0, ddof=1)) / (n1 + n2 - 2)
    pooled_std = np.sqrt(pooled_var)
    # Test constancy exactly (max == min) rather than pooled_std == 0: the variance of a constant
    # column can come out as ~1e-33 and would blow the difference of means up to ~1e16.
    both_const = a_const & b_const
    safe_std = np.where(both_const, 1.0, pooled_std)
    effect_size = np.where(both_const, 0.0, (concept_mean - control_mean) / safe_std)

    return ConceptScores(
        auroc=auroc,
        effect_size=effect_size,
        p_value=p_value,
        p_bonferroni=np.minimum(1.0, p_value * m),
        q_value=scipy.stats.false_discovery_control(p_value, method="bh"),
        concept_mean=concept_mean,
        control_mean=control_mean,
    )


def rank_concept_neurons(scores: ConceptScores, top_k: int) -> list[int]:
    """The ``top_k`` neurons that separate the groups best, in either direction: largest
    ``|auroc - 0.5|`` first (ties: larger ``|effect_size|``, then index).

    A neuron the concept suppresses (AUROC near 0: it fires less on every concept text) tells
    the groups apart as well as one it excites, and the two-sided test counts it as significant;
    ranking by AUROC alone would put it last. The direction stays visible in the scores: AUROC
    below 0.5 and a negative effect size mean "fires less on the concept".

    Example:
        >>> s = ConceptScores(*(np.array(v, dtype=float) for v in
        ...     ([0.9, 0.0, 1.0], [1.0, -3.0, 2.0], [0.1] * 3, [0.3] * 3, [0.1] * 3, [0.0] * 3, [0.0] * 3)))
        >>> rank_concept_neurons(s, top_k=2)  # neuron 1 is suppressed by the concept
        [1, 2]
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    # lexsort sorts by the last key first and is stable, so equal keys keep index order.
    order = np.lexsort((-np.abs(scores.effect_size), -np.abs(scores.auroc - 0.5)))
    return [int(i) for i in order[:top_k]]


def aggregate_tokens(
    act: torch.Tensor, mask: torch.Tensor, how: Literal["max", "mean"]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduce per-token activations to one value per text and neuron, ignoring padding.

    Args:
        act: ``[batch, pos, width]`` activations, any float dtype.
        mask: ``[batch, pos]`` bool or 0/1; positions where it is 0 (padding) are ignored, even
            if they hold huge or non-finite values.
        how: ``"max"`` (the largest activation over the text's tokens) or ``"mean"``.

    Returns:
        ``(values, argmax_pos)``: ``values`` ``[batch, width]`` float32; ``argmax_pos``
        ``[batch, width]`` int64, the (unmasked) position of each neuron's largest activation
        in each text -- also for ``"mean"``, so that callers can show an example token.

    Raises:
        ValueError: shapes disagree, ``how`` is unknown, or a text has no unmasked position.

    Example:
        >>> import torch
        >>> act = torch.tensor([[[1.0], [5.0], [1e9]]])  # the last position is padding
        >>> mask = torch.tensor([[1, 1, 0]])
        >>> aggregate_tokens(act, mask, "max")
        (tensor([[5.]]), tensor([[1]]))
    """
    if act.ndim != 3:
        raise ValueError(f"act must have shape [batch, pos, width], got {list(act.shape)}")
    if tuple(mask.shape) != tuple(act.shape[:2]):
        raise ValueError(f"mask must have shape {list(act.shape[:2])}, got {list(mask.shape)}")
    if how not in ("max", "mean"):
        raise ValueError(f"how must be 'max' or 'mean', got {how!r}")
    keep = (mask != 0).to(act.device)
    n_tokens = keep.sum(dim=1)
    if bool((n_tokens == 0).any()):
        raise ValueError("every text needs at least one unmasked position")
    keep3 = keep.unsqueeze(-1)
    x = act.to(torch.float32)
    # masked_fill rather than multiplying by the mask: padding may hold inf, and inf * 0 is NaN.
    max_values, argmax_pos = x.masked_fill(~keep3, -torch.inf).max(dim=1)
    if how == "max":
        return max_values, argmax_pos
    # Sum in float64: a long text's float32 running sum would lose the low bits of small means.
    total = x.to(torch.float64).masked_fill(~keep3, 0.0).sum(dim=1)
    mean = (total / n_tokens.unsqueeze(-1)).to(torch.float32)
    return mean, argmax_pos
