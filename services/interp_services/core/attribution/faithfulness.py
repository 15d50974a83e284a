"""How far to trust an attribution: deletion/insertion curves, Captum's infidelity and
sensitivity.

* **Deletion / insertion** (Petsiuk et al. 2018, for tokens): rank the attributed tokens by
  score, then replace the top-ranked ones by the baseline (deletion) or start from the baseline
  and put them back (insertion), tracking the target. Areas are normalised to
  ``(mean score - f(baseline)) / (f(x) - f(baseline))``: a faithful ranking makes the deletion
  area small and the insertion area large. Random orders (the mean of a few) give what chance
  gives, measured in the same run.
* **Infidelity** (``captum.metrics.infidelity``, Yeh et al. 2019) on token gates: random subsets
  of tokens are removed, and the sum of their scores is compared with the drop of the target;
  ``normalize=True`` fits the scale first, so methods of different units compare.
* **Sensitivity** (``captum.metrics.sensitivity_max``): the largest change of the explanation
  under small uniform noise on the embeddings, divided by the explanation's norm.

Gates and the scores they are compared with are put on the model's ``device`` (a GPU replica's
model refuses CPU tensors); the random orders and subsets are drawn on the CPU from a seeded
generator first, so a seed picks the same ones on every device.

Example:
    >>> f = faithfulness(problem, token_scores, seed=0, batch=16)
    >>> f.deletion_auc < f.random_deletion_auc
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .types import Faithfulness

__all__ = ["deletion_insertion", "faithfulness", "infidelity_of", "sensitivity_of"]

MAX_POINTS = 21
RANDOM_ORDERS = 3


def _steps(n: int) -> list[int]:
    """How many tokens are removed at each point of a curve (0 .. n, at most MAX_POINTS)."""
    if n + 1 <= MAX_POINTS:
        return list(range(n + 1))
    return sorted({round(i * n / (MAX_POINTS - 1)) for i in range(MAX_POINTS)})


def _gates_for(orders: torch.Tensor, steps: list[int], n: int, insertion: bool, device: torch.device) -> torch.Tensor:
    """Gate rows (len(orders) * len(steps), n) on ``device``: deletion turns the first k of each
    order off, insertion turns only them on."""
    rows = []
    for order in orders:
        for k in steps:
            g = torch.zeros(n, device=device) if insertion else torch.ones(n, device=device)
            g[order[:k].to(device)] = 1.0 if insertion else 0.0
            rows.append(g)
    return torch.stack(rows)


def _evaluate(gate_forward: Callable[[torch.Tensor], torch.Tensor], gates: torch.Tensor, batch: int) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, gates.shape[0], batch):
            out.append(gate_forward(gates[i : i + batch]).float().cpu())
    return torch.cat(out)


def _area(values: torch.Tensor, fractions: torch.Tensor, lo: float, hi: float) -> float:
    span = hi - lo
    if abs(span) < 1e-12:
        return 0.0
    normalised = (values - lo) / span
    return float(torch.trapezoid(normalised, fractions))


def deletion_insertion(
    gate_forward: Callable[[torch.Tensor], torch.Tensor],
    scores: torch.Tensor,
    *,
    seed: int = 0,
    batch: int = 16,
    device: torch.device | str = "cpu",
) -> Faithfulness:
    """Deletion and insertion curves of the ranking by ``scores`` ``(T',)`` (highest first),
    and the same areas for random orders.

    Args:
        gate_forward: ``(B, T')`` gates (1 present, 0 at the baseline) -> target ``(B,)``.
        scores: one score per attributed token.
        seed: seed of the random orders.
        batch: rows per forward pass.
        device: the model's device (where the gates are made).
    """
    device = torch.device(device)
    n = int(scores.numel())
    steps = _steps(n)
    fractions = torch.tensor([k / n for k in steps], dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    ranked = torch.argsort(scores.detach().float().cpu(), descending=True, stable=True).unsqueeze(0)
    randoms = torch.stack([torch.randperm(n, generator=gen) for _ in range(RANDOM_ORDERS)])
    orders = torch.cat([ranked, randoms])
    gates = torch.cat([_gates_for(orders, steps, n, False, device), _gates_for(orders, steps, n, True, device)])
    values = _evaluate(gate_forward, gates, batch)
    per = len(steps)
    deletion = values[: len(orders) * per].view(len(orders), per)
    insertion = values[len(orders) * per :].view(len(orders), per)
    hi, lo = float(deletion[0, 0]), float(insertion[0, 0])  # f(x) and f(baseline)
    return Faithfulness(
        fractions=fractions.tolist(),
        deletion=deletion[0].tolist(),
        insertion=insertion[0].tolist(),
        deletion_auc=_area(deletion[0], fractions, lo, hi),
        insertion_auc=_area(insertion[0], fractions, lo, hi),
        random_deletion_auc=sum(_area(deletion[i], fractions, lo, hi) for i in range(1, len(orders))) / RANDOM_ORDERS,
        random_insertion_auc=sum(_area(insertion[i], fractions, lo, hi) for i in range(1, len(orders))) / RANDOM_ORDERS,
    )


def infidelity_of(
    gate_forward: Callable[[torch.Tensor], torch.Tensor],
    scores: torch.Tensor,
    *,
    samples: int,
    seed: int = 0,
    batch: int = 16,
    device: torch.device | str = "cpu",
) -> float:
    """``captum.metrics.infidelity`` with random token-subset removals (each token removed with
    probability 1/2), on the gates; ``normalize=True``. Captum multiplies the removals by the
    scores and compares them with the model's outputs, so all three live on ``device``."""
    from captum.metrics import infidelity

    n = int(scores.numel())
    gen = torch.Generator().manual_seed(seed)

    def perturb(gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        removed = (torch.rand(gates.shape, generator=gen) < 0.5).to(device=gates.device, dtype=gates.dtype)
        return removed, gates - removed

    gates = torch.ones(1, n, device=device)
    with torch.no_grad():
        value = infidelity(
            gate_forward, perturb, gates, scores.detach().float().to(gates.device).view(1, n),
            # Captum's batches hold whole multiples of the one input: at most `samples` rows.
            n_perturb_samples=samples, max_examples_per_batch=min(batch, samples), normalize=True,
        )
    return float(value[0])


def sensitivity_of(
    explain: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, attributions: torch.Tensor, *, samples: int, seed: int = 0
) -> float:
    """``captum.metrics.sensitivity_max`` of ``explain`` at ``x`` under uniform noise of radius
    2% of the embeddings' standard deviation, divided by the attribution's norm."""
    from captum.metrics import sensitivity_max

    torch.manual_seed(seed)
    radius = 0.02 * float(x.detach().std())
    value = sensitivity_max(explain, x, perturb_radius=radius, n_perturb_samples=samples, max_examples_per_batch=1)
    norm = float(attributions.detach().norm())
    return float(value[0]) / norm if norm > 0 else 0.0


def faithfulness(
    gate_forward,
    scores: torch.Tensor,
    *,
    seed: int = 0,
    batch: int = 16,
    infidelity_samples: int = 0,
    device: torch.device | str = "cpu",
) -> Faithfulness:
    """Deletion/insertion curves plus infidelity when ``infidelity_samples`` > 0 (gates on the
    model's ``device``)."""
    result = deletion_insertion(gate_forward, scores, seed=seed, batch=batch, device=device)
    if infidelity_samples:
        result.infidelity = infidelity_of(gate_forward, scores, samples=infidelity_samples, seed=seed, batch=batch, device=device)
    return result
