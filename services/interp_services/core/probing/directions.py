"""Concept directions and what a counterfactual swap does to a probe.

A label's *direction* is the unit vector from the mean of the other items to the mean of the
label's items (a difference of means, the simplest and most robust concept direction). Two uses:

* :func:`cosine_matrix` between one task's directions and another's, e.g. the "nurse" direction
  of a profession task against the "female" direction of a gender task: a large cosine says the
  representation ties the two together.
* :func:`counterfactual_effect`: run a probe on pairs of texts that differ only in a protected
  attribute ("He works as a nurse." / "She works as a nurse.") and measure how often the
  prediction flips and how far the pair moves along the task's directions, in units of the
  spread of the task's own projections.

Example:
    >>> x = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    >>> label_directions(x, np.array([0, 0, 1, 1]), n_labels=2).astype(float).round(3).tolist()
    [[0.707, -0.707], [-0.707, 0.707]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interp_services.core.probing.probe import ProbeFit

__all__ = [
    "CounterfactualEffect",
    "cosine_matrix",
    "counterfactual_effect",
    "label_directions",
]


def _unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1)
    return m / np.where(norms > 0, norms, 1.0)[:, None]


def label_directions(x: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """Unit difference-of-means direction of every label.

    Args:
        x: ``[n, d]`` features (e.g. of the training items).
        y: ``[n]`` int labels in ``[0, n_labels)``.
        n_labels: number of labels (rows of the result).

    Returns:
        ``[n_labels, d]`` float32: row ``l`` is ``mean(x[y == l]) - mean(x[y != l])`` scaled to
        unit length; a zero row for a label with no items, with no other items to compare with,
        or whose two means coincide.

    Example:
        >>> label_directions(np.eye(3), np.array([0, 0, 1]), n_labels=3)[2].tolist()
        [0.0, 0.0, 0.0]
    """
    a = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    if a.ndim != 2 or labels.shape != (a.shape[0],):
        raise ValueError(f"x must be [n, d] and y [n], got {list(a.shape)} and {list(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
        raise ValueError(f"labels must be in [0, {n_labels})")
    n = len(labels)
    counts = np.bincount(labels, minlength=n_labels)
    sums = np.zeros((n_labels, a.shape[1]))
    np.add.at(sums, labels, a)
    total = a.sum(axis=0)
    out = np.zeros((n_labels, a.shape[1]))
    for label in range(n_labels):
        c = counts[label]
        if 0 < c < n:
            out[label] = sums[label] / c - (total - sums[label]) / (n - c)
    return _unit_rows(out).astype(np.float32)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[m, k]`` float64 cosines between the rows of ``a`` ``[m, d]`` and ``b`` ``[k, d]``.

    A zero row has cosine 0 with everything.

    Example:
        >>> cosine_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[1.0, 1.0]])).round(3).tolist()
        [[0.707], [0.0]]
    """
    ua = _unit_rows(np.asarray(a, dtype=np.float64))
    ub = _unit_rows(np.asarray(b, dtype=np.float64))
    if ua.ndim != 2 or ub.ndim != 2 or ua.shape[1] != ub.shape[1]:
        raise ValueError(f"a and b must be [m, d] and [k, d], got {list(ua.shape)} and {list(ub.shape)}")
    return ua @ ub.T


@dataclass
class CounterfactualEffect:
    """What swapping a protected attribute does to a probe's reading.

    Attributes:
        flip_rate: fraction of pairs whose predicted label differs.
        mean_shift_sd: mean over pairs and labels of ``|(cf - original) . direction_l|``, in
            standard deviations of the reference items' projections on ``direction_l``.
        pairs: number of pairs.
    """

    flip_rate: float
    mean_shift_sd: float
    pairs: int


def counterfactual_effect(
    original: np.ndarray,
    counterfactual: np.ndarray,
    fit: ProbeFit,
    directions: np.ndarray,
    reference: np.ndarray,
) -> CounterfactualEffect:
    """How often a probe's prediction flips between paired texts, and how far the pairs move.

    Args:
        original: ``[m, d]`` features of the original texts.
        counterfactual: ``[m, d]`` features of the swapped texts, row by row.
        fit: the task's probe (its :meth:`~.probe.ProbeFit.predict` standardises itself).
        directions: ``[k, d]`` the task's label directions (:func:`label_directions`).
        reference: ``[n, d]`` items whose projections set the scale (e.g. the task's training
            items).

    Returns:
        :class:`CounterfactualEffect`; directions that are zero, or along which the reference
        items do not vary, are left out of ``mean_shift_sd`` (0.0 when none is left, or when
        there are no pairs).

    Raises:
        ValueError: ``original`` and ``counterfactual`` differ in shape, or widths disagree.

    Example:
        >>> from interp_services.core.probing.split import Split
        >>> from interp_services.core.probing.probe import fit_probe
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 4)).astype(np.float32)
        >>> y = (x[:, 0] > 0).astype(np.int64)
        >>> fit = fit_probe(x, y, Split(np.arange(150), np.arange(150, 175), np.arange(175, 200)), 2)
        >>> swapped = x.copy(); swapped[:, 0] *= -1  # flips the feature the label is read from
        >>> e = counterfactual_effect(x, swapped, fit, label_directions(x, y, 2), x)
        >>> e.flip_rate > 0.9, e.pairs
        (True, 200)
    """
    orig = np.asarray(original, dtype=np.float64)
    cf = np.asarray(counterfactual, dtype=np.float64)
    dirs = np.asarray(directions, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if orig.ndim != 2 or orig.shape != cf.shape:
        raise ValueError(f"original and counterfactual must be equal [m, d], got {list(orig.shape)} and {list(cf.shape)}")
    d = orig.shape[1]
    if dirs.ndim != 2 or dirs.shape[1] != d or ref.ndim != 2 or ref.shape[1] != d:
        raise ValueError(f"directions and reference must be [k, {d}] and [n, {d}]")
    m = orig.shape[0]
    if m == 0:
        return CounterfactualEffect(flip_rate=0.0, mean_shift_sd=0.0, pairs=0)

    flips = fit.predict(orig.astype(np.float32)) != fit.predict(cf.astype(np.float32))
    sd = (ref @ dirs.T).std(axis=0) if len(ref) else np.zeros(len(dirs))
    usable = (np.linalg.norm(dirs, axis=1) > 0) & (sd > 0)
    if usable.any():
        shift = np.abs((cf - orig) @ dirs[usable].T) / sd[usable]  # [m, k_usable]
        mean_shift = float(shift.mean())
    else:
        mean_shift = 0.0
    return CounterfactualEffect(flip_rate=float(flips.mean()), mean_shift_sd=mean_shift, pairs=m)
