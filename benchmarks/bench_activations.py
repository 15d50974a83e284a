"""Activation statistics over a dataset: tokens per second through the fleet against bare
in-process Hugging Face loops over the same texts, and peak memory at 100 vs 10,000 samples.

Run: make bench   (or .venv/bin/python benchmarks/bench_activations.py [--only throughput|memory])

Throughput (same run, interleaved, medians):
  * ``bare forward``: ``model.model(**batch)`` over the texts in batches of 16 (sorted by
    length, as the service batches them) -- the ceiling, no statistics at all;
  * ``bare + statistics``: the same loop with forward hooks feeding the same running statistics
    (``core.activations.DatasetStatistics``) -- what an in-process script computing the same
    numbers costs;
  * ``fleet``: ``AnalyzeActivations`` through the gateway of a Ray Serve fleet (activations
    service -> model host -> back), default settings.
The ratio fleet / bare forward is the issue's figure (goal >= 0.7x); fleet / (bare + statistics)
isolates what serving adds (transfers, batching, gRPC).

Memory: a fresh process runs a local fleet (every service in-process) and analyses N texts
(``--sizes``, default 100, 1,000 and 10,000; the last takes ~11 minutes on 2 cores); its peak RSS
should not grow with N (running statistics, no per-text state).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_support import MODEL_CACHE, free_port, padded, plain_causal_lm

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "activations"


def dataset(n: int) -> list[str]:
    """``n`` texts: the shipped example sentences, cycled with a numbered prefix."""
    from interpretability.datasets import load_texts

    base = load_texts(EXAMPLES / "analysis_samples.jsonl").texts
    base += [t.split("\t", 1)[-1] for t in load_texts(EXAMPLES / "emotion_examples.txt").texts]
    return [f"{i}. {base[i % len(base)]}" for i in range(n)]


def bench_throughput(n_texts: int, runs: int, layers: list[int], sites: list[str]) -> None:
    from interp_services.core.activations import DatasetStatistics, site_width
    from interp_services.core.models import LoaderSettings, ModelCache
    from interp_services.serve.process import FleetProcess, write_config
    from interpretability import Client

    torch.set_num_threads(2)
    texts = dataset(n_texts)
    loaded = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE)).get("smollm2-135m")
    model = plain_causal_lm()
    tok = loaded.tokenizer
    info = loaded.info
    layers = layers or list(range(info.num_layers))
    encoded = sorted((tok(t)["input_ids"] for t in texts), key=len)
    batches = [encoded[i : i + 16] for i in range(0, len(encoded), 16)]
    n_tokens = sum(len(e) for e in encoded)

    def bare(with_stats: bool) -> float:
        stats = DatasetStatistics({k: layers for k in sites}, {k: site_width(info, k) for k in sites}) if with_stats else None
        acts: dict = {}
        hooks = []
        if with_stats:
            for layer in layers:
                block = model.model.layers[layer]
                if "mlp_post" in sites:
                    hooks.append(block.mlp.down_proj.register_forward_pre_hook(
                        lambda m, a, layer=layer: acts.__setitem__(("mlp_post", layer), a[0])))
                if "resid_post" in sites:
                    hooks.append(block.register_forward_hook(
                        lambda m, a, o, layer=layer: acts.__setitem__(("resid_post", layer), o[0] if isinstance(o, tuple) else o)))
        t = time.perf_counter()
        try:
            with torch.inference_mode():
                for b, batch in enumerate(batches):
                    ids, mask = padded(batch, tok.pad_token_id)
                    model.model(input_ids=ids, attention_mask=mask)
                    if stats is not None:
                        stats.update(acts, mask.bool(), list(range(b * 16, b * 16 + len(batch))))
        finally:
            for h in hooks:
                h.remove()
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(Path(tmp) / "fleet.yaml", port=free_port(), store=Path(tmp) / "store", model_cache=MODEL_CACHE)
        with FleetProcess(cfg) as fleet, Client(fleet.endpoint, api_key="interp-dev-key") as client:
            def through_fleet() -> float:
                t = time.perf_counter()
                r = client.analyze_activations("smollm2-135m", texts, layers=layers, sites=sites)
                assert r.tokens_analyzed == n_tokens, (r.tokens_analyzed, n_tokens)
                return time.perf_counter() - t

            client.analyze_activations("smollm2-135m", texts[:8], layers=[0])  # load the model in the replicas
            bare(False)
            rows: dict[str, list[float]] = {"bare": [], "bare+stats": [], "fleet": []}
            for _ in range(runs):  # interleaved, so machine noise hits all alike
                rows["bare"].append(bare(False))
                rows["bare+stats"].append(bare(True))
                rows["fleet"].append(through_fleet())
    tps = {k: n_tokens / statistics.median(v) for k, v in rows.items()}
    print("  runs (s):", {k: [round(x, 2) for x in v] for k, v in rows.items()})
    print(f"Activation statistics, {len(texts)} texts / {n_tokens} tokens, SmolLM2-135M, sites {','.join(sites)}, "
          f"{len(layers)} layers, {runs} runs (median tokens/s)")
    print(f"  bare HF forward loop (no statistics): {tps['bare']:8.0f} tok/s")
    print(f"  bare loop + the same statistics:      {tps['bare+stats']:8.0f} tok/s")
    print(f"  through the fleet:                    {tps['fleet']:8.0f} tok/s")
    print(f"  ratio fleet / bare forward: {tps['fleet'] / tps['bare']:.2f}x (goal >= 0.7x); "
          f"fleet / bare + statistics: {tps['fleet'] / tps['bare+stats']:.2f}x")


_MEMORY_CHILD = r"""
import json, resource, sys, tempfile, torch
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench_activations import dataset
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.local import LocalFleet
from interp_services.settings import from_dict
from interp_services.store import LocalTensorStore
from interpretability import Client
torch.set_num_threads(2)
cache = ModelCache(LoaderSettings(cache_dir=Path(sys.argv[1])))
with LocalFleet.start(from_dict({"api_keys": {"k": "dev"}}), store=LocalTensorStore(Path(tempfile.mkdtemp())), model_cache=cache) as f:
    with Client(f.endpoint, api_key="k", timeout=7200) as c:
        c.analyze_activations("smollm2-135m", dataset(32), layers=[0, 15])  # warm-up: model loaded, pools allocated
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        r = c.analyze_activations("smollm2-135m", dataset(int(sys.argv[2])), layers=[0, 15], top_neurons_per_layer=2)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "tokens": r.tokens_analyzed, "seconds": r.seconds}))
"""


def bench_memory(sizes: list[int]) -> None:
    print("Peak memory of a local fleet process analysing N texts (mlp_post + resid_post, layers 0 and 15)")
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(MODEL_CACHE), str(n), str(Path(__file__).parent)],
                             capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"the N = {n} child failed:\n{out.stderr[-3000:]}")
        d = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  N = {n:6d}: {d['tokens']:7d} tokens in {d['seconds']:6.1f} s; peak RSS {d['after_kb'] / 1024:7.0f} MiB "
              f"(+{(d['after_kb'] - d['before_kb']) / 1024:5.1f} MiB over the warm-up's peak)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("throughput", "memory"))
    ap.add_argument("--texts", type=int, default=160)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="100,1000,10000", help="dataset sizes of the memory runs")
    args = ap.parse_args()
    if args.only in (None, "throughput"):
        bench_throughput(args.texts, args.runs, [], ["mlp_post", "resid_post"])
        bench_throughput(args.texts, args.runs, [0, 6, 12, 18, 24, 29], ["mlp_post"])
    if args.only in (None, "memory"):
        bench_memory([int(n) for n in args.sizes.split(",")])


if __name__ == "__main__":
    main()
