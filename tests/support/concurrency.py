"""Many clients at once, each checking that every answer it gets is its own."""

from __future__ import annotations

import threading

import numpy as np
import torch

from interp.v1 import tensor_pb2 as tpb
from interpretability import Client


def own_answers_under_load(endpoint: str, api_key: str, smollm, *, clients: int = 16, calls: int = 3) -> list[str]:
    """``clients`` threads, each with its own channel and its own text, run ``calls`` RunModel
    calls and compare the last-position logits with an in-process forward of that text.
    Returns the mismatches (empty when every response belonged to its request)."""
    texts = [f"Counting: {', '.join(str(j) for j in range(i % 5, i % 5 + 3 + i % 4))}," for i in range(clients)]
    want = []
    for t in texts:
        with torch.inference_mode():
            want.append(smollm.model(torch.tensor([smollm.tokenizer(t)["input_ids"]])).logits[0, -1])
    errors: list[str] = []
    barrier = threading.Barrier(clients)

    def worker(i: int) -> None:
        with Client(endpoint, api_key=api_key) as c:
            barrier.wait()
            for _ in range(calls):
                out = c.run("smollm2-135m", [texts[i]], return_logits=True, delivery=tpb.RESULT_DELIVERY_INLINE)
                got = torch.from_numpy(np.array(c.to_numpy(out.logits)))[0, -1]
                # Merged batches round differently from a lone forward: ~1e-4 on logits of ~10-20.
                if not torch.allclose(got, want[i], atol=5e-4, rtol=1e-5):
                    errors.append(f"client {i}: max diff {(got - want[i]).abs().max():.2e}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
