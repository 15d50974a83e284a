"""How alike are two sets of representations of the same inputs: CKA, RSA and paired cosines.

All three take ``x`` ``[n, d1]`` and ``y`` ``[n, d2]`` whose rows are aligned: row ``i`` of both
is the same text (in two languages, or seen by two models or checkpoints, or at two layers).

* :func:`linear_cka` -- linear centred kernel alignment (Kornblith et al. 2019): the alignment of
  the two example-by-example similarity structures, invariant to rotations and isotropic
  scaling of either side, so it compares layers of different widths. The plain estimator is
  biased upwards for few examples in many dimensions (two independent noise matrices with
  ``n = 20, d = 100`` score ~0.8); the debiased one (unbiased HSIC, Song et al. 2012) stays
  near 0 there.
* :func:`rsa` -- representational similarity analysis: the Spearman correlation of the two
  representational dissimilarity matrices (1 - Pearson correlation between examples).
* :func:`paired_cosine` -- for two spaces of the same width (e.g. one model, two languages): the
  mean cosine of aligned pairs next to that of non-aligned pairs, and how often a vector's
  nearest neighbour on the other side is its partner.

Everything is computed in float64 on the CPU.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 8))
    >>> q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> round(linear_cka(x, 3.0 * x @ q), 6), round(rsa(x, x), 6)
    (1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

__all__ = [
    "CosineResult",
    "linear_cka",
    "paired_cosine",
    "rsa",
]

# paired_cosine compares [chunk, n] cosine blocks at a time: 4096 x 10k float64 is 330 MB.
_COSINE_CHUNK = 4096


def _pair(x: np.ndarray, y: np.ndarray, min_n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"x and y must be [n, d] matrices, got {list(a.shape)} and {list(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"x has {a.shape[0]} rows but y has {b.shape[0]}")
    if a.shape[0] < min_n:
        raise ValueError(f"{what} needs at least {min_n} examples, got {a.shape[0]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("x and y must be finite")
    return a, b


def _gram_inner(a: np.ndarray, b: np.ndarray) -> float:
    """``<A A^T, B B^T>_F = sum_ij (a_i . a_j)(b_i . b_j)`` by the cheaper route.

    In feature space it is ``||B^T A||_F^2`` (cost ~ n d1 d2), in example space the sum of the
    elementwise product of the two Gram matrices (cost ~ n^2 (d1 + d2), memory n^2): the first
    wins for the usual many-texts, moderate-width case and never needs an n x n matrix.
    """
    n, d1 = a.shape
    d2 = b.shape[1]
    if d1 * d2 <= n * (d1 + d2):
        return float(np.sum((b.T @ a) ** 2))
    return float(np.sum((a @ a.T) * (b @ b.T)))


def linear_cka(x: np.ndarray, y: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same ``n`` examples.

    With column-centred ``X``, ``Y`` and Gram matrices ``K = X X^T``, ``L = Y Y^T``:
    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``. Plain CKA uses ``HSIC = <K, L>_F``
    (equal to ``||Y^T X||_F^2``); debiased CKA uses the unbiased estimator with zeroed diagonals
    ``K~``, ``L~`` (Song et al. 2012)::

        HSIC_u = [tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))

    Every term is computed from ``||Y^T X||_F^2`` and the row norms, so neither route needs an
    ``n x n`` matrix when the widths are moderate.

    Args:
        x: ``[n, d1]`` representations.
        y: ``[n, d2]`` representations of the same examples, row by row.
        debiased: use the unbiased HSIC estimator (needs ``n >= 4``; may come out slightly
            negative for unrelated representations).

    Returns:
        CKA; 0.0 when either side has no variance (CKA is undefined there).

    Raises:
        ValueError: not matrices, different ``n``, ``n < 2`` (``n < 4`` debiased), or
            non-finite values.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(20, 100)), rng.normal(size=(20, 100))  # independent noise
        >>> round(linear_cka(a, b), 2), abs(linear_cka(a, b, debiased=True)) < 0.1
        (0.82, True)
    """
    a, b = _pair(x, y, 4 if debiased else 2, "debiased CKA" if debiased else "CKA")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    if not debiased:
        kl, kk, ll = _gram_inner(a, b), _gram_inner(a, a), _gram_inner(b, b)
        return float(kl / np.sqrt(kk * ll)) if kk > 0 and ll > 0 else 0.0

    n = a.shape[0]
    da = np.einsum("ij,ij->i", a, a)  # diag(K)
    db = np.einsum("ij,ij->i", b, b)  # diag(L)

    # For centred features K 1 = X (X^T 1) = 0, so with the diagonal removed: K~ 1 = -diag(K),
    # 1'K~1 = -tr(K), 1'K~L~1 = diag(K).diag(L), tr(K~ L~) = <K, L>_F - diag(K).diag(L).
    def hsic_u(kl: float, dk: np.ndarray, dl: np.ndarray) -> float:
        dkl = float(dk @ dl)
        trace_term = kl - dkl
        sum_term = float(dk.sum()) * float(dl.sum()) / ((n - 1) * (n - 2))
        return (trace_term + sum_term - 2.0 / (n - 2) * dkl) / (n * (n - 3))

    kl = hsic_u(_gram_inner(a, b), da, db)
    kk = hsic_u(_gram_inner(a, a), da, da)
    ll = hsic_u(_gram_inner(b, b), db, db)
    return float(kl / np.sqrt(kk * ll)) if kk > 0 and ll > 0 else 0.0


def _row_correlations(a: np.ndarray) -> np.ndarray:
    """``[n, n]`` Pearson correlation between rows; 0 with a constant row (no pattern)."""
    c = a - a.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(c, axis=1)
    z = c / np.where(norms > 0, norms, 1.0)[:, None]
    return z @ z.T


def rsa(x: np.ndarray, y: np.ndarray) -> float:
    """Representational similarity analysis: Spearman of the two dissimilarity matrices.

    Each side's RDM is ``1 - Pearson correlation`` between its rows (examples); the result is the
    Spearman correlation of the two RDMs' upper triangles (without the diagonal). Memory is
    ``O(n^2)``.

    Args:
        x: ``[n, d1]`` representations (``d1 >= 2``: a row's correlation needs a spread).
        y: ``[n, d2]`` representations of the same examples.

    Returns:
        The Spearman correlation; 0.0 when either RDM is constant.

    Raises:
        ValueError: not matrices, different ``n``, ``n < 3``, or non-finite values.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x = rng.normal(size=(30, 10))
        >>> rsa(x, np.exp(x)) > 0.5, abs(rsa(x, rng.normal(size=(30, 10)))) < 0.2
        (True, True)
    """
    a, b = _pair(x, y, 3, "RSA")
    iu = np.triu_indices(a.shape[0], k=1)
    ra = 1.0 - _row_correlations(a)[iu]
    rb = 1.0 - _row_correlations(b)[iu]
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return 0.0
    return float(scipy.stats.spearmanr(ra, rb).statistic)


@dataclass
class CosineResult:
    """Cosine similarities of aligned and non-aligned pairs of (centred) vectors.

    Attributes:
        aligned: mean ``cos(x_i, y_i)``.
        unaligned: mean ``cos(x_i, y_j)`` over ``i != j``, the level ``aligned`` should beat.
        retrieval_top1: fraction of ``i`` whose most cosine-similar ``y_j`` is ``y_i`` (chance is
            ``1 / n``).
    """

    aligned: float
    unaligned: float
    retrieval_top1: float


def paired_cosine(x: np.ndarray, y: np.ndarray) -> CosineResult:
    """Cosines between aligned rows of two same-width representations, after centring each.

    Each side is centred by its own mean over the ``n`` examples first: language-model states
    share a large common direction (anisotropy) that makes raw cosines of *any* two texts ~0.9,
    which would hide the difference between aligned and unaligned pairs. A zero row (after
    centring) has cosine 0 with everything.

    Args:
        x: ``[n, d]`` representations.
        y: ``[n, d]`` representations of the same examples (same width ``d``).

    Returns:
        :class:`CosineResult`.

    Raises:
        ValueError: not matrices, shapes differ, ``n < 2``, or non-finite values.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(40, 16))
        >>> r = paired_cosine(x + 5.0, x + 0.01 * rng.normal(size=x.shape))
        >>> round(r.aligned, 3), r.retrieval_top1, abs(r.unaligned) < 0.1
        (1.0, 1.0, True)
    """
    a, b = _pair(x, y, 2, "paired cosine")
    if a.shape != b.shape:
        raise ValueError(f"paired cosine needs the same width, got {a.shape[1]} and {b.shape[1]}")

    def unit(m: np.ndarray) -> np.ndarray:
        m = m - m.mean(axis=0)
        norms = np.linalg.norm(m, axis=1)
        return m / np.where(norms > 0, norms, 1.0)[:, None]

    ua, ub = unit(a), unit(b)
    n = a.shape[0]
    diag = np.einsum("ij,ij->i", ua, ub)
    total = 0.0
    hits = 0
    for start in range(0, n, _COSINE_CHUNK):
        block = ua[start : start + _COSINE_CHUNK] @ ub.T  # [chunk, n]
        total += float(block.sum())
        hits += int(np.sum(np.argmax(block, axis=1) == np.arange(start, start + block.shape[0])))
    aligned = float(diag.mean())
    return CosineResult(
        aligned=aligned,
        unaligned=(total - float(diag.sum())) / (n * (n - 1)),
        retrieval_top1=hits / n,
    )
