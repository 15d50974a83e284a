"""Failure modes of the deployment around the services: a hung object store, a busy port.

A hung store is a real SeaweedFS server frozen with SIGSTOP (what a network partition looks like
to a client: the kernel still accepts connections, nothing answers). The server is owned by this
module, never the session-wide one other tests share. A store call against it must answer
UNAVAILABLE (STORE_UNAVAILABLE) within seconds, not after the caller's whole deadline, without
holding up requests that don't touch the store, and work again once the server resumes.

A busy port is a plain listening socket or gRPC server on the fleet's port: ``interp serve``
must refuse to start there (it used to share the port through SO_REUSEPORT and print READY).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch

from interp.v1 import tensor_pb2 as tpb
from interp_services.core.errors import Unavailable
from interp_services.rpc.gateway import port_conflict
from interp_services.store import S3TensorStore, open_store
from interpretability import Client, patch
from interpretability.errors import Unavailable as ClientUnavailable
from tests.conftest import DEV_KEY, MODEL_CACHE, free_port
from tests.support.seaweed import S3Server, frozen, seaweed_s3

TENANT = "acme"
BUCKET = "interp-resilience"
MODEL = "smollm2-135m"
SITE = "blocks.2.hook_resid_pre"
FAST_S = 10.0  # a hung store must answer within this; the client deadline below is far longer
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def own_s3() -> Iterator[S3Server]:
    """A SeaweedFS server for this module alone: freezing it cannot break other tests."""
    with seaweed_s3() as server:
        yield server


def _store(server: S3Server, **kwargs) -> S3TensorStore:
    store = open_store(server.url(BUCKET), access_key=server.access_key, secret_key=server.secret_key, **kwargs)
    assert isinstance(store, S3TensorStore)
    return store


def _timed(call) -> tuple[BaseException | None, float]:
    t0 = time.monotonic()
    try:
        call()
    except BaseException as exc:  # noqa: BLE001
        return exc, time.monotonic() - t0
    return None, time.monotonic() - t0


def _eventually(call, within_s: float = 30.0):
    """``call()``'s result once it stops raising (the server just resumed)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- A: a hung store fails fast -------------------------------------------------------------------


def test_frozen_store_fails_fast_and_recovers(own_s3: S3Server) -> None:
    store = _store(own_s3)
    kept = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    ref = store.put(TENANT, kept)
    with frozen(own_s3):
        calls = {
            "write": lambda: store.put(TENANT, torch.ones(8)),
            "read": lambda: store.get(TENANT, ref),
            "ping": store.ping,
            # A fresh client that has not talked to the server yet (no pooled connection, no region).
            "open": lambda: _store(own_s3),
        }
        for what, call in calls.items():
            exc, took = _timed(call)
            print(f"hung store, {what}: {type(exc).__name__} after {took:.2f} s")
            assert isinstance(exc, Unavailable), f"{what}: {exc!r} after {took:.1f} s"
            assert exc.reason == "STORE_UNAVAILABLE", what
            assert took < FAST_S, f"{what} against a hung store took {took:.1f} s"
    # Back: the same store object (its failed connections were dropped) reads and writes again.
    torch.testing.assert_close(_eventually(lambda: store.get(TENANT, ref)), kept)
    again = store.put(TENANT, torch.ones(2))
    torch.testing.assert_close(store.get(TENANT, again), torch.ones(2))


@pytest.fixture(scope="module")
def s3_fleet(own_s3: S3Server, model_cache):
    """The in-process fleet (gateway, model host, attention, storage) on the module's S3 store."""
    from interp_services.local import LocalFleet
    from interp_services.settings import from_dict

    store = _store(own_s3)
    settings = from_dict({"api_keys": {DEV_KEY: "dev"}})
    with LocalFleet.start(settings, store=store, model_cache=model_cache) as fleet:
        yield fleet
    store.close()


def test_frozen_store_through_the_fleet(s3_fleet, own_s3: S3Server, smollm) -> None:
    ids = smollm.tokenizer("When Mary and John went to the store, John gave a drink to")["input_ids"]
    # retries=1: one attempt per call, so the time measured is the server's answer, not the SDK's retries.
    with Client(s3_fleet.endpoint, api_key=DEV_KEY, timeout=DEADLINE_S, retries=1) as client:
        stored = client.run(MODEL, tokens=[ids], capture=[SITE], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
        src = stored.activations[0].tensor
        assert src.WhichOneof("data") == "object"
        inline = client.run(MODEL, tokens=[ids], capture=[SITE], delivery=tpb.RESULT_DELIVERY_INLINE)
        want = client.to_numpy(inline.activations[0].tensor)

        def store_write():
            return client.run(MODEL, tokens=[ids], capture=[SITE], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)

        def store_read():  # the model host reads the patch source from the store
            return client.run(MODEL, tokens=[ids], interventions=[patch(SITE, src, positions=[3])], top_k=1,
                              delivery=tpb.RESULT_DELIVERY_INLINE)

        with frozen(own_s3):
            # A store write in flight while other requests arrive: they must not queue behind it.
            background: dict[str, object] = {}
            writer = threading.Thread(target=lambda: background.update(zip(("exc", "took"), _timed(store_write))))
            writer.start()
            time.sleep(0.5)
            t0 = time.monotonic()
            during = client.run(MODEL, tokens=[ids], capture=[SITE], delivery=tpb.RESULT_DELIVERY_INLINE)
            inline_took = time.monotonic() - t0
            # It finished while the write still hangs, i.e. it did not queue behind it.
            write_still_hanging = writer.is_alive()
            writer.join(DEADLINE_S + 5)
            np.testing.assert_allclose(client.to_numpy(during.activations[0].tensor), want, atol=1e-5)
            assert write_still_hanging, f"an inline request waited {inline_took:.1f} s, until a hung store write failed"

            results = {"write (in flight)": (background["exc"], background["took"])}
            results["write"] = _timed(store_write)
            results["read"] = _timed(store_read)
            results["read (storage service)"] = _timed(lambda: client.read_tensors([src]))
            print(f"hung store: inline request took {inline_took:.2f} s")
            for what, (exc, took) in results.items():
                print(f"hung store, fleet {what}: {type(exc).__name__} after {took:.2f} s")
                assert isinstance(exc, ClientUnavailable), f"{what}: {exc!r} after {took:.1f} s"
                assert exc.reason == "STORE_UNAVAILABLE", f"{what}: {exc}"
                assert took < FAST_S, f"{what} against a hung store took {took:.1f} s of a {DEADLINE_S:.0f} s deadline"
            # Requests that don't touch the store still work meanwhile.
            assert client.run(MODEL, tokens=[ids], top_k=1, delivery=tpb.RESULT_DELIVERY_INLINE).sequences

        # Recovery: the same fleet writes and reads the store again.
        out = _eventually(store_write)
        assert out.activations[0].tensor.WhichOneof("data") == "object"
        np.testing.assert_allclose(client.to_numpy(client.read_tensors([out.activations[0].tensor])[0]), want, atol=1e-5)
        assert store_read().sequences


# -- B: a second fleet on a busy port -------------------------------------------------------------


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temp dir: Ray's unix sockets under it must fit in sun_path (pytest's tmp_path may not)."""
    path = Path(tempfile.mkdtemp(prefix="interp-res-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def listener() -> Iterator[int]:
    """A plain TCP listener on a free port (another process's server, as far as a fleet can tell)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_conflict_detects_listeners(listener: int) -> None:
    assert port_conflict("127.0.0.1", listener) == f"port 127.0.0.1:{listener} is already in use by another process"
    assert port_conflict("0.0.0.0", listener) is not None  # the wildcard overlaps it too
    assert port_conflict("127.0.0.1", 0) is None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert port_conflict("127.0.0.1", port) is None  # bound-then-closed: free again


def test_port_conflict_sees_a_reuseport_grpc_server(reuseport_server: int) -> None:
    """A running fleet's gateway binds with SO_REUSEPORT; a second fleet must still see it."""
    want = f"port 127.0.0.1:{reuseport_server} is already in use by another process"
    assert port_conflict("127.0.0.1", reuseport_server) == want


@pytest.fixture
def reuseport_server() -> Iterator[int]:
    """A gRPC server bound with SO_REUSEPORT, as a running fleet's gateway is (grpc's default)."""
    server = grpc.server(futures.ThreadPoolExecutor(1), options=[("grpc.so_reuseport", 1)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(None)


@pytest.mark.parametrize("occupant", ["listener", "reuseport_server"])
def test_single_gateway_replica_refuses_a_busy_port(occupant: str, request: pytest.FixtureRequest) -> None:
    import asyncio

    from interp_services.registry import SERVICES, public_descriptors
    from interp_services.rpc.gateway import ApiKeyAuth, Gateway, GrpcChannelBackend, start_gateway_server

    port = request.getfixturevalue(occupant)
    gateway = Gateway(GrpcChannelBackend({}), ApiKeyAuth({}, required=False), public_descriptors(SERVICES))

    async def bind() -> str:
        try:
            server, _, _ = await start_gateway_server(gateway, f"127.0.0.1:{port}")
        except OSError as exc:
            return str(exc)
        await server.stop(None)  # in its own loop: a started aio server must not outlive it
        return "bound"

    assert f"127.0.0.1:{port} is already in use by another process" in asyncio.run(bind())


def test_launcher_refuses_a_busy_port_before_starting_ray(listener: int, short_tmp: Path) -> None:
    from interp_services.serve.process import FleetProcess, write_config

    config = write_config(short_tmp / "fleet.yaml", port=listener, store=short_tmp / "store", model_cache=MODEL_CACHE)
    launcher = FleetProcess(config, startup_timeout_s=90)
    t0 = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="did not start") as exc:
            launcher.start()
    finally:
        launcher.stop(force=True)  # whatever happened, leave no Ray behind
    took = time.monotonic() - t0
    assert f"port 127.0.0.1:{listener} is already in use by another process" in str(exc.value)
    assert launcher.proc is not None and launcher.proc.returncode == 2
    assert took < 15, f"refusing took {took:.1f} s (did it start Ray?)"


@pytest.mark.slow
def test_second_fleet_on_a_busy_port_fails_at_start(short_tmp: Path) -> None:
    """The measured case: a real fleet on the port, a second fleet started on the same port."""
    from interp_services.serve.process import FleetProcess, write_config

    port = free_port()
    configs = []
    for name in ("a", "b"):
        (short_tmp / name).mkdir()
        configs.append(write_config(short_tmp / name / "fleet.yaml", port=port, store=short_tmp / name / "store",
                                    model_cache=MODEL_CACHE, extra="allow_hub: false"))
    first, second = configs
    with FleetProcess(first) as fleet:
        assert fleet.endpoint == f"127.0.0.1:{port}"
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match=f"port 127.0.0.1:{port} is already in use by another process"):
            FleetProcess(second, startup_timeout_s=60).start()
        took = time.monotonic() - t0
        print(f"second fleet refused in {took:.1f} s")
        assert took < 15, f"refusing took {took:.1f} s"
        with Client(fleet.endpoint, api_key=DEV_KEY) as client:  # the first one is unharmed
            assert client.health() == "SERVING"


def test_a_gateway_started_not_serving_is_alive_but_not_ready() -> None:
    """What the Kubernetes probes see while a fleet starts: ``liveness`` SERVING at once, the
    overall status and each service NOT_SERVING until the deployment sets them (once every
    backend answers, serve/deployments.py)."""
    import asyncio

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from interp_services.registry import SERVICES, public_descriptors
    from interp_services.rpc.gateway import LIVENESS, ApiKeyAuth, Gateway, GrpcChannelBackend, start_gateway_server

    gateway = Gateway(GrpcChannelBackend({}), ApiKeyAuth({}, required=False), public_descriptors(SERVICES))
    service = SERVICES[0].descriptor.full_name

    async def probe() -> list[str]:
        server, port, health = await start_gateway_server(gateway, "127.0.0.1:0", serving=False)
        seen = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in (LIVENESS, "", service):
                seen.append((await stub.Check(health_pb2.HealthCheckRequest(service=name))).status)
            await health.set("", health_pb2.HealthCheckResponse.SERVING)
            seen.append((await stub.Check(health_pb2.HealthCheckRequest(service=""))).status)
        await server.stop(None)
        return [health_pb2.HealthCheckResponse.ServingStatus.Name(s) for s in seen]

    assert asyncio.run(probe()) == ["SERVING", "NOT_SERVING", "NOT_SERVING", "SERVING"]
