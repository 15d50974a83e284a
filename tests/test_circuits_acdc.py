"""ACDC on grouped-query attention: every edge into every receiver -- a head's query, and the
key and value inputs its group of query heads shares (``a{L}.kv{G}``) -- is tested.

A mock runner whose metric is decided by a known set of edges gives the expected circuit
exactly; a tiny random Llama (4 query heads, 2 key/value heads) runs ACDC for real, with one
key edge checked against its effect computed with plain PyTorch hooks on the HF modules."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
import torch

from interp_services.core import circuits as core
from interp_services.core.circuits.runner import RunResult
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric
from tests.conftest import TOY_MODEL

GQA = SimpleNamespace(num_layers=2, num_heads=4, num_kv_heads=2, d_mlp=0)


class EdgeMetricRunner:
    """A runner whose metric is 1 on a row unless the row's edge interventions remove one of
    ``important`` (then 0); it reads the edges back from the interventions, as the model host
    would apply them, and counts every edge it was asked to remove."""

    def __init__(self, graph: core.Graph, important: set[str]) -> None:
        self.receivers = {(r.site[0], tuple(r.site[1])): r for r in graph.receivers}
        self.senders = {(s.site, s.head if s.kind == "head" else -1): s for s in graph.senders}
        self.important = important
        self.removed: set[str] = set()

    max_sequences = 64
    max_interventions = 1024

    def forward_rows(self, length: int) -> int:
        return self.max_sequences

    def run(self, batch: Sequence[Sequence[int]], *, capture=(), interventions: Sequence[Intervention] = (), metric: Metric | None = None,
            gradients=(), top_k: int = 0) -> RunResult:
        value = torch.ones(len(batch), dtype=torch.float64)
        for iv in interventions:
            assert iv.kind == "edge"
            r = self.receivers[iv.hook_site, tuple(iv.heads)]
            for site, heads in iv.senders:
                for h in heads or [-1]:
                    name = f"{self.senders[site, h].name}->{r.name}"
                    self.removed.add(name)
                    if name in self.important:
                        value[iv.sequences] = 0.0
        return RunResult(metric=value)


def _task() -> core.TaskBatch:
    return core.TaskBatch([[1, 2, 3]], [[4, 5, 6]], [7], [8])


def test_the_grouped_query_graph_has_key_value_group_receivers():
    graph = core.build_graph(GQA, "attention_only")
    kv = [e for e in graph.edges if e.receiver.input in ("k", "v")]
    assert len(graph.edges) == 57 and len(kv) == 24
    assert {e.receiver.node for e in kv} == {"a0.kv0", "a0.kv1", "a1.kv0", "a1.kv1"}


def test_acdc_tests_and_keeps_every_edge_when_every_edge_matters():
    graph = core.build_graph(GQA, "attention_only")
    runner = EdgeMetricRunner(graph, {e.name for e in graph.edges})
    kept, drops, final = core.acdc(runner, _task(), graph, 1.0, 0.0, 0.05, core.Monitor())
    assert kept == graph.edges
    assert set(drops) == set(graph.edges) and all(d == 1.0 for d in drops.values())
    assert runner.removed == {e.name for e in graph.edges} and final == 1.0


def test_acdc_keeps_a_key_value_edge_that_alone_carries_the_metric():
    """a0.h3 writes into the value input of key/value group 1 of layer 1, which query head 2
    reads (heads 2 and 3 share group 1); only that path matters."""
    graph = core.build_graph(GQA, "attention_only")
    path = {"a0.h3->a1.kv1.v", "a1.h2->logits"}
    runner = EdgeMetricRunner(graph, path)
    kept, drops, final = core.acdc(runner, _task(), graph, 1.0, 0.0, 0.05, core.Monitor())
    assert {e.name for e in kept} == path and final == 1.0
    assert {e.name: d for e, d in drops.items() if d} == dict.fromkeys(path, 1.0)
    # The path's key/value group was tested edge by edge; the other group of layer 1 is pruned
    # untested once neither of its query heads (0, 1) reaches the logits.
    assert {e for e in drops if e.receiver.node == "a1.kv1"} == {e for e in graph.edges if e.receiver.node == "a1.kv1"}
    assert not [e for e in drops if e.receiver.node == "a1.kv0"]


# ------------------------------------------------------------------------ a tiny random Llama


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """Two layers, 4 query heads sharing 2 key/value heads, random weights (seeded), with the
    toy model's 21-token tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from interp_services.core.models import LoaderSettings, ModelCache

    path = tmp_path_factory.mktemp("tiny_llama") / "model"
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=21, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, pad_token_id=20, bos_token_id=None, eos_token_id=None,
                      initializer_range=0.2)
    LlamaForCausalLM(cfg).save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TOY_MODEL / name, path / name)
    cache = ModelCache(LoaderSettings(cache_dir=path.parent / "cache", allow_hub=False, device="cpu"), max_models=1)
    return path, cache.get(str(path))


def _llama_task() -> core.TaskBatch:
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, 20, (3, 6), generator=g).tolist()
    corrupted = [[t if i < 3 else (t + 7) % 20 for i, t in enumerate(row)] for row in clean]
    return core.TaskBatch(clean, corrupted, [row[2] for row in clean], [(row[2] + 1) % 20 for row in clean])


def _key_edge_by_hand(path, task: core.TaskBatch) -> float:
    """Mean logit difference with the edge input -> a1.kv0.k removed (resample), computed with
    hooks on a plain transformers load of the model: layer 1's key projection reads, for key/value
    head 0 only, its input with the clean embeddings replaced by the corrupted ones."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    layer = model.model.layers[1]
    d_head = model.config.hidden_size // model.config.num_attention_heads
    clean, corrupted = torch.tensor(task.clean), torch.tensor(task.corrupted)
    emb = model.model.embed_tokens
    seen: dict[str, torch.Tensor] = {}

    def keep_input(module, args, kwargs):
        seen["x"] = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]

    def swap_key(module, args, out):
        x = seen["x"] - emb(clean) + emb(corrupted)
        out = out.clone()
        out[..., :d_head] = torch.nn.functional.linear(layer.input_layernorm(x), module.weight, module.bias)[..., :d_head]
        return out

    handles = [layer.register_forward_pre_hook(keep_input, with_kwargs=True)]
    with torch.no_grad():
        handles.append(layer.self_attn.k_proj.register_forward_hook(swap_key))
        try:
            logits = model(clean).logits[:, -1].float()
        finally:
            for h in handles:
                h.remove()
    rows = torch.arange(task.n)
    return float((logits[rows, task.answers] - logits[rows, task.wrong]).mean())


def test_acdc_on_a_tiny_grouped_query_llama_tests_every_edge(tiny_llama):
    path, loaded = tiny_llama
    info = loaded.info
    assert (info.num_heads, info.num_kv_heads) == (4, 2)
    task = _llama_task()
    runner, m = core.LocalRunner(loaded), core.Monitor()
    clean, corrupted = core.baseline_metrics(runner, task, m)
    assert abs(clean - corrupted) > 1e-3
    graph = core.build_graph(info, "attention_only")
    key_edge = next(e for e in graph.edges if e.name == "input->a1.kv0.k")
    measured = core.metric_with_edges_removed(runner, task, [[key_edge]], m)
    assert abs(float(measured[0]) - _key_edge_by_hand(path, task)) < 1e-4
    assert abs(float(measured[0]) - clean) > 1e-4  # the edge does something
    # A threshold below any drop keeps every edge, so ACDC has to test each one, k/v included.
    kept, drops, final = core.acdc(runner, task, graph, clean, corrupted, -1e9, m)
    assert kept == graph.edges and set(drops) == set(graph.edges)
    assert abs(final - clean) < 1e-6
    kv = [e for e in graph.edges if e.receiver.input in ("k", "v")]
    assert len(kv) == 4 * 1 + 4 * 5 and any(abs(drops[e]) > 1e-4 for e in kv)
