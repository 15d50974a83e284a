"""The probing servicer's task logic on synthetic features, no model: which control a sentence
task gets, how a word task's interval is clustered, which splits are refused, and what the
findings say about MDL for structural probes. (``test_probing.py`` runs the same code on SmolLM2.)"""

from __future__ import annotations

import numpy as np
import pytest

from interp.v1 import probing_service_pb2 as pb
from interp_services.core.errors import InvalidArgument
from interp_services.core.probing import wilson_interval
from interp_services.core.reasons import Reason
from interp_services.rpc.codec import Deliverer, DeliveryPolicy
from interp_services.rpc.probing import MIN_SPLIT_GROUPS, _Example, _Features, _probe_findings, _probe_task, _Task, _Texts

OPTS = {"classifier": "logistic", "grid": [0.1, 1.0], "val": 0.15, "test": 0.2, "seed": 0, "mdl": False, "rank": 8, "hidden": 16}


def _run(task: _Task, feats: _Features, texts: _Texts) -> pb.TaskProbes:
    out, _ = _probe_task(task, feats, texts, [0], OPTS, Deliverer(1, DeliveryPolicy(), None, "t", "probing/"), lambda: False,
                         lambda layer: None, keep_for_bias=False)
    return out


def _sentence_task(features: str) -> tuple[_Task, _Features, _Texts]:
    """400 texts over 40 word types with a label independent of the words; features either the
    texts' mean one-hot word vectors (lexical identity only) or a noisy code of the label."""
    rng = np.random.default_rng(0)
    texts, feats, examples = _Texts(), _Features(), []
    for i in range(400):
        words = rng.integers(0, 40, size=int(rng.integers(4, 10)))
        label = int(rng.integers(0, 2))
        t = texts.add(f"{i}: " + " ".join(f"word{k}" for k in words))
        if features == "words":
            x = np.bincount(words, minlength=40) / len(words)
        else:
            x = np.concatenate([3.0 * np.eye(2)[label], np.zeros(38)]) + rng.normal(size=40)
        feats.sentence[t] = x[None, :].astype(np.float32)  # [layer, d]
        examples.append(_Example(t, "", str(i), label=label, index=i))
    return _Task("topic", "sentence", ["a", "b"], examples), feats, texts


def test_sentence_control_is_learned_from_word_identity_and_not_from_the_label():
    """The numbered prefix makes every text unique (as real texts are): a control by whole text
    would sit at chance on both representations. The word-type control is learned from the
    words (selectivity negative: the probe, not the representation, does the work) and not from
    a representation of the label alone."""
    out = _run(*_sentence_task("words"))
    layer = out.layers[0]
    assert layer.control.score >= 0.8 and layer.task.score <= 0.65 and layer.selectivity < -0.1, layer
    assert "word type" in out.control_description
    label = _run(*_sentence_task("label")).layers[0]
    assert label.task.score >= 0.9 and label.control.score <= 0.65, label


def test_word_task_interval_is_clustered_by_sentence():
    """Words of a sentence share its label and its representation: the interval must be wider
    than Wilson's over the test words."""
    rng = np.random.default_rng(3)
    texts, feats, examples = _Texts(), _Features(), []
    for i in range(80):
        words = [f"w{int(k)}" for k in rng.integers(0, 30, size=int(rng.integers(3, 10)))]
        t = texts.add(" ".join(words), words=words)
        label = int(rng.integers(0, 2))
        feats.words[t] = np.repeat(rng.normal(size=(1, 1, 6)), len(words), axis=1).astype(np.float32)  # [layer, word, d]
        examples.append(_Example(t, "", str(i), word_labels=[label] * len(words), n_words=len(words), index=i))
    out = _run(_Task("pos", "token", ["X", "Y"], examples), feats, texts)
    s = out.layers[0].task
    w = wilson_interval(round(s.score * out.test_items), out.test_items)
    assert s.score_low < w[0] and s.score_high > w[1], (s, w)


def test_splits_name_the_task_by_index_keep_labels_in_training_and_refuse_small_tasks():
    examples = [_Example(i, "", str(i), label=int(i == 0 or i == 1 or i == 2), index=i) for i in range(3 * MIN_SPLIT_GROUPS)]
    task = _Task("rare", "sentence", ["common", "rare"], examples, index=2)
    for seed in range(20):
        split = task.split(examples, {**OPTS, "seed": seed})
        assert {examples[i].label for i in split.train} == {0, 1}
        assert min(len(split.train), len(split.validation), len(split.test)) >= MIN_SPLIT_GROUPS
    with pytest.raises(InvalidArgument) as e:
        task.split(examples[:-1], OPTS)
    assert e.value.reason == Reason.PROBE_TOO_FEW_EXAMPLES and e.value.violations[0].field == "tasks[2].examples"


def test_findings_say_why_structural_probes_have_no_mdl():
    layer = pb.LayerProbe(layer=3, task=pb.ProbeScore(score=0.7, score_low=0.6, score_high=0.8), control=pb.ProbeScore(score=0.4),
                          selectivity=0.3)
    r = pb.ProbeAnalysis(tasks=[pb.TaskProbes(name="parsing", level=pb.PROBE_LEVEL_DISTANCE, metric="UUAS", layers=[layer], best_layer=3,
                                              baseline_score=0.3)])
    assert any("parsing: no MDL figure" in f for f in _probe_findings(r, mdl=True))
    assert not any("MDL" in f for f in _probe_findings(r, mdl=False))  # skipped on request: nothing to explain
