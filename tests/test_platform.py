"""The platform: a service is new files plus one registry entry.

A service defined only in this test (its own proto, compiled here) is registered beside the
built-in ones and reached through the gateway in-process -- routing, health, reflection, error
details and its call to the model host included -- without any edit under ``services/``. Also:
settings derived from the registry, the storage service, the store's time-to-live through gRPC.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

from interp.v1 import tensor_pb2 as tpb
from interpretability import Client, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from tests.conftest import DEV_KEY

ECHO_PROTO = """
syntax = "proto3";
package testecho.v1;

// EchoService exists only in a test: it counts tokens through the model host.
service EchoService {
  // Echoes a text with its token count.
  rpc Echo(EchoRequest) returns (EchoResponse);
  // Streams the numbers 1..n.
  rpc Count(CountRequest) returns (stream CountResponse);
}
message EchoRequest { string model = 1; string text = 2; }
message EchoResponse { string text = 1; int32 num_tokens = 2; string tenant = 3; }
message CountRequest { int32 n = 1; }
message CountResponse { int32 value = 1; }
"""


@pytest.fixture(scope="module")
def echo_pb2(tmp_path_factory):
    """The test service's messages, compiled from the proto above into a temporary package."""
    d = tmp_path_factory.mktemp("echo_proto")
    (d / "testecho" / "v1").mkdir(parents=True)
    (d / "testecho" / "v1" / "echo_service.proto").write_text(ECHO_PROTO)
    assert protoc.main(["protoc", f"-I{d}", f"--python_out={d}", "testecho/v1/echo_service.proto"]) == 0
    sys.path.insert(0, str(d))
    try:
        yield importlib.import_module("testecho.v1.echo_service_pb2")
    finally:
        sys.path.remove(str(d))


@pytest.fixture(scope="module")
def echo_spec(echo_pb2):
    from interp.v1 import common_pb2
    from interp.v1 import model_host_service_pb2 as mh
    from interp_services.core.errors import invalid
    from interp_services.core.reasons import Reason
    from interp_services.registry import ServiceSpec
    from interp_services.rpc.context import tenant_of
    from interp_services.rpc.errors import rpc_method

    class EchoServicer:
        def __init__(self, model_host):
            self.model_host = model_host

        @rpc_method(echo_pb2.EchoResponse)
        def Echo(self, request, context):
            if not request.text:
                raise invalid(Reason.INPUT_EMPTY, "text", "must not be empty")
            tenant = tenant_of(context)
            tok = self.model_host.call(
                "Tokenize", mh.TokenizeRequest(model=request.model, texts=common_pb2.TextBatch(texts=[request.text])), tenant
            )
            return echo_pb2.EchoResponse(text=request.text, num_tokens=len(tok.tokenized[0].token_ids), tenant=tenant)

        @rpc_method(echo_pb2.CountResponse)
        def Count(self, request, context):
            for i in range(1, request.n + 1):
                yield echo_pb2.CountResponse(value=i)

    return ServiceSpec(
        key="echo",
        descriptor=echo_pb2.DESCRIPTOR.services_by_name["EchoService"],
        factory=lambda env: EchoServicer(env.client("model_host")),
        calls=("model_host",),
        deployment={"num_cpus": 0.1},
    )


@pytest.fixture(scope="module")
def echo_fleet(echo_spec, model_cache, local_store):
    from interp_services.local import LocalFleet
    from interp_services.registry import SERVICES
    from interp_services.settings import from_dict

    services = [*SERVICES, echo_spec]
    settings = from_dict({"api_keys": {DEV_KEY: "dev"}}, services=services)
    with LocalFleet.start(settings, store=local_store, model_cache=model_cache, services=services) as fleet:
        yield fleet


def test_a_service_defined_in_a_test_is_served_through_the_gateway(echo_fleet, echo_pb2, smollm):
    with grpc.insecure_channel(echo_fleet.endpoint) as ch:
        echo = ch.unary_unary(
            "/testecho.v1.EchoService/Echo",
            request_serializer=echo_pb2.EchoRequest.SerializeToString,
            response_deserializer=echo_pb2.EchoResponse.FromString,
        )
        meta = (("x-api-key", DEV_KEY),)
        resp = echo(echo_pb2.EchoRequest(model="smollm2-135m", text="The quick brown fox"), metadata=meta, timeout=60)
        assert resp.num_tokens == len(smollm.tokenizer("The quick brown fox")["input_ids"]) and resp.tenant == "dev"
        count = ch.unary_stream(
            "/testecho.v1.EchoService/Count",
            request_serializer=echo_pb2.CountRequest.SerializeToString,
            response_deserializer=echo_pb2.CountResponse.FromString,
        )
        assert [r.value for r in count(echo_pb2.CountRequest(n=3), metadata=meta, timeout=30)] == [1, 2, 3]
        # The gateway still authenticates it, and the servicer's error keeps its reason.
        with pytest.raises(grpc.RpcError) as e:
            echo(echo_pb2.EchoRequest(model="smollm2-135m", text="x"), timeout=30)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            echo(echo_pb2.EchoRequest(model="smollm2-135m", text=""), metadata=meta, timeout=30)
        from interpretability.errors import from_rpc_error

        err = from_rpc_error(e.value)
        assert (err.code, err.reason, err.violations[0].field) == (grpc.StatusCode.INVALID_ARGUMENT, "INPUT_EMPTY", "text")
        # The model host's error, from inside the new service, reaches the client unchanged.
        with pytest.raises(grpc.RpcError) as e:
            echo(echo_pb2.EchoRequest(model="no-such-model", text="x"), metadata=meta, timeout=30)
        assert (e.value.code(), from_rpc_error(e.value).reason) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")


def test_the_new_service_has_health_and_reflection(echo_fleet):
    with grpc.insecure_channel(echo_fleet.endpoint) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        status = health.Check(health_pb2.HealthCheckRequest(service="testecho.v1.EchoService"), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        r = reflection_pb2_grpc.ServerReflectionStub(ch)
        listed = next(r.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        assert "testecho.v1.EchoService" in {s.name for s in listed.list_services_response.service}
        found = next(
            r.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="testecho.v1.EchoService")]))
        )
        assert found.file_descriptor_response.file_descriptor_proto
    with Client(echo_fleet.endpoint, api_key=DEV_KEY) as c:
        assert "testecho.v1.EchoService" in c.services() and c.health("testecho.v1.EchoService") == "SERVING"


def test_settings_derive_deployments_from_the_registry(echo_spec, tmp_path):
    from interp_services.registry import SERVICES
    from interp_services.settings import load_settings

    cfg = tmp_path / "s.yaml"
    cfg.write_text("deployments:\n  echo: {num_replicas: 3}\n  attention: {num_cpus: 1.5}\n")
    s = load_settings(cfg, {}, services=[*SERVICES, echo_spec])
    assert s.deployment("echo").num_replicas == 3 and s.deployment("echo").num_cpus == 0.1  # default from the spec
    assert s.deployment("attention").num_cpus == 1.5 and s.deployment("attention").max_ongoing_requests == 8
    assert set(s.deployments) == {"gateway", *(spec.key for spec in SERVICES), "echo"}
    cfg.write_text("deployments:\n  autoencoders: {num_replicas: 1}\n")
    with pytest.raises(ValueError, match="autoencoders"):
        load_settings(cfg, {})


def test_registry_checks_its_entries(echo_spec):
    import dataclasses

    from interp_services.registry import SERVICES, in_dependency_order

    assert [s.key for s in in_dependency_order([echo_spec, *SERVICES])][:2] == ["model_host", "echo"]
    with pytest.raises(ValueError, match="unknown service"):
        in_dependency_order([dataclasses.replace(echo_spec, calls=("nowhere",))])
    with pytest.raises(ValueError, match="cycle"):
        in_dependency_order([dataclasses.replace(echo_spec, calls=("echo",))])
    with pytest.raises(ValueError, match="duplicate"):
        in_dependency_order([*SERVICES, dataclasses.replace(echo_spec, key="attention")])


def test_the_example_settings_file_names_every_deployment():
    from pathlib import Path

    import yaml

    from interp_services.settings import load_settings

    example = Path(__file__).resolve().parents[1] / "deploy" / "settings.example.yaml"
    data = yaml.safe_load(example.read_text())
    assert set(data["deployments"]) == set(load_settings(example, {}).deployments)


# -- storage service and time-to-live -------------------------------------------------------------
def test_storage_reads_and_deletes_a_tenants_own_objects(local_fleet):
    site = "blocks.0.hook_resid_pre"
    with Client(local_fleet.endpoint, api_key="k-alice") as alice, Client(local_fleet.endpoint, api_key="k-bob") as bob:
        run = alice.run("all-minilm-l6-v2", ["hello world"], capture=[site], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
        stored = run.activations[0].tensor
        inline = alice.run("all-minilm-l6-v2", ["hello world"], capture=[site], delivery=tpb.RESULT_DELIVERY_INLINE)
        # ReadTensors returns the very tensor the run stored.
        assert (alice.to_numpy(stored) == alice.to_numpy(inline.activations[0].tensor)).all()
        with pytest.raises(PermissionDenied) as e:
            bob.read_tensors([stored])
        assert e.value.reason == "OBJECT_NOT_OWNED"
        with pytest.raises(PermissionDenied):
            bob.delete_tensors([stored])
        assert alice.delete_tensors([stored]) == 1
        with pytest.raises(NotFound) as e:
            alice.read_tensors([stored])
        assert e.value.reason == "OBJECT_NOT_FOUND"
        assert alice.delete_tensors([stored.object]) == 1  # deleting twice is fine
        with pytest.raises(InvalidArgument) as e:
            alice.read_tensors([])
        assert e.value.reason == "INPUT_EMPTY"
        with pytest.raises(ResourceExhausted) as e:
            alice.delete_tensors([stored.object] * 257)  # the default limit is 256 per call
        assert e.value.reason == "TOO_MANY_OBJECTS"


def test_an_expired_object_answers_not_found_with_a_reason(model_cache, tmp_path):
    """Store objects live ``store_ttl_s``: past it, every service answers OBJECT_EXPIRED."""
    from interp_services.local import LocalFleet
    from interp_services.settings import from_dict
    from interp_services.store import LocalTensorStore

    store = LocalTensorStore(tmp_path / "store", ttl_s=60)
    settings = from_dict({"api_keys": {DEV_KEY: "dev"}, "store_ttl_s": 60})
    site = "blocks.0.hook_resid_pre"
    with LocalFleet.start(settings, store=store, model_cache=model_cache) as fleet, Client(fleet.endpoint, api_key=DEV_KEY) as c:
        stored = c.run("all-minilm-l6-v2", ["hello"], capture=[site], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE).activations[0].tensor
        assert c.to_numpy(stored).shape[-1] == 384
        past = time.time() - 120  # as if written two minutes ago
        os.utime(tmp_path / "store" / stored.object.key, (past, past))
        with pytest.raises(NotFound) as e:
            c.read_tensors([stored])
        assert (e.value.reason, e.value.metadata["ttl_s"]) == ("OBJECT_EXPIRED", "60")
        from interpretability import patch

        stored = c.run("all-minilm-l6-v2", ["hello"], capture=[site], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE).activations[0].tensor
        os.utime(tmp_path / "store" / stored.object.key, (past, past))
        with pytest.raises(NotFound) as e:
            c.run("all-minilm-l6-v2", ["hello"], interventions=[patch(site, stored)])
        assert e.value.reason == "OBJECT_EXPIRED"



def test_run_model_takes_its_own_inline_limit(local_fleet):
    site = "blocks.0.hook_resid_pre"  # [1, tokens, 384] float32: a few KB
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        small = c.run("all-minilm-l6-v2", ["hello world"], capture=[site])
        assert small.activations[0].tensor.WhichOneof("data") == "raw"
        stored = c.run("all-minilm-l6-v2", ["hello world"], capture=[site], max_inline_bytes=1000)
        assert stored.activations[0].tensor.WhichOneof("data") == "object"
        assert (c.to_numpy(stored.activations[0].tensor) == c.to_numpy(small.activations[0].tensor)).all()
        c.delete_tensors([stored.activations[0].tensor])
        with pytest.raises(InvalidArgument) as e:
            c.run("all-minilm-l6-v2", ["hello world"], capture=[site], max_inline_bytes=-1)
        assert e.value.reason == "DELIVERY_INVALID"


def test_torch_threads_follow_the_cpu_request():
    from interp_services.settings import resolve_torch_threads

    assert resolve_torch_threads(3, 0.5, node_cpus=8) == 3  # explicit wins
    assert resolve_torch_threads(0, 0.5, node_cpus=8) == 8  # fractional: share the whole node
    assert resolve_torch_threads(0, 2, node_cpus=8) == 2  # a whole-CPU request owns those cores
    assert resolve_torch_threads(0, 1.5, node_cpus=8) == 2
    assert resolve_torch_threads(0, 16, node_cpus=8) == 8


def test_a_local_fleet_hands_its_development_key_to_local_clients(tmp_path, monkeypatch):
    from interp_services.serve.runtime import write_runtime_file
    from interpretability.credentials import local_fleet_key, resolve_api_key

    monkeypatch.setenv("INTERP_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.delenv("INTERP_API_KEY", raising=False)
    path = write_runtime_file("127.0.0.1", 50999, {DEV_KEY: "dev"})
    assert path is not None and oct(path.stat().st_mode & 0o777) == "0o600"
    assert local_fleet_key("127.0.0.1:50999") == DEV_KEY and local_fleet_key("localhost:50999") == DEV_KEY
    assert local_fleet_key("127.0.0.1:50998") is None  # another port, another fleet
    assert local_fleet_key("10.0.0.5:50999") is None  # never for a remote endpoint
    assert resolve_api_key("127.0.0.1:50999", "explicit") == "explicit"
    monkeypatch.setenv("INTERP_API_KEY", "from-env")
    assert resolve_api_key("127.0.0.1:50999", None) == "from-env"
    # Production keys, and fleets listening beyond loopback, write nothing.
    assert write_runtime_file("127.0.0.1", 51000, {"secret": "acme"}) is None
    assert write_runtime_file("0.0.0.0", 51001, {DEV_KEY: "dev"}) is None
