"""The ``TensorStore`` protocol: content-addressed-by-hash tensor objects, one safetensors file
per tensor, keys prefixed by tenant, expiring after a time-to-live.

Expiry: with ``ttl_s > 0`` an object older than ``ttl_s`` seconds is gone. ``get`` answers
NOT_FOUND ``OBJECT_EXPIRED`` for it (and removes it) even before a sweep ran, so expiry is exact
whatever the sweep interval; ``sweep`` removes every expired object (the storage service runs it
periodically), and an S3 bucket additionally gets a lifecycle rule where the server supports one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class StoredRef:
    """Where a stored tensor lives; mirrors ``interp.v1.ObjectRef``."""

    bucket: str
    key: str
    byte_size: int
    sha256: str


@runtime_checkable
class TensorStore(Protocol):
    """Stores tensors as safetensors objects (one tensor named ``"tensor"`` per object)."""

    bucket: str
    ttl_s: float
    """Seconds an object lives; 0 means forever."""

    def put(self, tenant: str, tensor: torch.Tensor, *, prefix: str = "") -> StoredRef:
        """Write ``tensor`` under ``{tenant}/{prefix}...`` and return its reference."""
        ...

    def get(self, tenant: str, ref: StoredRef) -> torch.Tensor:
        """Read a tensor, verifying tenant ownership, byte size and sha256.

        Raises:
            PermissionDenied: the key is not under ``tenant``.
            NotFound: no such object (``OBJECT_NOT_FOUND``), or it outlived the time-to-live
                (``OBJECT_EXPIRED``).
            InvalidArgument: size/hash mismatch or not a single-tensor safetensors object.
            Unavailable: the backend cannot be reached.
        """
        ...

    def delete(self, tenant: str, ref: StoredRef) -> None:
        """Remove an object (missing objects are ignored)."""
        ...

    def sweep(self) -> int:
        """Remove every expired object (all tenants); return how many were removed."""
        ...

    def ping(self) -> None:
        """Raise Unavailable if the backend cannot be reached."""
        ...
