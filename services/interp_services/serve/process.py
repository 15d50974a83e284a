"""Run the fleet as a child process and wait for it (tests, benchmarks, scripts).

Example:
    >>> with FleetProcess(config_path) as fleet:
    ...     print(fleet.endpoint, fleet.startup_seconds)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class FleetProcess:
    """``python -m interp_services.serve --config CONFIG`` in its own process group
    (``--serve-config CONFIG`` with ``serve_config=True``: a Serve config such as the Helm
    chart's)."""

    def __init__(
        self, config: Path, *, startup_timeout_s: float = 420.0, env: dict[str, str] | None = None, serve_config: bool = False
    ) -> None:
        self.config = config
        self.flag = "--serve-config" if serve_config else "--config"
        self.startup_timeout_s = startup_timeout_s
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.log: list[str] = []
        self.endpoint = ""
        self.startup_seconds = 0.0
        self.proc: subprocess.Popen | None = None

    def start(self) -> FleetProcess:
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interp_services.serve", self.flag, str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line)
                if line.startswith("READY"):
                    self.endpoint = line.split()[1]
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = started + self.startup_timeout_s
        while not ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(force=True)
                raise RuntimeError("the fleet did not start:\n" + "".join(self.log[-80:]))
        self.startup_seconds = time.monotonic() - started
        return self

    def pids(self) -> list[int]:
        """The launcher and every process below it (Ray's GCS, raylet, workers, replicas)."""
        import psutil

        if self.proc is None:
            return []
        root = psutil.Process(self.proc.pid)
        return [root.pid] + [c.pid for c in root.children(recursive=True)]

    def rss_bytes(self) -> int:
        """Resident memory of the whole fleet."""
        import psutil

        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self, force: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if force else signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> FleetProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_config(
    path: Path, *, port: int, store: Path, model_cache: Path, metrics_port: int | None = None, extra: str = ""
) -> Path:
    """A small settings file for a local fleet on a 2-core machine."""
    path.write_text(
        "\n".join(
            [
                f"port: {port}",
                f"store_url: {store}",
                f"model_cache_dir: {model_cache}",
                "ray: {num_cpus: 2, object_store_memory_bytes: 134217728, "
                f"metrics_export_port: {'null' if metrics_port is None else metrics_port}, temp_dir: {path.parent / 'ray'}}}",
                extra,
            ]
        )
    )
    return path
