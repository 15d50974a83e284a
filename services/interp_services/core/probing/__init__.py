"""Probing and representation similarity: what a model's hidden states encode, and how alike two
sets of hidden states are.

Input is frozen features -- one vector per item (a word or a text), ``[n_items, d_model]``,
typically a layer's residual stream -- with labels, trees or an aligned second representation.
Pure numpy / scikit-learn / scipy / torch on the CPU; no model, no store, no gRPC.

A probing result is only as good as its controls, so every score here comes with one: held-out
groups (:mod:`.split`), an interval (Wilson's, or clustered by sentence for words), the majority
baseline, a control task for selectivity (Hewitt & Liang 2019), the description length next to
accuracy (Voita & Titov 2020), and the chain-tree baseline for structural probes.

Where things are
----------------
============== ===============================================================================
module         contents
============== ===============================================================================
``split``      ``Split``, ``group_split`` (train / validation / test by group), ``items_of``
``control``    control tasks: ``control_labels`` (a random label per word type),
               ``sentence_control_labels`` (texts binned by random word-type weights),
               ``control_heads`` (random trees per word type); selectivity = task - control
``probe``      ``fit_probe`` (logistic or MLP probe, C chosen on validation, test accuracy with
               a Wilson or sentence-clustered interval), ``ProbeFit``, ``majority_baseline``,
               ``wilson_interval``, ``clustered_interval``
``mdl``        ``online_codelength`` (online code, Voita & Titov 2020), ``MdlResult``
``structural`` Hewitt & Manning's depth and distance probes: ``fit_structural``,
               ``StructuralFit``, ``check_tree``, ``tree_depths``, ``tree_distances``,
               ``baseline_score``
``similarity`` ``linear_cka`` (plain and debiased), ``rsa``, ``paired_cosine`` / ``CosineResult``
``directions`` ``label_directions`` (difference of means), ``cosine_matrix``,
               ``counterfactual_effect`` / ``CounterfactualEffect``
``features``   from token vectors to probe inputs: ``word_spans``, ``word_tokens`` (a word's
               sub-word tokens from character offsets), ``positions_to_pool``
============== ===============================================================================

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 16)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)  # the label is linearly encoded
    >>> split = group_split([str(i) for i in range(400)], seed=0)
    >>> task = fit_probe(x, y, split, n_labels=2)
    >>> control = fit_probe(x, control_labels([str(i % 50) for i in range(400)], y, 2, seed=0), split, 2)
    >>> task.score > 0.9, task.score - control.score > 0.3
    (True, True)
"""

from interp_services.core.probing.control import control_heads, control_labels, sentence_control_labels
from interp_services.core.probing.directions import (
    CounterfactualEffect,
    cosine_matrix,
    counterfactual_effect,
    label_directions,
)
from interp_services.core.probing.features import positions_to_pool, word_spans, word_tokens
from interp_services.core.probing.mdl import DEFAULT_BLOCKS, MdlResult, online_codelength
from interp_services.core.probing.probe import (
    CLASSIFIERS,
    DEFAULT_REGULARIZATION,
    ProbeFit,
    clustered_interval,
    fit_probe,
    majority_baseline,
    wilson_interval,
)
from interp_services.core.probing.similarity import CosineResult, linear_cka, paired_cosine, rsa
from interp_services.core.probing.split import Split, group_split, items_of
from interp_services.core.probing.structural import (
    STRUCTURAL_KINDS,
    StructuralFit,
    baseline_score,
    check_tree,
    fit_structural,
    tree_depths,
    tree_distances,
)

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_BLOCKS",
    "DEFAULT_REGULARIZATION",
    "STRUCTURAL_KINDS",
    "CosineResult",
    "CounterfactualEffect",
    "MdlResult",
    "ProbeFit",
    "Split",
    "StructuralFit",
    "baseline_score",
    "check_tree",
    "clustered_interval",
    "control_heads",
    "control_labels",
    "cosine_matrix",
    "counterfactual_effect",
    "fit_probe",
    "fit_structural",
    "group_split",
    "items_of",
    "label_directions",
    "linear_cka",
    "majority_baseline",
    "online_codelength",
    "paired_cosine",
    "positions_to_pool",
    "rsa",
    "sentence_control_labels",
    "tree_depths",
    "tree_distances",
    "wilson_interval",
    "word_spans",
    "word_tokens",
]
