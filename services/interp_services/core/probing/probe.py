"""Linear and MLP probes with a validation-chosen L2 strength, scored against a baseline.

A probe is a small classifier trained to read a label (a part of speech, a sentiment, a concept)
off frozen representations ``[n_items, d_model]``. :func:`fit_probe` standardises the features
with the training mean and standard deviation -- residual streams have a few dimensions hundreds
of times larger than the rest, which would otherwise dominate both the L2 penalty and the solver's
conditioning -- fits one probe per inverse L2 strength ``C``, keeps the one with the best
validation accuracy and reports its test accuracy with a 95% interval (Wilson's over independent
items; for the words of sentences, :func:`clustered_interval`, which widens it by the design
effect of the sentences). Compare it with :func:`majority_baseline` (always the most frequent
training label) and with the same probe on a control task (:mod:`.control`).

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 8)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)  # the label is the sign of feature 0
    >>> split = Split(np.arange(200), np.arange(200, 250), np.arange(250, 300))
    >>> fit = fit_probe(x, y, split, n_labels=2)
    >>> fit.score > 0.9, majority_baseline(y[split.train], y[split.test])[1] < 0.7
    (True, True)
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from interp_services.core.errors import Cancelled
from interp_services.core.probing.split import Split
from interp_services.core.reasons import Reason

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_REGULARIZATION",
    "ProbeFit",
    "clustered_interval",
    "fit_probe",
    "majority_baseline",
    "wilson_interval",
]

DEFAULT_REGULARIZATION: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
"""Inverse L2 strengths (scikit-learn's ``C``) tried by default, strongest penalty first."""

CLASSIFIERS: tuple[str, ...] = ("logistic", "mlp")
"""Probe families :func:`fit_probe` and :func:`~.mdl.online_codelength` accept."""

# Standardisation floor: a dimension that is constant on the training split would otherwise
# divide by zero; 1e-6 leaves it (near) zero after centring instead.
_MIN_SCALE = 1e-6

# scikit-learn >= 1.1 minimises the *mean* log-loss, so lbfgs' gradient tolerance is relative to
# a small objective: at tol=1e-3 a warm-started fit stopped after 0-5 iterations (on 8k x 576
# items with 17 classes, the C=1 model was the C=0.1 model unchanged). 1e-4 moves every C to its
# own solution (within ~1% of held-out accuracy of tol=1e-6) for ~2.5x the time of 1e-3, still
# ~1.4 s for all four Cs on 8k x 576 on two cores.
_LOGISTIC_TOL = 1e-4
_LOGISTIC_MAX_ITER = 300
_MLP_MAX_ITER = 200
# Adam stops once the training loss improves by less than this for 10 epochs. scikit-learn's
# 1e-4 took ~25% more epochs (e.g. 88 instead of 70 on 650 x 576 items) for the same held-out
# accuracy (within 0.01); one MLP epoch there costs ~10 ms, and an analysis fits hundreds.
_MLP_TOL = 1e-3


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% for the default ``z``).

    Unlike the normal approximation ``p +- z sqrt(p(1-p)/n)`` it stays inside [0, 1] and is not
    zero-width at ``p = 0`` or ``p = 1``, which matters for near-perfect probes on small test sets.

    Args:
        successes: ``k``, the number of successes, ``0 <= k <= n``.
        n: number of trials; ``n = 0`` gives the uninformative ``(0.0, 1.0)``.
        z: standard-normal quantile of the interval.

    Returns:
        ``(low, high)``.

    Example:
        >>> [round(v, 3) for v in wilson_interval(45, 50)]
        [0.786, 0.957]
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    return _wilson(successes / n, float(n), z)


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson interval of a proportion ``p`` observed on ``n > 0`` (possibly effective, fractional) trials."""
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered_interval(correct: np.ndarray, groups: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """Interval of an accuracy whose items come in groups (the words of a sentence): Wilson's
    interval on the design-effect-corrected sample size.

    The words of one sentence are not independent trials -- a probe that misreads a sentence
    tends to misread several of its words -- so :func:`wilson_interval` over words is too narrow.
    Following the survey-sampling recipe of Korn & Graubard (1998, Survey Methodology 24(2)):

    * the variance of the accuracy ``p = sum_g k_g / N`` (``k_g`` correct of ``n_g`` items in
      group ``g``, ``G`` groups, ``N`` items) is the cluster-robust (linearisation) estimate
      ``G / (G - 1) * sum_g (k_g - p n_g)^2 / N^2``;
    * the design effect is its ratio to the binomial ``p (1 - p) / N``, floored at 1 (never
      narrower than treating words as independent); the effective sample size is
      ``N / design effect``;
    * Wilson's interval is taken on that effective size, with Student's ``t`` quantile at
      ``G - 1`` degrees of freedom in place of ``z``, since the variance is estimated from only
      ``G`` groups.

    At ``p = 0`` or ``p = 1`` the variance estimate is 0 and says nothing about the design
    effect; the interval then counts every group as one trial (effective size ``G``, the design
    effect of perfectly correlated groups), rather than every word. No randomness is involved:
    the interval is a function of the per-group counts.

    Args:
        correct: ``[n]`` whether each test item was predicted right (bool or 0/1).
        groups: ``[n]`` the group of each item (any hashable numpy values, e.g. sentence ids).
        z: standard-normal quantile of the interval (1.96: 95%); converted to the same level of
            ``t`` with ``G - 1`` degrees of freedom.

    Returns:
        ``(low, high)``; Wilson's interval when every group holds one item (independent items);
        the uninformative ``(0.0, 1.0)`` for no items or a single group.

    Example:
        >>> correct = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1])  # whole sentences right or wrong
        >>> groups = np.repeat(np.arange(3), 4)
        >>> low, high = clustered_interval(correct, groups)
        >>> low < wilson_interval(8, 12)[0], high > wilson_interval(8, 12)[1]
        (True, True)
    """
    c = np.asarray(correct, dtype=np.float64)
    g = np.asarray(groups)
    if c.shape != g.shape or c.ndim != 1:
        raise ValueError(f"correct and groups must be [n] each, got {list(c.shape)} and {list(g.shape)}")
    n = c.size
    if n == 0:
        return 0.0, 1.0
    _, group_of = np.unique(g, return_inverse=True)
    sizes = np.bincount(group_of).astype(np.float64)
    hits = np.bincount(group_of, weights=c)
    n_groups = len(sizes)
    if n_groups == n:
        return wilson_interval(int(round(hits.sum())), n, z)
    if n_groups < 2:
        return 0.0, 1.0
    p = float(hits.sum()) / n
    t = float(scipy.stats.t.ppf(scipy.stats.norm.cdf(z), n_groups - 1))
    variance = n_groups / (n_groups - 1) * float(((hits - p * sizes) ** 2).sum()) / (n * n)
    if 0.0 < p < 1.0 and variance > 0.0:
        n_eff = min(float(n), p * (1.0 - p) / variance)
    else:
        n_eff = float(n_groups)
    return _wilson(p, n_eff, t)


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> tuple[int, float]:
    """The most frequent training label and the test accuracy of always predicting it.

    Args:
        train_labels: ``[n_train]`` non-negative int labels (at least one).
        test_labels: ``[n_test]`` int labels; an empty test set scores 0.0.

    Returns:
        ``(label, accuracy)``; ties go to the smallest label.

    Example:
        >>> majority_baseline(np.array([2, 2, 1]), np.array([2, 1, 1, 2]))
        (2, 0.5)
    """
    train = np.asarray(train_labels, dtype=np.int64)
    if train.size == 0:
        raise ValueError("the majority baseline needs at least one training label")
    label = int(np.argmax(np.bincount(train)))
    test = np.asarray(test_labels, dtype=np.int64)
    return label, float(np.mean(test == label)) if test.size else 0.0


class _ConstantClassifier:
    """Stands in for a scikit-learn classifier when the training labels have one class.

    scikit-learn refuses to fit a classifier on a single class; predicting that class is the
    only sensible probe (and the one a consumer of :class:`ProbeFit` can still call).
    """

    def __init__(self, label: int) -> None:
        self.classes_ = np.array([label], dtype=np.int64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.classes_[0], dtype=np.int64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.ones((len(x), 1))


def _standardiser(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)``, each ``[d]`` float32, of the training rows (scale floored)."""
    x64 = np.asarray(x_train, dtype=np.float64)
    return x64.mean(axis=0).astype(np.float32), np.maximum(x64.std(axis=0), _MIN_SCALE).astype(np.float32)


def _standardise(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.float32) - mean) / scale).astype(np.float32, copy=False)


def _new_classifier(classifier: str, c: float, seed: int, mlp_hidden: int) -> Any:
    if classifier == "logistic":
        # lbfgs fits the multinomial (softmax) model for more than two classes; warm_start lets
        # each larger C start from the previous, more regularised solution.
        return LogisticRegression(C=c, solver="lbfgs", max_iter=_LOGISTIC_MAX_ITER, tol=_LOGISTIC_TOL, warm_start=True)
    if classifier == "mlp":
        return MLPClassifier(
            hidden_layer_sizes=(mlp_hidden,),
            alpha=1.0 / c,
            early_stopping=False,
            max_iter=_MLP_MAX_ITER,
            tol=_MLP_TOL,
            random_state=seed % 2**32,  # scikit-learn takes [0, 2**32) only
        )
    raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")


def _fit_quietly(model: Any, x: np.ndarray, y: np.ndarray) -> Any:
    # An unconverged fit at max_iter is an implicitly stronger regulariser, not an error; the
    # warning would otherwise be logged hundreds of times per analysis.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model


def _proba_all(model: Any, xs: np.ndarray, n_labels: int) -> np.ndarray:
    """``[n, n_labels]`` probabilities of standardised rows; classes unseen in training get 0."""
    out = np.zeros((len(xs), n_labels))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(xs)
    return out


def _accuracy(model: Any, xs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(xs) == y)) if len(y) else 0.0


def _check_stop(stop: Callable[[], bool] | None, what: str) -> None:
    if stop is not None and stop():
        raise Cancelled(Reason.CANCELLED, f"the client cancelled the {what}")


@dataclass
class ProbeFit:
    """A fitted probe and its scores.

    Attributes:
        score: accuracy on the test items.
        score_low: lower end of the 95% interval of ``score``: Wilson's over independent test
            items, :func:`clustered_interval` over grouped ones.
        score_high: upper end of that interval.
        train_score: accuracy on the training items.
        validation_score: accuracy on the validation items at the chosen ``regularization``.
        regularization: the chosen inverse L2 strength ``C`` (for the MLP, ``alpha = 1 / C``).
        model: the fitted scikit-learn classifier (or a constant stand-in when training had one
            class); it expects *standardised* inputs -- use :meth:`predict` on raw features.
        mean: ``[d]`` float32 training mean used to standardise.
        scale: ``[d]`` float32 training standard deviation (floored at 1e-6).
        n_labels: number of classes of the task (columns of :meth:`predict_proba`).
    """

    score: float
    score_low: float
    score_high: float
    train_score: float
    validation_score: float
    regularization: float
    model: Any
    mean: np.ndarray
    scale: np.ndarray
    n_labels: int = 0

    def _width(self) -> int:
        return self.n_labels or int(np.max(self.model.classes_)) + 1

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``[n]`` int64 predicted labels of raw features ``x`` ``[n, d]``."""
        return np.asarray(self.model.predict(_standardise(x, self.mean, self.scale)), dtype=np.int64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``[n, n_labels]`` float64 class probabilities of raw features ``x`` ``[n, d]``.

        Classes absent from the training split get probability 0 (add a floor before taking
        logarithms, as :func:`~.mdl.online_codelength` does).
        """
        return _proba_all(self.model, _standardise(x, self.mean, self.scale), self._width())


def fit_probe(
    x: np.ndarray,
    y: np.ndarray,
    split: Split,
    n_labels: int,
    *,
    classifier: str = "logistic",
    regularization: Sequence[float] = DEFAULT_REGULARIZATION,
    seed: int = 0,
    mlp_hidden: int = 256,
    stop: Callable[[], bool] | None = None,
    groups: np.ndarray | None = None,
) -> ProbeFit:
    """Fit a probe for each ``C``, keep the best on validation, score it on test.

    Strengths are tried in increasing order of ``C`` (decreasing regularisation); the logistic
    probe warm-starts each fit from the previous solution. The chosen ``C`` has the highest
    validation accuracy, ties going to the *smaller* ``C``: with equal evidence, the simpler probe
    (Hewitt & Liang recommend strongly regularised probes). With an empty validation split every
    ``C`` ties and the smallest wins. When the training items carry a single class the probe
    predicts that class, whatever ``C``.

    Args:
        x: ``[n_items, d]`` features (float32, or anything numpy converts).
        y: ``[n_items]`` int labels in ``[0, n_labels)``.
        split: *item* indices (see :func:`~.split.items_of` for token-level tasks); train must
            not be empty.
        n_labels: number of classes of the task.
        classifier: ``"logistic"`` (multinomial logistic regression, lbfgs) or ``"mlp"`` (one
            hidden ReLU layer of ``mlp_hidden`` units, Adam, ``alpha = 1 / C``).
        regularization: inverse L2 strengths to try, each > 0.
        seed: seeds the MLP's initialisation (the logistic fit is deterministic); any int.
        mlp_hidden: hidden units of the MLP probe.
        stop: called before every fit; when it returns True the fit is abandoned.
        groups: ``[n_items]`` the group of each item (for token-level tasks, the sentence or
            split group of each word); the interval is then :func:`clustered_interval` over the
            test items' groups. ``None``: items are independent, Wilson's interval.

    Returns:
        :class:`ProbeFit` (test accuracy with its interval over the test items).

    Raises:
        Cancelled: ``CANCELLED`` when ``stop()`` returned True.
        ValueError: shapes disagree (``groups`` included), a label or index is out of range, the
            training split is empty, an unknown classifier, or no / a non-positive ``C``.

    Example:
        >>> x = np.array([[0.0], [1.0], [0.1], [0.9], [0.2], [0.8]], dtype=np.float32)
        >>> y = np.array([0, 1, 0, 1, 0, 1])
        >>> fit = fit_probe(x, y, Split(np.arange(4), np.array([4]), np.array([5])), n_labels=2)
        >>> fit.score, fit.predict(np.array([[0.05], [0.95]], dtype=np.float32)).tolist()
        (1.0, [0, 1])
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be [n, d] and y [n], got {list(x.shape)} and {list(y.shape)}")
    if n_labels < 1 or (y.size and (y.min() < 0 or y.max() >= n_labels)):
        raise ValueError(f"labels must be in [0, {n_labels})")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    if groups is not None and np.shape(groups) != y.shape:
        raise ValueError(f"groups must be [n] like y, got {list(np.shape(groups))}")
    strengths = sorted(float(c) for c in regularization)
    if not strengths or strengths[0] <= 0:
        raise ValueError(f"regularization must hold positive values, got {list(regularization)}")
    parts = [np.asarray(p, dtype=np.int64) for p in (split.train, split.validation, split.test)]
    for p in parts:
        if p.size and (p.min() < 0 or p.max() >= len(y)):
            raise ValueError(f"split indices must be in [0, {len(y)})")
    train, validation, test = parts
    if train.size == 0:
        raise ValueError("the training split is empty")

    mean, scale = _standardiser(x[train])
    xs = _standardise(x, mean, scale)
    x_tr, y_tr = xs[train], y[train]
    x_va, y_va = xs[validation], y[validation]

    best: tuple[float, float, Any] | None = None  # (validation accuracy, C, model)
    if np.unique(y_tr).size < 2:
        _check_stop(stop, "probe fit")
        model: Any = _ConstantClassifier(int(y_tr[0]))
        best = (_accuracy(model, x_va, y_va), strengths[0], model)
    else:
        model = None
        for c in strengths:
            _check_stop(stop, "probe fit")
            if classifier == "logistic" and model is not None:
                model.set_params(C=c)
            else:
                model = _new_classifier(classifier, c, seed, mlp_hidden)
            _fit_quietly(model, x_tr, y_tr)
            acc = _accuracy(model, x_va, y_va)
            if best is None or acc > best[0]:
                # The warm-started model is refitted in place for the next C: keep a copy.
                best = (acc, c, copy.deepcopy(model) if classifier == "logistic" else model)
    assert best is not None
    val_acc, c, chosen = best

    hit = chosen.predict(xs[test]) == y[test] if test.size else np.zeros(0, dtype=bool)
    correct = int(hit.sum())
    low, high = wilson_interval(correct, int(test.size)) if groups is None else clustered_interval(hit, np.asarray(groups)[test])
    return ProbeFit(
        score=correct / test.size if test.size else 0.0,
        score_low=low,
        score_high=high,
        train_score=_accuracy(chosen, x_tr, y_tr),
        validation_score=val_acc,
        regularization=c,
        model=chosen,
        mean=mean,
        scale=scale,
        n_labels=n_labels,
    )
