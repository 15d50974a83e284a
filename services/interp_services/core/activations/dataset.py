"""Activation statistics over a dataset, streamed: batches go in, running statistics come out.

:class:`DatasetStatistics` keeps, per (site family, layer), a :class:`RunningMoments` (mean,
std, kurtosis, fractions zero/positive, extremes), a :class:`StreamingHistogram` and a
:class:`TopKTracker` (the top activating token positions of every neuron). Their size depends on
the model's width and ``k``, never on the number of texts: memory stays flat however large the
dataset. The batch's real tokens are selected by the attention mask, so padding never counts.

Definitions (the README repeats them):

* **zero**: ``|x| <= zero_threshold`` (default 1e-6);
* **dead** neuron: zero on at least 99% of tokens;
* **saturated** ("always on") neuron: positive on at least 99% of tokens;
* **outlier** neuron: excess kurtosis above 100 (rare, very large activations).

Example:
    >>> stats = DatasetStatistics({"mlp_post": [0, 1]}, {"mlp_post": 1536}, top_k=5, bins=50)
    >>> stats.update({("mlp_post", 0): act0, ("mlp_post", 1): act1}, mask, text_indices)
    >>> summary = stats.layer_summary("mlp_post", 0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from interp_services.core.activations.stats import RunningMoments, StreamingHistogram, TopKTracker

DEAD_FRACTION = 0.99
SATURATED_FRACTION = 0.99
OUTLIER_KURTOSIS = 100.0
DEFAULT_ZERO_THRESHOLD = 1e-6


@dataclass
class LayerSummary:
    """One layer of one family (see the module docstring for the definitions)."""

    kind: str
    layer: int
    mean: float
    std: float
    fraction_zero: float
    fraction_positive: float
    median_kurtosis: float
    max: float
    min: float
    dead: list[int]
    saturated: list[int]
    outliers: list[int]
    edges: list[float]
    counts: list[int]
    underflow: int
    overflow: int


@dataclass
class _Layer:
    moments: RunningMoments
    histogram: StreamingHistogram
    top: TopKTracker


@dataclass
class DatasetStatistics:
    """Running statistics of several layers of several site families.

    Args:
        layers: family -> analysed layers.
        widths: family -> neurons per layer.
        top_k: top activating positions kept per neuron.
        bins: histogram bins per layer.
        zero_threshold: ``|x|`` at or below this counts as zero.
    """

    layers: Mapping[str, Sequence[int]]
    widths: Mapping[str, int]
    top_k: int = 5
    bins: int = 50
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD
    tokens: int = 0
    texts: int = 0
    _state: dict[tuple[str, int], _Layer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, layers in self.layers.items():
            for layer in layers:
                w = self.widths[kind]
                self._state[(kind, layer)] = _Layer(RunningMoments(w), StreamingHistogram(self.bins), TopKTracker(w, self.top_k))

    def update(self, acts: Mapping[tuple[str, int], torch.Tensor], mask: torch.Tensor, text_indices: Sequence[int]) -> int:
        """Add one batch.

        Args:
            acts: (family, layer) -> ``[batch, pos, width]`` activations.
            mask: ``[batch, pos]``, true on the tokens that count (real, and not excluded).
            text_indices: the dataset index of each row.

        Returns:
            The number of token positions added.
        """
        mask = mask.bool()
        rows, positions = mask.nonzero(as_tuple=True)
        index = torch.tensor(list(text_indices), dtype=torch.long)[rows]
        for key, state in self._state.items():
            x = acts[key][rows, positions]  # [tokens, width]: the real tokens only
            state.moments.update(x, self.zero_threshold)
            state.histogram.update(x)
            state.top.update(x, index, positions)
        self.tokens += int(rows.numel())
        self.texts += len(text_indices)
        return int(rows.numel())

    def moments(self, kind: str, layer: int) -> RunningMoments:
        return self._state[(kind, layer)].moments

    def top(self, kind: str, layer: int) -> TopKTracker:
        return self._state[(kind, layer)].top

    def layer_summary(self, kind: str, layer: int) -> LayerSummary:
        """The layer's summary, dead/saturated/outlier neurons and histogram."""
        s = self._state[(kind, layer)]
        m = s.moments
        agg = m.layer_summary()
        h = s.histogram
        return LayerSummary(
            kind=kind,
            layer=layer,
            mean=float(agg["mean"]),
            std=float(agg["std"]),
            fraction_zero=float(agg["fraction_zero"]),
            fraction_positive=float(agg["fraction_positive"]),
            median_kurtosis=float(agg["median_kurtosis"]),
            max=float(agg["max"]),
            min=float(agg["min"]),
            dead=_where(m.fraction_zero >= DEAD_FRACTION),
            saturated=_where(m.fraction_positive >= SATURATED_FRACTION),
            outliers=_where(m.kurtosis > OUTLIER_KURTOSIS),
            edges=[float(e) for e in (h.edges if h.edges is not None else [])],
            counts=[int(c) for c in h.counts.tolist()],
            underflow=int(h.underflow),
            overflow=int(h.overflow),
        )

    def top_neurons(self, kind: str, layer: int, n: int) -> list[int]:
        """The ``n`` neurons of a layer with the largest activations."""
        if n <= 0:
            return []
        mx = self._state[(kind, layer)].moments.max
        return mx.topk(min(n, mx.numel())).indices.tolist()


def _where(mask: torch.Tensor) -> list[int]:
    return mask.nonzero().flatten().tolist()


def _tally(rows: Sequence[LayerSummary], attr: str) -> tuple[int, int, int, int] | None:
    """(neurons in all, layers that have any, the layer with most, how many there) of one
    neuron list of the summaries (``dead``, ``saturated``, ``outliers``); None when empty."""
    counts = [(s.layer, len(getattr(s, attr))) for s in rows if getattr(s, attr)]
    if not counts:
        return None
    worst = max(counts, key=lambda t: t[1])
    return sum(n for _, n in counts), len(counts), worst[0], worst[1]


def describe_layers(summaries: Sequence[LayerSummary], names: Mapping[str, str]) -> list[str]:
    """The layer-wise picture in words: where activations grow, where neurons are dead,
    saturated or heavy-tailed (``names``: family -> readable name)."""
    out: list[str] = []
    by_kind: dict[str, list[LayerSummary]] = {}
    for s in summaries:
        by_kind.setdefault(s.kind, []).append(s)
    for kind, rows in by_kind.items():
        name = names.get(kind, kind)
        first, last = rows[0], rows[-1]
        if len(rows) > 1:
            ratio = last.std / first.std if first.std > 0 else float("inf")
            trend = "grows" if ratio > 1.5 else "shrinks" if ratio < 1 / 1.5 else "stays about the same"
            out.append(
                f"{name}: the spread of activations {trend} with depth (std {first.std:.3g} at layer {first.layer}, "
                f"{last.std:.3g} at layer {last.layer})."
            )
        widest = max(rows, key=lambda s: s.max)
        out.append(f"{name}: the largest activation, {widest.max:.4g}, is in layer {widest.layer}.")
        dead = _tally(rows, "dead")
        if dead:
            total, n_layers, worst, most = dead
            out.append(
                f"{name}: {total} dead neurons (zero on >= {DEAD_FRACTION:.0%} of tokens) in {n_layers} "
                f"layer(s); most in layer {worst} ({most})."
            )
        else:
            out.append(f"{name}: no dead neurons (none is zero on >= {DEAD_FRACTION:.0%} of tokens).")
        sat = _tally(rows, "saturated")
        if sat:
            total, _, worst, most = sat
            out.append(
                f"{name}: {total} always-on neurons (positive on >= {SATURATED_FRACTION:.0%} of tokens); "
                f"most in layer {worst} ({most})."
            )
        heavy = _tally(rows, "outliers")
        if heavy:
            total, _, worst, most = heavy
            out.append(
                f"{name}: {total} heavy-tailed neurons (excess kurtosis > {OUTLIER_KURTOSIS:.0f}: rare, "
                f"very large activations); most in layer {worst} ({most})."
            )
        sparse = min(rows, key=lambda s: s.fraction_positive)
        out.append(f"{name}: layer {sparse.layer} is the sparsest, positive on {sparse.fraction_positive:.1%} of entries.")
    return out
