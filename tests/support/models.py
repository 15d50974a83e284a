"""Small models built by the tests: random GPT-2s that share the toy model's 21-symbol tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

TOY_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "toy_induction"


def random_gpt2(
    path: Path,
    *,
    seed: int,
    n_embd: int,
    n_head: int,
    n_layer: int,
    n_inner: int | None = None,
    initializer_range: float = 0.02,
    bias_std: float = 0.0,
    pickled: bool = False,
) -> Path:
    """Write a random GPT-2 (weights from ``torch.manual_seed(seed)``) and the toy's tokenizer to
    ``path``; loads in milliseconds.

    Args:
        bias_std: when > 0, every bias is drawn from N(0, bias_std) instead of starting at zero
            (so head-order and bias mistakes show).
        pickled: write ``pytorch_model.bin`` (a pickle, as ``safe_serialization=False`` did)
            instead of safetensors.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=21, n_embd=n_embd, n_head=n_head, n_layer=n_layer, n_inner=n_inner, n_positions=64,
        pad_token_id=20, bos_token_id=None, eos_token_id=None, initializer_range=initializer_range,
    )
    model = GPT2LMHeadModel(config)
    if bias_std > 0:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0.0, bias_std)
    path.mkdir(parents=True, exist_ok=True)
    if pickled:
        config.save_pretrained(path)
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    else:
        model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOY_MODEL / name, path / name)
    return path
