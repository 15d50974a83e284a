"""CLI commands of the circuits service: ``discover-circuits``, ``patch-activations``,
``trace-information-flow``, ``detect-heads`` and ``find-algorithm``.

Each writes the result as JSON and, where there is something to draw, an offline HTML report
(the circuit as a graph, patching and tracing heat maps). Long analyses show the server's
progress on stderr; Ctrl-C cancels the call, and the server stops between model-host calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from interpretability.circuit_tasks import BUILTIN_TASKS
from interpretability.circuits import METHOD_ALIASES, TASK_ALIASES, report_data, task_message
from interpretability.datasets import DatasetError
from interpretability.errors import UsageError
from interpretability.progress import ProgressBar
from interpretability.results import message_to_dict


def _cli():
    from interpretability import cli  # the shared helpers (imported late: cli imports this module)

    return cli


def _names(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def _task(spec: str):
    try:
        return task_message(spec)
    except DatasetError as exc:
        raise UsageError(f"--task: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--task: {exc.strerror or exc}: {spec}") from None


def _outputs(output: str, stem: str) -> tuple[Path, Path | None]:
    return _cli().output_paths(output, f"{stem}.json", f"{stem}.html")


def _finish(data: Any, findings: list[str], json_path: Path, html: list[tuple[Path, str]]) -> int:
    for line in findings:
        print(line)
    written = _cli()._write_report(data, json_path, None)
    for path, page in html:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        written.append(path)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_discover_circuits(args: argparse.Namespace) -> int:
    from interpretability.report.circuits import render_circuit_report

    task = _task(args.task)
    json_path, html_path = _outputs(args.output, "circuit")
    cli = _cli()
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("circuits") as bar:
            result = client.discover_circuit(
                args.model_name, task, method=METHOD_ALIASES[args.method], circuit_types=_names(args.circuit_types),
                threshold=args.threshold, top_edges=args.top_edges, ig_steps=args.ig_steps, ablation=args.ablation,
                minimality=args.minimality, on_progress=bar,
            )
    data = message_to_dict(result)
    data.update(model=args.model_name, task=task.name)
    pages = []
    if html_path is not None:
        for i, c in enumerate(result.circuits):
            kind = data["circuits"][i]["circuit_type"].removeprefix("CIRCUIT_TYPE_").lower()
            path = html_path if len(result.circuits) == 1 else html_path.with_name(f"{html_path.stem}_{kind}.html")
            pages.append((path, render_circuit_report(report_data(result, model=args.model_name, task=task.name, circuit=i))))
    return _finish(data, list(result.findings), json_path, pages)


def cmd_patch_activations(args: argparse.Namespace) -> int:
    from interpretability.report.circuits import render_patching_report

    task = _task(args.task)
    json_path, html_path = _outputs(args.output, "patching")
    cli = _cli()
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("patching") as bar:
            result = client.patch_activations(args.model_name, task, components=_names(args.components), per_position=args.per_position,
                                              method=args.method, on_progress=bar)
    data = report_data(result, model=args.model_name, task=task.name)
    pages = [(html_path, render_patching_report(data))] if html_path is not None else []
    return _finish(data, list(result.findings), json_path, pages)


def cmd_trace_information_flow(args: argparse.Namespace) -> int:
    from interpretability.report.circuits import render_tracing_report

    json_path, html_path = _outputs(args.output, "causal_trace")
    cli = _cli()
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("tracing") as bar:
            result = client.trace_causal_flow(
                args.model_name, args.input_text, subject=args.subject, target=args.target_prediction, states=_names(args.states),
                noise_scale=args.noise_scale, samples=args.samples, window=args.window, seed=args.seed, on_progress=bar,
            )
    data = report_data(result, model=args.model_name, task=args.input_text)
    data["prompt"] = args.input_text
    pages = [(html_path, render_tracing_report(data))] if html_path is not None else []
    return _finish(data, list(result.findings), json_path, pages)


def cmd_detect_heads(args: argparse.Namespace) -> int:
    json_path = Path(args.output)
    with _cli()._client(args) as client:
        result = client.detect_heads(args.model_name, sequence_length=args.sequence_length, num_sequences=args.num_sequences, seed=args.seed)
    return _finish(message_to_dict(result), list(result.findings), json_path, [])


def cmd_find_algorithm(args: argparse.Namespace) -> int:
    from interpretability.report.circuits import render_circuit_report

    json_path, html_path = _outputs(args.output, "algorithm")
    cli = _cli()
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("algorithm") as bar:
            result = client.find_algorithm(args.model_name, args.algorithm, modulus=args.modulus, seed=args.seed, on_progress=bar)
    data = message_to_dict(result)
    data["model"] = args.model_name
    pages = []
    if html_path is not None and result.HasField("induction"):
        c = message_to_dict(result.induction.circuit)
        page = {**c, "kind": "circuit", "model": args.model_name, "task": "in-context copying", "method": "eap_ig",
                "circuit_types": ["attention_only"], "edges_kept": len(result.induction.circuit.edges), "findings": list(result.findings)}
        pages.append((html_path, render_circuit_report(page)))
    return _finish(data, list(result.findings), json_path, pages)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the commands on the CLI's subparsers."""
    tasks = ", ".join([*BUILTIN_TASKS, *(k for k in TASK_ALIASES if k not in BUILTIN_TASKS)])

    def model_and_task(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
        p.add_argument("--task", required=True, help=f"a built-in task ({tasks}) or a task .json (clean/corrupted pairs + metric)")

    p = sub.add_parser("discover-circuits", parents=[common], help="a circuit over heads and MLPs (EAP, EAP-IG, ACDC, edge patching)")
    model_and_task(p)
    p.add_argument("--method", choices=sorted(METHOD_ALIASES), default="eap_ig",
                   help="activation_patching: every edge patched alone (exact, small models); eap / attribution_patching; eap_ig; acdc")
    p.add_argument("--circuit-types", default="mixed", help="comma-separated: attention_only, mlp_only, mixed (one circuit each)")
    p.add_argument("--threshold", type=float, default=0.0, help="ACDC's pruning threshold (default 0.01), or the share of the top "
                   "|score| an edge needs (default 0.05)")
    p.add_argument("--top-edges", type=int, default=0, help="keep the N best edges instead of thresholding")
    p.add_argument("--ig-steps", type=int, default=0, help="EAP-IG interpolation steps (default 5)")
    p.add_argument("--ablation", choices=("resample", "mean"), default="resample", help="how edges outside the circuit are ablated")
    p.add_argument("--minimality", action="store_true", help="also measure each circuit edge's own effect")
    p.add_argument("--output", default="circuit_results", help="output directory, or a .json / .html file")
    p.set_defaults(func=cmd_discover_circuits)

    p = sub.add_parser("patch-activations", parents=[common], help="activation or attribution patching heat maps")
    model_and_task(p)
    p.add_argument("--components", default="", help="comma-separated: resid_pre, attn_out, mlp_out, head_result (default all)")
    p.add_argument("--per-position", action="store_true", help="one cell per layer and position (prompts of one length)")
    p.add_argument("--method", choices=("activation", "attribution"), default="activation")
    p.add_argument("--output", default="patching_results", help="output directory, or a .json / .html file")
    p.set_defaults(func=cmd_patch_activations)

    p = sub.add_parser("trace-information-flow", parents=[common], help="causal tracing (ROME) of one prompt")
    p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
    p.add_argument("--input-text", required=True, help="the prompt")
    p.add_argument("--target-prediction", default="", help="the token to trace (default: the model's top prediction)")
    p.add_argument("--subject", required=True, help="the substring of the prompt to corrupt")
    p.add_argument("--states", default="", help="comma-separated: hidden, mlp, attn (default all)")
    p.add_argument("--noise-scale", type=float, default=0.0, help="noise std in embedding stds (default 3)")
    p.add_argument("--samples", type=int, default=0, help="noise samples (default 5)")
    p.add_argument("--window", type=int, default=0, help="layers restored together for mlp/attn (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="causal_trace", help="output directory, or a .json / .html file")
    p.set_defaults(func=cmd_trace_information_flow)

    p = sub.add_parser("detect-heads", parents=[common], help="previous-token, duplicate-token and induction scores of every head")
    p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
    p.add_argument("--sequence-length", type=int, default=0, help="random tokens per half (default 20)")
    p.add_argument("--num-sequences", type=int, default=0, help="sequences averaged (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="head_scores.json", help="JSON file")
    p.set_defaults(func=cmd_detect_heads)

    p = sub.add_parser("find-algorithm", parents=[common], help="how a toy model implements modular addition or induction")
    p.add_argument("--model-name", required=True, help="a model trained on the algorithm (a local directory)")
    p.add_argument("--algorithm", choices=("modular_addition", "induction"), required=True)
    p.add_argument("--modulus", type=int, default=0, help="modular addition: p (default: inferred from the number tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="algorithm_results", help="output directory, or a .json / .html file")
    p.set_defaults(func=cmd_find_algorithm)
