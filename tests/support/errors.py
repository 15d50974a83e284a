"""Checks of the errors a call answers with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from interpretability import InterpClientError


def assert_invalid_argument(call: Callable[[], Any], reason: str, field: str) -> None:
    """``call`` fails with INVALID_ARGUMENT, ``reason`` and a field violation naming ``field``."""
    with pytest.raises(InterpClientError) as e:
        call()
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason), str(e.value)
    assert field in [v.field for v in e.value.violations], (field, e.value.violations)
