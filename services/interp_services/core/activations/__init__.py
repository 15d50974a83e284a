"""Dataset-scale neuron statistics: streaming moments, histograms, top-k examples, concept scores.

A scan over a dataset hands this package activations one batch at a time, ``[n_tokens, width]``
for one hook site; nothing here keeps the activations, so memory stays O(width) (O(width * k)
for the top-k examples) however many tokens go by. Every accumulator can be merged with another
of its kind, so shards scanned by different workers combine exactly. Pure torch / numpy / scipy
on the CPU; no model, no store, no gRPC.

Where things are
----------------
=========== ================================================================================
module      contents
=========== ================================================================================
``stats``   ``RunningMoments`` (mean, std, skewness, kurtosis, max, min, zero and positive
            fractions per neuron; layer aggregates), ``StreamingHistogram``, ``TopKTracker``
``concept`` ``concept_scores`` (AUROC, Cohen's d, Mann-Whitney p with Bonferroni and BH),
            ``rank_concept_neurons``, ``aggregate_tokens`` (masked max / mean per text)
``dataset`` ``DatasetStatistics``: the accumulators of several layers and site families fed
            batch by batch; ``LayerSummary``; ``describe_layers`` (the picture in words)
``sites``   site families (``mlp_post``, ``resid_post``, ...) -> hook-site names and widths
``gradients`` ``text_gradients`` (norms, saliency, attention-weight gradients),
            ``gradient_flow`` (vanishing/exploding), ``gradient_findings``
``importance`` per-text neuron scores from gradients (``gradient_scores``), ``rank``
=========== ================================================================================

Example:
    >>> import torch
    >>> moments, top = RunningMoments(width=4), TopKTracker(width=4, k=3)
    >>> for text in range(2):
    ...     act = torch.randn(10, 4)  # [tokens, neurons] of one text
    ...     moments.update(act)
    ...     top.update(act, torch.full((10,), text), torch.arange(10))
    >>> moments.count, len(top.top(0))
    (20, 3)
"""

from interp_services.core.activations.concept import (
    ConceptScores,
    aggregate_tokens,
    concept_scores,
    rank_concept_neurons,
)
from interp_services.core.activations.dataset import DEFAULT_ZERO_THRESHOLD, DatasetStatistics, LayerSummary, describe_layers
from interp_services.core.activations.gradients import (
    GradientFlow,
    TextGradients,
    gradient_findings,
    gradient_flow,
    text_gradients,
)
from interp_services.core.activations.importance import RANKING_METHODS, gradient_scores, rank
from interp_services.core.activations.sites import SITE_PATTERNS, context_window, site_name, site_width
from interp_services.core.activations.stats import RunningMoments, StreamingHistogram, TopKTracker

__all__ = [
    "DEFAULT_ZERO_THRESHOLD",
    "RANKING_METHODS",
    "SITE_PATTERNS",
    "ConceptScores",
    "DatasetStatistics",
    "GradientFlow",
    "LayerSummary",
    "TextGradients",
    "context_window",
    "describe_layers",
    "gradient_findings",
    "gradient_flow",
    "gradient_scores",
    "rank",
    "site_name",
    "site_width",
    "text_gradients",
    "RunningMoments",
    "StreamingHistogram",
    "TopKTracker",
    "aggregate_tokens",
    "concept_scores",
    "rank_concept_neurons",
]
