"""The discrete Fourier basis over ``Z_p`` and what an embedding matrix looks like in it.

A network that has learned modular addition by the "clock" algorithm (Nanda et al. 2023,
"Progress measures for grokking via mechanistic interpretability") embeds each number ``x`` as
``cos(2 pi k x / p)`` and ``sin(2 pi k x / p)`` for a handful of *key frequencies* ``k`` and
nothing else: in the Fourier basis its embedding matrix is sparse. This module gives that basis,
the embedding's norm per frequency, a rule for picking the key frequencies, and the projection
onto chosen frequencies that the ablations of :mod:`interp_services.core.circuits.modular` use.

Everything is pure torch, float64 inside (the basis is exact to ~1e-15, so orthonormality and
idempotence checks are not blurred by float32 round-off), returned in the caller's dtype.

Frequencies are 1-based: ``k = 1 .. (p - 1) // 2``. For an odd ``p`` (every prime but 2) these
together with the constant are all ``p`` real Fourier components: frequency ``p - k`` is the
same wave as ``k`` (cos equal, sin negated), so it adds nothing new.

Example:
    >>> p = 7
    >>> basis, labels = fourier_basis(p), fourier_labels(p)
    >>> labels
    ['const', 'cos 1', 'sin 1', 'cos 2', 'sin 2', 'cos 3', 'sin 3']
    >>> x = torch.arange(p, dtype=torch.float64)
    >>> emb = torch.stack([torch.cos(2 * math.pi * 2 * x / p), torch.zeros(p)], dim=1)  # [p, 2]
    >>> key_frequencies(frequency_norms(emb))
    [2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "DEFAULT_SHARE",
    "fourier_basis",
    "fourier_labels",
    "frequency_norms",
    "key_frequencies",
    "num_frequencies",
    "project_onto_frequencies",
]

DEFAULT_SHARE = 0.9
"""Default share of the non-constant squared norm that :func:`key_frequencies` must cover."""


def num_frequencies(p: int) -> int:
    """Number of distinct non-constant frequencies over ``Z_p``: ``(p - 1) // 2``."""
    return (p - 1) // 2


def fourier_labels(p: int) -> list[str]:
    """Names of the rows of :func:`fourier_basis`: ``"const"``, ``"cos 1"``, ``"sin 1"``, ...

    For an even ``p`` the last row is ``"cos p/2"`` (the alternating wave, which has no sine).
    """
    labels = ["const"]
    for k in range(1, num_frequencies(p) + 1):
        labels += [f"cos {k}", f"sin {k}"]
    if p % 2 == 0:
        labels.append(f"cos {p // 2}")
    return labels


def fourier_basis(p: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The real orthonormal Fourier basis of functions on ``{0, .., p-1}``.

    Rows, in order: the constant ``1/sqrt(p)``; then for ``k = 1 .. (p-1)//2`` the pair
    ``cos(2 pi k x / p)`` and ``sin(2 pi k x / p)``, each scaled to unit norm (by ``sqrt(2/p)``);
    for an even ``p`` finally the alternating wave ``(-1)^x / sqrt(p)``. Row labels:
    :func:`fourier_labels`.

    Args:
        p: Modulus (size of the domain), ``p >= 1``.
        dtype: Floating dtype of the result (computed in float64).

    Returns:
        ``[p, p]`` tensor ``B`` with orthonormal rows, so ``B @ B.T = I`` and ``B.T @ B = I``;
        ``B @ f`` are the Fourier coefficients of a function ``f [p]`` (or of every column of
        an ``[p, d]`` matrix at once).

    Example:
        >>> B = fourier_basis(5, torch.float64)
        >>> torch.allclose(B @ B.T, torch.eye(5, dtype=torch.float64))
        True
    """
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1.0 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, num_frequencies(p) + 1):
        angle = 2.0 * math.pi * k * x / p
        rows += [torch.cos(angle) * math.sqrt(2.0 / p), torch.sin(angle) * math.sqrt(2.0 / p)]
    if p % 2 == 0:
        rows.append(torch.cos(math.pi * x) / math.sqrt(p))
    return torch.stack(rows).to(dtype)


def frequency_norms(embedding: torch.Tensor) -> torch.Tensor:
    """Norm of an embedding's Fourier component at each frequency (cos and sin together).

    Args:
        embedding: ``[p, d]``: row ``x`` is the embedding of number ``x``.

    Returns:
        ``[(p - 1) // 2]`` float tensor; entry ``k - 1`` is ``sqrt(|C_k|^2 + |S_k|^2)`` where
        ``C_k``, ``S_k`` (each ``[d]``) are the rows ``cos k`` and ``sin k`` of
        ``fourier_basis(p) @ embedding``. Since the basis is orthonormal, the squared entries
        plus the squared constant component sum to the squared Frobenius norm of the embedding.
        (Pairing cos with sin makes the norm independent of the phase: ``cos(w x + phi)`` has
        all its norm at one frequency whatever ``phi`` is.)

    Example:
        >>> x = torch.arange(11, dtype=torch.float64)
        >>> emb = torch.sin(2 * math.pi * 4 * x / 11 + 0.3)[:, None]  # [11, 1]
        >>> int(frequency_norms(emb).argmax()) + 1
        4
    """
    if embedding.ndim != 2:
        raise ValueError(f"embedding must be [p, d], got shape {list(embedding.shape)}")
    p = embedding.shape[0]
    n = num_frequencies(p)
    coeffs = fourier_basis(p, torch.float64) @ embedding.detach().to(torch.float64)  # [p, d]
    pairs = coeffs[1 : 1 + 2 * n].reshape(n, 2, -1)  # [freq, cos/sin, d]
    return pairs.pow(2).sum(dim=(1, 2)).sqrt().to(_float_dtype(embedding))


def key_frequencies(norms: torch.Tensor, *, share: float = DEFAULT_SHARE) -> list[int]:
    """The smallest set of frequencies that holds ``share`` of the embedding's Fourier energy.

    Rule: sort frequencies by squared norm, largest first, and take them until their squared
    norms add up to at least ``share`` of the total squared norm over all non-constant
    frequencies (the constant component is left out: a shift that every number shares carries
    no information about which number it is). A sparse, "grokked" embedding has a few large
    frequencies and a floor of small ones, so the set is small; a dense (e.g. random) embedding
    needs most frequencies to reach the share, which itself says "no Fourier structure". Ties
    in squared norm are broken by the smaller frequency, so the result is deterministic.

    Args:
        norms: ``[(p - 1) // 2]`` per-frequency norms from :func:`frequency_norms`.
        share: Fraction of the non-constant squared norm to cover, in ``(0, 1]``.

    Returns:
        The chosen 1-based frequencies ``k``, in increasing order; empty when every norm is
        zero.

    Example:
        >>> key_frequencies(torch.tensor([0.1, 3.0, 0.1, 4.0, 0.2]))
        [2, 4]
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    energy = norms.detach().to(torch.float64).pow(2)
    total = float(energy.sum())
    if total <= 0.0:
        return []
    # Stable sort of -energy keeps equal energies in frequency order (the tie-break above).
    order = torch.sort(-energy, stable=True).indices.tolist()
    chosen: list[int] = []
    covered = 0.0
    for i in order:
        chosen.append(i + 1)
        covered += float(energy[i])
        # A tiny tolerance so that share=1.0 stops at the last non-zero frequency despite
        # round-off in the sums.
        if covered >= share * total * (1.0 - 1e-12):
            break
    return sorted(chosen)


def project_onto_frequencies(embedding: torch.Tensor, freqs: Sequence[int], p: int | None = None) -> torch.Tensor:
    """Keep the constant and the chosen frequencies' components of an embedding; drop the rest.

    Computes ``B_S.T @ (B_S @ E)`` with ``B_S`` the rows of :func:`fourier_basis` for the
    constant and for ``cos k``, ``sin k`` of every ``k`` in ``freqs``: the orthogonal
    projection of each embedding column onto those functions of ``x``. The constant is kept
    because it is the mean embedding, which the rest of the network is tuned to; removing it
    would test something else than "which frequencies matter".

    Args:
        embedding: ``[p, d]``, row ``x`` the embedding of number ``x``.
        freqs: 1-based frequencies to keep, each in ``1 .. (p - 1) // 2``.
        p: Modulus; defaults to ``embedding.shape[0]`` and must equal it when given.

    Returns:
        ``[p, d]`` in the embedding's dtype. Projecting twice changes nothing (idempotent);
        with all frequencies kept it returns the embedding (up to round-off, odd ``p``).

    Example:
        >>> emb = torch.randn(13, 4)
        >>> only3 = project_onto_frequencies(emb, [3])
        >>> key_frequencies(frequency_norms(only3), share=1.0)
        [3]
    """
    if embedding.ndim != 2:
        raise ValueError(f"embedding must be [p, d], got shape {list(embedding.shape)}")
    p = embedding.shape[0] if p is None else p
    if embedding.shape[0] != p:
        raise ValueError(f"embedding has {embedding.shape[0]} rows, expected p = {p}")
    n = num_frequencies(p)
    bad = [k for k in freqs if not 1 <= int(k) <= n]
    if bad:
        raise ValueError(f"frequencies {bad} are outside 1..{n}")
    basis = fourier_basis(p, torch.float64)
    rows = [0] + [r for k in sorted({int(k) for k in freqs}) for r in (2 * k - 1, 2 * k)]
    kept = basis[rows]  # [1 + 2|S|, p]
    out = kept.T @ (kept @ embedding.detach().to(torch.float64))
    return out.to(_float_dtype(embedding))


def _float_dtype(t: torch.Tensor) -> torch.dtype:
    """The tensor's dtype when floating, else float32 (integer test inputs)."""
    return t.dtype if t.is_floating_point() else torch.float32
