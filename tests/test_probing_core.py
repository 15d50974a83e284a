"""Unit tests of the probing core (``interp_services.core.probing``): splits, control tasks,
probes, description length, structural probes, representation similarity and concept directions,
on synthetic data whose answer is known by construction. No gRPC, no Ray, no model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from interp_services.core.errors import Cancelled, InvalidArgument
from interp_services.core.probing import (
    DEFAULT_REGULARIZATION,
    CosineResult,
    Split,
    baseline_score,
    check_tree,
    clustered_interval,
    control_heads,
    control_labels,
    cosine_matrix,
    counterfactual_effect,
    fit_probe,
    fit_structural,
    group_split,
    items_of,
    label_directions,
    linear_cka,
    majority_baseline,
    online_codelength,
    paired_cosine,
    rsa,
    sentence_control_labels,
    tree_depths,
    tree_distances,
    wilson_interval,
)
from interp_services.core.reasons import Reason

# --------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------


def planted(n: int = 600, d: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x [n, d] float32, y [n], w [d])``: the label is the sign of ``x . w``.

    Gaussian features with standard deviation 3 along the unit direction ``w`` and 1 across it:
    a feature the representation makes prominent, as a concept direction in a residual stream.
    (With an isotropic 1, ~400 training items estimate a 64-dimensional direction only to ~90%
    test accuracy.)
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)
    z = rng.normal(size=(n, d))
    x = (z + 2.0 * np.outer(z @ w, w)).astype(np.float32)
    return x, (x @ w > 0).astype(np.int64), w


def singleton_split(n: int, seed: int = 0) -> Split:
    return group_split([str(i) for i in range(n)], seed=seed)


def random_tree(rng: np.random.Generator, n: int) -> list[int]:
    """CoNLL heads of a uniformly shuffled random recursive tree on ``n`` words."""
    perm = rng.permutation(n)
    heads = [0] * n
    for k in range(1, n):
        heads[perm[k]] = int(perm[rng.integers(0, k)]) + 1
    return heads


def path_nodes(heads: list[int], i: int) -> list[int]:
    """0-based words on the path from word ``i`` up to (not including) the root."""
    out = []
    while heads[i] != 0:
        out.append(i)
        i = heads[i] - 1
    return out


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def test_group_split_keeps_groups_whole_covers_everything_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    for seed in range(20):
        groups = [f"g{int(g)}" for g in rng.integers(0, int(rng.integers(3, 40)), size=int(rng.integers(30, 200)))]
        if len(set(groups)) < 3:
            continue
        s = group_split(groups, seed=seed)
        parts = [s.train, s.validation, s.test]
        assert all(p.dtype == np.int64 and p.size > 0 for p in parts)
        assert sorted(np.concatenate(parts).tolist()) == list(range(len(groups)))
        owner: dict[str, int] = {}
        for k, p in enumerate(parts):
            for i in p:
                assert owner.setdefault(groups[i], k) == k, f"group {groups[i]} straddles splits"
        again = group_split(groups, seed=seed)
        assert all(np.array_equal(a, b) for a, b in zip(parts, [again.train, again.validation, again.test], strict=True))


def test_group_split_fractions_and_order_independence() -> None:
    groups = [str(i) for i in range(1000)]
    s = group_split(groups, validation_fraction=0.15, test_fraction=0.2, seed=3)
    assert (len(s.train), len(s.validation), len(s.test)) == (650, 150, 200)
    # The split is a function of the groups, not of the order the examples come in.
    rev = group_split(groups[::-1], seed=3)
    assert sorted(groups[::-1][i] for i in rev.test) == sorted(groups[i] for i in s.test)
    assert not np.array_equal(group_split(groups, seed=4).test, s.test)


def test_group_split_with_three_groups_gives_one_to_each_split() -> None:
    s = group_split(["a", "a", "b", "c", "c", "c"], seed=0)
    assert all(p.size > 0 for p in (s.train, s.validation, s.test))


@pytest.mark.parametrize("groups", [[], ["a"], ["a", "b", "a", "b"]])
def test_group_split_too_few_groups(groups: list[str]) -> None:
    with pytest.raises(InvalidArgument) as e:
        group_split(groups, field="tasks[1].examples")
    assert e.value.reason == Reason.PROBE_TOO_FEW_EXAMPLES
    assert e.value.violations[0].field == "tasks[1].examples"


def test_group_split_keeps_every_label_in_training() -> None:
    """A label held by few groups is dealt like any other, except that its last group is never
    held out: over many seeds and label layouts, every label has a training example, groups stay
    whole and every split holds at least ``min_per_split`` groups."""
    rng = np.random.default_rng(11)
    moved = 0
    for seed in range(60):
        n_groups = int(rng.integers(15, 60))
        # Token-like examples: each holds a few labels; labels 5 and 6 are rare (1-2 groups).
        held = [set(rng.integers(0, 5, size=int(rng.integers(1, 4))).tolist()) for _ in range(n_groups)]
        for rare in (5, 6):
            for g in rng.choice(n_groups, size=int(rng.integers(1, 3)), replace=False):
                held[int(g)].add(rare)
        groups = [f"g{i}" for i in range(n_groups)]
        s = group_split(groups, labels=[sorted(h) for h in held], seed=seed, min_per_split=4)
        in_train = set().union(*(held[i] for i in s.train))
        assert in_train == set().union(*held), seed
        assert min(len(s.train), len(s.validation), len(s.test)) >= 4
        assert sorted(np.concatenate([s.train, s.validation, s.test]).tolist()) == list(range(n_groups))
        plain = group_split(groups, seed=seed, min_per_split=4)
        moved += set().union(*(held[i] for i in plain.train)) != set().union(*held)
    assert moved > 5  # without labels, a rare label often misses training: the case guarded here


def test_group_split_refuses_when_no_label_keeping_split_exists() -> None:
    """Every group holds a label of its own: each must stay in training, so nothing is left to
    test on; the request is refused rather than scored on labels the probe never saw."""
    groups = [f"s{i}" for i in range(20)]
    with pytest.raises(InvalidArgument) as e:
        group_split(groups, labels=[[0, i + 1] for i in range(20)], field="tasks[2].examples", min_per_split=5)
    assert e.value.reason == Reason.PROBE_TOO_FEW_EXAMPLES
    assert e.value.violations[0].field == "tasks[2].examples"
    assert "every label" in str(e.value)


def test_group_split_minimum_per_split() -> None:
    with pytest.raises(InvalidArgument) as e:
        group_split([str(i) for i in range(14)], min_per_split=5, field="tasks[0].examples")
    assert e.value.reason == Reason.PROBE_TOO_FEW_EXAMPLES and "at least 15 groups" in str(e.value)
    s = group_split([str(i) for i in range(15)], min_per_split=5)
    assert (len(s.train), len(s.validation), len(s.test)) == (5, 5, 5)
    big = group_split([str(i) for i in range(100)], min_per_split=5)  # fractions rule above the floor
    assert (len(big.train), len(big.validation), len(big.test)) == (65, 15, 20)


def test_group_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError):
        group_split(list("abcdef"), validation_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError):
        group_split(list("abcdef"), test_fraction=0.0)


def test_items_of() -> None:
    item_example = np.array([0, 0, 1, 2, 2, 2, 3])
    assert items_of(np.array([2, 0]), item_example).tolist() == [0, 1, 3, 4, 5]
    assert items_of(np.array([], dtype=np.int64), item_example).tolist() == []


# --------------------------------------------------------------------------------------------
# Control tasks
# --------------------------------------------------------------------------------------------


def test_control_labels_are_per_type_deterministic_and_follow_the_label_distribution() -> None:
    rng = np.random.default_rng(0)
    n_types = 5000
    labels = rng.choice(3, p=[0.7, 0.2, 0.1], size=2 * n_types)
    types = [f"w{i % n_types}" for i in range(2 * n_types)]
    c = control_labels(types, labels, n_labels=3, seed=7)
    assert c.dtype == np.int64 and c.shape == (2 * n_types,)
    assert np.array_equal(c[:n_types], c[n_types:])  # same type, same label
    freq = np.bincount(c[:n_types], minlength=3) / n_types
    assert np.allclose(freq, np.bincount(labels, minlength=3) / len(labels), atol=0.03)
    assert np.array_equal(c, control_labels(types, labels, n_labels=3, seed=7))
    assert not np.array_equal(c, control_labels(types, labels, n_labels=3, seed=8))


def test_control_labels_independent_of_other_types() -> None:
    labels = [0, 1] * 50
    full = control_labels([f"t{i}" for i in range(100)], labels, n_labels=2, seed=1)
    part = control_labels([f"t{i}" for i in range(0, 100, 3)], labels[: len(range(0, 100, 3))], n_labels=2, seed=1)
    assert np.array_equal(full[::3], part)  # same distribution (50/50), same types, same labels


def test_control_labels_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        control_labels(["a"], [0, 1], n_labels=2, seed=0)
    with pytest.raises(ValueError):
        control_labels(["a", "b"], [0, 2], n_labels=2, seed=0)
    with pytest.raises(ValueError):
        control_labels([], [], n_labels=2, seed=0)


def _bag_of_words_sentences(n: int, vocab: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``(texts, bag [n, vocab])``: random sentences over ``vocab`` word types and their
    mean-pooled one-hot word vectors -- a representation that encodes lexical identity only."""
    rng = np.random.default_rng(seed)
    words = [rng.integers(0, vocab, size=int(rng.integers(4, 10))) for _ in range(n)]
    bag = np.zeros((n, vocab), dtype=np.float32)
    for i, w in enumerate(words):
        np.add.at(bag[i], w, 1.0 / len(w))
    return [" ".join(f"Word{k}" for k in w) + "." for w in words], bag


def test_sentence_control_is_learnable_from_lexical_identity_and_not_from_the_label() -> None:
    """Hewitt & Liang's control must be learnable by a probe that memorises word identity: on a
    bag-of-words representation the sentence control scores far above chance (and the task,
    independent of the words, at chance: selectivity exposes the probe), while on a
    representation of the task label alone the control stays at chance. The old control (one
    label per whole text) was at chance on both, by construction."""
    texts, bag = _bag_of_words_sentences(400, vocab=40, seed=0)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=len(texts))
    labelled = np.concatenate([3.0 * np.eye(2)[y], np.zeros((len(y), 14))], axis=1) + rng.normal(size=(len(y), 16))
    split = group_split(texts, seed=0)
    control = sentence_control_labels(texts, y, n_labels=2, seed=1)
    assert np.bincount(control).tolist() == np.bincount(y).tolist()  # the task's label counts
    on_bag = fit_probe(bag, control, split, 2)
    assert on_bag.score >= 0.8, on_bag.score
    assert fit_probe(bag, y, split, 2).score <= 0.65
    on_label = fit_probe(labelled.astype(np.float32), control, split, 2)
    assert fit_probe(labelled.astype(np.float32), y, split, 2).score >= 0.9 and on_label.score <= 0.65
    whole_text = fit_probe(bag, control_labels([t.lower() for t in texts], y, 2, seed=1), split, 2)
    assert whole_text.score <= 0.65  # the vacuous control this replaces


def test_sentence_control_labels_depend_on_word_types_only() -> None:
    texts, _ = _bag_of_words_sentences(300, vocab=30, seed=2)
    y = np.repeat([0, 1, 2], [150, 100, 50])
    c = sentence_control_labels(texts, y, n_labels=3, seed=4)
    assert c.dtype == np.int64 and np.bincount(c, minlength=3).tolist() == [150, 100, 50]
    # Only the label counts matter, not which text carries which label; case and punctuation
    # do not make word types, and the same words in the same proportions share a control label.
    assert np.array_equal(c, sentence_control_labels(texts, np.random.default_rng(0).permutation(y), 3, seed=4))
    assert np.array_equal(c, sentence_control_labels([t.upper().replace(".", " !") for t in texts], y, 3, seed=4))
    twice = sentence_control_labels(texts + [t + " " + t for t in texts], np.concatenate([y, y]), 3, seed=4)
    assert np.array_equal(twice[:300], twice[300:])
    assert not np.array_equal(c, sentence_control_labels(texts, y, 3, seed=5))
    with pytest.raises(ValueError):
        sentence_control_labels(["a"], [0, 1], n_labels=2, seed=0)
    with pytest.raises(ValueError):
        sentence_control_labels(["a", "b"], [0, 2], n_labels=2, seed=0)


def test_control_heads_are_trees_with_one_behaviour_per_type() -> None:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(30)]
    sentences = [[vocab[int(k)] for k in rng.integers(0, 30, size=int(rng.integers(1, 15)))] for _ in range(200)]
    trees = control_heads(sentences, seed=5)
    assert [len(t) for t in trees] == [len(s) for s in sentences]
    behaviour: dict[str, str] = {}
    for words, heads in zip(sentences, trees, strict=True):
        check_tree(heads, "heads")
        assert heads[0] == 0
        for i in range(2, len(words)):  # from the third word on the two behaviours differ
            kind = "first" if heads[i] == 1 else "previous"
            assert heads[i] in (1, i)
            assert behaviour.setdefault(words[i], kind) == kind
    assert set(behaviour.values()) == {"first", "previous"}
    assert control_heads(sentences, seed=5) == trees


# --------------------------------------------------------------------------------------------
# Probes, baselines, selectivity
# --------------------------------------------------------------------------------------------


def test_wilson_interval_matches_the_formula_and_edge_cases() -> None:
    def direct(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
        p = k / n
        c = (2 * n * p + z * z) / (2 * (n + z * z))
        h = z * np.sqrt(z * z + 4 * n * p * (1 - p)) / (2 * (n + z * z))
        return c - h, c + h

    for k, n in [(45, 50), (1, 10), (500, 1000), (3, 7)]:
        assert np.allclose(wilson_interval(k, n), direct(k, n))
    low, high = wilson_interval(20, 20)
    assert high == pytest.approx(1.0) and 0.8 < low < 1.0
    low, high = wilson_interval(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.0 < high < 0.2
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_clustered_interval_reduces_to_wilson_for_independent_items() -> None:
    assert clustered_interval(np.array([1] * 45 + [0] * 5), np.arange(50)) == wilson_interval(45, 50)
    # Words right or wrong independently of their sentence: the design effect is about 1.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 8)
    hit = rng.random(len(groups)) < 0.7
    low, high = clustered_interval(hit, groups)
    w = wilson_interval(int(hit.sum()), len(hit))
    assert high - low == pytest.approx(w[1] - w[0], rel=0.1)
    assert clustered_interval(np.array([], dtype=bool), np.array([])) == (0.0, 1.0)
    assert clustered_interval(np.array([1, 0, 1]), np.array([4, 4, 4])) == (0.0, 1.0)  # one sentence
    with pytest.raises(ValueError):
        clustered_interval(np.array([1, 0]), np.array([0]))


def test_clustered_interval_covers_whole_sentence_accuracy_at_the_nominal_rate() -> None:
    """Each sentence is right or wrong as a whole with probability 0.5 (the truth): over many
    draws the clustered interval covers 0.5 about 95% of the time; Wilson's over words, which
    counts a sentence of 8 words as 8 trials, about half the time."""
    covered = wilson_covered = 0
    reps = 1000
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        sizes = rng.integers(3, 12, size=20)
        hit = np.repeat(rng.random(20) < 0.5, sizes)
        low, high = clustered_interval(hit, np.repeat(np.arange(20), sizes))
        w = wilson_interval(int(hit.sum()), len(hit))
        covered += low <= 0.5 <= high
        wilson_covered += w[0] <= 0.5 <= w[1]
    assert 0.93 <= covered / reps <= 0.99, covered / reps
    assert wilson_covered / reps < 0.7


def test_word_probe_interval_is_clustered_by_sentence() -> None:
    """fit_probe end to end: all words of a sentence share its label and its (noise)
    representation, so the probe's accuracy is 0.5 on fresh data whatever it learns. With the
    words' sentences as groups, the interval is wider than Wilson's over words every time and
    covers 0.5 at about the nominal rate; Wilson's misses it about half the time."""
    covered = wilson_covered = 0
    reps = 60
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        sizes = rng.integers(3, 12, size=80)
        sentence = np.repeat(np.arange(80), sizes)
        x = rng.normal(size=(80, 4))[sentence].astype(np.float32)
        y = rng.integers(0, 2, size=80)[sentence]
        s = group_split([str(i) for i in range(80)], seed=seed)
        split = Split(items_of(s.train, sentence), items_of(s.validation, sentence), items_of(s.test, sentence))
        fit = fit_probe(x, y, split, 2, regularization=[1.0], groups=sentence)
        w = wilson_interval(round(fit.score * len(split.test)), len(split.test))
        assert fit.score_low < w[0] and fit.score_high > w[1]
        covered += fit.score_low <= 0.5 <= fit.score_high
        wilson_covered += w[0] <= 0.5 <= w[1]
    assert covered / reps >= 0.9 and wilson_covered / reps < 0.8, (covered, wilson_covered)
    with pytest.raises(ValueError):
        fit_probe(x, y, split, 2, groups=sentence[:-1])


def test_majority_baseline() -> None:
    assert majority_baseline(np.array([1, 1, 0, 2]), np.array([1, 0, 1, 1])) == (1, 0.75)
    assert majority_baseline(np.array([3, 2]), np.array([2])) == (2, 1.0)  # tie -> smaller label
    assert majority_baseline(np.array([0]), np.array([], dtype=np.int64)) == (0, 0.0)


def test_planted_feature_is_selective_and_control_stays_at_chance() -> None:
    """Hewitt & Liang: the label is linear in the features, the control labels (one random label
    per type, types recurring across the split) are not encoded at all, so the probe reads the
    task and cannot learn the control."""
    x, y, _ = planted()
    types = [f"type{i // 2}" for i in range(len(y))]  # 300 types, 2 items each
    split = singleton_split(len(y))
    task = fit_probe(x, y, split, n_labels=2)
    control = fit_probe(x, control_labels(types, y, n_labels=2, seed=0), split, n_labels=2)
    assert task.score >= 0.95
    assert task.score_low <= task.score <= task.score_high and task.score_high - task.score_low < 0.1
    assert control.score <= 0.65
    assert task.score - control.score > 0.3
    assert task.regularization in DEFAULT_REGULARIZATION
    assert task.train_score >= task.score - 0.05 and task.validation_score >= 0.9
    # The fitted probe generalises to fresh items of the same distribution.
    x2, y2, _ = planted(n=500, seed=0)
    assert np.mean(task.predict(x2) == y2) >= 0.95


def test_control_task_is_learnable_when_the_representation_encodes_type_identity() -> None:
    """The other side of the control: if each type has its own vector, a probe memorises the
    control labels of types seen in training, and selectivity (not accuracy) exposes it."""
    rng = np.random.default_rng(1)
    n_types, per_type, d = 20, 30, 64
    emb = rng.normal(size=(n_types, d))
    type_of = np.repeat(np.arange(n_types), per_type)
    x = (emb[type_of] + 0.3 * rng.normal(size=(len(type_of), d))).astype(np.float32)
    y = (emb[type_of] @ rng.normal(size=d) > 0).astype(np.int64)  # a property of the type
    split = singleton_split(len(y))
    control = fit_probe(x, control_labels([f"t{t}" for t in type_of], y, 2, seed=0), split, 2)
    assert control.score >= 0.9


def test_noise_labels_give_chance_for_task_and_control() -> None:
    x, _, _ = planted(seed=2)
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=len(x))
    types = [f"type{i // 2}" for i in range(len(y))]
    split = singleton_split(len(y))
    task = fit_probe(x, y, split, n_labels=2)
    control = fit_probe(x, control_labels(types, y, n_labels=2, seed=0), split, n_labels=2)
    assert task.score <= 0.65 and control.score <= 0.65


def test_ties_on_validation_choose_the_strongest_regularisation() -> None:
    x, y, _ = planted(n=300, d=4)
    x[:, 0] = np.where(y == 1, 5.0, -5.0)  # trivially separable at every C
    fit = fit_probe(x, y, singleton_split(len(y)), n_labels=2, regularization=[1.0, 0.1, 0.01])
    assert fit.validation_score == 1.0 and fit.regularization == 0.01


def test_probe_handles_a_single_training_class_and_absent_classes() -> None:
    x, _, _ = planted(n=60, d=8)
    y = np.zeros(60, dtype=np.int64)
    split = Split(np.arange(40), np.arange(40, 50), np.arange(50, 60))
    y[50:] = 2  # the test split holds a class the probe never saw
    fit = fit_probe(x, y, split, n_labels=3)
    assert fit.train_score == 1.0 and fit.score == 0.0
    assert fit.predict(x[:5]).tolist() == [0] * 5
    proba = fit.predict_proba(x[:5])
    assert proba.shape == (5, 3) and np.allclose(proba[:, 0], 1.0)

    y3 = np.where(x[:, 0] > 0, 1, 0)
    y3[:3] = 2
    two = fit_probe(x, y3, Split(np.arange(3, 50), np.arange(50, 55), np.arange(55, 60)), n_labels=3)
    p = two.predict_proba(x)
    assert p.shape == (60, 3) and np.allclose(p.sum(axis=1), 1.0) and np.all(p[:, 2] == 0.0)


def test_multiclass_logistic_and_mlp_probes() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    xor = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)  # not linearly separable
    split = singleton_split(400)
    linear = fit_probe(x, xor, split, n_labels=2)
    mlp = fit_probe(x, xor, split, n_labels=2, classifier="mlp", mlp_hidden=32, regularization=[1.0, 10.0])
    assert linear.score < 0.7 and mlp.score > 0.85
    assert mlp.predict_proba(x[:3]).shape == (3, 2)

    four = (x[:, 0] > 0).astype(np.int64) * 2 + (x[:, 1] > 0).astype(np.int64)
    fit = fit_probe(x, four, split, n_labels=4)
    assert fit.score > 0.85 and fit.predict_proba(x).shape == (400, 4)


def test_probe_standardises_huge_dimensions() -> None:
    """A few dimensions 1000x larger than the rest (as in residual streams) must not swamp the
    penalty: the label lives in an ordinary dimension."""
    x, y, _ = planted(n=600, d=32, seed=4)
    x[:, :3] = x[:, :3] * 1000.0 + 5000.0
    fit = fit_probe(x, y, singleton_split(600), n_labels=2)
    assert fit.score >= 0.9
    assert np.allclose(fit.mean[:3], 5000.0, rtol=0.05) and np.all(fit.scale[:3] > 500)


def test_probe_rejects_bad_input_and_cancels() -> None:
    x, y, _ = planted(n=100, d=4)
    split = singleton_split(100)
    with pytest.raises(ValueError):
        fit_probe(x, y, split, n_labels=2, classifier="svm")
    with pytest.raises(ValueError):
        fit_probe(x, y + 1, split, n_labels=2)
    with pytest.raises(ValueError):
        fit_probe(x, y, split, n_labels=2, regularization=[])
    with pytest.raises(ValueError):
        fit_probe(x, y, Split(np.array([], dtype=np.int64), split.validation, split.test), n_labels=2)
    calls = []

    def stop_on_second() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(Cancelled) as e:
        fit_probe(x, y, split, n_labels=2, stop=stop_on_second)
    assert e.value.reason == Reason.CANCELLED and len(calls) == 2


# --------------------------------------------------------------------------------------------
# Description length
# --------------------------------------------------------------------------------------------


def test_mdl_compresses_a_planted_feature_and_not_noise() -> None:
    x, y, _ = planted()
    easy = online_codelength(x, y, 2, regularization=1.0)
    assert easy.uniform_bits == pytest.approx(600.0)
    assert easy.compression == pytest.approx(easy.uniform_bits / easy.bits)
    assert easy.compression > 2.0

    noise = np.random.default_rng(5).integers(0, 2, size=len(y))
    hard = online_codelength(x, noise, 2, regularization=1.0)
    assert hard.compression < 1.15
    assert hard.bits > easy.bits * 2
    # A weakly regularised probe is overconfident on noise and pays more than the uniform code
    # (compression ~0.6 at C = 1); a strongly regularised one stays close to the uniform code.
    assert 0.9 < online_codelength(x, noise, 2, regularization=0.001).compression < 1.15


def test_mdl_multiclass_with_rare_classes_is_finite_and_deterministic() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    y = np.where(x[:, 0] > 0, 1, 0)
    y[rng.choice(300, size=4, replace=False)] = 4  # a class that is absent from early prefixes
    a = online_codelength(x, y, 5, regularization=0.1, seed=1)
    assert np.isfinite(a.bits) and a.uniform_bits == pytest.approx(300 * np.log2(5))
    assert online_codelength(x, y, 5, regularization=0.1, seed=1) == a
    assert online_codelength(x, y, 5, regularization=0.1, seed=2) != a
    with pytest.raises(ValueError):
        online_codelength(x, np.zeros(300, dtype=np.int64), 1, regularization=1.0)
    with pytest.raises(Cancelled):
        online_codelength(x, y, 5, regularization=0.1, stop=lambda: True)


# --------------------------------------------------------------------------------------------
# Trees and structural probes
# --------------------------------------------------------------------------------------------


def test_tree_depths_and_distances_on_a_hand_tree() -> None:
    #      2 (root)
    #     / \
    #    1   4
    #        |\
    #        3 5
    heads = [2, 0, 4, 2, 4]
    assert tree_depths(heads).tolist() == [1, 0, 2, 1, 2]
    expected = [
        [0, 1, 3, 2, 3],
        [1, 0, 2, 1, 2],
        [3, 2, 0, 1, 2],
        [2, 1, 1, 0, 1],
        [3, 2, 2, 1, 0],
    ]
    d = tree_distances(heads)
    assert d.dtype == np.int64 and d.tolist() == expected
    assert tree_distances([0]).tolist() == [[0]]


@pytest.mark.parametrize(
    ("heads", "field", "words"),
    [
        ([2, 3, 1], "heads", "no root"),  # a 3-cycle and no root
        ([0, 3, 4, 2], "heads", "cycle"),  # a root and a separate cycle
        ([0, 1, 0], "heads", "roots"),
        ([0, 5, 1], "heads[1]", "outside"),
        ([0, -1], "heads[1]", "outside"),
        ([0, 2], "heads[1]", "own head"),
        ([], "heads", "at least one word"),
    ],
)
def test_check_tree_rejects_non_trees(heads: list[int], field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        check_tree(heads, "heads")
    assert e.value.reason == Reason.TREE_INVALID
    assert e.value.violations[0].field == field and words in e.value.message


def test_random_trees_are_valid_and_baseline_scores() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        check_tree(random_tree(rng, int(rng.integers(1, 20))), "heads")
    # Chain trees: the left-neighbour baseline is perfect; the first word is the root.
    assert baseline_score([[0, 1, 2, 3]], "distance") == 1.0
    assert baseline_score([[0, 1, 2, 3]], "depth") == 1.0
    # Hand tree above: neighbour edges (1,2), (3,4), (4,5) of 4 gold edges are in the chain.
    assert baseline_score([[2, 0, 4, 2, 4]], "distance") == pytest.approx(3 / 4)
    assert baseline_score([[2, 0, 4, 2, 4], [0, 1]], "depth") == pytest.approx(0.5)
    with pytest.raises(ValueError):
        baseline_score([[0]], "height")


def _tree_dataset(n_sentences: int, seed: int) -> tuple[np.random.Generator, list[list[int]], Split]:
    rng = np.random.default_rng(seed)
    trees = [random_tree(rng, int(rng.integers(5, 13))) for _ in range(n_sentences)]
    return rng, trees, singleton_split(n_sentences, seed=seed)


def test_depth_probe_recovers_linearly_encoded_depth() -> None:
    rng, trees, split = _tree_dataset(200, seed=8)
    d = 32
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    # ||B h||^2 with h = sqrt(depth) u + noise is the depth for B = u^T: exactly the probe family.
    feats = [(np.sqrt(tree_depths(h))[:, None] * u + 0.05 * rng.normal(size=(len(h), d)) + 3.0).astype(np.float32) for h in trees]
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    fit = fit_structural(feats, trees, split, "depth", rank=16, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state) and torch.get_num_threads() == threads
    assert fit.score >= 0.9 and fit.spearman > 0.8 and fit.train_score >= 0.9
    assert fit.score_low <= fit.score <= fit.score_high
    assert fit.projection.shape == (16, d) and fit.offset.shape == (16,)
    assert fit.score > baseline_score([trees[i] for i in split.test], "depth")
    again = fit_structural(feats, trees, split, "depth", rank=16, seed=0)
    assert np.array_equal(again.projection, fit.projection)


def test_distance_probe_recovers_an_isometric_tree_embedding() -> None:
    rng, trees, split = _tree_dataset(200, seed=9)
    width, d = 12, 40
    feats = []
    for h in trees:
        # h_i = sum of the one-hot vectors of the edges (named by their child word) on the path
        # from the root to i: ||h_i - h_j||^2 = edges in the symmetric difference = distance.
        f = np.zeros((len(h), d))
        for i in range(len(h)):
            f[i, path_nodes(h, i)] = 1.0
        f[:, width:] = rng.normal(size=(len(h), d - width))  # irrelevant dimensions
        feats.append((f + 0.02 * rng.normal(size=f.shape)).astype(np.float32))
    fit = fit_structural(feats, trees, split, "distance", rank=32, seed=0)
    assert fit.score >= 0.9 and fit.spearman > 0.8
    # UUAS counts edges, which come in sentences: the interval is clustered by sentence, wider
    # than Wilson's over the edges.
    edges = sum(len(trees[i]) - 1 for i in split.test)
    w = wilson_interval(round(fit.score * edges), edges)
    assert fit.score_low < w[0] and fit.score_low <= fit.score <= fit.score_high
    assert fit.score > baseline_score([trees[i] for i in split.test], "distance") + 0.2
    assert fit.projection.shape == (32, d) and not fit.offset.any()


def test_structural_probe_on_noise_scores_near_the_chance_level() -> None:
    rng, trees, split = _tree_dataset(120, seed=10)
    feats = [rng.normal(size=(len(h), 24)).astype(np.float32) for h in trees]
    fit = fit_structural(feats, trees, split, "distance", rank=8, epochs=10)
    assert fit.score < 0.5 and abs(fit.spearman) < 0.3


def test_structural_probe_rejects_bad_input_and_cancels() -> None:
    _, trees, split = _tree_dataset(30, seed=11)
    feats = [np.zeros((len(h), 4), dtype=np.float32) for h in trees]
    with pytest.raises(ValueError):
        fit_structural(feats, trees, split, "height")
    with pytest.raises(ValueError):
        fit_structural(feats[:-1], trees, split, "depth")
    with pytest.raises(ValueError):
        fit_structural([np.zeros((len(trees[0]) + 1, 4))] + feats[1:], trees, split, "depth")
    with pytest.raises(Cancelled):
        fit_structural(feats, trees, split, "depth", stop=lambda: True)


# --------------------------------------------------------------------------------------------
# Representation similarity
# --------------------------------------------------------------------------------------------


def cka_by_gram(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s definition: HSIC = tr(K H L H) / (n - 1)^2 with H the centring matrix."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, lm = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, lm) / np.sqrt(hsic(k, k) * hsic(lm, lm))


def debiased_cka_by_gram(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC straight from the (uncentred) Gram matrices."""
    n = x.shape[0]
    one = np.ones(n)

    def hsic_u(k: np.ndarray, lm: np.ndarray) -> float:
        k, lm = k.copy(), lm.copy()
        np.fill_diagonal(k, 0.0)
        np.fill_diagonal(lm, 0.0)
        return (
            np.trace(k @ lm) + (one @ k @ one) * (one @ lm @ one) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (one @ k @ lm @ one)
        ) / (n * (n - 3))

    k, lm = x @ x.T, y @ y.T
    return hsic_u(k, lm) / np.sqrt(hsic_u(k, k) * hsic_u(lm, lm))


def debiased_cka_kornblith(x: np.ndarray, y: np.ndarray) -> float:
    """The U-centred Gram version of Kornblith et al.'s reference code (center_gram unbiased)."""

    def center(g: np.ndarray) -> np.ndarray:
        g = g.copy()
        n = g.shape[0]
        np.fill_diagonal(g, 0.0)
        means = g.sum(0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        g -= means[:, None]
        g -= means[None, :]
        np.fill_diagonal(g, 0.0)
        return g

    k, lm = center(x @ x.T), center(y @ y.T)
    return float(k.ravel() @ lm.ravel() / (np.linalg.norm(k) * np.linalg.norm(lm)))


@pytest.mark.parametrize(("n", "d1", "d2"), [(200, 10, 7), (15, 40, 60)])  # feature and Gram routes
def test_linear_cka_matches_direct_gram_formulas(n: int, d1: int, d2: int) -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(n, d1)) + 2.0
    y = np.tanh(x[:, : min(d1, d2)] @ rng.normal(size=(min(d1, d2), d2))) + rng.normal(size=(n, d2))
    assert linear_cka(x, y) == pytest.approx(cka_by_gram(x, y), rel=1e-9)
    assert linear_cka(x, y, debiased=True) == pytest.approx(debiased_cka_by_gram(x, y), rel=1e-7)
    assert linear_cka(x, y, debiased=True) == pytest.approx(debiased_cka_kornblith(x, y), rel=1e-7)
    assert linear_cka(x.astype(np.float32), y.astype(np.float32)) == pytest.approx(cka_by_gram(x, y), rel=1e-5)


def test_linear_cka_identity_and_invariances() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(size=(100, 20))
    q = scipy.stats.ortho_group.rvs(20, random_state=13)
    for debiased in (False, True):
        assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0)
        assert linear_cka(x, 7.5 * x @ q + 3.0, debiased=debiased) == pytest.approx(1.0)
        y = rng.normal(size=(100, 5))
        assert linear_cka(x @ q, y, debiased=debiased) == pytest.approx(linear_cka(x, y, debiased=debiased))
    assert linear_cka(x, np.ones((100, 3))) == 0.0  # no variance: undefined, reported as 0


def test_debiased_cka_is_near_zero_for_independent_noise_where_plain_cka_is_not() -> None:
    """n = 20 examples in 100 dimensions. One draw of the debiased estimate has a standard
    deviation of ~0.08 (measured over 50 draws), so the bound is on the mean of 20 draws
    (standard error ~0.02) and a loose one on each draw; plain CKA is ~0.83 on every draw."""
    rng = np.random.default_rng(14)
    plain, debiased = [], []
    for _ in range(20):
        a, b = rng.normal(size=(20, 100)), rng.normal(size=(20, 100))
        plain.append(linear_cka(a, b))
        debiased.append(linear_cka(a, b, debiased=True))
    assert min(plain) > 0.6
    assert abs(np.mean(debiased)) < 0.05 and max(abs(v) for v in debiased) < 0.35


def test_linear_cka_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        linear_cka(np.zeros((5, 2)), np.zeros((6, 2)))
    with pytest.raises(ValueError):
        linear_cka(np.zeros((3, 2)), np.zeros((3, 2)), debiased=True)
    with pytest.raises(ValueError):
        linear_cka(np.full((5, 2), np.nan), np.zeros((5, 2)))


def test_rsa() -> None:
    rng = np.random.default_rng(15)
    x = rng.normal(size=(40, 12))
    assert rsa(x, x) == pytest.approx(1.0)
    # Per-row affine maps leave every row correlation, hence the RDM, unchanged.
    assert rsa(x, 3.0 * x + 2.0) == pytest.approx(1.0)
    # A different width carrying the same structure, and a monotone distortion of it.
    q = scipy.stats.ortho_group.rvs(12, random_state=15)
    assert rsa(x, np.hstack([x @ q, x @ q])) > 0.5
    assert rsa(x, x**3) > 0.5
    assert abs(rsa(x, rng.normal(size=(40, 12)))) < 0.15
    # Against a direct computation.
    y = x[:, :6] + rng.normal(size=(40, 6))
    iu = np.triu_indices(40, k=1)
    expected = scipy.stats.spearmanr((1 - np.corrcoef(x))[iu], (1 - np.corrcoef(y))[iu]).statistic
    assert rsa(x, y) == pytest.approx(expected)
    with pytest.raises(ValueError):
        rsa(x[:2], x[:2])


def test_paired_cosine() -> None:
    rng = np.random.default_rng(16)
    n, d = 100, 32
    x = rng.normal(size=(n, d))
    common = 50.0 * rng.normal(size=d)  # a shared anisotropic direction: raw cosines all ~1
    close = paired_cosine(x + common, x + common + 0.05 * rng.normal(size=(n, d)))
    assert isinstance(close, CosineResult)
    assert close.aligned > 0.99 and close.retrieval_top1 == 1.0 and abs(close.unaligned) < 0.05
    shuffled = paired_cosine(x + common, x[rng.permutation(n)] + common)
    assert shuffled.retrieval_top1 <= 0.05 and abs(shuffled.aligned) < 0.1
    # Hand-checkable: two vectors and their negatives (after centring).
    r = paired_cosine(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert (r.aligned, r.unaligned, r.retrieval_top1) == pytest.approx((1.0, -1.0, 1.0))
    with pytest.raises(ValueError):
        paired_cosine(x, x[:, :10])


# --------------------------------------------------------------------------------------------
# Directions and counterfactuals
# --------------------------------------------------------------------------------------------


def test_label_directions_and_cosines() -> None:
    x = np.array([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    dirs = label_directions(x, np.array([0, 0, 1, 2]), n_labels=4)
    assert dirs.shape == (4, 3) and dirs.dtype == np.float32
    expected0 = np.array([2.0, -1.0, -1.0]) / np.sqrt(6.0)  # mean(label 0) - mean(rest)
    assert np.allclose(dirs[0], expected0, atol=1e-6)
    assert np.allclose(np.linalg.norm(dirs[:3], axis=1), 1.0) and not dirs[3].any()  # label 3: no items
    assert not label_directions(x, np.zeros(4, dtype=np.int64), n_labels=2).any()  # no others
    c = cosine_matrix(dirs, np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert c.shape == (4, 2) and c[0, 0] == pytest.approx(2.0 / np.sqrt(6.0)) and not c[:, 1].any()


def test_counterfactual_swaps() -> None:
    x, y, w = planted(n=600, d=16, seed=17)
    fit = fit_probe(x, y, singleton_split(600), n_labels=2)
    dirs = label_directions(x, y, n_labels=2)
    v = np.random.default_rng(1017).normal(size=16)  # not seed 17: planted() drew w from it
    v -= (v @ w) * w
    v /= np.linalg.norm(v)

    def reflect(a: np.ndarray, u: np.ndarray) -> np.ndarray:
        return (a - 2.0 * np.outer(a @ u, u)).astype(np.float32)

    relevant = counterfactual_effect(x, reflect(x, w), fit, dirs, x)  # flips the planted feature
    irrelevant = counterfactual_effect(x, reflect(x, v), fit, dirs, x)  # orthogonal to it
    assert relevant.pairs == irrelevant.pairs == 600
    assert relevant.flip_rate >= 0.9 and irrelevant.flip_rate <= 0.1
    assert relevant.mean_shift_sd > 1.0 and irrelevant.mean_shift_sd < 0.3
    assert counterfactual_effect(x[:0], x[:0], fit, dirs, x).pairs == 0
    with pytest.raises(ValueError):
        counterfactual_effect(x, x[:10], fit, dirs, x)


def test_any_int_seed_is_accepted() -> None:
    """Seeds come from a request's int64: negative or beyond 2**32 must work everywhere."""
    x, y, _ = planted(n=120, d=6)
    for seed in (-1, 2**40, -(2**63)):
        split = group_split([str(i) for i in range(120)], seed=seed)
        fit_probe(x, y, split, 2, classifier="mlp", mlp_hidden=8, regularization=[1.0], seed=seed)
        online_codelength(x, y, 2, regularization=1.0, seed=seed)
        control_labels([str(i) for i in range(120)], y, 2, seed=seed)
    _, trees, split = _tree_dataset(20, seed=0)
    feats = [np.ones((len(h), 3), dtype=np.float32) for h in trees]
    fit_structural(feats, trees, split, "depth", seed=-5, epochs=1)
