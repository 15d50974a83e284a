"""Key layout and reference checks shared by every ``TensorStore`` backend.

Keys look like ``"{tenant}/{prefix}{uuid4 hex}.safetensors"``. The tenant is the first path
segment, which is what ownership is checked against. Keys are validated strictly (no ``..``, no
empty or dot-leading segments, no backslashes) because the local backend maps them onto a
filesystem and a forged reference must never escape the store root or reach another tenant.
"""

from __future__ import annotations

import re
import uuid

from interp_services.core.errors import InvalidArgument, PermissionDenied, invalid
from interp_services.core.reasons import Reason

from .base import StoredRef
from .safetensors_codec import sha256_hex

KEY_SUFFIX = ".safetensors"
MAX_KEY_LENGTH = 1024  # the S3 limit on object names
MAX_PREFIX_LENGTH = 256

TENANT_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
# prefix: zero or more "segment/" then an optional partial segment ("acts/", "run1-", "a/b/c-").
_PREFIX_RE = re.compile(rf"(?:{_SEGMENT}/)*(?:{_SEGMENT})?")
_KEY_RE = re.compile(rf"[a-z0-9][a-z0-9-]{{0,62}}(?:/{_SEGMENT})+")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def validate_tenant(tenant: str) -> None:
    """Raise InvalidArgument(``INVALID_TENANT``) unless ``tenant`` is a DNS-label-like name."""
    if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
        raise invalid(
            Reason.TENANT_INVALID, "tenant", f"must match {TENANT_RE.pattern}, got {tenant!r}"
        )


def is_key(name: str) -> bool:
    """Whether ``name`` has the shape of a key :func:`new_key` makes (``{tenant}/...safetensors``,
    no ``..`` or empty segments): what a reference may name, and what a sweep may remove."""
    return len(name) <= MAX_KEY_LENGTH and _KEY_RE.fullmatch(name) is not None and name.endswith(KEY_SUFFIX)


def new_key(tenant: str, prefix: str) -> str:
    """A fresh key ``{tenant}/{prefix}{uuid4hex}.safetensors`` after validating both parts."""
    validate_tenant(tenant)
    if (
        not isinstance(prefix, str)
        or len(prefix) > MAX_PREFIX_LENGTH
        or not _PREFIX_RE.fullmatch(prefix)
    ):
        raise invalid(
            Reason.KEY_PREFIX_INVALID,
            "prefix",
            "must be '/'-separated segments of [A-Za-z0-9._-], none empty or starting with '.', "
            f"at most {MAX_PREFIX_LENGTH} characters; got {prefix!r}",
        )
    return f"{tenant}/{prefix}{uuid.uuid4().hex}{KEY_SUFFIX}"


def check_ref(tenant: str, ref: StoredRef, bucket: str) -> None:
    """Validate a reference before any I/O.

    Raises:
        InvalidArgument: bad tenant name (``INVALID_TENANT``), a reference to another bucket
            (``OBJECT_BUCKET_MISMATCH``), a malformed key (``INVALID_OBJECT_KEY``) or a
            malformed size/hash (``INVALID_OBJECT_REF``).
        PermissionDenied: ``OBJECT_NOT_OWNED`` when the key's first segment is not ``tenant``.
    """
    validate_tenant(tenant)
    key = ref.key
    if not isinstance(key, str):
        raise invalid(Reason.OBJECT_KEY_INVALID, "key", "must be a string")
    if key.split("/", 1)[0] != tenant:
        raise PermissionDenied(
            Reason.OBJECT_NOT_OWNED,
            f"object {key!r} does not belong to tenant {tenant!r}",
            metadata={"key": key[:256], "tenant": tenant},
        )
    if ref.bucket != bucket:
        raise invalid(
            Reason.OBJECT_BUCKET_MISMATCH,
            "bucket",
            f"reference names bucket {ref.bucket!r} but this store serves {bucket!r}",
        )
    if not is_key(key):
        raise invalid(
            Reason.OBJECT_KEY_INVALID,
            "key",
            f"not a tensor-store key ('{{tenant}}/...{KEY_SUFFIX}', no '..' or empty segments)",
        )
    if isinstance(ref.byte_size, bool) or not isinstance(ref.byte_size, int) or ref.byte_size < 0:
        raise invalid(
            Reason.OBJECT_REF_INVALID, "byte_size", f"must be an int >= 0, got {ref.byte_size!r}"
        )
    if not isinstance(ref.sha256, str) or not _SHA256_RE.fullmatch(ref.sha256):
        raise invalid(Reason.OBJECT_REF_INVALID, "sha256", "must be 64 lower-case hex digits")


def verify_bytes(ref: StoredRef, data: bytes) -> None:
    """Raise InvalidArgument(``OBJECT_HASH_MISMATCH``) unless ``data`` is what ``ref`` names.

    A size difference is reported under the same reason: both mean "these are not the bytes the
    reference was issued for" (corruption, or an overwritten object).
    """
    if len(data) != ref.byte_size:
        raise InvalidArgument(
            Reason.OBJECT_HASH_MISMATCH,
            f"object {ref.key!r} is {len(data)} bytes, reference says {ref.byte_size}",
            metadata={
                "key": ref.key,
                "expected_size": str(ref.byte_size),
                "actual_size": str(len(data)),
            },
        )
    actual = sha256_hex(data)
    if actual != ref.sha256:
        raise InvalidArgument(
            Reason.OBJECT_HASH_MISMATCH,
            f"object {ref.key!r} has sha256 {actual}, reference says {ref.sha256}",
            metadata={"key": ref.key, "expected_sha256": ref.sha256, "actual_sha256": actual},
        )
