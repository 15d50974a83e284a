"""The gateway: the one public gRPC endpoint.

It authenticates (API key -> tenant), applies deadlines, counts requests, errors and latency per
service and method, and forwards each call *as bytes* to the backend service (no re-parsing),
replaying the backend's status, details and rich-status trailer. It also serves the standard
``grpc.health.v1.Health`` and server reflection, so ``buf curl``/``grpcurl`` work without the
protos and with no routing metadata.

The services it exposes are whatever descriptors it is given (the registry's public services);
the backend is pluggable: gRPC channels to separate servers (tests, ``interp_services.local``,
non-Ray deployments) or Ray Serve deployment handles (``serve.deployments``).
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from interp_services.core.errors import DeadlineExceeded, Unauthenticated
from interp_services.core.reasons import Reason
from interp_services.rpc.context import TENANT_KEY
from interp_services.rpc.host import Reply, method_table

log = logging.getLogger(__name__)

DEV_API_KEY = "interp-dev-key"
"""The documented development key (``settings.example.yaml``); replace it in production."""


class AsyncBackend(Protocol):
    """Forwards serialized requests to the service that implements them."""

    async def unary(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> Reply:
        """One unary call."""
        ...

    def stream(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> AsyncIterator[Reply]:
        """One server-streaming call; a non-OK Reply ends the stream."""
        ...


class Metrics(Protocol):
    """What the gateway records per call."""

    def observe(self, service: str, method: str, code: str, seconds: float, bytes_in: int, bytes_out: int) -> None:
        """Record one finished call."""
        ...


class NullMetrics:
    """Records nothing."""

    def observe(self, service: str, method: str, code: str, seconds: float, bytes_in: int, bytes_out: int) -> None:
        return None


class ApiKeyAuth:
    """Maps API keys to tenants; with ``required=False`` unauthenticated calls get ``default``."""

    def __init__(self, keys: Mapping[str, str], required: bool = True) -> None:
        self._keys = dict(keys)
        self.required = required

    def tenant(self, metadata) -> str:
        """The caller's tenant, from ``x-api-key`` or ``authorization: Bearer``.

        Raises:
            Unauthenticated: no key, or an unknown key, where keys are required.
        """
        presented = None
        for key, value in metadata or ():
            if key == "x-api-key":
                presented = value
            elif key == "authorization" and value.lower().startswith("bearer "):
                presented = value[7:].strip()
        if presented is not None:
            for known, tenant in self._keys.items():
                if hmac.compare_digest(known.encode(), presented.encode()):
                    return tenant
            raise Unauthenticated(Reason.API_KEY_INVALID, "the API key is not valid")
        if self.required:
            raise Unauthenticated(Reason.API_KEY_MISSING, "send an API key in the x-api-key metadata entry")
        return "default"


class GrpcChannelBackend:
    """Forwards to separate gRPC servers, one aio channel per service name."""

    def __init__(self, channels: Mapping[str, grpc.aio.Channel]) -> None:
        self.channels = dict(channels)

    @staticmethod
    def _reply(err: grpc.aio.AioRpcError) -> Reply:
        try:
            status = rpc_status.from_call(err)  # type: ignore[arg-type]
        except ValueError:  # a trailer that disagrees with the call is dropped, not forwarded
            status = None
        return Reply(err.code(), err.details() or "", status.SerializeToString() if status is not None else None)

    async def unary(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> Reply:
        call = self.channels[service].unary_unary(f"/{service}/{method}")
        try:
            body = await call(request, timeout=timeout, metadata=((TENANT_KEY, tenant),))
        except grpc.aio.AioRpcError as err:
            return self._reply(err)
        return Reply(grpc.StatusCode.OK, body=body)

    async def stream(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> AsyncIterator[Reply]:
        call = self.channels[service].unary_stream(f"/{service}/{method}")(request, timeout=timeout, metadata=((TENANT_KEY, tenant),))
        try:
            async for body in call:
                yield Reply(grpc.StatusCode.OK, body=body)
        except grpc.aio.AioRpcError as err:
            yield self._reply(err)
        finally:
            call.cancel()  # a no-op after the end; when the client went away, the backend stops too


def _observe(metrics: Metrics, *args) -> None:
    """Record a finished call; a metrics failure must never change the call's outcome."""
    try:
        metrics.observe(*args)
    except Exception:  # noqa: BLE001
        log.exception("recording metrics failed")


def _apply(context: grpc.aio.ServicerContext, reply: Reply) -> None:
    context.set_code(reply.code)
    context.set_details(reply.details)
    if reply.status:
        # The backend's google.rpc.Status, forwarded as the standard trailer.
        context.set_trailing_metadata(((rpc_status.GRPC_DETAILS_METADATA_KEY, reply.status),))


class Gateway:
    """Builds the generic handlers of the public services."""

    def __init__(
        self,
        backend: AsyncBackend,
        auth: ApiKeyAuth,
        services: Sequence[ServiceDescriptor],
        *,
        metrics: Metrics | None = None,
        default_timeout_s: float = 120.0,
        max_timeout_s: float = 900.0,
    ) -> None:
        self.backend = backend
        self.services = tuple(services)
        self.auth = auth
        self.metrics = metrics or NullMetrics()
        self.default_timeout_s = default_timeout_s
        self.max_timeout_s = max_timeout_s

    def _timeout(self, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None or remaining > self.max_timeout_s:
            return self.default_timeout_s if remaining is None else self.max_timeout_s
        return max(remaining, 0.001)

    def _fail(self, context: grpc.aio.ServicerContext, exc: BaseException) -> grpc.StatusCode:
        if isinstance(exc, asyncio.TimeoutError):
            exc = DeadlineExceeded(Reason.DEADLINE_EXCEEDED, "the request did not finish before its deadline")
        reply = Reply.failure(exc)
        _apply(context, reply)
        return reply.code

    def _unary(self, service: str, method: str):
        async def handler(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            start = time.perf_counter()
            code, out = grpc.StatusCode.OK, b""
            try:
                tenant = self.auth.tenant(context.invocation_metadata())
                reply = await asyncio.wait_for(
                    self.backend.unary(service, method, request, tenant, self._timeout(context)), self._timeout(context)
                )
                code = reply.code
                if reply.code == grpc.StatusCode.OK:
                    out = reply.body or b""
                else:
                    _apply(context, reply)
            except Exception as exc:  # noqa: BLE001 - the public boundary
                code = self._fail(context, exc)
            finally:
                _observe(self.metrics, service, method, code.name, time.perf_counter() - start, len(request), len(out))
            return out

        return handler

    def _stream(self, service: str, method: str):
        async def handler(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            start = time.perf_counter()
            code, sent = grpc.StatusCode.OK, 0
            try:
                tenant = self.auth.tenant(context.invocation_metadata())
                deadline = time.monotonic() + self._timeout(context)
                async for reply in self.backend.stream(service, method, request, tenant, self._timeout(context)):
                    if time.monotonic() > deadline:
                        raise asyncio.TimeoutError
                    if reply.code != grpc.StatusCode.OK:
                        code = reply.code
                        _apply(context, reply)
                        return
                    sent += len(reply.body or b"")
                    yield reply.body or b""
            except Exception as exc:  # noqa: BLE001
                code = self._fail(context, exc)
            finally:
                _observe(self.metrics, service, method, code.name, time.perf_counter() - start, len(request), sent)

        return handler

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """One generic handler per public service, forwarding raw bytes."""
        out = []
        for svc in self.services:
            methods = {}
            for m in method_table(svc).values():
                if m.server_streaming:
                    methods[m.name] = grpc.unary_stream_rpc_method_handler(self._stream(svc.full_name, m.name))
                else:
                    methods[m.name] = grpc.unary_unary_rpc_method_handler(self._unary(svc.full_name, m.name))
            out.append(grpc.method_handlers_generic_handler(svc.full_name, methods))
        return out


def port_conflict(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served by a new fleet, or None if it can.

    Binds a plain socket there without ``SO_REUSEPORT`` (then closes it), so a port that another
    process already listens on -- another fleet's gateway included, whose gRPC server set
    ``SO_REUSEPORT`` -- is reported instead of silently shared. On Linux ``SO_REUSEADDR`` is set
    so that connections of an earlier, stopped server still in TIME_WAIT are not a conflict (it
    never lets two sockets listen on one port there). Port 0 (pick one) never conflicts.
    """
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as sock:
            if sys.platform.startswith("linux"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"port {host}:{port} is already in use by another process"
                return f"cannot bind {host}:{port}: {exc.strerror or exc}"
    return None


LIVENESS = "liveness"
"""Health-check name that is SERVING while the gateway's server runs, whatever its backends do
(a Kubernetes liveness probe asks for it; readiness asks for the overall status, "")."""


async def start_gateway_server(
    gateway: Gateway, address: str, *, max_message_bytes: int = 64 << 20, reuse_port: bool = False, serving: bool = True
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """Start the public server on ``address`` (``host:0`` picks a port).

    Args:
        serving: start with every service (and the overall status) SERVING; False starts them
            NOT_SERVING for the caller to set once its backends answer (:data:`LIVENESS` is
            SERVING either way).
        reuse_port: bind with ``SO_REUSEPORT``, so that several gateway replicas of *one* fleet
            on a node share the port (the kernel spreads connections over them). Off, the bind
            is exclusive and fails when any other process already listens there -- grpc's own
            default is on, which let a second, unrelated fleet silently share a busy port. The
            launcher refuses a busy port before starting either way (``port_conflict``).

    Raises:
        OSError: the address cannot be bound (e.g. in use by another process).

    Returns:
        (server, bound port, health servicer) -- set NOT_SERVING on the health servicer to drain.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
    )
    server.add_generic_rpc_handlers(gateway.handlers())
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [s.full_name for s in gateway.services]
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *names]:
        await health_servicer.set(name, status)
    await health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpc >= 1.6x raises "Failed to bind to address ..." instead of returning 0
        port = 0
    if port == 0:
        host, _, port_text = address.rpartition(":")
        why = port_conflict(host.strip("[]"), int(port_text)) if port_text.isdigit() else None
        raise OSError(f"cannot bind the gateway to {address}" + (f": {why}" if why else ""))
    await server.start()
    return server, port, health_servicer
