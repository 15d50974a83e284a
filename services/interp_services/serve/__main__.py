"""Start the fleet on this machine: ``python -m interp_services.serve [--config F] [--port N]``.

Starts (or joins, with ``ray.address``) Ray, deploys the fleet's Serve config, waits until the
public endpoint answers health checks, prints ``READY <host>:<port>`` and serves until
interrupted. The Serve config is built from the settings YAML (``serve.config.serve_config``), or
read as it is with ``--serve-config`` -- e.g. the one the Helm chart renders into its
``RayService``, so the chart's application runs here exactly as KubeRay would deploy it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time

import yaml

from interp_services.serve.runtime import write_runtime_file


def _wait_healthy(target: str, timeout_s: float) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gateway did not become healthy on {target} in {timeout_s:.0f} s")
            time.sleep(0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="interp serve", description="Run the interpretability fleet on Ray Serve.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="settings YAML (see deploy/settings.example.yaml)")
    source.add_argument("--serve-config", help="a Serve config of the fleet, e.g. the one the Helm chart renders")
    parser.add_argument("--host", help="address the public endpoint binds")
    parser.add_argument("--port", type=int, help="port of the public endpoint")
    parser.add_argument("--store", help="tensor store URL: a directory, file:///dir or s3://host:port/bucket")
    parser.add_argument("--ray-resources", help='custom resources of the local Ray node, as JSON ({"interp_pool_cpu": 1000})')
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    # Flags override like the environment does, for this process and the application builder.
    flags = {"host": "INTERP_HOST", "port": "INTERP_PORT", "store": "INTERP_STORE_URL", "ray_resources": "INTERP_RAY_RESOURCES"}
    for flag, var in flags.items():
        if getattr(args, flag) is not None:
            os.environ[var] = str(getattr(args, flag))

    from interp_services.serve.config import read_serve_config, serve_config, settings_from_args
    from interp_services.settings import read_settings_file

    try:
        if args.serve_config:
            config = read_serve_config(args.serve_config)
        else:
            path = args.config or os.environ.get("INTERP_CONFIG")
            config = serve_config(read_settings_file(path) if path else {})
        app_config = config["applications"][0]
        settings = settings_from_args(app_config["args"])
    except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        # A configuration mistake is the operator's to fix: one line, not a traceback.
        print(f"interp serve: {exc}", file=sys.stderr, flush=True)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # Refuse a port another process already serves, before spending ~15 s on Ray: the gateway's
    # replicas may share their port (SO_REUSEPORT), so without this check a second fleet on a
    # busy port would come up, print READY, and get a random share of the first one's clients.
    from interp_services.rpc.gateway import port_conflict

    conflict = port_conflict(settings.host, settings.port)
    if conflict is not None:
        print(f"interp serve: {conflict}; stop it or choose another port (--port, INTERP_PORT)", file=sys.stderr, flush=True)
        return 2

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray starts workers at nice 15; on a small machine the model host then loses the CPU to
    # Ray's own daemons mid-forward and its OpenMP threads straggle. Same priority as Ray itself.
    os.environ.setdefault("RAY_worker_niceness", "0")
    import ray
    from ray import serve

    started = time.monotonic()
    if settings.ray.address:
        ray.init(address=settings.ray.address, namespace="interp", log_to_driver=False)
    else:
        temp_dir = settings.ray.temp_dir or tempfile.mkdtemp(prefix="interp-ray-")
        ray.init(
            num_cpus=settings.ray.num_cpus,
            object_store_memory=settings.ray.object_store_memory_bytes,
            include_dashboard=False,
            namespace="interp",
            _temp_dir=temp_dir,
            _metrics_export_port=settings.ray.metrics_export_port,
            resources=settings.ray.resources,
            log_to_driver=False,
        )
    # As Serve's controller does for a deployed config: import the builder, call it with args.
    serve.start(proxy_location=config.get("proxy_location", "Disabled"))
    module, _, builder = app_config["import_path"].partition(":")
    app = getattr(importlib.import_module(module), builder)(app_config["args"])
    serve.run(app, name=app_config["name"], route_prefix=app_config.get("route_prefix"), blocking=False)
    target = f"{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    _wait_healthy(target, args.startup_timeout)
    runtime_file = write_runtime_file(settings.host, settings.port, settings.api_keys)
    print(f"READY {target} in {time.monotonic() - started:.1f}s", flush=True)
    if runtime_file is not None:
        print(f"development key for local clients in {runtime_file}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        if runtime_file is not None:
            runtime_file.unlink(missing_ok=True)
    print("shutting down", flush=True)
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
