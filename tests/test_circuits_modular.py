"""Fourier algorithm discovery on modular addition: the basis, a known synthetic model, and a
grokked one-layer GPT-2.

Three levels, each checked against something computed independently of the code under test:

* ``fourier.py`` against closed-form facts (a pure cosine embedding has all its norm at its
  frequency; the basis is orthonormal; projections are idempotent; Parseval).
* ``discover_modular_addition`` against :class:`ClockRunner`, a hand-written "model" that adds
  modulo ``p`` by the clock algorithm with known frequencies and carries distractor
  frequencies it never reads: the discovery must name exactly the known ones, keeping them
  must keep accuracy 1, and the control must fall to chance.
* The toy model of ``tests/toy_models/modular_addition.py`` (trained here, or read from
  ``tests/fixtures/toy_modular`` when that holds a checkpoint of the current defaults), loaded
  by the project's loader and run through :class:`LocalRunner`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from interp_services.core.circuits.fourier import (
    fourier_basis,
    fourier_labels,
    frequency_norms,
    key_frequencies,
    num_frequencies,
    project_onto_frequencies,
)
from interp_services.core.circuits.modular import discover_modular_addition
from interp_services.core.circuits.runner import LocalRunner, RunResult
from interp_services.core.errors import Cancelled, InvalidArgument
from interp_services.core.interventions import Intervention
from interp_services.core.metrics import Metric

try:  # tests/ is a package: pytest puts the repository root on sys.path
    from tests.toy_models import modular_addition as toy
except ImportError:  # tests/ as a plain directory: pytest puts tests/ itself on sys.path
    from toy_models import modular_addition as toy  # type: ignore[no-redef]

FIXTURE = Path(__file__).parent / "fixtures" / "toy_modular"


def wave(p: int, k: int, phase: float = 0.0) -> torch.Tensor:
    """``cos(2 pi k x / p + phase)`` for ``x = 0 .. p-1``, float64, computed directly."""
    x = torch.arange(p, dtype=torch.float64)
    return torch.cos(2 * math.pi * k * x / p + phase)


# ------------------------------------------------------------------------------------------
# fourier.py
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [2, 7, 10, 59])
def test_basis_is_orthonormal_and_labelled(p: int) -> None:
    basis = fourier_basis(p, torch.float64)
    assert basis.shape == (p, p)
    eye = torch.eye(p, dtype=torch.float64)
    assert torch.allclose(basis @ basis.T, eye, atol=1e-12)
    assert torch.allclose(basis.T @ basis, eye, atol=1e-12)
    labels = fourier_labels(p)
    assert len(labels) == p and labels[0] == "const"
    if p == 7:
        assert labels == ["const", "cos 1", "sin 1", "cos 2", "sin 2", "cos 3", "sin 3"]
        # Row "sin 2" is the sine wave itself, scaled to unit norm.
        x = torch.arange(7, dtype=torch.float64)
        assert torch.allclose(basis[4], torch.sin(2 * math.pi * 2 * x / 7) * math.sqrt(2 / 7))
    assert fourier_basis(p).dtype == torch.float32


@pytest.mark.parametrize("phase", [0.0, 0.7, -2.0])
def test_pure_wave_has_all_its_norm_at_its_frequency(phase: float) -> None:
    p, k = 59, 5
    u = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    emb = wave(p, k, phase)[:, None] * u[None, :]  # E[x] = cos(2 pi 5 x / p + phase) u
    norms = frequency_norms(emb)
    assert norms.shape == (num_frequencies(p),)
    # All of ||E||_F sits at k = 5 (the constant is 0: a full-period wave sums to 0).
    assert norms[k - 1] == pytest.approx(float(emb.norm()), rel=1e-9)
    assert float(torch.cat([norms[: k - 1], norms[k:]]).abs().max()) < 1e-9
    assert key_frequencies(norms) == [k]


def test_norms_obey_parseval() -> None:
    torch.manual_seed(0)
    emb = torch.randn(31, 6, dtype=torch.float64)
    constant = emb.mean(dim=0).norm() * math.sqrt(31)  # the constant component's norm
    norms = frequency_norms(emb)
    assert float(norms.pow(2).sum() + constant**2) == pytest.approx(float(emb.pow(2).sum()), rel=1e-10)


def test_key_frequencies_on_a_synthetic_mixture() -> None:
    p = 53
    torch.manual_seed(1)
    dirs = torch.randn(4, 8, dtype=torch.float64)
    # Three strong frequencies (amplitudes 3, 2, 1.5), a weak floor everywhere else.
    emb = 3 * wave(p, 4)[:, None] * dirs[0] + 2 * wave(p, 17, 1.0)[:, None] * dirs[1] + 1.5 * wave(p, 22, 2.0)[:, None] * dirs[2]
    floor = 0.02 * torch.randn(p, 8, dtype=torch.float64)
    emb = emb + floor + 5.0  # a constant offset must not count
    norms = frequency_norms(emb)
    assert key_frequencies(norms, share=0.9) == [4, 17, 22]
    # A lower share stops after the largest ones (sorted by energy 3^2 > 2^2 > 1.5^2 per |dir|^2).
    energy = norms.pow(2)
    top = sorted(range(len(energy)), key=lambda i: -float(energy[i]))
    assert key_frequencies(norms, share=float(energy[top[0]] / energy.sum()) * 0.99) == [top[0] + 1]
    # share=1 takes every non-zero frequency.
    assert len(key_frequencies(norms, share=1.0)) == num_frequencies(p)
    assert key_frequencies(torch.zeros(5)) == []
    with pytest.raises(ValueError):
        key_frequencies(norms, share=0.0)


def test_projection_keeps_chosen_frequencies_and_is_idempotent() -> None:
    p = 29
    torch.manual_seed(2)
    emb = torch.randn(p, 5, dtype=torch.float64)
    kept = project_onto_frequencies(emb, [3, 11], p)
    assert torch.allclose(project_onto_frequencies(kept, [3, 11], p), kept, atol=1e-12)
    # What is left has no energy outside {3, 11}, keeps the energy at 3 and 11, and keeps the mean.
    before, after = frequency_norms(emb), frequency_norms(kept)
    mask = torch.zeros(num_frequencies(p), dtype=torch.bool)
    mask[[2, 10]] = True
    assert torch.allclose(after[mask], before[mask], atol=1e-12)
    assert float(after[~mask].abs().max()) < 1e-12
    assert torch.allclose(kept.mean(dim=0), emb.mean(dim=0), atol=1e-12)
    # The removed part is orthogonal to the kept part (an orthogonal projection).
    assert float((kept - kept.mean(0)).mul(emb - kept).sum().abs()) < 1e-10
    # Every frequency kept: the identity (odd p). No frequency: the mean only.
    assert torch.allclose(project_onto_frequencies(emb, range(1, num_frequencies(p) + 1)), emb, atol=1e-12)
    assert torch.allclose(project_onto_frequencies(emb, []), emb.mean(0).expand(p, 5), atol=1e-12)
    assert project_onto_frequencies(emb.float(), [3]).dtype == torch.float32
    with pytest.raises(ValueError):
        project_onto_frequencies(emb, [15])  # (29 - 1) // 2 = 14 is the largest frequency


# ------------------------------------------------------------------------------------------
# discover_modular_addition against a known algorithm
# ------------------------------------------------------------------------------------------


class ClockRunner:
    """A hand-written modular-addition "model" that uses exactly the frequencies ``keys``.

    Tokens ``0 .. p-1`` are numbers (embedded as ``[cos w_k x, sin w_k x]`` per key frequency,
    then ``0.3 cos(w_j x + 1)`` per distractor frequency ``j``, then a constant 1), ``p`` is
    ``=``. For ``[a, b, =]`` the logit of ``c`` is ``sum_k cos(w_k (a + b - c))``, computed
    from whatever embeddings positions 0 and 1 hold (the product formulas of the clock
    algorithm); the distractor and constant columns are never read. It honours what
    ``discover_modular_addition`` uses of the :class:`Runner` protocol: a ``hook_embed``
    capture, ``patch`` interventions there, ``top_k`` and a ``token`` log-prob metric.
    """

    def __init__(self, p: int, keys: Sequence[int], distractors: Sequence[int], max_sequences: int = 500) -> None:
        self.p, self.keys = p, list(keys)
        cols = []
        for k in keys:
            cols += [wave(p, k), wave(p, k, -math.pi / 2)]  # cos, sin
        cols += [0.3 * wave(p, j, 1.0) for j in distractors]
        cols.append(torch.ones(p, dtype=torch.float64))
        numbers = torch.stack(cols, dim=1).float()
        self.table = torch.cat([numbers, torch.zeros(1, numbers.shape[1])])  # row p: "="
        self._max = max_sequences
        self.runs = 0

    @property
    def max_sequences(self) -> int:
        return self._max

    def run(
        self,
        batch: Sequence[Sequence[int]],
        *,
        capture: Sequence[str] = (),
        interventions: Sequence[Intervention] = (),
        metric: Metric | None = None,
        gradients: Sequence[str] = (),
        top_k: int = 0,
    ) -> RunResult:
        assert len(batch) <= self._max and not gradients
        self.runs += 1
        ids = torch.tensor([list(s) for s in batch])
        emb = self.table[ids]  # [n, L, d]
        for iv in interventions:
            assert (iv.hook_site, iv.kind) == ("hook_embed", "patch") and iv.tensor is not None
            assert iv.tensor.shape == emb.shape
            emb[:, iv.positions] = iv.tensor[:, iv.positions]
        out = RunResult(captures={"hook_embed": emb.clone()} if "hook_embed" in capture else {})
        if ids.shape[1] < 3:
            return out
        ea, eb = emb[:, 0].double(), emb[:, 1].double()
        c = torch.arange(self.p, dtype=torch.float64)
        logits = torch.full((len(batch), self.p + 1), -1e4, dtype=torch.float64)  # "=" never wins
        logits[:, : self.p] = 0
        for i, k in enumerate(self.keys):
            ca, sa, cb, sb = ea[:, 2 * i], ea[:, 2 * i + 1], eb[:, 2 * i], eb[:, 2 * i + 1]
            cos_ab, sin_ab = ca * cb - sa * sb, sa * cb + ca * sb  # cos, sin of w_k (a + b)
            w = 2 * math.pi * k * c / self.p
            logits[:, : self.p] += 4 * (cos_ab[:, None] * torch.cos(w) + sin_ab[:, None] * torch.sin(w))
        if top_k:
            out.top_ids = logits.topk(top_k, dim=1).indices.tolist()
        if metric is not None:
            targets = torch.tensor(metric.token_ids)
            out.metric = torch.log_softmax(logits, dim=1).gather(1, targets[:, None])[:, 0].float()
        return out


def test_discovery_finds_the_frequencies_of_a_known_clock_model() -> None:
    p, keys, distractors = 23, [3, 7], [1, 5, 9]
    runner = ClockRunner(p, keys, distractors, max_sequences=200)
    seen: list[tuple[str, float]] = []
    result = discover_modular_addition(
        runner, number_ids=list(range(p)), equals_id=p, progress=lambda s, f: seen.append((s, f))
    )
    assert result.key_frequencies == keys
    assert result.key_share > 0.9
    assert result.baseline.accuracy == 1.0
    assert result.key_only.accuracy == 1.0
    assert result.key_only.loss == pytest.approx(result.baseline.loss, abs=1e-5)
    # The control draws as many non-key frequencies; without the key ones the logits are flat.
    assert len(result.control_frequencies) == 2 and not set(result.control_frequencies) & set(keys)
    assert result.control is not None and result.control.accuracy <= 2 * result.chance_accuracy
    assert result.control.loss == pytest.approx(math.log(p), abs=1e-3)
    # Each frequency alone still peaks at the right answer (p is prime), but less sharply.
    assert [w.frequency for w in result.without] == keys
    for w in result.without:
        assert w.accuracy == 1.0 and w.accuracy_drop == 0.0 and w.loss > result.key_only.loss + 0.1
    # Runs: 1 embedding read + (3 + 2) evaluations of ceil(529 / 200) = 3 chunks.
    assert runner.runs == 1 + 5 * 3
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("control" in s for s, _ in seen)
    # The findings say it in words; to_dict is plain JSON.
    assert "k = 3, 7" in result.findings[0]
    assert "computes through these frequencies" in " ".join(result.findings)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["key_frequencies"] == keys and data["control"]["accuracy"] == result.control.accuracy


def test_control_seed_changes_the_control_only() -> None:
    runner = ClockRunner(23, [3, 7], [1, 5, 9])
    a = discover_modular_addition(runner, number_ids=list(range(23)), equals_id=23, control_seed=0)
    b = discover_modular_addition(runner, number_ids=list(range(23)), equals_id=23, control_seed=1)
    assert a.key_frequencies == b.key_frequencies and a.baseline == b.baseline
    assert a.control_frequencies != b.control_frequencies


def test_discovery_can_be_cancelled_and_checks_its_arguments() -> None:
    runner = ClockRunner(23, [3], [5], max_sequences=100)
    polls = iter(range(1000))
    with pytest.raises(Cancelled):
        discover_modular_addition(runner, number_ids=list(range(23)), equals_id=23, cancelled=lambda: next(polls) >= 4)
    assert runner.runs < 6  # stopped between chunks, long before the 1 + 4 * 6 runs of a full discovery
    with pytest.raises(InvalidArgument):
        discover_modular_addition(runner, number_ids=list(range(22)), equals_id=23)  # even p
    with pytest.raises(InvalidArgument):
        discover_modular_addition(runner, number_ids=[0] * 23, equals_id=23)
    with pytest.raises(InvalidArgument):
        discover_modular_addition(runner, number_ids=list(range(23)), equals_id=5)
    with pytest.raises(InvalidArgument):
        discover_modular_addition(runner, number_ids=list(range(23)), equals_id=23, share=1.5)


# ------------------------------------------------------------------------------------------
# The grokked toy model
# ------------------------------------------------------------------------------------------


def _fixture_matches() -> bool:
    """True when tests/fixtures/toy_modular holds a checkpoint trained with today's defaults."""
    path = FIXTURE / "training_metrics.json"
    if not (path.exists() and (FIXTURE / "model.safetensors").exists()):
        return False
    metrics = json.loads(path.read_text())
    return all(metrics.get(k) == v for k, v in toy.default_settings().items())


# Training takes about a minute on 2 idle cores; with a checkpoint of the current defaults in
# tests/fixtures/toy_modular these tests take seconds and are not slow.
needs_training = pytest.mark.slow if not _fixture_matches() else (lambda test: test)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """The toy model's directory and its training metrics."""
    if _fixture_matches():
        return FIXTURE, json.loads((FIXTURE / "training_metrics.json").read_text())
    out = tmp_path_factory.mktemp("toy_modular")
    return out, toy.train_modular_addition_model(out)


@pytest.fixture(scope="module")
def toy_runner(trained, model_cache) -> LocalRunner:
    path, _ = trained
    return LocalRunner(model_cache.get(str(path)), max_sequences=1024)


@needs_training
def test_toy_model_groks(trained) -> None:
    path, metrics = trained
    assert metrics["p"] == toy.P
    assert metrics["train_accuracy"] >= 0.99
    assert metrics["test_accuracy"] >= 0.95  # pairs never seen in training
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    assert tok("3 5 =").input_ids == [3, 5, toy.P]
    assert tok.convert_tokens_to_ids(toy.EQUALS_TOKEN) == toy.P


@needs_training
def test_discovery_on_the_toy_model(toy_runner) -> None:
    p = toy.P
    result = discover_modular_addition(toy_runner, number_ids=list(range(p)), equals_id=p)
    assert result.baseline.accuracy >= 0.95
    # A few frequencies hold the embedding; they alone carry the computation, as many random
    # others do not.
    assert 2 <= len(result.key_frequencies) <= 8 < num_frequencies(p)
    assert result.key_only.accuracy >= 0.9
    assert result.control is not None and result.control.accuracy <= 0.2
    assert result.key_only.loss < result.control.loss
    assert max(w.accuracy_drop for w in result.without) > 0.05  # at least one frequency matters alone
    # The same frequencies as the weights themselves show (the capture reads the embedding).
    weights = toy_runner.loaded.model.transformer.wte.weight.detach()[:p]
    assert key_frequencies(frequency_norms(weights)) == result.key_frequencies
