"""``S3TensorStore``: tensors as safetensors objects in an S3-compatible bucket (MinIO client).

Any S3 API works (AWS S3, MinIO, SeaweedFS, Ceph RGW); tests run against a real SeaweedFS
(``tests/support/seaweed.py``). Written for the ``minio`` 7.2 client, called with keyword
arguments only (the 8.0 examples on its main branch do not run on 7.2).

Integrity: ``put`` records the sha256 in the reference and as object metadata
(``x-amz-meta-sha256``); ``get`` always hashes the bytes it actually read and compares them with
the *reference* -- the metadata is only used to fail early, because whoever can overwrite an
object can overwrite its metadata too.

Failing fast: every request has a connect and a read timeout (``connect_timeout_s``,
``read_timeout_s``; the read timeout bounds each wait for bytes, not a whole transfer, so large
objects still stream), and only failures that come back quickly -- a refused or reset
connection, a 5xx reply -- are retried, at most ``retries`` times. A timeout is never retried:
a store that is hung or cut off by a network partition (it accepts connections, or drops the
packets, and never answers) would only hang again, so a call against it raises
``Unavailable(STORE_UNAVAILABLE)`` after one timeout (~``read_timeout_s``) instead of holding the
caller's worker for the whole request deadline.

Sharing a bucket: everything this store writes is under ``{tenant}/`` (there is no prefix common
to all tenants), so its expiry rules are one lifecycle rule per tenant, each scoped to
``{tenant}/`` and named ``interp-expiry-{tenant}``; :meth:`S3TensorStore.ensure_lifecycle` merges
them into the bucket's configuration and keeps every other rule as the server returned it. The
sweep only removes tensor-store objects (``{tenant}/...safetensors``). Other data in the bucket is
safe as long as it does not live under a tenant's name.

Failure mapping: connection errors, timeouts and 5xx become ``Unavailable(STORE_UNAVAILABLE)``;
``NoSuchKey`` becomes ``NotFound(OBJECT_NOT_FOUND)``; rejected credentials become
``FailedPrecondition(STORE_ACCESS_DENIED)`` (a deployment problem, not the caller's).

Example:
    >>> store = S3TensorStore("127.0.0.1:8333", access_key=key, secret_key=secret,
    ...                       bucket="interp-activations")  # doctest: +SKIP
    >>> store.ensure_bucket()  # doctest: +SKIP
    >>> ref = store.put("acme", torch.ones(4))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import logging
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime

import torch
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name, md5sum_hash
from minio.lifecycleconfig import Expiration, Rule

from interp_services.core.errors import (
    FailedPrecondition,
    InterpError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from interp_services.core.reasons import Reason

from ._keys import check_ref, is_key, new_key, validate_tenant, verify_bytes
from .base import StoredRef
from .safetensors_codec import decode_tensor, encode_tensor, sha256_hex

log = logging.getLogger(__name__)

#: Objects up to this size go up in one PUT; larger ones as a multipart upload.
SINGLE_PUT_LIMIT = 64 * 1024 * 1024
SHA256_METADATA = "sha256"  # sent as x-amz-meta-sha256

_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "InvalidToken",
        "AllAccessDisabled",
    }
)
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)

#: Lifecycle rules whose ID is this, or starts with it and a dash, are this store's: one
#: ``interp-expiry-{tenant}`` per tenant (plain ``interp-expiry`` was the bucket-wide rule of earlier
#: versions, which :meth:`S3TensorStore.ensure_lifecycle` removes).
LIFECYCLE_RULE_ID = "interp-expiry"

DEFAULT_CONNECT_TIMEOUT_S = 2.0
DEFAULT_READ_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2


class _FastFailRetry(urllib3.Retry):
    """``urllib3.Retry`` that never retries a timeout (connect or read).

    Refused/reset connections and 5xx replies fail in milliseconds, so retrying them rides out a
    store restart cheaply; a timeout means the server (or the path to it) is hung, and retrying
    would multiply the wait by the number of attempts.
    """

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if _is_timeout(error):
            raise error.with_traceback(_stacktrace)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _is_timeout(error: Exception | None) -> bool:
    """A connect or read timeout; not a refused connection (urllib3 2 makes ``NewConnectionError``
    a subclass of ``ConnectTimeoutError``)."""
    exc = urllib3.exceptions
    if isinstance(error, exc.ReadTimeoutError):
        return True
    return isinstance(error, exc.ConnectTimeoutError) and not isinstance(error, exc.NewConnectionError)


def _is_our_rule(rule_id: str | None) -> bool:
    return rule_id is not None and (rule_id == LIFECYCLE_RULE_ID or rule_id.startswith(LIFECYCLE_RULE_ID + "-"))


def expiry_rules(tenants: Iterable[str], days: int) -> list[Rule]:
    """One rule per tenant that expires the objects under ``{tenant}/`` after ``days`` days."""
    rules = []
    for tenant in sorted(set(tenants)):
        validate_tenant(tenant)
        rules.append(
            Rule(ENABLED, rule_filter=Filter(prefix=f"{tenant}/"), rule_id=f"{LIFECYCLE_RULE_ID}-{tenant}",
                 expiration=Expiration(days=days))
        )
    return rules


def merge_lifecycle(existing: bytes | None, ours: Sequence[Rule]) -> bytes | None:
    """A bucket's lifecycle configuration (the XML the server returned, ``None`` for none) with
    this store's rules replaced by ``ours``; ``None`` when no rule is left.

    Works on the XML rather than the minio client's models: those drop what they do not know (a
    rule's legacy top-level ``Prefix``, size filters), and writing such a rule back would widen it,
    e.g. to the whole bucket. Every rule whose ID is not this store's is kept element for element.

    Example:
        >>> theirs = (b"<LifecycleConfiguration><Rule><ID>logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status>"
        ...           b"<Expiration><Days>30</Days></Expiration></Rule></LifecycleConfiguration>")
        >>> merged = merge_lifecycle(theirs, expiry_rules(["acme"], 1))
        >>> [r.findtext("ID") for r in ET.fromstring(merged)]
        ['logs', 'interp-expiry-acme']
    """
    root = ET.Element("LifecycleConfiguration")
    if existing:
        for rule in ET.fromstring(existing):
            for element in rule.iter():  # S3 answers in its namespace and takes requests without one
                element.tag = element.tag.rpartition("}")[2]
            if rule.tag == "Rule" and not _is_our_rule(rule.findtext("ID")):
                root.append(rule)
    for rule in ours:
        rule.toxml(root)
    return ET.tostring(root) if len(root) else None


class S3TensorStore:
    """Tensors in one S3 bucket, keys ``{tenant}/{prefix}{uuid4hex}.safetensors``.

    The constructor does no I/O; call :meth:`ensure_bucket` at start-up (``open_store`` does).

    Args:
        endpoint: ``host:port`` of the S3 API, without scheme.
        access_key: S3 access key id, passed explicitly (read it from the environment or a
            Secret at start-up; there is no default).
        secret_key: the matching secret.
        bucket: the bucket every object goes to (S3 naming rules, 3-63 characters).
        secure: HTTPS instead of HTTP.
        region: the bucket region; ``None`` lets the client ask the server once per bucket.
        connect_timeout_s: TCP connect timeout per attempt (also bounds each socket write while a
            request body is sent).
        read_timeout_s: longest wait for the next bytes of a reply (not for a whole transfer).
            A hung store fails after about this long: timeouts are not retried.
        retries: extra attempts on refused/reset connections and 5xx replies (urllib3
            ``Retry``, 0.1 s backoff); kept small so an unreachable store fails in well under a
            second instead of the client's default ~6 s. Timeouts are never retried.
        ca_certs: CA bundle file for ``secure=True``; ``None`` uses the system trust store.
        ttl_s: seconds an object lives, from its upload (the server's ``Last-Modified``, compared
            with the server's ``Date`` so clock skew does not matter); 0 keeps objects forever.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        ca_certs: str | None = None,
        ttl_s: float = 0.0,
    ) -> None:
        if not access_key or not secret_key:
            raise ValueError("S3TensorStore needs an explicit access_key and secret_key")
        try:
            check_bucket_name(bucket)
        except ValueError as exc:
            raise ValueError(f"invalid S3 bucket name {bucket!r}: {exc}") from None
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.ttl_s = ttl_s
        self._timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self._http = urllib3.PoolManager(
            timeout=self._timeout,
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,  # None: the system trust store
            retries=_FastFailRetry(
                total=retries,
                backoff_factor=0.1,
                status_forcelist=[500, 502, 503, 504],
            ),
        )
        self._client = Minio(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=self._http,
        )

    def __repr__(self) -> str:  # never shows credentials
        scheme = "https" if self.secure else "http"
        return f"S3TensorStore(endpoint='{scheme}://{self.endpoint}', bucket={self.bucket!r})"

    @property
    def client(self) -> Minio:
        """The underlying MinIO client (for admin tasks such as listing or lifecycle rules)."""
        return self._client

    def close(self) -> None:
        """Drop pooled connections."""
        self._http.clear()

    # -- errors ---------------------------------------------------------------------------------

    def _map(self, exc: Exception, what: str, key: str | None = None) -> InterpError:
        meta = {"bucket": self.bucket, "endpoint": self.endpoint}
        if key is not None:
            meta["key"] = key
        if isinstance(exc, S3Error):
            meta["s3_code"] = exc.code or ""
            if exc.code in ("NoSuchKey", "NoSuchBucket") and key is not None:
                return NotFound(
                    Reason.OBJECT_NOT_FOUND, f"no object {key!r} in bucket {self.bucket!r}", metadata=meta
                )
            if exc.code == "NoSuchBucket":
                return FailedPrecondition(
                    Reason.STORE_BUCKET_MISSING, f"bucket {self.bucket!r} does not exist", metadata=meta
                )
            if exc.code in _AUTH_CODES:
                return FailedPrecondition(
                    Reason.STORE_ACCESS_DENIED,
                    f"object store refused the service's credentials while {what} ({exc.code})",
                    metadata=meta,
                )
            return Unavailable(
                Reason.STORE_UNAVAILABLE, f"object store error while {what}: {exc.code}", metadata=meta
            )
        if _is_timeout(exc) or _is_timeout(getattr(exc, "reason", None)):
            return Unavailable(
                Reason.STORE_UNAVAILABLE,
                f"object store at {self.endpoint} did not answer in time while {what} "
                f"({type(exc).__name__}; connect timeout {self._timeout.connect_timeout:g} s, "
                f"read timeout {self._timeout.read_timeout:g} s)",
                metadata=meta,
            )
        if isinstance(exc, (ServerError, InvalidResponseError, MinioException, *_NETWORK_ERRORS)):
            # Don't echo the exception text: urllib3 messages can be very long; the type is enough.
            return Unavailable(
                Reason.STORE_UNAVAILABLE,
                f"object store at {self.endpoint} unreachable while {what} ({type(exc).__name__})",
                metadata=meta,
            )
        raise exc

    # -- API ------------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (idempotent, safe under races)."""
        try:
            if self._client.bucket_exists(bucket_name=self.bucket):
                return
            self._client.make_bucket(bucket_name=self.bucket)
        except S3Error as exc:
            if exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return
            raise self._map(exc, "creating the bucket") from exc
        except Exception as exc:
            raise self._map(exc, "creating the bucket") from exc

    def _put_bytes(self, key: str, data: bytes, sha256: str) -> None:
        self._client.put_object(
            bucket_name=self.bucket,
            object_name=key,
            data=io.BytesIO(data),
            length=len(data),
            content_type="application/octet-stream",
            metadata={SHA256_METADATA: sha256},
            # The client caps the part size at the object size: up to the limit is one PUT.
            part_size=SINGLE_PUT_LIMIT,
        )

    def put(self, tenant: str, tensor: torch.Tensor, *, prefix: str = "") -> StoredRef:
        """Upload ``tensor`` under ``{tenant}/{prefix}`` and return its reference."""
        key = new_key(tenant, prefix)
        data = encode_tensor(tensor)
        digest = sha256_hex(data)
        try:
            try:
                self._put_bytes(key, data, digest)
            except S3Error as exc:
                if exc.code != "NoSuchBucket":
                    raise
                self.ensure_bucket()  # deleted behind our back, or ensure_bucket never called
                self._put_bytes(key, data, digest)
        except InterpError:
            raise
        except Exception as exc:
            raise self._map(exc, f"writing {key!r}") from exc
        return StoredRef(bucket=self.bucket, key=key, byte_size=len(data), sha256=digest)

    def get(self, tenant: str, ref: StoredRef) -> torch.Tensor:
        """Download and verify a tensor; see ``TensorStore.get`` for the errors."""
        check_ref(tenant, ref, self.bucket)
        try:
            resp = self._client.get_object(bucket_name=self.bucket, object_name=ref.key)
        except Exception as exc:
            raise self._map(exc, f"reading {ref.key!r}", ref.key) from exc
        try:
            self._check_age(resp.headers, ref.key)
            # Fail early, before downloading the body, when the headers already disagree.
            stored_sha = resp.headers.get(f"x-amz-meta-{SHA256_METADATA}")
            length = resp.headers.get("content-length")
            if (stored_sha is not None and stored_sha.lower() != ref.sha256) or (
                length is not None and length.isdigit() and int(length) != ref.byte_size
            ):
                raise InvalidArgument(
                    Reason.OBJECT_HASH_MISMATCH,
                    f"object {ref.key!r} was replaced: its size/sha256 metadata no longer match "
                    "the reference",
                    metadata={"key": ref.key, "expected_sha256": ref.sha256},
                )
            # At most one byte past the expected size, so a huge replacement is never buffered.
            buf = bytearray()
            want = ref.byte_size + 1
            while len(buf) < want:
                chunk = resp.read(min(want - len(buf), 8 * 1024 * 1024))
                if not chunk:
                    break
                buf += chunk
            data = bytes(buf)
        except InterpError:
            raise
        except Exception as exc:
            raise self._map(exc, f"reading {ref.key!r}", ref.key) from exc
        finally:
            resp.close()
            resp.release_conn()
        verify_bytes(ref, data)
        return decode_tensor(data)

    def delete(self, tenant: str, ref: StoredRef) -> None:
        """Remove an object; a missing one is ignored (S3 DELETE is idempotent)."""
        check_ref(tenant, ref, self.bucket)
        try:
            self._client.remove_object(bucket_name=self.bucket, object_name=ref.key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                return
            raise self._map(exc, f"deleting {ref.key!r}") from exc
        except Exception as exc:
            raise self._map(exc, f"deleting {ref.key!r}") from exc

    def _check_age(self, headers, key: str) -> None:
        if not self.ttl_s or not headers.get("last-modified"):
            return
        written = parsedate_to_datetime(headers["last-modified"]).timestamp()
        now = parsedate_to_datetime(headers["date"]).timestamp() if headers.get("date") else time.time()
        if now - written > self.ttl_s:
            try:
                self._client.remove_object(bucket_name=self.bucket, object_name=key)
            except Exception:  # noqa: BLE001 - a failed clean-up changes nothing for the caller
                log.warning("could not remove expired object %s", key)
            raise NotFound(
                Reason.OBJECT_EXPIRED,
                f"object {key!r} expired: stored objects live {self.ttl_s:g} s",
                metadata={"key": key, "bucket": self.bucket, "ttl_s": f"{self.ttl_s:g}"},
            )

    @property
    def expiry_days(self) -> int:
        """``ttl_s`` in the lifecycle rule's unit: whole days, rounded up (0: no expiry)."""
        return max(1, math.ceil(self.ttl_s / 86400)) if self.ttl_s else 0

    def ensure_lifecycle(self, tenants: Iterable[str] = ()) -> bool:
        """Install this store's expiry rules in the bucket's lifecycle configuration: one per
        tenant, expiring ``{tenant}/`` after :attr:`expiry_days` (with ``ttl_s`` 0, remove them),
        merged with the rules already there (see :func:`merge_lifecycle`).

        Without ``tenants`` there is nothing to scope a rule to, and the bucket is left as it is
        (the provisioning Job passes the tenants of the API keys). Returns False when the server
        takes no lifecycle rules; :meth:`sweep` and the check in :meth:`get` still enforce the
        time-to-live then. Reading and writing the configuration are two requests: a change that
        another writer makes between them is lost (S3 offers no conditional write for it).

        Raises:
            InvalidArgument: a tenant name a key could not start with.
        """
        tenants = list(tenants)
        if self.ttl_s and not tenants:
            return True
        ours = expiry_rules(tenants, self.expiry_days) if self.ttl_s else []
        try:
            try:
                current = self._client._execute("GET", self.bucket, query_params={"lifecycle": ""}).data
            except S3Error as exc:
                if exc.code != "NoSuchLifecycleConfiguration":
                    raise
                current = None
            merged = merge_lifecycle(current, ours)
            if merged is not None:
                # The client's set_bucket_lifecycle only takes its own models (see merge_lifecycle).
                self._client._execute(
                    "PUT", self.bucket, body=merged, headers={"Content-MD5": md5sum_hash(merged)},
                    query_params={"lifecycle": ""},
                )
            elif current is not None:
                self._client.delete_bucket_lifecycle(bucket_name=self.bucket)
            return True
        except S3Error as exc:
            log.info("the object store does not take lifecycle rules (%s); expiry relies on sweeps", exc.code)
            return False
        except Exception as exc:
            raise self._map(exc, "setting the bucket lifecycle") from exc

    def sweep(self) -> int:
        """Remove this store's objects (``{tenant}/...safetensors``) older than ``ttl_s`` (by the
        local clock); anything else in the bucket is someone else's and stays."""
        if not self.ttl_s:
            return 0
        cutoff, removed = time.time() - self.ttl_s, 0
        try:
            for obj in self._client.list_objects(bucket_name=self.bucket, recursive=True):
                if not is_key(obj.object_name):
                    continue
                if obj.last_modified is not None and obj.last_modified.timestamp() < cutoff:
                    self._client.remove_object(bucket_name=self.bucket, object_name=obj.object_name)
                    removed += 1
        except Exception as exc:
            raise self._map(exc, "sweeping expired objects") from exc
        return removed

    def ping(self) -> None:
        """Raise Unavailable if the endpoint cannot be reached (FailedPrecondition if the bucket
        is missing or the credentials are refused)."""
        try:
            exists = self._client.bucket_exists(bucket_name=self.bucket)
        except Exception as exc:
            raise self._map(exc, "checking the bucket") from exc
        if not exists:
            raise FailedPrecondition(
                Reason.STORE_BUCKET_MISSING, f"bucket {self.bucket!r} does not exist",
                metadata={"bucket": self.bucket, "endpoint": self.endpoint},
            )
