"""Attention-pattern analysis: entropy, head roles, strongest links and plain-English findings.

The attention service reads patterns that the model host captured (``blocks.{L}.attn.hook_pattern``)
from the store; it needs no weights and no autograd, so this package is pure tensor arithmetic on
already-softmaxed probabilities. Everything runs on CPU in float32, whatever the input dtype:
30 layers x 9 heads x 512^2 tokens is 70M weights (280 MB in float32, twice that in float64),
and float32 reductions over at most a few thousand keys are accurate to ~1e-6, far below any
threshold used here.

What the analysis does
----------------------
For every analysed head it computes the entropy of each query's attention, the mean attention
distance and one *role score* per role: the mean attention mass on the key(s) that role predicts
(previous token, current token, first token, next token, the induction keys, the best fixed
offset). Rules on those scores name the head (:func:`assign_role`); a head that parks its
attention on the first token (a sink) is also named for what it does with the rest. It then lists
the strongest query -> key links and writes a few findings. The roles table, how each score is
defined and the role-assignment rules (thresholds, chance test, tie-breaks) are documented in
:mod:`.roles`.

Where things are
----------------
============== =============================================================================
module         contents
============== =============================================================================
``types``      the result dataclasses (``HeadRole``, ``HeadResult``, ``AttentionResult``, ...)
``validation`` input checks; every error carries a catalog ``Reason``
``patterns``   which key(s) a role predicts for each query (offsets, a fixed key, induction)
``roles``      the role definitions, thresholds, phrases and ``assign_role``
``scoring``    the one generic scorer (mass on a pattern's keys), entropy and distance
``sink``       the roles of sink heads beyond the sink
``links``      the strongest links (hotspots)
``findings``   the English summary lines
``analyze``    ``analyze_attention``, which runs all of the above on one input
``comparison`` ``compare_attention``, across inputs
============== =============================================================================

Example:
    >>> import torch
    >>> t = 6
    >>> prev = torch.zeros(1, t, t)
    >>> prev[0, 0, 0] = 1.0
    >>> prev[0, torch.arange(1, t), torch.arange(t - 1)] = 1.0
    >>> res = analyze_attention({0: prev}, [0], list("abcdef"), list(range(t)),
    ...                         causal=True, num_layers=1, num_heads=1)
    >>> res.heads[0].role
    <HeadRole.PREVIOUS_TOKEN: 'previous_token'>
"""

from interp_services.core.attention.analyze import analyze_attention
from interp_services.core.attention.comparison import compare_attention
from interp_services.core.attention.findings import MAX_FINDINGS
from interp_services.core.attention.patterns import Induction, Key, Offset, OffsetFamily, Pattern
from interp_services.core.attention.roles import (
    BROAD_THRESHOLD,
    CHANCE_FACTOR,
    ROLE_DEFINITIONS,
    ROLE_PRECEDENCE,
    ROLE_THRESHOLD,
    TIE_MARGIN,
    ModelKind,
    RoleDefinition,
    assign_role,
)
from interp_services.core.attention.types import (
    AttentionResult,
    HeadComparison,
    HeadResult,
    HeadRole,
    HeadRoleScores,
    LayerResult,
    Link,
)

__all__ = [
    "BROAD_THRESHOLD",
    "CHANCE_FACTOR",
    "MAX_FINDINGS",
    "ROLE_DEFINITIONS",
    "ROLE_PRECEDENCE",
    "ROLE_THRESHOLD",
    "TIE_MARGIN",
    "AttentionResult",
    "HeadComparison",
    "HeadResult",
    "HeadRole",
    "HeadRoleScores",
    "Induction",
    "Key",
    "LayerResult",
    "Link",
    "ModelKind",
    "Offset",
    "OffsetFamily",
    "Pattern",
    "RoleDefinition",
    "analyze_attention",
    "assign_role",
    "compare_attention",
]
