"""Train / validation / test splits by group, so that no group straddles two splits.

Probing results are only meaningful on held-out data that does not share a source with the
training data: sentences generated from one template, or the words of one sentence, are far more
alike than two random items, and a probe that sees some of them in training is partly graded on
memory. :func:`group_split` therefore assigns whole *groups* of examples to one split; an example
without a group is its own group. Token-level tasks split their sentences (examples) this way and
then take every word of a sentence into that sentence's split with :func:`items_of`.

Example:
    >>> s = group_split(["a", "a", "b", "c", "d", "d", "e"], validation_fraction=0.2, test_fraction=0.2)
    >>> sorted(s.train.tolist() + s.validation.tolist() + s.test.tolist())
    [0, 1, 2, 3, 4, 5, 6]
    >>> words_of = np.array([0, 0, 0, 1, 1, 2])  # the example each word belongs to
    >>> items_of(np.array([0, 2]), words_of).tolist()
    [0, 1, 2, 5]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from interp_services.core.errors import invalid
from interp_services.core.reasons import Reason

__all__ = [
    "Split",
    "group_split",
    "items_of",
]


@dataclass(frozen=True)
class Split:
    """Indices of the three parts of a split, each a sorted ``int64`` array.

    Whether they index examples or items (words) depends on who made them: :func:`group_split`
    returns example indices, :func:`items_of` turns them into item indices.

    Attributes:
        train: ``[n_train]`` indices the probe is fitted on.
        validation: ``[n_validation]`` indices the regularisation (or early stopping) is chosen on.
        test: ``[n_test]`` indices the reported score is measured on.
    """

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def group_split(
    groups: Sequence[str],
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    field: str = "tasks",
    labels: Sequence[Iterable[int]] | None = None,
    min_per_split: int = 1,
) -> Split:
    """Split examples into train, validation and test by group.

    The distinct groups are sorted (so that the order of the examples does not matter), shuffled
    with ``numpy.random.default_rng(seed)`` and dealt out in that order: test takes groups until
    it holds at least ``test_fraction`` of the *examples*, then validation until it holds
    ``validation_fraction``, and train gets the rest. Quotas count examples rather than groups so
    that a few large groups do not make a split far bigger than asked; every split gets at least
    ``min_per_split`` groups.

    With ``labels``, the deal also keeps every label in training: a group is passed over (left
    for train) when it holds the last group-not-yet-held-out of one of its labels. A probe can
    only predict the classes it was trained on, so a label seen only in validation or test
    would be scored wrong whatever the representation, and a training split of one class leaves
    nothing to fit. The shuffle still decides everything else, so a label held by many groups
    lands in every split about as often as before.

    Args:
        groups: ``[n_examples]`` the group of each example (give each ungrouped example a unique
            name, e.g. its index).
        validation_fraction: share of the examples held out to choose hyper-parameters, in (0, 1).
        test_fraction: share of the examples held out for the reported score, in (0, 1); the two
            fractions must sum to less than 1.
        seed: seed of the shuffle (any int); the same groups and seed always give the same split.
        field: request field named in the error, e.g. ``"tasks[2].examples"``.
        labels: ``[n_examples]`` the labels each example holds (one for a sentence-level
            example, its words' labels for a token-level one); ``None`` to ignore labels.
        min_per_split: fewest groups each split may hold (>= 1).

    Returns:
        :class:`Split` of example indices; together they cover every example exactly once.

    Raises:
        InvalidArgument: ``PROBE_TOO_FEW_EXAMPLES`` when there are fewer than
            ``3 * min_per_split`` groups, or when keeping every label in training leaves
            validation or test fewer than ``min_per_split``.
        ValueError: fractions outside (0, 1) or summing to 1 or more, ``labels`` of another
            length or ``min_per_split < 1`` (caller bugs: the servicer validates options first).

    Example:
        >>> s = group_split([str(i) for i in range(20)], seed=1)
        >>> len(s.train), len(s.validation), len(s.test)
        (13, 3, 4)
        >>> s = group_split([str(i) for i in range(20)], labels=[[0]] * 19 + [[1]], seed=1)
        >>> 19 in s.train
        True
    """
    if not (0.0 < validation_fraction < 1.0 and 0.0 < test_fraction < 1.0):
        raise ValueError(f"fractions must be in (0, 1), got validation={validation_fraction}, test={test_fraction}")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(f"validation_fraction + test_fraction must be < 1, got {validation_fraction + test_fraction}")
    if min_per_split < 1:
        raise ValueError(f"min_per_split must be >= 1, got {min_per_split}")
    if labels is not None and len(labels) != len(groups):
        raise ValueError(f"{len(groups)} groups but {len(labels)} label lists")
    names = [str(g) for g in groups]
    unique = sorted(set(names))
    needed = 3 * min_per_split
    if len(unique) < needed:
        raise invalid(
            Reason.PROBE_TOO_FEW_EXAMPLES,
            field,
            f"{len(names)} examples in {len(unique)} distinct group(s); a train/validation/test split with at least "
            f"{min_per_split} group(s) in each part needs at least {needed} groups",
        )
    index = {g: i for i, g in enumerate(unique)}
    group_of = np.fromiter((index[g] for g in names), dtype=np.int64, count=len(names))
    sizes = np.bincount(group_of, minlength=len(unique))
    group_labels: list[set[int]] = [set() for _ in unique]
    if labels is not None:
        for g, ls in zip(group_of.tolist(), labels, strict=True):
            group_labels[g].update(int(x) for x in ls)
    # Groups of each label not (yet) held out: a group may be held out only while every one of
    # its labels keeps another one for train.
    flat = [x for ls in group_labels for x in ls]
    left = np.bincount(np.asarray(flat, dtype=np.int64), minlength=1)
    # default_rng takes non-negative seeds only; any int (a request's int64) is reduced mod 2**64.
    order = np.random.default_rng(seed % 2**64).permutation(len(unique)).tolist()

    n = len(names)
    assignment = np.zeros(len(unique), dtype=np.int8)  # 0 train, 1 validation, 2 test
    held = 0
    # While filling test, leave ``min_per_split`` groups each for validation and train; while
    # filling validation, ``min_per_split`` for train. Validation continues down the same order.
    for part, fraction, reserve in ((2, test_fraction, 2 * min_per_split), (1, validation_fraction, min_per_split)):
        taken = count = 0
        for g in order:
            if (taken >= min_per_split and count >= fraction * n) or len(unique) - held <= reserve:
                break
            if assignment[g] or any(left[x] <= 1 for x in group_labels[g]):
                continue
            assignment[g] = part
            left[list(group_labels[g])] -= 1
            count += int(sizes[g])
            taken += 1
            held += 1
        if taken < min_per_split:
            what = "test" if part == 2 else "validation"
            kept = " once every label keeps an example in training" if labels is not None else ""
            raise invalid(
                Reason.PROBE_TOO_FEW_EXAMPLES,
                field,
                f"{len(names)} examples in {len(unique)} distinct group(s): the {what} split gets only {taken} group(s){kept}, "
                f"and it needs at least {min_per_split}; give more examples (or more groups)",
            )

    per_example = assignment[group_of]
    return Split(
        train=np.flatnonzero(per_example == 0).astype(np.int64),
        validation=np.flatnonzero(per_example == 1).astype(np.int64),
        test=np.flatnonzero(per_example == 2).astype(np.int64),
    )


def items_of(split_examples: np.ndarray, item_example: np.ndarray) -> np.ndarray:
    """Indices of the items whose example is in ``split_examples``.

    Args:
        split_examples: ``[k]`` example indices, e.g. ``split.test`` from :func:`group_split`.
        item_example: ``[n_items]`` the example index of each item (e.g. of each word).

    Returns:
        ``[m]`` sorted ``int64`` item indices.

    Example:
        >>> items_of(np.array([1]), np.array([0, 1, 1, 2])).tolist()
        [1, 2]
    """
    return np.flatnonzero(np.isin(np.asarray(item_example), np.asarray(split_examples))).astype(np.int64)
