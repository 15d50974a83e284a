"""Tensor ⇄ safetensors bytes, exactly one tensor named ``"tensor"`` per object.

safetensors rather than ``torch.save``: the format is a JSON header plus raw little-endian
buffers, so reading an object can never execute code (``torch.load`` unpickles), and every
language in the fleet (Rust, Go, TypeScript readers exist) can decode it.

Example:
    >>> import torch
    >>> data = encode_tensor(torch.arange(3, dtype=torch.int64))
    >>> decode_tensor(data).tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import hashlib

import torch
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

from interp_services.core.errors import InvalidArgument
from interp_services.core.reasons import Reason

#: The single entry name every stored object carries.
TENSOR_NAME = "tensor"

#: The dtypes the wire format (``interp.v1.DataType``) can describe.
SUPPORTED_DTYPES: frozenset[torch.dtype] = frozenset(
    {
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.int64,
        torch.int32,
        torch.bool,
    }
)


def _check_dtype(dtype: torch.dtype, *, reading: bool) -> None:
    if dtype not in SUPPORTED_DTYPES:
        supported = ", ".join(sorted(str(d).removeprefix("torch.") for d in SUPPORTED_DTYPES))
        if reading:
            raise InvalidArgument(
                Reason.OBJECT_MALFORMED,
                f"stored tensor has unsupported dtype {dtype}; supported: {supported}",
            )
        raise InvalidArgument(
            Reason.TENSOR_DTYPE_UNSUPPORTED,
            f"cannot store a tensor of dtype {dtype}; supported: {supported}",
            metadata={"dtype": str(dtype)},
        )


def encode_tensor(tensor: torch.Tensor) -> bytes:
    """Serialize one tensor to safetensors bytes under the name ``"tensor"``.

    Args:
        tensor: any shape (0-d and empty included) of a supported dtype, on any device.

    Returns:
        The safetensors file contents.

    Raises:
        InvalidArgument: ``UNSUPPORTED_DTYPE`` for e.g. complex or uint8 tensors.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    _check_dtype(tensor.dtype, reading=False)
    # detach/cpu/contiguous: safetensors writes the raw buffer, so it needs a dense CPU tensor;
    # sparse/quantized tensors are rejected by .contiguous() or safetensors itself.
    return _st_save({TENSOR_NAME: tensor.detach().cpu().contiguous()})


def decode_tensor(data: bytes) -> torch.Tensor:
    """Parse safetensors bytes that must hold exactly one tensor named ``"tensor"``.

    Raises:
        InvalidArgument: ``MALFORMED_OBJECT`` if the bytes are not safetensors, hold another
            set of entries, or a dtype outside :data:`SUPPORTED_DTYPES`.
    """
    try:
        entries = _st_load(bytes(data))
    except Exception as exc:  # safetensors raises SafetensorError, but also ValueError etc.
        raise InvalidArgument(
            Reason.OBJECT_MALFORMED, f"object is not a valid safetensors file: {exc}"
        ) from None
    if list(entries) != [TENSOR_NAME]:
        names = sorted(entries)[:8]
        raise InvalidArgument(
            Reason.OBJECT_MALFORMED,
            f'object must hold exactly one tensor named "{TENSOR_NAME}", found {names}',
        )
    tensor = entries[TENSOR_NAME]
    _check_dtype(tensor.dtype, reading=True)
    return tensor


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data`` (the form ``StoredRef.sha256`` uses)."""
    return hashlib.sha256(data).hexdigest()
