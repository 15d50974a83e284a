"""Streaming per-neuron statistics over a dataset: moments, a histogram and top-k examples.

A dataset-scale pass sees activations batch by batch (``[n_tokens, width]`` per batch, often
millions of tokens in all) and can keep neither the activations nor their powers around. The
three accumulators here hold O(width) or O(width * k) state, accept batches of any size and of any
float dtype, and can be merged, so that several workers can each scan a shard and combine their
results at the end.

* :class:`RunningMoments` -- count, mean, variance, skewness, excess kurtosis, max, min and the
  fractions of zero and positive activations of every neuron, plus layer-level aggregates.
* :class:`StreamingHistogram` -- counts of all values on bin edges fixed by the first batch.
* :class:`TopKTracker` -- the k largest activations of every neuron with where they occurred.

Example:
    >>> import torch
    >>> m = RunningMoments(width=2)
    >>> m.update(torch.tensor([[1.0, 0.0], [3.0, 0.0]]))
    >>> m.update(torch.tensor([[5.0, 2.0]]))
    >>> m.count, m.mean.tolist(), m.fraction_zero.tolist()
    (3, [3.0, 0.6666666666666666], [0.0, 0.6666666666666666])
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "RunningMoments",
    "StreamingHistogram",
    "TopKTracker",
]

_F64 = torch.float64

# Batches are converted to float64 (and their deviations raised to the 4th power) a slice at a
# time so that a huge batch never needs several float64 copies of itself at once: 2**24 float64
# values are 128 MiB.
_MOMENT_CHUNK_ELEMENTS = 2**24

# The histogram's range comes from the first batch's 0.1% / 99.9% quantiles, estimated from a
# seeded subsample of at most 100,000 values: torch.quantile sorts its input (a 600k-value first
# batch of one layer took 33 ms, i.e. seconds over a 60-site analysis), and 100k draws pin those
# quantiles to ~1e-4 in probability, far inside the +-50% margin added around them.
_QUANTILE_SAMPLE = 100_000
_QUANTILE_SEED = 0

# TopKTracker concatenates [width, k + chunk] candidates per step; ~32M elements keeps that
# (float32 values plus two int64 index tensors) around 640 MB at worst.
_TOPK_CHUNK_ELEMENTS = 32 * 2**20


def _central_sums(x: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Count, mean and central moment sums of one batch, per column.

    Args:
        x: ``[n, width]`` float32 or float64, ``n >= 1``.

    Returns:
        ``(n, mean, M2, M3, M4)`` with ``M_p = sum_i (x_i - mean)^p``, each ``[width]`` float64.
    """
    n = x.shape[0]
    # Deviations from the batch's own mean (two-pass), so that a column like 1e4 + noise does not
    # lose its variance to cancellation as raw power sums (sum x^2 - n mean^2) would. A float32
    # batch stays float32 -- a float64 copy, or float64 accumulation, of every batch costs
    # several times the statistics themselves: its sums are float32 cascade sums (relative error
    # ~1e-7 over a batch) taken around its mean rounded to float32, ``c``, and moved to the exact
    # mean with the binomial shift below in float64; the shift ``e = mean - c`` is tiny, so
    # nothing cancels. Float64 batches take the same path in float64.
    c = (x.sum(dim=0) / n).to(x.dtype)
    d = x - c
    d2 = d * d
    s1 = d.sum(dim=0).to(_F64)
    s2 = d2.sum(dim=0).to(_F64)
    s3 = (d2 * d).sum(dim=0).to(_F64)
    s4 = (d2 * d2).sum(dim=0).to(_F64)
    e = s1 / n
    m2 = s2 - n * e * e
    m3 = s3 - 3 * e * s2 + 2 * n * e**3
    m4 = s4 - 4 * e * s3 + 6 * e * e * s2 - 3 * n * e**4
    return n, c.to(_F64) + e, m2, m3, m4


def _merge_moments(
    a: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    b: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Combine two sets of ``(n, mean, M2, M3, M4)`` exactly (Chan et al. 1979; Pebay 2008).

    The pairwise update formulas express the central sums of the union through the two parts'
    central sums and the difference of their means, so nothing is ever subtracted from a
    large raw power sum. Counts are python ints; the float64 arithmetic below promotes them.
    """
    na, mean_a, m2a, m3a, m4a = a
    nb, mean_b, m2b, m3b, m4b = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    delta = mean_b - mean_a
    delta_n = delta / n
    delta_n2 = delta_n * delta_n
    term1 = delta * delta_n * na * nb  # = delta^2 na nb / n
    mean = mean_a + delta_n * nb
    m2 = m2a + m2b + term1
    m3 = m3a + m3b + term1 * delta_n * (na - nb) + 3.0 * delta_n * (na * m2b - nb * m2a)
    m4 = (
        m4a
        + m4b
        + term1 * delta_n2 * (na * na - na * nb + nb * nb)
        + 6.0 * delta_n2 * (na * na * m2b + nb * nb * m2a)
        + 4.0 * delta_n * (na * m3b - nb * m3a)
    )
    return n, mean, m2, m3, m4


def _as_2d(x: torch.Tensor, width: int, name: str = "x") -> torch.Tensor:
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"{name} must have shape [n_tokens, {width}], got {list(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


class RunningMoments:
    """Per-neuron count, mean, central moments, extremes and sign fractions of a stream.

    Every batch's own mean and central moment sums ``M2, M3, M4`` (sums accumulated in float64)
    are merged into the running ones with the exact pairwise formulas of Chan et al. / Pebay
    (2008), so the result equals a two-pass float64 computation over all values, even for
    neurons with a large mean and a small spread: to ~1e-12 relative for float64 batches, and
    to ~1e-6 for float32 batches, whose deviations and batch sums are kept in float32.

    Attributes:
        width: number of neurons.
        count: number of tokens seen (python int; every neuron sees every token).
        mean: ``[width]`` float64.
        m2, m3, m4: ``[width]`` float64 sums of the 2nd, 3rd and 4th powers of deviations from
            ``mean``.
        max, min: ``[width]`` float64; ``-inf`` / ``+inf`` until a token is seen.
        n_zero: ``[width]`` int64, tokens with ``|x| <= zero_threshold``.
        n_positive: ``[width]`` int64, tokens with ``x > 0``.

    With ``count == 0`` the moments, fractions and derived statistics are all 0.

    Example:
        >>> import torch
        >>> m = RunningMoments(3)
        >>> m.update(torch.randn(100, 3))
        >>> m.std.shape, m.count
        (torch.Size([3]), 100)
    """

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.width = width
        self.count = 0
        self.mean = torch.zeros(width, dtype=_F64)
        self.m2 = torch.zeros(width, dtype=_F64)
        self.m3 = torch.zeros(width, dtype=_F64)
        self.m4 = torch.zeros(width, dtype=_F64)
        self.max = torch.full((width,), -torch.inf, dtype=_F64)
        self.min = torch.full((width,), torch.inf, dtype=_F64)
        self.n_zero = torch.zeros(width, dtype=torch.int64)
        self.n_positive = torch.zeros(width, dtype=torch.int64)

    # -- accumulation -------------------------------------------------------------------------

    def _state(self) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.count, self.mean, self.m2, self.m3, self.m4

    def _set_state(self, state: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        self.count, self.mean, self.m2, self.m3, self.m4 = state

    def update(self, x: torch.Tensor, zero_threshold: float = 1e-6) -> None:
        """Add a batch of activations.

        Args:
            x: ``[n_tokens, width]`` of any float dtype and device; ``n_tokens`` may be 0 (a
                no-op). Statistics are accumulated on the CPU in float64.
            zero_threshold: a value counts as zero when ``|x| <= zero_threshold``.
        """
        x = _as_2d(x, self.width)
        if x.shape[0] == 0:
            return
        rows = max(1, _MOMENT_CHUNK_ELEMENTS // self.width)
        for chunk in x.split(rows, dim=0):
            c = chunk.detach().to(device="cpu")
            if c.dtype != _F64:
                c = c.float()
            self._set_state(_merge_moments(self._state(), _central_sums(c)))
            self.max = torch.maximum(self.max, c.amax(dim=0).to(_F64))
            self.min = torch.minimum(self.min, c.amin(dim=0).to(_F64))
            self.n_zero += torch.count_nonzero(c.abs() <= zero_threshold, dim=0)
            self.n_positive += torch.count_nonzero(c > 0, dim=0)

    def merge(self, other: RunningMoments) -> None:
        """Fold another tracker (e.g. another worker's shard) into this one, exactly."""
        if other.width != self.width:
            raise ValueError(f"cannot merge width {other.width} into width {self.width}")
        self._set_state(_merge_moments(self._state(), other._state()))
        self.max = torch.maximum(self.max, other.max)
        self.min = torch.minimum(self.min, other.min)
        self.n_zero = self.n_zero + other.n_zero
        self.n_positive = self.n_positive + other.n_positive

    # -- per-neuron statistics ------------------------------------------------------------------

    def _degenerate(self) -> torch.Tensor:
        """``[width]`` bool: neurons whose spread is rounding noise relative to their mean.

        A constant column's M2 comes out as ~1e-30 rather than 0 after float64 merging, and
        dividing M4 by its square would turn that noise into an arbitrary kurtosis.
        """
        return self.m2 <= 1e-12 * self.count * (1.0 + self.mean * self.mean)

    @property
    def variance(self) -> torch.Tensor:
        """``[width]`` float64 population variance ``M2 / n``."""
        return self.m2 / max(self.count, 1)

    @property
    def std(self) -> torch.Tensor:
        """``[width]`` float64 population standard deviation ``sqrt(M2 / n)``."""
        return self.variance.sqrt()

    @property
    def skewness(self) -> torch.Tensor:
        """``[width]`` float64 population skewness ``sqrt(n) M3 / M2^1.5``; 0 where M2 is ~0."""
        n = self.count
        skew = n**0.5 * self.m3 / self.m2.pow(1.5)
        return torch.where(self._degenerate(), torch.zeros_like(skew), skew)

    @property
    def kurtosis(self) -> torch.Tensor:
        """``[width]`` float64 excess kurtosis ``n M4 / M2^2 - 3``; 0 where M2 is ~0.

        This is the biased (population) estimator, as ``scipy.stats.kurtosis(fisher=True,
        bias=True)``; at dataset scale the bias correction is negligible.
        """
        kurt = self.count * self.m4 / (self.m2 * self.m2) - 3.0
        return torch.where(self._degenerate(), torch.zeros_like(kurt), kurt)

    @property
    def fraction_zero(self) -> torch.Tensor:
        """``[width]`` float64 fraction of tokens with ``|x| <= zero_threshold``."""
        return self.n_zero.to(_F64) / max(self.count, 1)

    @property
    def fraction_positive(self) -> torch.Tensor:
        """``[width]`` float64 fraction of tokens with ``x > 0``."""
        return self.n_positive.to(_F64) / max(self.count, 1)

    # -- layer-level aggregates ---------------------------------------------------------------

    def layer_summary(self) -> dict[str, float | int]:
        """Statistics over all ``count * width`` entries of the layer, from the accumulators.

        Every neuron saw the same ``count`` tokens, so the layer's mean is the mean of the
        neuron means, and its central sum of squares is the law of total variance (the same
        merge as above, applied across neurons): ``sum_j M2_j + count * sum_j (mean_j - mean)^2``.

        Returns:
            ``count`` (tokens), ``n_values`` (tokens x neurons), ``mean``, ``std`` (population),
            ``fraction_zero``, ``fraction_positive``, ``max``, ``min`` and ``median_kurtosis``
            (the median over neurons of the per-neuron excess kurtosis; the average of the two
            middle values when ``width`` is even). With ``count == 0`` every value is 0.
        """
        n_values = self.count * self.width
        if n_values == 0:
            zero = dict.fromkeys(("mean", "std", "fraction_zero", "fraction_positive", "max", "min", "median_kurtosis"), 0.0)
            return {"count": 0, "n_values": 0, **zero}
        grand_mean = self.mean.mean()
        between = ((self.mean - grand_mean) ** 2).sum() * self.count
        m2 = self.m2.sum() + between
        return {
            "count": self.count,
            "n_values": n_values,
            "mean": float(grand_mean),
            "std": float((m2 / n_values).sqrt()),
            "fraction_zero": int(self.n_zero.sum()) / n_values,
            "fraction_positive": int(self.n_positive.sum()) / n_values,
            "max": float(self.max.max()),
            "min": float(self.min.min()),
            # numpy's median averages the two middle values; torch.median returns the lower one.
            "median_kurtosis": float(np.median(self.kurtosis.numpy())),
        }


class StreamingHistogram:
    """Counts of a stream of values on bin edges fixed by the first non-empty batch.

    The edges are chosen once, from the first batch that holds any values: with ``lo`` and ``hi``
    its 0.1% and 99.9% quantiles (estimated from a seeded random subsample of at most 100,000
    values when the batch is larger), ``edges = linspace(lo - (hi - lo) / 2, hi + (hi - lo) / 2,
    bins + 1)``; if ``hi == lo`` both are first moved apart by ``max(1e-6, |lo| * 1e-3)``. Later
    batches never move the edges, so counts from any number of batches (or of histograms with
    the same edges, see :meth:`merge`) add up.

    Binning rule: bins are half-open, ``edges[i] <= x < edges[i + 1]``, computed with float32
    arithmetic (``torch.histc``, ~6x faster than a search against the edges), so a value within
    float32 rounding of an inner edge may land in either of its two bins. Values ``x < edges[0]`` (and ``-inf``) count as
    ``underflow``, values ``x >= edges[-1]`` (and ``+inf``) as ``overflow`` -- note that this
    differs from ``numpy.histogram``, whose last bin also holds ``edges[-1]``. NaNs count in
    ``n_nan`` only. ``sum(counts) + underflow + overflow + n_nan`` is the number of values seen.

    Attributes:
        bins: number of bins.
        edges: ``[bins + 1]`` float64 tensor, or ``None`` before the first non-empty update.
        counts: ``[bins]`` int64.
        underflow, overflow, n_nan: ints.

    Example:
        >>> import torch
        >>> h = StreamingHistogram(bins=4)
        >>> h.update(torch.tensor([0.0, 1.0, 2.0, 3.0]))
        >>> h.counts.sum().item() + h.underflow + h.overflow
        4
    """

    def __init__(self, bins: int) -> None:
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        self.bins = bins
        self.edges: torch.Tensor | None = None
        self.counts = torch.zeros(bins, dtype=torch.int64)
        self.underflow = 0
        self.overflow = 0
        self.n_nan = 0

    @property
    def total(self) -> int:
        """Number of values seen, NaNs included."""
        return int(self.counts.sum()) + self.underflow + self.overflow + self.n_nan

    def _choose_edges(self, flat: torch.Tensor) -> torch.Tensor:
        finite = flat[torch.isfinite(flat)]
        if finite.numel() == 0:
            # Nothing to estimate a range from; centre the default width on 0.
            lo = hi = 0.0
        else:
            if finite.numel() > _QUANTILE_SAMPLE:
                # Sampling with replacement: randperm over 1e8+ values would cost more memory
                # than the batch, and the quantile estimate is just as good.
                g = torch.Generator().manual_seed(_QUANTILE_SEED)
                finite = finite[torch.randint(finite.numel(), (_QUANTILE_SAMPLE,), generator=g)]
            q = torch.quantile(finite.to(_F64), torch.tensor([0.001, 0.999], dtype=_F64))
            lo, hi = float(q[0]), float(q[1])
        if hi == lo:
            widen = max(1e-6, abs(lo) * 1e-3)
            lo, hi = lo - widen, hi + widen
        span = hi - lo
        # Edges are float32 numbers (held as float64), so float32 batches compare to them exactly.
        return torch.linspace(lo - 0.5 * span, hi + 0.5 * span, self.bins + 1, dtype=_F64).float().to(_F64)

    def update(self, x: torch.Tensor) -> None:
        """Add all values of ``x`` (any shape, any real dtype; flattened). Empty ``x`` is a no-op."""
        flat = x.detach().reshape(-1).to("cpu")
        if flat.numel() == 0:
            return
        if self.edges is None:
            self.edges = self._choose_edges(flat)
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        # histc bins [lo, hi] in equal widths and ignores values outside (and NaN); its upper
        # bound is moved just below ``hi`` so that x == hi is outside too (it is overflow here).
        below_hi = float(torch.nextafter(torch.tensor(hi, dtype=torch.float32), torch.tensor(-torch.inf)))
        for chunk in flat.split(_MOMENT_CHUNK_ELEMENTS):
            c = chunk if chunk.dtype == _F64 else chunk.float()
            tally = torch.histc(c, bins=self.bins, min=lo, max=below_hi).to(torch.int64)
            under = int(torch.count_nonzero(c < lo))
            over = int(torch.count_nonzero(c >= hi))
            self.underflow += under
            self.overflow += over
            self.counts += tally
            self.n_nan += c.numel() - under - over - int(tally.sum())

    def merge(self, other: StreamingHistogram) -> None:
        """Add another histogram's counts; both must have the same edges (or one none yet)."""
        if other.edges is None:
            return
        if self.edges is None:
            if other.bins != self.bins:
                raise ValueError(f"cannot merge {other.bins} bins into {self.bins}")
            self.edges = other.edges.clone()
        elif not torch.equal(self.edges, other.edges):
            raise ValueError("cannot merge histograms with different bin edges")
        self.counts = self.counts + other.counts
        self.underflow += other.underflow
        self.overflow += other.overflow
        self.n_nan += other.n_nan


class TopKTracker:
    """The ``k`` largest activations of every neuron, with the (text, position) of each.

    Memory is bounded by ``width * k`` whatever the stream length: each update concatenates the
    current top-k with the batch along the token axis and keeps ``torch.topk`` of the result,
    in chunks small enough that the ``[width, k + chunk]`` candidates stay around 32M elements.
    Ties may come out in any order. NaN activations are treated as ``-inf`` so that they never
    displace a real value.

    Attributes:
        width, k: sizes.
        values: ``[width, k]`` float32, sorted descending per neuron; ``-inf`` in unfilled slots.
        text_index, position: ``[width, k]`` int64; ``-1`` in unfilled slots.

    Example:
        >>> import torch
        >>> t = TopKTracker(width=1, k=2)
        >>> t.update(torch.tensor([[1.0], [3.0], [2.0]]), torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]))
        >>> t.top(0)
        [(3.0, 0, 1), (2.0, 1, 0)]
    """

    def __init__(self, width: int, k: int) -> None:
        if width < 1 or k < 1:
            raise ValueError(f"width and k must be >= 1, got width={width}, k={k}")
        self.width = width
        self.k = k
        self.values = torch.full((width, k), -torch.inf, dtype=torch.float32)
        self.text_index = torch.full((width, k), -1, dtype=torch.int64)
        self.position = torch.full((width, k), -1, dtype=torch.int64)

    def _absorb(self, values: torch.Tensor, text_index: torch.Tensor, position: torch.Tensor) -> None:
        """Keep the top k of the current slots and ``[width, m]`` candidates."""
        cand_v = torch.cat([self.values, values], dim=1)
        cand_t = torch.cat([self.text_index, text_index], dim=1)
        cand_p = torch.cat([self.position, position], dim=1)
        self.values, order = torch.topk(cand_v, self.k, dim=1, largest=True, sorted=True)
        self.text_index = cand_t.gather(1, order)
        self.position = cand_p.gather(1, order)

    def update(self, x: torch.Tensor, text_index: torch.Tensor, position: torch.Tensor) -> None:
        """Offer a batch of tokens.

        Args:
            x: ``[n_tokens, width]`` activations, any float dtype (kept as float32).
            text_index: ``[n_tokens]`` integer, the dataset index of each token's text.
            position: ``[n_tokens]`` integer, each token's position in its text.
        """
        x = _as_2d(x, self.width)
        n = x.shape[0]
        if text_index.shape != (n,) or position.shape != (n,):
            raise ValueError(
                f"text_index and position must have shape [{n}], got {list(text_index.shape)} and {list(position.shape)}"
            )
        if n == 0:
            return
        chunk = max(1, _TOPK_CHUNK_ELEMENTS // self.width - self.k)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            v = x[start:stop].detach().to(device="cpu", dtype=torch.float32)
            # topk ranks NaN above everything; map it to -inf (and leave +-inf alone).
            v = torch.nan_to_num(v, nan=-torch.inf, posinf=torch.inf, neginf=-torch.inf)
            t = text_index[start:stop].to(device="cpu", dtype=torch.int64)
            p = position[start:stop].to(device="cpu", dtype=torch.int64)
            if stop - start > self.k:
                # The batch's own top k per neuron first (a selection along the token axis, no
                # transposed copy of the batch), then a merge of 2k candidates per neuron.
                v, rows = torch.topk(v, self.k, dim=0)
                self._absorb(v.T, t[rows].T, p[rows].T)
            else:
                m = stop - start
                self._absorb(v.T, t.expand(self.width, m), p.expand(self.width, m))

    def merge(self, other: TopKTracker) -> None:
        """Fold another tracker's top-k into this one (same width; any k)."""
        if other.width != self.width:
            raise ValueError(f"cannot merge width {other.width} into width {self.width}")
        self._absorb(other.values, other.text_index, other.position)

    def top(self, neuron: int) -> list[tuple[float, int, int]]:
        """``(value, text_index, position)`` of one neuron's filled slots, highest first."""
        if not 0 <= neuron < self.width:
            raise IndexError(f"neuron {neuron} is outside [0, {self.width})")
        vals = self.values[neuron]
        keep = vals != -torch.inf
        return list(
            zip(
                vals[keep].tolist(),
                self.text_index[neuron][keep].tolist(),
                self.position[neuron][keep].tolist(),
                strict=True,
            )
        )
