"""TensorStore backends against real storage: a temp directory and a real SeaweedFS S3 server.

No mocks: corruption is done by rewriting bytes on disk or overwriting the S3 object with the
MinIO client; unavailability by pointing at a closed port.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import types
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from minio.helpers import md5sum_hash
from safetensors.torch import save as st_save

from interp_services.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from interp_services.store import (
    LocalTensorStore,
    S3TensorStore,
    StoredRef,
    TensorStore,
    decode_tensor,
    encode_tensor,
    open_store,
)
from interp_services.store.s3 import expiry_rules, merge_lifecycle
from tests.support.seaweed import S3Server, free_ports, s3_server  # noqa: F401

TENANT = "acme"
BUCKET = "interp-test"


@pytest.fixture(scope="module")
def s3_store(s3_server: S3Server) -> Iterator[S3TensorStore]:  # noqa: F811
    store = open_store(
        s3_server.url(BUCKET), access_key=s3_server.access_key, secret_key=s3_server.secret_key
    )
    assert isinstance(store, S3TensorStore)
    yield store
    store.close()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TensorStore:
    if request.param == "local":
        return LocalTensorStore(tmp_path / "store")
    return request.getfixturevalue("s3_store")


def plant(
    store: TensorStore, key: str, data: bytes, metadata: dict[str, str] | None = None
) -> StoredRef:
    """Write raw bytes at ``key`` behind the store's back; return a ref that matches them."""
    if isinstance(store, LocalTensorStore):
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        assert isinstance(store, S3TensorStore)
        store.client.put_object(
            bucket_name=store.bucket, object_name=key, data=io.BytesIO(data), length=len(data),
            metadata=metadata,
        )
    return StoredRef(store.bucket, key, len(data), hashlib.sha256(data).hexdigest())


def fresh_key(tenant: str = TENANT) -> str:
    return f"{tenant}/planted/{uuid.uuid4().hex}.safetensors"


def assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    """Bit-exact equality (NaN payloads and -0.0 included)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == torch.bool:
        assert torch.equal(a, b)
        return
    int_view = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    assert torch.equal(a.contiguous().view(int_view), b.contiguous().view(int_view))


SPECIALS = [0.0, -0.0, 1.0, -1.5, float("inf"), float("-inf"), float("nan"), 1e-40, 3.0e38]


def sample_tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "float32": torch.cat([torch.randn(3, 4, 5, generator=g).flatten(), torch.tensor(SPECIALS)]),
        "float16": torch.randn(7, 3, generator=g).to(torch.float16),
        "bfloat16": torch.cat(
            [torch.randn(2, 9, generator=g).flatten(), torch.tensor(SPECIALS)]
        ).to(torch.bfloat16),
        "float64": torch.randn(5, generator=g, dtype=torch.float64),
        "int64": torch.tensor([[0, -1, 2**62, -(2**63), 2**63 - 1]]),
        "int32": torch.arange(-6, 6, dtype=torch.int32).reshape(3, 4),
        "bool": torch.rand(4, 5, generator=g) > 0.5,
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3, dtype=torch.int64),
        "noncontiguous": torch.randn(4, 6, generator=g).t()[::2],
    }


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(sample_tensors()))
def test_round_trip(store: TensorStore, name: str) -> None:
    tensor = sample_tensors()[name]
    ref = store.put(TENANT, tensor, prefix="acts/")
    data = encode_tensor(tensor)
    assert ref.bucket == store.bucket
    assert ref.key.startswith(f"{TENANT}/acts/") and ref.key.endswith(".safetensors")
    assert ref.byte_size == len(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert_same(store.get(TENANT, ref), tensor)


def test_round_trip_50mb(store: TensorStore) -> None:
    tensor = torch.randn(50 * 1024 * 1024 // 4, generator=torch.Generator().manual_seed(1))
    t0 = time.monotonic()
    ref = store.put(TENANT, tensor)
    back = store.get(TENANT, ref)
    assert ref.byte_size > 50 * 1024 * 1024
    assert torch.equal(back, tensor)
    assert time.monotonic() - t0 < 30


def test_is_a_tensor_store(store: TensorStore) -> None:
    assert isinstance(store, TensorStore)
    store.ping()


def test_keys_are_unique_and_prefixed(store: TensorStore) -> None:
    t = torch.ones(2)
    a, b = store.put(TENANT, t, prefix="run-7-"), store.put(TENANT, t, prefix="run-7-")
    assert a.key != b.key and a.key.startswith(f"{TENANT}/run-7-") and a.sha256 == b.sha256


def test_delete(store: TensorStore) -> None:
    ref = store.put(TENANT, torch.ones(3))
    with pytest.raises(PermissionDenied):
        store.delete("other", ref)
    store.delete(TENANT, ref)
    with pytest.raises(NotFound) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_NOT_FOUND"
    store.delete(TENANT, ref)  # missing objects are ignored


# -- integrity ---------------------------------------------------------------------------------


def test_corrupted_object_detected(store: TensorStore) -> None:
    tensor = torch.arange(1000, dtype=torch.float32)
    ref = store.put(TENANT, tensor)
    data = bytearray(encode_tensor(tensor))
    data[-10] ^= 0xFF  # same size, one flipped byte in the payload (still valid safetensors)
    if isinstance(store, LocalTensorStore):
        (store.root / ref.key).write_bytes(bytes(data))
    else:
        assert isinstance(store, S3TensorStore)
        store.client.put_object(
            bucket_name=store.bucket,
            object_name=ref.key,
            data=io.BytesIO(bytes(data)),
            length=len(data),
        )
    with pytest.raises(InvalidArgument) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_HASH_MISMATCH"


def test_replaced_object_with_forged_metadata_detected(store: TensorStore) -> None:
    """The hash of the bytes read decides, not the stored metadata (S3 keeps a sha256 there)."""
    ref = store.put(TENANT, torch.zeros(64))
    other = encode_tensor(torch.ones(64))
    assert len(other) == ref.byte_size
    plant(store, ref.key, other, metadata={"sha256": ref.sha256})
    with pytest.raises(InvalidArgument) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_HASH_MISMATCH"


@pytest.mark.parametrize("delta", [-1, 1000])
def test_size_mismatch_detected(store: TensorStore, delta: int) -> None:
    ref = store.put(TENANT, torch.zeros(64))
    data = encode_tensor(torch.zeros(64))
    plant(store, ref.key, data[:delta] if delta < 0 else data + b"\0" * delta)
    with pytest.raises(InvalidArgument) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_HASH_MISMATCH"


# -- ownership, missing objects, bad references ------------------------------------------------


def test_wrong_tenant_denied(store: TensorStore) -> None:
    ref = store.put(TENANT, torch.ones(2))
    with pytest.raises(PermissionDenied) as exc:
        store.get("other-tenant", ref)
    assert exc.value.reason == "OBJECT_NOT_OWNED"
    # a traversal that starts outside the tenant is an ownership failure too
    sneaky = StoredRef(ref.bucket, f"../{ref.key}", ref.byte_size, ref.sha256)
    with pytest.raises(PermissionDenied):
        store.get(TENANT, sneaky)


@pytest.mark.parametrize(
    "key",
    [
        f"{TENANT}/../other/x.safetensors",
        f"{TENANT}/./x.safetensors",
        f"{TENANT}//x.safetensors",
        f"{TENANT}/.tmp-abc",
        f"{TENANT}/x.bin",
        f"{TENANT}/a\\..\\b.safetensors",
        f"{TENANT}",
    ],
)
def test_malformed_keys_rejected(store: TensorStore, key: str) -> None:
    ref = StoredRef(store.bucket, key, 10, "0" * 64)
    with pytest.raises(InvalidArgument) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_KEY_INVALID"


def test_missing_key_not_found(store: TensorStore) -> None:
    ref = StoredRef(store.bucket, fresh_key(), 100, "0" * 64)
    with pytest.raises(NotFound) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_NOT_FOUND"


def test_bad_references_rejected(store: TensorStore) -> None:
    ref = store.put(TENANT, torch.ones(2))
    cases = {
        "OBJECT_BUCKET_MISMATCH": StoredRef("other-bucket", ref.key, ref.byte_size, ref.sha256),
        "OBJECT_REF_INVALID": StoredRef(ref.bucket, ref.key, ref.byte_size, "XYZ"),
    }
    for reason, bad in cases.items():
        with pytest.raises(InvalidArgument) as exc:
            store.get(TENANT, bad)
        assert exc.value.reason == reason


@pytest.mark.parametrize("tenant", ["", "Acme", "a/b", "..", "-x", "a" * 64, "a_b"])
def test_invalid_tenant(store: TensorStore, tenant: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        store.put(tenant, torch.ones(1))
    assert exc.value.reason == "TENANT_INVALID"


@pytest.mark.parametrize("prefix", ["../", "/abs", "a//b", "a/../b/", ".hidden/", "sp ace", "a\\b"])
def test_invalid_prefix(store: TensorStore, prefix: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        store.put(TENANT, torch.ones(1), prefix=prefix)
    assert exc.value.reason == "KEY_PREFIX_INVALID"


# -- malformed objects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"definitely not safetensors", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(st_save({"tensor": torch.ones(2), "extra": torch.zeros(2)}), id="two-tensors"),
        pytest.param(st_save({"weights": torch.ones(2)}), id="wrong-name"),
        pytest.param(st_save({"tensor": torch.ones(2, dtype=torch.uint8)}), id="unsupported-dtype"),
        pytest.param(b"\xff" * 8 + b"{}", id="huge-header-length"),
    ],
)
def test_malformed_object_rejected(store: TensorStore, payload: bytes) -> None:
    ref = plant(store, fresh_key(), payload)
    with pytest.raises(InvalidArgument) as exc:
        store.get(TENANT, ref)
    assert exc.value.reason == "OBJECT_MALFORMED"


@pytest.mark.parametrize("dtype", [torch.complex64, torch.uint8, torch.int8])
def test_unsupported_dtype_rejected_on_put(store: TensorStore, dtype: torch.dtype) -> None:
    with pytest.raises(InvalidArgument) as exc:
        store.put(TENANT, torch.zeros(2, dtype=dtype))
    assert exc.value.reason == "TENSOR_DTYPE_UNSUPPORTED"


# -- backend specifics -------------------------------------------------------------------------


def test_local_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = LocalTensorStore(tmp_path)
    refs = [store.put(TENANT, torch.full((10,), float(i)), prefix="a/b/") for i in range(5)]
    files = sorted(p.name for p in (tmp_path / TENANT / "a" / "b").iterdir())
    assert files == sorted(r.key.rsplit("/", 1)[1] for r in refs)


def test_local_ping_fails_when_root_gone(tmp_path: Path) -> None:
    store = LocalTensorStore(tmp_path / "root")
    (tmp_path / "root").rmdir()
    with pytest.raises(Unavailable) as exc:
        store.ping()
    assert exc.value.reason == "STORE_UNAVAILABLE"


def test_s3_stores_sha256_metadata(s3_store: S3TensorStore) -> None:
    ref = s3_store.put(TENANT, torch.ones(3))
    stat = s3_store.client.stat_object(bucket_name=s3_store.bucket, object_name=ref.key)
    assert stat.size == ref.byte_size
    assert stat.metadata.get("x-amz-meta-sha256") == ref.sha256


def test_s3_unreachable_is_unavailable() -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = S3TensorStore(f"127.0.0.1:{port}", "key", "secret-value", "interp-test")
    ref = StoredRef("interp-test", fresh_key(), 10, "0" * 64)
    t0 = time.monotonic()
    for call in (
        lambda: store.put(TENANT, torch.ones(2)),
        lambda: store.get(TENANT, ref),
        store.ping,
        store.ensure_bucket,
        lambda: open_store(f"s3://127.0.0.1:{port}/interp-test", access_key="k", secret_key="s"),
    ):
        with pytest.raises(Unavailable) as exc:
            call()
        assert exc.value.reason == "STORE_UNAVAILABLE"
    assert time.monotonic() - t0 < 10  # the client's default retries would take ~6 s per call


def test_s3_wrong_credentials(s3_server: S3Server) -> None:  # noqa: F811
    store = S3TensorStore(s3_server.endpoint, s3_server.access_key, "wrong-secret", BUCKET)
    with pytest.raises(FailedPrecondition) as exc:
        store.ping()
    assert exc.value.reason == "STORE_ACCESS_DENIED"


def test_s3_creates_missing_bucket(s3_server: S3Server) -> None:  # noqa: F811
    bucket = f"fresh-{uuid.uuid4().hex[:12]}"
    store = S3TensorStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket)
    with pytest.raises(FailedPrecondition) as exc:
        store.ping()
    assert exc.value.reason == "STORE_BUCKET_MISSING"
    store.ensure_bucket()
    store.ensure_bucket()  # idempotent
    store.ping()
    assert_same(store.get(TENANT, store.put(TENANT, torch.ones(2))), torch.ones(2))


def test_s3_repr_hides_credentials(
    s3_store: S3TensorStore, s3_server: S3Server  # noqa: F811
) -> None:
    assert s3_server.secret_key not in repr(s3_store)


# -- open_store and the codec ------------------------------------------------------------------


def test_open_store_urls(tmp_path: Path) -> None:
    a = open_store(f"file://{tmp_path}/a")
    b = open_store(str(tmp_path / "b"), access_key="ignored", secret_key="ignored")
    assert isinstance(a, LocalTensorStore) and a.root == (tmp_path / "a").resolve()
    assert isinstance(b, LocalTensorStore) and b.root == (tmp_path / "b").resolve()
    bad_urls = ("s3://k:s@127.0.0.1:1/bucket", "s3://127.0.0.1:1", "s3://127.0.0.1:1/a/b", "gs://x/y")
    for bad in bad_urls:
        with pytest.raises(ValueError):
            open_store(bad, access_key="k", secret_key="s")
    with pytest.raises(ValueError):
        open_store("s3://127.0.0.1:1/bucket")  # no credentials and no defaults
    with pytest.raises(TypeError):
        open_store(str(tmp_path), acess_key="typo")


def test_codec_round_trip_without_store() -> None:
    t = torch.randn(3, 2).to(torch.bfloat16)
    assert_same(decode_tensor(encode_tensor(t)), t)
    with pytest.raises(InvalidArgument) as exc:
        decode_tensor(b"\x00" * 3)
    assert exc.value.reason == "OBJECT_MALFORMED"


# -- time-to-live -------------------------------------------------------------------------------


def test_local_expired_object_is_not_found_and_swept(tmp_path: Path) -> None:
    store = LocalTensorStore(tmp_path / "store", ttl_s=60)
    old, fresh = store.put(TENANT, torch.ones(2)), store.put(TENANT, torch.zeros(2))
    path = tmp_path / "store" / old.key
    past = time.time() - 120
    os.utime(path, (past, past))  # written two minutes ago
    with pytest.raises(NotFound) as exc:
        store.get(TENANT, old)
    assert exc.value.reason == "OBJECT_EXPIRED" and exc.value.metadata["ttl_s"] == "60"
    assert not path.exists()  # reading an expired object removes it
    assert store.get(TENANT, fresh).tolist() == [0.0, 0.0]
    # The sweep removes expired objects nobody asked for, and keeps the rest.
    another = store.put(TENANT, torch.ones(3))
    os.utime(tmp_path / "store" / another.key, (past, past))
    assert store.sweep() == 1
    assert not (tmp_path / "store" / another.key).exists()
    assert store.get(TENANT, fresh).tolist() == [0.0, 0.0]


def test_local_without_ttl_keeps_objects(tmp_path: Path) -> None:
    store = LocalTensorStore(tmp_path / "store")
    ref = store.put(TENANT, torch.ones(2))
    past = time.time() - 10 * 365 * 86400
    os.utime(tmp_path / "store" / ref.key, (past, past))
    assert store.get(TENANT, ref).tolist() == [1.0, 1.0] and store.sweep() == 0


def test_s3_expired_object_is_not_found_and_swept(s3_server: S3Server) -> None:  # noqa: F811
    store = open_store(
        s3_server.url("interp-ttl"), access_key=s3_server.access_key, secret_key=s3_server.secret_key, ttl_s=1
    )
    assert isinstance(store, S3TensorStore)
    first, second = store.put(TENANT, torch.ones(2)), store.put(TENANT, torch.ones(3))
    time.sleep(2.2)  # Last-Modified and Date have one-second resolution
    with pytest.raises(NotFound) as exc:
        store.get(TENANT, first)
    assert exc.value.reason == "OBJECT_EXPIRED"
    assert store.sweep() == 1  # `second`; `first` went when it was read
    with pytest.raises(NotFound) as exc:
        store.get(TENANT, second)
    assert exc.value.reason == "OBJECT_NOT_FOUND"
    fresh = store.put(TENANT, torch.ones(1))
    assert store.get(TENANT, fresh).tolist() == [1.0] and store.sweep() == 0
    # The bucket also gets a lifecycle rule per tenant (S3 counts in days: the TTL rounded up).
    assert store.ensure_lifecycle([TENANT]) is True
    (rule,) = store.client.get_bucket_lifecycle(bucket_name="interp-ttl").rules
    assert (rule.rule_id, rule.rule_filter.prefix, rule.expiration.days) == ("interp-expiry-acme", "acme/", 1)
    store.close()


# -- a shared bucket: lifecycle rules and sweeps leave other data alone ---------------------------

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
# Another owner's rules, as S3 returns them: one with the legacy top-level Prefix (which the minio
# client's models drop, turning the rule into a bucket-wide one if written back), one with a size
# filter the models do not know; plus this store's bucket-wide rule of earlier versions and a rule
# of a tenant that is gone.
THEIR_RULES = (
    "<Rule><ID>logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>"
    "<Rule><ID>big-scratch</ID><Filter><And><Prefix>scratch/</Prefix><ObjectSizeGreaterThan>1048576</ObjectSizeGreaterThan>"
    "</And></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
    "</AbortIncompleteMultipartUpload></Rule>"
)
OLD_OURS = (
    "<Rule><ID>interp-expiry</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
    "<Rule><ID>interp-expiry-gone</ID><Filter><Prefix>gone/</Prefix></Filter><Status>Enabled</Status>"
    "<Expiration><Days>1</Days></Expiration></Rule>"
)


def our_rule(tenant: str, days: int) -> str:
    return (f"<Rule><Status>Enabled</Status><Filter><Prefix>{tenant}/</Prefix></Filter><ID>interp-expiry-{tenant}</ID>"
            f"<Expiration><Days>{days}</Days></Expiration></Rule>")


def lifecycle_xml(rules: str, namespace: str | None = None) -> bytes:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    return f"<LifecycleConfiguration{xmlns}>{rules}</LifecycleConfiguration>".encode()


def canonical(xml: bytes | None) -> str | None:
    return None if xml is None else ET.canonicalize(xml.decode(), strip_text=True)


def test_lifecycle_merge_replaces_only_our_rules() -> None:
    ours = expiry_rules(["default", "acme", "acme"], 2)
    merged = merge_lifecycle(lifecycle_xml(THEIR_RULES + OLD_OURS, S3_NS), ours)
    assert canonical(merged) == canonical(lifecycle_xml(THEIR_RULES + our_rule("acme", 2) + our_rule("default", 2)))
    assert canonical(merge_lifecycle(None, ours)) == canonical(lifecycle_xml(our_rule("acme", 2) + our_rule("default", 2)))
    # No time-to-live: our rules go, theirs stay; nothing left: no configuration at all.
    assert canonical(merge_lifecycle(lifecycle_xml(OLD_OURS + THEIR_RULES), [])) == canonical(lifecycle_xml(THEIR_RULES))
    assert merge_lifecycle(lifecycle_xml(OLD_OURS), []) is None
    with pytest.raises(InvalidArgument):
        expiry_rules(["Not A Tenant"], 1)


def raw_lifecycle(store: S3TensorStore) -> bytes:
    return store.client._execute("GET", store.bucket, query_params={"lifecycle": ""}).data


def test_s3_lifecycle_keeps_a_shared_buckets_rules(s3_server: S3Server) -> None:  # noqa: F811
    bucket = f"shared-{uuid.uuid4().hex[:12]}"
    store = open_store(s3_server.url(bucket), access_key=s3_server.access_key, secret_key=s3_server.secret_key, ttl_s=86400 + 1)
    assert isinstance(store, S3TensorStore)
    body = lifecycle_xml(THEIR_RULES + OLD_OURS)
    store.client._execute("PUT", bucket, body=body, headers={"Content-MD5": md5sum_hash(body)}, query_params={"lifecycle": ""})
    for _ in range(2):  # idempotent
        assert store.ensure_lifecycle(["acme", "default"]) is True
        assert canonical(raw_lifecycle(store)) == canonical(lifecycle_xml(THEIR_RULES + our_rule("acme", 2) + our_rule("default", 2)))
    assert store.ensure_lifecycle() is True  # no tenants: nothing to scope a rule to, nothing touched
    assert canonical(raw_lifecycle(store)) == canonical(lifecycle_xml(THEIR_RULES + our_rule("acme", 2) + our_rule("default", 2)))
    forever = open_store(s3_server.url(bucket), access_key=s3_server.access_key, secret_key=s3_server.secret_key)
    assert isinstance(forever, S3TensorStore)
    assert forever.ensure_lifecycle(["acme"]) is True  # store_ttl_s 0: our rules are removed
    assert canonical(raw_lifecycle(store)) == canonical(lifecycle_xml(THEIR_RULES))
    store.close()
    forever.close()


def test_s3_sweep_removes_only_tensor_store_objects(s3_server: S3Server) -> None:  # noqa: F811
    bucket = f"shared-{uuid.uuid4().hex[:12]}"
    store = open_store(s3_server.url(bucket), access_key=s3_server.access_key, secret_key=s3_server.secret_key, ttl_s=1)
    assert isinstance(store, S3TensorStore)
    ours = store.put(TENANT, torch.ones(2))
    theirs = ["logs/app.log", f"{TENANT}/notes.txt", "Reports/q3.safetensors", "model.safetensors"]
    for key in theirs:
        plant(store, key, b"someone else's")
    time.sleep(2.2)  # Last-Modified has one-second resolution
    assert store.sweep() == 1
    left = sorted(o.object_name for o in store.client.list_objects(bucket_name=bucket, recursive=True))
    assert left == sorted(theirs) and ours.key not in left
    store.close()


def test_the_storage_service_installs_the_tenants_rules_at_start(s3_server: S3Server) -> None:  # noqa: F811
    """The storage service's replicas install the rules of the tenants the fleet's keys name (and
    the keyless ``default``), as the provisioning Job does, keeping the bucket's other rules."""
    from interp_services.registry import SERVICES
    from interp_services.settings import load_settings

    bucket = f"shared-{uuid.uuid4().hex[:12]}"
    store = open_store(s3_server.url(bucket), access_key=s3_server.access_key, secret_key=s3_server.secret_key, ttl_s=86400)
    assert isinstance(store, S3TensorStore)
    body = lifecycle_xml(THEIR_RULES)
    store.client._execute("PUT", bucket, body=body, headers={"Content-MD5": md5sum_hash(body)}, query_params={"lifecycle": ""})
    settings = load_settings(data={"api_keys": {"k1": "acme", "k2": "bob"}}, env={})
    assert settings.tenants() == ["acme", "bob", "default"]
    spec = next(s for s in SERVICES if s.key == "storage")
    servicer = spec.factory(types.SimpleNamespace(store=store, settings=settings))
    try:
        want = THEIR_RULES + our_rule("acme", 1) + our_rule("bob", 1) + our_rule("default", 1)
        assert canonical(raw_lifecycle(store)) == canonical(lifecycle_xml(want))
    finally:
        servicer.close()
        store.close()
