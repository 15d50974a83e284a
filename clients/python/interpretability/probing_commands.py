"""CLI commands of the probing service: ``probe-linguistic``, ``probe-concepts`` and
``compare-representations``.

Datasets are read with :mod:`interpretability.probing_data` (the suite JSON, JSONL, CSV,
CoNLL-U; a malformed entry stops the command with its file and line). Long analyses show the
server's progress on stderr; Ctrl-C cancels the call, and the server stops between batches.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from interp.v1 import probing_service_pb2 as pb
from interp.v1 import tensor_pb2 as tpb
from interpretability.client import Client
from interpretability.datasets import DatasetError, load_texts
from interpretability.errors import UsageError
from interpretability.probing_data import ProbeDataset, load_parallel_sentences, load_probe_dataset
from interpretability.progress import ProgressBar
from interpretability.results import message_to_dict

BUILTIN_CONCEPTS = Path(__file__).parent / "data" / "probing_concepts.json"
"""Template-generated gender, profession and emotion sentences with counterfactual pairs
(provenance beside it)."""
BUILTIN_SUITE = Path(__file__).parent / "data" / "linguistic_probing_suite.json"
"""The part-of-speech, dependency-tree and sentiment suite of examples/probing (provenance there),
used when ``--probe-dataset`` names it and no such file exists here."""
METRICS = ("cosine", "cka", "rsa")


def _cli():
    from interpretability import cli  # the shared helpers (imported late: cli imports this module)

    return cli


def _names(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def _load(path: str, flag: str, tasks: list[str] | None) -> ProbeDataset:
    try:
        return load_probe_dataset(path, tasks=tasks or None)
    except DatasetError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{flag}: {exc.strerror or exc}: {path}") from None


def _options(args: argparse.Namespace) -> pb.ProbeOptions:
    return pb.ProbeOptions(
        classifier=pb.PROBE_CLASSIFIER_MLP if args.classifier == "mlp" else pb.PROBE_CLASSIFIER_LOGISTIC,
        regularization=[float(x) for x in _names(args.regularization)] if args.regularization else [],
        seed=args.seed, skip_mdl=args.skip_mdl,
    )


def _outputs(output: str, default_dir_name: str) -> tuple[Path, Path | None]:
    return _cli().output_paths(output, f"{default_dir_name}.json", "report.html")


def _probe(args: argparse.Namespace, ds: ProbeDataset, bias: pb.BiasAnalysis | None, layers: list[int], title: str) -> int:
    from interpretability.report import render_probe_report

    cli = _cli()
    json_path, html_path = _outputs(args.output, "probe_results")
    with cli._client(args) as client:
        cli._load_with_progress(client, args.model_name)
        with ProgressBar("probing") as bar:
            result = client.probe_representations(
                args.model_name, ds.tasks, layers=layers, bias=bias, options=_options(args), sentence_pooling=args.sentence_pooling,
                word_pooling=args.word_pooling, include_first_token=args.include_first_token, delivery=tpb.RESULT_DELIVERY_INLINE,
                on_progress=bar,
            )
        directions = _directions(client, result)
    data = message_to_dict(result)
    for task in data["tasks"]:
        task.pop("directions", None)  # the arrays go to directions.npz
    data["dataset"] = {"path": ds.path, "tasks": [t.name for t in ds.tasks], "examples": {t.name: len(t.examples) for t in ds.tasks}}
    for line in data["findings"]:
        print(line)
    print(f"{result.tokens} tokens; extraction {result.extraction_seconds:.1f} s, fitting {result.fitting_seconds:.1f} s")
    written = cli._write_report(data, json_path, None)
    if html_path is not None:
        html_path.write_text(render_probe_report(data, title=title), encoding="utf-8")
        written.append(html_path)
    if directions:
        npz = json_path.with_name(json_path.stem + "_directions.npz")
        np.savez_compressed(npz, **directions)
        written.append(npz)
    for path in written:
        print(f"wrote {path}")
    return 0


def _directions(client: Client, result: pb.ProbeAnalysis) -> dict[str, np.ndarray]:
    """``<task>`` -> [layer, label, d_model] unit label directions, ``<task>_labels``, ``layers``."""
    out: dict[str, np.ndarray] = {}
    for t in result.tasks:
        if t.HasField("directions"):
            out[t.name] = client.to_numpy(t.directions)
            out[f"{t.name}_labels"] = np.array(list(t.labels))
    if out:
        out["layers"] = np.array(list(result.layers), dtype=np.int32)
    return out


def _suite_path(path: str) -> str:
    """``path``, or the packaged suite when ``path`` is its bare file name and no such file exists."""
    if not Path(path).exists() and path == BUILTIN_SUITE.name:
        return str(BUILTIN_SUITE)
    return path


def cmd_probe_linguistic(args: argparse.Namespace) -> int:
    tasks = _names(args.probe_tasks)
    ds = _load(_suite_path(args.probe_dataset), "--probe-dataset", tasks)
    return _probe(args, ds, None, _cli().parse_indices(args.layers, "layers"), f"Linguistic probes \u2014 {args.model_name}")


def cmd_probe_concepts(args: argparse.Namespace) -> int:
    path = args.concept_dataset or str(BUILTIN_CONCEPTS)
    ds = _load(path, "--concept-dataset", _names(args.concept_categories))
    bias = None
    protected = args.protected_attribute
    if protected and not args.no_bias:
        names = [t.name for t in ds.tasks]
        if protected not in names:
            if args.protected_attribute_given:
                raise UsageError(f"--protected-attribute: {protected!r} is not among the concept categories ({', '.join(names)})")
        else:
            bias = pb.BiasAnalysis(protected_task=protected)
            if ds.bias is not None and ds.bias.protected_task == protected:
                bias.pairs.extend(ds.bias.pairs)
    layers = _cli().parse_indices(args.probe_layers, "--probe-layers")
    return _probe(args, ds, bias, layers, f"Concept probes \u2014 {args.model_name}")


def cmd_compare_representations(args: argparse.Namespace) -> int:
    from interpretability.report import render_similarity_report

    cli = _cli()
    metrics = _names(args.metrics)
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"--metrics: {m!r} is not one of {', '.join(METRICS)}")
    json_path, html_path = _outputs(args.output, "similarity")
    if args.parallel_sentences:
        if not args.model_name:
            raise UsageError("--parallel-sentences compares languages within one model: give --model-name")
        try:
            table = load_parallel_sentences(args.parallel_sentences, _names(args.languages) or None)
        except DatasetError as exc:
            raise UsageError(f"--parallel-sentences: {exc}") from None
        sources: list[Any] = [(lang, texts, args.model_name) for lang, texts in table.items()]
        models = [args.model_name]
        title = f"Cross-lingual similarity \u2014 {args.model_name}"
    else:
        if not (args.model_a and args.model_b and args.input_texts):
            raise UsageError("give --model-a, --model-b and --input-texts (or --model-name with --parallel-sentences)")
        try:
            texts = load_texts(args.input_texts, strict=True).texts
        except DatasetError as exc:
            raise UsageError(f"--input-texts: {exc}") from None
        a, b = args.model_a, args.model_b
        la, lb = (a, b) if a != b else (f"{a} (a)", f"{b} (b)")
        sources = [(la, texts, a), (lb, texts, b)]
        models = list(dict.fromkeys([a, b]))
        title = f"Representation similarity \u2014 {a} vs {b}"
    with cli._client(args) as client:
        for m in models:
            cli._load_with_progress(client, m)
        with ProgressBar("comparing") as bar:
            result = client.compare_representations(sources, layers=cli.parse_indices(args.layers, "layers"), metrics=metrics,
                                                    pairing=args.pairing, pooling=args.pooling, standardize=args.standardize,
                                                    on_progress=bar)
    data = message_to_dict(result)
    for line in data["findings"]:
        print(line)
    written = cli._write_report(data, json_path, None)
    if html_path is not None:
        html_path.write_text(render_similarity_report(data, title=title), encoding="utf-8")
        written.append(html_path)
    for path in written:
        print(f"wrote {path}")
    return 0


class _Given(argparse.Action):
    """Stores the value and notes that the flag was given."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register the commands on the CLI's subparsers."""

    def probe_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
        p.add_argument("--classifier", choices=("logistic", "mlp"), default="logistic", help="probe family (default: logistic)")
        p.add_argument("--regularization", default="", help="inverse L2 strengths tried on validation (default: 0.001,0.01,0.1,1)")
        p.add_argument("--seed", type=int, default=0, help="seed of the split, control labels and probes")
        p.add_argument("--skip-mdl", action="store_true", help="skip the MDL (online code) figure; about 3x faster")
        p.add_argument("--sentence-pooling", choices=("mean", "last", "first"), default="mean")
        p.add_argument("--word-pooling", choices=("mean", "last", "first"), default="last", help="a word's sub-word tokens (default: last)")
        p.add_argument("--include-first-token", action="store_true", help="pool the first token too (off: it is an attention sink in many LMs)")

    p = sub.add_parser("probe-linguistic", parents=[common], help="per-layer linguistic probes with control tasks and MDL (HTML + JSON)")
    probe_flags(p)
    p.add_argument("--probe-tasks", default="", help='task names from the dataset, e.g. "pos_tagging,parsing,sentiment" (default: all)')
    p.add_argument("--probe-dataset", required=True, help="suite .json, .jsonl, .csv or .conllu; linguistic_probing_suite.json (the shipped part-of-speech, "
                        "parsing and sentiment suite) works from any directory")
    p.add_argument("--layers", default="all", help='"all", "6,8,10" or "0-3"')
    p.add_argument("--output", default="linguistic_probe_results", help="output directory, or a .json / .html file")
    p.set_defaults(func=cmd_probe_linguistic)

    p = sub.add_parser("probe-concepts", parents=[common], help="concept probes and bias probing with counterfactual pairs")
    probe_flags(p)
    p.add_argument("--concept-categories", default="gender,profession,emotion", help="concept tasks to probe (default: all three)")
    p.add_argument("--concept-dataset", help="a suite .json/.jsonl/.csv with those tasks (default: the built-in template set)")
    p.add_argument("--probe-layers", default="all", help='"all", "6,8,10,12" or "0-3"')
    p.add_argument("--protected-attribute", default="gender", action=_Given,
                   help="the category treated as protected in the bias analysis (default: gender, when probed)")
    p.add_argument("--no-bias", action="store_true", help="skip the bias analysis")
    p.add_argument("--output", default="concept_probing_results.json", help=".json, .html (plus .json) or a directory")
    p.set_defaults(func=cmd_probe_concepts, protected_attribute_given=False)

    p = sub.add_parser("compare-representations", parents=[common],
                       help="CKA/RSA/cosine between two models' layers, or across languages within one model")
    p.add_argument("--model-a", help="first model")
    p.add_argument("--model-b", help="second model (or another checkpoint directory)")
    p.add_argument("--input-texts", help="texts both models read (.txt one per line, .jsonl, .json)")
    p.add_argument("--model-name", help="with --parallel-sentences: the model whose languages are compared")
    p.add_argument("--parallel-sentences", help="parallel sentences (e.g. examples/probing/multilingual_test_set.json)")
    p.add_argument("--languages", default="", help="languages to compare, e.g. en,fr,es (default: all in the file)")
    p.add_argument("--metrics", default="cosine,cka,rsa", help="comma-separated: cosine, cka, rsa")
    p.add_argument("--pairing", choices=("auto", "matched", "all"), default="auto",
                   help="matched: layer i with layer i; all: every pair (a grid); auto: matched within a model, all across models")
    p.add_argument("--pooling", choices=("mean", "last", "first"), default="mean")
    p.add_argument("--standardize", action="store_true",
                   help="z-score every dimension first (a few outlier dimensions otherwise dominate CKA and cosine)")
    p.add_argument("--layers", default="all", help='"all", "6,8,10" or "0-3" (of each model)')
    p.add_argument("--output", default="representation_similarity.html", help=".html (plus a .json beside it), .json or a directory")
    p.set_defaults(func=cmd_compare_representations)
