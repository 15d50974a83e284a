"""Tensor object storage: the ``TensorStore`` protocol and its backends.

- :class:`LocalTensorStore` -- files under a directory; the embedded single-machine default.
- :class:`S3TensorStore` -- any S3 API (AWS, MinIO, SeaweedFS) through the ``minio`` 7.2 client.

Both store exactly one tensor named ``"tensor"`` per safetensors object under
``{tenant}/{prefix}{uuid4hex}.safetensors`` and verify tenant, size and sha256 on every read.

Example:
    >>> import tempfile, torch
    >>> store = open_store(tempfile.mkdtemp())
    >>> ref = store.put("acme", torch.zeros(3))
    >>> store.get("acme", ref).tolist()
    [0.0, 0.0, 0.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .base import StoredRef, TensorStore
from .local import LocalTensorStore
from .s3 import S3TensorStore
from .safetensors_codec import SUPPORTED_DTYPES, decode_tensor, encode_tensor

__all__ = [
    "SUPPORTED_DTYPES",
    "LocalTensorStore",
    "S3TensorStore",
    "StoredRef",
    "TensorStore",
    "decode_tensor",
    "encode_tensor",
    "open_store",
]

# Options that only mean something to the S3 backend; a local URL ignores them so callers can
# pass the same settings whatever the URL is.
_S3_OPTIONS = frozenset(
    {
        "access_key",
        "secret_key",
        "secure",
        "region",
        "connect_timeout_s",
        "read_timeout_s",
        "retries",
        "ca_certs",
    }
)


def open_store(
    url: str, *, create_bucket: bool = True, fsync: bool = True, ttl_s: float = 0.0, **creds: Any
) -> TensorStore:
    """Open a store from a URL; credentials come from the caller, never from here.

    Args:
        url: ``file:///abs/dir`` or a plain path for :class:`LocalTensorStore`;
            ``s3://host:port/bucket`` for :class:`S3TensorStore`.
        create_bucket: for S3, create the bucket now if it is missing (one round trip; raises
            ``Unavailable`` if the endpoint is down). Ignored for local stores.
        fsync: for local stores, flush each object to disk before it becomes visible (turn off
            for transient working data; writes stay atomic). Ignored for S3.
        ttl_s: seconds a stored object lives (0: forever); see ``TensorStore``.
        **creds: S3 options -- ``access_key`` and ``secret_key`` (required for S3), ``secure``,
            ``region``, ``connect_timeout_s``, ``read_timeout_s``, ``retries``, ``ca_certs``.
            Local stores ignore them.

    Example:
        >>> store = open_store("s3://127.0.0.1:8333/interp-activations",
        ...                    access_key=settings.s3_access_key,
        ...                    secret_key=settings.s3_secret_key)  # doctest: +SKIP

    Raises:
        ValueError: an unsupported scheme, a malformed URL, credentials embedded in the URL, or
            missing S3 credentials.
        TypeError: an unknown option.
    """
    unknown = set(creds) - _S3_OPTIONS
    if unknown:
        raise TypeError(f"open_store got unknown options: {sorted(unknown)}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    # A one-letter "scheme" is a Windows drive letter, i.e. a plain path.
    if scheme == "" or len(scheme) == 1:
        return LocalTensorStore(Path(url).expanduser(), fsync=fsync, ttl_s=ttl_s)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL must be local (file:///path), got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"file URL takes no query or fragment: {url!r}")
        return LocalTensorStore(Path(unquote(parts.path)), fsync=fsync, ttl_s=ttl_s)
    if scheme == "s3":
        if parts.username is not None or parts.password is not None:
            raise ValueError("pass S3 credentials as access_key/secret_key, not inside the URL")
        bucket = parts.path.strip("/")
        if not parts.hostname or not bucket or "/" in bucket or parts.query or parts.fragment:
            raise ValueError(f"expected s3://host:port/bucket, got {url!r}")
        if not creds.get("access_key") or not creds.get("secret_key"):
            raise ValueError("an s3:// store needs access_key and secret_key")
        access_key = creds.pop("access_key")
        secret_key = creds.pop("secret_key")
        store = S3TensorStore(parts.netloc, access_key, secret_key, bucket, ttl_s=ttl_s, **creds)
        if create_bucket:
            store.ensure_bucket()
        return store
    raise ValueError(f"unsupported store URL scheme {parts.scheme!r} (use file:// or s3://)")
