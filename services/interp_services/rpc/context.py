"""Request context helpers shared by servicers: tenant, limits, and a recording context that
lets the same servicer run behind a Ray Serve handle."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import grpc

from interp_services.core.errors import InvalidArgument
from interp_services.core.reasons import Reason

TENANT_KEY = "x-interp-tenant"
DEFAULT_TENANT = "default"
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Limits:
    """Request limits enforced by the services (the gateway enforces message size and auth).

    Attributes:
        max_batch: texts or sequences per request.
        max_text_chars: characters per text (tokens are limited per model, see ModelInfo).
        max_capture: hook sites per request.
        max_interventions: interventions per request.
        max_compare_inputs: inputs of one CompareAttention.
        max_objects: object references in one StorageService request.
        max_new_tokens: tokens one Generate call may ask for.
        max_stop_strings: stop strings of one Generate call.
        max_dataset_texts: texts of one dataset analysis (AnalyzeActivations,
            FindConceptNeurons; the examples of all tasks of a ProbeRepresentations call, the
            texts of all sources of a CompareRepresentations call); they are processed in
            batches.
    """

    max_batch: int = 256
    max_text_chars: int = 20_000
    max_capture: int = 1024
    max_interventions: int = 1024
    max_compare_inputs: int = 32
    max_objects: int = 256
    max_new_tokens: int = 256
    max_stop_strings: int = 8
    max_dataset_texts: int = 20_000


def tenant_of(context: Any) -> str:
    """The tenant the gateway stamped on the request (``default`` for direct internal calls)."""
    for key, value in context.invocation_metadata() or ():
        if key == TENANT_KEY:
            if not _TENANT.match(value):
                raise InvalidArgument(Reason.TENANT_INVALID, f"tenant {value!r} is not a valid tenant name")
            return value
    return DEFAULT_TENANT


class RecordingContext:
    """A stand-in for ``grpc.ServicerContext`` that records what a servicer sets.

    Used where a servicer runs behind a Ray Serve deployment handle rather than a gRPC server:
    the caller (the gateway) replays code, details and trailers onto the real context.
    """

    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._metadata = metadata
        self.code: grpc.StatusCode = grpc.StatusCode.OK
        self.details: str = ""
        self.trailing: tuple[tuple[str, bytes], ...] = ()
        self._cancelled = threading.Event()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def set_trailing_metadata(self, trailing: tuple[tuple[str, bytes], ...]) -> None:
        self.trailing = tuple(trailing)

    def cancel(self) -> None:
        self._cancelled.set()

    def is_active(self) -> bool:
        return not self._cancelled.is_set()

    def time_remaining(self) -> float | None:
        return None

    def status_trailer(self) -> bytes | None:
        for k, v in self.trailing:
            if k == "grpc-status-details-bin":
                return v
        return None
