"""What an attribution result says, in sentences a reader can check against the numbers."""

from __future__ import annotations

from .types import AttributionResult, MethodResult

__all__ = ["findings"]

NAMES = {
    "saliency": "Saliency",
    "input_x_gradient": "Input x gradient",
    "integrated_gradients": "Integrated gradients",
    "gradient_shap": "Gradient SHAP",
    "deeplift": "DeepLift",
    "deeplift_shap": "DeepLift SHAP",
    "occlusion": "Occlusion",
    "feature_ablation": "Feature ablation",
    "lime": "LIME",
    "kernel_shap": "Kernel SHAP",
    "shapley_value_sampling": "Shapley value sampling",
}


def _top(result: AttributionResult, m: MethodResult, sign: int, k: int = 3) -> list[str]:
    pairs = [(s, i) for i, s in enumerate(m.scores) if result.attributed[i] and s * sign > 0]
    pairs.sort(key=lambda p: -p[0] * sign)
    return [f"'{result.display_tokens[i]}' ({s:+.3g})" for s, i in pairs[:k]]


def findings(result: AttributionResult) -> list[str]:
    """Sentences about the prediction, each method's top tokens, completeness, faithfulness and
    agreement."""
    out = [f"The model predicts {result.prediction}; attributed: {result.target} = {result.target_score:.4g} "
           f"(baseline {result.baseline_score:.4g}, probability {result.target_probability:.3f})."]
    for m in result.methods:
        up, down = _top(result, m, +1), _top(result, m, -1)
        line = f"{NAMES[m.method]}: " + (f"tokens pushing the target up: {', '.join(up)}" if up else "no token pushes the target up")
        if down and m.method != "saliency":
            line += f"; down: {', '.join(down)}"
        out.append(line + ".")
        if m.delta is not None and m.relative_delta is not None:
            total = sum(m.scores)
            out.append(
                f"{NAMES[m.method]} completeness: scores sum to {total:.4g} against f(x) - f(baseline) = "
                f"{result.target_score - result.baseline_score:.4g} (delta {m.delta:+.3g}, {100 * m.relative_delta:.2g}%)."
            )
    faithful = [m for m in result.methods if m.faithfulness is not None]
    if faithful:
        best = min(faithful, key=lambda m: m.faithfulness.deletion_auc)  # type: ignore[union-attr]
        f = best.faithfulness
        assert f is not None
        out.append(
            f"Most faithful by deletion: {NAMES[best.method]} (normalised area {f.deletion_auc:.3f}; "
            f"random order {f.random_deletion_auc:.3f}; lower is better)."
        )
        worse = [NAMES[m.method] for m in faithful if m.faithfulness.deletion_auc >= m.faithfulness.random_deletion_auc]  # type: ignore[union-attr]
        if worse:
            out.append(f"No better than a random order at deletion: {', '.join(worse)}.")
    if result.agreement:
        mean = sum(a.spearman for a in result.agreement) / len(result.agreement)
        best = max(result.agreement, key=lambda a: a.spearman)
        worst = min(result.agreement, key=lambda a: a.spearman)
        out.append(
            f"Methods agree with mean Spearman {mean:.2f}; most alike: {NAMES[best.first]} and {NAMES[best.second]} "
            f"({best.spearman:.2f}); least: {NAMES[worst.first]} and {NAMES[worst.second]} ({worst.spearman:.2f})."
        )
    return out
