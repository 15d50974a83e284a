"""Attribution benchmarks, each against a baseline measured in the same run.

* ``ig``: integrated gradients (50 steps) of " Paris" after a 24-token prompt on SmolLM2 through
  the fleet (gateway -> attribution service), against a plain script calling Captum's
  ``LayerIntegratedGradients`` on the embedding layer of the same weights loaded the ordinary
  transformers way. Goal: median ratio <= 1.15x.
* ``memory``: peak resident memory added by integrated gradients at n_steps 50, 200 and 800 (a
  fresh process each, the model loaded and warmed up before the peak is read). Goal: flat,
  because model evaluations run ``internal_batch_size`` at a time whatever n_steps is.
* ``remote``: why the service holds its own weights. Feature ablation of the same input by the
  attribution service, against the same ablations sent as one batched ``RunModel`` to the model
  host with a token-score metric (what a forward-only method calling the model host would do).

Run: .venv/bin/python benchmarks/bench_attribution.py [--only ig|memory|remote] [--runs 7]
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
from bench_support import MODEL_CACHE, free_port, plain_causal_lm

PROMPT = (
    "After a long week of meetings in Brussels, the delegates took the train south to see the "
    "capital of France, which is"
)
ANSWER = " Paris"


def _fleet(tmp: str):
    from interp_services.serve.process import FleetProcess, write_config

    cfg = write_config(Path(tmp) / "fleet.yaml", port=free_port(), store=Path(tmp) / "store", model_cache=MODEL_CACHE)
    return FleetProcess(cfg)


def bench_ig(runs: int) -> None:
    from captum.attr import LayerIntegratedGradients
    from transformers import AutoTokenizer

    from interpretability import Client
    from interpretability import attribution as at

    torch.set_num_threads(2)
    model = plain_causal_lm()
    tok = AutoTokenizer.from_pretrained(model.name_or_path)
    model.requires_grad_(False)
    ids = torch.tensor([tok(PROMPT)["input_ids"]])
    target = tok(ANSWER, add_special_tokens=False)["input_ids"][0]
    base = ids.clone()
    base[0, 1:] = tok.pad_token_id

    def forward(input_ids):
        return torch.log_softmax(model(input_ids=input_ids, logits_to_keep=1).logits[:, -1], -1)[:, target]

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())

    def script() -> float:
        t = time.perf_counter()
        attrs, delta = lig.attribute(ids, baselines=base, n_steps=50, internal_batch_size=16, return_convergence_delta=True)
        attrs.sum(-1)
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp, _fleet(tmp) as fleet, Client(fleet.endpoint, api_key="interp-dev-key") as client:
        def through_fleet() -> float:
            t = time.perf_counter()
            r = client.attribute("smollm2-135m", PROMPT, target=at.next_token_target(ANSWER), methods="integrated_gradients",
                                 options=at.options(n_steps=50))
            assert len(r.methods[0].scores) == ids.shape[1]
            return time.perf_counter() - t

        through_fleet()  # load the model in the replica
        script()
        rows: dict[str, list[float]] = {"script": [], "fleet": []}
        for _ in range(runs):  # interleaved, so machine noise hits both alike
            rows["script"].append(script())
            rows["fleet"].append(through_fleet())
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"IG, 50 steps, {ids.shape[1]} tokens, SmolLM2-135M, {runs} runs (medians)")
    print(f"  plain Captum LayerIntegratedGradients script: {med['script'] * 1000:8.0f} ms")
    print(f"  through the fleet (gateway -> attribution):   {med['fleet'] * 1000:8.0f} ms")
    print(f"  ratio fleet / script: {med['fleet'] / med['script']:.2f}x (goal <= 1.15x)")


_MEMORY_CHILD = r"""
import json, resource, sys, torch
from pathlib import Path
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.core.attribution import AttributionJob, AttributionOptions, Target, explain
torch.set_num_threads(2)
loaded = ModelCache(LoaderSettings(cache_dir=Path(sys.argv[1]))).get("smollm2-135m")
job = lambda n: AttributionJob(sys.argv[3], Target("next_token", continuation=sys.argv[4]), ["integrated_gradients"],
                               options=AttributionOptions(n_steps=n))
explain(loaded, job(16))  # warm-up: one full internal batch, so allocator pools exist already
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = explain(loaded, job(int(sys.argv[2])))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "relative_delta": r.methods[0].relative_delta}))
"""


def bench_memory() -> None:
    print("IG peak memory (a fresh process per n_steps; KiB above the warmed-up peak)")
    for steps in (50, 200, 800):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(MODEL_CACHE), str(steps), PROMPT, ANSWER],
            capture_output=True, text=True, check=True,
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        grown = data["after_kb"] - data["before_kb"]
        print(f"  n_steps {steps:4d}: peak {data['after_kb'] / 1024:7.0f} MiB, +{grown / 1024:6.1f} MiB over warm-up, "
              f"|delta| {100 * data['relative_delta']:.3f}% of f(x) - f(baseline)")


def bench_remote(runs: int) -> None:
    from interpretability import Client
    from interpretability import attribution as at
    from interpretability.experiments import token_score

    with tempfile.TemporaryDirectory() as tmp, _fleet(tmp) as fleet, Client(fleet.endpoint, api_key="interp-dev-key") as client:
        ids = list(client.tokenize("smollm2-135m", [PROMPT])[0].token_ids)
        target_id = list(client.tokenize("smollm2-135m", [ANSWER])[0].token_ids)[-1]
        pad = 2  # SmolLM2's pad token (<|im_end|>), as the service's default baseline
        rows_ids = [ids] + [ids[:i] + [pad] + ids[i + 1:] for i in range(1, len(ids))]

        def service() -> float:
            t = time.perf_counter()
            client.attribute("smollm2-135m", PROMPT, target=at.next_token_target(ANSWER), methods="feature_ablation")
            return time.perf_counter() - t

        def via_model_host() -> float:
            t = time.perf_counter()
            r = client.run("smollm2-135m", tokens=rows_ids, metric=token_score(target_id))
            values = list(r.metric_values)
            assert len(values) == len(rows_ids)
            return time.perf_counter() - t

        service()
        via_model_host()
        rows: dict[str, list[float]] = {"service": [], "model_host": []}
        for _ in range(runs):
            rows["service"].append(service())
            rows["model_host"].append(via_model_host())
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"Feature ablation, {len(ids)} tokens ({len(rows_ids)} model evaluations), {runs} runs (medians)")
    print(f"  attribution service, weights in process: {med['service'] * 1000:8.0f} ms")
    print(f"  one batched RunModel at the model host:  {med['model_host'] * 1000:8.0f} ms")
    print(f"  ratio model host / in process: {med['model_host'] / med['service']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("ig", "memory", "remote"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if args.only in (None, "ig"):
        bench_ig(args.runs)
    if args.only in (None, "memory"):
        bench_memory()
    if args.only in (None, "remote"):
        bench_remote(args.runs)


if __name__ == "__main__":
    main()
