"""How one service calls another: in-process, over gRPC, or (in the serve layer) over a Ray
Serve deployment handle. Each returns the response message or raises the core error the callee
answered with, so a NOT_FOUND from the model host reaches the client as the same NOT_FOUND."""

from __future__ import annotations

from typing import Any, Protocol

import grpc

from interp.v1 import model_host_service_pb2_grpc as mh_grpc
from interp_services.rpc.context import TENANT_KEY, RecordingContext
from interp_services.rpc.errors import error_from_rpc_error, error_from_status


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
            raise error_from_status(ctx.code, ctx.details, ctx.status_trailer())
        return resp


class GrpcModelHostClient:
    """Calls the model host over a gRPC channel."""

    def __init__(self, channel: grpc.Channel, default_timeout: float = 300.0) -> None:
        self.stub = mh_grpc.ModelHostServiceStub(channel)
        self.default_timeout = default_timeout

    def call(self, method: str, request: Any, tenant: str, timeout: float | None = None) -> Any:
        try:
            return getattr(self.stub, method)(
                request, metadata=((TENANT_KEY, tenant),), timeout=timeout or self.default_timeout
            )
        except grpc.RpcError as exc:
            raise error_from_rpc_error(exc) from None
