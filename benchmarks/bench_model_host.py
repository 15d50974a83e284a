"""The model host as a compute engine, through a real fleet (Ray Serve + gateway), each figure
against a baseline measured in the same run.

1. throughput: 16 concurrent clients of small RunModel calls vs 1 client (goal >= 3x), and
   the p50 latency of a lone request, with cross-request batching on and off (goal: on is
   within 10% of off).
2. gradients: one RunModel with a logit-difference metric and its gradients at every
   residual site (30 x hook_resid_pre + hook_embed) vs the same forward + backward in-process
   with hooks written here (goal <= 1.3x).
3. patching sweep: activation patching of 30 layers x 8 positions on SmolLM2 (IOI) as ONE
   batched RunModel (240 rows, one per-sequence patch each) vs 240 single calls; the metric
   values of both must agree.

Run: .venv/bin/python benchmarks/bench_model_host.py [--only throughput|gradients|sweep]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from bench_support import MODEL_CACHE, free_port

from interp.v1 import tensor_pb2 as tpb
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.serve.process import FleetProcess, write_config
from interpretability import Client, logit_difference, patch

MODEL = "smollm2-135m"
SMALL = ["The quick brown fox jumps", "Paris is the capital of", "One, two, three,", "The cat sat on the"]
CLEAN = "When Mary and John went to the store, John gave a drink to"
CORRUPT = "When Mary and John went to the store, Mary gave a drink to"


def fleet(tmp: Path, name: str, *, batching: bool = True, torch_threads: int = 0) -> FleetProcess:
    extra = f"batching: {str(batching).lower()}\ndeployments: {{model_host: {{torch_threads: {torch_threads}}}}}"
    cfg = write_config(tmp / f"{name}.yaml", port=free_port(), store=tmp / f"store-{name}", model_cache=MODEL_CACHE, extra=extra)
    return FleetProcess(cfg)


def throughput(endpoint: str, clients: int, seconds: float) -> tuple[float, float, int]:
    """(calls per second, p50 latency s, errors) of ``clients`` threads for ``seconds``."""
    lat: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker(i: int) -> None:
        with Client(endpoint, api_key="interp-dev-key") as c:
            text = SMALL[i % len(SMALL)]
            expect = None
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    out = c.run(MODEL, [text], top_k=3)
                except Exception:  # noqa: BLE001 - counted
                    errors[0] += 1
                    continue
                got = [t.token_id for t in out.sequences[0].top_next_tokens]
                expect = expect or got
                if got != expect:  # a response that belongs to another request
                    errors[0] += 1
                with lock:
                    lat.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return len(lat) / (time.perf_counter() - start), statistics.median(lat), errors[0]


def bench_throughput(tmp: Path, seconds: float, torch_threads: int) -> None:
    rows = {}
    for batching in (True, False):
        with fleet(tmp, f"b{int(batching)}", batching=batching, torch_threads=torch_threads) as f:
            with Client(f.endpoint, api_key="interp-dev-key") as c:
                c.run(MODEL, SMALL, top_k=3)  # load and warm up
            throughput(f.endpoint, 1, 3.0)
            one = throughput(f.endpoint, 1, seconds)
            many = throughput(f.endpoint, 16, seconds)
            rows[batching] = (one, many)
    threads = f"{torch_threads} torch threads" if torch_threads else "default torch threads"
    print(f"\n== throughput: small RunModel calls (one text of 4-6 tokens, top_k=3), SmolLM2, model host with {threads} ==")
    for batching, (one, many) in rows.items():
        label = "batching on " if batching else "batching off"
        print(
            f"{label}: 1 client {one[0]:.1f}/s (p50 {one[1] * 1e3:.0f} ms) | 16 clients {many[0]:.1f}/s "
            f"(p50 {many[1] * 1e3:.0f} ms, errors {one[2] + many[2]}) | ratio 16 vs 1: {many[0] / one[0]:.2f}x"
        )
    lone_on, lone_off = rows[True][0][1], rows[False][0][1]
    print(f"lone-request p50: batching on {lone_on * 1e3:.1f} ms vs off {lone_off * 1e3:.1f} ms ({lone_on / lone_off:.2f}x)")


def bench_gradients(tmp: Path, runs: int) -> None:
    model = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE)).get(MODEL)
    tok = model.tokenizer
    ids = tok(CLEAN)["input_ids"]
    mary, john = tok(" Mary")["input_ids"][0], tok(" John")["input_ids"][0]
    layers = model.model.model.layers
    sites = ["hook_embed"] + [f"blocks.{i}.hook_resid_pre" for i in range(len(layers))]

    def in_process() -> float:
        t = time.perf_counter()
        kept: list[torch.Tensor] = []
        handles = [layer.register_forward_pre_hook(lambda m, a, kw: kept.append(a[0] if a else kw["hidden_states"]), with_kwargs=True)
                   for layer in layers]
        try:
            emb = model.model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
            logits = model.model(inputs_embeds=emb).logits
            metric = logits[0, -1, mary] - logits[0, -1, john]
            grads = torch.autograd.grad(metric, [emb, *kept])
        finally:
            for h in handles:
                h.remove()
        assert len(grads) == len(sites)
        return time.perf_counter() - t

    with fleet(tmp, "grad", torch_threads=2) as f, Client(f.endpoint, api_key="interp-dev-key") as c:
        def through_fleet() -> float:
            t = time.perf_counter()
            out = c.run(MODEL, tokens=[ids], metric=logit_difference(mary, john), gradients=sites, delivery=tpb.RESULT_DELIVERY_INLINE)
            assert len(out.gradients) == len(sites)
            return time.perf_counter() - t

        through_fleet(), in_process()
        a, b = [], []
        for _ in range(runs):
            a.append(in_process())
            b.append(through_fleet())
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"\n== gradients: logit difference, {len(ids)} tokens, {len(sites)} sites (embeddings + 30 residual) ==")
    print(f"in-process forward+backward with hooks: median {ma * 1e3:.1f} ms")
    print(f"fleet RunModel with gradients (inline):  median {mb * 1e3:.1f} ms  ratio {mb / ma:.2f}x (goal <= 1.3x)")


def bench_sweep(tmp: Path, runs: int) -> None:
    with fleet(tmp, "sweep", torch_threads=2) as f, Client(f.endpoint, api_key="interp-dev-key") as c:
        toks = c.tokenize(MODEL, [CLEAN, CORRUPT])
        clean_ids, corrupt_ids = list(toks[0].token_ids), list(toks[1].token_ids)
        assert len(clean_ids) == len(corrupt_ids)
        n = len(clean_ids)
        mary, john = clean_ids[1], clean_ids[3]
        layers = range(30)
        positions = range(n - 8, n)
        sites = [f"blocks.{layer}.hook_resid_pre" for layer in layers]
        clean = c.run(MODEL, tokens=[clean_ids], capture=sites, delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
        src = {a.hook_site: a.tensor for a in clean.activations}
        cells = [(layer, p) for layer in layers for p in positions]
        metric = logit_difference(mary, john)

        def batched() -> tuple[float, np.ndarray]:
            t = time.perf_counter()
            ivs = [patch(sites[layer], src[sites[layer]], positions=[p], sequences=[i]) for i, (layer, p) in enumerate(cells)]
            out = c.run(MODEL, tokens=[corrupt_ids] * len(cells), interventions=ivs, metric=metric)
            return time.perf_counter() - t, np.array(out.metric_values)

        def single() -> tuple[float, np.ndarray]:
            t = time.perf_counter()
            vals = []
            for layer, p in cells:
                out = c.run(MODEL, tokens=[corrupt_ids], interventions=[patch(sites[layer], src[sites[layer]], positions=[p])], metric=metric)
                vals.append(out.metric_values[0])
            return time.perf_counter() - t, np.array(vals)

        batched()
        a, b = [], []
        for _ in range(runs):
            tb, vb = batched()
            ts, vs = single()
            a.append(tb)
            b.append(ts)
        diff = float(np.abs(vb - vs).max())
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"\n== patching sweep: 30 layers x 8 positions = {len(cells)} cells, IOI ({n} tokens), resid_pre from the store ==")
    print(f"240 single RunModel calls: median {mb:.2f} s")
    print(f"one batched RunModel:      median {ma:.2f} s  speed-up {mb / ma:.1f}x  (max |metric difference| {diff:.1e})")
    best = np.unravel_index(np.argmax(vb.reshape(30, 8)), (30, 8))
    print(f"largest restored logit difference at layer {best[0]}, position {positions[best[1]]}: {vb.max():.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["throughput", "gradients", "sweep"])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--torch-threads", type=int, default=2, help="model host's torch_threads (0: the shipped default)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if args.only in (None, "throughput"):
            bench_throughput(tmp, args.seconds, args.torch_threads)
        if args.only in (None, "gradients"):
            bench_gradients(tmp, args.runs)
        if args.only in (None, "sweep"):
            bench_sweep(tmp, max(1, args.runs // 3))


if __name__ == "__main__":
    main()
