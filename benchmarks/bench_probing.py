"""Probing every layer of SmolLM2-135M on 1,000 examples: wall time split into extraction (the
residual stream of 30 layers from the model host, pooled per sentence) and fitting (a probe and a
control probe per layer, regularisation chosen on validation, plus MDL), and extraction
throughput against a bare Hugging Face forward loop over the same texts in the same run.

Run: make bench   (or .venv/bin/python benchmarks/bench_probing.py [--examples 1000 --runs 3])

  * ``bare forward``: ``model.model(**batch, output_hidden_states=True)`` over the texts in
    batches of 16 sorted by length -- the ceiling: every layer's hidden states, no pooling, no
    transfer;
  * ``fleet extraction``: ``ProbeRepresentations`` through the gateway of a Ray Serve fleet
    (probing service -> model host -> back), default settings, as the service reports it
    (``extraction_seconds``: tokenizing, the model-host runs, decoding and pooling).
The ratio fleet extraction / bare forward is the issue's figure (goal >= 0.7x). Runs are
interleaved so machine noise hits both alike; medians are reported. The first fleet run includes
MDL (the default), the others skip it; fitting time is reported for both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_support import MODEL_CACHE, free_port, padded, plain_causal_lm

SUITE = Path(__file__).resolve().parents[1] / "examples" / "probing" / "linguistic_probing_suite.json"


def examples(n: int):
    """``n`` sentence-level sentiment examples: the shipped ones, cycled with a numbered prefix
    (every text distinct, so each is its own group)."""
    from interp.v1 import probing_service_pb2 as pb

    base = [t for t in json.loads(SUITE.read_text())["tasks"] if t["name"] == "sentiment"][0]["examples"]
    return pb.ProbeTask(name="sentiment", level=pb.PROBE_LEVEL_SENTENCE, examples=[
        pb.ProbeExample(text=f"{i}. {base[i % len(base)]['text']}", label=base[i % len(base)]["label"]) for i in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()


    from interp.v1 import probing_service_pb2 as pb
    from interp_services.core.models import LoaderSettings, ModelCache
    from interp_services.serve.process import FleetProcess, write_config
    from interpretability import Client

    torch.set_num_threads(2)
    task = examples(args.examples)
    texts = [e.text for e in task.examples]
    cache = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE))
    tok = cache.get("smollm2-135m").tokenizer
    model = plain_causal_lm()
    encoded = sorted((tok(t)["input_ids"] for t in texts), key=len)
    batches = [encoded[i : i + 16] for i in range(0, len(encoded), 16)]
    n_tokens = sum(len(e) for e in encoded)

    def bare() -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            for batch in batches:
                ids, mask = padded(batch, tok.pad_token_id)
                model.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return time.perf_counter() - t

    rows: dict[str, list[float]] = {"bare": [], "extraction": [], "fitting": [], "wall": []}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(Path(tmp) / "fleet.yaml", port=free_port(), store=Path(tmp) / "store", model_cache=MODEL_CACHE)
        with FleetProcess(cfg) as fleet, Client(fleet.endpoint, api_key="interp-dev-key", timeout=7200) as client:
            warm = pb.ProbeTask(name="w", level=pb.PROBE_LEVEL_SENTENCE, examples=task.examples[:12])
            client.probe_representations("smollm2-135m", [warm], layers=[0], options=pb.ProbeOptions(skip_mdl=True))
            bare()
            first = None
            for run in range(args.runs):
                rows["bare"].append(bare())
                t = time.perf_counter()
                r = client.probe_representations("smollm2-135m", [task], options=pb.ProbeOptions(skip_mdl=run > 0))
                rows["wall"].append(time.perf_counter() - t)
                assert r.tokens == n_tokens, (r.tokens, n_tokens)
                rows["extraction"].append(r.extraction_seconds)
                rows["fitting"].append(r.fitting_seconds)
                first = first or r
    med = {k: statistics.median(v) for k, v in rows.items()}
    print("  runs (s):", {k: [round(x, 2) for x in v] for k, v in rows.items()})
    print(f"Probing all {len(first.layers)} layers of SmolLM2-135M on {len(texts)} examples ({n_tokens} tokens), {args.runs} runs")
    print(f"  with MDL (first run): wall {rows['wall'][0]:.1f} s = extraction {rows['extraction'][0]:.1f} s "
          f"+ fitting {rows['fitting'][0]:.1f} s (probe + control x {len(first.layers)} layers, C on validation, MDL)")
    if args.runs > 1:
        print(f"  without MDL (median of the others): fitting {statistics.median(rows['fitting'][1:]):.1f} s")
    print(f"  bare HF forward loop (all hidden states): {n_tokens / med['bare']:8.0f} tok/s")
    print(f"  fleet extraction:                         {n_tokens / med['extraction']:8.0f} tok/s")
    print(f"  ratio fleet extraction / bare forward: {med['bare'] / med['extraction']:.2f}x (goal >= 0.7x)")
    best = first.tasks[0]
    top = max(best.layers, key=lambda e: e.selectivity)
    print(f"  (sentiment: best layer {top.layer}, accuracy {top.task.score:.3f}, control {top.control.score:.3f})")


if __name__ == "__main__":
    main()
