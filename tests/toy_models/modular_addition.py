"""A one-layer GPT-2 trained on ``a + b mod p`` until it groks: ground truth for Fourier discovery.

Setting (Nanda et al. 2023, "Progress measures for grokking via mechanistic interpretability"):
a one-layer transformer with an MLP sees ``"a b ="`` (three tokens) and must predict
``c = (a + b) mod p`` at the last position; it is trained full-batch on a random share of all
``p * p`` pairs with AdamW and strong weight decay, and is tested on the pairs it never saw.
It first memorises the training pairs, then *groks*: test accuracy jumps to ~1 when it switches
to the "clock" algorithm, which embeds every number ``x`` as ``cos(2 pi k x / p)``,
``sin(2 pi k x / p)`` for a few key frequencies ``k`` and adds angles. The embedding matrix is
then sparse in the Fourier basis, which is what
:func:`interp_services.core.circuits.modular.discover_modular_addition` looks for.

Here the model is a stock ``GPT2LMHeadModel`` (so the service code loads it like any Hugging
Face checkpoint): 1 layer, d_model 128, 4 heads, d_mlp 512, ReLU, no dropout, GPT-2's
LayerNorms, untied embedding and unembedding (as in Nanda's model, so that the embedding only
has to serve the input). Tokens are the number words ``"0" .. str(p - 1)`` with ids
``0 .. p - 1`` (model ids equal the numbers), then ``"="`` (id ``p``), ``<unk>`` and ``<pad>``.

Nanda's recipe (p = 113, 30% of the pairs, lr 1e-3, weight decay 1.0, betas (0.9, 0.98))
needs ~10k full-batch steps to grok, hours on 2 CPU cores. What was changed, measured on 2
CPU cores (seed 0 unless said otherwise; wall times on an idle machine are ~0.05 s per step
for p = 59 and 50% of the pairs, and several times longer while other jobs share the cores):

* **p = 59 and 50% of the pairs for training.** A step costs in proportion to the training
  pairs (p = 113 with 30%: 3830 pairs, ~0.11 s a step; p = 59 with 50%: 1740 pairs), and a
  larger training share shortens the memorisation plateau (Power et al. 2022). p = 113 with
  30% at Nanda's lr 1e-3 was still at test accuracy 0.30 after 200 steps; p = 59 at lr 3e-3
  reached test accuracy >= 0.95 after ~400 steps with 50% of the pairs (weight decay 1) and
  ~300 with 40% (weight decay 2).
* **lr 1e-2, weight decay 1.0**, constant after a 10-step warm-up, then a cosine decay to 0
  over the last 30% of the steps (``ANNEAL_FRACTION``). What decided it was not the grokking
  step (200 to 400 for every setting tried) but how *few* frequencies the embedding ends with
  (p = 59, 50% of the pairs unless said; "key frequencies" as found by
  ``fourier.key_frequencies`` with share 0.9, out of 29):

  ==========================================  ================  ===============
  lr, weight decay, schedule, steps           final test acc    key frequencies
  ==========================================  ================  ===============
  3e-3, 1.0, constant, 1000                   1.00              10
  3e-3, 3.0, constant, 1000                   0.84 (spiking)    7
  3e-3, 2.0, cosine from the start, 1200,     1.00              13
  40% of the pairs
  3e-3, 3.0, anneal last 30%, 1200            1.00              8 (40%: 9)
  2e-3, 5.0, anneal last 30%, 1200            1.00              21 (flat)
  1e-2, 1.0, constant, 1000                   1.00 (spiking)    8, 3 large
  **1e-2, 1.0, anneal last 30%, 1200**        **1.00**          **5, 3 large**
  ==========================================  ================  ===============

  A large learning rate lets a few frequencies win early; a smaller one with more weight
  decay keeps many frequencies of about equal size (the network spreads the work over them)
  and would need far more steps to prune them. Without the final anneal the large-lr runs
  spike (Adam "slingshots": test accuracy dips to ~0.5 and recovers) and may stop in a dip;
  the anneal makes the last weights settle. With the defaults test accuracy first reaches
  >= 0.95 at step 300 and still dips (to 0.51 at step 700) before it settles at 1.0 from
  step 1000 on.

Result with the defaults (seed 0): train and test accuracy 1.000, test loss 0.035, ~65-75 s
of training on 2 idle cores (5.1-6.5 s per 100 steps measured in quiet stretches; 380-1070 s
were seen while other jobs loaded the same 2 cores). The embedding's key frequencies are
k = 1, 2, 3, 9, 26 (90% of its non-constant squared norm; 1, 9 and 26 are the large ones).
Keeping only them (and the constant) in the embeddings of ``a`` and ``b`` keeps accuracy 1.000
on all 3481 pairs, as many random other frequencies give 0.016 (chance 0.017); removing 1, 9
or 26 from the five drops accuracy to 0.14, 0.39, 0.52, removing 2 or 3 costs nothing. Seeds 1
and 2 (same settings) also end at test accuracy 1.000, with key frequencies 11, 18, 20 (keep
1.000, control 0.011) and 5, 12, 16, 22, 27 (keep 0.997, control 0.022).

``training_metrics.json`` next to the checkpoint holds the exact numbers of a run (accuracies,
losses, seconds, the first step with test accuracy >= 0.95, and the curve every 100 steps).
Training is deterministic on one machine (same seed, same threads: the same checkpoint bit
for bit); another CPU or library version may take a slightly different path through the
spikes.

Usage::

    python -m tests.toy_models.modular_addition --out tests/fixtures/toy_modular

Loading::

    tok = AutoTokenizer.from_pretrained(out_dir)
    model = AutoModelForCausalLM.from_pretrained(out_dir)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

P = 59
EQUALS_TOKEN = "="
EQUALS_ID = P  # the "=" token's id for the default P (build_tokenizer(p) gives it id p)
UNK_TOKEN = "<unk>"
PAD_TOKEN = "<pad>"
SEQ_LEN = 3  # "a b ="

N_EMBD = 128
N_HEAD = 4
N_LAYER = 1
N_INNER = 512
N_POSITIONS = 4  # >= SEQ_LEN; the last position is never trained
ACTIVATION = "relu"  # Nanda's choice; its neurons read the waves like rectified cosines
INIT_STD = 0.02

DEFAULT_SEED = 0
DEFAULT_TRAIN_FRACTION = 0.5
DEFAULT_STEPS = 1200
DEFAULT_LR = 1e-2
DEFAULT_WEIGHT_DECAY = 1.0
BETAS = (0.9, 0.98)
WARMUP_STEPS = 10
ANNEAL_FRACTION = 0.3  # cosine decay of the lr to 0 over this last share of the steps
GROKKED_ACCURACY = 0.95  # "grok_step" in the metrics: first evaluation at or above this


def default_settings() -> dict[str, Any]:
    """The settings :func:`train_modular_addition_model` uses by default, as recorded in
    ``training_metrics.json`` (a saved checkpoint matches the current defaults when these agree)."""
    return {
        "p": P,
        "seed": DEFAULT_SEED,
        "steps": DEFAULT_STEPS,
        "train_fraction": DEFAULT_TRAIN_FRACTION,
        "lr": DEFAULT_LR,
        "weight_decay": DEFAULT_WEIGHT_DECAY,
        "anneal_fraction": ANNEAL_FRACTION,
    }


def all_pairs(p: int = P) -> torch.Tensor:
    """Every ordered pair ``(a, b)`` with ``0 <= a, b < p``; row ``a * p + b``.

    Returns:
        ``[p * p, 2]`` long tensor.

    Example:
        >>> all_pairs(3)[5].tolist()
        [1, 2]
    """
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    return torch.stack([a, b], dim=1)


def pair_texts(pairs: torch.Tensor) -> list[str]:
    """Render ``[n, 2]`` pairs as the model's input text, ``"a b ="`` per row.

    Example:
        >>> pair_texts(torch.tensor([[3, 5]]))
        ['3 5 =']
    """
    return [f"{int(a)} {int(b)} {EQUALS_TOKEN}" for a, b in pairs]


def pair_ids(pairs: torch.Tensor, p: int = P) -> torch.Tensor:
    """``[n, 2]`` pairs -> ``[n, 3]`` token ids ``[a, b, p]`` (what the tokenizer gives for
    :func:`pair_texts`, without tokenizing)."""
    return torch.cat([pairs, torch.full((pairs.shape[0], 1), p, dtype=torch.long)], dim=1)


def split_pairs(p: int, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random train / test split of :func:`all_pairs`: ``[n_train, 2]``, ``[n_test, 2]``.

    Drawn from a generator seeded with ``seed + 1``, apart from the initialisation's stream.
    """
    pairs = all_pairs(p)
    order = torch.randperm(pairs.shape[0], generator=torch.Generator().manual_seed(seed + 1))
    n_train = round(train_fraction * pairs.shape[0])
    return pairs[order[:n_train]], pairs[order[n_train:]]


def build_tokenizer(p: int = P) -> Any:
    """Word-level tokenizer: ``"0" .. str(p - 1)`` (ids ``0 .. p - 1``), ``"="`` (``p``),
    ``<unk>`` (``p + 1``), ``<pad>`` (``p + 2``).

    Returns:
        A ``transformers.PreTrainedTokenizerFast``; ``"3 5 ="`` becomes ``[3, 5, p]``.
    """
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {str(i): i for i in range(p)}
    vocab[EQUALS_TOKEN] = p
    vocab[UNK_TOKEN] = p + 1
    vocab[PAD_TOKEN] = p + 2
    core = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    core.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=N_POSITIONS,
    )


def build_model(vocab_size: int) -> Any:
    """A fresh one-layer ``GPT2LMHeadModel`` with an MLP and untied embedding / unembedding."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=N_POSITIONS,
        n_embd=N_EMBD,
        n_layer=N_LAYER,
        n_head=N_HEAD,
        n_inner=N_INNER,
        activation_function=ACTIVATION,
        # Dropout would only add noise to a full-batch optimisation this small.
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=INIT_STD,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=vocab_size - 1,
    )
    return GPT2LMHeadModel(config)


def last_logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """``[n, vocab]`` logits at the last position (after ``=``); the other positions'
    logits are never computed (``logits_to_keep=1``)."""
    return model(input_ids=ids, logits_to_keep=1).logits[:, -1]


def evaluate(model: Any, pairs: torch.Tensor, p: int = P) -> dict[str, float]:
    """Loss and accuracy of predicting ``(a + b) mod p`` after ``"a b ="`` for ``[n, 2]`` pairs.

    Accuracy is the argmax over the whole vocabulary (``=`` and the special tokens included).
    """
    target = pairs.sum(dim=1) % p
    with torch.no_grad():
        logits = last_logits(model, pair_ids(pairs, p)).float()
    return {
        "loss": float(torch.nn.functional.cross_entropy(logits, target)),
        "accuracy": float((logits.argmax(dim=-1) == target).float().mean()),
    }


def lr_factor(step: int, steps: int, anneal_fraction: float = ANNEAL_FRACTION) -> float:
    """The learning-rate multiplier at ``step``: linear warm-up over ``WARMUP_STEPS``, 1, then
    a cosine decay to 0 over the last ``anneal_fraction`` of the steps.

    Example:
        >>> lr_factor(500, 1200), lr_factor(1199, 1200) < 0.001
        (1.0, True)
    """
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    start = int(steps * (1.0 - anneal_fraction))
    if step < start:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - start) / max(1, steps - start)))


def train_modular_addition_model(
    out_dir: str | Path | None,
    *,
    p: int = P,
    steps: int = DEFAULT_STEPS,
    seed: int = DEFAULT_SEED,
    train_fraction: float = DEFAULT_TRAIN_FRACTION,
    lr: float = DEFAULT_LR,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    anneal_fraction: float = ANNEAL_FRACTION,
    eval_every: int = 100,
    log_every: int = 0,
) -> dict[str, Any]:
    """Train the toy model from scratch; save it (model + tokenizer + metrics) to ``out_dir``.

    Args:
        out_dir: Directory for ``config.json``, ``model.safetensors``, the tokenizer files and
            ``training_metrics.json``, created if missing; None: train and measure only.
        p: Modulus (an odd prime, at most 113 for the sizes above to make sense).
        steps: Full-batch AdamW steps.
        seed: Seeds ``torch.manual_seed`` (initialisation) and the train / test split.
        train_fraction: Share of the ``p * p`` pairs trained on; the rest is the test set.
        lr: Peak learning rate (see :func:`lr_factor` for the schedule).
        weight_decay: AdamW's decoupled weight decay.
        anneal_fraction: Last share of the steps over which the lr decays to 0.
        eval_every: Record train and test accuracy every this many steps (0: only at the end).
        log_every: Also print every ``log_every``-th record (0: quiet).

    Returns:
        Metrics: the settings (``p``, ``seed``, ...), ``train_seconds``, ``train_accuracy``,
        ``test_accuracy``, ``train_loss``, ``test_loss``, ``grok_step`` (first recorded step
        with test accuracy >= ``GROKKED_ACCURACY``, or None) and ``history`` (the records).

    Example:
        >>> metrics = train_modular_addition_model("/tmp/toy_modular")  # doctest: +SKIP
        >>> metrics["test_accuracy"] > 0.95  # doctest: +SKIP
        True
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the CI and dev boxes have 2 cores; more threads only thrash
    try:
        return _train(
            None if out_dir is None else Path(out_dir),
            p=p,
            steps=steps,
            seed=seed,
            train_fraction=train_fraction,
            lr=lr,
            weight_decay=weight_decay,
            anneal_fraction=anneal_fraction,
            eval_every=eval_every,
            log_every=log_every,
        )
    finally:
        torch.set_num_threads(threads)  # do not leave a test process changed


def _train(
    out: Path | None,
    *,
    p: int,
    steps: int,
    seed: int,
    train_fraction: float,
    lr: float,
    weight_decay: float,
    anneal_fraction: float,
    eval_every: int,
    log_every: int,
) -> dict[str, Any]:
    """The body of :func:`train_modular_addition_model` (thread count already set)."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(p)
    model = build_model(len(tokenizer))
    train_pairs, test_pairs = split_pairs(p, train_fraction, seed)
    train_ids, train_target = pair_ids(train_pairs, p), train_pairs.sum(dim=1) % p
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=BETAS, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps, anneal_fraction))

    history: list[dict[str, Any]] = []
    grok_step = None
    start = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        logits = last_logits(model, train_ids)
        loss = torch.nn.functional.cross_entropy(logits.float(), train_target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if (eval_every and step % eval_every == 0) or step == steps:
            model.eval()
            test = evaluate(model, test_pairs, p)
            model.train()
            record = {
                "step": step,
                "train_loss": round(float(loss.detach()), 5),
                "train_accuracy": round(float((logits.detach().argmax(-1) == train_target).float().mean()), 4),
                "test_loss": round(test["loss"], 5),
                "test_accuracy": round(test["accuracy"], 4),
                "seconds": round(time.perf_counter() - start, 1),
            }
            history.append(record)
            if grok_step is None and test["accuracy"] >= GROKKED_ACCURACY:
                grok_step = step
            if log_every and len(history) % log_every == 0:
                print(json.dumps(record), flush=True)
    train_seconds = time.perf_counter() - start
    model.eval()

    train, test = evaluate(model, train_pairs, p), evaluate(model, test_pairs, p)
    metrics: dict[str, Any] = {
        "p": p,
        "seed": seed,
        "steps": steps,
        "train_fraction": train_fraction,
        "lr": lr,
        "weight_decay": weight_decay,
        "anneal_fraction": anneal_fraction,
        "train_pairs": int(train_pairs.shape[0]),
        "test_pairs": int(test_pairs.shape[0]),
        "train_seconds": round(train_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "grok_step": grok_step,
        "train_loss": train["loss"],
        "train_accuracy": train["accuracy"],
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "history": history,
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / "training_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: train and save, then print the metrics (without the curve) as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/toy_modular", help="output directory ('-': do not save)")
    parser.add_argument("--p", type=int, default=P)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--train-fraction", type=float, default=DEFAULT_TRAIN_FRACTION)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR)
    parser.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY)
    parser.add_argument("--anneal-fraction", type=float, default=ANNEAL_FRACTION)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=1, help="print every n-th evaluation (0: quiet)")
    args = parser.parse_args(argv)
    metrics = train_modular_addition_model(
        None if args.out == "-" else args.out,
        p=args.p,
        steps=args.steps,
        seed=args.seed,
        train_fraction=args.train_fraction,
        lr=args.lr,
        weight_decay=args.weight_decay,
        anneal_fraction=args.anneal_fraction,
        eval_every=args.eval_every,
        log_every=args.log_every,
    )
    metrics.pop("history")
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
