"""Failure modes of the deployment around the services: a hung object store, a busy port, and a
servicer that fails unexpectedly.

A hung store is a real SeaweedFS server frozen with SIGSTOP (what a network partition looks like
to a client: the kernel still accepts connections, nothing answers). The server is owned by this
module, never the session-wide one other tests share. A store call against it must answer
UNAVAILABLE (STORE_UNAVAILABLE) within seconds, not after the caller's whole deadline, without
holding up requests that don't touch the store, and work again once the server resumes.

A store that refuses connections or answers 5xx is retried ``store_retries`` times and then
answers UNAVAILABLE (STORE_UNAVAILABLE): attempts are counted at a tiny local HTTP server that
answers 503, and at the client's own connection calls where nothing listens.

A busy port is a plain listening socket or gRPC server on the fleet's port: ``interp serve``
must refuse to start there (it used to share the port through SO_REUSEPORT and print READY).

An unexpected exception inside a servicer (a core function made to raise ``RuntimeError``) must
reach the client as a generic INTERNAL naming only an error id -- no exception text, no
traceback, in the message or the trailers -- while the server log has the traceback under that id.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch
import urllib3

from interp.v1 import common_pb2, model_host_service_pb2, model_host_service_pb2_grpc
from interp.v1 import tensor_pb2 as tpb
from interp_services.core.errors import Unavailable
from interp_services.rpc.gateway import port_conflict
from interp_services.settings import from_dict
from interp_services.store import S3TensorStore, StoredRef, open_store
from interpretability import Client, patch
from interpretability.errors import Internal as ClientInternal
from interpretability.errors import Unavailable as ClientUnavailable
from tests.conftest import DEV_KEY, MODEL_CACHE, free_port
from tests.support.seaweed import S3Server, frozen, seaweed_s3

TENANT = "acme"
BUCKET = "interp-resilience"
MODEL = "smollm2-135m"
SITE = "blocks.2.hook_resid_pre"
# The README's numbers: a hung store answers "within about 5 s" -- store_read_timeout_s (5 s) runs
# out once, and a timeout is never retried (store_connect_timeout_s, 2 s, does not add up: the
# kernel of a frozen server still accepts the connection). 1 s of slack for a busy 2-core machine.
README_TIMEOUTS = {"store_connect_timeout_s": 2.0, "store_read_timeout_s": 5.0, "store_retries": 2}
FAST_S = README_TIMEOUTS["store_read_timeout_s"] + 1.0
DEADLINE_S = 60.0  # the client's deadline: far longer than FAST_S
# Through the fleet a request also runs the model and crosses two gRPC hops besides its store
# call: ~0.2 s on an idle machine, measured 3-4.4 s on 2 cores at load average 6-7, so this leaves
# room for more. The store's own share is held to FAST_S separately (each store call the services
# make is timed); the end-to-end bound only shows the answer does not wait for the deadline.
FLEET_WORK_S = 10.0
# Refused connections and 5xx replies come back in milliseconds; with urllib3's 0.1 s backoff
# (0, 0.2, 0.4 s between attempts) three retries wait 0.6 s. Well under any timeout.
RETRIES_FAST_S = 3.0


@pytest.fixture(scope="module")
def own_s3() -> Iterator[S3Server]:
    """A SeaweedFS server for this module alone: freezing it cannot break other tests."""
    with seaweed_s3() as server:
        yield server


def test_store_failure_settings_default_to_the_readme_numbers() -> None:
    """The hung-store bound below assumes a fleet's default store settings are the README's."""
    settings = from_dict({})
    assert {k: getattr(settings, k) for k in README_TIMEOUTS} == README_TIMEOUTS


def _store(server: S3Server) -> S3TensorStore:
    """A store on ``server`` with the README's timeouts and retries (``open_store`` options)."""
    options = {"connect_timeout_s": README_TIMEOUTS["store_connect_timeout_s"],
               "read_timeout_s": README_TIMEOUTS["store_read_timeout_s"], "retries": README_TIMEOUTS["store_retries"]}
    store = open_store(server.url(BUCKET), access_key=server.access_key, secret_key=server.secret_key, **options)
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

    store = _store(own_s3)
    settings = from_dict({"api_keys": {DEV_KEY: "dev"}})
    with LocalFleet.start(settings, store=store, model_cache=model_cache) as fleet:
        yield fleet, store
    store.close()


def _time_store_calls(store: S3TensorStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, BaseException | None, float]]:
    """Record ``(method, exception or None, seconds)`` of every put/get/delete the services make."""
    seen: list[tuple[str, BaseException | None, float]] = []
    for name in ("put", "get", "delete"):
        method = getattr(store, name)

        def timed(*args, _name=name, _method=method, **kwargs):
            t0 = time.monotonic()
            try:
                out = _method(*args, **kwargs)
            except BaseException as exc:
                seen.append((_name, exc, time.monotonic() - t0))
                raise
            seen.append((_name, None, time.monotonic() - t0))
            return out

        monkeypatch.setattr(store, name, timed)
    return seen


def test_frozen_store_through_the_fleet(s3_fleet, own_s3: S3Server, smollm, monkeypatch) -> None:
    fleet, store = s3_fleet
    ids = smollm.tokenizer("When Mary and John went to the store, John gave a drink to")["input_ids"]
    store_calls = _time_store_calls(store, monkeypatch)
    # retries=1: one attempt per call, so the time measured is the server's answer, not the SDK's retries.
    with Client(fleet.endpoint, api_key=DEV_KEY, timeout=DEADLINE_S, retries=1) as client:
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
            store_calls.clear()
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
                assert took < FAST_S + FLEET_WORK_S, f"{what} against a hung store took {took:.1f} s of a {DEADLINE_S:.0f} s deadline"
            # The store's own share: every call the services made failed within the README's bound.
            assert len(store_calls) >= len(results), store_calls
            for name, exc, took in store_calls:
                print(f"hung store, fleet's store.{name}: {type(exc).__name__} after {took:.2f} s")
                assert isinstance(exc, Unavailable) and exc.reason == "STORE_UNAVAILABLE", f"store.{name}: {exc!r}"
                assert took < FAST_S, f"store.{name} against a hung store took {took:.1f} s"
            # Requests that don't touch the store still work meanwhile.
            assert client.run(MODEL, tokens=[ids], top_k=1, delivery=tpb.RESULT_DELIVERY_INLINE).sequences

        # Recovery: the same fleet writes and reads the store again.
        out = _eventually(store_write)
        assert out.activations[0].tensor.WhichOneof("data") == "object"
        np.testing.assert_allclose(client.to_numpy(client.read_tensors([out.activations[0].tensor])[0]), want, atol=1e-5)
        assert store_read().sequences


# -- A2: refused connections and 5xx replies are retried store_retries times ---------------------


class _Count503(ThreadingHTTPServer):
    """An HTTP server answering every request 503 (a store restarting or overloaded); ``seen``
    lists each request as ``(method, path)``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer503)
        self.seen: list[tuple[str, str]] = []


class _Answer503(BaseHTTPRequestHandler):
    server: _Count503

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path.split("?")[0]))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # keep the connection usable
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _answer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def answers_503() -> Iterator[_Count503]:
    server = _Count503()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _store_from_settings(port: int, retries: int, monkeypatch: pytest.MonkeyPatch) -> S3TensorStore:
    """The store a deployment opens (``open_store(store_url, **settings.store_options())``) on
    ``127.0.0.1:port``. The region is given, so every call below is one S3 request (no bucket
    location lookup first)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "resilience-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "resilience-secret")
    settings = from_dict({"store_url": f"s3://127.0.0.1:{port}/{BUCKET}", "store_retries": retries, "store_region": "us-east-1"})
    store = open_store(settings.store_url, create_bucket=False, **settings.store_options())
    assert isinstance(store, S3TensorStore)
    return store


def _store_calls(store: S3TensorStore) -> dict[str, tuple[Callable[[], object], tuple[str, str]]]:
    """One call of each kind: (call, the S3 request it makes as (method, path))."""
    ref = StoredRef(bucket=BUCKET, key=f"{TENANT}/{'0' * 32}.safetensors", byte_size=8, sha256="0" * 64)
    return {
        "write": (lambda: store.put(TENANT, torch.ones(2)), ("PUT", f"/{BUCKET}/{TENANT}/")),
        "read": (lambda: store.get(TENANT, ref), ("GET", f"/{BUCKET}/{ref.key}")),
        "ping": (store.ping, ("HEAD", f"/{BUCKET}")),
    }


@pytest.mark.parametrize("retries", [0, 2, 3])
def test_5xx_replies_are_retried_store_retries_times(answers_503: _Count503, retries: int, monkeypatch) -> None:
    store = _store_from_settings(answers_503.server_address[1], retries, monkeypatch)
    for what, (call, (method, path)) in _store_calls(store).items():
        answers_503.seen.clear()
        exc, took = _timed(call)
        assert isinstance(exc, Unavailable), f"{what}: {exc!r}"
        assert exc.reason == "STORE_UNAVAILABLE", what
        assert len(answers_503.seen) == 1 + retries, f"{what}: {answers_503.seen}"
        assert all(m == method and p.startswith(path) for m, p in answers_503.seen), f"{what}: {answers_503.seen}"
        assert took < RETRIES_FAST_S, f"{what}: {took:.1f} s for {1 + retries} answers in milliseconds"
    store.close()


@pytest.mark.parametrize("retries", [0, 2, 3])
def test_refused_connections_are_retried_store_retries_times(retries: int, monkeypatch) -> None:
    """Nothing listens on the port; each attempt is one connect through urllib3's own
    ``create_connection`` (counted here), refused by the kernel."""
    port = free_port()
    attempts: list[tuple[str, int]] = []
    connect = urllib3.util.connection.create_connection

    def counted(address, *args, **kwargs):
        attempts.append(address)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    store = _store_from_settings(port, retries, monkeypatch)
    for what, (call, _) in _store_calls(store).items():
        attempts.clear()
        exc, took = _timed(call)
        assert isinstance(exc, Unavailable), f"{what}: {exc!r}"
        assert exc.reason == "STORE_UNAVAILABLE", what
        assert attempts == [("127.0.0.1", port)] * (1 + retries), f"{what}: {attempts}"
        assert took < RETRIES_FAST_S, f"{what}: {took:.1f} s to be refused {1 + retries} times"
    store.close()


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


# -- C: an unexpected failure inside a servicer -----------------------------------------------------


def test_an_unexpected_failure_is_a_generic_internal_with_an_error_id(local_fleet, monkeypatch, caplog) -> None:
    """README: "Unexpected failures are a generic INTERNAL with an error id; the traceback stays in
    the server log". The model host's ``tokenize`` raises; the call goes through the gateway."""
    from interp_services.rpc import model_host

    secret = "tokenizer-state-7f3a9c"  # stands for whatever an exception might carry

    def broken(*args, **kwargs):
        raise RuntimeError(f"unexpected failure holding {secret}")

    monkeypatch.setattr(model_host, "tokenize", broken)
    caplog.set_level(logging.ERROR)
    with Client(local_fleet.endpoint, api_key=DEV_KEY, retries=1) as client:
        with pytest.raises(ClientInternal) as caught:
            client.tokenize(MODEL, ["hello"])
    err = caught.value
    assert err.code == grpc.StatusCode.INTERNAL and err.reason == "INTERNAL", err
    assert set(err.metadata) == {"error_id"}, err.metadata
    error_id = err.metadata["error_id"]
    assert re.fullmatch(r"[0-9a-f]{8,}", error_id) and error_id in err.message, err.message
    for leak in (secret, "RuntimeError", "Traceback", ".py"):
        assert leak not in err.message, (leak, err.message)

    # The raw answer, trailers included (the SDK reads only the details it knows).
    request = model_host_service_pb2.TokenizeRequest(model=MODEL, texts=common_pb2.TextBatch(texts=["hello"]))
    with grpc.insecure_channel(local_fleet.endpoint) as channel:
        stub = model_host_service_pb2_grpc.ModelHostServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raw:
            stub.Tokenize(request, metadata=(("x-api-key", DEV_KEY),), timeout=30)
    assert raw.value.code() == grpc.StatusCode.INTERNAL
    answered = raw.value.details().encode() + b"".join(
        v if isinstance(v, bytes) else v.encode() for _, v in raw.value.trailing_metadata() or ())
    for leak in (secret, "RuntimeError", "Traceback", ".py"):
        assert leak.encode() not in answered, leak

    # The server log: each failure once, with the traceback, under the id the client saw.
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(logged) == 2, [r.getMessage() for r in caplog.records]
    for record in logged:
        text = logging.Formatter().format(record)
        assert "Traceback" in text and secret in text, text
    assert error_id in logged[0].getMessage() and error_id not in logged[1].getMessage()
    second_id = re.findall(r"[0-9a-f]{8,}", logged[1].getMessage())
    assert len(second_id) == 1 and second_id[0] in raw.value.details()  # each failure has its own id
