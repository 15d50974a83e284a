"""The probing service end to end, each number checked against something computed here:

* the model host's character offsets against the tokenizer's own decoding;
* the label directions the service returns against directions computed in the test from Hugging
  Face's ``hidden_states`` (so batching, padding, pooling and word alignment are right);
* CKA between two sources against linear CKA written out in the test on those hidden states;
* on SmolLM2, part of speech from the shipped templated sentences beats the majority baseline
  and the control task in the middle layers, and swapping "he"/"she" flips the gender probe;
* every malformed request gets INVALID_ARGUMENT with a catalog reason naming the field.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.v1 import probing_service_pb2 as pb
from interp_services.core.probing import group_split, items_of
from interp_services.rpc.probing import MIN_SPLIT_GROUPS
from interpretability import Client
from interpretability.probing import CrossLingualAnalyzer
from interpretability.probing_data import load_probe_dataset
from tests.conftest import DEV_KEY, ROOT, run_cli
from tests.support.errors import assert_invalid_argument
from tests.support.streams import assert_worker_stops

SUITE = ROOT / "examples" / "probing" / "linguistic_probing_suite.json"
MULTILINGUAL = ROOT / "examples" / "probing" / "multilingual_test_set.json"
MODEL = "smollm2-135m"

SENTENCES = [
    ("The cat sleeps on the warm sofa.", "animal"), ("A dog barked at the mailman.", "animal"),
    ("The horse ran across the field.", "animal"), ("Two birds sang in the old tree.", "animal"),
    ("My sister bought a new car.", "person"), ("The teacher wrote on the board.", "person"),
    ("A doctor visited the small village.", "person"), ("Our neighbour painted his fence.", "person"),
    ("The fox hid under the bush.", "animal"), ("The farmer fixed the broken gate.", "person"),
    ("A cow grazed near the river.", "animal"), ("The pilot landed the plane safely.", "person"),
    ("An owl watched from the barn.", "animal"), ("The baker opened his shop early.", "person"),
    ("A goat climbed the steep rock.", "animal"), ("My uncle repaired the old radio.", "person"),
]  # 16: a split needs MIN_SPLIT_GROUPS (5) examples in each of train, validation and test


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


def _sentence_task(name: str = "kind") -> pb.ProbeTask:
    return pb.ProbeTask(name=name, level=pb.PROBE_LEVEL_SENTENCE,
                        examples=[pb.ProbeExample(text=t, label=y) for t, y in SENTENCES])


def _hidden(smollm, texts: list[str], layers: list[int]) -> list[list[torch.Tensor]]:
    """Per text, per layer: the [pos, d] residual stream after block L (hidden_states[L + 1]),
    one text per forward pass (no padding)."""
    out = []
    with torch.no_grad():
        for t in texts:
            enc = smollm.tokenizer(t, return_tensors="pt")
            hs = smollm.model(**enc, output_hidden_states=True).hidden_states
            out.append([hs[layer + 1][0].double() for layer in layers])
    return out


def _directions(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Unit (label mean - mean of the rest), written out here."""
    out = []
    for c in range(k):
        if not 0 < (y == c).sum() < len(y):
            out.append(np.zeros(x.shape[1]))
            continue
        d = x[y == c].mean(0) - x[y != c].mean(0)
        out.append(d / np.linalg.norm(d))
    return np.stack(out)


def test_tokenize_reports_character_offsets(client):
    text = "Café owners don't   like  rain."
    tok = client.tokenize(MODEL, [text])[0]
    assert len(tok.char_starts) == len(tok.token_ids) == len(tok.char_ends)
    pieces = [text[a:b] for a, b in zip(tok.char_starts, tok.char_ends, strict=True) if a >= 0]
    assert "".join(pieces) == text  # byte-level BPE: the spans tile the text


def test_sentence_directions_equal_ones_from_hugging_face_hidden_states(client, smollm):
    layers = [3, 11]
    r = client.probe_representations(MODEL, [_sentence_task()], layers=layers, options=pb.ProbeOptions(skip_mdl=True, seed=3),
                                     delivery=1)
    task = r.tasks[0]
    got = client.to_numpy(task.directions)
    assert got.shape == (2, 2, 576) and list(task.labels) == ["animal", "person"]
    y = np.array([0 if lab == "animal" else 1 for _, lab in SENTENCES])
    split = group_split([t for t, _ in SENTENCES], validation_fraction=0.15, test_fraction=0.2, seed=3, labels=[[v] for v in y],
                        min_per_split=MIN_SPLIT_GROUPS)
    hidden = _hidden(smollm, [t for t, _ in SENTENCES], layers)
    for li in range(len(layers)):
        # Mean over the tokens after the first (the default: position 0 is an attention sink).
        x = np.stack([h[li][1:].mean(0).numpy() for h in hidden])
        want = _directions(x[split.train], y[split.train], 2)
        np.testing.assert_allclose(got[li], want, atol=2e-4)
    assert task.train_items + task.validation_items + task.test_items == len(SENTENCES)
    assert 0 <= task.layers[0].task.score_low <= task.layers[0].task.score <= task.layers[0].task.score_high <= 1


def test_word_directions_use_the_last_sub_word_token(client, smollm):
    words = [["Unbelievably", ",", "the", "antidisestablishmentarian", "cat", "purred", "."],
             ["The", "dog", "barked", "loudly", "at", "strangers", "."],
             ["Cats", "sleep", "a", "lot", "."], ["Dogs", "run", "fast", "."],
             ["The", "parrot", "repeated", "everything", "."], ["Horses", "eat", "hay", "."]]
    tags = [["ADV", "PUNCT", "DET", "ADJ", "NOUN", "VERB", "PUNCT"], ["DET", "NOUN", "VERB", "ADV", "ADP", "NOUN", "PUNCT"],
            ["NOUN", "VERB", "DET", "NOUN", "PUNCT"], ["NOUN", "VERB", "ADV", "PUNCT"], ["DET", "NOUN", "VERB", "PRON", "PUNCT"],
            ["NOUN", "VERB", "NOUN", "PUNCT"]]
    texts = ["Unbelievably, the antidisestablishmentarian cat purred.", "The dog barked loudly at strangers.",
             "Cats sleep a lot.", "Dogs run fast.", "The parrot repeated everything.", "Horses eat hay."]
    # Nine more plain sentences: a split needs MIN_SPLIT_GROUPS sentences in each part.
    for noun, verb in [("Birds", "sing"), ("Fish", "swim"), ("Bees", "buzz"), ("Wolves", "howl"), ("Frogs", "jump"),
                       ("Owls", "hoot"), ("Lions", "roar"), ("Ducks", "quack"), ("Sheep", "graze")]:
        words.append([noun, verb, "loudly", "."])
        tags.append(["NOUN", "VERB", "ADV", "PUNCT"])
        texts.append(f"{noun} {verb} loudly.")
    task = pb.ProbeTask(name="pos", level=pb.PROBE_LEVEL_TOKEN, examples=[
        pb.ProbeExample(text=t, words=w, word_labels=g) for t, w, g in zip(texts, words, tags, strict=True)])
    r = client.probe_representations(MODEL, [task], layers=[5], options=pb.ProbeOptions(skip_mdl=True, seed=1), delivery=1)
    out = r.tasks[0]
    labels = list(out.labels)
    split = group_split(texts, validation_fraction=0.15, test_fraction=0.2, seed=1, labels=[[labels.index(g) for g in t] for t in tags],
                        min_per_split=MIN_SPLIT_GROUPS)
    item_example = np.concatenate([np.full(len(w), k) for k, w in enumerate(words)])
    train = items_of(split.train, item_example)
    # Reference: each word's last token, found from the tokenizer's offsets here.
    vecs, ys = [], []
    for text, ws, gs, h in zip(texts, words, tags, _hidden(smollm, texts, [5]), strict=True):
        offsets = smollm.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
        cursor = 0
        for w, g in zip(ws, gs, strict=True):
            start = text.index(w, cursor)
            end = cursor = start + len(w)
            last = max(i for i, (a, b) in enumerate(offsets) if a < end and b > start)
            vecs.append(h[0][last].numpy())
            ys.append(labels.index(g))
    x, y = np.stack(vecs), np.array(ys)
    want = _directions(x[train], y[train], len(labels))
    got = client.to_numpy(out.directions)[0]
    present = [c for c in range(len(labels)) if 0 < (y[train] == c).sum() < len(train)]
    np.testing.assert_allclose(got[present], want[present], atol=2e-4)


@pytest.mark.slow
def test_part_of_speech_beats_baseline_and_control_in_middle_layers(client):
    ds = load_probe_dataset(SUITE, tasks=["pos_tagging"])
    task = ds.tasks[0]
    del task.examples[160:]  # 160 sentences keep it quick; the split is by sentence
    r = client.probe_representations(MODEL, [task], layers=[8, 14], options=pb.ProbeOptions(seed=0))
    out = r.tasks[0]
    by_layer = {e.layer: e for e in out.layers}
    middle = [by_layer[8], by_layer[14]]
    for e in middle:
        assert e.task.score_low > out.baseline_score, (e, out.baseline_score)
        assert e.task.score > e.control.score + 0.05, e
        assert e.task.compression > 1.0 and e.task.mdl_bits < e.task.uniform_bits
    assert out.best_layer in by_layer
    assert any("pos_tagging" in f for f in r.findings)
    assert r.extraction_seconds > 0 and r.fitting_seconds > 0 and r.tokens > 0


@pytest.mark.slow
def test_parsing_probe_recovers_more_of_the_tree_than_its_control(client):
    ds = load_probe_dataset(SUITE, tasks=["parsing"])
    task = ds.tasks[0]
    del task.examples[150:]
    r = client.probe_representations(MODEL, [task], layers=[6, 12], options=pb.ProbeOptions(seed=0, structural_rank=32))
    out = r.tasks[0]
    assert out.metric == "UUAS" and out.level == pb.PROBE_LEVEL_DISTANCE
    best = max(out.layers, key=lambda e: e.task.score)
    assert best.task.score > best.control.score and best.task.spearman > 0.5, best


@pytest.mark.slow
def test_swapping_the_protected_attribute_flips_the_gender_probe(client):
    from interpretability.probing_commands import BUILTIN_CONCEPTS

    ds = load_probe_dataset(BUILTIN_CONCEPTS, tasks=["gender", "profession"])
    bias = pb.BiasAnalysis(protected_task="gender", pairs=ds.bias.pairs)
    r = client.probe_representations(MODEL, ds.tasks, layers=[10], bias=bias, options=pb.ProbeOptions(seed=0, skip_mdl=True))
    gender = next(t for t in r.tasks if t.name == "gender")
    assert gender.layers[0].task.score_low > gender.baseline_score
    own = next(e for e in r.bias.effects if e.task == "gender")
    prof = next(e for e in r.bias.effects if e.task == "profession")
    # The gender probe (trained on other sentences) reads the swap; the profession probe mostly
    # does not (the pairs keep the profession). Measured: 0.71 and 0.03.
    assert own.pairs == len(ds.bias.pairs) and own.flip_rate > 0.5, own
    assert prof.flip_rate < 0.25 and prof.flip_rate < own.flip_rate, prof
    labels = {a.label for a in r.bias.alignments}
    assert labels == set(next(t for t in r.tasks if t.name == "profession").labels)
    assert all(-1 <= a.cosine <= 1 for a in r.bias.alignments)


def test_cka_between_sources_equals_a_direct_computation(client, smollm):
    texts = [t for t, _ in SENTENCES]
    other = [t.replace("The ", "One ").replace("A ", "Some ") for t in texts]
    r = client.compare_representations([("a", texts), ("b", other)], model=MODEL, layers=[2, 9])
    standardized = {m.name: list(m.values) for m in
                    client.compare_representations([("a", texts), ("b", other)], model=MODEL, layers=[2, 9], standardize=True).pairs[0].metrics}
    pair = r.pairs[0]
    assert not pair.grid and list(pair.layers_a) == [2, 9]
    got = {m.name: list(m.values) for m in pair.metrics}
    assert set(got) == {"cosine", "cosine_unaligned", "retrieval_top1", "cka", "cka_debiased", "rsa"}
    ha, hb = _hidden(smollm, texts, [2, 9]), _hidden(smollm, other, [2, 9])
    for li in range(2):
        x = np.stack([h[li][1:].mean(0).numpy() for h in ha])
        y = np.stack([h[li][1:].mean(0).numpy() for h in hb])
        assert got["cka"][li] == pytest.approx(_cka(x, y), abs=1e-4)
        zs = [(v - v.mean(0)) / (v.std(0) + 1e-6) for v in (x, y)]
        assert standardized["cka"][li] == pytest.approx(_cka(*zs), abs=1e-4)


def _cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA written out: tr(KL) / (||K|| ||L||) on centred features."""
    x, y = x - x.mean(0), y - y.mean(0)
    k, l_ = x @ x.T, y @ y.T
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


def test_a_dimension_that_dominates_the_variance_is_called_out(client):
    """One of these sentences ("Answer every phone.") has a token with massive activations at
    SmolLM2's layer 15 (a mean of ~7,600 in one dimension against ~100 elsewhere), so that one
    dimension holds 98% of the variance of the 80 sentence means (measured with Hugging Face
    directly; 2% without that sentence)."""
    texts = (ROOT / "examples" / "probing" / "sentences_for_comparison.txt").read_text().splitlines()[:80]
    other = [t.replace("The ", "One ") for t in texts]
    plain = client.compare_representations([("a", texts), ("b", other)], model=MODEL, layers=[15], metrics=["cka"])
    assert any("one dimension" in f.lower() and "a layers [15]" in f for f in plain.findings), plain.findings
    z = client.compare_representations([("a", texts), ("b", other)], model=MODEL, layers=[15], metrics=["cka"], standardize=True)
    assert any(f.startswith("Standardised") for f in z.findings)


def test_a_source_compared_with_itself_is_identical_at_every_layer(client):
    texts = [t for t, _ in SENTENCES]
    r = client.compare_representations([("x", texts), ("y", texts)], model=MODEL, layers=[0, 15, 29])
    got = {m.name: m.values for m in r.pairs[0].metrics}
    for name in ("cosine", "retrieval_top1", "cka", "cka_debiased", "rsa"):
        np.testing.assert_allclose(got[name], 1.0, atol=1e-5, err_msg=name)


def test_two_models_compare_as_a_layer_grid(client):
    texts = [t for t, _ in SENTENCES]
    r = client.compare_representations([("smol", texts, MODEL), ("minilm", texts, "all-minilm-l6-v2")], layers=[0, 1, 2])
    pair = r.pairs[0]
    assert pair.grid and list(pair.layers_b) == [0, 1, 2]
    got = {m.name: m.values for m in pair.metrics}
    assert "cosine" not in got and len(got["cka"]) == 9  # widths differ (576 vs 384): no cosine
    assert any("widths differ" in f for f in r.findings)


def test_cross_lingual_analyzer_compares_every_language_pair(client):
    r = CrossLingualAnalyzer(client).analyze_representation_similarity(
        model=MODEL, languages=["en", "fr", "de"], test_sentences=MULTILINGUAL, layers=[4, 16])
    assert [(p.source_a, p.source_b) for p in r.pairs] == [("en", "fr"), ("en", "de"), ("fr", "de")]
    for p in r.pairs:
        got = {m.name: m.values for m in p.metrics}
        assert len(got["cka"]) == 2 and all(-1 <= v <= 1 for v in got["rsa"])
        assert all(0 <= v <= 1 for v in got["retrieval_top1"])


def _bad(client: Client, case: str):
    sentences = _sentence_task()
    few = pb.ProbeTask(name="few", level=pb.PROBE_LEVEL_SENTENCE, examples=sentences.examples[:3 * MIN_SPLIT_GROUPS - 1])
    rare = pb.ProbeTask(name="rare", level=pb.PROBE_LEVEL_SENTENCE, examples=[
        pb.ProbeExample(text=t, label="postive" if i < 2 else y) for i, (t, y) in enumerate(SENTENCES)])
    # Every sentence has a tag of its own: keeping each tag in training leaves nothing to test on.
    own_tags = pb.ProbeTask(name="tags", level=pb.PROBE_LEVEL_TOKEN, examples=[
        pb.ProbeExample(words=[f"w{i}", "x"], word_labels=[f"T{i}", "X"]) for i in range(20)])
    single = pb.ProbeTask(name="one", level=pb.PROBE_LEVEL_SENTENCE,
                          examples=[pb.ProbeExample(text=t, label="same") for t, _ in SENTENCES])
    mismatch = pb.ProbeTask(name="pos", level=pb.PROBE_LEVEL_TOKEN, examples=[
        pb.ProbeExample(words=["The", "cat"], word_labels=["DET"], source="pos.json:7")] * 4)
    unaligned = pb.ProbeTask(name="pos", level=pb.PROBE_LEVEL_TOKEN, examples=[
        pb.ProbeExample(text="The cat sat.", words=["The", "dog"], word_labels=["DET", "NOUN"])] * 4)
    cyclic = pb.ProbeTask(name="tree", level=pb.PROBE_LEVEL_DISTANCE, examples=[
        pb.ProbeExample(words=["a", "b", "c"], heads=[2, 3, 1])] * 4)
    texts = [t for t, _ in SENTENCES]
    cases = {
        "no tasks": lambda: client.probe_representations(MODEL, []),
        "unknown level": lambda: client.probe_representations(MODEL, [pb.ProbeTask(name="x", level=9, examples=sentences.examples)]),
        "too few examples": lambda: client.probe_representations(MODEL, [sentences, few]),
        "a label with too few examples": lambda: client.probe_representations(MODEL, [rare]),
        "labels that cannot all be trained on": lambda: client.probe_representations(MODEL, [own_tags]),
        "single class": lambda: client.probe_representations(MODEL, [single]),
        "labels not one per word": lambda: client.probe_representations(MODEL, [mismatch]),
        "words not in the text": lambda: client.probe_representations(MODEL, [unaligned]),
        "heads with a cycle": lambda: client.probe_representations(MODEL, [cyclic]),
        "probe layer out of range": lambda: client.probe_representations(MODEL, [sentences], layers=[30]),
        "bias on a missing task": lambda: client.probe_representations(MODEL, [sentences], bias=pb.BiasAnalysis(protected_task="gender")),
        "misaligned sources": lambda: client.compare_representations([("a", texts), ("b", texts[:-1])], model=MODEL),
        "one source": lambda: client.compare_representations([("a", texts)], model=MODEL),
        "unknown metric": lambda: client.compare_representations([("a", texts), ("b", texts)], model=MODEL, metrics=[7]),
    }
    return cases[case]


BAD = [
    ("no tasks", "PROBE_TASK_INVALID", "tasks"),
    ("unknown level", "PROBE_TASK_INVALID", "tasks[0].level"),
    ("too few examples", "PROBE_TOO_FEW_EXAMPLES", "tasks[1].examples"),
    ("a label with too few examples", "PROBE_LABELS_INVALID", "tasks[0].examples"),
    ("labels that cannot all be trained on", "PROBE_TOO_FEW_EXAMPLES", "tasks[0].examples"),
    ("single class", "PROBE_LABELS_INVALID", "tasks[0].examples"),
    ("labels not one per word", "PROBE_LABELS_INVALID", "tasks[0].examples[0] (pos.json:7).word_labels"),
    ("words not in the text", "WORDS_NOT_ALIGNED", "tasks[0].examples[0].words[1]"),
    ("heads with a cycle", "TREE_INVALID", "tasks[0].examples[0].heads"),
    ("probe layer out of range", "LAYER_OUT_OF_RANGE", "layers[0]"),
    ("bias on a missing task", "BIAS_ANALYSIS_INVALID", "bias.protected_task"),
    ("misaligned sources", "PARALLEL_MISALIGNED", "sources[1].texts"),
    ("one source", "PARALLEL_MISALIGNED", "sources"),
    ("unknown metric", "PROBE_OPTION_INVALID", "metrics[0]"),
]


@pytest.mark.parametrize("case, reason, field", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_invalid_argument_with_a_reason(client, case, reason, field):
    assert_invalid_argument(_bad(client, case), reason, field)


def test_cancelling_stops_the_probe(local_fleet, client):
    task = pb.ProbeTask(name="kind", level=pb.PROBE_LEVEL_SENTENCE,
                        examples=[pb.ProbeExample(text=f"{i}: {t}", label=y) for i in range(30) for t, y in SENTENCES])
    stream = client._stream(client.probing.ProbeRepresentations, pb.ProbeRepresentationsRequest(model=MODEL, tasks=[task]), None)
    for event in stream:
        if event.HasField("progress") and event.progress.fraction > 0:
            break
    stream.close()
    assert_worker_stops("probe-representations")


@pytest.mark.slow
def test_cli_commands_write_json_and_html(local_fleet, tmp_path):
    suite = json.loads(SUITE.read_text())
    for t in suite["tasks"]:
        t["examples"] = t["examples"][:60]
    small = tmp_path / "suite.json"
    small.write_text(json.dumps(suite))
    out = tmp_path / "ling"
    r = run_cli(local_fleet.endpoint, "probe-linguistic", "--model-name", MODEL, "--probe-tasks", "pos_tagging,sentiment",
                "--probe-dataset", str(small), "--layers", "4,12", "--skip-mdl", "--output", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "probe_results.json").read_text())
    assert [t["name"] for t in data["tasks"]] == ["pos_tagging", "sentiment"]
    assert "<html" in (out / "report.html").read_text().lower()
    npz = np.load(out / "probe_results_directions.npz")
    assert npz["pos_tagging"].shape[0] == 2 and list(npz["layers"]) == [4, 12]

    res = tmp_path / "concepts.json"
    r = run_cli(local_fleet.endpoint, "probe-concepts", "--model-name", MODEL, "--concept-categories", "gender,emotion",
                "--probe-layers", "10", "--skip-mdl", "--output", str(res))
    assert r.returncode == 0, r.stderr
    data = json.loads(res.read_text())
    assert data["bias"]["protectedTask" if "protectedTask" in data["bias"] else "protected_task"] == "gender"

    html = tmp_path / "langs.html"
    r = run_cli(local_fleet.endpoint, "compare-representations", "--model-name", MODEL, "--parallel-sentences", str(MULTILINGUAL),
                "--languages", "en,es", "--layers", "3,9", "--output", str(html))
    assert r.returncode == 0, r.stderr
    assert html.exists() and html.with_suffix(".json").exists()

    r = run_cli(local_fleet.endpoint, "probe-linguistic", "--model-name", MODEL, "--probe-tasks", "nope", "--probe-dataset", str(small))
    assert r.returncode == 2 and "nope" in r.stderr
