"""Command line: ``python -m interpretability.cli <command>`` or ``interp <command>``.

Commands: ``analyze-attention``, ``compare-attention``, ``list-models``, ``model-info``,
``health`` (client side) and ``serve`` (starts the fleet; needs the server package).
Exit codes: 0 ok, 1 the server answered an error (printed with its reason), 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from interp.v1 import tensor_pb2 as tpb
from interpretability.client import DEFAULT_ENDPOINT, Client
from interpretability.errors import InterpClientError
from interpretability.results import analysis_to_dict, comparison_to_dict, format_summary

EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2


class UsageError(ValueError):
    """A flag value that cannot be parsed."""


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
    return Client(args.endpoint, api_key=args.api_key, timeout=args.timeout)


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


def _write_analysis(analysis: dict, output: Path) -> list[Path]:
    """Write HTML and/or JSON depending on the suffix; returns what was written."""
    from interpretability.report import render_attention_report

    output.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if output.suffix.lower() == ".json":
        output.write_text(json.dumps(analysis))
        written.append(output)
    else:
        output.write_text(render_attention_report(analysis), encoding="utf-8")
        written.append(output)
        side = output.with_suffix(".json")
        side.write_text(json.dumps(analysis))
        written.append(side)
    return written


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
    with Client(args.endpoint, api_key=args.api_key, timeout=args.timeout) as client:
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
