"""The runtime file through which a local fleet hands its development key to local clients.

``interp serve`` on a loopback address with the documented development key writes
``$INTERP_RUNTIME_DIR/fleet-<port>.json`` (default ``~/.local/share/interp-suite/runtime``;
mode 0600, removed at shutdown) holding the endpoint and the key, the way Jupyter hands its
token to local clients. The SDK and CLI (``interpretability.credentials``) read it when no key
was given, so the seed's commands work against ``interp serve`` without exporting anything.
Production keys are never written to disk: only the development key, and only on loopback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from interp_services.rpc.gateway import DEV_API_KEY

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def runtime_dir() -> Path:
    """Where fleets write their runtime files (the same rule as the client's)."""
    return Path(os.environ.get("INTERP_RUNTIME_DIR") or Path.home() / ".local" / "share" / "interp-suite" / "runtime")


def write_runtime_file(host: str, port: int, api_keys: dict[str, str]) -> Path | None:
    """Write the runtime file if this fleet is local and accepts the development key."""
    if host not in LOOPBACK or DEV_API_KEY not in api_keys:
        return None
    directory = runtime_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"fleet-{port}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"endpoint": f"{host}:{port}", "api_key": DEV_API_KEY, "pid": os.getpid()}, fh)
    return path
