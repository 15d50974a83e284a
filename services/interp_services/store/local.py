"""``LocalTensorStore``: the embedded single-machine backend, one file per object under a root.

The default when no S3 endpoint is configured (a laptop, a single-node Ray cluster, tests). It
keeps the S3 backend's semantics so code never branches on the backend: keys are
``{tenant}/{prefix}{uuid4hex}.safetensors`` relative to ``root``, ``get`` verifies ownership,
byte size and sha256, and writes are atomic (a temp file in the same directory, fsync, then
``os.replace``), so a reader sees either nothing or the whole object, never a torn write.

Example:
    >>> import tempfile, torch
    >>> store = LocalTensorStore(tempfile.mkdtemp())
    >>> ref = store.put("acme", torch.ones(2, 3), prefix="acts/")
    >>> ref.key.startswith("acme/acts/"), store.get("acme", ref).shape
    (True, torch.Size([2, 3]))
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from pathlib import Path

import torch

from interp_services.core.errors import InvalidArgument, NotFound, ResourceExhausted, Unavailable
from interp_services.core.reasons import Reason

from ._keys import KEY_SUFFIX, check_ref, new_key, verify_bytes
from .base import StoredRef
from .safetensors_codec import decode_tensor, encode_tensor, sha256_hex

_TMP_PREFIX = ".tmp-"  # dot-leading names can never be valid keys, so temp files are unreadable


def _os_error(exc: OSError, what: str) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceExhausted(Reason.STORE_FULL, f"local store is full while {what}: {exc.strerror}")
    return Unavailable(
        Reason.STORE_UNAVAILABLE, f"local store failed while {what}: {exc.strerror or exc}"
    )


class LocalTensorStore:
    """Tensors as safetensors files under ``root``; see the module docstring.

    Args:
        root: directory that holds one sub-directory per tenant; created if missing.
        bucket: the name put into every ``StoredRef.bucket`` (stable, so references survive a
            restart); ``get`` refuses references naming another bucket.
        fsync: flush each object to disk before it becomes visible (durability over speed).
        ttl_s: seconds an object lives, counted from its write (file modification time); 0
            keeps objects until they are deleted.
    """

    def __init__(self, root: Path | str, *, bucket: str = "local", fsync: bool = True, ttl_s: float = 0.0) -> None:
        self.root = Path(root).expanduser().resolve()
        self.bucket = bucket
        self.ttl_s = ttl_s
        self._fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    def _expired(self, path: Path, now: float) -> bool:
        try:
            return bool(self.ttl_s) and now - path.stat().st_mtime > self.ttl_s
        except FileNotFoundError:
            return False

    def __repr__(self) -> str:
        return f"LocalTensorStore(root={str(self.root)!r}, bucket={self.bucket!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        # Keys are validated already; this also defeats a symlink planted inside the root.
        if not path.is_relative_to(self.root):
            raise InvalidArgument(Reason.OBJECT_KEY_INVALID, f"key {key!r} escapes the store root")
        return path

    def put(self, tenant: str, tensor: torch.Tensor, *, prefix: str = "") -> StoredRef:
        """Write ``tensor`` atomically under ``{tenant}/{prefix}`` and return its reference."""
        key = new_key(tenant, prefix)
        data = encode_tensor(tensor)
        ref = StoredRef(bucket=self.bucket, key=key, byte_size=len(data), sha256=sha256_hex(data))
        path = self._path(key)
        tmp_name: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if self._fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            raise _os_error(exc, f"writing {key!r}") from exc
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
        return ref

    def get(self, tenant: str, ref: StoredRef) -> torch.Tensor:
        """Read and verify a tensor; see ``TensorStore.get`` for the errors."""
        check_ref(tenant, ref, self.bucket)
        path = self._path(ref.key)
        if self._expired(path, time.time()):
            path.unlink(missing_ok=True)
            raise NotFound(
                Reason.OBJECT_EXPIRED,
                f"object {ref.key!r} expired: stored objects live {self.ttl_s:g} s",
                metadata={"key": ref.key, "bucket": self.bucket, "ttl_s": f"{self.ttl_s:g}"},
            )
        try:
            with open(path, "rb") as fh:
                # At most one byte past the expected size: a swapped-in huge file is reported
                # as a mismatch without being loaded into memory.
                data = fh.read(ref.byte_size + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(
                Reason.OBJECT_NOT_FOUND, f"no object {ref.key!r} in bucket {self.bucket!r}",
                metadata={"key": ref.key, "bucket": self.bucket},
            ) from None
        except OSError as exc:
            raise _os_error(exc, f"reading {ref.key!r}") from exc
        verify_bytes(ref, data)
        return decode_tensor(data)

    def delete(self, tenant: str, ref: StoredRef) -> None:
        """Remove an object; a missing one is ignored. Ownership is still enforced."""
        check_ref(tenant, ref, self.bucket)
        try:
            self._path(ref.key).unlink(missing_ok=True)
        except (NotADirectoryError, IsADirectoryError):
            pass
        except OSError as exc:
            raise _os_error(exc, f"deleting {ref.key!r}") from exc

    def sweep(self) -> int:
        """Remove expired objects and abandoned temp files of every tenant."""
        if not self.ttl_s:
            return 0
        now, removed = time.time(), 0
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                path = Path(dirpath) / name
                if (name.endswith(KEY_SUFFIX) or name.startswith(_TMP_PREFIX)) and self._expired(path, now):
                    try:
                        path.unlink()
                        removed += 1
                    except FileNotFoundError:
                        pass
        return removed

    def ping(self) -> None:
        """Raise Unavailable unless the root is a writable directory."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise Unavailable(
                Reason.STORE_UNAVAILABLE,
                f"local store root {str(self.root)!r} is not a writable directory",
            )
