"""Run the registered services without Ray: each in its own plain gRPC server on a free port,
calling each other over gRPC as separate deployments do, with the gateway in front.

Used by the servicer tests (a whole fleet in one process, in about a second) and by anyone who
wants the fleet in one process. Everything is derived from the registry entries.

Example:
    >>> with LocalFleet.start(settings, store=store, model_cache=cache) as fleet:
    ...     client = Client(fleet.endpoint, api_key="interp-dev-key")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from interp_services.core.models import ModelCache
from interp_services.registry import SERVICES, ServiceEnv, ServiceSpec, by_key, in_dependency_order, public_descriptors
from interp_services.rpc.clients import GrpcServiceClient
from interp_services.rpc.gateway import ApiKeyAuth, Gateway, GrpcChannelBackend, start_gateway_server
from interp_services.rpc.server import create_server
from interp_services.settings import FleetSettings
from interp_services.store.base import TensorStore

_CHANNEL_OPTIONS = (("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20))


@dataclass
class LocalFleet:
    """Servers, ports and servicers of a local fleet; ``endpoint`` is the gateway's address."""

    ports: dict[str, int] = field(default_factory=dict)
    servicers: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""
    _servers: list[grpc.Server] = field(default_factory=list)
    _channels: list[grpc.Channel] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _gateway: Any = None

    @classmethod
    def start(
        cls,
        settings: FleetSettings,
        *,
        store: TensorStore | None,
        model_cache: ModelCache | None = None,
        services: Sequence[ServiceSpec] = SERVICES,
        gateway: bool = True,
        host: str = "127.0.0.1",
    ) -> LocalFleet:
        """Start every service (callees first) and, unless ``gateway=False``, the gateway.

        Args:
            settings: fleet settings (limits, delivery policy, API keys, timeouts).
            store: the tensor store every service shares.
            model_cache: the cache given to services that hold weights (one shared cache, so a
                test loads each model once); built from the settings when None.
            services: the registry entries to run.
        """
        from interp_services.core.allocator import pin_mmap_threshold
        from interp_services.registry import build_model_cache

        pin_mmap_threshold()  # as every deployment does (core.allocator)
        fleet = cls()
        specs = by_key(services)
        try:
            for spec in in_dependency_order(services):
                clients = {}
                for callee in spec.calls:
                    channel = grpc.insecure_channel(f"{host}:{fleet.ports[callee]}", options=_CHANNEL_OPTIONS)
                    fleet._channels.append(channel)
                    clients[callee] = GrpcServiceClient(channel, specs[callee].descriptor, settings.max_timeout_s)
                cache = None
                if spec.holds_weights:
                    cache = model_cache if model_cache is not None else build_model_cache(settings)
                servicer = spec.factory(ServiceEnv(spec.key, settings, store, clients, cache))
                server, port = create_server(f"{host}:0", [(spec.descriptor, servicer)], max_message_bytes=settings.max_message_bytes)
                fleet._servers.append(server)
                fleet.ports[spec.key] = port
                fleet.servicers[spec.key] = servicer
            if gateway:
                fleet._start_gateway(settings, services, host)
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def _start_gateway(self, settings: FleetSettings, services: Sequence[ServiceSpec], host: str) -> None:
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="local-gateway", daemon=True).start()
        self._loop = loop

        async def start() -> int:
            backend = GrpcChannelBackend(
                {s.name: grpc.aio.insecure_channel(f"{host}:{self.ports[s.key]}", options=_CHANNEL_OPTIONS) for s in services if s.public}
            )
            gw = Gateway(
                backend,
                ApiKeyAuth(settings.api_keys, required=settings.require_api_key),
                public_descriptors(services),
                default_timeout_s=settings.default_timeout_s,
                max_timeout_s=settings.max_timeout_s,
            )
            self._gateway, port, _ = await start_gateway_server(gw, f"{host}:0", max_message_bytes=settings.max_message_bytes)
            return port

        port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        self.endpoint = f"{host}:{port}"

    def stop(self) -> None:
        """Stop the gateway, the servers and the channels."""
        if self._loop is not None:
            if self._gateway is not None:
                asyncio.run_coroutine_threadsafe(self._gateway.stop(None), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        for ch in self._channels:
            ch.close()
        for server in self._servers:
            server.stop(None)
        self._channels.clear()
        self._servers.clear()

    def __enter__(self) -> LocalFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
