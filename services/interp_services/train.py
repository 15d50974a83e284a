"""Train the built-in ``minilm-sentiment`` classifier now, instead of on its first use.

``python -m interp_services.train [--cache-dir DIR] [--force] [--seed N]`` (``make classifier``)
fine-tunes the packaged all-MiniLM-L6-v2 on the in-repo sentiment set into
``DIR/minilm-sentiment`` and prints the training report (held-out accuracy first). ``DIR`` is
the fleet's model cache: ``model_cache_dir`` of the settings (``INTERP_MODEL_CACHE``, the YAML
of ``INTERP_CONFIG``, else ``~/.cache/interp-suite/models``). A classifier already there is kept
unless ``--force``; the same file lock as the fleet's replicas is taken, so a fleet starting at
the same time waits for this one instead of training too.

Example:
    $ python -m interp_services.train --cache-dir /tmp/models
    {"test_accuracy": 0.85, "train_accuracy": 1.0, "n_train": 240, "n_test": 80, ...}
    /tmp/models/minilm-sentiment: held-out accuracy 0.850 (80 sentences), train accuracy 1.000, seed 0, trained in 24.1 s
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "minilm-sentiment"


def main(argv: list[str] | None = None) -> int:
    """Train (or find) the classifier, print its report; 0 on success, 1 without its package."""
    parser = argparse.ArgumentParser(prog="python -m interp_services.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, help="the model cache (default: the fleet's model_cache_dir)")
    parser.add_argument("--force", action="store_true", help="train again even if a classifier is cached")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0, as the fleet's first-use training)")
    args = parser.parse_args(argv)

    from interp_services.core.classifier import train_sentiment_classifier
    from interp_services.core.models import BUILTIN_MODELS, _package_dir, build_once

    if args.cache_dir is None:
        from interp_services.settings import load_settings

        args.cache_dir = Path(load_settings().model_cache_dir)
    target = args.cache_dir.expanduser() / NAME
    pkg = _package_dir(BUILTIN_MODELS[NAME].package)
    if pkg is None:
        print(f"the package {BUILTIN_MODELS[NAME].package} is not installed (make install)", file=sys.stderr)
        return 1

    def progress(stage: str, fraction: float) -> None:
        print(f"[{fraction:4.0%}] {stage}", file=sys.stderr, flush=True)

    def train() -> None:
        train_sentiment_classifier(pkg / "model", target, seed=args.seed, progress=progress)

    build_once(target, train, ("config.json", "training_report.json"), force=args.force)
    report = json.loads((target / "training_report.json").read_text())
    print(json.dumps(report, indent=2))
    if report["seed"] != args.seed:
        print(f"kept the cached classifier (seed {report['seed']}); --force trains it with seed {args.seed}", file=sys.stderr)
    print(
        f"{target}: held-out accuracy {report['test_accuracy']:.3f} ({report['n_test']} sentences), "
        f"train accuracy {report['train_accuracy']:.3f}, seed {report['seed']}, trained in {report['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
