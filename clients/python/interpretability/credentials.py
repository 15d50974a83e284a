"""Where the SDK and CLI find an API key when none was given.

Order: the ``api_key`` argument (``--api-key``), then ``$INTERP_API_KEY``, then the runtime file
of a local fleet: ``interp serve`` on a loopback address with the development key writes
``$INTERP_RUNTIME_DIR/fleet-<port>.json`` (default ``~/.local/share/interp-suite/runtime``,
mode 0600, removed at shutdown), the way Jupyter hands its token to local clients. Only
loopback endpoints look there, so a remote fleet always needs a real key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def runtime_dir() -> Path:
    """Where local fleets write their runtime files."""
    return Path(os.environ.get("INTERP_RUNTIME_DIR") or Path.home() / ".local" / "share" / "interp-suite" / "runtime")


def local_fleet_key(endpoint: str) -> str | None:
    """The key a local fleet on ``endpoint`` published, if any."""
    host, _, port = endpoint.rpartition(":")
    if host not in LOOPBACK or not port.isdigit():
        return None
    try:
        data = json.loads((runtime_dir() / f"fleet-{int(port)}.json").read_text())
    except (OSError, ValueError):
        return None
    key = data.get("api_key") if isinstance(data, dict) else None
    return key if isinstance(key, str) and key else None


def resolve_api_key(endpoint: str, api_key: str | None) -> str | None:
    """The key to send: explicit, then ``$INTERP_API_KEY``, then a local fleet's runtime file."""
    if api_key is not None:
        return api_key
    return os.environ.get("INTERP_API_KEY") or local_fleet_key(endpoint)
