"""Render and lint Helm charts offline, through ``helm-python-sdk`` (Helm v4's Go SDK via ctypes).

No ``helm`` binary and no cluster: :func:`render` is ``helm template`` and :func:`lint` is
``helm lint``, both driven by the same Go code the CLI runs.

    >>> manifests = render(CHART, [CHART / "values.yaml"], {"monitoring": {"enabled": True}})
    >>> find(manifests, "RayService")[0].source
    'interp-suite/templates/rayservice.yaml'

Values: each values file is parsed by Helm's own YAML reader, the files are merged left to right
the way ``-f a.yaml -f b.yaml`` merges them (maps deep-merged, anything else replaced), then
``values`` is merged over them the same way (a structured ``--set``), and Helm coalesces the
result with the chart's ``values.yaml`` (``None`` deletes a default). A chart's
``values.schema.json`` is enforced on that result by both functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import helm_python
import yaml
from helm_python import _native

__all__ = ["HelmError", "LintError", "Manifest", "RenderError", "find", "lint", "merge_values", "render"]


class HelmError(Exception):
    """A chart could not be rendered or linted; the message holds Helm's own error text."""


class RenderError(HelmError):
    """Rendering failed: a template error, a ``fail`` call, a values.schema.json violation, or a
    rendered document that is not a valid YAML mapping."""


class LintError(HelmError):
    """Lint reported errors (or warnings, with ``strict=True``); ``messages`` holds all findings."""

    def __init__(self, message: str, messages: list[str]) -> None:
        super().__init__(message)
        self.messages = messages


class Manifest(dict[str, Any]):
    """A rendered Kubernetes object: a plain dict plus ``source``, the template it came from (e.g.
    ``interp-suite/templates/minio.yaml``), which is an attribute, not a key of the manifest."""

    source: str

    def __init__(self, data: Mapping[str, Any], source: str = "") -> None:
        super().__init__(data)
        self.source = source

    def __repr__(self) -> str:
        return f"Manifest({dict.__repr__(self)}, source={self.source!r})"


# yaml.safe_dump(manifest) should keep working for a dict subclass.
yaml.add_representer(Manifest, yaml.representer.SafeRepresenter.represent_dict, Dumper=yaml.SafeDumper)


# --- values --------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's ``mergeMaps``: nested maps merge, every other value (lists too) replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = _plain(value)
    return merged


def _plain(value: Any) -> Any:
    """Deep-copy mappings and sequences into dicts and lists (JSON-ready)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def merge_values(values_files: Sequence[Path] = (), values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The user-supplied values of ``-f file ... --set ...`` (before Helm coalesces chart defaults)."""
    merged: dict[str, Any] = {}
    for path in values_files:
        try:
            parsed = helm_python.values_from_yaml(Path(path).read_text(encoding="utf-8"))
        except helm_python.HelmError as exc:
            raise HelmError(f"values file {path}: {exc}") from exc
        merged = _merge(merged, parsed)
    return _merge(merged, values or {})


# --- rendering -----------------------------------------------------------------------------------


def _kube_version(version: str) -> str:
    """``1.31`` / ``v1.31`` -> ``v1.31.0`` (what ``helm template --kube-version`` reports)."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return f"v{match[1]}.{match[2]}.{match[3] or 0}"


_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ManifestLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML loading as Kubernetes clients parse manifests: timestamps stay strings, a plain
    ``=`` is a string, and a duplicated mapping key is an error (kubectl rejects it too)."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _documents(source: str, text: str) -> Iterable[Manifest]:
    try:
        documents = list(yaml.load_all(text, Loader=_ManifestLoader))
    except yaml.YAMLError as exc:
        raise RenderError(f"YAML parse error on {source}: {exc}") from exc
    for document in documents:
        if document is None or document == {}:
            continue
        if not isinstance(document, dict):
            raise RenderError(f"YAML parse error on {source}: a document is a {type(document).__name__}, not a mapping")
        yield Manifest(document, source)


def render(
    chart: Path,
    values_files: Sequence[Path] = (),
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "interp",
    namespace: str = "interp",
    kube_version: str | None = None,
    api_versions: Sequence[str] = (),
) -> list[Manifest]:
    """Render ``chart`` like ``helm template`` and return every non-empty document, in template
    path order, then document order.

    Each result is a :class:`Manifest` (a dict) whose ``source`` is its template path. NOTES.txt
    and partials are not returned; hook manifests (e.g. a ``helm.sh/hook`` Job) are, as
    ``helm template`` prints them. ``kube_version`` (``"1.31"``) and ``api_versions``
    (``["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"]``) set
    ``.Capabilities`` like ``--kube-version``/``--api-versions``; without ``kube_version`` Helm's
    built-in default applies (v1.36.0 in helm-python-sdk 0.2.2). A chart's ``kubeVersion``
    constraint is not checked (``helm template`` checks it, this does not).

    Raises:
        RenderError: with Helm's message, on a template error, a ``fail``/``required`` call, a
            values.schema.json violation, an invalid release name, or invalid YAML output.
        HelmError: if the chart or a values file cannot be read.
    """
    user_values = merge_values(values_files, values)
    options: dict[str, Any] = {}
    if kube_version is not None:
        options["kube_version"] = _kube_version(kube_version)
    if api_versions:
        options["api_versions"] = list(api_versions)
    try:
        helm_python.validate_release_name(release)
        with helm_python.Chart.load(chart) as loaded:
            if options:
                # Chart.render() does not expose these two keys, but libhelm_c 0.2.2's render
                # options accept them (unknown keys are rejected, so a change fails loudly).
                options.update(name=release, namespace=namespace)
                payload = _native.call_string("helm_render", loaded._raw(), json.dumps(user_values), json.dumps(options))
                rendered: dict[str, str] = json.loads(payload)
            else:
                rendered = loaded.render(user_values, name=release, namespace=namespace)
    except helm_python.HelmChartLoadError as exc:
        raise HelmError(f"cannot load chart {chart}: {exc}") from exc
    except helm_python.HelmError as exc:
        raise RenderError(str(exc)) from exc

    manifests: list[Manifest] = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt") or not rendered[source].strip():
            continue
        manifests.extend(_documents(source, rendered[source]))
    return manifests


# --- lint ----------------------------------------------------------------------------------------

_SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def lint(
    chart: Path,
    values_files: Sequence[Path] = (),
    values: Mapping[str, Any] | None = None,
    *,
    namespace: str = "interp",
    kube_version: str | None = None,
    strict: bool = False,
) -> list[str]:
    """Run ``helm lint`` and return its messages, e.g. ``"[INFO] Chart.yaml: icon is recommended"``.

    Like the CLI, lint validates the values against values.schema.json and renders the templates
    in lint mode, where ``fail`` and ``required`` only log instead of failing: use :func:`render`
    to exercise those.

    Raises:
        LintError: if any message has severity ERROR (or WARNING, with ``strict``); its text lists
            every finding.
    """
    user_values = merge_values(values_files, values)
    try:
        report = helm_python.lint(
            chart,
            user_values or None,
            namespace=namespace,
            kube_version=None if kube_version is None else _kube_version(kube_version),
        )
    except helm_python.HelmError as exc:
        raise LintError(f"helm lint {chart}: {exc}", [str(exc)]) from exc
    messages = [f"[{_SEVERITY.get(m['severity'], m['severity'])}] {m['path']}: {m['error'].strip()}" for m in report["messages"]]
    threshold = 2 if strict else 3
    failing = [text for m, text in zip(report["messages"], messages, strict=True) if m["severity"] >= threshold]
    # Errors that are not attached to a message (e.g. a chart that cannot be loaded at all).
    failing += [f"[ERROR] {e.strip()}" for e in report.get("errors", []) if not any(e.strip() in text for text in messages)]
    if failing:
        raise LintError(f"helm lint {chart} failed:\n" + "\n".join(failing), messages)
    return messages


# --- queries -------------------------------------------------------------------------------------


_M = TypeVar("_M", bound=Mapping[str, Any])


def find(manifests: Iterable[_M], kind: str, name: str | None = None) -> list[_M]:
    """The manifests of ``kind`` (and ``metadata.name`` == ``name`` when given), in order."""
    return [m for m in manifests if m.get("kind") == kind and (name is None or (m.get("metadata") or {}).get("name") == name)]
