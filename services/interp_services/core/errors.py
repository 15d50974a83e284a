"""Typed errors raised by the core and the store.

Each error carries a machine-readable ``reason`` (UPPER_SNAKE_CASE, stable across releases) and,
for bad requests, the offending fields. The rpc layer maps the class to a gRPC status code and a
``google.rpc.Status`` with ``ErrorInfo`` and ``BadRequest`` details; nothing here knows gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field: ``field`` is a dotted path such as ``layers[2]``."""

    field: str
    description: str


@dataclass
class InterpError(Exception):
    """Base class of every error a client is meant to see."""

    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
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


def invalid(reason: str, field_name: str, description: str) -> InvalidArgument:
    """Shorthand for an InvalidArgument with a single field violation."""
    return InvalidArgument(reason, f"{field_name}: {description}", [FieldViolation(field_name, description)])
