"""What the benchmarks share: the model cache, a free port for a fleet, the packaged SmolLM2 loaded
the ordinary way as the baseline, and padding a batch of token ids for a bare loop."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import torch

MODEL_CACHE = Path.home() / ".cache" / "interp-suite" / "models"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain_causal_lm(name: str = "smollm2-135m"):
    """The model from the suite's converted cache directory, loaded the ordinary way
    (``AutoModelForCausalLM``, sdpa attention, float32, eval): the baseline a script would use."""
    from transformers import AutoModelForCausalLM

    from interp_services.core.models import LoaderSettings, ModelCache

    path = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE)).resolver.resolve(name, lambda *a: None)[0]
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def padded(batch: Sequence[Sequence[int]], pad_id: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask`` of a batch of token id lists."""
    n = max(len(b) for b in batch)
    ids = torch.full((len(batch), n), pad_id or 0)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        ids[i, : len(b)] = torch.tensor(b)
        mask[i, : len(b)] = 1
    return ids, mask
