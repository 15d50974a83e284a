"""Typed client exceptions built from ``grpc.RpcError``, carrying the server's reason.

Example:
    >>> try:
    ...     client.model_info("gpt2")
    ... except NotFound as e:
    ...     print(e.reason)   # MODEL_NOT_FOUND
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class FieldViolation:
    """One bad request field, as the server reported it."""

    field: str
    description: str


class InterpClientError(Exception):
    """Base class: ``code`` (grpc.StatusCode), ``reason`` (e.g. ``LAYER_OUT_OF_RANGE``, one of
    the contract's ``interp.v1.ErrorReason`` names without the ``ERROR_REASON_`` prefix),
    ``message``, ``violations`` and ``metadata`` from the server's ``google.rpc.Status``."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, reason: str = "", violations=None, metadata=None, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.violations: list[FieldViolation] = list(violations or [])
        self.metadata: dict[str, str] = dict(metadata or {})
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"


class InvalidArgument(InterpClientError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(InterpClientError):
    code = grpc.StatusCode.NOT_FOUND


class ResourceExhausted(InterpClientError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(InterpClientError):
    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(InterpClientError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(InterpClientError):
    code = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(InterpClientError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class DeadlineExceeded(InterpClientError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(InterpClientError):
    code = grpc.StatusCode.CANCELLED


class Internal(InterpClientError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        ResourceExhausted,
        Unavailable,
        Unauthenticated,
        PermissionDenied,
        FailedPrecondition,
        DeadlineExceeded,
        Cancelled,
        Internal,
    )
}


def from_rpc_error(exc: grpc.RpcError) -> InterpClientError:
    """Translate a gRPC error, unpacking the ``google.rpc.Status`` details (ErrorInfo, BadRequest)."""
    code = exc.code()  # type: ignore[attr-defined]
    reason, violations, metadata = "", [], {}
    try:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except ValueError:  # a trailer that disagrees with the call's code or message: ignore it
        status = None
    for d in status.details if status is not None else ():
        if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            d.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            d.Unpack(br)
            violations = [FieldViolation(v.field, v.description) for v in br.field_violations]
    cls = _BY_CODE.get(code, InterpClientError)
    return cls(exc.details() or "", reason, violations, metadata, code=code)  # type: ignore[attr-defined]


class UsageError(ValueError):
    """A command-line flag value that cannot be used (the CLI exits with status 2). Defined here,
    not in ``cli``, so that commands in other modules raise the class ``python -m
    interpretability.cli`` catches (run as ``__main__``, ``cli`` is a second module object)."""
