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
def servers(model_cache, local_store):
    """Model host and attention servicers in plain gRPC servers on port 0, the attention
    server calling the model host over gRPC, as separate services do."""
    import grpc

    from interp_services.rpc.attention import AttentionServicer
    from interp_services.rpc.backends import GrpcModelHostClient
    from interp_services.rpc.codec import DeliveryPolicy
    from interp_services.rpc.context import Limits
    from interp_services.rpc.model_host import ModelHostServicer
    from interp_services.rpc.server import create_server

    limits, policy = Limits(), DeliveryPolicy()
    mh_server, mh_port = create_server("127.0.0.1:0", model_host=ModelHostServicer(model_cache, local_store, limits, policy))
    channel = grpc.insecure_channel(f"127.0.0.1:{mh_port}", options=[("grpc.max_receive_message_length", 64 << 20)])
    at_servicer = AttentionServicer(GrpcModelHostClient(channel), local_store, limits, policy)
    at_server, at_port = create_server("127.0.0.1:0", attention=at_servicer)
    yield {"model_host": mh_port, "attention": at_port}
    channel.close()
    mh_server.stop(None)
    at_server.stop(None)


class Fleet:
    """A running fleet: endpoint, the process that runs it, and a CLI runner."""

    def __init__(self, process, store_dir: Path, metrics_port: int) -> None:
        self.process = process
        self.endpoint = process.endpoint
        self.store_dir = store_dir
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run the CLI as a user would."""
        return subprocess.run(
            [sys.executable, "-m", "interpretability.cli", *args, "--endpoint", self.endpoint, "--api-key", DEV_KEY],
            capture_output=True,
            text=True,
            timeout=timeout,
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
    process = FleetProcess(config)
    try:
        process.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield Fleet(process, tmp / "store", metrics_port)
    process.stop()
