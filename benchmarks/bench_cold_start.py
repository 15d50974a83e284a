"""Cold start of the whole fleet and its resident memory on this machine.

Run: .venv/bin/python benchmarks/bench_cold_start.py [--repeats 3]
Reports, per start: seconds to READY (gateway healthy), seconds until the first SmolLM2 attention
analysis returns (model loaded from the converted cache), and the RSS of every process of the
fleet (launcher, Ray GCS/raylet, workers, replicas) after that first analysis. Goal: <= 40 s and
<= 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_support import MODEL_CACHE, free_port

from interp_services.serve.process import FleetProcess, write_config
from interpretability import Client


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ready, first, rss = [], [], []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write_config(Path(tmp) / "fleet.yaml", port=free_port(), store=Path(tmp) / "store", model_cache=MODEL_CACHE)
            t0 = time.monotonic()
            with FleetProcess(cfg) as fleet, Client(fleet.endpoint, api_key="interp-dev-key") as client:
                ready.append(time.monotonic() - t0)
                client.analyze_attention("smollm2-135m", "The quick brown fox jumps over the lazy dog.")
                first.append(time.monotonic() - t0)
                rss.append(fleet.rss_bytes())
        print(f"start {i + 1}: ready {ready[-1]:.1f} s, first analysis {first[-1]:.1f} s, RSS {rss[-1] / 2**30:.2f} GiB")
    print(
        f"median over {args.repeats}: ready {statistics.median(ready):.1f} s, first analysis "
        f"{statistics.median(first):.1f} s, RSS {statistics.median(rss) / 2**30:.2f} GiB (goals: <= 40 s, <= 4 GiB)"
    )


if __name__ == "__main__":
    main()
