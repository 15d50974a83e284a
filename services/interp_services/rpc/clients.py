"""How one service calls another: in process, over gRPC, or (in the serve layer) over a Ray
Serve deployment handle. Each returns the response message or raises the core error the callee
answered with, so a NOT_FOUND from the model host reaches the client as the same NOT_FOUND.

Clients are built from the callee's ``ServiceDescriptor``: nothing here is specific to a service.
"""

from __future__ import annotations

from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from interp_services.rpc.context import TENANT_KEY, RecordingContext
from interp_services.rpc.errors import error_from_rpc_error
from interp_services.rpc.host import Reply, method_table


class ServiceClient(Protocol):
    """Calls unary methods of one service by name."""

    def call(self, method: str, request: Any, tenant: str, timeout: float | None = None) -> Any:
        """Invoke ``method`` and return its response; raise the callee's error as InterpError."""
        ...


class InProcessClient:
    """Calls a servicer object directly (single process, tests)."""

    def __init__(self, servicer: Any) -> None:
        self.servicer = servicer

    def call(self, method: str, request: Any, tenant: str, timeout: float | None = None) -> Any:
        ctx = RecordingContext(((TENANT_KEY, tenant),))
        resp = getattr(self.servicer, method)(request, ctx)
        if ctx.code != grpc.StatusCode.OK:
            raise Reply.from_context(ctx).error()
        return resp


class GrpcServiceClient:
    """Calls a service over a gRPC channel, with the tenant in the call's metadata."""

    def __init__(self, channel: grpc.Channel, descriptor: ServiceDescriptor, default_timeout: float = 300.0) -> None:
        self.default_timeout = default_timeout
        self._calls = {
            name: channel.unary_unary(m.path, request_serializer=m.request_type.SerializeToString, response_deserializer=m.response_type.FromString)
            for name, m in method_table(descriptor).items()
            if not m.server_streaming
        }

    def call(self, method: str, request: Any, tenant: str, timeout: float | None = None) -> Any:
        try:
            return self._calls[method](request, metadata=((TENANT_KEY, tenant),), timeout=timeout or self.default_timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc_error(exc) from None
