"""A 2-layer attention-only GPT-2 trained on in-context bigrams: ground truth for head roles.

Task (Bietti et al. 2023, "Birth of a Transformer: A Memory Viewpoint", simplified): every
sequence draws its *own* random successor map ``succ`` (a random permutation) over its alphabet.
Each next token is ``succ[current]`` with probability ``1 - JUMP_PROB`` and a uniformly random
symbol of the alphabet otherwise (a random jump one step in five). The map changes from sequence
to sequence, so the weights cannot memorise it: the only way to beat chance is to find an earlier
occurrence of the current token and copy the token that followed it. With two attention layers
and no MLPs the textbook circuit does exactly that:

* layer 0, a **previous-token head**: position ``i`` attends to ``i - 1`` and writes "my
  predecessor was x" into the residual stream;
* layer 1, an **induction head**: the query (current token ``t``) matches keys whose predecessor
  was ``t`` and copies the key's own token into the logits.

Why this task rather than a copied span or a periodic repeat: a span copied at a fixed offset is
solved by a head attending at that offset (a positional head), and a periodic sequence by diffuse
attention over the period; neither gives the previous-token -> induction pair. Here the earlier
occurrences sit at random distances, and the random jumps break any periodicity.

Three choices of the data were found by experiment (2 CPU cores, ~2000 steps each) and matter:

1. **Training alphabets vary in size** (``K ~ U{5..19}`` symbols per sequence, ``min_alphabet``).
   With all 19 symbols in every sequence, "copy a token that is in the context" gains nothing,
   the copying half of the circuit gets no gradient, and training sat on the ``ln 19`` plateau
   for 3000+ steps. With varying alphabets copying pays at once; the layer-1 head learns to copy,
   then to copy the right token, and layer 0 becomes a previous-token head within ~500 steps.
   Evaluation uses the full 19-symbol alphabet, the task as first stated.
2. **Successor maps may have fixed points** (plain random permutations). With derangements "the
   next token is never the current one" is a useful rule by itself; the layer-1 head then learned
   to copy *negatively*, and the model settled in an anti-induction solution (attend to every key
   except the successor, suppress what it reads) with an accuracy near 0.5 and no readable
   induction pattern. With fixed points allowed, ``P(next == current)`` is exactly ``1/19``.
3. Seen along the way, with all 19 symbols in every training sequence: a "first occurrence"
   shortcut (layer 0 attends to the first occurrence of the current token; layer 1 matches
   tokens whose first occurrences are adjacent). Varying alphabets make true induction pay off
   before that shortcut forms.

Result with the defaults (seed 0, 1000 steps of 64 sequences, ~70 s on 2 idle CPU cores; the
checkpoint is bit-for-bit reproducible on one machine): layer-0 previous-token score 0.67,
layer-1 induction score 0.83, successor accuracy 0.91 where the context shows the successor
(chance 0.053), 0.053 with the layer-1 attention output zeroed. Seeds 1 and 2 (checked with 800
and 1000 steps) give the same circuit. ``training_metrics.json`` next to the checkpoint holds
the exact numbers.

The model is a stock ``GPT2LMHeadModel`` so that the service code loads it like any Hugging Face
checkpoint. It is made attention-only by zeroing and freezing every ``mlp.c_proj`` weight and bias
(the MLP then adds exactly zero to the residual stream); ``n_inner`` is tiny so the dead MLPs cost
almost nothing on disk. Symbols are short words ``a`` .. ``s`` handled by a word-level tokenizer,
so ``"a c f a c"`` is five tokens.

Usage::

    python -m tests.toy_models.induction --out tests/fixtures/toy_induction
    # or: python tests/toy_models/induction.py --out ...
    # a wider variant (more heads per layer, so more edges; benchmarks/bench_circuits.py):
    python -m tests.toy_models.induction --out /tmp/toy_4h --n-head 4

Loading::

    tok = AutoTokenizer.from_pretrained(out_dir)
    model = AutoModelForCausalLM.from_pretrained(out_dir, attn_implementation="eager")
"""

from __future__ import annotations

import argparse
import json
import math
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

VOCAB_SIZE = 19
SYMBOLS: tuple[str, ...] = tuple(string.ascii_lowercase[:VOCAB_SIZE])  # "a" .. "s"
UNK_TOKEN = "<unk>"
PAD_TOKEN = "<pad>"
SEQ_LEN = 96
JUMP_PROB = 0.2

# Small enough that the checkpoint is ~200 kB and training takes a few minutes on 2 CPU cores;
# one head per layer so the roles are unambiguous (the only layer-0 head must carry the
# previous-token information, the only layer-1 head must do the copying).
N_EMBD = 64
N_HEAD = 1
N_LAYER = 2
N_POSITIONS = 128  # > SEQ_LEN; positions past SEQ_LEN are untrained, evaluate at <= SEQ_LEN
N_INNER = 4  # the MLPs are dead (c_proj is zero), so keep them as small as GPT-2 allows

INIT_STD = 0.05  # GPT-2's 0.02 lengthens the initial plateau on this task

MIN_ALPHABET = 5  # training alphabets have K ~ U{MIN_ALPHABET..VOCAB_SIZE} symbols
DEFAULT_STEPS = 1000
DEFAULT_SEED = 0
DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 3e-3
EVAL_SEED = 10_000


@dataclass
class BigramBatch:
    """In-context bigram sequences together with the maps that generated them.

    Attributes:
        tokens: ``[n, seq_len]`` symbol ids in ``[0, vocab_size)`` (equal to tokenizer ids).
        successors: ``[n, vocab_size]``; ``successors[b, x]`` is the successor of ``x`` in
            sequence ``b``.
        jumps: ``[n, seq_len]`` bool; ``jumps[b, t]`` is True when ``tokens[b, t]`` was drawn at
            random instead of following the map (always False at ``t = 0``).
    """

    tokens: torch.Tensor
    successors: torch.Tensor
    jumps: torch.Tensor


def _sample_successors(
    alphabets: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """A random permutation of each sequence's alphabet, as a successor table.

    Args:
        alphabets: ``[n, V]``, a permutation of the symbols per row; the first ``sizes[b]``
            entries of row ``b`` are that sequence's alphabet.
        sizes: ``[n]`` alphabet sizes ``K_b`` (``1 <= K_b <= V``).
        generator: Source of randomness.

    Returns:
        ``[n, V]`` successor table; ``succ[b, x]`` for ``x`` outside the alphabet is ``x``
        itself (never used: such symbols do not occur in sequence ``b``). Fixed points are
        allowed on purpose (see the module docstring, point 2).
    """
    n, v = alphabets.shape
    slots = torch.arange(v)
    inside = slots[None, :] < sizes[:, None]  # [n, V]
    # Random order of the first K slots; slots >= K keep their place (sort keys 2 + slot > 1).
    keys = torch.where(inside, torch.rand(n, v, generator=generator), 2.0 + slots.float())
    perm = torch.argsort(keys, dim=1, stable=True)
    succ = slots.repeat(n, 1)
    # Slot i of the alphabet maps to slot perm[i]: succ[alphabet[i]] = alphabet[perm[i]].
    succ.scatter_(1, alphabets, torch.gather(alphabets, 1, perm))
    return succ


def generate_bigram_sequences(
    num_sequences: int,
    *,
    seq_len: int = SEQ_LEN,
    vocab_size: int = VOCAB_SIZE,
    jump_prob: float = JUMP_PROB,
    min_alphabet: int | None = None,
    generator: torch.Generator | None = None,
) -> BigramBatch:
    """Draw in-context bigram sequences, each with its own random successor map.

    Args:
        num_sequences: Number of sequences ``n``.
        seq_len: Tokens per sequence ``T``.
        vocab_size: Number of symbols ``V``.
        jump_prob: Probability that the next token is a uniform draw from the sequence's
            alphabet instead of ``succ[current]``.
        min_alphabet: ``None`` (evaluation): every sequence uses all ``V`` symbols. An int
            (training): each sequence uses a random subset of ``K ~ U{min_alphabet..V}`` symbols
            (module docstring, point 1).
        generator: Source of randomness; pass a seeded one for reproducible data.

    Returns:
        A :class:`BigramBatch` with ``tokens`` of shape ``[n, T]``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> batch = generate_bigram_sequences(2, seq_len=8, generator=g)
        >>> batch.tokens.shape
        torch.Size([2, 8])
    """
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    n = num_sequences
    alphabets = torch.argsort(torch.rand(n, vocab_size, generator=generator), dim=1)
    if min_alphabet is None:
        sizes = torch.full((n,), vocab_size, dtype=torch.long)
    else:
        sizes = torch.randint(min_alphabet, vocab_size + 1, (n,), generator=generator)
    succ = _sample_successors(alphabets, sizes, generator)
    rows = torch.arange(n)

    def uniform_symbol() -> torch.Tensor:
        slot = (torch.rand(n, generator=generator) * sizes).long()
        return alphabets[rows, slot]

    tokens = torch.empty(n, seq_len, dtype=torch.long)
    jumps = torch.zeros(n, seq_len, dtype=torch.bool)
    tokens[:, 0] = uniform_symbol()
    for t in range(1, seq_len):
        jump = torch.rand(n, generator=generator) < jump_prob
        tokens[:, t] = torch.where(jump, uniform_symbol(), succ[rows, tokens[:, t - 1]])
        jumps[:, t] = jump
    return BigramBatch(tokens=tokens, successors=succ, jumps=jumps)


def evaluation_sequences(num_sequences: int = 64, seed: int = EVAL_SEED) -> BigramBatch:
    """Fresh evaluation sequences: the full 19-symbol alphabet, ``SEQ_LEN`` tokens each.

    The seed stream is separate from training's (which uses ``seed + 1`` for small seeds), so
    these sequences were never trained on.

    Example:
        >>> batch = evaluation_sequences(4, seed=1)
        >>> sequences_to_text(batch.tokens)[0].count(" ") + 1 == SEQ_LEN
        True
    """
    return generate_bigram_sequences(num_sequences, generator=torch.Generator().manual_seed(seed))


def sequences_to_text(tokens: torch.Tensor) -> list[str]:
    """Render ``[n, T]`` symbol ids as space-separated words (``"a c f ..."``), one per row."""
    return [" ".join(SYMBOLS[int(i)] for i in row) for row in tokens]


def seen_before_mask(tokens: torch.Tensor) -> torch.Tensor:
    """``[n, T]`` bool: True where the token at ``t`` also occurs at some ``j < t``.

    These are the positions where an induction head has something to copy, so they are where
    successor accuracy measures the in-context mechanism.
    """
    same = tokens[:, :, None] == tokens[:, None, :]  # [n, q, k]
    earlier = torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool).tril(-1)
    return (same & earlier).any(dim=2)


def build_tokenizer() -> Any:
    """Word-level tokenizer over ``SYMBOLS`` (ids ``0..V-1``) plus ``<unk>`` and ``<pad>``.

    Returns:
        A ``transformers.PreTrainedTokenizerFast``; symbol ``SYMBOLS[i]`` has id ``i`` so model
        ids and data ids coincide.
    """
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {sym: i for i, sym in enumerate(SYMBOLS)}
    vocab[UNK_TOKEN] = len(vocab)
    vocab[PAD_TOKEN] = len(vocab)
    core = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    core.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=N_POSITIONS,
    )


def build_model(vocab_size: int, *, n_head: int = N_HEAD, n_layer: int = N_LAYER) -> Any:
    """A fresh attention-only ``GPT2LMHeadModel`` (MLP output projections zeroed and frozen).

    ``n_head`` must divide ``N_EMBD``; the defaults give the project's fixture."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if n_head < 1 or N_EMBD % n_head:
        raise ValueError(f"n_head must divide n_embd={N_EMBD}, got {n_head}")
    if n_layer < 1:
        raise ValueError(f"n_layer must be >= 1, got {n_layer}")
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=N_POSITIONS,
        n_embd=N_EMBD,
        n_layer=n_layer,
        n_head=n_head,
        n_inner=N_INNER,
        # Dropout would only slow down a model this small and makes the attention noisier.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=INIT_STD,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=vocab_size - 1,
    )
    model = GPT2LMHeadModel(config)
    make_attention_only(model)
    return model


def make_attention_only(model: Any) -> None:
    """Zero and freeze each block's ``mlp.c_proj`` so the MLPs add exactly 0 to the residual."""
    with torch.no_grad():
        for block in model.transformer.h:
            for param in (block.mlp.c_proj.weight, block.mlp.c_proj.bias):
                param.zero_()
                param.requires_grad_(False)


def attention_patterns(model: Any, tokens: torch.Tensor) -> list[torch.Tensor]:
    """Attention probabilities per layer, each ``[n, heads, T, T]`` (eager attention)."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(input_ids=tokens, output_attentions=True)
    finally:
        model.set_attn_implementation(previous)
    return [a.float() for a in out.attentions]


def head_scores(patterns: list[torch.Tensor], tokens: torch.Tensor) -> dict[str, list[list[float]]]:
    """Previous-token and induction scores per (layer, head), computed directly.

    Deliberately independent of ``interp_services.core.attention`` so the training report is a
    cross-check of that module rather than a restatement of it.

    Args:
        patterns: Per layer ``[n, heads, T, T]``.
        tokens: ``[n, T]``.

    Returns:
        ``{"previous_token": [[score per head] per layer], "induction": [...]}`` where
        previous_token is the mean of ``A[q, q-1]`` over ``q >= 1`` and induction is the mean,
        over queries whose token occurred before, of the mass on the tokens that followed
        those earlier occurrences.
    """
    seq_len = tokens.shape[1]
    same = tokens[:, :, None] == tokens[:, None, :]  # [n, q, j]
    earlier = torch.ones(seq_len, seq_len, dtype=torch.bool).tril(-1)
    occ = same & earlier  # j < q with tokens[j] == tokens[q]
    # Target key j+1 for each earlier occurrence j: shift the occurrence mask one key right.
    targets = torch.zeros_like(occ)
    targets[:, :, 1:] = occ[:, :, :-1]
    defined = occ.any(dim=2)  # [n, q]
    prev: list[list[float]] = []
    ind: list[list[float]] = []
    for pat in patterns:
        diag = torch.diagonal(pat, offset=-1, dim1=-2, dim2=-1)  # [n, h, T-1]
        prev.append(diag.mean(dim=(0, 2)).tolist())
        mass = (pat * targets[:, None].float()).sum(dim=-1)  # [n, h, q]
        mask = defined[:, None].expand_as(mass)
        ind.append([float(mass[:, h][mask[:, h]].mean()) for h in range(pat.shape[1])])
    return {"previous_token": prev, "induction": ind}


def evaluate(model: Any, batch: BigramBatch) -> dict[str, float]:
    """Loss and successor accuracy, with and without the layer-1 attention.

    ``successor_accuracy`` is measured where the current token occurred earlier in the sequence
    (the map can be read from the context) against ``succ[current]``; ``unseen_accuracy`` where it
    did not (nothing to copy: should be near chance ``1/V``). ``ablated_successor_accuracy``
    repeats the first with the layer-1 attention output zeroed; a drop to chance shows the
    prediction runs through that head.
    """
    tokens = batch.tokens
    rows = torch.arange(tokens.shape[0])[:, None]
    target = batch.successors[rows, tokens]  # [n, T]: succ[current token]
    seen = seen_before_mask(tokens)

    def run() -> tuple[float, float, float]:
        with torch.no_grad():
            out = model(input_ids=tokens, labels=tokens)
        pred = out.logits.argmax(dim=-1)
        correct = pred == target
        return float(out.loss), float(correct[seen].float().mean()), float(correct[~seen].float().mean())

    model.eval()
    loss, seen_acc, unseen_acc = run()
    last_attn = model.transformer.h[-1].attn.c_proj
    saved = (last_attn.weight.detach().clone(), last_attn.bias.detach().clone())
    with torch.no_grad():
        last_attn.weight.zero_()
        last_attn.bias.zero_()
    try:
        _, ablated_acc, _ = run()
    finally:
        with torch.no_grad():
            last_attn.weight.copy_(saved[0])
            last_attn.bias.copy_(saved[1])
    return {
        "loss": loss,
        "successor_accuracy": seen_acc,
        "unseen_accuracy": unseen_acc,
        "ablated_successor_accuracy": ablated_acc,
        "chance_accuracy": 1.0 / VOCAB_SIZE,
    }


def train_induction_model(
    out_dir: str | Path,
    steps: int = DEFAULT_STEPS,
    seed: int = DEFAULT_SEED,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    log_every: int = 0,
    n_head: int = N_HEAD,
    n_layer: int = N_LAYER,
) -> dict[str, Any]:
    """Train the toy model from scratch and save it (model + tokenizer + metrics) to ``out_dir``.

    Args:
        out_dir: Directory for ``config.json``, ``model.safetensors``, tokenizer files and
            ``training_metrics.json``; created if missing.
        steps: Optimiser steps (batches of fresh sequences; data is never repeated).
        seed: Seeds ``torch.manual_seed`` (initialisation) and the data generators.
        batch_size: Sequences per step.
        lr: Peak AdamW learning rate (linear warm-up, cosine decay).
        log_every: Print the running loss every this many steps (0: quiet).
        n_head: Attention heads per layer (must divide ``N_EMBD``). With more than one head
            per layer the roles are no longer forced onto fixed heads; the defaults give the
            fixture.
        n_layer: Layers. ``evaluate`` ablates the last layer's attention.

    Returns:
        Metrics: ``train_seconds``, ``final_train_loss``, evaluation metrics from
        :func:`evaluate` on 256 held-out sequences, and ``previous_token`` / ``induction`` head
        scores per layer and head from :func:`head_scores`.

    Example:
        >>> metrics = train_induction_model("/tmp/toy")  # doctest: +SKIP
        >>> metrics["induction"][1][0] > 0.5  # doctest: +SKIP
        True
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the CI and dev boxes have 2 cores; more threads only thrash
    try:
        return _train(Path(out_dir), steps, seed, batch_size, lr, log_every, n_head, n_layer)
    finally:
        torch.set_num_threads(threads)  # do not leave a test process changed


def _train(
    out: Path, steps: int, seed: int, batch_size: int, lr: float, log_every: int, n_head: int = N_HEAD, n_layer: int = N_LAYER
) -> dict[str, Any]:
    """The body of :func:`train_induction_model` (thread count already set)."""
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer), n_head=n_head, n_layer=n_layer)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    warmup = max(1, steps // 20)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    data_gen = torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    running = float("nan")
    for step in range(steps):
        batch = generate_bigram_sequences(batch_size, min_alphabet=MIN_ALPHABET, generator=data_gen)
        loss = model(input_ids=batch.tokens, labels=batch.tokens).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        value = float(loss.detach())
        running = value if math.isnan(running) else 0.98 * running + 0.02 * value
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:5d}  loss {running:.4f}", flush=True)
    train_seconds = time.perf_counter() - start

    # Held-out sequences come from a generator seeded apart from the training stream.
    eval_batch = evaluation_sequences(256, seed=EVAL_SEED + seed)
    metrics: dict[str, Any] = {
        "steps": steps,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "n_head": n_head,
        "n_layer": n_layer,
        "train_seconds": round(train_seconds, 1),
        "final_train_loss": running,
    }
    metrics.update(evaluate(model, eval_batch))
    metrics.update(head_scores(attention_patterns(model, eval_batch.tokens), eval_batch.tokens))

    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: train and save, then print the metrics as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/toy_induction", help="output directory")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR)
    parser.add_argument("--log-every", type=int, default=250)
    parser.add_argument("--n-head", type=int, default=N_HEAD, help="attention heads per layer (must divide n_embd)")
    parser.add_argument("--n-layer", type=int, default=N_LAYER)
    args = parser.parse_args(argv)
    metrics = train_induction_model(
        args.out,
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        log_every=args.log_every,
        n_head=args.n_head,
        n_layer=args.n_layer,
    )
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
