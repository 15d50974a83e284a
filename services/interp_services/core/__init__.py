"""Pure analysis code: torch/transformers only, no gRPC, Ray or storage.

- ``models``    -- resolve, load and cache models (``ModelCache``, ``LoaderSettings``).
- ``hooks``     -- canonical hook-site tables per architecture family.
- ``run``       -- a batch forward pass with capture and interventions (``run_model``).
- ``tokens``    -- tokens as a reader should see them (``display_tokens``).
- ``attention`` -- attention analysis (``analyze_attention``, ``compare_attention``), a package.
- ``errors``    -- typed errors; ``reasons`` -- their reasons, generated from the contract.
"""

from interp_services.core.attention import AttentionResult, HeadRole, analyze_attention, compare_attention
from interp_services.core.errors import InterpError
from interp_services.core.models import LoadedModel, LoaderSettings, ModelCache
from interp_services.core.reasons import Reason
from interp_services.core.run import Intervention, RunOutput, run_model, tokenize
from interp_services.core.tokens import display_tokens

__all__ = [
    "AttentionResult",
    "HeadRole",
    "InterpError",
    "Intervention",
    "LoadedModel",
    "LoaderSettings",
    "ModelCache",
    "Reason",
    "RunOutput",
    "analyze_attention",
    "compare_attention",
    "display_tokens",
    "run_model",
    "tokenize",
]
