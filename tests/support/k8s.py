"""Offline, strict validation of rendered Kubernetes manifests.

Built-in kinds are checked against the strict JSON schemas bundled with ``kubernetes-validate``
(every object closed: an unknown field is an error). The custom kinds the chart uses are checked
with ``jsonschema`` against the ``openAPIV3Schema`` of the CRDs shipped in ``helm/crd-schemas/``
(see its README), made strict the way the API server's strict field validation behaves:

* an object schema without ``additionalProperties`` and without
  ``x-kubernetes-preserve-unknown-fields: true`` gets ``additionalProperties: false`` (the server
  would prune those fields; ``kubectl apply --validate=strict`` rejects them);
* ``x-kubernetes-int-or-string`` means integer or string, ``nullable`` adds ``null``, and a
  ``null`` in a non-nullable field is pruned before validation (as the server does);
* ``x-kubernetes-list-type: set|map`` lists must not hold duplicates (by the list-map keys);
* ``metadata`` of a custom resource is validated as a strict ObjectMeta with ``name`` required.

Not checked: CEL rules (``x-kubernetes-validations``), ``format`` values, admission webhooks, and
the semantic validation the API server does for built-in kinds beyond their schema.

    >>> problems = validate(manifests, "1.31")   # [] when everything is valid
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

__all__ = ["CRD_DIR", "crd_kinds", "validate"]

#: The shipped CRDs (``*.yaml`` or gzip-compressed ``*.yaml.gz``).
CRD_DIR = Path(__file__).resolve().parents[2] / "helm" / "crd-schemas"

_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META_REF = f"{_DEFINITIONS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_SCHEMAS = resources.files("kubernetes_validate") / "kubernetes-json-schema"
_Validator = Any  # a jsonschema validator instance (the protocol type is not worth importing)


# --- Kubernetes versions -----------------------------------------------------------------------


def _minor(version: str) -> tuple[int, int]:
    """``"v1.31.0"`` -> ``(1, 31)``."""
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match[1]), int(match[2])


def _dotted(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


@functools.cache
def _schema_dir(k8s_version: str) -> str:
    """The kubernetes-validate strict schema folder for ``k8s_version`` (the newest one not newer)."""
    available = sorted(
        (entry.name for entry in _SCHEMAS.iterdir() if re.fullmatch(r"v[\d.]+-local-strict", entry.name)),
        key=_minor,
    )
    wanted = _minor(k8s_version)
    fitting = [name for name in available if _minor(name) <= wanted]
    if not available or not fitting or wanted > _minor(available[-1]):
        known = ", ".join(_dotted(_minor(name)) for name in available)
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {k8s_version} (it has {known})")
    return fitting[-1]


@functools.cache
def _registry(schema_dir: str) -> Registry:
    definitions = json.loads((_SCHEMAS / schema_dir / "_definitions.json").read_text(encoding="utf-8"))
    return Registry().with_resource(_DEFINITIONS_ID, Resource.from_contents(definitions))


# --- built-in kinds ----------------------------------------------------------------------------


@functools.cache
def _builtin_validator(schema_dir: str, api_version: str, kind: str) -> _Validator | None:
    """A validator for a built-in kind, or None when kubernetes-validate does not know it."""
    if not re.fullmatch(r"[A-Za-z0-9]+", kind):
        return None
    # kubernetes-validate's file naming: networking.k8s.io/v1 -> networking-v1, v1 -> v1.
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMAS / schema_dir / f"{kind.lower()}-{short}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    # The short name drops the group's domain, so check the exact group/version/kind.
    group, _, version = api_version.rpartition("/")
    gvks = schema.get("x-kubernetes-group-version-kind", [])
    if not any((g.get("group", ""), g.get("version"), g.get("kind")) == (group, version, kind) for g in gvks):
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(schema_dir))


# --- custom resources --------------------------------------------------------------------------


@dataclass(frozen=True)
class _CrdVersion:
    api_version: str
    kind: str
    schema: Mapping[str, Any]
    deprecation: str | None
    source: str


@functools.cache
def _crds(crd_dir: Path) -> dict[tuple[str, str], _CrdVersion]:
    """Every served version of every CRD in ``crd_dir``, by (apiVersion, kind)."""
    found: dict[tuple[str, str], _CrdVersion] = {}
    paths = sorted([*crd_dir.glob("*.yaml"), *crd_dir.glob("*.yml"), *crd_dir.glob("*.yaml.gz")])
    for path in paths:
        raw = path.read_bytes()
        text = gzip.decompress(raw) if path.name.endswith(".gz") else raw
        for doc in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec.get("versions", []):
                if not version.get("served", False):
                    continue
                api_version = f"{spec['group']}/{version['name']}"
                deprecation = None
                if version.get("deprecated"):
                    deprecation = version.get("deprecationWarning") or f"{api_version} {spec['names']['kind']} is deprecated"
                found[(api_version, spec["names"]["kind"])] = _CrdVersion(
                    api_version, spec["names"]["kind"], version["schema"]["openAPIV3Schema"], deprecation, path.name
                )
    return found


def crd_kinds(crd_dir: Path = CRD_DIR) -> list[tuple[str, str]]:
    """The (apiVersion, kind) pairs the shipped CRDs serve."""
    return sorted(_crds(crd_dir))


_INT_OR_STRING_BRANCHES = [{"type": "integer"}, {"type": "string"}]
_JUNCTORS = ("allOf", "anyOf", "oneOf")


def _strict(node: Mapping[str, Any], *, in_junctor: bool = False) -> dict[str, Any]:
    """Convert a structural OpenAPI v3 schema node into a strict JSON schema (2020-12) node."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _strict(sub, in_junctor=in_junctor) for name, sub in value.items()}
        elif key in ("additionalProperties", "items", "not") and isinstance(value, Mapping):
            out[key] = _strict(value, in_junctor=in_junctor or key == "not")
        elif key in _JUNCTORS:
            out[key] = [_strict(sub, in_junctor=True) for sub in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:  # OpenAPI 3.0 / draft 4 form -> 2020-12 form
                out[key] = node[bound]
        else:
            out[key] = value  # other keywords, unknown x-kubernetes-* ones included (ignored)
    if node.get("exclusiveMinimum") is True:
        out.pop("minimum", None)
    if node.get("exclusiveMaximum") is True:
        out.pop("maximum", None)

    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
        if out.get("anyOf") == _INT_OR_STRING_BRANCHES:
            del out["anyOf"]
    if node.get("x-kubernetes-embedded-resource") and "properties" in out:
        for name in ("apiVersion", "kind"):
            out["properties"].setdefault(name, {"type": "string"})
        out["properties"].setdefault("metadata", {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif isinstance(out.get("type"), list):
            out["type"] = [*out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    is_object = out.get("type") == "object" or "properties" in out
    if (
        is_object
        and not in_junctor
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _list_type(validator: Any, list_type: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[jsonschema.ValidationError]:
    """``x-kubernetes-list-type``: ``set`` items and ``map`` keys must be unique."""
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    if list_type == "set":
        keys = [json.dumps(item, sort_keys=True) for item in instance]
        what = "value"
    else:
        names = schema.get("x-kubernetes-list-map-keys", [])
        item_props = schema.get("items", {}).get("properties", {})
        defaults = {name: item_props.get(name, {}).get("default") for name in names}
        keys = [
            json.dumps([item.get(name, defaults[name]) if isinstance(item, dict) else item for name in names])
            for item in instance
        ]
        what = "key " + "/".join(names)
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate entries for {what} {key}")
        seen.add(key)


_CrdValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"x-kubernetes-list-type": _list_type})


@functools.cache
def _custom_validator(schema_dir: str, crd_dir: Path, api_version: str, kind: str) -> tuple[_Validator, dict[str, Any]] | None:
    crd = _crds(crd_dir).get((api_version, kind))
    if crd is None:
        return None
    schema = _strict(crd.schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # validate() itself reports a missing metadata.name (for every kind), so no "required" here.
    schema.setdefault("properties", {})["metadata"] = {"$ref": _OBJECT_META_REF}
    schema.setdefault("required", [])
    for name in ("apiVersion", "kind", "metadata"):
        if name not in schema["required"]:
            schema["required"].append(name)
    return _CrdValidator(schema, registry=_registry(schema_dir)), schema


def _prune_nulls(instance: Any, schema: Mapping[str, Any]) -> Any:
    """Drop ``null`` values of fields that are not ``nullable``, as the API server's pruning does."""
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        pruned = {}
        for key, value in instance.items():
            sub = properties.get(key, extra if isinstance(extra, Mapping) else {})
            if value is None and not sub.get("nullable"):
                continue
            pruned[key] = _prune_nulls(value, sub)
        return pruned
    if isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        return [_prune_nulls(item, schema["items"]) for item in instance]
    return instance


# --- the public entry point --------------------------------------------------------------------


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _messages(validator: _Validator, manifest: Mapping[str, Any]) -> Iterator[str]:
    for error in validator.iter_errors(manifest):
        where = _path(error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            patterns = error.schema.get("patternProperties", {})
            for name in sorted(error.instance):
                if name not in known and not any(re.search(p, name) for p in patterns):
                    yield f"{_path([*error.absolute_path, name])}: unknown field {name!r}"
        elif error.validator in ("oneOf", "anyOf") and error.context:
            reasons = "; ".join(sorted({sub.message for sub in error.context}))
            yield f"{where}: {error.message} ({reasons})"
        else:
            yield f"{where}: {error.message}"


def _label(manifest: Mapping[str, Any], index: int) -> str:
    metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    name = metadata.get("name") or f"#{index}"
    label = f"{manifest.get('kind', '?')}/{name}"
    source = getattr(manifest, "source", None)
    return f"{label} [{source}]" if source else label


def validate(manifests: Iterable[Mapping[str, Any]], k8s_version: str = "1.31", *, crd_dir: Path = CRD_DIR) -> list[str]:
    """Validate manifests strictly; return one readable message per problem (``[]`` = all valid).

    Messages look like ``Deployment/api [chart/templates/api.yaml]: spec.replicas: 'two' is not of
    type 'integer'`` (the bracketed template appears when a manifest carries a ``source``
    attribute, as :func:`tests.support.helm.render`'s do). Besides schema errors it reports
    manifests without ``apiVersion``/``kind``/``metadata.name``, kinds that are neither built in
    nor served by a shipped CRD, deprecated CRD versions, and the same object rendered twice.

    Raises:
        ValueError: if kubernetes-validate has no schemas for ``k8s_version``.
    """
    schema_dir = _schema_dir(k8s_version)
    problems: list[str] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    for index, manifest in enumerate(manifests):
        label = _label(manifest, index)
        api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            problems.append(f"{label}: apiVersion and kind must be non-empty strings")
            continue
        metadata = manifest.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{label}: metadata.name is required")
        else:
            key = (api_version.rpartition("/")[0], kind, str(metadata.get("namespace") or ""), name)
            if key in seen:
                problems.append(f"{label}: duplicate object (also rendered as {seen[key]})")
            seen[key] = label

        custom = _custom_validator(schema_dir, crd_dir, api_version, kind)
        if custom is not None:
            validator, schema = custom
            deprecation = _crds(crd_dir)[(api_version, kind)].deprecation
            if deprecation:
                problems.append(f"{label}: deprecated API version: {deprecation}")
            messages = _messages(validator, _prune_nulls(dict(manifest), schema))
            problems.extend(f"{label}: {message}" for message in sorted(messages))
            continue
        builtin = _builtin_validator(schema_dir, api_version, kind)
        if builtin is None:
            problems.append(
                f"{label}: unknown apiVersion/kind {api_version} {kind}: not built into Kubernetes "
                f"{_dotted(_minor(schema_dir))} and not served by a CRD in {crd_dir}"
            )
            continue
        problems.extend(f"{label}: {message}" for message in sorted(_messages(builtin, manifest)))
    return problems
