"""Shared fixtures: the packaged models (loaded once), in-process servicers on port 0, and one
session-scoped Ray Serve fleet started as a separate process, storing its tensors in the tests'
SeaweedFS S3 server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import seaweed
from tests.support.browser import browser  # noqa: F401 - the report tests' Chromium (a fixture)
from tests.support.sdks import go_bin, ts_built  # noqa: F401 - the Go and TypeScript SDKs, built (fixtures)

ROOT = Path(__file__).resolve().parents[1]
MODEL_CACHE = Path(os.environ.get("INTERP_MODEL_CACHE", Path.home() / ".cache" / "interp-suite" / "models"))
TOY_MODEL = ROOT / "tests" / "fixtures" / "toy_induction"
DEV_KEY = "interp-dev-key"
# The Ray fleet also accepts this key (added through INTERP_API_KEYS): a tenant of its own, whose
# objects in the fleet's bucket no other test writes.
S3_CHECK_KEY, S3_CHECK_TENANT = "k-s3check", "s3check"
FLEET_BUCKET = "interp-fleet"

# The shared SeaweedFS S3 server (started on first use; one per test process, see seaweed.py).
s3_server = seaweed.s3_server


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


def run_cli(endpoint: str, *args: str, api_key: str | None = DEV_KEY, runtime_dir: Path | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the CLI against ``endpoint`` as a user would (``api_key=None``: no key flag and no
    $INTERP_API_KEY; the runtime file in ``runtime_dir`` is then the only fallback)."""
    env = {k: v for k, v in os.environ.items() if k != "INTERP_API_KEY"}
    if runtime_dir is not None:
        env["INTERP_RUNTIME_DIR"] = str(runtime_dir)
    key = ["--api-key", api_key] if api_key is not None else []
    return subprocess.run(
        [sys.executable, "-m", "interpretability.cli", *args, "--endpoint", endpoint, *key],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


class Fleet:
    """A running fleet: endpoint, the process that runs it, its S3 store, and a CLI runner."""

    def __init__(self, process, s3, bucket: str, metrics_port: int, runtime_dir: Path, *, config_port: int, env_port: int) -> None:
        self.process = process
        self.endpoint = process.endpoint
        self.s3 = s3  # tests.support.seaweed.S3Server; s3.client() lists the bucket
        self.bucket = bucket
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.runtime_dir = runtime_dir
        self.config_port = config_port  # the port in the YAML ...
        self.env_port = env_port  # ... and the one INTERP_PORT overrides it with

    def cli(self, *args: str, timeout: float = 600, api_key: str | None = DEV_KEY) -> subprocess.CompletedProcess:
        """Run the CLI as a user would (``api_key=None``: no key flag and no $INTERP_API_KEY)."""
        return run_cli(self.endpoint, *args, api_key=api_key, runtime_dir=self.runtime_dir, timeout=timeout)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory, s3_server):
    """The whole Ray Serve fleet, started once per session from the Helm chart's own Serve config
    (``ci/minimal-values.yaml``, with the tests' SeaweedFS as the chart's external S3 endpoint), the
    way KubeRay deploys it: ``python -m interp_services.serve --serve-config`` with the environment
    the chart gives its Ray containers, each Secret it references supplied here (API keys, S3
    credentials). The chart's bucket is versioned, so a deleted object leaves a delete marker: a
    test can prove an object was written and then removed.

    Local differences, all through documented overrides: INTERP_HOST=127.0.0.1 (the chart binds
    0.0.0.0), INTERP_PORT overriding the chart's gateway port, INTERP_MODEL_CACHE, the worker
    groups' custom resources on this one node (INTERP_RAY_RESOURCES), and a ``ray:`` block for the
    local Ray instance (the chart has none: on Kubernetes, KubeRay starts Ray)."""
    from minio.versioningconfig import ENABLED, VersioningConfig

    from interp_services.serve.process import FleetProcess
    from tests.support.chart import CHART, container_env, groups, local_ray_resources, render_chart, write_local_serve_config

    tmp = tmp_path_factory.mktemp("fleet")
    s3 = s3_server.client()
    if not s3.bucket_exists(bucket_name=FLEET_BUCKET):
        s3.make_bucket(bucket_name=FLEET_BUCKET)
    s3.set_bucket_versioning(bucket_name=FLEET_BUCKET, config=VersioningConfig(ENABLED))
    metrics_port, config_port, env_port = free_port(), free_port(), free_port()
    manifests = render_chart([CHART / "ci" / "minimal-values.yaml"], {
        "gateway": {"port": config_port},
        "settings": {"allow_hub": False},
        "apiKeys": {"existingSecret": "fleet-api-keys"},
        "objectStorage": {
            "bucket": FLEET_BUCKET,
            "existingSecret": "fleet-s3",
            "minio": {"enabled": False},
            "external": {"endpoint": s3_server.endpoint, "secure": False},
        },
    })
    config = write_local_serve_config(manifests, tmp / "serve-config.yaml", ray={
        "num_cpus": 2, "object_store_memory_bytes": 134217728, "metrics_export_port": metrics_port, "temp_dir": str(tmp / "ray"),
    })
    secrets = {
        "fleet-api-keys": {"INTERP_API_KEYS": f"{DEV_KEY}=dev, {S3_CHECK_KEY}={S3_CHECK_TENANT}"},
        "fleet-s3": {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key},
    }
    runtime_dir = tmp / "runtime"
    process = FleetProcess(config, serve_config=True, env={
        **container_env(groups(manifests)["cpu"], secrets),
        "INTERP_RUNTIME_DIR": str(runtime_dir),
        "INTERP_HOST": "127.0.0.1",
        "INTERP_PORT": str(env_port),
        "INTERP_MODEL_CACHE": str(MODEL_CACHE),
        "INTERP_RAY_RESOURCES": json.dumps(local_ray_resources(manifests)),
    })
    try:
        process.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield Fleet(process, s3_server, FLEET_BUCKET, metrics_port, runtime_dir, config_port=config_port, env_port=env_port)
    process.stop()
