"""The Helm chart (helm/interp-suite), checked offline: Helm v4's own lint and render
(helm-python-sdk), every rendered object against Kubernetes' schemas and the RayService and
ServiceMonitor against the KubeRay and Prometheus-operator CRDs shipped in helm/crd-schemas, and
the rendered output against what values.yaml promises (placement, GPUs, autoscaling, secrets,
network reachability, images, probes, disruption budgets).

The chart's Serve config is also *run*: the session fleet of the end-to-end tests
(tests/conftest.py) starts from it, and ``test_the_store_provisioning_job_runs_here`` runs the
provisioning Job's command line against the tests' S3 server.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from interp_services.registry import SERVICES, by_key
from interp_services.rpc.gateway import LIVENESS
from interp_services.serve.config import IMPORT_PATH, read_serve_config, settings_from_args
from interp_services.serve.config import serve_config as project_serve_config
from interp_services.settings import GATEWAY, DeploymentSettings, FleetSettings, load_settings
from tests.support.chart import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    chart_settings,
    container,
    container_env,
    group_resources,
    groups,
    local_ray_resources,
    render_chart,
    serve_config,
)
from tests.support.helm import RenderError, find, lint, merge_values
from tests.support.k8s import validate
from tests.support.netpol import IPPeer, PodPeer, ingress_allowed, pods_from_manifests, selector_matches

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
GPU = CHART / "ci" / "gpu-values.yaml"
MINIMAL = CHART / "ci" / "minimal-values.yaml"
EXTERNAL = CHART / "ci" / "external-s3-values.yaml"
INGRESS = CHART / "ci" / "ingress-tls-values.yaml"
CASES = [pytest.param((), id="defaults"), *(pytest.param((f,), id=f.stem) for f in CI_VALUES)]
# Keys of the settings YAML the chart sets itself (templates/_helpers.tpl, "interp.settings").
CHART_SET = {"host", "port", "api_keys", "require_api_key", "store_url", "store_secure", "store_region", "model_cache_dir",
             "deployments", "ray"}


def settings_of(manifests, services=None) -> FleetSettings:
    """The chart's settings as the fleet reads them (the project's loader, no environment)."""
    (app,) = serve_config(manifests)["applications"]
    if services is None:
        return settings_from_args(app["args"], env={})
    return load_settings(data=app["args"]["settings"], env={}, services=services)


def cpu_count(quantity) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# -- every values file: lint, render, schemas ----------------------------------------------------


@pytest.mark.parametrize("files", CASES)
def test_chart_lints_renders_and_validates(files):
    messages = lint(CHART, files)
    assert not [m for m in messages if m.startswith(("[ERROR]", "[WARNING]"))], messages
    manifests = render_chart(files)
    assert validate(manifests, "1.31") == []
    kinds = {m["kind"] for m in manifests}
    assert {"RayService", "Service", "NetworkPolicy", "Secret"} <= kinds or files == (EXTERNAL,)
    # The fleet's own reading of the Serve config accepts it (Ray's schema + the settings loader).
    settings = settings_of(manifests)
    assert set(settings.deployments) == {GATEWAY, *(s.key for s in SERVICES)}


def test_the_oldest_supported_kubernetes_validates_too():
    """Chart.yaml says >=1.27 (gRPC probes are GA there)."""
    assert "1.27" in yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    assert validate(render_chart([GPU, INGRESS], kube_version="1.27.0"), "1.27") == []


@pytest.mark.parametrize(
    "values, message",
    [
        ({"services": {"model_host": {"num_cpu": 2}}}, "additional properties 'num_cpu'"),
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"settings": {"port": 1}}, "additional properties 'port'"),
        ({"services": {"model_host": {"workerGroup": "gpu"}}}, 'workerGroup "gpu" is not a worker group'),
        ({"services": {"model_host": {"num_gpus": 1}}}, 'worker group "cpu" has no GPUs'),
        ({"services": {"gateway": {"workerGroup": "cpu"}}}, "takes no workerGroup"),
        ({"objectStorage": {"minio": {"enabled": False}}}, "objectStorage.external.endpoint"),
        ({"objectStorage": {"minio": {"enabled": False}, "external": {"endpoint": "s3:443"}}}, "existingSecret is required"),
        ({"gateway": {"ingress": {"enabled": True, "tls": {"enabled": True}}}}, "tls.secretName is required"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(values, message):
    with pytest.raises(RenderError, match=re.escape(message)):
        render_chart((), values)


# -- one source: the project's Serve config, settings and registry --------------------------------


def test_the_chart_renders_the_projects_serve_config():
    """The RayService deploys what `interp serve` deploys: the same structure (serve.config),
    the same builder, accepted by the launcher's own reader."""
    manifests = render_chart([GPU])
    config = serve_config(manifests)
    assert config == project_serve_config(chart_settings(manifests))
    assert config["applications"][0]["import_path"] == IMPORT_PATH
    module, _, name = IMPORT_PATH.partition(":")
    assert callable(getattr(__import__(module, fromlist=[name]), name))


def test_the_launcher_reads_the_rendered_config(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text(find(render_chart([MINIMAL]), "RayService")[0]["spec"]["serveConfigV2"])
    assert read_serve_config(path)["applications"][0]["args"]["settings"]["port"] == 50051


def test_every_registered_service_has_an_entry_in_values():
    """The chart learns of a service from its values entry; a registered service without one
    would run with laptop defaults anywhere in the cluster."""
    assert set(VALUES["services"]) == {GATEWAY, *(s.key for s in SERVICES)}


def test_a_new_service_appears_by_its_values_entry_alone():
    """An extra service (an existing descriptor under a second name, as a new registry entry
    would be) gets its deployment, placement and resources from values; no template changes."""
    spec = dataclasses.replace(by_key()["probing"], key="autoencoders")
    manifests = render_chart((), {"services": {"autoencoders": {"workerGroup": "cpu", "num_cpus": 1.5, "num_replicas": 3}}})
    d = settings_of(manifests, services=[*SERVICES, spec]).deployment("autoencoders")
    assert (d.num_cpus, d.num_replicas, d.resources) == (1.5, 3, {"interp_pool_cpu": 1})


def undocumented_values(node, params, prefix: str = "") -> list[str]:
    """Leaves of ``node`` (scalars, lists, empty maps) without a ``## @param`` line for themselves
    or for a map above them (a documented map, e.g. ``head.resources``, covers what is inside)."""
    missing = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in params:
            continue
        if isinstance(value, dict) and value:
            missing += undocumented_values(value, params, path + ".")
        else:
            missing.append(path)
    return missing


def test_every_value_is_documented_by_a_param_line():
    """Each value has a `## @param <path> <what it does>` line (the bitnami readme-generator
    format) for itself or for a map above it, and each such line names a value that exists."""
    text = (CHART / "values.yaml").read_text()
    params = dict(re.findall(r"^## @param (\S+) (\S.*)$", text, flags=re.MULTILINE))
    assert len(params) == len(re.findall(r"^## @param ", text, flags=re.MULTILINE))  # one each, with a description
    for path in params:
        node = VALUES
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"@param {path} names no value"
            node = node[key]
    assert undocumented_values(VALUES, params) == []


def test_values_schema_follows_the_settings_dataclasses():
    """values.schema.json knows every settings key the project reads (typos fail at install)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    settings = set(schema["definitions"]["settings"]["properties"])
    assert settings == {f.name for f in dataclasses.fields(FleetSettings)} - CHART_SET
    deployment = set(schema["definitions"]["deployment"]["properties"])
    assert deployment == {f.name for f in dataclasses.fields(DeploymentSettings)} - {"resources"} | {"workerGroup"}
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    reserved = re.search(r'\$reserved := list ((?:"\w+" ?)+)', helpers).group(1)
    assert set(re.findall(r'"(\w+)"', reserved)) == CHART_SET


# -- values reach the Serve config and the cluster ------------------------------------------------


def test_gpu_counts_replicas_and_autoscaling_reach_the_serve_config():
    manifests = render_chart([GPU])
    s = settings_of(manifests)
    mh, attr = s.deployment("model_host"), s.deployment("attribution")
    assert (mh.num_gpus, mh.num_cpus, mh.autoscaling) == (1, 4, {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 16})
    assert mh.preload_models == ("HuggingFaceTB/SmolLM2-135M",)
    assert mh.serve_options()["ray_actor_options"] == {"num_cpus": 4, "num_gpus": 1, "resources": {"interp_pool_gpu-a100": 1}}
    assert "num_replicas" not in mh.serve_options() and mh.serve_options()["autoscaling_config"]["max_replicas"] == 4
    assert (attr.num_gpus, attr.num_replicas, attr.resources) == (0.5, 2, {"interp_pool_gpu-l4": 1})
    assert s.deployment("attention").resources == {"interp_pool_cpu": 1}
    g = groups(manifests)
    for name, gpus in (("gpu-a100", 1), ("gpu-l4", 1), ("cpu", 0)):
        res = container(g[name])["resources"]
        assert res["limits"].get("nvidia.com/gpu", 0) == gpus, name
        assert group_resources(g[name]) == {f"interp_pool_{name}": 1000}
        image = container(g[name])["image"]
        assert image.endswith("-cuda") == bool(gpus), image
    assert (g["gpu-a100"]["minReplicas"], g["gpu-a100"]["maxReplicas"]) == (1, 4)
    assert g["gpu-a100"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert g["gpu-l4"]["template"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert find(manifests, "RayService")[0]["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] is True


def test_gateway_replicas_are_gateway_pods():
    """One gateway replica per gateway pod (each advertises one interp_pool_gateway), so the
    gateway Service reaches every replica; autoscaling bounds become the group's bounds."""
    fixed = groups(render_chart((), {"services": {"gateway": {"num_replicas": 3}}}))["gateway"]
    assert (fixed["replicas"], fixed["minReplicas"], fixed["maxReplicas"]) == (3, 3, 3)
    assert group_resources(fixed) == {"interp_pool_gateway": 1}
    scaled = render_chart((), {"services": {"gateway": {"num_replicas": None, "autoscaling": {"min_replicas": 2, "max_replicas": 5}}}})
    g = groups(scaled)["gateway"]
    assert (g["replicas"], g["minReplicas"], g["maxReplicas"]) == (2, 2, 5)
    assert settings_of(scaled).deployment(GATEWAY).resources == {"interp_pool_gateway": 1}


@pytest.mark.parametrize("files", CASES)
def test_every_deployment_fits_a_pod_of_its_group(files):
    """Right by construction: each replica's CPUs, GPUs and custom resource fit one pod of the
    group it is pinned to (else Ray would wait forever for a node that cannot exist)."""
    manifests = render_chart(files)
    s, g = settings_of(manifests), groups(manifests)
    for name, d in s.deployments.items():
        (resource,) = d.resources
        (group,) = [n for n, spec in g.items() if resource in group_resources(spec)]
        limits = container(g[group])["resources"]["limits"]
        assert d.num_cpus <= cpu_count(limits["cpu"]), (name, group)
        assert d.num_gpus <= float(limits.get("nvidia.com/gpu", 0)), (name, group)
    head = g["head"]["rayStartParams"]
    assert head["num-cpus"] == "0" and not group_resources(g["head"])  # nothing is placed on the head


def test_the_store_url_and_credentials_follow_the_storage_mode():
    minio = render_chart()
    s = settings_of(minio)
    assert s.store_url == f"s3://interp-interp-suite-minio.{NAMESPACE}.svc:9000/interp-activations" and not s.store_secure
    assert find(minio, "StatefulSet", "interp-interp-suite-minio") and find(minio, "Job")
    external = render_chart([EXTERNAL])
    s = settings_of(external)
    assert s.store_url == "s3://s3.eu-west-1.amazonaws.com:443/my-team-interp-activations"
    assert (s.store_secure, s.store_region) == (True, "eu-west-1")
    assert not find(external, "StatefulSet") and not find(external, "Secret")  # both Secrets are the user's
    env = container(groups(external)["cpu"])["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
    assert refs == {"INTERP_API_KEYS": "interp-api-keys", "AWS_ACCESS_KEY_ID": "interp-s3", "AWS_SECRET_ACCESS_KEY": "interp-s3"}


# -- secrets, network, images, probes, disruption budgets -----------------------------------------


def secret_values(manifests) -> list[str]:
    out = []
    for secret in find(manifests, "Secret"):
        out += [base64.b64decode(v).decode() for v in (secret.get("data") or {}).values()]
        out += list((secret.get("stringData") or {}).values())
    return out


@pytest.mark.parametrize("files", CASES)
def test_no_secret_value_appears_in_plain_text(files):
    manifests = render_chart(files)
    values = secret_values(manifests)
    others = [m for m in manifests if m["kind"] != "Secret"]
    text = yaml.safe_dump_all([dict(m) for m in others])
    for value in values:
        pieces = {value, *value.replace(",", "=").split("=")}  # "key=tenant": the key alone too
        leaked = [p for p in pieces if len(p) >= 8 and p in text]
        assert not leaked, f"a Secret value appears outside its Secret: {leaked[0][:3]}..."
    # Keys never travel in the Serve config: only the Secret, through INTERP_API_KEYS.
    assert chart_settings(manifests)["api_keys"] == {}
    if find(manifests, "Secret"):
        assert values and all(len(v) >= 12 for v in values)  # generated, not a placeholder


def test_generated_secrets_are_random_per_install():
    a, b = secret_values(render_chart()), secret_values(render_chart())
    assert len(a) == 3 and not set(a) & set(b)


# Pods elsewhere may copy any label, the KubeRay operator's included, but not their namespace's name.
OPERATOR_LABELS = {"app.kubernetes.io/name": "kuberay-operator"}
OUTSIDE = [IPPeer("203.0.113.7"), PodPeer("default", {"app": "curious"}), PodPeer("monitoring-evil", {"app": "prometheus"}),
           PodPeer("default", OPERATOR_LABELS), PodPeer("attacker", OPERATOR_LABELS, {"kubernetes.io/metadata.name": "kuberay-system"})]
PORTS = [6379, 8265, 10001, 52365, 8080, 9000, 9001, 50051, 12345]


@pytest.mark.parametrize("files", [(), (INGRESS,)], ids=["defaults", "ingress-tls"])
def test_only_the_gateway_port_is_reachable_from_outside(files):
    manifests = render_chart(files)
    policies = find(manifests, "NetworkPolicy")
    pods = pods_from_manifests(manifests, NAMESPACE)
    gateway = [p for p in pods if p.labels.get("app.kubernetes.io/component") == "ray-gateway"]
    assert len(gateway) == 1 and len(pods) >= 5
    for pod in pods:
        for peer in OUTSIDE:
            for port in PORTS:
                allowed = ingress_allowed(policies, pod, port, peer)
                expected = pod in gateway and port == 50051 and not files  # ingress-tls: only its controller's namespace
                assert allowed == expected, (pod.name, peer, port)
    if files:
        nginx = PodPeer("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
        assert ingress_allowed(policies, gateway[0], 50051, nginx)
        assert not ingress_allowed(policies, gateway[0], 8265, nginx)
        prometheus = PodPeer("monitoring", {"app": "prometheus"})
        assert all(ingress_allowed(policies, p, 8080, prometheus) for p in pods if p.labels.get("interp-suite/ray"))
        assert not any(ingress_allowed(policies, p, 6379, prometheus) for p in pods)


def test_inside_the_release_what_must_talk_can():
    manifests = render_chart()
    policies = find(manifests, "NetworkPolicy")
    pods = {p.name: p for p in pods_from_manifests(manifests, NAMESPACE)}
    ray = [p for p in pods.values() if p.labels.get("interp-suite/ray") == "true"]
    minio = pods["StatefulSet interp-interp-suite-minio"]
    job = pods["Job interp-interp-suite-provision-store"]
    for a in ray:
        for b in ray:
            assert ingress_allowed(policies, b, 12345, a.as_peer()), (a.name, b.name)  # Ray uses many ports
        assert ingress_allowed(policies, minio, 9000, a.as_peer())
    assert ingress_allowed(policies, minio, 9000, job.as_peer())
    assert not ingress_allowed(policies, minio, 9001, ray[0].as_peer())  # the console stays closed
    assert not any(ingress_allowed(policies, p, 12345, job.as_peer()) for p in ray)
    operator = PodPeer("kuberay-system", OPERATOR_LABELS)
    head = pods["RayService head"]
    assert ingress_allowed(policies, head, 8265, operator) and ingress_allowed(policies, ray[-1], 52365, operator)
    assert not ingress_allowed(policies, head, 6379, operator)
    # Only the operator's pods in the operator's namespace: not a look-alike elsewhere (the
    # dashboard takes job submissions, i.e. runs code), nor another pod of that namespace.
    for impostor in (PodPeer(NAMESPACE, OPERATOR_LABELS), PodPeer("attacker", OPERATOR_LABELS), PodPeer("kuberay-system", {"app": "x"})):
        assert not any(ingress_allowed(policies, p, port, impostor) for p in ray for port in (8265, 52365)), impostor


def test_the_operators_namespace_is_a_value():
    manifests = render_chart((), {"networkPolicy": {"kuberayOperator": {"namespace": "ray-system"}}})
    policies = find(manifests, "NetworkPolicy")
    head = next(p for p in pods_from_manifests(manifests, NAMESPACE) if p.name == "RayService head")
    assert ingress_allowed(policies, head, 8265, PodPeer("ray-system", OPERATOR_LABELS))
    assert not ingress_allowed(policies, head, 8265, PodPeer("kuberay-system", OPERATOR_LABELS))
    with pytest.raises(RenderError, match="namespace"):
        render_chart((), {"networkPolicy": {"kuberayOperator": {"namespace": ""}}})


def all_containers(manifests):
    for m in manifests:
        spec = m.get("spec") or {}
        templates = []
        if m["kind"] == "RayService":
            cluster = spec["rayClusterConfig"]
            templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"])]
        elif "template" in spec:
            templates = [spec["template"]]
        for t in templates:
            yield from ((m, c) for c in [*t["spec"].get("initContainers", []), *t["spec"]["containers"]])


@pytest.mark.parametrize("files", CASES)
def test_images_are_pinned_by_tag(files):
    manifests = render_chart(files)
    images = [c["image"] for _, c in all_containers(manifests)]
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag and tag not in ("", "latest"), image
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    ours = {i for i in images if i.startswith(VALUES["image"]["repository"])}
    assert ours <= {f"{VALUES['image']['repository']}:{version}", f"{VALUES['image']['repository']}:{version}-cuda"}


def test_health_probes():
    """The gateway pods answer Kubernetes through the gRPC health protocol on the gateway port
    (alive: the server runs; ready: every backend answers, see test_fleet); the other Ray pods
    through Ray's own health endpoints (which the image's wget reaches)."""
    g = groups(render_chart([GPU]))
    gw = container(g["gateway"])
    assert gw["readinessProbe"]["grpc"] == {"port": 50051}  # overall: every backend answers
    for probe in ("startupProbe", "livenessProbe"):
        assert gw[probe]["grpc"] == {"port": 50051, "service": LIVENESS}, probe
    for name in ("head", "cpu", "gpu-a100"):
        c = container(g[name])
        for probe in ("readinessProbe", "livenessProbe"):
            command = " ".join(c[probe]["exec"]["command"])
            assert "52365/api/local_raylet_healthz" in command
            assert ("8265/api/gcs_healthz" in command) == (name == "head")


def test_a_stopping_gateway_pod_drains_before_ray_stops():
    """A deleted gateway pod leaves the Service at once; its preStop hook keeps it serving for
    gateway.drainSeconds (while proxies catch up) before `ray stop`, and the grace period covers
    that sleep plus the time `ray stop` itself may take (its --grace-period, read from Ray)."""
    from ray.scripts.scripts import stop

    ray_stop_grace = next(p.default for p in stop.params if p.name == "grace_period")
    for values, drain in (({}, VALUES["gateway"]["drainSeconds"]), ({"gateway": {"drainSeconds": 5}}, 5)):
        g = groups(render_chart((), values))
        spec = g["gateway"]["template"]["spec"]
        assert container(g["gateway"])["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sh", "-c", f"sleep {drain}; ray stop"]
        assert spec["terminationGracePeriodSeconds"] == VALUES["gateway"]["terminationGracePeriodSeconds"] >= drain + ray_stop_grace
        for name in ("head", "cpu"):  # the other pods stop Ray at once, within Kubernetes' default 30 s
            assert container(g[name])["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sh", "-c", "ray stop"]
            assert "terminationGracePeriodSeconds" not in g[name]["template"]["spec"]
    with pytest.raises(RenderError, match="terminationGracePeriodSeconds"):
        render_chart((), {"gateway": {"drainSeconds": 50, "terminationGracePeriodSeconds": 60}})


def disruptions_allowed(pdb, healthy: int) -> int:
    """Evictions Kubernetes' disruption controller allows for pods whose owner has no scale
    subresource (KubeRay's RayCluster): only an integer ``minAvailable`` can be evaluated there;
    with ``maxUnavailable`` or a percentage it cannot count the expected pods and allows none
    (kubernetes.io/docs/tasks/run-application/configure-pdb, "Arbitrary workloads and arbitrary
    selectors")."""
    spec = pdb["spec"]
    if "maxUnavailable" in spec or not isinstance(spec.get("minAvailable"), int):
        return 0
    return max(0, healthy - spec["minAvailable"])


PDB_CASES = [
    *((files, None) for files in ((), (GPU,), (MINIMAL,))),
    ((), {"services": {"gateway": {"num_replicas": 3}}, "workerGroups": {"cpu": {"minReplicas": 2, "replicas": 3}}}),
    ((), {"ray": {"autoscaling": {"enabled": False}}, "workerGroups": {"cpu": {"minReplicas": 1, "replicas": 3}}}),
    ((), {"services": {"gateway": {"num_replicas": None, "autoscaling": {"min_replicas": 3, "max_replicas": 6}}},
          "podDisruptionBudget": {"maxUnavailable": 2}}),
]


@pytest.mark.parametrize("files, values", PDB_CASES)
def test_disruption_budgets_never_block_a_drain(files, values):
    """Every budget uses an integer minAvailable and lets a drain evict a pod of its group even
    when the group is at its smallest (minReplicas while Ray's autoscaler runs, else replicas);
    every group that has a pod to spare is covered by exactly one budget."""
    manifests = render_chart(files, values)
    budgets = merge_values([CHART / "values.yaml", *files], values)["podDisruptionBudget"]
    cluster = find(manifests, "RayService")[0]["spec"]["rayClusterConfig"]
    pods = {p.name: p for p in pods_from_manifests(manifests, NAMESPACE) if p.labels.get("interp-suite/ray")}
    pdbs = find(manifests, "PodDisruptionBudget")
    if not budgets["enabled"]:
        assert not pdbs
        return
    for group in cluster["workerGroupSpecs"]:
        smallest = group["minReplicas"] if cluster["enableInTreeAutoscaling"] else group["replicas"]
        pod = pods[f"RayService worker group {group['groupName']}"]
        (budget, *more) = [b for b in pdbs if selector_matches(b["spec"]["selector"], pod.labels)] or [None]
        assert not more, group["groupName"]  # the eviction API refuses pods under two budgets
        if smallest > budgets["maxUnavailable"]:
            assert budget is not None, group["groupName"]
            assert disruptions_allowed(budget, healthy=smallest) == budgets["maxUnavailable"], group["groupName"]
            assert budget["spec"]["minAvailable"] >= 1
        else:
            assert budget is None, group["groupName"]  # its minAvailable could only block or be 0
    assert not any(selector_matches(b["spec"]["selector"], pods["RayService head"].labels) for b in pdbs)


def test_ingress_speaks_grpc_with_tls():
    (ingress,) = find(render_chart([INGRESS]), "Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    assert ingress["spec"]["tls"] == [{"hosts": ["interp.example.com"], "secretName": "interp-gateway-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "interp-interp-suite-gateway", "port": {"name": "grpc"}}


def test_service_monitor_scrapes_rays_metrics_port():
    manifests = render_chart([INGRESS])
    (monitor,) = find(manifests, "ServiceMonitor")
    (service,) = find(manifests, "Service", "interp-interp-suite-metrics")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics" and monitor["metadata"]["labels"]["release"] == "prometheus"
    assert service["spec"]["ports"][0]["port"] == 8080
    ray = [p for p in pods_from_manifests(manifests, NAMESPACE) if p.labels.get("interp-suite/ray")]
    assert all(selector_matches_service(service, p.labels) and p.ports.get("metrics") == 8080 for p in ray)
    assert not find(render_chart(), "ServiceMonitor")


def selector_matches_service(service, labels) -> bool:
    return all(labels.get(k) == v for k, v in service["spec"]["selector"].items())


def test_the_public_service_selects_only_gateway_pods():
    manifests = render_chart()
    (gateway,) = find(manifests, "Service", "interp-interp-suite-gateway")
    pods = pods_from_manifests(manifests, NAMESPACE)
    assert [p.name for p in pods if selector_matches_service(gateway, p.labels)] == ["RayService worker group gateway"]
    public = [s for s in find(manifests, "Service") if s["spec"].get("type", "ClusterIP") != "ClusterIP"]
    assert not public  # and with LoadBalancer it is the gateway alone:
    lb = render_chart((), {"gateway": {"service": {"type": "LoadBalancer"}}})
    assert [s["metadata"]["name"] for s in find(lb, "Service") if s["spec"].get("type") == "LoadBalancer"] == [
        "interp-interp-suite-gateway"
    ]


# -- the chart's command lines, run here -----------------------------------------------------------


def test_the_store_provisioning_job_runs_here(s3_server, tmp_path):
    """The Job's exact command, with the settings file of its ConfigMap and the environment the
    chart gives it (credentials from the Secret it names), against the tests' S3 server."""
    bucket = "interp-provisioned"
    manifests = render_chart([EXTERNAL], {"objectStorage": {"bucket": bucket, "external": {"endpoint": s3_server.endpoint, "secure": False}}})
    (job,) = find(manifests, "Job")
    (config_map,) = find(manifests, "ConfigMap")
    (settings_file,) = config_map["data"].values()
    (c,) = job["spec"]["template"]["spec"]["containers"]
    mount = c["volumeMounts"][0]["mountPath"]
    command = [sys.executable if a == "python" else a for a in c["command"]]
    command = [str(tmp_path / a.removeprefix(mount + "/")) if a.startswith(mount + "/") else a for a in command]
    (tmp_path / "settings.yaml").write_text(settings_file)
    env = container_env({"template": job["spec"]["template"]}, {
        "interp-api-keys": {"INTERP_API_KEYS": "k-provision=ops"},
        "interp-s3": {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key},
    })
    client = s3_server.client()
    assert not client.bucket_exists(bucket_name=bucket)
    done = subprocess.run(command, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"bucket '{bucket}' ready" in done.stdout
    assert client.bucket_exists(bucket_name=bucket)
    # One expiry rule per tenant (the Secret's "ops", and "default" for calls without a key),
    # scoped to its prefix; on the next run (helm upgrade) a rule someone else added stays.
    rules = {r.rule_id: r.rule_filter.prefix for r in client.get_bucket_lifecycle(bucket_name=bucket).rules}
    assert rules == {"interp-expiry-default": "default/", "interp-expiry-ops": "ops/"}
    theirs = Rule(ENABLED, rule_filter=Filter(prefix="logs/"), rule_id="logs", expiration=Expiration(days=30))
    client.set_bucket_lifecycle(bucket_name=bucket, config=LifecycleConfig([theirs, *client.get_bucket_lifecycle(bucket_name=bucket).rules]))
    again = subprocess.run(command, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    rules = {r.rule_id: r.rule_filter.prefix for r in client.get_bucket_lifecycle(bucket_name=bucket).rules}
    assert rules == {"logs": "logs/", "interp-expiry-default": "default/", "interp-expiry-ops": "ops/"}
    assert settings_of(manifests).store_url == f"s3://{s3_server.endpoint}/{bucket}"


def test_provisioning_fails_fast_and_clearly_without_a_store(tmp_path):
    from tests.conftest import free_port

    (tmp_path / "s.yaml").write_text(f"store_url: s3://127.0.0.1:{free_port()}/nothing-here\n")
    done = subprocess.run(
        [sys.executable, "-m", "interp_services.provision", "--config", str(tmp_path / "s.yaml"), "--wait", "1"],
        env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "unreachable" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.fleet
def test_the_session_fleet_runs_the_charts_serve_config(fleet):
    """The end-to-end fleet was started from the chart's RayService: its gateway answers on the
    port the chart's config names (overridden by INTERP_PORT) with the chart's deployments."""
    config = Path(fleet.process.config)
    assert fleet.process.flag == "--serve-config"
    data = yaml.safe_load(config.read_text())
    assert data["applications"][0]["import_path"] == IMPORT_PATH
    assert data["applications"][0]["args"]["settings"]["deployments"]["gateway"]["resources"] == {"interp_pool_gateway": 1}
    done = fleet.cli("health")
    assert done.returncode == 0 and "interp.v1.CircuitsService: SERVING" in done.stdout
    from interpretability import Client

    with Client(fleet.endpoint, api_key="interp-dev-key") as client:  # what the chart's probes ask
        assert client.health(LIVENESS) == "SERVING" and client.health() == "SERVING"


def test_local_resources_cover_every_group():
    manifests = render_chart([GPU])
    assert local_ray_resources(manifests) == {"interp_pool_gateway": 2, "interp_pool_cpu": 1000, "interp_pool_gpu-a100": 1000,
                                              "interp_pool_gpu-l4": 1000}
