"""Circuit-discovery benchmarks, each against a baseline measured in the same run.

* ``p4``: edge attribution patching (EAP, and EAP-IG with 5 steps) against exhaustive activation
  patching of every edge alone, on the copying task of a 2-layer x 4-head attention-only
  in-context-bigram toy (``tests/toy_models/induction.py`` with ``n_head=4``; trained here once
  and cached, 81 attention-only edges; the project's 1-head fixture has 12, too few for a ratio
  to mean anything). Timed in process (the core functions over ``LocalRunner``: the scoring
  alone) and through the fleet (``DiscoverCircuit`` end to end: tokenizing the task, the
  baseline run, the scoring and the faithfulness run of the selected circuit). Agreement: the
  overlap of the top-k edge sets (k = edges whose exhaustive normalised drop is > 0.1) and the
  Spearman rank correlation of all scores. Goal of the issue: EAP >= 20x faster than
  exhaustive patching, and the same top circuit.
* ``tracing``: causal tracing of one 10-token fact on SmolLM2-135M ("The Eiffel Tower is located
  in the city of" -> " Paris", subject "Eiffel Tower", 30 layers x 10 tokens x 3 states, window
  10), through the fleet (``TraceCausalFlow``) against a plain script: transformers' model,
  forward hooks that noise the subject embeddings and restore each (state, layer window, token)
  from one clean pass, 64 rows per forward, as a researcher would write it; plus the core
  ``causal_trace`` over ``LocalRunner`` in process with ``--core`` (another ~2 minutes). The
  script draws the service's noise (the same seeded generator per position), so the maps compare
  cell by cell. ``--samples`` noise samples: default 2 rather than the service's 5, to keep a
  run to a few minutes on 2 cores.

Run: make bench, or .venv/bin/python benchmarks/bench_circuits.py [--only p4|tracing] [--runs N]
[--samples 2] [--threads 1] [--core] [--no-fleet] [--toy-layers 2 --toy-heads 4]. ``--runs``
defaults to 5 for p4 and 1 for tracing. Runs are interleaved so machine noise hits every method
alike; medians (and every run) are printed. Both parts share one Ray Serve fleet (~3-4 minutes
for everything with the defaults, plus ~1-2 minutes to train the toy the first time).

``--threads`` is torch's intra-op thread count here and in the fleet's model host and circuits
replicas. It defaults to 1, not the fleet's automatic 2: on a 2-core machine that other processes
share, two threads made the toy's runs 10-20x slower and varied 10x from run to run (every small
op waits for a thread whose core is taken), so the ratios measured the machine, not the methods.
``--threads 2`` measures the deployed default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import torch
from bench_support import MODEL_CACHE, free_port, plain_causal_lm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.toy_models (the toy's trainer)

TOY_HEADS, TOY_LAYERS = 4, 2
TOY_CACHE = Path.home() / ".cache" / "interp-bench"
TOY_POOL, TOY_LENGTH, TOY_COUNT, TOY_SEED = list(range(19)), 12, 8, 1
IG_STEPS = 5
TOP_DROP = 0.1  # k = edges whose exhaustive normalised drop is above this

FACT, SUBJECT, ANSWER = "The Eiffel Tower is located in the city of", "Eiffel Tower", " Paris"
STATES = ("hidden", "mlp", "attn")
WINDOW, NOISE_SCALE, TRACE_SEED, ROWS_PER_FORWARD = 10, 3.0, 0, 64


def _fleet(tmp: str, threads: int):
    from interp_services.serve.process import FleetProcess, write_config

    extra = f"deployments: {{model_host: {{torch_threads: {threads}}}, circuits: {{torch_threads: {threads}}}}}"
    cfg = write_config(Path(tmp) / "fleet.yaml", port=free_port(), store=Path(tmp) / "store", model_cache=MODEL_CACHE, extra=extra)
    return FleetProcess(cfg)


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


# ------------------------------------------------------------------------------------------ P4


def toy_dir(heads: int, layers: int) -> Path:
    return TOY_CACHE / (f"toy_induction_{heads}h" if layers == 2 else f"toy_induction_{layers}l_{heads}h")


def toy_model(heads: int = TOY_HEADS, layers: int = TOY_LAYERS) -> tuple[Path, dict]:
    """The toy with ``layers`` x ``heads``: reused from its cache directory when its training
    metrics say it was trained with these settings, else trained now (~70 s for 2 x 4 on 2 idle
    cores; the defaults of the trainer otherwise)."""
    from tests.toy_models import induction

    out = toy_dir(heads, layers)
    want = {"steps": induction.DEFAULT_STEPS, "seed": induction.DEFAULT_SEED, "batch_size": induction.DEFAULT_BATCH_SIZE,
            "lr": induction.DEFAULT_LR, "n_head": heads, "n_layer": layers}
    path = out / "training_metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    if not ({k: metrics.get(k) for k in want} == want and (out / "model.safetensors").is_file()):
        print(f"training the {layers}-layer x {heads}-head toy into {out} (once) ...", flush=True)
        metrics = induction.train_induction_model(out, n_head=heads, n_layer=layers)
    # It learned the task: it predicts succ[current] where the context shows it (chance 1/19).
    assert metrics["successor_accuracy"] > 0.8 > 10 * metrics["chance_accuracy"], metrics
    return out, metrics


def toy_task_message(task):
    """The core copying task as a ``CircuitTask`` of the toy's symbol words."""
    from interp.v1 import circuits_service_pb2 as cpb
    from tests.toy_models.induction import SYMBOLS

    text = lambda ids: " ".join(SYMBOLS[i] for i in ids)  # noqa: E731
    pairs = [cpb.PromptPair(clean=text(c), corrupted=text(x), answer=" " + SYMBOLS[a])
             for c, x, a in zip(task.clean, task.corrupted, task.answers, strict=True)]
    return cpb.CircuitTask(name="copying", metric=cpb.TASK_METRIC_LOG_PROBABILITY, pairs=pairs)


def agreement(exact: torch.Tensor, scores: torch.Tensor) -> tuple[int, int, float]:
    """(overlap, k, Spearman rho): the top-k edges by score against the k edges whose exhaustive
    normalised drop is above ``TOP_DROP``, and the rank correlation over every edge."""
    from scipy.stats import spearmanr

    k = int((exact > TOP_DROP).sum())
    top = lambda s: set(torch.argsort(s, descending=True)[:k].tolist())  # noqa: E731
    rho = float(spearmanr(exact.numpy(), scores.numpy()).statistic)
    return len(top(exact) & top(scores)), k, rho


def bench_p4(runs: int, client, circuit_types: list[str], heads: int, layers: int) -> None:
    from interp_services.core import circuits as core
    from interp_services.core.models import LoaderSettings, ModelCache

    model_dir, metrics = toy_model(heads, layers)
    loaded = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE, allow_hub=False)).get(str(model_dir))
    # The service's packing: forward-only sweeps up to 4,096 padded tokens a call, 64 sequences
    # for runs with gradients, 1024 interventions a call.
    runner = core.LocalRunner(loaded)
    task = core.copying_task(TOY_POOL, length=TOY_LENGTH, count=TOY_COUNT, seed=TOY_SEED)
    message = toy_task_message(task)
    clean, corrupted = core.baseline_metrics(runner, task, core.Monitor())
    methods = {
        "eap": lambda g, m: core.edge_scores(runner, task, g, clean, corrupted, m),
        "eap_ig": lambda g, m: core.edge_scores(runner, task, g, clean, corrupted, m, ig_steps=IG_STEPS),
        "edge_patching": lambda g, m: core.exhaustive_edge_patching(runner, task, g, clean, corrupted, m),
    }
    print(f"P4: EAP vs exhaustive edge patching, {layers}-layer x {heads}-head attention-only toy ({model_dir})")
    print(f"  toy trained {metrics['steps']} steps: successor accuracy {metrics['successor_accuracy']:.3f} "
          f"(chance {metrics['chance_accuracy']:.3f}; {metrics['ablated_successor_accuracy']:.3f} without layer "
          f"{layers - 1}'s attention), best previous-token head of layer 0 {max(metrics['previous_token'][0]):.2f}, "
          f"best induction head of a later layer {max(max(h) for h in metrics['induction'][1:]):.2f}")
    print(f"  copying task: {task.n} pairs of {len(task.clean[0])} tokens, log-probability {clean:.3f} clean / "
          f"{corrupted:.3f} corrupted; {runs} runs (medians), interleaved; {torch.get_num_threads()} torch threads")
    for ctype in circuit_types:
        graph = core.build_graph(loaded.info, ctype)
        times: dict[str, list[float]] = {f"{w}:{m}": [] for w in ("local", "fleet") for m in methods}
        scores: dict[str, torch.Tensor] = {}
        calls: dict[str, int] = {}
        fleet_scores: dict[str, torch.Tensor] = {}
        fleet_runs: dict[str, int] = {}
        names = [e.name for e in graph.edges]
        for name, fn in methods.items():  # warm-up (and the fleet's model load)
            fn(graph, core.Monitor())
            if client is not None:
                client.discover_circuit(str(model_dir), message, method=name, circuit_types=[ctype], timeout=600)
        for _ in range(runs):
            for name, fn in methods.items():
                monitor = core.Monitor()
                t = time.perf_counter()
                scores[name] = fn(graph, monitor).float()
                times[f"local:{name}"].append(time.perf_counter() - t)
                calls[name] = monitor.runs
                if client is None:
                    continue
                t = time.perf_counter()
                r = client.discover_circuit(str(model_dir), message, method=name, circuit_types=[ctype], timeout=600)
                times[f"fleet:{name}"].append(time.perf_counter() - t)
                by_name = dict(zip(r.edge_names, r.all_scores, strict=True))
                fleet_scores[name] = torch.tensor([by_name[n] for n in names])
                fleet_runs[name] = r.runs
        med = {k: _median(v) for k, v in times.items() if v}
        exact = scores["edge_patching"]
        print(f"\n  {ctype}: {len(graph.edges)} edges ({len(graph.senders)} senders x {len(graph.receivers)} receiver inputs), "
              f"{int((exact > TOP_DROP).sum())} with exhaustive normalised drop > {TOP_DROP}")
        head = f"  {'method':<22}{'in process':>12}{'calls':>7}"
        if client is not None:
            head += f"{'fleet':>11}{'runs':>6}"
        print(head + f"{'top-k overlap':>16}{'Spearman':>10}")
        for name in methods:
            line = f"  {name:<22}{med[f'local:{name}'] * 1000:9.0f} ms{calls[name]:>7}"
            if client is not None:
                line += f"{med[f'fleet:{name}'] * 1000:8.0f} ms{fleet_runs[name]:>6}"
            overlap, k, rho = agreement(exact, scores[name])
            print(line + f"{overlap:>11} / {k:<3}{rho:>10.3f}")
        print("  runs (ms):", {k: [round(x * 1000) for x in v] for k, v in times.items() if v})
        for where in ("local", "fleet") if client is not None else ("local",):
            ex = med[f"{where}:edge_patching"]
            label = "in process" if where == "local" else "through the fleet"
            print(f"  ratio exhaustive / EAP {ex / med[f'{where}:eap']:6.1f}x, exhaustive / EAP-IG "
                  f"{ex / med[f'{where}:eap_ig']:6.1f}x  ({label}; goal >= 20x)")
        if client is not None:
            diff = max(float((fleet_scores[m] - scores[m]).abs().max()) for m in methods)
            print(f"  fleet scores = in-process scores: max |difference| {diff:.2e} over the three methods")
        for name in ("eap", "eap_ig", "edge_patching"):
            order = torch.argsort(scores[name], descending=True)[:6].tolist()
            print(f"  top edges {name:<14}" + ", ".join(f"{names[i]} {float(scores[name][i]):+.2f}" for i in order))


# ------------------------------------------------------------------------------------- tracing


def window_layers(layer: int, window: int, num_layers: int) -> list[int]:
    """``window`` layers around ``layer``, shifted inward at the ends (the service's window)."""
    lo = max(0, layer - window // 2)
    hi = min(num_layers, lo + window)
    return list(range(max(0, hi - window), hi))


def service_noise(seed: int, positions: list[int], d_model: int) -> dict[int, torch.Tensor]:
    """The unit noise the service adds at each position (its seeded generator per position), so
    that the script's maps compare with the service's cell by cell."""
    from interp_services.core.interventions import _position_seed

    return {p: torch.randn(d_model, generator=torch.Generator().manual_seed(_position_seed(seed, p))) for p in positions}


def plain_trace(model, ids: list[int], target: int, subject: list[int], samples: int, window: int = WINDOW,
                seed: int = TRACE_SEED, noise_scale: float = NOISE_SCALE, rows: int = ROWS_PER_FORWARD) -> dict:
    """Causal tracing with transformers and forward hooks (the baseline script): one clean pass
    caching every state, then the (state, layer window, token) x samples restorations of the
    noised run, ``rows`` per forward."""
    layers = model.model.layers
    num_layers, length = len(layers), len(ids)
    modules = {"hidden": list(layers), "mlp": [b.mlp for b in layers], "attn": [b.self_attn for b in layers]}
    inp = torch.tensor([ids])

    def first(out):
        return out[0] if isinstance(out, tuple) else out

    def replace(out, new):
        return (new, *out[1:]) if isinstance(out, tuple) else new

    cached: dict[tuple[str, int], torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda mod, a, out, key=(s, i): cached.__setitem__(key, first(out)[0].detach()))
               for s, ms in modules.items() for i, m in enumerate(ms)]
    try:
        with torch.inference_mode():
            emb = model.model.embed_tokens(inp)[0]
            clean_p = float(torch.softmax(model(input_ids=inp, logits_to_keep=1).logits[0, -1].float(), -1)[target])
    finally:
        for h in handles:
            h.remove()
    std = float(emb.std()) * noise_scale
    noise = torch.zeros(samples, length, emb.shape[-1])
    for s in range(samples):
        for p, v in service_noise(seed + s, subject, emb.shape[-1]).items():
            noise[s, p] = std * v

    cells: list[tuple[str, int, int] | None] = [None]
    for state in STATES:
        cells.extend((state, layer, t) for layer in range(num_layers) for t in range(length))
    experiments = [(c, s) for c in cells for s in range(samples)]
    values: list[float] = []
    for start in range(0, len(experiments), rows):
        chunk = experiments[start : start + rows]
        masks: dict[tuple[str, int], torch.Tensor] = {}
        for i, (cell, _) in enumerate(chunk):
            if cell is None:
                continue
            state, layer, t = cell
            for l_ in [layer] if state == "hidden" else window_layers(layer, window, num_layers):
                masks.setdefault((state, l_), torch.zeros(len(chunk), length, 1, dtype=torch.bool))[i, t] = True
        row_noise = noise[[s for _, s in chunk]]

        def restore(mod, args, out, key):
            return replace(out, torch.where(masks[key], cached[key], first(out)))

        handles = [model.model.embed_tokens.register_forward_hook(lambda mod, a, out: out + row_noise)]
        handles += [modules[s][i].register_forward_hook(lambda mod, a, out, key=(s, i): restore(mod, a, out, key)) for s, i in masks]
        try:
            with torch.inference_mode():
                logits = model(input_ids=inp.expand(len(chunk), -1), logits_to_keep=1).logits[:, -1].float()
        finally:
            for h in handles:
                h.remove()
        values.extend(torch.softmax(logits, -1)[:, target].tolist())
    per_cell = torch.tensor(values).reshape(len(cells), samples).mean(dim=1)
    maps = {state: per_cell[1 + k * num_layers * length : 1 + (k + 1) * num_layers * length].reshape(num_layers, length)
            for k, state in enumerate(STATES)}
    return {"clean": clean_p, "corrupted": float(per_cell[0]), "maps": maps, "forwards": 1 + -(-len(experiments) // rows)}


def bench_tracing(runs: int, samples: int, client, with_core: bool) -> None:
    from transformers import AutoTokenizer

    from interp_services.core import circuits as core
    from interp_services.core.models import LoaderSettings, ModelCache
    from interp_services.core.run import tokenize

    model = plain_causal_lm()
    tok = AutoTokenizer.from_pretrained(model.name_or_path)
    enc = tok(FACT, return_offsets_mapping=True)
    ids = enc["input_ids"]
    target = tok(FACT + ANSWER)["input_ids"][-1]
    lo, hi = FACT.index(SUBJECT), FACT.index(SUBJECT) + len(SUBJECT)
    subject = [i for i, (s, e) in enumerate(enc["offset_mapping"]) if s < hi and e > lo and i != 0]  # the service never noises 0
    loaded = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE, allow_hub=False)).get("smollm2-135m")
    assert tokenize(loaded, [FACT], max_tokens=512)[0] == ids
    num_layers = model.config.num_hidden_layers
    cells = len(STATES) * num_layers * len(ids)

    def script():
        t = time.perf_counter()
        return plain_trace(model, ids, target, subject, samples), time.perf_counter() - t

    def in_process():
        t = time.perf_counter()
        res = core.causal_trace(core.LocalRunner(loaded), ids, target, subject, num_layers, core.Monitor(), states=STATES,
                                noise_scale=NOISE_SCALE, samples=samples, window=WINDOW, seed=TRACE_SEED)
        return res, time.perf_counter() - t

    def fleet():
        t = time.perf_counter()
        r = client.trace_causal_flow("smollm2-135m", FACT, subject=SUBJECT, target=ANSWER, states=list(STATES), samples=samples,
                                     window=WINDOW, seed=TRACE_SEED, noise_scale=NOISE_SCALE, timeout=1800)
        return r, time.perf_counter() - t

    times: dict[str, list[float]] = {"script": [], "core": [], "fleet": []}
    if client is not None:  # load SmolLM2 in the fleet's model host and run one forward there
        client.run("smollm2-135m", tokens=[ids] * ROWS_PER_FORWARD)
    local = None
    for _ in range(runs):
        plain, dt = script()
        times["script"].append(dt)
        if with_core:
            local, dt = in_process()
            times["core"].append(dt)
        if client is not None:
            remote, dt = fleet()
            times["fleet"].append(dt)
    med = {k: _median(v) for k, v in times.items() if v}
    print("\n  runs (s):", {k: [round(x, 1) for x in v] for k, v in times.items() if v})
    print(f"Causal tracing, SmolLM2-135M, {FACT!r} -> {ANSWER!r}: {len(ids)} tokens, subject positions {subject}, "
          f"{num_layers} layers x {len(ids)} tokens x {len(STATES)} states = {cells} cells x {samples} samples "
          f"(+{samples} corrupted runs), window {WINDOW}; {runs} run(s) (medians)")
    print(f"  plain transformers + forward hooks script: {med['script']:7.1f} s  ({plain['forwards']} forwards of <= "
          f"{ROWS_PER_FORWARD} rows)")
    if local is not None:
        print(f"  core causal_trace, LocalRunner in process: {med['core']:7.1f} s  ({local.runs} model runs)")
    if client is not None:
        print(f"  through the fleet (TraceCausalFlow):       {med['fleet']:7.1f} s  ({remote.runs} model-host calls)")
        print(f"  ratio fleet / plain script: {med['fleet'] / med['script']:.2f}x")
    if local is not None:
        print(f"  ratio core in process / plain script: {med['core'] / med['script']:.2f}x"
              + (f"; fleet / core in process: {med['fleet'] / med['core']:.2f}x" if client is not None else ""))

    def compare(label: str, clean: float, corrupted: float, maps: dict[str, torch.Tensor]) -> None:
        diff = {s: float((maps[s] - plain["maps"][s]).abs().max()) for s in STATES}
        argmax = {s: divmod(int(maps[s].argmax()), len(ids)) == divmod(int(plain["maps"][s].argmax()), len(ids)) for s in STATES}
        print(f"  {label:<10} p(clean) {clean:.6f} (script {plain['clean']:.6f}, |diff| {abs(clean - plain['clean']):.1e}), "
              f"p(corrupted) {corrupted:.4f} (script {plain['corrupted']:.4f}); max |map - script map| "
              + ", ".join(f"{s} {diff[s]:.1e}" for s in STATES) + "; same argmax cell: "
              + ", ".join(f"{s} {'yes' if argmax[s] else 'NO'}" for s in STATES))

    if local is not None:
        compare("core", local.clean_probability, local.corrupted_probability, local.maps)
    if client is not None:
        assert list(remote.subject_positions) == subject, (list(remote.subject_positions), subject)
        maps = {m.state: torch.tensor(list(m.values)).reshape(num_layers, len(ids)) for m in remote.maps}
        compare("fleet", remote.clean_probability, remote.corrupted_probability, maps)
    for s in STATES:
        layer, t = divmod(int(plain["maps"][s].argmax()), len(ids))
        print(f"  script {s:<6}: best restoration layer {layer} at {tok.convert_ids_to_tokens([ids[t]])[0]!r} "
              f"p = {float(plain['maps'][s][layer, t]):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("p4", "tracing"))
    ap.add_argument("--runs", type=int, help="timed runs per method (default: 5 for p4, 1 for tracing)")
    ap.add_argument("--samples", type=int, default=2, help="causal-tracing noise samples (the service's default is 5)")
    ap.add_argument("--circuit-types", default="attention_only,mixed", help="p4's graphs, comma-separated")
    ap.add_argument("--toy-heads", type=int, default=TOY_HEADS, help="p4's toy: heads per layer (trained once, cached)")
    ap.add_argument("--toy-layers", type=int, default=TOY_LAYERS, help="p4's toy: layers")
    ap.add_argument("--no-fleet", action="store_true", help="in-process measurements only (no Ray Serve fleet)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads, here and in the fleet's model host")
    ap.add_argument("--core", action="store_true", help="tracing: also time the core causal_trace over LocalRunner in process")
    args = ap.parse_args()

    from interpretability import Client

    torch.set_num_threads(args.threads)
    with ExitStack() as stack:
        client = None
        if not args.no_fleet:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            fleet = stack.enter_context(_fleet(tmp, args.threads))
            client = stack.enter_context(Client(fleet.endpoint, api_key="interp-dev-key", timeout=1800))
        if args.only in (None, "p4"):
            bench_p4(args.runs or 5, client, args.circuit_types.split(","), args.toy_heads, args.toy_layers)
        if args.only in (None, "tracing"):
            bench_tracing(args.runs or 1, args.samples, client, args.core)


if __name__ == "__main__":
    main()
