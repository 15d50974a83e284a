"""Paths the other tests leave out: the model cache's LRU and byte bounds, refused model
directories, result delivery (store by default past the inline limit, the inline cap), bearer
authentication, the SDK's retries, environment overrides and the CLI's flags and progress bar.

In process and cheap: tiny random GPT-2 models saved here (the toy's word-level tokenizer), the
shared ``local_fleet``, and one small fleet of this module's own with a fresh model cache.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from concurrent import futures
from pathlib import Path

import grpc
import pytest
import torch

from interp.v1 import model_host_service_pb2 as mpb
from interp.v1 import tensor_pb2 as tpb
from interpretability import Client, InterpClientError, ResourceExhausted, Unavailable
from tests.conftest import DEV_KEY, TOY_MODEL, run_cli
from tests.support.models import random_gpt2
from tests.toy_models.induction import evaluation_sequences, sequences_to_text

TEXT = "The quick brown fox jumps over the lazy dog."


def tiny_gpt2(path: Path, n_embd: int, *, n_layer: int = 1, auto_map: bool = False, pickled: bool = False) -> Path:
    """A random GPT-2 with the toy's 21-symbol tokenizer: loads in milliseconds."""
    path.mkdir(parents=True)
    random_gpt2(path, seed=n_embd, n_embd=n_embd, n_head=2, n_layer=n_layer, pickled=pickled)
    if auto_map:
        cfg = json.loads((path / "config.json").read_text())
        cfg["auto_map"] = {"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.CustomModel"}
        (path / "config.json").write_text(json.dumps(cfg))
        # Code that would leave a mark if anything ran it.
        (path / "custom.py").write_text(f"open({str(path / 'RAN')!r}, 'w').close()\n")
    return path


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    """Allowed model root of this module's fleet: three sizes of tiny model, and refusals."""
    root = tmp_path_factory.mktemp("models")
    for name, width in (("b", 32), ("c", 96)):
        tiny_gpt2(root / name, width)
    tiny_gpt2(root / "pickled", 16, pickled=True)
    tiny_gpt2(root / "remote", 16, auto_map=True)
    return root


def fresh_cache(tmp_path: Path, **kwargs):
    from interp_services.core.models import LoaderSettings, ModelCache

    roots = kwargs.pop("roots", ())
    return ModelCache(LoaderSettings(cache_dir=tmp_path / "converted", allow_hub=False, allowed_local_roots=tuple(roots)), **kwargs)


# -- the model cache ------------------------------------------------------------------------------


def test_model_cache_evicts_the_least_recently_used(tmp_path, models_root):
    """Bound of two: use A, use B, touch A, load C -> B goes, A (recently used) stays, as the
    same object (not reloaded)."""
    a, b, c = str(TOY_MODEL), str(models_root / "b"), str(models_root / "c")
    cache = fresh_cache(tmp_path, max_models=2)
    first_a = cache.get(a)
    cache.get(b)
    assert cache.get(a) is first_a
    cache.get(c)
    assert cache.loaded_names() == [a, c]
    assert cache.get(a) is first_a
    cache.get(b)  # reloaded; now C is the least recently used
    assert cache.loaded_names() == [a, b]


def test_model_cache_byte_bound_evicts_until_the_models_fit(tmp_path, models_root):
    from interp_services.core.errors import ResourceExhausted as CoreResourceExhausted

    a, b, c = str(TOY_MODEL), str(models_root / "b"), str(models_root / "c")
    sizes = {}
    probe = fresh_cache(tmp_path, max_models=3)
    for name in (a, b, c):
        sizes[name] = probe.get(name).byte_size
    assert sizes[b] < sizes[c]
    # A and B fit together, all three do not; A and C fill the bound exactly.
    cache = fresh_cache(tmp_path, max_models=10, max_bytes=sizes[a] + sizes[c])
    cache.get(a)
    cache.get(b)
    assert cache.loaded_names() == [a, b]
    cache.get(a)
    cache.get(c)
    assert cache.loaded_names() == [a, c]
    # A model larger than the whole bound is refused, and evicts nothing.
    small = fresh_cache(tmp_path, max_models=10, max_bytes=sizes[c] - 1)
    small.get(a)
    with pytest.raises(CoreResourceExhausted) as e:
        small.get(c)
    assert e.value.reason == "MODEL_TOO_LARGE"
    assert small.loaded_names() == [a]


# -- refused model directories ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_fleet(tmp_path_factory, models_root):
    """A fleet of this module's own: a fresh model cache (so loads are really loads, with
    progress) whose allowed local roots are ``models_root`` and the toy's directory."""
    from interp_services.core.models import LoaderSettings, ModelCache
    from interp_services.local import LocalFleet
    from interp_services.settings import from_dict
    from interp_services.store import LocalTensorStore

    tmp = tmp_path_factory.mktemp("own_fleet")
    cache = ModelCache(
        LoaderSettings(cache_dir=tmp / "converted", allow_hub=False, allowed_local_roots=(models_root, TOY_MODEL.parent)),
        max_models=2,
    )
    settings = from_dict({"api_keys": {DEV_KEY: "dev"}})
    with LocalFleet.start(settings, store=LocalTensorStore(tmp / "store"), model_cache=cache) as fleet:
        yield fleet


@pytest.fixture
def own_client(own_fleet):
    with Client(own_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


def test_a_pickled_checkpoint_is_refused_unread(own_client, models_root, monkeypatch):
    """Only ``pytorch_model.bin``: INVALID_ARGUMENT MODEL_UNLOADABLE, and nothing unpickled."""

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickled checkpoint")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(InterpClientError) as e:
        own_client.model_info(str(models_root / "pickled"))
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNLOADABLE"), str(e.value)
    assert "pytorch_model.bin" in e.value.message and "safetensors" in e.value.message
    assert [v.field for v in e.value.violations] == ["model"]


def test_a_model_asking_for_remote_code_is_refused(own_client, models_root):
    """``auto_map`` in config.json: refused, although model_type gpt2 would load transformers'
    own class in place of the author's, and the shipped code never runs."""
    with pytest.raises(InterpClientError) as e:
        own_client.model_info(str(models_root / "remote"))
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MODEL_UNLOADABLE"), str(e.value)
    assert "remote code" in e.value.message and "auto_map" in e.value.message
    assert not (models_root / "remote" / "RAN").exists()


def test_a_directory_outside_the_allowed_roots_is_refused(own_client, models_root, tmp_path):
    """Outside the roots, an existing model and a missing directory get the same answer (the
    server reveals nothing about its disk), a symlink inside a root to a directory outside
    included; inside, the same model loads."""
    expected = (grpc.StatusCode.PERMISSION_DENIED, "MODEL_PATH_NOT_ALLOWED")
    outside = tiny_gpt2(tmp_path / "outside", 16)
    link = models_root / "link-to-outside"
    link.symlink_to(outside, target_is_directory=True)
    try:
        answers = []
        for name in (outside, tmp_path / "no-such-dir", link):
            with pytest.raises(InterpClientError) as e:
                own_client.model_info(str(name))
            assert (e.value.code, e.value.reason) == expected, str(e.value)
            assert "outside the server's allowed model roots" in e.value.message
            answers.append(e.value.message.replace(str(name), "NAME"))
        assert len(set(answers)) == 1
    finally:
        link.unlink()
    inside = shutil.copytree(outside, models_root / "inside")
    assert own_client.model_info(str(inside)).num_layers == 1


# -- the CLI ---------------------------------------------------------------------------------------


def test_cli_flags_and_progress(own_fleet, tmp_path):
    """--top-links, --no-patterns and --output x.json; the progress bar of a real load on
    stderr (the toy is not yet loaded in this fleet), and of a model already loaded."""
    toy = str(TOY_MODEL)
    text = sequences_to_text(evaluation_sequences(1, seed=123).tokens)[0]
    out = tmp_path / "x.json"
    r = run_cli(own_fleet.endpoint, "analyze-attention", "--model-name", toy, "--input-text", text,
                "--top-links", "3", "--no-patterns", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert f"loading {toy}:" in r.stderr and "loading weights" in r.stderr and "100%" in r.stderr, r.stderr
    assert "loading" not in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]  # .json: no HTML beside it
    data = json.loads(out.read_text())
    assert data["patterns"] == [] and len(data["hotspots"]) == 3 and len(data["heads"]) == 2
    hotspot_lines = r.stdout.split("Attention Hotspots")[1].split("Layer-wise Patterns")[0].strip().splitlines()[1:]
    assert len(hotspot_lines) == 3 and f"wrote {out}" in r.stdout

    out = tmp_path / "y.json"
    r = run_cli(own_fleet.endpoint, "analyze-attention", "--model-name", toy, "--input-text", text,
                "--top-links", "1", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert f"loading {toy}:" in r.stderr and "100%" in r.stderr and "loading weights" not in r.stderr, r.stderr
    data = json.loads(out.read_text())
    n = len(data["tokens"])
    assert len(data["hotspots"]) == 1
    assert [(p["layer"], len(p["matrices"]), len(p["matrices"][0]), len(p["matrices"][0][0])) for p in data["patterns"]] == [
        (0, 1, n, n), (1, 1, n, n)
    ]


def test_cli_model_info_lists_hook_sites(own_fleet, own_client):
    toy = str(TOY_MODEL)
    r = run_cli(own_fleet.endpoint, "model-info", "--model-name", toy, "--hook-sites")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "2 layers, 1 heads" in lines[0]
    listed = [line.split()[0] for line in lines[1:]]
    assert listed == [s.name for s in own_client.model_info(toy).hook_sites]
    assert "blocks.1.attn.hook_pattern" in listed and "hook_embed" in listed


# -- delivery and authentication through the shared in-process fleet ------------------------------


@pytest.fixture(scope="module")
def client(local_fleet):
    with Client(local_fleet.endpoint, api_key=DEV_KEY) as c:
        yield c


def test_results_over_the_inline_limit_go_to_the_store_by_default(client, smollm):
    """RESULT_DELIVERY_UNSPECIFIED: up to 4 MiB inline, one token more and the result is stored."""
    row = smollm.info.vocab_size * 4  # float32 logits per position
    fits = (4 << 20) // row
    small = client.run("smollm2-135m", tokens=[[1] * fits], return_logits=True)
    assert small.logits.WhichOneof("data") == "raw" and list(small.logits.shape) == [1, fits, smollm.info.vocab_size]
    big = client.run("smollm2-135m", tokens=[[1] * (fits + 1)], return_logits=True)
    assert big.logits.WhichOneof("data") == "object" and big.logits.object.key.startswith("dev/runs/")
    assert client.to_numpy(big.logits).shape == (1, fits + 1, smollm.info.vocab_size)
    assert client.delete_tensors([big.logits]) == 1


def test_inline_delivery_over_the_cap_is_resource_exhausted(client, smollm):
    """RESULT_DELIVERY_INLINE past 48 MiB: RESOURCE_EXHAUSTED INLINE_RESULT_TOO_LARGE."""
    too_many = (48 << 20) // (smollm.info.vocab_size * 4) + 1
    with pytest.raises(ResourceExhausted) as e:
        client.run("smollm2-135m", tokens=[[1] * too_many], return_logits=True, delivery=tpb.RESULT_DELIVERY_INLINE)
    assert e.value.reason == "INLINE_RESULT_TOO_LARGE" and "RESULT_DELIVERY_OBJECT_STORE" in e.value.message


@pytest.mark.parametrize(
    "header, tenant",
    [("Bearer k-alice", "alice"), ("bearer k-bob", "bob"), ("Bearer wrong", "API_KEY_INVALID"), ("Basic k-alice", "API_KEY_MISSING")],
)
def test_bearer_token_authenticates_like_x_api_key(local_fleet, header, tenant):
    """``authorization: Bearer <key>`` names the same tenant as ``x-api-key`` (seen in the key of
    a stored result); a wrong key or another scheme is UNAUTHENTICATED."""
    req = mpb.RunModelRequest(model="all-minilm-l6-v2", capture=["blocks.0.hook_resid_pre"], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)
    req.texts.texts.append("bearer")
    with grpc.insecure_channel(local_fleet.endpoint) as ch:
        call = ch.unary_unary(
            "/interp.v1.ModelHostService/RunModel",
            request_serializer=mpb.RunModelRequest.SerializeToString,
            response_deserializer=mpb.RunModelResponse.FromString,
        )
        if tenant.startswith("API_KEY"):
            with pytest.raises(grpc.RpcError) as e:
                call(req, metadata=(("authorization", header),), timeout=60)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            from interpretability.errors import from_rpc_error

            assert from_rpc_error(e.value).reason == tenant
            return
        resp = call(req, metadata=(("authorization", header),), timeout=60)
    ref = resp.activations[0].tensor.object
    assert ref.key.startswith(f"{tenant}/runs/")
    with Client(local_fleet.endpoint, api_key=f"k-{tenant}") as c:
        assert c.delete_tensors([ref]) == 1


# -- the SDK's retries -----------------------------------------------------------------------------


class FlakyModelHost:
    """A gRPC server that answers UNAVAILABLE (or ``code``) ``failures`` times per method, then
    OK; ``calls`` counts what arrived."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.failures, self.code, self.calls = failures, code, Counter()
        answers = {"ListModels": mpb.ListModelsResponse(models=[mpb.ModelSummary(name="m")]), "RunModel": mpb.RunModelResponse(model="m")}
        handlers = {name: grpc.unary_unary_rpc_method_handler(self._handler(name, reply)) for name, reply in answers.items()}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("interp.v1.ModelHostService", handlers)])
        self.endpoint = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def _handler(self, name: str, reply):
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls[name] += 1
            if self.calls[name] <= self.failures:
                context.abort(self.code, "not now")
            return reply.SerializeToString()

        return handle


@pytest.fixture
def no_backoff(monkeypatch):
    """Record the client's back-off sleeps instead of sleeping."""
    import interpretability.client as client_module

    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    return slept


def test_sdk_retries_idempotent_calls_on_unavailable(no_backoff):
    flaky = FlakyModelHost(failures=2)
    try:
        with Client(flaky.endpoint, api_key="k", retries=3) as c:
            assert [m.name for m in c.list_models()] == ["m"]
            assert c.run("m", ["x"], delivery=tpb.RESULT_DELIVERY_INLINE).model == "m"
        assert flaky.calls == {"ListModels": 3, "RunModel": 3}
        # Backing off: attempt i sleeps 0.2 * 2**i s, jittered by a factor in [0.5, 1.5).
        assert len(no_backoff) == 4
        for slept, attempt in zip(no_backoff, [0, 1, 0, 1], strict=True):
            assert 0.5 * 0.2 * 2**attempt <= slept < 1.5 * 0.2 * 2**attempt
    finally:
        flaky.server.stop(None)
    flaky = FlakyModelHost(failures=5)
    try:
        with Client(flaky.endpoint, api_key="k", retries=3) as c, pytest.raises(Unavailable):
            c.list_models()
        assert flaky.calls["ListModels"] == 3  # gives up after `retries` attempts
    finally:
        flaky.server.stop(None)


def test_sdk_does_not_retry_non_idempotent_calls_or_other_errors(no_backoff):
    flaky = FlakyModelHost(failures=1)
    try:
        with Client(flaky.endpoint, api_key="k", retries=3) as c, pytest.raises(Unavailable):
            c.run("m", ["x"], delivery=tpb.RESULT_DELIVERY_OBJECT_STORE)  # each call writes new objects
        assert flaky.calls["RunModel"] == 1
    finally:
        flaky.server.stop(None)
    flaky = FlakyModelHost(failures=1, code=grpc.StatusCode.INVALID_ARGUMENT)
    try:
        with Client(flaky.endpoint, api_key="k", retries=3) as c, pytest.raises(InterpClientError) as e:
            c.list_models()
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and flaky.calls["ListModels"] == 1
    finally:
        flaky.server.stop(None)
    assert no_backoff == []


# -- environment overrides -------------------------------------------------------------------------


def test_environment_overrides_the_yaml(tmp_path):
    from interp_services.settings import load_settings

    yaml = tmp_path / "settings.yaml"
    yaml.write_text("port: 1111\nstore_url: /srv/store\napi_keys: {yaml-key: yaml}\n")
    s = load_settings(yaml, env={})
    assert (s.port, s.store_url, s.api_keys) == (1111, "/srv/store", {"yaml-key": "yaml"})
    env = {"INTERP_PORT": "2222", "INTERP_STORE_URL": "s3://127.0.0.1:8333/acts", "INTERP_API_KEYS": " k1=alice , k2 = bob,"}
    s = load_settings(yaml, env=env)
    assert (s.port, s.store_url, s.api_keys) == (2222, "s3://127.0.0.1:8333/acts", {"k1": "alice", "k2": "bob"})
    s = load_settings(None, env={"INTERP_CONFIG": str(yaml), "INTERP_PORT": "3333"})  # the YAML named by the environment
    assert (s.port, s.store_url, s.api_keys) == (3333, "/srv/store", {"yaml-key": "yaml"})
    for bad in ({"INTERP_PORT": "http"}, {"INTERP_API_KEYS": "secretkey"}, {"INTERP_API_KEYS": "k1="}, {"INTERP_API_KEYS": " , "}):
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name):
            load_settings(yaml, env=bad)
    with pytest.raises(ValueError) as e:
        load_settings(yaml, env={"INTERP_API_KEYS": "secretkey"})
    assert "secretkey" not in str(e.value)  # a malformed entry is not echoed whole


def test_settings_as_data_and_the_cluster_options(monkeypatch):
    """A Serve config's ``settings`` argument reads like the YAML (environment still on top);
    custom Ray resources and per-deployment preloads reach Ray Serve's options; a preload on a
    service that holds no weights, or malformed INTERP_RAY_RESOURCES, is refused."""
    from interp_services.settings import load_settings

    data = {"port": 1111, "preload_models": ["m0", "m1"], "store_url": "s3://minio:9000/acts", "store_secure": True, "store_region": "eu-west-1",
            "deployments": {"model_host": {"num_gpus": 1, "resources": {"interp_pool_gpu": 1}, "preload_models": ["m1"]}}}
    s = load_settings(data=data, env={"INTERP_PORT": "2222", "INTERP_RAY_RESOURCES": '{"interp_pool_gpu": 1000}'})
    assert s.port == 2222 and s.ray.resources == {"interp_pool_gpu": 1000.0}
    mh = s.deployment("model_host")
    assert mh.serve_options()["ray_actor_options"] == {"num_cpus": 0.5, "num_gpus": 1, "resources": {"interp_pool_gpu": 1}}
    assert mh.preload_models == ("m1",) and s.preloads("model_host") == ("m0", "m1") and s.deployment("attention").serve_options()["ray_actor_options"] == {"num_cpus": 0.25}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk")
    assert s.store_options() == {"access_key": "ak", "secret_key": "sk", "secure": True, "region": "eu-west-1",
                                 "connect_timeout_s": 2.0, "read_timeout_s": 5.0, "retries": 2}
    assert load_settings(data={"store_url": "/srv/store"}, env={}).store_options() == {}
    with pytest.raises(ValueError, match="attention holds no model weights"):
        load_settings(data={"deployments": {"attention": {"preload_models": ["m1"]}}}, env={})
    for bad in ("[1]", '{"a": -1}', "{nope"):
        with pytest.raises(ValueError, match="INTERP_RAY_RESOURCES"):
            load_settings(data={}, env={"INTERP_RAY_RESOURCES": bad})
    with pytest.raises(ValueError, match="path or data"):
        load_settings("x.yaml", env={}, data={})


def test_settings_of_the_wrong_kind_are_refused_by_name():
    """``port: abc`` or a string CPU count is refused with the setting's path, not later."""
    from interp_services.settings import load_settings

    for data, where in (({"port": "abc"}, "settings.port"), ({"require_api_key": "yes"}, "settings.require_api_key"),
                        ({"limits": 3}, "settings.limits"), ({"ray": {"object_store_memory_bytes": 1.5}}, "settings.ray.object_store_memory_bytes"),
                        ({"deployments": {"model_host": {"num_cpus": "many"}}}, "settings.deployments.model_host.num_cpus")):
        with pytest.raises(ValueError, match=re.escape(where)):
            load_settings(data=data, env={})
    s = load_settings(data={"store_ttl_s": 60, "deployments": {"attention": {"num_cpus": 1}}}, env={})  # an int where a float is asked
    assert s.store_ttl_s == 60 and s.deployment("attention").num_cpus == 1


@pytest.mark.parametrize("flag, text, message", [
    ("--config", "port: abc\n", "settings.port: expected an integer"),
    ("--config", "a: [\n", "expected the node content"),
    ("--serve-config", "applications: 3\n", "validation error for ServeDeploySchema"),
    ("--config", None, "No such file"),
])
def test_interp_serve_reports_a_bad_config_in_one_message(tmp_path, flag, text, message):
    """A configuration mistake ends ``interp serve`` with exit status 2 and the reason, before
    Ray starts and without a traceback."""
    path = tmp_path / "fleet.yaml"
    if text is not None:
        path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "interp_services.serve", flag, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("interp serve: ") and message in proc.stderr and "Traceback" not in proc.stderr
