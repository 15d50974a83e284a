"""Unit tests of the dataset-statistics core (``interp_services.core.activations``) against
direct float64 / numpy / scipy / scikit-learn computations over all values at once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.metrics import roc_auc_score

from interp_services.core.activations import (
    ConceptScores,
    RunningMoments,
    StreamingHistogram,
    TopKTracker,
    aggregate_tokens,
    concept_scores,
    rank_concept_neurons,
)

RTOL = 1e-9

# --------------------------------------------------------------------------------------------
# RunningMoments
# --------------------------------------------------------------------------------------------


def awkward_dataset(n: int = 1500, seed: int = 0) -> torch.Tensor:
    """``[n, 6]`` float64 columns that break naive moment formulas.

    0 standard normal; 1 exponential (skewed, heavy right tail); 2 1e4 + small noise
    (cancellation in raw power sums: sum x^2 - n mean^2 loses ~10 of float64's 16 digits); 3
    constant; 4 ReLU of normal (exact zeros); 5 all zeros.

    The noise of column 2 (std / mean = 1e-5) stays above the degeneracy guard of the kurtosis
    (variance <= 1e-12 (1 + mean^2)), which would treat std / mean <= 1e-6 as constant.
    """
    g = torch.Generator().manual_seed(seed)
    cols = [
        torch.randn(n, generator=g, dtype=torch.float64),
        torch.empty(n, dtype=torch.float64).exponential_(1.0, generator=g),
        1e4 + 1e-1 * torch.randn(n, generator=g, dtype=torch.float64),
        torch.full((n,), 3.25, dtype=torch.float64),
        torch.relu(torch.randn(n, generator=g, dtype=torch.float64)),
        torch.zeros(n, dtype=torch.float64),
    ]
    return torch.stack(cols, dim=1)


# Uneven batches, including a single token and an empty batch.
SPLITS = [0, 1, 1, 7, 250, 250, 250, 900, 1200, 1500]


def feed(x: torch.Tensor, bounds: list[int]) -> RunningMoments:
    m = RunningMoments(x.shape[1])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        m.update(x[lo:hi])
    return m


# The references reduce over a contiguous last axis on purpose: numpy sums a strided axis=0
# naively, and for the 1e4 + noise column the resulting mean error (~n eps 1e4) moves the
# reference skewness by ~1e-8 relative, more than the streaming result is off.


def scipy_kurtosis(a: np.ndarray) -> np.ndarray:
    # scipy warns (and returns NaN) for the constant columns, which the caller masks out.
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return scipy.stats.kurtosis(np.ascontiguousarray(a.T), axis=1, fisher=True, bias=True)


def scipy_skew(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return scipy.stats.skew(np.ascontiguousarray(a.T), axis=1, bias=True)


def assert_matches_direct(m: RunningMoments, x: torch.Tensor, rtol: float = RTOL) -> None:
    a = x.numpy()
    cols = np.ascontiguousarray(a.T)  # [width, n]: pairwise summation, see above
    assert m.count == a.shape[0]
    np.testing.assert_allclose(m.mean.numpy(), cols.mean(axis=1), rtol=rtol, atol=0)
    np.testing.assert_allclose(m.std.numpy(), cols.std(axis=1), rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(m.variance.numpy(), cols.var(axis=1), rtol=rtol, atol=1e-25)
    kurt, skew = scipy_kurtosis(a), scipy_skew(a)
    varying = a.max(axis=0) > a.min(axis=0)
    np.testing.assert_allclose(m.kurtosis.numpy()[varying], kurt[varying], rtol=rtol)
    np.testing.assert_allclose(m.skewness.numpy()[varying], skew[varying], rtol=rtol, atol=1e-12)
    # Constant columns: the guard, not 0/0.
    assert (m.kurtosis.numpy()[~varying] == 0).all()
    assert (m.skewness.numpy()[~varying] == 0).all()
    np.testing.assert_array_equal(m.max.numpy(), a.max(axis=0))
    np.testing.assert_array_equal(m.min.numpy(), a.min(axis=0))
    np.testing.assert_array_equal(m.fraction_zero.numpy(), (np.abs(a) <= 1e-6).mean(axis=0))
    np.testing.assert_array_equal(m.fraction_positive.numpy(), (a > 0).mean(axis=0))


def test_running_moments_match_direct_float64() -> None:
    x = awkward_dataset()
    m = feed(x, SPLITS)
    assert_matches_direct(m, x)
    # Sanity on the awkward columns themselves: the large-mean column keeps its tiny spread.
    assert m.std[2].item() == pytest.approx(1e-1, rel=0.1)
    assert m.fraction_zero[5].item() == 1.0
    assert 0.3 < m.fraction_zero[4].item() < 0.7


def test_running_moments_float32_and_bf16_inputs_are_accumulated_in_float64() -> None:
    x = awkward_dataset(400, seed=1)
    for dtype in (torch.float32, torch.bfloat16):
        low = x.to(dtype)
        m = feed(low, [0, 3, 150, 400])
        # The reference is the same (rounded) values, computed in float64. Float32 batches keep
        # their deviations and batch sums in float32: ~1e-6 relative, not float64 1e-12.
        assert_matches_direct(m, low.to(torch.float64), rtol=1e-5)


def test_running_moments_empty_and_shape_errors() -> None:
    m = RunningMoments(3)
    m.update(torch.empty(0, 3))
    assert m.count == 0
    assert m.layer_summary()["count"] == 0
    with pytest.raises(ValueError):
        m.update(torch.zeros(4, 2))
    with pytest.raises(ValueError):
        m.merge(RunningMoments(2))


def test_running_moments_merge_equals_single_tracker() -> None:
    x = awkward_dataset(seed=2)
    a = feed(x[:613], [0, 1, 100, 613])
    b = feed(x[613:], [0, 500, 500, 887])
    a.merge(b)
    assert_matches_direct(a, x)
    # Merging into an empty tracker, and merging an empty one, are both identities.
    empty = RunningMoments(x.shape[1])
    empty.merge(a)
    assert_matches_direct(empty, x)
    a.merge(RunningMoments(x.shape[1]))
    assert_matches_direct(a, x)


def test_layer_summary_equals_pooled_direct_computation() -> None:
    x = awkward_dataset(seed=3)
    s = feed(x, SPLITS).layer_summary()
    a = x.numpy()
    assert s["count"] == a.shape[0]
    assert s["n_values"] == a.size
    assert s["mean"] == pytest.approx(a.mean(), rel=RTOL)
    assert s["std"] == pytest.approx(a.std(), rel=RTOL)
    assert s["fraction_zero"] == pytest.approx((np.abs(a) <= 1e-6).mean(), rel=1e-15)
    assert s["fraction_positive"] == pytest.approx((a > 0).mean(), rel=1e-15)
    assert s["max"] == a.max()
    assert s["min"] == a.min()
    kurt = np.where(a.max(axis=0) > a.min(axis=0), scipy_kurtosis(a), 0.0)
    assert s["median_kurtosis"] == pytest.approx(np.median(kurt), rel=1e-8, abs=1e-12)


# --------------------------------------------------------------------------------------------
# StreamingHistogram
# --------------------------------------------------------------------------------------------


def test_histogram_counts_everything_and_matches_numpy_in_range() -> None:
    g = torch.Generator().manual_seed(0)
    h = StreamingHistogram(bins=32)
    h.update(torch.empty(0))  # must not fix the edges
    assert h.edges is None
    first = torch.randn(50, 40, generator=g)
    later = 3.0 * torch.randn(3000, generator=g)  # wider: plenty of under- and overflow
    h.update(first)
    edges = h.edges.clone()
    h.update(later)
    assert torch.equal(h.edges, edges)  # fixed by the first batch

    values = torch.cat([first.flatten(), later]).to(torch.float64).numpy()
    assert int(h.counts.sum()) + h.underflow + h.overflow == values.size == h.total
    e = edges.numpy()
    lo, hi = np.quantile(first.to(torch.float64).numpy(), [0.001, 0.999])
    np.testing.assert_allclose(e[[0, -1]], [lo - 0.5 * (hi - lo), hi + 0.5 * (hi - lo)], rtol=1e-6)
    assert h.underflow == int((values < e[0]).sum()) > 0
    assert h.overflow == int((values >= e[-1]).sum()) > 0
    in_range = values[(values >= e[0]) & (values < e[-1])]
    np.testing.assert_array_equal(h.counts.numpy(), np.histogram(in_range, bins=e)[0])


def test_histogram_edge_rule_and_constant_first_batch() -> None:
    h = StreamingHistogram(bins=4)
    h.update(torch.full((10,), 2.0))
    e = h.edges
    assert e[0] < 2.0 < e[-1]
    # Exact edges: the last edge goes to overflow, the first edge into bin 0, an inner edge to
    # one of its two bins (float32 binning arithmetic); NaN is counted apart, +-inf as over/underflow.
    h2 = StreamingHistogram(bins=4)
    h2.update(torch.tensor([0.0, 4.0]))
    e2 = h2.edges
    base = (h2.counts.clone(), h2.underflow, h2.overflow)
    h2.update(torch.tensor([e2[0].item(), e2[1].item(), e2[-1].item(), float("nan"), float("inf"), -float("inf")],
                           dtype=torch.float64))
    assert h2.counts[0] - base[0][0] >= 1 and (h2.counts[0] + h2.counts[1]) - (base[0][0] + base[0][1]) == 2
    assert h2.overflow - base[2] == 2 and h2.underflow - base[1] == 1 and h2.n_nan == 1
    assert h2.total == 8


def test_histogram_large_first_batch_uses_subsample() -> None:
    h = StreamingHistogram(bins=8)
    x = torch.linspace(-1.0, 1.0, 1_200_001)  # above the 100k subsample limit
    h.update(x)
    assert h.edges[0].item() == pytest.approx(-2.0, abs=0.02)
    assert h.edges[-1].item() == pytest.approx(2.0, abs=0.02)
    assert h.total == x.numel()
    other = StreamingHistogram(bins=8)
    other.update(x)
    assert torch.equal(other.edges, h.edges)  # seeded: deterministic
    h.merge(other)
    assert h.total == 2 * x.numel()


# --------------------------------------------------------------------------------------------
# TopKTracker
# --------------------------------------------------------------------------------------------


def brute_force_top(x: torch.Tensor, text: torch.Tensor, pos: torch.Tensor, k: int):
    vals, idx = torch.topk(x.T, k, dim=1, sorted=True)
    return vals, text[idx], pos[idx]


def test_topk_equals_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    width, k = 7, 5
    batches = [torch.randn(n, width, generator=g) for n in (3, 0, 1, 40, 17)]
    texts = [torch.full((b.shape[0],), i) for i, b in enumerate(batches)]
    positions = [torch.arange(b.shape[0]) for b in batches]
    t = TopKTracker(width, k)
    assert t.top(0) == []
    for b, ti, p in zip(batches, texts, positions, strict=True):
        t.update(b, ti, p)
    x, text, pos = torch.cat(batches), torch.cat(texts), torch.cat(positions)
    vals, tt, pp = brute_force_top(x, text, pos, k)
    assert torch.equal(t.values, vals)
    assert torch.equal(t.text_index, tt)
    assert torch.equal(t.position, pp)
    assert t.top(3) == list(zip(vals[3].tolist(), tt[3].tolist(), pp[3].tolist(), strict=True))


def test_topk_merge_partial_fill_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    import interp_services.core.activations.stats as stats

    g = torch.Generator().manual_seed(1)
    width, k = 4, 6
    x = torch.randn(50, width, generator=g)
    text = torch.arange(50) // 10
    pos = torch.arange(50) % 10

    # Fewer tokens than k: only the filled slots come back.
    small = TopKTracker(width, k)
    small.update(x[:2], text[:2], pos[:2])
    assert len(small.top(0)) == 2

    # Force tiny chunks (width * (k + chunk) just above the limit) to exercise the loop.
    monkeypatch.setattr(stats, "_TOPK_CHUNK_ELEMENTS", width * (k + 3))
    a, b = TopKTracker(width, k), TopKTracker(width, k)
    a.update(x[:20], text[:20], pos[:20])
    b.update(x[20:], text[20:], pos[20:])
    a.merge(b)
    vals, tt, pp = brute_force_top(x, text, pos, k)
    assert torch.equal(a.values, vals)
    assert torch.equal(a.text_index, tt)
    assert torch.equal(a.position, pp)


def test_topk_ignores_nan() -> None:
    t = TopKTracker(1, 2)
    t.update(torch.tensor([[float("nan")], [1.0], [0.5]]), torch.tensor([0, 1, 2]), torch.tensor([0, 0, 0]))
    assert t.top(0) == [(1.0, 1, 0), (0.5, 2, 0)]


# --------------------------------------------------------------------------------------------
# concept_scores / rank_concept_neurons
# --------------------------------------------------------------------------------------------


def concept_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n1, n2, m = 25, 40, 12
    concept = rng.normal(size=(n1, m))
    control = rng.normal(size=(n2, m))
    concept[:, 7] += 20.0  # the planted neuron: every concept text above every control text
    concept[:, 2] += 0.8  # a weaker one
    # Ties: a coarse, discrete neuron (AUROC must count a tie as half).
    concept[:, 4] = rng.integers(0, 3, n1)
    control[:, 4] = rng.integers(0, 3, n2)
    concept[:, 9] = control[:, 9] = 1.5  # all tied: the guard
    concept[:, 10], control[:, 10] = 2.0, 0.0  # each group constant but separated
    return concept, control


def test_concept_scores_against_sklearn_scipy_and_hand_computation() -> None:
    concept, control = concept_data()
    s = concept_scores(concept, control)
    n1, n2, m = concept.shape[0], control.shape[0], concept.shape[1]
    labels = np.r_[np.ones(n1), np.zeros(n2)]
    for j in range(m):
        col = np.r_[concept[:, j], control[:, j]]
        if j == 9:
            assert s.auroc[j] == 0.5 and s.p_value[j] == 1.0 and s.effect_size[j] == 0.0
            continue
        assert s.auroc[j] == pytest.approx(roc_auc_score(labels, col), abs=1e-12)
        ref = scipy.stats.mannwhitneyu(concept[:, j], control[:, j], alternative="two-sided", method="asymptotic",
                                       use_continuity=True)
        assert s.p_value[j] == pytest.approx(ref.pvalue, rel=1e-12)
        if j == 10:
            assert s.effect_size[j] == 0.0  # pooled std 0
            continue
        pooled = np.sqrt(((n1 - 1) * concept[:, j].var(ddof=1) + (n2 - 1) * control[:, j].var(ddof=1)) / (n1 + n2 - 2))
        assert s.effect_size[j] == pytest.approx((concept[:, j].mean() - control[:, j].mean()) / pooled, rel=1e-12)
    np.testing.assert_allclose(s.concept_mean, concept.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(s.control_mean, control.mean(axis=0), rtol=1e-14)
    assert s.auroc[7] == 1.0 and s.auroc[10] == 1.0
    # Smallest p of the neurons with spread (the constant-but-separated neuron 10 has a tie
    # correction that shrinks its variance and so its p-value even further).
    assert s.p_value[7] == np.delete(s.p_value, 10).min()
    assert all(v.dtype == np.float64 and v.shape == (m,) for v in vars(s).values())
    assert rank_concept_neurons(s, top_k=3)[:2] == [7, 10]  # same AUROC; larger effect first
    assert rank_concept_neurons(s, top_k=0) == []


def test_concept_scores_accepts_torch_and_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import interp_services.core.activations.concept as concept_module

    concept, control = concept_data(seed=1)
    whole = concept_scores(concept, control)
    monkeypatch.setattr(concept_module, "_NEURON_CHUNK", 5)
    chunked = concept_scores(torch.from_numpy(concept).float(), torch.from_numpy(control).float())
    np.testing.assert_allclose(chunked.auroc, whole.auroc, atol=1e-12)
    np.testing.assert_allclose(chunked.p_value, whole.p_value, rtol=1e-5)


def test_multiple_testing_corrections_on_a_known_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    import interp_services.core.activations.concept as concept_module

    p = np.array([0.01, 0.04, 0.03, 0.5])

    class FakeResult:
        statistic = np.full(4, 2.0)
        pvalue = p

    monkeypatch.setattr(concept_module.scipy.stats, "mannwhitneyu", lambda *a, **k: FakeResult())
    s = concept_scores(np.arange(8.0).reshape(2, 4), np.arange(8.0).reshape(2, 4) + 1)
    np.testing.assert_allclose(s.p_bonferroni, [0.04, 0.16, 0.12, 1.0])
    # BH by hand: sorted p 0.01, 0.03, 0.04, 0.5 -> p * m / rank = 0.04, 0.06, 0.0533, 0.5,
    # then the running minimum from the top.
    np.testing.assert_allclose(s.q_value, [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_concept_scores_rejects_bad_input() -> None:
    ok = np.zeros((3, 2))
    with pytest.raises(ValueError, match="at least 2"):
        concept_scores(np.zeros((1, 2)), ok)
    with pytest.raises(ValueError, match="at least 2"):
        concept_scores(ok, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="neurons"):
        concept_scores(ok, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        concept_scores(np.full((3, 2), np.nan), ok)


def test_rank_concept_neurons_ties() -> None:
    s = ConceptScores(*(np.asarray(v, dtype=float) for v in (
        [0.9, 1.0, 1.0, 0.2], [5.0, 1.0, 2.0, 9.0], [0.0] * 4, [0.0] * 4, [0.0] * 4, [0.0] * 4, [0.0] * 4)))
    assert rank_concept_neurons(s, top_k=10) == [2, 1, 0, 3]


def test_rank_concept_neurons_in_either_direction() -> None:
    """A neuron the concept suppresses separates the groups as well as one it excites: ranked by
    |AUROC - 0.5| (then |d|), it comes before weaker ones of either sign."""
    rng = np.random.default_rng(3)
    concept, control = rng.normal(size=(20, 6)), rng.normal(size=(30, 6))
    concept[:, 1] += 10.0  # fires more on the concept
    concept[:, 4] -= 14.0  # fires less (suppressed), with a larger effect
    concept[:, 2] -= 0.7  # weakly suppressed
    s = concept_scores(concept, control)
    assert s.auroc[1] == 1.0 and s.auroc[4] == 0.0 and s.effect_size[4] < -s.effect_size[1] < 0
    order = rank_concept_neurons(s, top_k=6)
    assert order[:3] == [4, 1, 2]
    separation = np.abs(s.auroc - 0.5)
    assert list(separation[order]) == sorted(separation, reverse=True)


# --------------------------------------------------------------------------------------------
# aggregate_tokens
# --------------------------------------------------------------------------------------------


def test_aggregate_tokens_respects_mask() -> None:
    g = torch.Generator().manual_seed(0)
    act = torch.randn(3, 6, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 1, 1, 1, 0, 0]])
    act[mask == 0] = 1e30  # padding holding huge values
    act[2, 0, 1] = float("inf")

    values, argmax = aggregate_tokens(act, mask, "max")
    means, argmax_mean = aggregate_tokens(act.to(torch.bfloat16), mask.bool(), "mean")
    assert values.dtype == means.dtype == torch.float32 and argmax.dtype == torch.int64
    for b in range(3):
        keep = mask[b].bool()
        real = act[b, keep]  # [n_real, width]
        first = int(keep.nonzero()[0])
        np.testing.assert_array_equal(values[b].numpy(), real.max(dim=0).values.numpy())
        np.testing.assert_array_equal(argmax[b].numpy(), (real.argmax(dim=0) + first).numpy())
        assert bool(keep[argmax[b]].all())
        ref = act.to(torch.bfloat16)[b, keep].double().mean(dim=0).float()
        torch.testing.assert_close(means[b], ref)
        assert bool(keep[argmax_mean[b]].all())


def test_aggregate_tokens_errors() -> None:
    act = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="unmasked"):
        aggregate_tokens(act, torch.tensor([[1, 0, 0], [0, 0, 0]]), "max")
    with pytest.raises(ValueError, match="how"):
        aggregate_tokens(act, torch.ones(2, 3), "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask"):
        aggregate_tokens(act, torch.ones(3, 2), "max")
