"""CLI commands of the activations service: ``analyze-activations``, ``find-concept-neurons``,
``analyze-gradients``, ``rank-neuron-importance`` and ``logit-lens``.

Datasets are read with :mod:`interpretability.datasets` (TXT, JSONL, JSON; a bad line is
reported with its file and line and skipped, or with ``--strict`` stops the command). Long
analyses show the server's progress on stderr; Ctrl-C cancels the call, and the server stops
between batches.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

from interp.v1 import activations_service_pb2 as pb
from interp.v1 import tensor_pb2 as tpb
from interpretability import activations as act
from interpretability.client import Client, to_numpy
from interpretability.datasets import Dataset, DatasetError, load_texts, split_concept
from interpretability.errors import UsageError
from interpretability.progress import ProgressBar
from interpretability.results import message_to_dict

_STAT_FIELDS = ("mean", "std", "fraction_zero", "fraction_positive", "kurtosis", "max", "min")


def _cli():
    from interpretability import cli  # the shared helpers (imported late: cli imports this module)

    return cli


def _names(spec: str, flag: str, choices: tuple[str, ...]) -> list[str]:
    out = [s.strip().lower().replace("-", "_") for s in spec.split(",") if s.strip()]
    for s in out:
        if s not in choices:
            raise UsageError(f"{flag}: {s!r} is not one of {', '.join(choices)}")
    return out


def _neurons(spec: str) -> list[pb.NeuronId]:
    """``"mlp_post:3:17,resid_post:5:2"`` -> NeuronIds."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        bits = part.split(":")
        try:
            if len(bits) != 3:
                raise ValueError
            out.append(act.neuron(bits[0], int(bits[1]), int(bits[2])))
        except ValueError:
            raise UsageError(f"--neurons: {part!r} is not site:layer:index (e.g. mlp_post:3:17)") from None
    return out


def _dataset(path: str, flag: str, args: argparse.Namespace) -> Dataset:
    try:
        ds = load_texts(path, text_field=args.text_field, strict=args.strict)
    except DatasetError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if ds.problem_count:
        print(f"warning: {ds.problem_summary()}", file=sys.stderr)
    return ds


def _dataset_record(ds: Dataset) -> dict:
    return {
        "path": ds.path,
        "texts": len(ds.texts),
        "skipped_lines": ds.problem_count,
        "first_skipped": [str(p) for p in ds.problems[:10]],
    }


def _target(args: argparse.Namespace) -> pb.AnalysisTarget:
    if (args.correct_token is None) != (args.incorrect_token is None):
        raise UsageError("--correct-token and --incorrect-token go together (a logit difference)")
    given = [x is not None for x in (args.target, args.target_class, args.correct_token)]
    if sum(given) > 1:
        raise UsageError("give one of --target, --target-class, --correct-token/--incorrect-token")
    return act.target(next_token=args.target, class_index=args.target_class, correct=args.correct_token, incorrect=args.incorrect_token)


# ---------------------------------------------------------------------------------- commands


def cmd_analyze_activations(args: argparse.Namespace) -> int:
    from interpretability.report import render_activation_report

    cli = _cli()
    if args.sample_size is not None and args.sample_size < 1:
        raise UsageError("--sample-size: must be >= 1")
    ds = _dataset(args.input_dataset, "--input-dataset", args)
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--output: {out_dir} exists and is not a directory")
    options: dict[str, Any] = dict(
        sample_size=args.sample_size, seed=args.seed, sites=_names(args.sites, "--sites", act.SITES),
        layers=cli.parse_indices(args.layers, "layers"), top_k_examples=args.top_k_examples, neurons=_neurons(args.neurons),
        top_neurons_per_layer=args.top_neurons_per_layer, include_statistics=args.include_statistics,
        histogram_bins=args.histogram_bins, exclude_first_token=args.exclude_first_token, delivery=tpb.RESULT_DELIVERY_INLINE,
    )
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("analyzing") as bar:
            result = client.analyze_activations(args.model_name, ds.texts, on_progress=bar, **options)
        stats = _statistics(client, result) if args.include_statistics else {}
    data = message_to_dict(result)
    for site in data["sites"]:
        for f in _STAT_FIELDS:
            site.pop(f, None)  # the per-neuron tensors go to neuron_statistics.npz
    data["dataset"] = _dataset_record(ds)
    for line in data["findings"]:
        print(line)
    print(f"{result.texts_analyzed} texts, {result.tokens_analyzed} tokens in {result.seconds:.1f} s"
          f" ({result.tokens_analyzed / max(result.seconds, 1e-9):.0f} tokens/s); {result.skipped_count} texts skipped by the server")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = cli._write_report(data, out_dir / "activation_analysis.json", None)
    (out_dir / "report.html").write_text(render_activation_report(data, title=f"Activations \u2014 {args.model_name}"), encoding="utf-8")
    written.append(out_dir / "report.html")
    if stats:
        np.savez_compressed(out_dir / "neuron_statistics.npz", **stats)
        written.append(out_dir / "neuron_statistics.npz")
    for path in written:
        print(f"wrote {path}")
    return 0


def _statistics(client: Client, result: pb.ActivationAnalysis) -> dict[str, np.ndarray]:
    """``<site>_<stat>`` -> [layer, neuron] arrays, plus ``<site>_layers``."""
    out: dict[str, np.ndarray] = {}
    for site in result.sites:
        name = act.site_name(site.site)
        out[f"{name}_layers"] = np.array(list(site.layers), dtype=np.int32)
        for f in _STAT_FIELDS:
            t = getattr(site, f)
            if t.shape:
                out[f"{name}_{f}"] = client.to_numpy(t) if t.WhichOneof("data") == "object" else to_numpy(t)
    return out


def cmd_find_concept_neurons(args: argparse.Namespace) -> int:
    cli = _cli()
    output = cli._check_output(args.output, (".json",))
    probe = _dataset(args.probe_dataset, "--probe-dataset", args)
    control = _dataset(args.control_dataset, "--control-dataset", args) if args.control_dataset else None
    try:
        concept_texts, control_texts = split_concept(probe, control)
    except DatasetError as exc:
        raise UsageError(f"--probe-dataset: {exc}") from None
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("searching") as bar:
            result = client.find_concept_neurons(
                args.model_name, concept_texts, control_texts, concept=args.concept, on_progress=bar,
                sites=_names(args.sites, "--sites", act.SITES), layers=cli.parse_indices(args.layers, "layers"),
                top_k_neurons=args.top_k_neurons, aggregation=args.aggregation, examples_per_neuron=args.examples_per_neuron,
                exclude_first_token=args.exclude_first_token,
            )
    data = message_to_dict(result)
    data["datasets"] = [_dataset_record(probe)] + ([_dataset_record(control)] if control else [])
    for line in data["findings"]:
        print(line)
    # Ranked by separation in either direction: AUROC < 0.5 is a neuron the concept suppresses.
    print(f"{'rank':>4} {'site':<10} {'layer':>5} {'neuron':>6} {'AUROC':>6} {'d':>6} {'p (Bonf.)':>9}  {'on the concept':<23}  top example")
    for n in result.neurons[:10]:
        ex = n.examples[0] if n.examples else None
        shown = f"{ex.left_context[-30:]} [{ex.token}] {ex.right_context[:20]}" if ex else ""
        direction = "fires more" if n.auroc > 0.5 else "fires less (suppressed)" if n.auroc < 0.5 else "no separation"
        print(f"{n.rank:>4} {act.site_name(n.neuron.site):<10} {n.neuron.layer:>5} {n.neuron.index:>6} {n.auroc:>6.3f} "
              f"{n.effect_size:>+6.2f} {n.p_bonferroni:>9.2g}  {direction:<23}  {shown}")
    if output is not None:
        for path in cli._write_report(data, output, None):
            print(f"wrote {path}")
    return 0


def _texts(args: argparse.Namespace, path: str, flag: str) -> tuple[Dataset, list[str]]:
    ds = _dataset(path, flag, args)
    texts = ds.texts
    if args.limit is not None:
        if args.limit < 1:
            raise UsageError("--limit: must be >= 1")
        texts = texts[: args.limit]
    return ds, texts


def cmd_analyze_gradients(args: argparse.Namespace) -> int:
    from interpretability.report import render_gradient_report

    cli = _cli()
    output = cli._check_output(args.output, (".html", ".json"))
    ds, texts = _texts(args, args.input_samples, "--input-samples")
    target = _target(args)
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("differentiating") as bar:
            result = client.analyze_gradients(
                args.model_name, texts, target=target, on_progress=bar,
                gradient_types=_names(args.gradient_types, "--gradient-types", act.GRADIENT_TYPES),
                layers=cli.parse_indices(args.layers, "layers"), include_norm_analysis=args.include_norm_analysis,
            )
    data = message_to_dict(result)
    data["dataset"] = _dataset_record(ds)
    for line in data["findings"]:
        print(line)
    if output is not None:
        for path in cli._write_report(data, output, lambda d: render_gradient_report(d, title=f"Gradients \u2014 {args.model_name}")):
            print(f"wrote {path}")
    return 0


def cmd_rank_neuron_importance(args: argparse.Namespace) -> int:
    cli = _cli()
    output = cli._check_output(args.output, (".csv", ".json"))
    ds, texts = _texts(args, args.task_dataset, "--task-dataset")
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("ranking") as bar:
            result = client.rank_neuron_importance(
                args.model_name, texts, method=args.ranking_method, target=_target(args), on_progress=bar,
                sites=_names(args.sites, "--sites", act.SITES), layers=cli.parse_indices(args.layers, "layers"),
                top_k=args.top_k, ablation_candidates=args.ablation_candidates, ablation=args.ablation,
            )
    for line in result.findings:
        print(line)
    print(f"{'rank':>4} {'site':<10} {'layer':>5} {'neuron':>6} {'score':>10}")
    for n in result.neurons[:10]:
        print(f"{n.rank:>4} {act.site_name(n.neuron.site):<10} {n.neuron.layer:>5} {n.neuron.index:>6} {n.score:>10.4g}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix.lower() == ".json":
            data = message_to_dict(result)
            data["dataset"] = _dataset_record(ds)
            cli._write_report(data, output, None)
        else:
            with output.open("w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["site", "layer", "neuron", "score", "rank"])
                for n in result.neurons:
                    w.writerow([act.site_name(n.neuron.site), n.neuron.layer, n.neuron.index, repr(n.score), n.rank])
        print(f"wrote {output}")
    return 0


def cmd_logit_lens(args: argparse.Namespace) -> int:
    from interpretability.report import render_logit_lens_report

    cli = _cli()
    output = cli._check_output(args.output, (".html", ".json"))
    if not args.input_text.strip():
        raise UsageError("--input-text: must not be empty")
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        result = client.logit_lens(args.model_name, args.input_text, layers=cli.parse_indices(args.layers, "layers"),
                                   top_k=args.top_k, target=args.target or "")
    last = len(result.tokens) - 1
    print(f"last position {result.tokens[last]!r}, tracked token {result.targets[last]!r}")
    print(f"{'layer':>5}  {'top prediction':<20} {'p':>6}  {'target rank':>11} {'target p':>8}")
    for layer in result.layers:
        cell = layer.cells[last]
        top = cell.top[0]
        print(f"{layer.layer:>5}  {top.token!r:<20} {top.probability:>6.3f}  {cell.target_rank:>11} {cell.target_probability:>8.3f}")
    for line in result.findings:
        print(line)
    if output is not None:
        data = message_to_dict(result)
        for path in cli._write_report(data, output, lambda d: render_logit_lens_report(d, title=f"Logit lens \u2014 {args.model_name}")):
            print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------------------------ parser


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the commands on the CLI's subparsers."""

    def base(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_)
        p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
        p.add_argument("--layers", default="all", help='"all", "6,8,10" or "0-3"')
        return p

    def dataset_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--text-field", default="text", help="JSONL/JSON field holding the text (default: text)")
        p.add_argument("--strict", action="store_true", help="stop at the first malformed line instead of skipping it")

    def sites_flag(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument("--sites", default=default, help=f"comma-separated: {', '.join(act.SITES)} (default: {default})")

    def target_flags(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("target", "what the gradients are taken of (default: the model's own prediction: its most "
                                           "likely next token, or its predicted class)")
        g.add_argument("--target", help='a next token, one token with its leading space, e.g. " Paris"')
        g.add_argument("--target-class", type=int, help="a class index of a classification head")
        g.add_argument("--correct-token", help="logit difference: the answer counted positively")
        g.add_argument("--incorrect-token", help="logit difference: the answer counted negatively")

    p = base("analyze-activations", "per-neuron statistics, dead/saturated neurons and top activating contexts over a dataset")
    p.add_argument("--input-dataset", required=True, help=".txt (one text per line), .jsonl or .json")
    p.add_argument("--sample-size", type=int, help="analyse a random sample of N texts (seeded by --seed)")
    p.add_argument("--seed", type=int, default=0)
    sites_flag(p, "mlp_post,resid_post")
    p.add_argument("--include-statistics", action="store_true", help="also write every neuron's statistics (neuron_statistics.npz)")
    p.add_argument("--top-k-examples", type=int, default=0, help="top activating contexts kept per neuron (0: 5)")
    p.add_argument("--neurons", default="", help='neurons whose contexts to report, e.g. "mlp_post:3:17,resid_post:5:2"')
    p.add_argument("--top-neurons-per-layer", type=int, default=2, help="also report the contexts of the N strongest neurons per layer")
    p.add_argument("--histogram-bins", type=int, default=0, help="bins per layer (0: 50)")
    p.add_argument("--exclude-first-token", action="store_true", help="leave each text's first token out (attention-sink models)")
    p.add_argument("--output", default="activation_analysis", help="output directory")
    dataset_flags(p)
    p.set_defaults(func=cmd_analyze_activations)

    p = base("find-concept-neurons", "neurons that separate concept examples from control examples")
    p.add_argument("--concept", default="concept", help="the concept's name, e.g. emotion")
    p.add_argument("--probe-dataset", required=True,
                   help="labelled lines (concept<TAB>text / control<TAB>text, or JSONL with a label field), or concept "
                        "examples only with --control-dataset")
    p.add_argument("--control-dataset", help="control examples (then every probe-dataset line is a concept example)")
    p.add_argument("--top-k-neurons", type=int, default=50)
    sites_flag(p, "mlp_post")
    p.add_argument("--aggregation", choices=act.AGGREGATIONS, default="max", help="per-text value of a neuron (default: max)")
    p.add_argument("--examples-per-neuron", type=int, default=0, help="top concept examples per neuron (0: 3)")
    p.add_argument("--exclude-first-token", action="store_true")
    p.add_argument("--output", default="concept_neurons.json", help=".json")
    dataset_flags(p)
    p.set_defaults(func=cmd_find_concept_neurons)

    p = base("analyze-gradients", "gradient norms per layer and token, saliency, attention gradients (HTML + JSON)")
    p.add_argument("--input-samples", required=True, help=".txt, .jsonl or .json")
    p.add_argument("--gradient-types", default="input,hidden,attention", help="comma-separated: input, hidden, attention")
    p.add_argument("--include-norm-analysis", action="store_true", help="per-token gradient norms of every layer")
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--output", default="gradient_analysis.html", help=".html (plus a .json beside it) or .json")
    target_flags(p)
    dataset_flags(p)
    p.set_defaults(func=cmd_analyze_gradients)

    p = base("rank-neuron-importance", "neurons ranked by importance to a target (CSV of site, layer, neuron, score, rank)")
    p.add_argument("--task-dataset", required=True, help=".txt, .jsonl or .json")
    p.add_argument("--ranking-method", choices=act.RANKING_METHODS, default="gradient_x_activation",
                   help="ablation measures the effect of ablating each of the --ablation-candidates neurons that gradient x "
                        "activation ranks highest (default: gradient_x_activation)")
    sites_flag(p, "mlp_post")
    p.add_argument("--top-k", type=int, default=0, help="rows to write (0: every neuron scored)")
    p.add_argument("--ablation-candidates", type=int, default=0,
                   help="ablation: how many neurons to ablate (0: 64; at most 4096). Only the top N by gradient x activation are "
                        "ablated; the others are not scored and do not appear in the ranking")
    p.add_argument("--ablation", choices=act.ABLATIONS, default="zero", help="ablation: set the neuron to zero or to its mean")
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--output", default="neuron_importance_ranking.csv", help=".csv or .json")
    target_flags(p)
    dataset_flags(p)
    p.set_defaults(func=cmd_rank_neuron_importance)

    p = base("logit-lens", "each layer's residual stream read through the final norm and unembedding")
    p.add_argument("--input-text", required=True)
    p.add_argument("--top-k", type=int, default=0, help="top predictions per cell (0: 5)")
    p.add_argument("--target", help='token tracked at every position, e.g. " Paris" (default: the next token, and the final prediction)')
    p.add_argument("--output", help=".html (plus a .json beside it) or .json")
    p.set_defaults(func=cmd_logit_lens)
