"""The CLI's progress bar for streaming analyses."""

from __future__ import annotations

import sys

from interp.v1 import common_pb2 as cpb


class ProgressBar:
    """A tqdm bar on stderr fed by a streaming analysis's progress events; use it as a context
    manager and pass it as ``on_progress``."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=desc, file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def __call__(self, p: cpb.AnalysisProgress) -> None:
        self.bar.n = int(1000 * p.fraction)
        extra = f", {p.tokens_done} tokens" if p.tokens_done else ""
        self.bar.set_postfix_str(f"{p.stage}{extra}", refresh=True)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
