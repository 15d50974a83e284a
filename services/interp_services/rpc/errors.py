"""The one table from core errors to gRPC status, and the servicer decorator that applies it.

A user mistake becomes INVALID_ARGUMENT / NOT_FOUND / RESOURCE_EXHAUSTED / ... with a
``google.rpc.Status`` carrying ``ErrorInfo{reason, domain}`` (the reason from the contract's
``ErrorReason`` catalog) and ``BadRequest`` field violations in the ``grpc-status-details-bin``
trailer, packed and unpacked with ``grpcio-status`` (``grpc_status.rpc_status``). Anything else
becomes a generic INTERNAL whose traceback is logged server-side only, under an id the client
can quote.

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
from grpc_status import rpc_status

from interp_services.core import errors as E
from interp_services.core.reasons import Reason

log = logging.getLogger(__name__)

DOMAIN = "interp.v1"

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
_CODE_BY_VALUE = {c.value[0]: c for c in grpc.StatusCode}


def code_for(err: E.InterpError) -> grpc.StatusCode:
    """gRPC code of a core error (most specific class wins)."""
    for cls in type(err).__mro__:
        if cls in CODE_OF:
            return CODE_OF[cls]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def rich_status(
    code: grpc.StatusCode,
    message: str,
    reason: Reason,
    violations: list[E.FieldViolation] | tuple = (),
    metadata: dict[str, str] | None = None,
) -> status_pb2.Status:
    """A ``google.rpc.Status`` with ``ErrorInfo`` and, if any, ``BadRequest`` details."""
    details = [_pack(error_details_pb2.ErrorInfo(reason=Reason(reason).value, domain=DOMAIN, metadata=metadata or {}))]
    if violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in violations
                    ]
                )
            )
        )
    return status_pb2.Status(code=code.value[0], message=message, details=details)


def status_of(err: E.InterpError) -> status_pb2.Status:
    """The rich status of a core error."""
    return rich_status(code_for(err), err.message, err.reason, err.violations, dict(err.metadata))


def internal_status(exc: BaseException) -> status_pb2.Status:
    """Log an unexpected exception with an id; a generic INTERNAL status naming only the id."""
    error_id = uuid.uuid4().hex[:12]
    log.error("internal error %s", error_id, exc_info=exc)
    return rich_status(
        grpc.StatusCode.INTERNAL,
        f"internal error (id {error_id}); the server log has the details",
        Reason.INTERNAL,
        metadata={"error_id": error_id},
    )


def status_for_exception(exc: BaseException) -> status_pb2.Status:
    """The status a servicer answers for any exception: rich for core errors, INTERNAL else."""
    return status_of(exc) if isinstance(exc, E.InterpError) else internal_status(exc)


def apply_status(context: Any, status: status_pb2.Status) -> None:
    """Set code, details and the rich-status trailer on a servicer context (never raises)."""
    st = rpc_status.to_status(status)
    context.set_code(st.code)
    context.set_details(st.details)
    context.set_trailing_metadata(st.trailing_metadata)


def grpc_code(status: status_pb2.Status) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` of a ``google.rpc.Status``."""
    return _CODE_BY_VALUE.get(status.code, grpc.StatusCode.UNKNOWN)


def error_from_status(status: status_pb2.Status) -> E.InterpError:
    """Rebuild a core error from a rich status, so a callee's error reaches the client as is.

    INTERNAL or UNKNOWN from a backend becomes UNAVAILABLE ``BACKEND_ERROR`` keeping only the
    backend's error id: its text is not the caller's business.
    """
    reason: str = Reason.BACKEND_ERROR
    violations: list[E.FieldViolation] = []
    metadata: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            violations = [E.FieldViolation(v.field, v.description) for v in br.field_violations]
    cls = ERROR_OF.get(grpc_code(status))
    if cls is None or reason not in Reason.__members__:
        return E.Unavailable(Reason.BACKEND_ERROR, f"a backend service failed: {status.message}", metadata=metadata)
    return cls(Reason(reason), status.message, violations, metadata)


def error_from_rpc_error(exc: grpc.RpcError) -> E.InterpError:
    """Rebuild a core error from a ``grpc.RpcError`` raised by a stub call."""
    code = exc.code()  # type: ignore[attr-defined]
    try:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    except ValueError:  # code or message disagree with the trailer: trust the call
        status = None
    if status is not None:
        return error_from_status(status)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return E.DeadlineExceeded(Reason.DEADLINE_EXCEEDED, "the backend did not answer before the deadline")
    if code == grpc.StatusCode.CANCELLED:
        return E.Cancelled(Reason.CANCELLED, "the call was cancelled")
    return E.Unavailable(Reason.BACKEND_UNAVAILABLE, f"backend unavailable: {exc.details()}")  # type: ignore[attr-defined]


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
                except Exception as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback
                    apply_status(context, status_for_exception(exc))

            return stream

        @functools.wraps(fn)
        def unary(self, request, context):
            try:
                return fn(self, request, context)
            except Exception as exc:  # noqa: BLE001
                apply_status(context, status_for_exception(exc))
            return response_type()

        return unary

    return deco
