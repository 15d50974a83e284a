"""Ray Serve deployments: one generic service deployment, and the gateway.

:class:`ServiceDeployment` runs any registered service: it builds the servicer with the
service's registry factory (the *same* servicer classes that run in a plain gRPC server in
tests) and serves calls that arrive as ``(method, serialized request, tenant)``, answering
:class:`~interp_services.rpc.host.Reply` objects: messages travel as bytes, never as pickled
protobuf objects, and errors keep their reason across the hop. A service calls the services it
declared in ``ServiceSpec.calls`` through deployment handles (:class:`RayServiceClient`).

The gateway deployment runs the public gRPC server (``rpc.gateway``) inside its replica and
forwards to the public services through deployment handles, so the fleet is one Serve
application and clients need no ``application`` routing metadata.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2
from ray import serve

from interp_services.core.allocator import pin_mmap_threshold
from interp_services.core.errors import Unavailable
from interp_services.core.reasons import Reason
from interp_services.registry import ServiceEnv, build_model_cache, by_key, public_descriptors
from interp_services.rpc.gateway import ApiKeyAuth, Gateway, start_gateway_server
from interp_services.rpc.host import Reply, ServicerHost, method_table
from interp_services.serve.metrics import CountingStore, RayGatewayMetrics, ray_histogram
from interp_services.settings import GATEWAY, FleetSettings, from_dict, resolve_torch_threads
from interp_services.store import TensorStore, open_store

log = logging.getLogger(__name__)


def open_fleet_store(settings: FleetSettings, service: str) -> TensorStore:
    """The tensor store as a service of the fleet opens it (counted for metrics)."""
    # Activations in the embedded store are transient working data: writes stay atomic
    # (temp file + rename) but skip fsync, which costs ~3 ms per object on this kind of disk.
    store = open_store(settings.store_url, fsync=False, ttl_s=settings.store_ttl_s, **settings.store_options())
    return CountingStore(store, service)


def configure_threads(settings: FleetSettings, deployment: str) -> int:
    """Set torch's intra-op threads for this replica (see ``settings.resolve_torch_threads``)."""
    import torch

    d = settings.deployment(deployment)
    threads = resolve_torch_threads(d.torch_threads, d.num_cpus)
    torch.set_num_threads(threads)
    # Ray exported OMP_NUM_THREADS from the CPU request; libraries that read it later agree now.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return threads


class RayServiceClient:
    """A ``ServiceClient`` over a deployment handle, for servicers running in worker threads."""

    def __init__(self, handle: Any, descriptor: ServiceDescriptor, timeout_s: float) -> None:
        self.handle = handle
        self.name = descriptor.full_name
        self.methods = method_table(descriptor)
        self.timeout_s = timeout_s

    def call(self, method: str, request: Any, tenant: str, timeout: float | None = None) -> Any:
        try:
            reply: Reply = self.handle.call.remote(method, request.SerializeToString(), tenant).result(
                timeout_s=timeout or self.timeout_s
            )
        except TimeoutError:
            raise Unavailable(Reason.BACKEND_TIMEOUT, f"{self.name} did not answer {method} in time") from None
        except Exception as exc:  # noqa: BLE001 - replica died, actor unavailable
            raise Unavailable(Reason.BACKEND_UNAVAILABLE, f"{self.name} is unavailable ({type(exc).__name__})") from None
        if reply.code != grpc.StatusCode.OK:
            raise reply.error()
        return self.methods[method].response_type.FromString(reply.body or b"")


@serve.deployment
class ServiceDeployment:
    """Any registered service, by its registry key (the deployment is named after the key)."""

    def __init__(self, key: str, settings: dict[str, Any], peers: dict[str, Any]) -> None:
        s = from_dict(settings)
        specs = by_key()
        spec = specs[key]
        threads = configure_threads(s, key)
        pin_mmap_threshold()  # large tensors from mmap: the heap would fragment (core.allocator)
        clients = {k: RayServiceClient(h, specs[k].descriptor, s.max_timeout_s) for k, h in peers.items()}
        cache = None
        if spec.holds_weights:
            cache = build_model_cache(s)
            for name in s.preloads(key):
                cache.get(name)
        servicer = spec.factory(ServiceEnv(key, s, open_fleet_store(s, key), clients, cache, histograms=ray_histogram))
        self._host = ServicerHost(servicer, spec.descriptor)
        log.info("%s ready (%d torch threads)", spec.name, threads)

    async def ready(self) -> bool:
        """Answered once a replica runs (the gateway's readiness waits for it)."""
        return True

    async def call(self, method: str, request: bytes, tenant: str) -> Reply:
        return await self._host.unary(method, request, tenant)

    async def stream(self, method: str, request: bytes, tenant: str) -> AsyncIterator[Reply]:
        async for reply in self._host.stream(method, request, tenant):
            yield reply


class RayBackend:
    """Gateway backend over deployment handles, keyed by full service name."""

    def __init__(self, handles: dict[str, Any]) -> None:
        self.handles = handles

    @staticmethod
    def _unavailable(service: str, exc: BaseException) -> Reply:
        return Reply.failure(Unavailable(Reason.BACKEND_UNAVAILABLE, f"{service} is unavailable ({type(exc).__name__})"))

    async def unary(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> Reply:
        try:
            return await self.handles[service].call.remote(method, request, tenant)
        except Exception as exc:  # noqa: BLE001 - replica died, actor unavailable
            return self._unavailable(service, exc)

    async def stream(self, service: str, method: str, request: bytes, tenant: str, timeout: float) -> AsyncIterator[Reply]:
        gen = self.handles[service].options(stream=True).stream.remote(method, request, tenant)
        try:
            async for reply in gen:
                yield reply
        except Exception as exc:  # noqa: BLE001
            yield self._unavailable(service, exc)
        finally:
            gen.cancel()  # the client went away (or the stream ended): the replica stops its work


@serve.deployment(name="gateway")
class GatewayDeployment:
    """Runs the public gRPC endpoint (auth, deadlines, metrics, health, reflection)."""

    async def __init__(self, settings: dict[str, Any], public: dict[str, Any]) -> None:
        self._server = None  # __del__ runs even when binding the port fails below
        pin_mmap_threshold()  # large messages from mmap: the heap would fragment (core.allocator)
        s = from_dict(settings)
        specs = by_key()
        backend = RayBackend({specs[k].name: handle for k, handle in public.items()})
        gateway = Gateway(
            backend,
            ApiKeyAuth(s.api_keys, required=s.require_api_key),
            public_descriptors([specs[k] for k in public]),
            metrics=RayGatewayMetrics(),
            default_timeout_s=s.default_timeout_s,
            max_timeout_s=s.max_timeout_s,
        )
        # Replicas of this gateway on one node share the port through SO_REUSEPORT; a single
        # replica binds exclusively, so it can never share the port with an unrelated server
        # (e.g. a second fleet started on the same port: that one fails to start instead).
        d = s.deployment(GATEWAY)
        self._server, self.port, self._health = await start_gateway_server(
            gateway, f"{s.host}:{s.port}", max_message_bytes=s.max_message_bytes,
            reuse_port=bool(d.autoscaling) or d.num_replicas > 1, serving=False,
        )
        self._ready = asyncio.get_running_loop().create_task(self._serve_when_backends_answer(backend.handles))
        log.info("gateway listening on %s:%d", s.host, self.port)

    async def _serve_when_backends_answer(self, handles: dict[str, Any]) -> None:
        """Health turns SERVING per service once a replica of it answers, and overall once all
        do: a readiness probe (Kubernetes) or the launcher sends no traffic to a gateway whose
        fleet is still starting, e.g. the new cluster of a RayService upgrade."""
        async def wait(name: str, handle: Any) -> None:
            while True:
                try:
                    await handle.ready.remote()
                    break
                except Exception:  # noqa: BLE001 - replica not yet up or restarting: ask again
                    await asyncio.sleep(1.0)
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)

        await asyncio.gather(*(wait(name, handle) for name, handle in handles.items()))
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info("gateway serving: every backend answers")

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
