"""CircuitsService through gRPC (the in-process fleet): the SDK classes with the seed's names,
the CLI commands, bad input and cancellation. The numbers are checked against the core in
``test_circuits_core.py``; here the point is that the service gives the same answers through
the model host's typed requests."""

from __future__ import annotations

import json
import math

import grpc
import pytest

from interp.v1 import circuits_service_pb2 as pb
from interpretability import AlgorithmDiscovery, Client, InterpClientError, MechanisticAnalyzer
from interpretability.circuits import task_message
from tests.conftest import DEV_KEY, ROOT, TOY_MODEL, run_cli
from tests.support.errors import assert_invalid_argument
from tests.support.streams import assert_worker_stops

SYMBOLS = "abcdefghijklmnopqrs"
MODEL = "smollm2-135m"
FACT = "The Eiffel Tower is located in the city of"


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


def _copying_task(n: int = 6) -> pb.CircuitTask:
    """In-context copying for the toy: ``r + r[:-1]`` -> ``r[-1]``; corrupted ``r' + r[:-1]``."""
    pairs = []
    for i in range(n):
        r = [SYMBOLS[(i * 7 + 3 * j) % 19] for j in range(8)]
        other = [SYMBOLS[(i * 5 + 11 * j + 1) % 19] for j in range(8)]
        pairs.append(pb.PromptPair(clean=" ".join(r + r[:-1]), corrupted=" ".join(other + r[:-1]), answer=" " + r[-1]))
    return pb.CircuitTask(name="copying", metric=pb.TASK_METRIC_LOG_PROBABILITY, pairs=pairs)


def _edges(circuit: pb.Circuit) -> set[str]:
    return {f"{e.sender}->{e.receiver}" + (f".{e.input}" if e.input else "") for e in circuit.edges}


def test_discover_circuits_finds_the_k_composition_path_of_the_toy(client):
    analyzer = MechanisticAnalyzer(client)
    task = _copying_task()
    acdc = analyzer.discover_circuits(str(TOY_MODEL), task, method="acdc", circuit_types=["attention_only"], threshold=0.05)
    assert _edges(acdc.circuits[0]) == {"input->a0.h0.v", "a0.h0->a1.h0.k", "input->a1.h0.v", "a1.h0->logits"}
    assert acdc.circuits[0].metric_recovered > 0.9 and acdc.runs > 10
    exact = analyzer.discover_circuits(str(TOY_MODEL), task, method="activation_patching", circuit_types=["attention_only"], top_edges=4)
    ig = analyzer.discover_circuits(str(TOY_MODEL), task, method="eap_ig", circuit_types=["attention_only"], top_edges=4)
    assert _edges(exact.circuits[0]) == _edges(ig.circuits[0]) == _edges(acdc.circuits[0])
    assert len(ig.all_scores) == len(ig.edge_names) == ig.circuits[0].edges_total == 12
    assert exact.runs == 3  # baselines, the 12 edges as 12 groups of one call, faithfulness
    assert ig.runs <= 6  # gradients: a few calls whatever the number of edges
    nodes = {n.name: n for n in ig.circuits[0].nodes}
    assert nodes["logits"].layer == 2 and nodes["a0.h0"].kind == pb.NODE_KIND_HEAD and nodes["input"].layer == -1
    assert any("keeps" in f for f in ig.findings)


def test_path_patching_and_head_detection_on_the_toy(client):
    paths = client.patch_paths(str(TOY_MODEL), _copying_task(), ["a0.h0"], ["a1.h0"])
    by = {p.receiver: p.effect for p in paths.pairs}
    assert by["a1.h0.k"] > 0.8 and abs(by["a1.h0.q"]) < 0.05 and abs(by["a1.h0.v"]) < 0.05
    heads = client.detect_heads(str(TOY_MODEL), sequence_length=12)
    scores = {(h.layer, h.head): h for h in heads.heads}
    assert scores[0, 0].previous_token > 0.5 and scores[1, 0].induction > 0.5
    assert any("induction head" in f and "a1.h0" in f for f in heads.findings)


def test_algorithm_discovery_confirms_induction_by_ablation(client):
    res = AlgorithmDiscovery(client).find_algorithm_implementation(str(TOY_MODEL), algorithm="induction")
    ind = res.induction
    assert list(ind.previous_token_heads) == ["a0.h0"] and list(ind.induction_heads) == ["a1.h0"]
    assert ind.loss < 0.6 and abs(ind.loss_without_previous_token - ind.uniform_loss) < 0.35
    assert abs(ind.loss_without_induction - ind.uniform_loss) < 0.35
    assert any(e.sender == "a0.h0" and e.receiver == "a1.h0" and e.input == "k" for e in ind.circuit.edges)
    with pytest.raises(ValueError, match="search_method"):
        AlgorithmDiscovery(client).find_algorithm_implementation(str(TOY_MODEL), algorithm="induction", search_method="guessing")


def test_algorithm_discovery_finds_the_key_frequencies_of_modular_addition(client):
    """The project's modular-addition model (tests/toy_models/modular_addition.py, p = 59):
    a handful of Fourier frequencies carry it, and nothing else is needed."""
    res = AlgorithmDiscovery(client).find_algorithm_implementation(str(ROOT / "tests" / "fixtures" / "toy_modular"),
                                                                   algorithm="modular_arithmetic")
    m = res.modular_addition
    assert m.modulus == 59 and m.accuracy > 0.99 and 2 <= len(m.key_frequencies) <= 8
    assert m.accuracy_key_only > 0.99 and m.accuracy_control < 0.1
    assert len(m.frequencies) == 29 and res.runs > 10


def test_trace_information_flow_on_smollm2(client):
    trace = MechanisticAnalyzer(client).trace_information_flow(MODEL, FACT, flow_method="causal_tracing", subject="Eiffel Tower",
                                                               states=["hidden"], samples=1)
    assert trace.target.strip() == "Paris" and 0.6 < trace.clean_probability < 0.8
    assert list(trace.subject_positions) == [1, 2, 3] and trace.num_layers == 30
    hidden = trace.maps[0]
    assert hidden.state == "hidden" and len(hidden.values) == 30 * len(trace.tokens)
    assert abs(hidden.values[-1] - trace.clean_probability) < 1e-5  # the last state of the last token: exact


def test_tracing_a_small_model_defaults_the_window_to_its_layers(client):
    """window 0 means 10 layers, or every layer of a smaller model (the two-layer toy)."""
    trace = MechanisticAnalyzer(client).trace_information_flow(str(TOY_MODEL), "a b c d e a b c d", flow_method="causal_tracing",
                                                               subject="b c", states=["mlp"], samples=2)
    assert trace.num_layers == 2 and [m.window for m in trace.maps] == [2]


def test_ioi_circuit_of_smollm2_by_eap_ig(client):
    """SmolLM2's IOI behaviour is spread over many edges: measured on the first 4 pairs, the
    EAP-IG circuit keeps 8% of the logit-difference gap with 50 of 70,651 edges, 15% with 1,000
    and 44% with 3,000 (plain EAP: 11% with 3,000) when everything else is resample-ablated."""
    task = task_message("indirect_object_identification")
    del task.pairs[2:]
    res = MechanisticAnalyzer(client).discover_circuits(MODEL, task, method="eap_ig", circuit_types=["mixed"], top_edges=3000)
    c = res.circuits[0]
    assert res.clean_metric > 3 and res.corrupted_metric < res.clean_metric - 3
    assert c.edges_total == len(res.all_scores) == 70_651 and len(c.edges) == 3000
    assert any(e.receiver == "logits" for e in c.edges) and any(e.sender == "input" for e in c.edges)
    assert c.metric_recovered > 0.25, c.metric_recovered


def test_a_32_pair_sweep_packs_several_cells_into_each_model_host_call(client):
    """32 pairs of 15 tokens, 2 layers x 15 positions = 30 cells. The model host takes up to
    ``max_batch`` = 256 sequences per RunModel (the fleet's default limit), and these 480 padded
    tokens per 32 rows are far inside the forward budget, so a call carries the 32 clean source
    rows and (256 - 32) // 32 = 7 cells: 5 calls, plus one for the baselines (it was one cell per
    call, 31 calls, when calls were capped at 64 sequences)."""
    task = _copying_task(32)
    res = client.patch_activations(str(TOY_MODEL), task, components=["resid_pre"], per_position=True)
    assert len(res.maps[0].values) == 2 * 15
    assert res.runs == 1 + math.ceil(30 / ((256 - 32) // 32)) == 6
    # Patching the clean residual stream at every position of layer 0 restores the clean run.
    whole = client.patch_activations(str(TOY_MODEL), task, components=["resid_pre"])
    assert abs(whole.maps[0].values[0] - 1) < 1e-4 and whole.runs == 2


def _bad(client: Client, case: str):
    toy = str(TOY_MODEL)
    task = _copying_task(2)
    uneven = pb.CircuitTask(metric=pb.TASK_METRIC_LOG_PROBABILITY, pairs=[pb.PromptPair(clean="a b c a b", corrupted="a b c a", answer=" c")])
    two_tokens = pb.CircuitTask(pairs=[pb.PromptPair(clean="When Mary and John went to the store, John gave a drink to",
                                                     corrupted="When Alice and Bob went to the store, Tom gave a drink to",
                                                     answer=" Mary Jane", wrong_answer=" John")])
    empty = pb.CircuitTask(pairs=[pb.PromptPair(clean="a b c", corrupted="", answer=" a")])
    cases = {
        "lengths differ": lambda: client.patch_activations(toy, uneven),
        "answer of two tokens": lambda: client.discover_circuit(MODEL, two_tokens),
        "unknown component": lambda: client.patch_paths(toy, task, ["a9.h0"], ["logits"]),
        "threshold out of range": lambda: client.discover_circuit(toy, task, method="acdc", threshold=1.5),
        "malformed pair": lambda: client.discover_circuit(toy, empty),
        "subject not in the prompt": lambda: client.trace_causal_flow(MODEL, FACT, subject="Louvre"),
        "logit difference without a wrong answer": lambda: client.discover_circuit(
            toy, pb.CircuitTask(pairs=[pb.PromptPair(clean="a b", corrupted="c d", answer=" e")])),
        "no algorithm": lambda: client.find_algorithm(toy, "unspecified"),
        "unknown patching method": lambda: client.patch_activations(toy, task, method=99),
        "unknown circuit method": lambda: client.discover_circuit(toy, task, method=99),
        "unknown ablation": lambda: client.discover_circuit(toy, task, method="acdc", ablation=99),
        # Position 0 is never noised, so a subject there alone would leave nothing to corrupt.
        "subject positions only the first token": lambda: client.trace_causal_flow(toy, "a b c d e a b c d", subject_positions=[0]),
        "subject text only the first token": lambda: client.trace_causal_flow(toy, "a b c d e a b c d", subject="a"),
        "ig steps out of range through the analyzer": lambda: MechanisticAnalyzer(client).discover_circuits(toy, task, method="eap_ig",
                                                                                                        ig_steps=51),
    }
    return cases[case]


BAD = [
    ("lengths differ", "PROMPT_LENGTHS_DIFFER", "task.pairs[0]"),
    ("answer of two tokens", "ANSWER_NOT_SINGLE_TOKEN", "task.pairs[0].answer"),
    ("unknown component", "COMPONENT_UNKNOWN", "senders[0]"),
    ("threshold out of range", "CIRCUIT_OPTION_OUT_OF_RANGE", "threshold"),
    ("malformed pair", "CIRCUIT_TASK_INVALID", "task.pairs[0].corrupted"),
    ("subject not in the prompt", "SUBJECT_NOT_FOUND", "subject"),
    ("logit difference without a wrong answer", "CIRCUIT_TASK_INVALID", "task.pairs[0].wrong_answer"),
    ("no algorithm", "ALGORITHM_UNSUPPORTED", "algorithm"),
    ("unknown patching method", "METHOD_UNKNOWN", "method"),
    ("unknown circuit method", "METHOD_UNKNOWN", "method"),
    ("unknown ablation", "METHOD_UNKNOWN", "ablation"),
    ("subject positions only the first token", "SUBJECT_NOT_FOUND", "subject_positions"),
    ("subject text only the first token", "SUBJECT_NOT_FOUND", "subject"),
    ("ig steps out of range through the analyzer", "CIRCUIT_OPTION_OUT_OF_RANGE", "ig_steps"),
]


@pytest.mark.parametrize("case, reason, field", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_invalid_argument_with_a_reason(client, case, reason, field):
    assert_invalid_argument(_bad(client, case), reason, field)


def test_a_graph_too_large_to_patch_edge_by_edge_is_refused(client):
    task = task_message("ioi")
    del task.pairs[1:]
    with pytest.raises(InterpClientError) as e:
        client.discover_circuit(MODEL, task, method="acdc")
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "CIRCUIT_TOO_LARGE")
    assert "EAP" in e.value.message


def test_cancelling_stops_the_tracing(client):
    req = pb.TraceCausalFlowRequest(model=MODEL, prompt=FACT, subject="Eiffel Tower", samples=20)
    stream = client._stream(client.circuits.TraceCausalFlow, req, None)
    for event in stream:
        if event.HasField("progress") and event.progress.fraction > 0:
            break
    stream.close()
    assert_worker_stops("trace-causal-flow")


@pytest.mark.slow
def test_cli_commands_write_json_and_html(local_fleet, tmp_path):
    task_file = tmp_path / "copying.json"
    task = _copying_task(4)
    task_file.write_text(json.dumps({"name": "copying", "metric": "log_probability", "pairs": [
        {"clean": p.clean, "corrupted": p.corrupted, "answer": p.answer} for p in task.pairs]}))
    out = tmp_path / "circuit"
    r = run_cli(local_fleet.endpoint, "discover-circuits", "--model-name", str(TOY_MODEL), "--task", str(task_file), "--method", "acdc",
                "--circuit-types", "attention_only", "--threshold", "0.05", "--output", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "circuit.json").read_text())
    assert len(data["circuits"][0]["edges"]) == 4
    assert "copying" in (out / "circuit.html").read_text()
    out = tmp_path / "trace.html"
    r = run_cli(local_fleet.endpoint, "trace-information-flow", "--model-name", str(TOY_MODEL), "--input-text", "a b c d e a b c d",
                "--subject", "b c", "--samples", "2", "--window", "1", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.with_suffix(".json").read_text())["subject_positions"] == [1, 2]
    r = run_cli(local_fleet.endpoint, "discover-circuits", "--model-name", str(TOY_MODEL), "--task", str(tmp_path / "missing.json"))
    assert r.returncode != 0 and "--task" in r.stderr
