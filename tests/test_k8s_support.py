"""Unit tests of the chart-checking tools: tests/support/k8s.py (strict manifest validation),
tests/support/netpol.py (NetworkPolicy ingress semantics) and tests/support/helm.py (offline helm
template/lint), on hand-written manifests and a throwaway chart."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import helm, k8s, netpol
from tests.support.netpol import IPPeer, Pod, PodPeer, ingress_allowed

# --- k8s.validate: built-in kinds ----------------------------------------------------------------


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "labels": {"app": "api"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1", "ports": [{"name": "grpc", "containerPort": 50051}]}]},
            },
        },
    }


def test_valid_deployment_passes() -> None:
    assert k8s.validate([deployment()]) == []


def test_misspelled_field_is_an_error() -> None:
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert k8s.validate([bad]) == [
        "Deployment/api: spec.template.spec.containers[0].imagePullPolicyy: unknown field 'imagePullPolicyy'"
    ]


def test_wrong_types_are_errors() -> None:
    bad = deployment()
    bad["spec"]["replicas"] = "two"
    bad["metadata"]["labels"]["tier"] = 1  # labels are strings
    problems = k8s.validate([bad])
    assert len(problems) == 2
    assert problems[0].startswith("Deployment/api: metadata.labels.tier: 1 is not of type 'string'")
    assert problems[1].startswith("Deployment/api: spec.replicas: 'two' is not of type 'integer'")


def test_unknown_kind_missing_name_and_duplicates_are_errors() -> None:
    unnamed = deployment()
    del unnamed["metadata"]["name"]
    problems = k8s.validate(
        [
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
            # Same short group as a built-in (policy/v1): must not borrow its schema.
            {"apiVersion": "policy.example.com/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}},
            unnamed,
            deployment(),
            deployment(),
        ]
    )
    assert [p.split(":")[0] for p in problems] == ["Widget/w", "PodDisruptionBudget/p", "Deployment/#2", "Deployment/api"]
    assert "unknown apiVersion/kind example.com/v1 Widget" in problems[0]
    assert "metadata.name is required" in problems[2]
    assert "duplicate object" in problems[3]


def test_source_attribute_shows_in_messages() -> None:
    bad = helm.Manifest(deployment(), "chart/templates/api.yaml")
    bad["spec"]["paused"] = "no"
    assert k8s.validate([bad])[0].startswith("Deployment/api [chart/templates/api.yaml]: spec.paused:")


def test_kubernetes_version_outside_the_bundled_schemas_is_rejected() -> None:
    with pytest.raises(ValueError, match="no schemas"):
        k8s.validate([deployment()], "1.10")


# --- k8s.validate: the shipped CRDs --------------------------------------------------------------

CRD_DIR = Path(__file__).resolve().parents[1] / "helm" / "crd-schemas"
CRD_SHA256 = {
    "ray.io_rayservices.yaml.gz": "0a8fc325e6e22b9231c1f282b309555e2ecf94227ca20a03df3d1d9a403907ab",
    "monitoring.coreos.com_servicemonitors.yaml": "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32",
}


@pytest.mark.parametrize("name", sorted(CRD_SHA256))
def test_shipped_crds_are_the_documented_upstream_files(name: str) -> None:
    raw = (CRD_DIR / name).read_bytes()
    text = gzip.decompress(raw) if name.endswith(".gz") else raw
    assert hashlib.sha256(text).hexdigest() == CRD_SHA256[name]
    assert CRD_SHA256[name] in (CRD_DIR / "README.md").read_text(encoding="utf-8")


def test_shipped_crds_serve_the_custom_kinds() -> None:
    kinds = k8s.crd_kinds()
    assert ("ray.io/v1", "RayService") in kinds
    assert ("monitoring.coreos.com/v1", "ServiceMonitor") in kinds


def ray_container() -> dict[str, Any]:
    return {"name": "ray", "image": "rayproject/ray:2.60.0", "ports": [{"name": "serve", "containerPort": 8000}]}


def rayservice() -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": "interp", "labels": {"app": "interp"}},
        "spec": {
            "serveConfigV2": "applications:\n- name: api\n  import_path: app:deployment\n",
            "rayClusterConfig": {
                "rayVersion": "2.60.0",
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": {"metadata": {"labels": {"role": "head"}}, "spec": {"containers": [ray_container()]}},
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "gpu",
                        "replicas": 1,
                        "minReplicas": 1,
                        "maxReplicas": 2,
                        "rayStartParams": {},
                        "template": {
                            "spec": {
                                "containers": [
                                    {**ray_container(), "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "16Gi"}}}
                                ]
                            }
                        },
                    }
                ],
            },
        },
    }


def test_valid_rayservice_passes() -> None:
    assert k8s.validate([rayservice()]) == []


def test_rayservice_unknown_field_in_worker_group_is_an_error() -> None:
    bad = rayservice()
    bad["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replica"] = 1
    assert k8s.validate([bad]) == [
        "RayService/interp: spec.rayClusterConfig.workerGroupSpecs[0].replica: unknown field 'replica'"
    ]


def test_rayservice_wrong_type_is_an_error() -> None:
    bad = rayservice()
    bad["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replicas"] = "two"
    assert k8s.validate([bad]) == [
        "RayService/interp: spec.rayClusterConfig.workerGroupSpecs[0].replicas: 'two' is not of type 'integer'"
    ]


def test_rayservice_strictness_reaches_pod_templates_and_metadata() -> None:
    bad = rayservice()
    head = bad["spec"]["rayClusterConfig"]["headGroupSpec"]
    head["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    head["template"]["spec"]["containers"][0]["ports"].append({"name": "again", "containerPort": 8000})
    bad["metadata"]["labels"]["n"] = 1
    bad["metadata"]["labelz"] = {}
    problems = [p.removeprefix("RayService/interp: ") for p in k8s.validate([bad])]
    containers = "spec.rayClusterConfig.headGroupSpec.template.spec.containers"
    assert problems == [
        "metadata.labels.n: 1 is not of type 'string', 'null'",
        "metadata.labelz: unknown field 'labelz'",
        f"{containers}[0].imagePullPolicyy: unknown field 'imagePullPolicyy'",
        f'{containers}[0].ports: duplicate entries for key containerPort/protocol [8000, "TCP"]',
    ]


def test_custom_resource_metadata_needs_a_name() -> None:
    unnamed = rayservice()
    unnamed["metadata"] = {"generateName": "interp-"}
    assert k8s.validate([unnamed]) == ["RayService/#0: metadata.name is required"]


def test_rayservice_int_or_string_nulls_and_deprecated_versions() -> None:
    ok = rayservice()
    ok["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/", "port": "serve"},  # int-or-string: a name ...
        "tcpSocket": {"port": 8000},  # ... or a number
    }
    ok["spec"]["serviceUnhealthySecondThreshold"] = None  # pruned by the API server, not an error
    assert k8s.validate([ok]) == []
    bad = copy.deepcopy(ok)
    bad["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"][
        "port"
    ] = 1.5
    assert len(k8s.validate([bad])) == 1
    old = {"apiVersion": "ray.io/v1alpha1", "kind": "RayService", "metadata": {"name": "old"}}
    assert "deprecated API version" in k8s.validate([old])[0]


def servicemonitor() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "interp", "labels": {"release": "prometheus"}},
        "spec": {
            "selector": {"matchLabels": {"app": "interp"}},
            "namespaceSelector": {"matchNames": ["interp"]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s", "targetPort": 8080}],
        },
    }


def test_valid_servicemonitor_passes() -> None:
    assert k8s.validate([servicemonitor()]) == []


def test_servicemonitor_unknown_field_and_wrong_type_are_errors() -> None:
    bad = servicemonitor()
    bad["spec"]["endpoints"][0]["intervall"] = "30s"
    bad["spec"]["endpoints"][0]["interval"] = 30
    assert k8s.validate([bad]) == [
        "ServiceMonitor/interp: spec.endpoints[0].interval: 30 is not of type 'string'",
        "ServiceMonitor/interp: spec.endpoints[0].intervall: unknown field 'intervall'",
    ]


# --- netpol --------------------------------------------------------------------------------------

NS = "interp"
API = Pod(NS, {"app": "api"}, {"grpc": 50051, "metrics": 9090}, "Deployment api")
FRONT = PodPeer(NS, {"app": "front"})
OTHER_NS_FRONT = PodPeer("other", {"app": "front"}, {"team": "web"})
OUTSIDE = IPPeer("203.0.113.7")


def policy(spec: dict[str, Any], namespace: str | None = None, name: str = "p") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata, "spec": spec}


def test_pod_without_selecting_policy_admits_everything() -> None:
    others = policy({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": []})
    egress_only = policy({"podSelector": {}, "policyTypes": ["Egress"]})
    for policies in ([], [others], [egress_only]):
        assert ingress_allowed(policies, API, 12345, OUTSIDE)
        assert not netpol.is_isolated(policies, API)


def test_selecting_policy_isolates_and_absent_policy_types_imply_ingress() -> None:
    deny_all = policy({"podSelector": {}})
    egress_rules_only = policy({"podSelector": {"matchLabels": {"app": "api"}}, "egress": [{}]})
    for p in (deny_all, egress_rules_only):
        assert netpol.is_isolated([p], API)
        assert not ingress_allowed([p], API, 50051, FRONT)
    # A policy whose policyTypes leave out Ingress contributes no ingress rules.
    ignored = policy({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]})
    assert not ingress_allowed([deny_all, ignored], API, 50051, FRONT)


def test_empty_from_and_empty_rule_admit_every_source() -> None:
    open_port = policy({"podSelector": {}, "ingress": [{"from": [], "ports": [{"port": 50051}]}]})
    assert ingress_allowed([open_port], API, 50051, OUTSIDE)
    assert ingress_allowed([open_port], API, 50051, OTHER_NS_FRONT)
    assert not ingress_allowed([open_port], API, 9090, FRONT)
    assert ingress_allowed([policy({"podSelector": {}, "ingress": [{}]})], API, 1, OUTSIDE)


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    p = policy({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}]}]})
    assert ingress_allowed([p], API, 50051, FRONT)
    assert not ingress_allowed([p], API, 50051, OTHER_NS_FRONT)  # same labels, other namespace
    assert not ingress_allowed([p], API, 50051, PodPeer(NS, {"app": "batch"}))
    assert not ingress_allowed([p], API, 50051, OUTSIDE)


def test_namespace_selector_alone_means_every_pod_of_those_namespaces() -> None:
    by_label = policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "web"}}}]}]})
    assert ingress_allowed([by_label], API, 50051, OTHER_NS_FRONT)
    assert ingress_allowed([by_label], API, 50051, PodPeer("other", {"anything": "x"}, {"team": "web"}))
    assert not ingress_allowed([by_label], API, 50051, FRONT)  # its namespace lacks the label
    # kubernetes.io/metadata.name is always set on a namespace.
    by_name = policy(
        {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}],
        }
    )
    assert ingress_allowed([by_name], API, 50051, PodPeer("other"))
    assert not ingress_allowed([by_name], API, 50051, FRONT)


def test_a_namespace_is_pinned_by_its_name_label_not_by_pod_labels() -> None:
    """``namespaceSelector: {}`` plus a pod label admits a look-alike pod from any namespace; the
    ``kubernetes.io/metadata.name`` label, which the API server sets, cannot be forged."""
    operator = {"matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}
    any_namespace = policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": operator}]}]})
    pinned = policy({"podSelector": {}, "ingress": [{"from": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kuberay-system"}}, "podSelector": operator}]}]})
    real = PodPeer("kuberay-system", {"app.kubernetes.io/name": "kuberay-operator"})
    spoofed = PodPeer("attacker", {"app.kubernetes.io/name": "kuberay-operator"}, {"kubernetes.io/metadata.name": "kuberay-system"})
    assert ingress_allowed([any_namespace], API, 8265, real) and ingress_allowed([any_namespace], API, 8265, spoofed)
    assert ingress_allowed([pinned], API, 8265, real)
    assert not ingress_allowed([pinned], API, 8265, spoofed)
    assert not ingress_allowed([pinned], API, 8265, PodPeer("kuberay-system", {"app": "other"}))


def test_both_selectors_in_one_peer_are_anded_but_two_peers_are_ored() -> None:
    ns_sel = {"matchLabels": {"team": "web"}}
    pod_sel = {"matchLabels": {"app": "front"}}
    anded = policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": ns_sel, "podSelector": pod_sel}]}]})
    ored = policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": ns_sel}, {"podSelector": pod_sel}]}]})
    web_batch = PodPeer("other", {"app": "batch"}, {"team": "web"})
    assert ingress_allowed([anded], API, 1, OTHER_NS_FRONT)
    assert not ingress_allowed([anded], API, 1, web_batch)
    assert not ingress_allowed([anded], API, 1, FRONT)  # right pod, namespace without the label
    assert ingress_allowed([ored], API, 1, web_batch)
    assert ingress_allowed([ored], API, 1, FRONT)


def test_ip_block_with_except_matches_external_addresses_only() -> None:
    block = {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}
    p = policy({"podSelector": {}, "ingress": [{"from": [{"ipBlock": block}]}]})
    assert ingress_allowed([p], API, 50051, IPPeer("10.2.3.4"))
    assert not ingress_allowed([p], API, 50051, IPPeer("10.1.3.4"))
    assert not ingress_allowed([p], API, 50051, IPPeer("192.168.0.1"))
    assert not ingress_allowed([p], API, 50051, FRONT)
    with pytest.raises(ValueError, match="mixes ipBlock"):
        ingress_allowed(
            [policy({"podSelector": {}, "ingress": [{"from": [{"ipBlock": block, "podSelector": {}}]}]})], API, 1, FRONT
        )


def test_ports_named_ranges_and_protocols() -> None:
    named = policy({"podSelector": {}, "ingress": [{"ports": [{"port": "metrics"}]}]})
    assert ingress_allowed([named], API, 9090, OUTSIDE)
    assert not ingress_allowed([named], API, 50051, OUTSIDE)
    assert not ingress_allowed([named], Pod(NS, {"app": "api"}, {}), 9090, OUTSIDE)  # no such named port
    ranged = policy({"podSelector": {}, "ingress": [{"ports": [{"port": 9000, "endPort": 9100}]}]})
    assert ingress_allowed([ranged], API, 9090, OUTSIDE)
    assert not ingress_allowed([ranged], API, 9101, OUTSIDE)
    udp = policy({"podSelector": {}, "ingress": [{"ports": [{"protocol": "UDP"}]}]})  # every UDP port
    assert ingress_allowed([udp], API, 53, OUTSIDE, protocol="UDP")
    assert not ingress_allowed([udp], API, 53, OUTSIDE)
    tcp_default = policy({"podSelector": {}, "ingress": [{"ports": [{"port": 53}]}]})
    assert not ingress_allowed([tcp_default], API, 53, OUTSIDE, protocol="UDP")


def test_policies_of_another_namespace_do_not_apply() -> None:
    elsewhere = policy({"podSelector": {}}, namespace="other")
    assert ingress_allowed([elsewhere], API, 50051, FRONT)
    assert not ingress_allowed([elsewhere], Pod("other", {"app": "api"}), 50051, FRONT)
    # Policies without a namespace are in default_namespace (or the target's namespace).
    unnamespaced = policy({"podSelector": {}})
    assert not ingress_allowed([unnamespaced], API, 50051, FRONT)
    assert ingress_allowed([unnamespaced], API, 50051, FRONT, default_namespace="other")


def test_additive_policies_and_match_expressions() -> None:
    only_api = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]}
    from_front = policy(
        {"podSelector": only_api, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "front"}}}]}]}, name="a"
    )
    from_monitoring = policy(
        {
            "podSelector": {},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "monitor", "operator": "Exists"},
                                    {"key": "tier", "operator": "NotIn", "values": ["untrusted"]},
                                    {"key": "legacy", "operator": "DoesNotExist"},
                                ]
                            },
                        }
                    ],
                    "ports": [{"port": "metrics"}],
                }
            ],
        },
        name="b",
    )
    both = [from_front, from_monitoring]
    scraper = PodPeer("monitoring", {"monitor": "yes"})
    assert ingress_allowed(both, API, 50051, FRONT)
    assert ingress_allowed(both, API, 9090, scraper)
    assert not ingress_allowed(both, API, 50051, scraper)
    assert not ingress_allowed(both, API, 9090, PodPeer("monitoring", {"monitor": "yes", "tier": "untrusted"}))
    assert not ingress_allowed(both, API, 9090, PodPeer("monitoring", {"monitor": "yes", "legacy": "1"}))
    assert not ingress_allowed(both, API, 9090, PodPeer("monitoring", {"tier": "x"}))


def test_pods_from_manifests() -> None:
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "interp-minio"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "minio"}},
                "spec": {
                    "containers": [{"name": "m", "ports": [{"name": "s3", "containerPort": 9000}, {"containerPort": 9001}]}]
                },
            }
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "seed"},
        "spec": {"template": {"spec": {"containers": [{"name": "j"}]}}},
    }
    rs = rayservice()
    rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["labels"] = {"accelerator": "h200"}
    pods = {p.name: p for p in netpol.pods_from_manifests([deployment(), statefulset, job, rs, servicemonitor()], NS)}
    assert sorted(pods) == [
        "Deployment api",
        "Job seed",
        "RayService head",
        "RayService worker group gpu",
        "StatefulSet interp-minio",
    ]
    assert pods["StatefulSet interp-minio"] == Pod(NS, {"app": "minio"}, {"s3": 9000}, "StatefulSet interp-minio")
    assert pods["Deployment api"].ports == {"grpc": 50051}
    assert pods["Job seed"].labels["batch.kubernetes.io/job-name"] == "seed"
    head, worker = pods["RayService head"], pods["RayService worker group gpu"]
    assert head.ports == {"serve": 8000}
    assert head.labels["role"] == "head"
    assert (head.labels["ray.io/node-type"], head.labels["ray.io/group"]) == ("head", "headgroup")
    assert (worker.labels["ray.io/node-type"], worker.labels["ray.io/group"], worker.labels["accelerator"]) == (
        "worker",
        "gpu",
        "h200",
    )
    assert netpol.pods_from_manifests([rs], NS, kuberay_labels=False)[0].labels == {"role": "head"}
    # A pod is a valid source as well.
    p = policy(
        {
            "podSelector": {"matchLabels": {"app": "minio"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"ray.io/is-ray-node": "yes"}}}], "ports": [{"port": "s3"}]}],
        }
    )
    assert ingress_allowed([p], pods["StatefulSet interp-minio"], 9000, worker.as_peer())
    assert not ingress_allowed([p], pods["StatefulSet interp-minio"], 9000, pods["Job seed"].as_peer())
    assert not ingress_allowed([p], pods["StatefulSet interp-minio"], 9001, head.as_peer())


# --- helm: a throwaway chart ---------------------------------------------------------------------

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "tiny.fullname" . }}
  namespace: {{ .Release.Namespace }}
data:
  replicas: {{ .Values.replicas | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  features: {{ toJson .Values.features | quote }}
---
# a document with only a comment is dropped
---
{{- if .Values.boom }}
{{- fail "boom: refusing to render" }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "tiny.fullname" . }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: tiny}
  template:
    metadata:
      labels: {app: tiny}
    spec:
      containers:
        - name: tiny
          image: {{ required "image is required" .Values.image | quote }}
"""


@pytest.fixture()
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\nicon: https://example.com/i.png\n")
    (root / "values.yaml").write_text("replicas: 1\nimage: tiny:1\nfeatures: {a: true, b: true}\nboom: false\n")
    schema = {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"replicas": {"type": "integer", "minimum": 1}, "image": {"type": "string"}},
        "required": ["replicas"],
    }
    (root / "values.schema.json").write_text(json.dumps(schema))
    (root / "templates" / "_helpers.tpl").write_text('{{- define "tiny.fullname" -}}{{ .Release.Name }}-tiny{{- end -}}\n')
    (root / "templates" / "NOTES.txt").write_text("Installed {{ .Release.Name }}.\n")
    (root / "templates" / "app.yaml").write_text(CONFIGMAP)
    return root


def test_render_returns_parsed_manifests_with_their_source(chart: Path) -> None:
    manifests = helm.render(chart)
    assert [(m["kind"], m["metadata"]["name"], m.source) for m in manifests] == [
        ("ConfigMap", "interp-tiny", "tiny/templates/app.yaml"),
        ("Deployment", "interp-tiny", "tiny/templates/app.yaml"),
    ]
    assert "source" not in manifests[0]
    assert manifests[0]["metadata"]["namespace"] == "interp"
    assert k8s.validate(manifests) == []
    assert helm.find(manifests, "Deployment", "interp-tiny") == [manifests[1]]
    assert helm.find(manifests, "Deployment", "nope") == []
    renamed = helm.render(chart, release="other", namespace="elsewhere")
    assert renamed[0]["metadata"] == {"name": "other-tiny", "namespace": "elsewhere"}


def test_render_merges_values_files_then_values(chart: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("replicas: 2\nfeatures: {a: false, c: true}\n")
    second.write_text("replicas: 3\n")
    manifests = helm.render(chart, [first, second], {"features": {"b": None}})
    configmap = helm.find(manifests, "ConfigMap")[0]
    assert configmap["data"]["replicas"] == "3"
    assert json.loads(configmap["data"]["features"]) == {"a": False, "c": True}  # None removed the default b
    assert helm.find(manifests, "Deployment")[0]["spec"]["replicas"] == 3


def test_render_capabilities(chart: Path) -> None:
    default = helm.render(chart)[0]["data"]
    assert default["monitoring"] == "false"
    data = helm.render(chart, kube_version="1.31", api_versions=["monitoring.coreos.com/v1"])[0]["data"]
    assert (data["kube"], data["monitoring"]) == ("v1.31.0", "true")


def test_render_errors_carry_helms_text(chart: Path) -> None:
    with pytest.raises(helm.RenderError, match="minimum: got 0, want 1"):
        helm.render(chart, values={"replicas": 0})
    with pytest.raises(helm.RenderError, match="got string, want integer"):
        helm.render(chart, values={"replicas": "two"})
    with pytest.raises(helm.RenderError, match="boom: refusing to render"):
        helm.render(chart, values={"boom": True})
    with pytest.raises(helm.RenderError, match="image is required"):
        helm.render(chart, values={"image": None})
    with pytest.raises(helm.RenderError, match="invalid release name"):
        helm.render(chart, release="Not_Valid")
    with pytest.raises(helm.HelmError, match="cannot load chart"):
        helm.render(chart.parent / "missing")


def test_render_rejects_duplicate_keys_and_non_mapping_documents(chart: Path) -> None:
    (chart / "templates" / "dup.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n")
    with pytest.raises(helm.RenderError, match="(?s)tiny/templates/dup.yaml.*duplicate key 'name'"):
        helm.render(chart)
    (chart / "templates" / "dup.yaml").write_text("- just\n- a list\n")
    with pytest.raises(helm.RenderError, match="not a mapping"):
        helm.render(chart)


def test_lint_passes_a_clean_chart_and_returns_its_messages(chart: Path) -> None:
    assert helm.lint(chart) == []
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    assert helm.lint(chart) == ["[INFO] Chart.yaml: icon is recommended"]
    (chart / "templates" / "old.yaml").write_text("apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: old\nspec: {}\n")
    warning = (
        "[WARNING] templates/old.yaml: batch/v1beta1 CronJob is deprecated in v1.21+, unavailable in v1.25+; use batch/v1 CronJob"
    )
    assert warning in helm.lint(chart)
    with pytest.raises(helm.LintError, match="batch/v1beta1 CronJob is deprecated"):
        helm.lint(chart, strict=True)


def test_lint_validates_values_against_the_charts_schema(chart: Path, tmp_path: Path) -> None:
    bad_values = tmp_path / "bad.yaml"
    bad_values.write_text("replicas: 0\n")
    with pytest.raises(helm.LintError, match="minimum: got 0, want 1") as failure:
        helm.lint(chart, [bad_values])
    assert any(m.startswith("[ERROR] values.yaml:") for m in failure.value.messages)
    with pytest.raises(helm.LintError, match="got string, want integer"):
        helm.lint(chart, values={"replicas": "two"})
    # The same values lint clean once the chart ships no schema: the schema is what failed.
    (chart / "values.schema.json").unlink()
    assert helm.lint(chart, [bad_values]) == []


def test_lint_reports_template_errors_but_not_fail_calls(chart: Path) -> None:
    # As with `helm lint`, templates render in lint mode, where `fail` only logs.
    assert helm.lint(chart, values={"boom": True}) == []
    (chart / "templates" / "broken.yaml").write_text("{{ .Values.nope.deeper }}\n")
    with pytest.raises(helm.LintError, match="nil pointer evaluating interface {}.deeper"):
        helm.lint(chart)
