"""The service registry: one entry per service, and everything else derives from it.

A service is its ``*_service.proto``, a core package, a thin servicer, and **one entry** in
:data:`SERVICES` below. From the entries the platform derives the plain gRPC servers used in
tests (``interp_services.local``), the gateway's routing, health and reflection entries, the Ray
Serve deployments with their settings (``interp_services.serve``), the per-service settings and
their defaults (``deployments:`` in the settings file), the CLI's ``health`` listing (through
reflection) and the test fixtures.

Example, a new service ``probing`` that reads activations from the model host::

    ServiceSpec(
        key="probing",
        descriptor=probing_service_pb2.DESCRIPTOR.services_by_name["ProbingService"],
        factory=lambda env: ProbingServicer(env.client("model_host"), env.store, env.settings),
        calls=("model_host",),
        deployment={"num_cpus": 0.25},
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.descriptor import ServiceDescriptor

from interp.v1 import (
    activations_service_pb2,
    attention_service_pb2,
    attribution_service_pb2,
    circuits_service_pb2,
    model_host_service_pb2,
    probing_service_pb2,
    storage_service_pb2,
)
from interp_services.core.attribution import ServerLimits
from interp_services.core.batching import RunBatcher
from interp_services.core.models import LoaderSettings, ModelCache
from interp_services.rpc.activations import ActivationsServicer
from interp_services.rpc.attention import AttentionServicer
from interp_services.rpc.attribution import AttributionServicer
from interp_services.rpc.circuits import CircuitsServicer
from interp_services.rpc.clients import ServiceClient
from interp_services.rpc.model_host import ModelHostServicer
from interp_services.rpc.probing import ProbingServicer
from interp_services.rpc.storage import StorageServicer
from interp_services.store.base import TensorStore

if TYPE_CHECKING:
    from interp_services.settings import FleetSettings


HistogramFactory = Callable[[str, str, Sequence[float]], Callable[[float], None]]
"""Makes a histogram metric: (name, description, bucket boundaries) -> observe(value)."""


@dataclass
class ServiceEnv:
    """What a servicer factory gets: settings, the tensor store, clients of the services it
    calls, and (for services that hold weights) the model cache of its process."""

    key: str
    settings: FleetSettings
    store: TensorStore | None
    clients: Mapping[str, ServiceClient] = field(default_factory=dict)
    model_cache: ModelCache | None = None
    histograms: HistogramFactory | None = None

    def histogram(self, name: str, description: str, boundaries: Sequence[float]) -> Callable[[float], None]:
        """An ``observe(value)`` function for a histogram metric (a no-op where the process
        exports no metrics, e.g. the plain gRPC servers of the tests)."""
        if self.histograms is None:
            return lambda value: None
        return self.histograms(name, description, boundaries)

    def client(self, key: str) -> ServiceClient:
        """The client of a service this one declared in ``calls``."""
        try:
            return self.clients[key]
        except KeyError:
            raise KeyError(f"service {self.key!r} calls {key!r} but did not declare it in ServiceSpec.calls") from None

    def models(self) -> ModelCache:
        """The model cache (only services with ``holds_weights`` get one)."""
        if self.model_cache is None:
            raise RuntimeError(f"service {self.key!r} does not hold weights (ServiceSpec.holds_weights)")
        return self.model_cache


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the fleet.

    Attributes:
        key: the settings key and deployment name, e.g. ``"attention"``.
        descriptor: the protobuf service descriptor (methods, request and response types).
        factory: builds the servicer from a :class:`ServiceEnv`.
        holds_weights: the service needs model weights in its own process (autograd or many
            forward passes next to the model); it gets a model cache and preloads models.
            Services that only read activations ask the model host instead.
        calls: keys of the services it calls (clients in ``ServiceEnv.clients``).
        public: reachable through the gateway.
        deployment: default ``DeploymentSettings`` fields of its deployment.
    """

    key: str
    descriptor: ServiceDescriptor
    factory: Callable[[ServiceEnv], Any]
    holds_weights: bool = False
    calls: tuple[str, ...] = ()
    public: bool = True
    deployment: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The full protobuf service name, e.g. ``interp.v1.AttentionService``."""
        return self.descriptor.full_name


def _limits(env: ServiceEnv):
    return env.settings.limits, env.settings.delivery


def _batcher(env: ServiceEnv) -> RunBatcher:
    """The model host's cross-request batcher, reporting each merged pass's size."""
    buckets = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    requests = env.histogram("interp_model_host_batch_requests", "RunModel requests merged into one forward pass.", buckets)
    sequences = env.histogram("interp_model_host_batch_sequences", "Sequences in one merged forward pass.", buckets)

    def observe(n_requests: int, n_sequences: int) -> None:
        requests(n_requests)
        sequences(n_sequences)

    s = env.settings
    return RunBatcher(s.batch_max_sequences, s.batch_max_tokens, enabled=s.batching, on_batch=observe)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        key="model_host",
        descriptor=model_host_service_pb2.DESCRIPTOR.services_by_name["ModelHostService"],
        factory=lambda env: ModelHostServicer(env.models(), env.store, *_limits(env), _batcher(env)),
        holds_weights=True,
        deployment={"num_cpus": 0.5, "max_ongoing_requests": 32},
    ),
    ServiceSpec(
        key="attention",
        descriptor=attention_service_pb2.DESCRIPTOR.services_by_name["AttentionService"],
        factory=lambda env: AttentionServicer(env.client("model_host"), env.store, *_limits(env)),
        calls=("model_host",),
        deployment={"num_cpus": 0.25, "max_ongoing_requests": 8},
    ),
    ServiceSpec(
        key="attribution",
        descriptor=attribution_service_pb2.DESCRIPTOR.services_by_name["AttributionService"],
        factory=lambda env: AttributionServicer(
            env.models(), env.settings.limits, ServerLimits(batch_size=env.settings.attribution_batch_size)
        ),
        holds_weights=True,
        deployment={"num_cpus": 0.5, "max_ongoing_requests": 4},
    ),
    ServiceSpec(
        key="activations",
        descriptor=activations_service_pb2.DESCRIPTOR.services_by_name["ActivationsService"],
        factory=lambda env: ActivationsServicer(env.client("model_host"), env.store, *_limits(env)),
        calls=("model_host",),
        deployment={"num_cpus": 0.25, "max_ongoing_requests": 4},
    ),
    ServiceSpec(
        key="probing",
        descriptor=probing_service_pb2.DESCRIPTOR.services_by_name["ProbingService"],
        factory=lambda env: ProbingServicer(env.client("model_host"), env.store, *_limits(env)),
        calls=("model_host",),
        deployment={"num_cpus": 0.25, "max_ongoing_requests": 4},
    ),
    ServiceSpec(
        key="circuits",
        descriptor=circuits_service_pb2.DESCRIPTOR.services_by_name["CircuitsService"],
        # Every experiment is RunModel calls: the forward and backward passes run in the model
        # host, this replica only packs batches and scores edges.
        factory=lambda env: CircuitsServicer(env.client("model_host"), env.store, *_limits(env)),
        calls=("model_host",),
        deployment={"num_cpus": 0.1, "max_ongoing_requests": 4},
    ),
    ServiceSpec(
        key="storage",
        descriptor=storage_service_pb2.DESCRIPTOR.services_by_name["StorageService"],
        factory=lambda env: StorageServicer(
            env.store, *_limits(env), sweep_interval_s=env.settings.store_sweep_interval_s, tenants=env.settings.tenants()
        ),
        deployment={"num_cpus": 0.05, "max_ongoing_requests": 16},
    ),
)
"""Every service of the fleet. Add a service here (and nowhere else)."""


def by_key(services: Sequence[ServiceSpec] = SERVICES) -> dict[str, ServiceSpec]:
    """The services keyed by ``key``; checks keys are unique and ``calls`` name known services."""
    out: dict[str, ServiceSpec] = {}
    for s in services:
        if s.key in out or s.key == "gateway":
            raise ValueError(f"duplicate or reserved service key {s.key!r}")
        out[s.key] = s
    for s in services:
        for callee in s.calls:
            if callee not in out:
                raise ValueError(f"service {s.key!r} calls unknown service {callee!r}")
    return out


def in_dependency_order(services: Sequence[ServiceSpec] = SERVICES) -> list[ServiceSpec]:
    """Services ordered so that every service comes after the ones it calls."""
    specs = by_key(services)
    done: dict[str, ServiceSpec] = {}

    def visit(key: str, path: tuple[str, ...]) -> None:
        if key in done:
            return
        if key in path:
            raise ValueError(f"services call each other in a cycle: {' -> '.join((*path, key))}")
        for callee in specs[key].calls:
            visit(callee, (*path, key))
        done[key] = specs[key]

    for s in services:
        visit(s.key, ())
    return list(done.values())


def public_descriptors(services: Sequence[ServiceSpec] = SERVICES) -> list[ServiceDescriptor]:
    """Descriptors of the services the gateway exposes."""
    return [s.descriptor for s in services if s.public]


def build_model_cache(settings: FleetSettings) -> ModelCache:
    """The model cache of a weight-holding service's process, from the settings."""
    return ModelCache(
        LoaderSettings(
            cache_dir=Path(settings.model_cache_dir).expanduser(),
            allow_hub=settings.allow_hub,
            allowed_local_roots=tuple(Path(p).expanduser() for p in settings.allowed_local_roots),
            max_tokens=settings.max_tokens,
            device=settings.device,
        ),
        max_models=settings.max_models_per_replica,
        max_bytes=settings.max_model_bytes,
    )
