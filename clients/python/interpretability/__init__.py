"""Python SDK and CLI of the LLM interpretability suite.

Example:
    >>> from interpretability import Client
    >>> client = Client("127.0.0.1:50051", api_key="interp-dev-key")
"""

from interpretability import attribution
from interpretability.circuits import AlgorithmDiscovery, MechanisticAnalyzer
from interpretability.client import Client, from_numpy, to_numpy
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
from interpretability.experiments import (
    activation_score,
    class_score,
    edge_patch,
    logit_difference,
    mean_ablation,
    noise,
    patch,
    scale,
    steering,
    token_score,
    zero_ablation,
)
from interpretability.probing import CrossLingualAnalyzer, RepresentationComparer

__all__ = [
    "AlgorithmDiscovery",
    "Cancelled",
    "Client",
    "CrossLingualAnalyzer",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InterpClientError",
    "InvalidArgument",
    "MechanisticAnalyzer",
    "NotFound",
    "PermissionDenied",
    "RepresentationComparer",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "activation_score",
    "attribution",
    "class_score",
    "edge_patch",
    "from_numpy",
    "logit_difference",
    "mean_ablation",
    "noise",
    "patch",
    "scale",
    "steering",
    "to_numpy",
    "token_score",
    "zero_ablation",
]
