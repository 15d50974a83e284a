"""The one table from core errors to gRPC status, and the servicer decorator that applies it.

A user mistake becomes INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED / ... with a
``google.rpc.Status`` carrying ``ErrorInfo{reason, domain}`` and ``BadRequest`` field violations
in the ``grpc-status-details-bin`` trailer. Anything else becomes a generic INTERNAL whose
traceback is logged server-side only, under an id the client can quote.

The decorator *sets* code, details and trailers on the context and *returns* an empty response
instead of raising: under the Ray Serve gRPC proxy (and in our Ray-handle path) a method that
raises loses its trailing metadata.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from interp_services.core import errors as E

log = logging.getLogger(__name__)

DOMAIN = "interp.v1"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

CODE_OF: dict[type[E.InterpError], grpc.StatusCode] = {
    E.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    E.NotFound: grpc.StatusCode.NOT_FOUND,
    E.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    E.Unavailable: grpc.StatusCode.UNAVAILABLE,
    E.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    E.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    E.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    E.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    E.Cancelled: grpc.StatusCode.CANCELLED,
}
ERROR_OF: dict[grpc.StatusCode, type[E.InterpError]] = {v: k for k, v in CODE_OF.items()}


def code_for(err: E.InterpError) -> grpc.StatusCode:
    """gRPC code of a core error (most specific class wins)."""
    for cls in type(err).__mro__:
        if cls in CODE_OF:
            return CODE_OF[cls]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def rich_status(code: grpc.StatusCode, message: str, reason: str, violations=(), metadata=None) -> status_pb2.Status:
    """A google.rpc.Status with ErrorInfo and, if any, BadRequest details."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata or {})
    details = [info]
    if violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description) for v in violations
                ]
            )
        )
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    return status_pb2.Status(code=code.value[0], message=message, details=packed)


def status_of(err: E.InterpError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """Code and rich status for a core error."""
    code = code_for(err)
    return code, rich_status(code, err.message, err.reason, err.violations, dict(err.metadata))


def apply_status(context: Any, code: grpc.StatusCode, status: status_pb2.Status) -> None:
    """Set code, details and the rich-status trailer on a servicer context (never raises)."""
    context.set_code(code)
    context.set_details(status.message)
    context.set_trailing_metadata(((STATUS_DETAILS_KEY, status.SerializeToString()),))


def internal_status(exc: BaseException) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """Log an unexpected exception with an id; return a generic INTERNAL status naming only the id."""
    error_id = uuid.uuid4().hex[:12]
    log.error("internal error %s", error_id, exc_info=exc)
    code = grpc.StatusCode.INTERNAL
    return code, rich_status(code, f"internal error (id {error_id}); the server log has the details", "INTERNAL", metadata={"error_id": error_id})


def error_from_status(code: grpc.StatusCode, details: str, trailing: bytes | None) -> E.InterpError:
    """Rebuild a core error from a status (used by internal clients to pass errors through)."""
    reason, violations, metadata = "UNKNOWN", [], {}
    if trailing:
        st = status_pb2.Status.FromString(trailing)
        for d in st.details:
            if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                d.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                br = error_details_pb2.BadRequest()
                d.Unpack(br)
                violations = [E.FieldViolation(v.field, v.description) for v in br.field_violations]
    cls = ERROR_OF.get(code)
    if cls is None:
        # INTERNAL or UNKNOWN from a backend: do not leak its text, keep its id.
        return E.Unavailable("BACKEND_ERROR", f"a backend service failed: {details}", metadata=metadata)
    return cls(reason, details, violations, metadata)


def error_from_rpc_error(exc: grpc.RpcError) -> E.InterpError:
    """Rebuild a core error from a grpc.RpcError raised by a stub call."""
    trailing = None
    for key, value in exc.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == STATUS_DETAILS_KEY:
            trailing = value
    code = exc.code()  # type: ignore[attr-defined]
    if code == grpc.StatusCode.UNAVAILABLE and trailing is None:
        return E.Unavailable("BACKEND_UNAVAILABLE", f"backend unavailable: {exc.details()}")  # type: ignore[attr-defined]
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and trailing is None:
        return E.DeadlineExceeded("DEADLINE_EXCEEDED", "the backend did not answer before the deadline")
    return error_from_status(code, exc.details() or "", trailing)  # type: ignore[attr-defined]


assert code_pb2.INVALID_ARGUMENT == grpc.StatusCode.INVALID_ARGUMENT.value[0]  # the two enums agree


def rpc_method(response_type: Callable[[], Any]) -> Callable:
    """Decorate a servicer method (unary or server-streaming) with the error table.

    Example:
        >>> class S(pb_grpc.ModelHostServiceServicer):
        ...     @rpc_method(pb.ListModelsResponse)
        ...     def ListModels(self, request, context): ...
    """

    def deco(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(self, request, context):
                try:
                    yield from fn(self, request, context)
                except E.InterpError as err:
                    apply_status(context, *status_of(err))
                except Exception as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback
                    apply_status(context, *internal_status(exc))

            return stream

        @functools.wraps(fn)
        def unary(self, request, context):
            try:
                return fn(self, request, context)
            except E.InterpError as err:
                apply_status(context, *status_of(err))
            except Exception as exc:  # noqa: BLE001
                apply_status(context, *internal_status(exc))
            return response_type()

        return unary

    return deco
