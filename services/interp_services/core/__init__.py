"""Pure analysis code: torch/transformers only, no gRPC, Ray or storage.

- ``models``    -- resolve, load and cache models (``ModelCache``, ``LoaderSettings``).
- ``hooks``     -- canonical hook-site tables per architecture family.
- ``run``       -- a batch forward pass with capture and interventions (``run_model``).
- ``attention`` -- attention analysis (``analyze_attention``, ``compare_attention``).
- ``errors``    -- typed errors with machine-readable reasons.
"""

from interp_services.core.attention import AttentionResult, HeadRole, analyze_attention, compare_attention
from interp_services.core.errors import InterpError
from interp_services.core.models import LoadedModel, LoaderSettings, ModelCache
from interp_services.core.run import Intervention, RunOutput, run_model, tokenize

__all__ = [
    "AttentionResult",
    "HeadRole",
    "InterpError",
    "Intervention",
    "LoadedModel",
    "LoaderSettings",
    "ModelCache",
    "RunOutput",
    "analyze_attention",
    "compare_attention",
    "run_model",
    "tokenize",
]
