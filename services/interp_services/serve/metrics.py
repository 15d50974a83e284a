"""Prometheus metrics of the fleet, recorded with ``ray.serve.metrics`` inside replicas (plain
``prometheus_client`` metrics inside a replica are not collected by Ray).

Names follow ``interp_<service>_<what>_<unit>``; Ray exports them on each node's metrics port
(``ray_`` prefix added by Ray).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from ray.serve import metrics

from interp_services.store.base import StoredRef, TensorStore


def _add(counter: metrics.Counter, amount: int, tags: dict[str, str]) -> None:
    """Increment by a byte count; Ray counters refuse 0 (an empty message has no bytes)."""
    if amount:
        counter.inc(amount, tags=tags)


_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]


class RayGatewayMetrics:
    """Requests, errors by code, latency and message bytes per service and method."""

    def __init__(self) -> None:
        tags = ("service", "method", "code")
        self.requests = metrics.Counter(
            "interp_gateway_requests_total", description="Requests by service, method and status code.", tag_keys=tags
        )
        self.errors = metrics.Counter(
            "interp_gateway_errors_total", description="Requests that ended with a non-OK status.", tag_keys=tags
        )
        self.latency = metrics.Histogram(
            "interp_gateway_request_latency_seconds",
            description="Request latency at the gateway.",
            boundaries=_LATENCY_BUCKETS,
            tag_keys=("service", "method"),
        )
        self.bytes = metrics.Counter(
            "interp_gateway_message_bytes_total",
            description="Serialized message bytes through the gateway.",
            tag_keys=("service", "method", "direction"),
        )

    def observe(self, service: str, method: str, code: str, seconds: float, bytes_in: int, bytes_out: int) -> None:
        tags = {"service": service, "method": method, "code": code}
        self.requests.inc(1, tags=tags)
        if code != "OK":
            self.errors.inc(1, tags=tags)
        self.latency.observe(seconds, tags={"service": service, "method": method})
        _add(self.bytes, bytes_in, {"service": service, "method": method, "direction": "in"})
        _add(self.bytes, bytes_out, {"service": service, "method": method, "direction": "out"})


def ray_histogram(name: str, description: str, boundaries: Sequence[float]) -> Callable[[float], None]:
    """A ``ray.serve.metrics`` histogram as an ``observe(value)`` function
    (``registry.HistogramFactory``)."""
    histogram = metrics.Histogram(name, description=description, boundaries=list(boundaries))
    return histogram.observe


class CountingStore:
    """A TensorStore that counts the tensor bytes each service moves through the store."""

    def __init__(self, inner: TensorStore, service: str) -> None:
        self.inner = inner
        self.bucket = inner.bucket
        self.ttl_s = inner.ttl_s
        self.service = service
        self.moved = metrics.Counter(
            "interp_store_tensor_bytes_total",
            description="Tensor object bytes written to and read from the store.",
            tag_keys=("service", "direction"),
        )

    def put(self, tenant: str, tensor: torch.Tensor, *, prefix: str = "") -> StoredRef:
        ref = self.inner.put(tenant, tensor, prefix=prefix)
        _add(self.moved, ref.byte_size, {"service": self.service, "direction": "write"})
        return ref

    def get(self, tenant: str, ref: StoredRef) -> torch.Tensor:
        t = self.inner.get(tenant, ref)
        _add(self.moved, ref.byte_size, {"service": self.service, "direction": "read"})
        return t

    def delete(self, tenant: str, ref: StoredRef) -> None:
        self.inner.delete(tenant, ref)

    def sweep(self) -> int:
        return self.inner.sweep()

    def ensure_lifecycle(self, tenants: Iterable[str] = ()) -> bool:
        ensure = getattr(self.inner, "ensure_lifecycle", None)
        return ensure(tenants) if ensure is not None else True

    def ping(self) -> None:
        self.inner.ping()
