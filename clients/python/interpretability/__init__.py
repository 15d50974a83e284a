"""Python SDK and CLI of the LLM interpretability suite.

Example:
    >>> from interpretability import Client
    >>> client = Client("127.0.0.1:50051", api_key="interp-dev-key")
"""

from interpretability.client import Client, from_numpy, mean_ablation, patch, steering, to_numpy, zero_ablation
from interpretability.errors import (
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InterpClientError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "Cancelled",
    "Client",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InterpClientError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "from_numpy",
    "mean_ablation",
    "patch",
    "steering",
    "to_numpy",
    "zero_ablation",
]
