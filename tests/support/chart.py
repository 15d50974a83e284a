"""The project's Helm chart as tests read it: rendered manifests, the Serve config of its
RayService, the Ray resources of its groups, and the environment its containers would get.

The session fleet (``tests/conftest.py``) runs the chart's own Serve config through
``python -m interp_services.serve --serve-config``, so every end-to-end test also exercises what
KubeRay would deploy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.helm import Manifest, find, render

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "interp-suite"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
NAMESPACE = "interp"


def render_chart(values_files: Sequence[Path] = (), values: Mapping[str, Any] | None = None, **kw: Any) -> list[Manifest]:
    """``helm template interp helm/interp-suite -n interp -f ...`` with ``values`` over the files."""
    return render(CHART, values_files, values, release="interp", namespace=NAMESPACE, **kw)


def ray_service(manifests: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    (service,) = find(manifests, "RayService")
    return service


def serve_config(manifests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The RayService's ``serveConfigV2``, parsed."""
    return yaml.safe_load(ray_service(manifests)["spec"]["serveConfigV2"])


def chart_settings(manifests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The fleet settings the chart passes to the application (``args.settings``)."""
    (app,) = serve_config(manifests)["applications"]
    return app["args"]["settings"]


def groups(manifests: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Ray groups by name (``head`` for the head group, else the worker ``groupName``)."""
    cluster = ray_service(manifests)["spec"]["rayClusterConfig"]
    return {"head": cluster["headGroupSpec"], **{g["groupName"]: g for g in cluster["workerGroupSpecs"]}}


def group_resources(group: Mapping[str, Any]) -> dict[str, float]:
    """The custom Ray resources one pod of the group advertises (``rayStartParams.resources``,
    which KubeRay hands to ``ray start --resources`` as a shell-quoted JSON string)."""
    text = (group.get("rayStartParams") or {}).get("resources")
    if not text:
        return {}
    unquoted = json.loads(text) if text.startswith('"') else text  # '"{\"a\":1}"' -> '{"a":1}'
    return {k: float(v) for k, v in json.loads(unquoted).items()}


def local_ray_resources(manifests: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Every group's custom resources on one node: what a single machine needs to run the
    chart's Serve config as the cluster would place it (each group counted with its replicas)."""
    total: dict[str, float] = {}
    for name, group in groups(manifests).items():
        pods = 1 if name == "head" else max(1, int(group.get("replicas", 1)))
        for key, amount in group_resources(group).items():
            total[key] = total.get(key, 0.0) + amount * pods
    return total


def container(group: Mapping[str, Any]) -> Mapping[str, Any]:
    (first, *_) = group["template"]["spec"]["containers"]
    return first


def container_env(group: Mapping[str, Any], secrets: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The environment the group's Ray container gets, with each ``secretKeyRef`` read from
    ``secrets`` (Secret name -> data), as the kubelet would (a missing Secret or key raises)."""
    env: dict[str, str] = {}
    for entry in container(group).get("env") or []:
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        env[entry["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def write_local_serve_config(manifests: Sequence[Mapping[str, Any]], path: Path, ray: Mapping[str, Any]) -> Path:
    """The chart's Serve config with a ``ray:`` block for the local Ray instance added to its
    settings (the chart has none: on Kubernetes, KubeRay starts Ray)."""
    config = serve_config(manifests)
    settings = config["applications"][0]["args"]["settings"]
    assert "ray" not in settings, "the chart sets no ray block"
    settings["ray"] = dict(ray)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
