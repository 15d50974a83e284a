"""Ground truth for the head-role analysis: a toy model whose mechanism is known.

``tests/fixtures/toy_induction`` is a 2-layer, 1-head-per-layer attention-only GPT-2 trained on
in-context bigrams (``tests/toy_models/induction.py``). Its only way to beat chance is the
textbook circuit: a previous-token head in layer 0 feeding an induction head in layer 1. These
tests load it the way a service would (transformers, eager attention), feed its attention to
``analyze_attention`` and check that the analysis names those two heads, and that the model
really relies on them (successor accuracy far above chance, back to chance without layer 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from interp_services.core.attention import (
    AttentionResult,
    HeadRole,
    analyze_attention,
    compare_attention,
)

try:  # tests/ is a package: pytest puts the repository root on sys.path
    from tests.toy_models import induction
except ImportError:  # tests/ as a plain directory: pytest puts tests/ itself on sys.path
    from toy_models import induction  # type: ignore[no-redef]

FIXTURE = Path(__file__).parent / "fixtures" / "toy_induction"
NUM_SEQUENCES = 8
EVAL_SEED = 4242  # not the seed the training script evaluates on: these sequences are fresh


def load(model_dir: Path) -> tuple[Any, Any]:
    """Tokenizer and model from a directory, as the model host would load them."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    model.eval()
    return tokenizer, model


def analyze_sequences(tokenizer: Any, model: Any, batch: induction.BigramBatch) -> list[AttentionResult]:
    """Tokenize each sequence's text, run the model and analyse all heads of every layer."""
    results = []
    for text in induction.sequences_to_text(batch.tokens):
        enc = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc, output_attentions=True)
        assert out.attentions, "eager attention must return attention weights"
        ids = enc.input_ids[0].tolist()
        cfg = model.config
        results.append(
            analyze_attention(
                {layer: att[0] for layer, att in enumerate(out.attentions)},
                list(range(cfg.n_head)),
                tokenizer.convert_ids_to_tokens(ids),
                ids,
                causal=True,
                num_layers=cfg.n_layer,
                num_heads=cfg.n_head,
            )
        )
    return results


def check_circuit(tokenizer: Any, model: Any) -> None:
    """The assertions shared by the fixture test and the retraining test."""
    batch = induction.evaluation_sequences(NUM_SEQUENCES, seed=EVAL_SEED)
    # The tokenizer must map the text form back to exactly the generated ids.
    texts = induction.sequences_to_text(batch.tokens)
    assert tokenizer(texts[0]).input_ids == batch.tokens[0].tolist()

    results = analyze_sequences(tokenizer, model, batch)
    comparisons, findings = compare_attention(results)
    by_head = {(c.layer, c.head): c for c in comparisons}

    prev = by_head[(0, 0)]
    assert prev.consensus_role is HeadRole.PREVIOUS_TOKEN, findings
    assert prev.role_agreement == 1.0, findings
    induction_heads = [c for c in comparisons if c.layer == 1 and c.consensus_role is HeadRole.INDUCTION]
    assert induction_heads, findings
    assert induction_heads[0].role_agreement == 1.0, findings

    # The scores themselves, averaged over the sequences, are well clear of the 0.4 threshold
    # and of each other's role (the previous-token head is not induction, and vice versa).
    l0 = [h for r in results for h in r.heads if h.layer == 0]
    l1 = [h for r in results for h in r.heads if (h.layer, h.head) == (1, induction_heads[0].head)]
    assert sum(h.scores.previous_token for h in l0) / len(l0) > 0.5
    assert sum(h.scores.induction for h in l0) / len(l0) < 0.3
    assert sum(h.scores.induction for h in l1) / len(l1) > 0.6
    assert sum(h.scores.previous_token for h in l1) / len(l1) < 0.2
    assert any("induction head" in line for line in results[0].findings)

    # The model uses the mechanism: it predicts succ[current] wherever the context shows it,
    # is at chance where it does not, and falls to chance without the layer-1 attention.
    metrics = induction.evaluate(model, induction.evaluation_sequences(64, seed=EVAL_SEED + 1))
    chance = metrics["chance_accuracy"]
    assert metrics["successor_accuracy"] > 0.8 > 10 * chance
    assert metrics["unseen_accuracy"] < 3 * chance
    assert metrics["ablated_successor_accuracy"] < 3 * chance


def test_fixture_is_small_and_attention_only() -> None:
    assert (FIXTURE / "model.safetensors").stat().st_size < 1_000_000
    _, model = load(FIXTURE)
    for block in model.transformer.h:
        assert torch.count_nonzero(block.mlp.c_proj.weight) == 0
        assert torch.count_nonzero(block.mlp.c_proj.bias) == 0


def test_tokenizer_reads_symbol_words() -> None:
    tokenizer, _ = load(FIXTURE)
    assert tokenizer("a c f a c").input_ids == [0, 2, 5, 0, 2]
    assert tokenizer.convert_ids_to_tokens([0, 18]) == ["a", "s"]


def test_fixture_heads_are_previous_token_and_induction() -> None:
    check_circuit(*load(FIXTURE))


@pytest.mark.slow
def test_retraining_reproduces_the_circuit(tmp_path: Path) -> None:
    metrics = induction.train_induction_model(tmp_path, seed=induction.DEFAULT_SEED)
    assert metrics["previous_token"][0][0] > 0.5
    assert metrics["induction"][1][0] > 0.6
    check_circuit(*load(tmp_path))
