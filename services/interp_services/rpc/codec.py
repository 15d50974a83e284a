"""Proto ``interp.v1.Tensor`` <-> torch, inline or through the tensor store.

Raw bytes are little-endian row-major; bfloat16 travels as its 16 raw bits. Every decoded tensor
is checked: dtype set, shape non-negative and small enough, byte count equal to
``numel * itemsize``; a stored object must hold the declared dtype and shape (its sha256 is
checked by the store).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from interp.v1 import tensor_pb2 as tpb
from interp_services.core.errors import ResourceExhausted, invalid
from interp_services.core.reasons import Reason
from interp_services.store.base import StoredRef, TensorStore

if sys.byteorder != "little":  # pragma: no cover - every supported platform is little-endian
    raise ImportError("interp_services needs a little-endian host")

_TORCH_OF: dict[int, torch.dtype] = {
    tpb.DATA_TYPE_FLOAT32: torch.float32,
    tpb.DATA_TYPE_FLOAT16: torch.float16,
    tpb.DATA_TYPE_BFLOAT16: torch.bfloat16,
    tpb.DATA_TYPE_FLOAT64: torch.float64,
    tpb.DATA_TYPE_INT64: torch.int64,
    tpb.DATA_TYPE_INT32: torch.int32,
    tpb.DATA_TYPE_BOOL: torch.bool,
}
_PROTO_OF = {v: k for k, v in _TORCH_OF.items()}
MAX_DIMS = 8


@dataclass(frozen=True)
class DeliveryPolicy:
    """When tensors go inline and when to the store.

    Attributes:
        inline_limit_bytes: with RESULT_DELIVERY_UNSPECIFIED, a response whose tensors total
            more than this goes to the store.
        max_inline_bytes: with RESULT_DELIVERY_INLINE, the most a response may carry.
    """

    inline_limit_bytes: int = 4 << 20
    max_inline_bytes: int = 48 << 20


def proto_dtype(dtype: torch.dtype) -> int:
    """The DataType of a torch dtype."""
    try:
        return _PROTO_OF[dtype]
    except KeyError:
        raise TypeError(f"dtype {dtype} has no wire form") from None


def encode_raw(t: torch.Tensor, dim_names: tuple[str, ...] | list[str] = ()) -> tpb.Tensor:
    """Encode a tensor inline."""
    t = t.detach().contiguous().cpu()
    data = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
    return tpb.Tensor(dtype=proto_dtype(t.dtype), shape=list(t.shape), dim_names=list(dim_names), raw=data)


def encode_ref(ref: StoredRef, t: torch.Tensor, dim_names: tuple[str, ...] | list[str] = ()) -> tpb.Tensor:
    """Describe a stored tensor."""
    return tpb.Tensor(
        dtype=proto_dtype(t.dtype),
        shape=list(t.shape),
        dim_names=list(dim_names),
        object=tpb.ObjectRef(bucket=ref.bucket, key=ref.key, byte_size=ref.byte_size, sha256=ref.sha256),
    )


def _check_header(msg: tpb.Tensor, field: str, max_elements: int) -> tuple[torch.dtype, list[int]]:
    if msg.dtype not in _TORCH_OF:
        raise invalid(Reason.TENSOR_DTYPE_INVALID, f"{field}.dtype", "unspecified or unknown data type")
    shape = list(msg.shape)
    if len(shape) > MAX_DIMS or any(d < 0 for d in shape):
        raise invalid(Reason.TENSOR_SHAPE_INVALID, f"{field}.shape", f"needs 0..{MAX_DIMS} non-negative dims, got {shape}")
    if msg.dim_names and len(msg.dim_names) != len(shape):
        raise invalid(Reason.TENSOR_SHAPE_INVALID, f"{field}.dim_names", "must name every dimension or none")
    if math.prod(shape) > max_elements:
        raise ResourceExhausted(Reason.TENSOR_TOO_LARGE, f"{field}: {math.prod(shape)} elements > limit {max_elements}")
    return _TORCH_OF[msg.dtype], shape


def decode(
    msg: tpb.Tensor,
    field: str,
    *,
    store: TensorStore | None,
    tenant: str,
    max_elements: int = 1 << 28,
) -> torch.Tensor:
    """Decode a proto Tensor (inline or stored) into a torch tensor, validating everything.

    Raises:
        InvalidArgument: malformed header, wrong byte count, stored object not matching.
        NotFound / PermissionDenied / Unavailable: from the store.
    """
    dtype, shape = _check_header(msg, field, max_elements)
    which = msg.WhichOneof("data")
    if which == "raw":
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(msg.raw) != math.prod(shape) * itemsize:
            raise invalid(
                Reason.TENSOR_MALFORMED,
                f"{field}.raw",
                f"{len(msg.raw)} bytes, but shape {shape} of {tpb.DataType.Name(msg.dtype)} needs {math.prod(shape) * itemsize}",
            )
        if dtype == torch.bfloat16:
            arr = np.frombuffer(msg.raw, dtype=np.int16).copy()
            return torch.from_numpy(arr).view(torch.bfloat16).reshape(shape)
        np_dtype = torch.empty((), dtype=dtype).numpy().dtype
        return torch.from_numpy(np.frombuffer(msg.raw, dtype=np_dtype).copy()).reshape(shape)
    if which == "object":
        if store is None:
            raise invalid(Reason.TENSOR_REF_UNSUPPORTED, f"{field}.object", "this service has no tensor store")
        o = msg.object
        if not o.key or not o.sha256:
            raise invalid(Reason.TENSOR_MALFORMED, f"{field}.object", "key and sha256 are required")
        if o.bucket and o.bucket != store.bucket:
            raise invalid(Reason.OBJECT_BUCKET_MISMATCH, f"{field}.object.bucket", f"this server's store is {store.bucket!r}")
        t = store.get(tenant, stored_ref(o, store))
        if t.dtype != dtype or list(t.shape) != shape:
            raise invalid(
                Reason.TENSOR_MALFORMED,
                f"{field}.object",
                f"object holds {t.dtype} {list(t.shape)}, message declares {dtype} {shape}",
            )
        return t
    raise invalid(Reason.TENSOR_MALFORMED, field, "has neither raw bytes nor an object reference")


def stored_ref(o: tpb.ObjectRef, store: TensorStore) -> StoredRef:
    """The store reference of a wire ``ObjectRef``; an empty bucket means this server's store."""
    return StoredRef(bucket=o.bucket or store.bucket, key=o.key, byte_size=o.byte_size, sha256=o.sha256)


class Deliverer:
    """Encodes a response's tensors inline or into the store, by the request's delivery mode."""

    def __init__(
        self,
        mode: int,
        policy: DeliveryPolicy,
        store: TensorStore | None,
        tenant: str,
        prefix: str,
        *,
        inline_limit: int = 0,
        field: str = "delivery",
    ) -> None:
        """Args:
            mode: the request's ``ResultDelivery``.
            policy: the server's limits.
            store: where non-inline results go (None: everything inline).
            tenant: owner of stored results.
            prefix: key prefix of stored results, e.g. ``"runs/"``.
            inline_limit: the request's own limit for RESULT_DELIVERY_UNSPECIFIED (0: the
                policy's ``inline_limit_bytes``); capped at ``policy.max_inline_bytes``.
            field: the request field that holds the mode, for error messages.
        """
        self.mode = mode
        self.policy = policy
        self.store = store
        self.tenant = tenant
        self.prefix = prefix
        self.field = field
        if inline_limit < 0:
            raise invalid(Reason.DELIVERY_INVALID, "max_inline_bytes", "must be >= 0")
        self.inline_limit = min(inline_limit or policy.inline_limit_bytes, policy.max_inline_bytes)
        if mode not in tpb.ResultDelivery.values():
            raise invalid(Reason.DELIVERY_INVALID, field, f"unknown delivery mode {mode}")

    def plan(self, total_bytes: int) -> bool:
        """Decide for a whole response: True = inline. Raises if INLINE cannot be honoured."""
        if self.mode == tpb.RESULT_DELIVERY_INLINE:
            if total_bytes > self.policy.max_inline_bytes:
                raise ResourceExhausted(
                    Reason.INLINE_RESULT_TOO_LARGE,
                    f"result is {total_bytes} bytes; inline results are limited to {self.policy.max_inline_bytes}. "
                    "Ask for RESULT_DELIVERY_OBJECT_STORE.",
                )
            return True
        if self.mode == tpb.RESULT_DELIVERY_OBJECT_STORE:
            if self.store is None:
                raise invalid(Reason.TENSOR_REF_UNSUPPORTED, self.field, "this service has no tensor store")
            return False
        return total_bytes <= self.inline_limit or self.store is None

    def encode(self, t: torch.Tensor, dim_names: tuple[str, ...] | list[str], inline: bool) -> tpb.Tensor:
        """Encode one tensor as decided by ``plan``."""
        if inline:
            return encode_raw(t, dim_names)
        assert self.store is not None
        return encode_ref(self.store.put(self.tenant, t.contiguous(), prefix=self.prefix), t, dim_names)


def nbytes(t: torch.Tensor) -> int:
    """Bytes of a tensor's elements."""
    return t.numel() * t.element_size()
