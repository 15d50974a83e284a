"""Checks of streaming analyses."""

from __future__ import annotations

import threading
import time


def assert_worker_stops(name: str, timeout_s: float = 30) -> None:
    """The server's worker thread called ``name`` ends within ``timeout_s`` (after its client
    went away)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(t.name == name for t in threading.enumerate()):
        time.sleep(0.2)
    assert not any(t.name == name for t in threading.enumerate()), f"the {name} worker is still running"
