"""Attention analysis of a 64-token input on SmolLM2 through the gateway, against a bare
in-process Hugging Face forward with output_attentions=True, measured in the same run.

Run: make bench   (or .venv/bin/python benchmarks/bench_attention.py --runs 15)
Prints medians and the ratio fleet/bare (goal <= 1.3x).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_support import MODEL_CACHE, free_port

from interp.v1 import tensor_pb2 as tpb
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.serve.process import FleetProcess, write_config
from interpretability import Client

TEXT = (
    "Interpretability research asks how a language model turns a prompt into a prediction. "
    "Attention heads move information between positions, and some of them copy earlier tokens "
    "while others track syntax or simply look back at the very first token of the input. "
    "Researchers ablate, patch and steer these components to test hypotheses about circuits, "
    "and they compare heads across inputs to see which behaviours are stable."
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(2)

    model = ModelCache(LoaderSettings(cache_dir=MODEL_CACHE)).get("smollm2-135m")
    # The baseline is transformers' own eager attention, not the suite's hookable copy of it.
    model.model.set_attn_implementation("eager")
    ids = model.tokenizer(TEXT)["input_ids"][: args.tokens]
    text = model.tokenizer.decode(ids)
    ids = model.tokenizer(text)["input_ids"]
    assert abs(len(ids) - args.tokens) <= 2, len(ids)
    input_ids = torch.tensor([ids])

    def bare() -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            out = model.model(input_ids=input_ids, output_attentions=True)
        assert len(out.attentions) == 30 and out.attentions[0].numel() > 0
        return time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_config(Path(tmp) / "fleet.yaml", port=free_port(), store=Path(tmp) / "store", model_cache=MODEL_CACHE)
        with FleetProcess(cfg) as fleet, Client(fleet.endpoint, api_key="interp-dev-key") as client:
            def through_fleet(patterns: bool) -> float:
                t = time.perf_counter()
                a = client.analyze_attention(
                    "smollm2-135m", text, include_patterns=patterns, delivery=tpb.RESULT_DELIVERY_INLINE
                )
                assert len(a.heads) == 270 and len(a.tokens) == len(ids)
                return time.perf_counter() - t

            through_fleet(True)  # load the model and warm up both sides
            bare()
            rows = {"bare": [], "fleet": [], "fleet+patterns": []}
            for _ in range(args.runs):  # interleaved, so machine noise hits both alike
                rows["bare"].append(bare())
                rows["fleet"].append(through_fleet(False))
                rows["fleet+patterns"].append(through_fleet(True))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"input: {len(ids)} tokens, SmolLM2-135M, all 30 layers x 9 heads, {args.runs} interleaved runs")
    print(f"bare HF forward (eager, output_attentions): median {med['bare'] * 1e3:.1f} ms")
    print(f"fleet AnalyzeAttention (analysis only):      median {med['fleet'] * 1e3:.1f} ms  ratio {med['fleet'] / med['bare']:.2f}x")
    print(
        f"fleet AnalyzeAttention (+ all matrices):     median {med['fleet+patterns'] * 1e3:.1f} ms  "
        f"ratio {med['fleet+patterns'] / med['bare']:.2f}x"
    )


if __name__ == "__main__":
    main()
