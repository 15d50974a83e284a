"""Pure analysis code: torch/transformers only, no gRPC, Ray or storage.

- ``models``    -- resolve, load and cache models (``ModelCache``, ``LoaderSettings``).
- ``hooks``     -- canonical hook-site tables per architecture family.
- ``run``       -- batch forward/backward passes with capture, interventions, metrics and
  gradients (``run_model``; ``prepare_job`` + ``run_jobs`` merge several requests).
- ``interventions`` -- typed interventions and where they apply; ``metrics`` -- typed metrics.
- ``generate``  -- token-by-token generation under interventions.
- ``batching``  -- merges concurrent requests for one model into one forward pass.
- ``tokens``    -- tokens as a reader should see them (``display_tokens``).
- ``attention`` -- attention analysis (``analyze_attention``, ``compare_attention``), a package.
- ``errors``    -- typed errors; ``reasons`` -- their reasons, generated from the contract.
"""

from interp_services.core.attention import AttentionResult, HeadRole, analyze_attention, compare_attention
from interp_services.core.errors import InterpError
from interp_services.core.generate import GeneratedToken, GenerationResult, GenerationSettings, generate
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from interp_services.core.models import LoadedModel, LoaderSettings, ModelCache
from interp_services.core.reasons import Reason
from interp_services.core.run import RunJob, RunOutput, prepare_job, run_jobs, run_model, tokenize
from interp_services.core.tokens import display_tokens

__all__ = [
    "AttentionResult",
    "GeneratedToken",
    "GenerationResult",
    "GenerationSettings",
    "HeadRole",
    "InterpError",
    "Intervention",
    "LoadedModel",
    "LoaderSettings",
    "Metric",
    "ModelCache",
    "Reason",
    "RunJob",
    "RunOutput",
    "analyze_attention",
    "compare_attention",
    "display_tokens",
    "generate",
    "prepare_job",
    "run_jobs",
    "run_model",
    "tokenize",
]
