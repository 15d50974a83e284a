"""Typed errors raised by the core and the store.

Each error carries a machine-readable ``reason`` from the contract's catalog
(:class:`~interp_services.core.reasons.Reason`, generated from ``interp.v1.ErrorReason``) and,
for bad requests, the offending fields. The rpc layer maps the class to a gRPC status code and a
``google.rpc.Status`` with ``ErrorInfo`` and ``BadRequest`` details; nothing here knows gRPC.

Example:
    >>> raise invalid(Reason.LAYER_OUT_OF_RANGE, "layers[0]", "40 is outside [0, 30)")
    Traceback (most recent call last):
    ...
    interp_services.core.errors.InvalidArgument: LAYER_OUT_OF_RANGE: layers[0]: 40 is outside [0, 30)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from interp_services.core.reasons import Reason

__all__ = [
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InterpError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Reason",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "invalid",
]


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field: ``field`` is a dotted path such as ``layers[2]``."""

    field: str
    description: str


@dataclass
class InterpError(Exception):
    """Base class of every error a client is meant to see.

    ``reason`` must be a :class:`Reason`; a plain string is accepted only when it names a
    catalog member (errors rebuilt from another service's status), anything else is a bug and
    raises ``ValueError`` at once.
    """

    reason: Reason
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reason = Reason(self.reason)
        super().__init__(self.message)

    def __str__(self) -> str:  # dataclass would otherwise print every field
        return f"{self.reason}: {self.message}"


class InvalidArgument(InterpError):
    """The request is malformed or out of range (INVALID_ARGUMENT)."""


class NotFound(InterpError):
    """A named model, object or resource does not exist (NOT_FOUND)."""


class ResourceExhausted(InterpError):
    """A limit (tokens, batch, bytes, cache) was exceeded (RESOURCE_EXHAUSTED)."""


class Unavailable(InterpError):
    """A dependency (store, replica) cannot be reached now; retrying may help (UNAVAILABLE)."""


class FailedPrecondition(InterpError):
    """The request is valid but the system is not in a state to serve it (FAILED_PRECONDITION)."""


class PermissionDenied(InterpError):
    """The caller may not touch this resource (PERMISSION_DENIED)."""


class Unauthenticated(InterpError):
    """No valid API key was presented (UNAUTHENTICATED)."""


class DeadlineExceeded(InterpError):
    """The request ran past its deadline (DEADLINE_EXCEEDED)."""


class Cancelled(InterpError):
    """The client cancelled the request (CANCELLED)."""


def invalid(reason: Reason, field_name: str, description: str) -> InvalidArgument:
    """Shorthand for an InvalidArgument with a single field violation."""
    return InvalidArgument(reason, f"{field_name}: {description}", [FieldViolation(field_name, description)])


def check_indices(values: Iterable[int], bound: int, field_name: str, out_of_range: Reason, duplicate: Reason | None = None) -> list[int]:
    """Check that every index is in ``[0, bound)`` (and, given ``duplicate``, listed once).

    Raises:
        InvalidArgument: naming the first offending entry, e.g. ``selection.heads[2]``.
    """
    values = list(values)
    seen: set[int] = set()
    for i, v in enumerate(values):
        if not 0 <= v < bound:
            raise invalid(out_of_range, f"{field_name}[{i}]", f"{v} is outside [0, {bound})")
        if duplicate is not None and v in seen:
            raise invalid(duplicate, f"{field_name}[{i}]", f"{v} is listed twice")
        seen.add(v)
    return values
