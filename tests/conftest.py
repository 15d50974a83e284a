"""Shared fixtures: the packaged models (loaded once), in-process servicers on port 0, and one
session-scoped Ray Serve fleet started as a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL_CACHE = Path(os.environ.get("INTERP_MODEL_CACHE", Path.home() / ".cache" / "interp-suite" / "models"))
TOY_MODEL = ROOT / "tests" / "fixtures" / "toy_induction"
DEV_KEY = "interp-dev-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def model_cache():
    """One ModelCache for the whole session (both packaged models fit)."""
    from interp_services.core.models import LoaderSettings, ModelCache

    return ModelCache(LoaderSettings(cache_dir=MODEL_CACHE, allow_hub=False), max_models=4)


@pytest.fixture(scope="session")
def smollm(model_cache):
    return model_cache.get("smollm2-135m")


@pytest.fixture(scope="session")
def minilm(model_cache):
    return model_cache.get("all-minilm-l6-v2")


@pytest.fixture(scope="session")
def local_store(tmp_path_factory):
    from interp_services.store import LocalTensorStore

    return LocalTensorStore(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def local_fleet(model_cache, local_store):
    """Every registered service in its own plain gRPC server on port 0, calling the others over
    gRPC as separate deployments do, with the gateway in front (keys: the development key, and
    ``k-alice``/``k-bob`` for tenants ``alice``/``bob``). Derived from the registry."""
    from interp_services.local import LocalFleet
    from interp_services.settings import from_dict

    settings = from_dict({"api_keys": {DEV_KEY: "dev", "k-alice": "alice", "k-bob": "bob"}})
    with LocalFleet.start(settings, store=local_store, model_cache=model_cache) as fleet:
        yield fleet


@pytest.fixture(scope="session")
def servers(local_fleet):
    """Ports of the in-process services, by registry key."""
    return local_fleet.ports


class Fleet:
    """A running fleet: endpoint, the process that runs it, and a CLI runner."""

    def __init__(self, process, store_dir: Path, metrics_port: int, runtime_dir: Path) -> None:
        self.process = process
        self.endpoint = process.endpoint
        self.store_dir = store_dir
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.runtime_dir = runtime_dir

    def cli(self, *args: str, timeout: float = 600, api_key: str | None = DEV_KEY) -> subprocess.CompletedProcess:
        """Run the CLI as a user would (``api_key=None``: no key flag and no $INTERP_API_KEY)."""
        env = {k: v for k, v in os.environ.items() if k != "INTERP_API_KEY"}
        env["INTERP_RUNTIME_DIR"] = str(self.runtime_dir)
        key = ["--api-key", api_key] if api_key is not None else []
        return subprocess.run(
            [sys.executable, "-m", "interpretability.cli", *args, "--endpoint", self.endpoint, *key],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    """The whole Ray Serve fleet (gateway, model host, attention), started once per session."""
    from interp_services.serve.process import FleetProcess, write_config

    tmp = tmp_path_factory.mktemp("fleet")
    metrics_port = free_port()
    config = write_config(
        tmp / "fleet.yaml", port=free_port(), store=tmp / "store", model_cache=MODEL_CACHE,
        metrics_port=metrics_port, extra="allow_hub: false",
    )
    runtime_dir = tmp / "runtime"
    process = FleetProcess(config, env={"INTERP_RUNTIME_DIR": str(runtime_dir)})
    try:
        process.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield Fleet(process, tmp / "store", metrics_port, runtime_dir)
    process.stop()
