"""StorageService servicer: a tenant reads or deletes its own stored tensors.

Other services hand out ``ObjectRef``s when results go to the store; a client that cannot reach
the object store itself (any client outside the cluster) reads them here, and deletes what it no
longer needs instead of waiting for the time-to-live. The servicer also keeps the store tidy: it
installs the tenants' S3 expiry rules where the server supports them (merged with the bucket's
other rules, ``S3TensorStore.ensure_lifecycle``) and sweeps expired objects periodically (every
replica may sweep; sweeping twice is harmless).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import grpc

from interp.v1 import storage_service_pb2 as pb
from interp_services.core.errors import ResourceExhausted, invalid
from interp_services.core.reasons import Reason
from interp_services.rpc.codec import DeliveryPolicy, encode_raw, nbytes, stored_ref
from interp_services.rpc.context import Limits, tenant_of
from interp_services.rpc.errors import rpc_method
from interp_services.store.base import StoredRef, TensorStore

log = logging.getLogger(__name__)


class StorageServicer:
    """Serves StorageService from the fleet's tensor store."""

    def __init__(
        self,
        store: TensorStore | None,
        limits: Limits,
        policy: DeliveryPolicy,
        *,
        sweep_interval_s: float = 0.0,
        tenants: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.limits = limits
        self.policy = policy
        self._stop = threading.Event()
        if store is not None and getattr(store, "ttl_s", 0) and sweep_interval_s > 0:
            ensure = getattr(store, "ensure_lifecycle", None)
            if ensure is not None:
                try:
                    ensure(tenants)
                except Exception:  # noqa: BLE001 - sweeps still enforce the time-to-live
                    log.warning("could not install the store's lifecycle rule", exc_info=True)
            threading.Thread(target=self._sweep_forever, args=(sweep_interval_s,), name="store-sweeper", daemon=True).start()

    def _sweep_forever(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                removed = self.store.sweep()  # type: ignore[union-attr]
                if removed:
                    log.info("swept %d expired objects", removed)
            except Exception:  # noqa: BLE001 - try again next interval
                log.warning("sweeping the store failed", exc_info=True)

    def close(self) -> None:
        """Stop the sweeper."""
        self._stop.set()

    def _refs(self, objects, field: str) -> list[StoredRef]:
        if self.store is None:
            raise invalid(Reason.TENSOR_REF_UNSUPPORTED, field, "this fleet has no tensor store")
        if not objects:
            raise invalid(Reason.INPUT_EMPTY, field, "name at least one object")
        if len(objects) > self.limits.max_objects:
            raise ResourceExhausted(Reason.TOO_MANY_OBJECTS, f"{field}: {len(objects)} objects; the limit is {self.limits.max_objects}")
        return [stored_ref(o, self.store) for o in objects]

    @rpc_method(pb.ReadTensorsResponse)
    def ReadTensors(self, request: pb.ReadTensorsRequest, context: grpc.ServicerContext) -> pb.ReadTensorsResponse:
        tenant = tenant_of(context)
        refs = self._refs(request.objects, "objects")
        claimed = sum(r.byte_size for r in refs)
        if claimed > self.policy.max_inline_bytes:
            raise ResourceExhausted(
                Reason.INLINE_RESULT_TOO_LARGE,
                f"objects: {claimed} bytes; one answer carries at most {self.policy.max_inline_bytes}",
            )
        tensors, total = [], 0
        for ref in refs:
            t = self.store.get(tenant, ref)  # type: ignore[union-attr]
            total += nbytes(t)
            if total > self.policy.max_inline_bytes:  # byte_size is the caller's claim; check the real size
                raise ResourceExhausted(Reason.INLINE_RESULT_TOO_LARGE, f"objects: over {self.policy.max_inline_bytes} bytes")
            tensors.append(encode_raw(t))
        return pb.ReadTensorsResponse(tensors=tensors)

    @rpc_method(pb.DeleteTensorsResponse)
    def DeleteTensors(self, request: pb.DeleteTensorsRequest, context: grpc.ServicerContext) -> pb.DeleteTensorsResponse:
        tenant = tenant_of(context)
        refs = self._refs(request.objects, "objects")
        for ref in refs:
            self.store.delete(tenant, ref)  # type: ignore[union-attr]
        return pb.DeleteTensorsResponse(deleted=len(refs))
