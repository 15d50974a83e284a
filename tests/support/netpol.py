"""A small evaluator of Kubernetes NetworkPolicy *ingress* semantics (networking.k8s.io/v1).

    >>> pods = {p.name: p for p in pods_from_manifests(manifests, "interp")}
    >>> ingress_allowed(policies, pods["StatefulSet interp-minio"], 9000, pods["RayService head"].as_peer())
    True

Rules implemented (https://kubernetes.io/docs/concepts/services-networking/network-policies/):

* a policy applies only to pods in its own namespace and selects them with ``spec.podSelector``
  (``{}`` = all of them);
* a pod is isolated for ingress iff some policy selecting it has ``Ingress`` in its policyTypes
  (when ``policyTypes`` is absent, ``Ingress`` is always implied); a non-isolated pod admits
  everything;
* an isolated pod admits a connection iff some selecting ingress policy has a rule whose
  ``ports`` match (absent/empty = all; numeric, named via the target's container ports, ranges
  with ``endPort``; protocol defaults to TCP) and whose ``from`` matches (absent/empty = every
  source); a peer with only ``podSelector`` means pods of the policy's namespace, only
  ``namespaceSelector`` all pods of the matching namespaces, both = pods matching both;
  ``ipBlock`` (``cidr`` minus ``except``) matches external IP sources only (never pod sources here,
  as cluster pod IPs are not modelled).

A namespace always carries ``kubernetes.io/metadata.name: <name>`` (the API server sets it), so a
:class:`PodPeer` matches that label even when ``namespace_labels`` omits it. Policies without
``metadata.namespace`` (as a chart usually renders them) are taken to be in ``default_namespace``,
or in the target pod's namespace when that is not given. Invalid policies (an empty peer, ipBlock
mixed with selectors, an unknown selector operator, a numeric string as a port) raise ValueError.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IPPeer", "Peer", "Pod", "PodPeer", "ingress_allowed", "is_isolated", "pods_from_manifests", "selector_matches"]

_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class PodPeer:
    """A source pod: its namespace, that namespace's labels and its own labels."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IPPeer:
    """A source outside the cluster's pods, by IP address (e.g. ``"203.0.113.7"``)."""

    ip: str


Peer = PodPeer | IPPeer


@dataclass(frozen=True)
class Pod:
    """A target pod: namespace, labels, named container ports (name -> number) and, for messages,
    a name such as ``"RayService head"``. ``port_protocols`` gives a named port's protocol when it
    is not TCP."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    name: str = ""
    port_protocols: Mapping[str, str] = field(default_factory=dict)

    def as_peer(self, namespace_labels: Mapping[str, str] | None = None) -> PodPeer:
        """This pod as the source of a connection."""
        return PodPeer(self.namespace, dict(self.labels), dict(namespace_labels or {}))


# --- selectors -----------------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels AND matchExpressions; ``{}`` = everything) matches."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"unknown label selector operator {operator!r}")
        if not ok:
            return False
    return True


# --- policies ------------------------------------------------------------------------------------


def _policies(manifests: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [m for m in manifests if m.get("kind") == "NetworkPolicy"]


def _namespace(policy: Mapping[str, Any], default: str) -> str:
    return (policy.get("metadata") or {}).get("namespace") or default


def _policy_types(spec: Mapping[str, Any]) -> list[str]:
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _selecting_ingress_policies(
    policies: Iterable[Mapping[str, Any]], target: Pod, default_namespace: str | None
) -> list[Mapping[str, Any]]:
    selecting = []
    for policy in _policies(policies):
        spec = policy.get("spec") or {}
        if _namespace(policy, default_namespace or target.namespace) != target.namespace:
            continue
        if "Ingress" in _policy_types(spec) and selector_matches(spec.get("podSelector") or {}, target.labels):
            selecting.append(policy)
    return selecting


def is_isolated(policies: Iterable[Mapping[str, Any]], target: Pod, *, default_namespace: str | None = None) -> bool:
    """Whether some policy isolates ``target`` for ingress."""
    return bool(_selecting_ingress_policies(policies, target, default_namespace))


def _port_matches(entry: Mapping[str, Any], target: Pod, port: int, protocol: str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True  # every port of this protocol
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        end = entry.get("endPort")
        return wanted <= port <= end if end is not None else port == wanted
    if isinstance(wanted, str):
        if wanted.isdigit():
            raise ValueError(f"NetworkPolicy port {wanted!r} is a string: a port name, which must contain a letter")
        return target.ports.get(wanted) == port and target.port_protocols.get(wanted, "TCP") == protocol
    raise ValueError(f"invalid NetworkPolicy port {wanted!r}")


def _peer_matches(entry: Mapping[str, Any], policy_namespace: str, source: Peer) -> bool:
    pod_selector, namespace_selector, ip_block = entry.get("podSelector"), entry.get("namespaceSelector"), entry.get("ipBlock")
    if ip_block is not None:
        if pod_selector is not None or namespace_selector is not None:
            raise ValueError(f"NetworkPolicy peer {dict(entry)} mixes ipBlock with selectors")
        if not isinstance(source, IPPeer):
            return False
        address = ipaddress.ip_address(source.ip)
        if address not in ipaddress.ip_network(ip_block["cidr"], strict=False):
            return False
        return not any(address in ipaddress.ip_network(cidr, strict=False) for cidr in ip_block.get("except") or [])
    if pod_selector is None and namespace_selector is None:
        raise ValueError(f"NetworkPolicy peer {dict(entry)} sets none of podSelector, namespaceSelector, ipBlock")
    if isinstance(source, IPPeer):
        return False
    if namespace_selector is None:
        in_namespace = source.namespace == policy_namespace
    else:
        namespace_labels = {**source.namespace_labels, _NAMESPACE_NAME_LABEL: source.namespace}
        in_namespace = selector_matches(namespace_selector, namespace_labels)
    return in_namespace and (pod_selector is None or selector_matches(pod_selector, source.labels))


def ingress_allowed(
    policies: Iterable[Mapping[str, Any]],
    target: Pod,
    port: int,
    source: Peer,
    protocol: str = "TCP",
    *,
    default_namespace: str | None = None,
) -> bool:
    """Whether ``target`` admits a ``protocol`` connection from ``source`` to ``port``.

    ``policies`` may be all rendered manifests: only NetworkPolicies are looked at.
    """
    for policy in _selecting_ingress_policies(policies, target, default_namespace):
        spec = policy.get("spec") or {}
        namespace = _namespace(policy, default_namespace or target.namespace)
        for rule in spec.get("ingress") or []:
            ports = rule.get("ports") or []
            peers = rule.get("from") or []
            if ports and not any(_port_matches(p, target, port, protocol) for p in ports):
                continue
            if peers and not any(_peer_matches(p, namespace, source) for p in peers):
                continue
            return True
    return not is_isolated(policies, target, default_namespace=default_namespace)


# --- pods of workloads ---------------------------------------------------------------------------


def _pod(namespace: str, template: Mapping[str, Any], name: str, extra_labels: Mapping[str, str] | None = None) -> Pod:
    labels = {**((template.get("metadata") or {}).get("labels") or {}), **(extra_labels or {})}
    ports: dict[str, int] = {}
    protocols: dict[str, str] = {}
    for container in (template.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name"):
                ports[port["name"]] = port["containerPort"]
                if port.get("protocol", "TCP") != "TCP":
                    protocols[port["name"]] = port["protocol"]
    return Pod(namespace, {str(k): str(v) for k, v in labels.items()}, ports, name, protocols)


def _kuberay_labels(
    cluster: str, node_type: str, group: str, group_labels: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """KubeRay's pod labels (v1.7 ``labelPod``/``BuildPod``): (overridable defaults, fixed ones)."""
    defaults = {
        "ray.io/is-ray-node": "yes",
        "ray.io/identifier": f"{cluster}-{node_type}",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    fixed = {"ray.io/node-type": node_type, "ray.io/group": group, "ray.io/cluster": cluster, "ray.io/serve": "true"}
    return defaults, {**dict(group_labels), **fixed}


def pods_from_manifests(manifests: Iterable[Mapping[str, Any]], namespace: str, *, kuberay_labels: bool = True) -> list[Pod]:
    """The pods the workloads in ``manifests`` would run, one per pod template.

    Covers Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and a RayService's
    head and worker groups (named ``"<Kind> <name>"``, ``"RayService head"`` and ``"RayService worker
    group <groupName>"``). ``namespace`` is used where a manifest sets none. Controllers add labels
    of their own, and the deterministic ones are added too: ``job-name`` and
    ``batch.kubernetes.io/job-name`` for Jobs, and, unless ``kuberay_labels`` is false, KubeRay's
    (``ray.io/node-type``, ``ray.io/group`` — ``headgroup`` for the head —, ``ray.io/is-ray-node``,
    ``ray.io/serve: "true"`` (the head's value once it serves), ``app.kubernetes.io/name: kuberay``
    …, plus the group's ``labels`` field). The RayCluster's name gets a random suffix in a real
    cluster, so ``ray.io/cluster`` is ``"<rayservice>-xxxxx"`` here.
    """
    pods: list[Pod] = []
    for manifest in manifests:
        kind = manifest.get("kind")
        name = (manifest.get("metadata") or {}).get("name", "")
        ns = (manifest.get("metadata") or {}).get("namespace") or namespace
        spec = manifest.get("spec") or {}
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            pods.append(_pod(ns, spec.get("template") or {}, f"{kind} {name}"))
        elif kind == "Job":
            job_labels = {"job-name": name, "batch.kubernetes.io/job-name": name}
            pods.append(_pod(ns, spec.get("template") or {}, f"Job {name}", job_labels))
        elif kind == "CronJob":
            template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
            pods.append(_pod(ns, template, f"CronJob {name}"))
        elif kind == "RayService":
            cluster = spec.get("rayClusterConfig") or {}
            groups = [("head", "headgroup", cluster.get("headGroupSpec") or {}, "RayService head")]
            groups += [
                ("worker", g.get("groupName", ""), g, f"RayService worker group {g.get('groupName', '')}")
                for g in cluster.get("workerGroupSpecs") or []
            ]
            for node_type, group, group_spec, pod_name in groups:
                template = group_spec.get("template") or {}
                if not kuberay_labels:
                    pods.append(_pod(ns, template, pod_name))
                    continue
                defaults, fixed = _kuberay_labels(f"{name}-xxxxx", node_type, group, group_spec.get("labels") or {})
                merged = {**defaults, **((template.get("metadata") or {}).get("labels") or {}), **fixed}
                pods.append(_pod(ns, {**template, "metadata": {**(template.get("metadata") or {}), "labels": merged}}, pod_name))
    return pods
