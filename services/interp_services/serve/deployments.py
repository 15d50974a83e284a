"""Ray Serve deployments: model host, attention, gateway.

The internal deployments wrap the *same* servicer classes that run in a plain gRPC server in
tests. A call arrives as ``(method, serialized request, tenant)`` and returns
``(code, details, rich-status trailer, serialized response)``: messages travel as bytes, never
as pickled protobuf objects, and errors keep their reason across the hop.

The gateway deployment runs the public gRPC server (``rpc.gateway``) inside its replica and
forwards to the others through deployment handles, so the fleet is one Serve application and
clients need no ``application`` routing metadata.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from ray import serve

from interp.v1 import attention_service_pb2, model_host_service_pb2
from interp_services.core.errors import InvalidArgument, Unavailable
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.rpc.attention import AttentionServicer
from interp_services.rpc.context import TENANT_KEY, RecordingContext
from interp_services.rpc.errors import error_from_status, internal_status, status_of
from interp_services.rpc.gateway import ApiKeyAuth, Gateway, Reply, start_gateway_server
from interp_services.rpc.model_host import ModelHostServicer
from interp_services.serve.metrics import CountingStore, RayGatewayMetrics
from interp_services.serve.settings import FleetSettings, from_dict
from interp_services.store import TensorStore, open_store

log = logging.getLogger(__name__)

Wire = tuple[int, str, bytes | None, bytes | None]
"""(grpc code value, details, grpc-status-details-bin, response bytes)."""


def _open_store(settings: FleetSettings, service: str) -> TensorStore:
    url = settings.store_url
    # Activations in the embedded store are transient working data: writes stay atomic
    # (temp file + rename) but skip fsync, which costs ~3 ms per object on this kind of disk.
    creds = settings.store_credentials() if url.startswith("s3://") else {}
    return CountingStore(open_store(url, fsync=False, **creds), service)


def _set_threads(settings: FleetSettings) -> None:
    import torch

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)


class _ServicerHost:
    """Runs a sync servicer's methods in threads and returns wire tuples."""

    def __init__(self, servicer: Any, module: ModuleType) -> None:
        self._servicer = servicer
        self._module = module

    def _parse(self, method: str, request: bytes) -> Any:
        cls = getattr(self._module, f"{method}Request", None)
        if cls is None or not hasattr(self._servicer, method):
            raise InvalidArgument("METHOD_UNKNOWN", f"no method {method!r}")
        try:
            return cls.FromString(request)
        except DecodeError:
            raise InvalidArgument("REQUEST_MALFORMED", "the request bytes are not a valid message") from None

    @staticmethod
    def _wire(ctx: RecordingContext, body: bytes | None) -> Wire:
        if ctx.code != grpc.StatusCode.OK:
            return ctx.code.value[0], ctx.details, ctx.status_trailer(), None
        return 0, "", None, body

    @staticmethod
    def _error(exc: BaseException) -> Wire:
        code, status = status_of(exc) if isinstance(exc, InvalidArgument) else internal_status(exc)
        return code.value[0], status.message, status.SerializeToString(), None

    async def unary(self, method: str, request: bytes, tenant: str) -> Wire:
        try:
            req = self._parse(method, request)
        except InvalidArgument as exc:
            return self._error(exc)
        ctx = RecordingContext(((TENANT_KEY, tenant),))
        resp = await asyncio.to_thread(getattr(self._servicer, method), req, ctx)
        return self._wire(ctx, resp.SerializeToString())

    async def stream(self, method: str, request: bytes, tenant: str) -> AsyncIterator[Wire]:
        try:
            req = self._parse(method, request)
        except InvalidArgument as exc:
            yield self._error(exc)
            return
        ctx = RecordingContext(((TENANT_KEY, tenant),))
        gen = getattr(self._servicer, method)(req, ctx)
        done = object()
        try:
            while True:
                item = await asyncio.to_thread(next, gen, done)
                if item is done:
                    break
                yield 0, "", None, item.SerializeToString()
        except asyncio.CancelledError:
            ctx.cancel()  # the servicer sees is_active() == False and stops
            raise
        if ctx.code != grpc.StatusCode.OK:
            yield self._wire(ctx, None)


@serve.deployment(name="model_host")
class ModelHostDeployment:
    """Loads models and runs forward passes (holds the weights)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        s = from_dict(settings)
        _set_threads(s)
        cache = ModelCache(
            LoaderSettings(
                cache_dir=Path(s.model_cache_dir).expanduser(),
                allow_hub=s.allow_hub,
                allowed_local_roots=tuple(Path(p).expanduser() for p in s.allowed_local_roots),
                max_tokens=s.max_tokens,
                device=s.device,
            ),
            max_models=s.max_models_per_replica,
            max_bytes=s.max_model_bytes,
        )
        for name in s.preload_models:
            cache.get(name)
        self._host = _ServicerHost(ModelHostServicer(cache, _open_store(s, "model_host"), s.limits, s.delivery), model_host_service_pb2)

    async def call(self, method: str, request: bytes, tenant: str) -> Wire:
        return await self._host.unary(method, request, tenant)

    async def stream(self, method: str, request: bytes, tenant: str) -> AsyncIterator[Wire]:
        async for item in self._host.stream(method, request, tenant):
            yield item


class RayServiceClient:
    """A ``ServiceClient`` over a deployment handle, for servicers running in worker threads."""

    def __init__(self, handle: Any, module: ModuleType, timeout_s: float) -> None:
        self.handle = handle
        self.module = module
        self.timeout_s = timeout_s

    def call(self, method: str, request: Any, tenant: str, timeout: float | None = None) -> Any:
        try:
            code, details, trailer, body = self.handle.call.remote(method, request.SerializeToString(), tenant).result(
                timeout_s=timeout or self.timeout_s
            )
        except TimeoutError:
            raise Unavailable("BACKEND_TIMEOUT", f"the model host did not answer {method} in time") from None
        except Exception as exc:  # noqa: BLE001 - replica died, actor unavailable
            raise Unavailable("BACKEND_UNAVAILABLE", f"the model host is unavailable ({type(exc).__name__})") from None
        if code != 0:
            raise error_from_status(_CODES[code], details, trailer)
        return getattr(self.module, f"{method}Response").FromString(body)


_CODES = {c.value[0]: c for c in grpc.StatusCode}


@serve.deployment(name="attention")
class AttentionDeployment:
    """Attention analysis; reads patterns captured by the model host."""

    def __init__(self, settings: dict[str, Any], model_host: Any) -> None:
        s = from_dict(settings)
        _set_threads(s)
        client = RayServiceClient(model_host, model_host_service_pb2, s.max_timeout_s)
        servicer = AttentionServicer(client, _open_store(s, "attention"), s.limits, s.delivery)
        self._host = _ServicerHost(servicer, attention_service_pb2)

    async def call(self, method: str, request: bytes, tenant: str) -> Wire:
        return await self._host.unary(method, request, tenant)


class RayBackend:
    """Gateway backend over deployment handles."""

    def __init__(self, handles: dict[str, Any]) -> None:
        self.handles = handles

    @staticmethod
    def _reply(wire: Wire) -> Reply:
        code, details, trailer, body = wire
        return Reply(_CODES[code], details, trailer, body)

    async def unary(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> Reply:
        try:
            wire = await self.handles[service].call.remote(method, request, tenant)
        except Exception as exc:  # noqa: BLE001 - replica died, actor unavailable
            code, status = status_of(Unavailable("BACKEND_UNAVAILABLE", f"{service} is unavailable ({type(exc).__name__})"))
            return Reply(code, status.message, status.SerializeToString())
        return self._reply(wire)

    async def stream(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> AsyncIterator[Reply]:
        gen = self.handles[service].options(stream=True).stream.remote(method, request, tenant)
        try:
            async for wire in gen:
                yield self._reply(wire)
        except Exception as exc:  # noqa: BLE001
            code, status = status_of(Unavailable("BACKEND_UNAVAILABLE", f"{service} is unavailable ({type(exc).__name__})"))
            yield Reply(code, status.message, status.SerializeToString())


@serve.deployment(name="gateway")
class GatewayDeployment:
    """Runs the public gRPC endpoint (auth, deadlines, metrics, health, reflection)."""

    async def __init__(self, settings: dict[str, Any], model_host: Any, attention: Any) -> None:
        s = from_dict(settings)
        backend = RayBackend({"interp.v1.ModelHostService": model_host, "interp.v1.AttentionService": attention})
        gateway = Gateway(
            backend,
            ApiKeyAuth(s.api_keys, required=s.require_api_key),
            metrics=RayGatewayMetrics(),
            default_timeout_s=s.default_timeout_s,
            max_timeout_s=s.max_timeout_s,
        )
        self._server, self.port, self._health = await start_gateway_server(
            gateway, f"{s.host}:{s.port}", max_message_bytes=s.max_message_bytes
        )
        log.info("gateway serving on %s:%d", s.host, self.port)

    async def check_health(self) -> None:
        """Ray Serve health check: the gRPC server must still be running."""
        if self._server is None:
            raise RuntimeError("gateway server stopped")

    async def ready(self) -> int:
        """The bound port (used by the launcher to report readiness)."""
        return self.port

    async def __del__(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=5)
