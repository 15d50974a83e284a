"""Minimum description length of labels given representations (Voita & Titov 2020, online code).

Accuracy says *whether* a probe can read a label; description length says how much *effort* it
takes. Imagine sending the labels of ``n`` items to someone who already has the representations:
with the online (prequential) code, the items are shuffled and cut into blocks of growing size;
the first block is sent with the uniform code (``log2 K`` bits per label), and every following
block is sent with a probe trained on all the blocks before it, costing ``-log2 p(y)`` bits per
label. A representation in which the labels are easy to extract compresses them early, from few
examples; one where a probe must memorise pays nearly the uniform cost throughout.

* ``bits`` -- the total codelength of the labels;
* ``uniform_bits = n log2 K`` -- the cost without the representations;
* ``compression = uniform_bits / bits`` -- about 1 for labels the representation says nothing
  about, well above 1 for labels it encodes.

Choices made here (documented because they move the numbers):

* Block ends are the fractions :data:`DEFAULT_BLOCKS` of ``n`` (Voita & Titov's 0.1% ... 100%),
  rounded, deduplicated, and none before ``min(n, max(K, 2))`` items, so that the first probe is
  trained on at least one item per class in the best case rather than on a single item.
* Each block's probe is the same family as the task probe with one fixed ``C`` (typically the one
  :func:`~.probe.fit_probe` chose), standardised with the mean and standard deviation of its own
  training prefix.
* Probabilities are mixed with a small uniform floor, ``(1 - 1e-3) p + 1e-3 / K``: a class absent
  from a prefix (or a confidently wrong prediction) would otherwise cost infinitely many bits. The
  floor caps one label's cost at ``log2(K / 1e-3)`` bits (about 11 for two classes) and costs a
  perfectly predicted label ~0.0014 bits.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 8)).astype(np.float32)
    >>> easy = (x[:, 0] > 0).astype(np.int64)
    >>> noise = rng.integers(0, 2, size=400)
    >>> online_codelength(x, easy, 2, regularization=1.0).compression > 2.0
    True
    >>> online_codelength(x, noise, 2, regularization=1.0).compression < 1.1
    True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from interp_services.core.probing.probe import (
    CLASSIFIERS,
    _check_stop,
    _ConstantClassifier,
    _fit_quietly,
    _new_classifier,
    _proba_all,
    _standardise,
    _standardiser,
)

__all__ = [
    "DEFAULT_BLOCKS",
    "MdlResult",
    "online_codelength",
]

DEFAULT_BLOCKS: tuple[float, ...] = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.0625, 0.125, 0.25, 0.5, 1.0)
"""Block ends as fractions of the items (Voita & Titov 2020)."""

_FLOOR = 1e-3


@dataclass
class MdlResult:
    """Online codelength of a task's labels.

    Attributes:
        bits: total online codelength, in bits.
        uniform_bits: ``n log2 K``, the codelength under the uniform code.
        compression: ``uniform_bits / bits``.
    """

    bits: float
    uniform_bits: float
    compression: float


def _block_ends(n: int, n_labels: int, blocks: Sequence[float]) -> list[int]:
    first = min(n, max(n_labels, 2))
    ends = {min(n, max(first, round(f * n))) for f in blocks if f > 0}
    ends.add(n)
    return sorted(ends)


def online_codelength(
    x: np.ndarray,
    y: np.ndarray,
    n_labels: int,
    *,
    regularization: float,
    seed: int = 0,
    blocks: Sequence[float] = DEFAULT_BLOCKS,
    classifier: str = "logistic",
    mlp_hidden: int = 256,
    stop: Callable[[], bool] | None = None,
) -> MdlResult:
    """Online codelength of ``y`` given ``x`` (Voita & Titov 2020).

    Args:
        x: ``[n, d]`` features of all items (the codelength uses every item, not a split).
        y: ``[n]`` int labels in ``[0, n_labels)``.
        n_labels: ``K >= 2``, the size of the label alphabet (the uniform code's base).
        regularization: the probes' fixed inverse L2 strength ``C`` (> 0).
        seed: seeds the shuffle of the items (and the MLP's initialisation); any int.
        blocks: block ends as increasing fractions of ``n`` in (0, 1]; see the module docstring
            for how they are rounded.
        classifier: ``"logistic"`` or ``"mlp"``, as in :func:`~.probe.fit_probe`.
        mlp_hidden: hidden units of the MLP probe.
        stop: called before every block's fit; when it returns True the computation is abandoned.

    Returns:
        :class:`MdlResult`.

    Raises:
        Cancelled: ``CANCELLED`` when ``stop()`` returned True.
        ValueError: no items, shapes disagree, ``n_labels < 2``, a label out of range, an unknown
            classifier or ``regularization <= 0``.

    Example:
        >>> x = np.zeros((50, 3), dtype=np.float32)
        >>> r = online_codelength(x, np.arange(50) % 2, 2, regularization=1.0)
        >>> r.uniform_bits, 0.9 < r.compression < 1.1
        (50.0, True)
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or len(y) == 0:
        raise ValueError(f"x must be [n, d] and y [n] with n >= 1, got {list(x.shape)} and {list(y.shape)}")
    if n_labels < 2:
        raise ValueError(f"the codelength needs n_labels >= 2, got {n_labels}")
    if y.min() < 0 or y.max() >= n_labels:
        raise ValueError(f"labels must be in [0, {n_labels})")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    if not regularization > 0:
        raise ValueError(f"regularization must be > 0, got {regularization}")

    n = len(y)
    order = np.random.default_rng(seed % 2**64).permutation(n)
    x, y = x[order], y[order]
    ends = _block_ends(n, n_labels, blocks)

    bits = ends[0] * math.log2(n_labels)
    model: Any = None
    for start, end in itertools.pairwise(ends):
        _check_stop(stop, "description-length computation")
        mean, scale = _standardiser(x[:start])
        x_prefix, y_prefix = _standardise(x[:start], mean, scale), y[:start]
        classes = np.unique(y_prefix)
        if classes.size < 2:
            fitted: Any = _ConstantClassifier(int(y_prefix[0]))
        else:
            # The logistic probe is warm-started from the previous (shorter) prefix's solution;
            # the objective is convex, so this changes the time taken, not the optimum. A new
            # class in the prefix changes the coefficient shape, so it starts afresh.
            if classifier != "logistic" or model is None or not np.array_equal(model.classes_, classes):
                model = _new_classifier(classifier, regularization, seed, mlp_hidden)
            fitted = _fit_quietly(model, x_prefix, y_prefix)
        p = _proba_all(fitted, _standardise(x[start:end], mean, scale), n_labels)
        p_true = p[np.arange(end - start), y[start:end]]
        bits += float(-np.log2((1.0 - _FLOOR) * p_true + _FLOOR / n_labels).sum())

    uniform = n * math.log2(n_labels)
    return MdlResult(bits=bits, uniform_bits=uniform, compression=uniform / bits)
