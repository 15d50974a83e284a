"""Command line: ``python -m interpretability.cli <command>`` or ``interp <command>``.

Commands: ``analyze-attention``, ``compare-attention``, ``feature-attribution`` (attributes
the predictions on a file of samples, CSV/TXT/JSONL, to their tokens), ``explain-prediction``
(attributes one input's prediction), ``analyze-activations``, ``find-concept-neurons``,
``analyze-gradients``, ``rank-neuron-importance``, ``logit-lens`` (the activations service, see
``activation_commands``), ``list-models``, ``model-info``, ``health`` (client side)
and ``serve`` (starts the fleet; needs the server package).
Exit codes: 0 ok, 1 the server answered an error (printed with its reason), 2 bad usage.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from interp.v1 import attribution_service_pb2 as atpb
from interp.v1 import tensor_pb2 as tpb
from interpretability import attribution as at
from interpretability.client import DEFAULT_ENDPOINT, Client
from interpretability.errors import InterpClientError, UsageError
from interpretability.results import (
    analysis_to_dict,
    attribution_to_dict,
    comparison_to_dict,
    format_attribution_summary,
    format_summary,
    format_top_tokens,
)

EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2


def parse_indices(spec: str, what: str) -> list[int]:
    """``"all"`` -> [] (all); ``"6,7,8"`` or ``"0-3,7"`` -> the indices. Range checks are the server's."""
    spec = spec.strip().lower()
    if spec in ("all", "*", ""):
        return []
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                a, b = int(lo), int(hi)
                if b < a:
                    raise UsageError(f"--{what}: empty range {part!r}")
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise UsageError(f"--{what}: {part!r} is not a number, a range like 2-5, or 'all'") from None
    return out


def _client(args: argparse.Namespace) -> Client:
    return Client(args.endpoint, api_key=args.api_key, timeout=args.timeout, tls=args.tls or None, ca_file=args.ca_file)


def _load_with_progress(client: Client, model: str) -> None:
    """Show model-load progress on stderr (instant when the model is already loaded)."""
    from tqdm import tqdm

    bar = None
    try:
        for ev in client.load_model(model):
            if ev.stage == "ready":
                if bar is not None:
                    bar.n = 100
                break
            if bar is None:
                bar = tqdm(total=100, desc=f"loading {model}", file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
            if ev.progress >= 0:
                bar.n = int(ev.progress * 100)
            bar.set_postfix_str(f"{ev.stage} ({ev.elapsed_seconds:.0f}s)")
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()


def output_paths(output: str, json_name: str, html_name: str | None) -> tuple[Path, Path | None]:
    """Where a command writes: ``(JSON path, HTML path or None)`` for an ``--output`` that is a
    .json file (JSON only), an .html file (the JSON beside it) or a directory (both inside it,
    named ``json_name`` and ``html_name``)."""
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return path, None
    if suffix in (".html", ".htm"):
        return path.with_suffix(".json"), path
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output: {path} exists and is not a directory (or use a .json or .html name)")
    return path / json_name, None if html_name is None else path / html_name


def _write_report(data: Any, output: Path, render: Callable[[Any], str] | None) -> list[Path]:
    """Write by suffix: ``.json`` (the data), or ``.html`` (the page ``render`` makes, plus the
    JSON beside it). Returns what was written."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".json" or render is None:
        output.write_text(_json_text(data), encoding="utf-8")
        return [output]
    output.write_text(render(data), encoding="utf-8")
    side = output.with_suffix(".json")
    side.write_text(_json_text(data), encoding="utf-8")
    return [output, side]


def _write_analysis(analysis: dict, output: Path) -> list[Path]:
    """An attention analysis as HTML (plus JSON) or JSON."""
    from interpretability.report import render_attention_report

    return _write_report(analysis, output, render_attention_report)


def cmd_analyze_attention(args: argparse.Namespace) -> int:
    layers = parse_indices(args.layers, "layers")
    heads = parse_indices(args.heads, "heads")
    with _client(args) as client:
        _load_with_progress(client, args.model_name)
        a = client.analyze_attention(
            args.model_name,
            args.input_text,
            layers=layers,
            heads=heads,
            include_patterns=not args.no_patterns,
            top_k_links=args.top_links,
            delivery=tpb.RESULT_DELIVERY_INLINE,
        )
    data = analysis_to_dict(a, decimals=5)
    print(format_summary(data))
    if args.output:
        for path in _write_analysis(data, Path(args.output)):
            print(f"wrote {path}")
    return 0


def _read_inputs(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--inputs: {path} is not a file")
    texts = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t and not t.startswith("#")]
    if len(texts) < 2:
        raise UsageError(f"--inputs: {path} needs at least two non-empty lines (one input per line)")
    return texts


def cmd_compare_attention(args: argparse.Namespace) -> int:
    from interpretability.report import render_comparison_report

    texts = _read_inputs(args.inputs)
    layers = parse_indices(args.layers, "layers")
    heads = parse_indices(args.heads, "heads")
    out = Path(args.output)
    with _client(args) as client:
        _load_with_progress(client, args.model_name)
        resp = client.compare_attention(
            args.model_name,
            texts,
            layers=layers,
            heads=heads,
            include_patterns=True,
            top_k_links=args.top_links,
            delivery=tpb.RESULT_DELIVERY_INLINE,
        )
    out.mkdir(parents=True, exist_ok=True)
    analyses, links = [], []
    for i, a in enumerate(resp.analyses, start=1):
        data = analysis_to_dict(a, decimals=5)
        name = f"input_{i:03d}.html"
        _write_analysis(data, out / name)
        analyses.append(data)
        links.append(name)
    comparison = comparison_to_dict(resp, args.model_name)
    (out / "comparison.json").write_text(json.dumps(comparison))
    (out / "comparison.html").write_text(render_comparison_report(comparison, analyses, links), encoding="utf-8")
    print(f"Compared {len(texts)} inputs on {args.model_name}")
    for f in comparison["findings"]:
        print(f"  - {f}")
    print(f"wrote {out}/comparison.html, {out}/comparison.json and {len(links)} per-input reports")
    return 0


# -- attribution ---------------------------------------------------------------------------------
TASK_TYPES = ("classification", "next-token", "generation")
SAMPLE_SUFFIXES = (".csv", ".txt", ".jsonl")
DEFAULT_PROMPT_TEMPLATE = "Review: {text}\nSentiment:"
DEFAULT_LABELS = "negative,positive"
DEFAULT_LABEL_WORDS = " negative, positive"


@dataclass
class Sample:
    """One input of ``feature-attribution``: its text, its label (None when the file has none)
    and where it came from (``file:line``)."""

    text: str
    label: str | None = None
    source: str = ""


def _jsonl_value(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def read_samples(path: str | Path, text_column: str = "text", label_column: str = "label") -> list[Sample]:
    """The samples of a ``.csv`` (a header row; ``text_column`` holds the text, ``label_column``
    the label if that column exists), ``.txt`` (one sample per line; blank lines and lines
    starting with ``#`` are skipped) or ``.jsonl`` file (one JSON object per line with the text
    under ``text_column``, the label under ``label_column`` if present).

    Raises:
        UsageError: not a file, an unknown suffix, a missing text column, a malformed line, or
            no sample at all.
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--input-samples: {path} is not a file")
    suffix = p.suffix.lower()
    samples: list[Sample] = []
    if suffix == ".csv":
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            if text_column not in columns:
                found = ", ".join(repr(c) for c in columns) or "none (the file is empty)"
                raise UsageError(f"--text-column: {p.name} has no column {text_column!r}; columns found: {found}")
            has_label = label_column in columns
            for row in reader:
                text = (row.get(text_column) or "").strip()
                if not text:
                    continue
                label = (row.get(label_column) or "").strip() if has_label else ""
                samples.append(Sample(text, label or None, f"{p.name}:{reader.line_num}"))
    elif suffix == ".txt":
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip()
            if text and not text.startswith("#"):
                samples.append(Sample(text, None, f"{p.name}:{n}"))
    elif suffix == ".jsonl":
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--input-samples: {p.name}:{n} is not JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get(text_column), str):
                keys = ", ".join(repr(k) for k in obj) if isinstance(obj, dict) else f"a JSON {type(obj).__name__}"
                raise UsageError(f"--text-column: {p.name}:{n} has no text field {text_column!r}; found: {keys or 'no fields'}")
            text = obj[text_column].strip()
            if text:
                label = (_jsonl_value(obj.get(label_column)) or "").strip()
                samples.append(Sample(text, label or None, f"{p.name}:{n}"))
    else:
        raise UsageError(f"--input-samples: {p.name}: unknown format; use {', '.join(SAMPLE_SUFFIXES)}")
    if not samples:
        raise UsageError(f"--input-samples: {path} holds no sample")
    return samples


def parse_labels(spec: str) -> list[str]:
    """``"negative,positive"`` -> ``["negative", "positive"]`` (class names, stripped)."""
    labels = [x.strip() for x in spec.split(",")]
    if len(labels) < 2 or any(not x for x in labels):
        raise UsageError(f"--labels: give at least two comma-separated class names, got {spec!r}")
    return labels


def parse_label_words(spec: str) -> list[str]:
    """``" negative, positive"`` -> ``[" negative", " positive"]``.

    Comma separated; each word keeps its leading whitespace, because it matters: a label word
    must be one token right after the template, and in most tokenizers " positive" (with the
    space) is one token where "positive" is another, or several. Trailing whitespace is
    dropped. Quote the value in the shell: ``--label-words " negative, positive"``.
    """
    words = [w.rstrip() for w in spec.split(",")]
    if len(words) < 2 or any(not w.strip() for w in words):
        raise UsageError(f"--label-words: give at least two comma-separated words, got {spec!r}")
    return words


def _prompt_spec(args: argparse.Namespace) -> atpb.PromptClassifier:
    template = args.prompt_template.replace("\\n", "\n")
    if template.count("{text}") != 1:
        raise UsageError(f"--prompt-template: must hold {{text}} exactly once, got {args.prompt_template!r}")
    labels, words = parse_labels(args.labels), parse_label_words(args.label_words)
    if len(labels) != len(words):
        raise UsageError(f"--label-words: {len(words)} words for {len(labels)} labels ({', '.join(labels)})")
    return at.prompt_classifier(template, labels, words)


def _method_names(spec: str | None, flag: str) -> list[str]:
    """Method names from the command line, checked here (unknown names are bad usage)."""
    if not spec:
        return []
    try:
        at.method_values(spec)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    return [n for n in (p.strip() for p in spec.split(",")) if n]


def _class_target(label: str | None, prompt: atpb.PromptClassifier | None) -> atpb.AttributionTarget:
    """A class by name, or the predicted one (None). A number is sent as a name too: the server
    prefers a class of that name ("1".."5" of a rating model) and reads it as an index only
    when no class has that name."""
    if label is None or label == "":
        return at.class_target(prompt=prompt)
    return at.class_target(label, prompt=prompt)


def _options(args: argparse.Namespace) -> atpb.AttributionOptions:
    for flag in ("n_steps", "n_samples"):
        if getattr(args, flag, 0) < 0:
            raise UsageError(f"--{flag.replace('_', '-')}: must be >= 0 (0: the server's default)")
    return at.options(baseline=args.baseline, n_steps=args.n_steps, n_samples=getattr(args, "n_samples", 0), seed=args.seed)


def _check_output(output: str | None, suffixes: Sequence[str], flag: str = "--output") -> Path | None:
    if output is None:
        return None
    path = Path(output)
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag}: {output}: the suffix picks the format; use {', '.join(suffixes)}")
    return path


def _json_text(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def _write_attributions(results: list[dict], output: Path, title: str, *, single: bool = False) -> list[Path]:
    """Write by suffix: ``.html`` (plus the JSON beside it), ``.json`` (a list; one object when
    ``single``) or ``.jsonl`` (one line per sample). Returns what was written."""
    from interpretability.report import render_attribution_report

    output.parent.mkdir(parents=True, exist_ok=True)
    payload = results[0] if single and len(results) == 1 else results
    suffix = output.suffix.lower()
    if suffix == ".jsonl":
        output.write_text("".join(_json_text(r) + "\n" for r in results), encoding="utf-8")
        return [output]
    if suffix == ".json":
        output.write_text(_json_text(payload), encoding="utf-8")
        return [output]
    output.write_text(render_attribution_report(results, title=title), encoding="utf-8")
    side = output.with_suffix(".json")
    side.write_text(_json_text(payload), encoding="utf-8")
    return [output, side]


def _request_record(task_type: str, target: atpb.AttributionTarget | None, methods: list[str], depth: str,
                    options: atpb.AttributionOptions) -> dict[str, Any]:
    """What was asked, stored with each result (``"request"``), so that a JSON file says how it
    was made."""
    return {
        "task_type": task_type,
        "target": json_format.MessageToDict(target, preserving_proto_field_name=True) if target is not None else None,
        "methods": methods,
        "depth": depth,
        "options": json_format.MessageToDict(options, preserving_proto_field_name=True),
    }


def _progress_text(p: atpb.AttributionProgress) -> str:
    return f"{p.stage or 'starting'} {p.fraction:4.0%}"


def _short_summary(data: dict[str, Any], index: int, total: int, sample: Sample) -> str:
    text = sample.text if len(sample.text) <= 70 else sample.text[:67] + "..."
    label = f" (label {sample.label})" if sample.label is not None else ""
    lines = [
        f"[{index}/{total}] {text!r}{label}",
        f"  prediction: {data.get('prediction')}; target: {data.get('target')} = {data.get('target_score', 0) or 0:.4g}",
    ]
    for m in data.get("methods") or []:
        line = f"  {m.get('method')}: {format_top_tokens(data, m)}"
        if m.get("has_delta") and m.get("delta") is not None:
            line += f"; delta {m['delta']:+.3g}"
        f = m.get("faithfulness")
        if f and f.get("deletion_auc") is not None:
            line += f"; deletion AUC {f['deletion_auc']:.3f} (random {f.get('random_deletion_auc') or 0:.3f})"
        lines.append(line)
    return "\n".join(lines)


def cmd_feature_attribution(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    output = _check_output(args.output, (".html", ".json", ".jsonl"))
    assert output is not None
    methods = _method_names(args.attribution_methods, "--attribution-methods")
    options = _options(args)
    task = args.task_type
    if args.target and task == "classification":
        raise UsageError("--target: applies to the next-token and generation tasks (classification: --prediction-class)")
    if args.max_new_tokens and task != "generation":
        raise UsageError("--max-new-tokens: applies to the generation task only")
    if args.max_new_tokens < 0:
        raise UsageError("--max-new-tokens: must be >= 0 (0: the server's default)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: must be >= 1")
    prompt = _prompt_spec(args) if task == "classification" else None
    samples = read_samples(args.input_samples, args.text_column, args.label_column)
    if args.limit is not None:
        samples = samples[: args.limit]

    results: list[dict] = []
    title = f"Feature attribution \u2014 {args.model_name}"
    with _client(args) as client:
        bar = tqdm(samples, desc="attributing", unit="sample", file=sys.stderr, dynamic_ncols=True)
        try:
            for i, sample in enumerate(bar, start=1):
                if task == "classification":
                    target = _class_target(args.prediction_class or sample.label, prompt)
                elif task == "next-token":
                    target = at.next_token_target(args.target or "")
                else:
                    target = at.generation_target(args.max_new_tokens, args.target or "")

                def on_progress(p: atpb.AttributionProgress, bar: Any = bar) -> None:
                    bar.set_postfix_str(_progress_text(p), refresh=True)

                result = client.attribute(
                    args.model_name, sample.text, target=target, methods=methods, depth=args.depth, options=options,
                    on_progress=on_progress,
                )
                data = attribution_to_dict(result)
                data["sample"] = {"index": i, "source": sample.source, "label": sample.label}
                data["request"] = _request_record(task, target, methods, args.depth, options)
                results.append(data)
                bar.set_postfix_str("done", refresh=True)
                tqdm.write(_short_summary(data, i, len(samples), sample), file=sys.stdout)
        except InterpClientError:
            bar.close()
            if results:
                for path in _write_attributions(results, output, title):
                    print(f"wrote {path} (partial: the {len(results)} samples before the error)", file=sys.stderr)
            raise
        bar.close()
    for path in _write_attributions(results, output, title):
        print(f"wrote {path}")
    return 0


def cmd_explain_prediction(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    output = _check_output(args.output, (".html", ".json"))
    methods = _method_names(args.methods, "--methods")
    options = _options(args)
    prompt = _prompt_spec(args)
    if not args.input_text.strip():
        raise UsageError("--input-text: must not be empty")
    with _client(args) as client:
        if args.prediction_class:
            # A class: the model's own head, or a causal LM turned into a classifier by the prompt
            # (the server uses the prompt only for a model without a classification head).
            target: atpb.AttributionTarget | None = _class_target(args.prediction_class, prompt)
        else:
            # Nothing named: the server attributes what the model predicts (the predicted class of
            # a classifier, the most likely next token of a causal LM).
            target = None
        bar = tqdm(total=100, desc="explaining", file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

        def update(p: atpb.AttributionProgress) -> None:
            bar.n = int(p.fraction * 100)
            bar.set_postfix_str(_progress_text(p), refresh=True)

        try:
            result = client.attribute(args.model_name, args.input_text, target=target, methods=methods,
                                      depth=args.explanation_depth, options=options, on_progress=update)
            bar.n = 100
            bar.set_postfix_str("done", refresh=True)
        finally:
            bar.close()
    data = attribution_to_dict(result)
    task = "classification" if target is not None else "default"
    data["request"] = _request_record(task, target, methods, args.explanation_depth, options)
    print(format_attribution_summary(data))
    if output is not None:
        for path in _write_attributions([data], output, f"Prediction explanation \u2014 {args.model_name}", single=True):
            print(f"wrote {path}")
    return 0


def cmd_list_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for m in client.list_models():
            state = "loaded" if m.loaded else "available"
            print(f"{m.name:24s} {state:10s} {m.description}")
    return 0


def cmd_model_info(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _load_with_progress(client, args.model_name)
        info = client.model_info(args.model_name)
    print(
        f"{info.name}: {info.architecture} ({info.family}), {'causal' if info.causal else 'bidirectional'}, "
        f"{info.num_layers} layers, {info.num_heads} heads ({info.num_kv_heads} KV), d_model {info.d_model}, "
        f"{info.num_parameters / 1e6:.1f}M parameters, max {info.max_tokens} tokens"
    )
    if args.hook_sites:
        for s in info.hook_sites:
            print(f"  {s.name:34s} [{', '.join(s.dim_names)}]{'' if s.intervenable else '  (capture only)'}")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with _client(args) as client:
        overall = client.health()
        print(f"{args.endpoint}: {overall}")
        # The services come from the endpoint itself (server reflection), so a new service is
        # listed without a client release.
        statuses = {service: client.health(service) for service in client.services()}
        for service, status in statuses.items():
            print(f"  {service}: {status}")
    healthy = overall == "SERVING" and all(s == "SERVING" for s in statuses.values())
    return 0 if healthy else EXIT_SERVER_ERROR


def cmd_serve(argv: Sequence[str]) -> int:
    """Hand over to the server package's launcher (this client imports no server code)."""
    if importlib.util.find_spec("interp_services") is None:
        print("error: the server package (interp_services) is not installed here", file=sys.stderr)
        return EXIT_USAGE
    os.execvp(sys.executable, [sys.executable, "-m", "interp_services.serve", *argv])
    return 0  # pragma: no cover


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp", description="LLM interpretability suite client.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint", default=os.environ.get("INTERP_ENDPOINT", DEFAULT_ENDPOINT), help="gateway host:port")
    common.add_argument(
        "--api-key",
        default=None,
        help="API key (default: $INTERP_API_KEY, else the key a local `interp serve` published)",
    )
    common.add_argument("--timeout", type=float, default=600.0, help="deadline per call in seconds")
    common.add_argument("--tls", action="store_true", help="connect over TLS (default: $INTERP_TLS), e.g. through an Ingress")
    common.add_argument("--ca-file", help="PEM certificate authorities to trust over TLS (default: $INTERP_CA_FILE, else the system's)")
    sub = parser.add_subparsers(dest="command", required=True)

    def attention_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
        p.add_argument("--layers", default="all", help='"all", "6,7,8" or "0-3"')
        p.add_argument("--heads", default="all", help='"all", "0,3" or "0-4"')
        p.add_argument("--top-links", type=int, default=10, help="hotspot links to report")

    p = sub.add_parser("analyze-attention", parents=[common], help="analyze attention for one input")
    attention_flags(p)
    p.add_argument("--input-text", required=True)
    p.add_argument("--output", help="report path: .html (plus a .json beside it) or .json")
    p.add_argument("--no-patterns", action="store_true", help="skip the full matrices (smaller output)")
    p.set_defaults(func=cmd_analyze_attention)

    p = sub.add_parser("compare-attention", parents=[common], help="analyze and compare several inputs")
    attention_flags(p)
    p.add_argument("--inputs", required=True, help="text file, one input per line (# comments allowed)")
    p.add_argument("--output", required=True, help="output directory")
    p.set_defaults(func=cmd_compare_attention)

    def attribution_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--n-steps", type=int, default=0, help="integration steps of integrated gradients (0: automatic, 50 then 200 then 800 until the "
                            "convergence delta is within 1%% of f(x) - f(baseline))")
        p.add_argument("--baseline", choices=sorted(at.BASELINES), default="pad",
                       help="what attributed tokens are replaced by (default: the pad token)")
        p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
        g = p.add_argument_group(
            "prompt classifier",
            "A causal LM without a classification head (model-info: no labels) is made a classifier by a prompt: a class's "
            "score is the next-token log-probability of its label word after the filled template. Used for classification "
            "only when the model needs it.",
        )
        g.add_argument("--prompt-template", default=DEFAULT_PROMPT_TEMPLATE,
                       help='template with one {text}; "\\n" stands for a newline (default: %(default)r)')
        g.add_argument("--labels", default=DEFAULT_LABELS, help="comma-separated class names (default: %(default)r)")
        g.add_argument("--label-words", default=DEFAULT_LABEL_WORDS,
                       help="comma-separated words, one per label, each one token after the template; a word keeps its "
                            "leading space, which matters (quote the value) (default: %(default)r)")

    p = sub.add_parser("feature-attribution", parents=[common], help="attribute the predictions on a file of samples")
    p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
    p.add_argument("--task-type", choices=TASK_TYPES, default="classification",
                   help="classification: a class (label column, --prediction-class, or the predicted one); next-token: "
                        "the log-probability of --target or of the most likely next token; generation: each token of a "
                        "greedy continuation (or of --target)")
    p.add_argument("--input-samples", required=True, help=".csv (header row), .txt (one sample per line, # comments) or .jsonl")
    p.add_argument("--attribution-methods", default="",
                   help='comma-separated methods, e.g. "gradient,integrated_gradients,lime" (default: by --depth)')
    p.add_argument("--output", default="feature_attributions.html",
                   help=".html (plus a .json beside it), .json (a list) or .jsonl (one line per sample)")
    p.add_argument("--text-column", default="text", help="CSV column / JSONL field holding the text")
    p.add_argument("--label-column", default="label",
                   help="CSV column / JSONL field holding the class to attribute (a name, or an index); absent: the predicted class")
    p.add_argument("--prediction-class",
                   help="classification: the class to attribute for every sample, a name or an index (a number names the "
                        "class of that name if there is one, else it is an index; overrides the labels)")
    p.add_argument("--target", help="next-token: the continuation whose log-probability is attributed; generation: a given continuation")
    p.add_argument("--max-new-tokens", type=int, default=0, help="generation: tokens to generate (0: the server's 8)")
    p.add_argument("--depth", choices=sorted(at.DEPTHS), default="detailed",
                   help="detailed: several methods, agreement, deletion/insertion curves (default); basic: one fast method")
    p.add_argument("--n-samples", type=int, default=0, help="samples of the sampling methods (0: each method's default)")
    p.add_argument("--limit", type=int, help="attribute only the first N samples")
    attribution_flags(p)
    p.set_defaults(func=cmd_feature_attribution)

    p = sub.add_parser("explain-prediction", parents=[common], help="explain one input's prediction")
    p.add_argument("--model-name", required=True, help="built-in name, local HF directory or hub id")
    p.add_argument("--input-text", required=True)
    p.add_argument("--prediction-class",
                   help="the class to explain (default: what the model predicts: its class, or for a causal LM its next token)")
    p.add_argument("--explanation-depth", choices=sorted(at.DEPTHS), default="basic",
                   help="basic: integrated gradients only (default); detailed: several methods with faithfulness and agreement")
    p.add_argument("--methods", default="", help="comma-separated methods instead of the depth's")
    p.add_argument("--output", help="report path: .html (plus a .json beside it) or .json")
    attribution_flags(p)
    p.set_defaults(func=cmd_explain_prediction)

    from interpretability import activation_commands, circuit_commands, probing_commands

    activation_commands.add_commands(sub, common)
    probing_commands.add_commands(sub, common)
    circuit_commands.add_commands(sub, common)

    p = sub.add_parser("list-models", parents=[common], help="models the fleet can serve")
    p.set_defaults(func=cmd_list_models)

    p = sub.add_parser("model-info", parents=[common], help="shape and hook sites of a model")
    p.add_argument("--model-name", required=True)
    p.add_argument("--hook-sites", action="store_true", help="list every hook site")
    p.set_defaults(func=cmd_model_info)

    p = sub.add_parser("health", parents=[common], help="health of the fleet's public endpoint")
    p.set_defaults(func=cmd_health)

    sub.add_parser("serve", help="start the fleet locally (flags: see `interp serve --help`)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return cmd_serve(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InterpClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for v in exc.violations:
            print(f"  {v.field}: {v.description}", file=sys.stderr)
        return EXIT_SERVER_ERROR


if __name__ == "__main__":
    sys.exit(main())
