"""One frozen settings object per process, read once at start-up from YAML and environment.

Precedence: built-in defaults < YAML file (``--config`` or ``INTERP_CONFIG``) < environment
(``INTERP_PORT``, ``INTERP_HOST``, ``INTERP_STORE_URL``, ``INTERP_API_KEYS`` as
``key=tenant,key2=tenant2``, ``INTERP_MODEL_CACHE``, ``INTERP_RAY_RESOURCES`` as a JSON object).
Store credentials come only from the environment (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``) or a Kubernetes Secret mounted as those variables, never from the YAML.

Per-deployment settings (replicas, CPUs/GPUs, autoscaling, ``max_ongoing_requests``, torch
threads) live under ``deployments:``, one entry for the gateway and one per service of the
registry (``interp_services.registry``); a service's defaults come from its registry entry, so
a new service has settings without any edit here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from interp_services.rpc.codec import DeliveryPolicy
from interp_services.rpc.context import DEFAULT_TENANT, Limits
from interp_services.rpc.gateway import DEV_API_KEY

if TYPE_CHECKING:
    from interp_services.registry import ServiceSpec

GATEWAY = "gateway"
"""The deployment name of the public endpoint (not a registry service, but configured alike)."""


@dataclass(frozen=True)
class DeploymentSettings:
    """Replicas and resources of one Ray Serve deployment.

    ``autoscaling`` (a Ray Serve ``autoscaling_config`` mapping, e.g. ``{min_replicas: 1,
    max_replicas: 4, target_ongoing_requests: 2}``) replaces ``num_replicas`` when set.
    ``torch_threads`` is the intra-op thread count of each replica; 0 picks it from the CPUs
    (see :func:`resolve_torch_threads`). ``resources`` are custom Ray resources each replica
    needs (the Helm chart uses them to pin a deployment to a worker group, e.g.
    ``{interp_pool_gpu: 1}``). ``preload_models`` are loaded when a replica of a service that
    holds weights starts, after the fleet-wide ``preload_models``.
    """

    num_replicas: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    memory_bytes: int = 0
    max_ongoing_requests: int = 8
    autoscaling: dict[str, Any] | None = None
    torch_threads: int = 0
    resources: dict[str, float] | None = None
    preload_models: tuple[str, ...] = ()

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Deployment.options``."""
        actor: dict[str, Any] = {"num_cpus": self.num_cpus}
        if self.num_gpus:
            actor["num_gpus"] = self.num_gpus
        if self.memory_bytes:
            actor["memory"] = self.memory_bytes
        if self.resources:
            actor["resources"] = dict(self.resources)
        opts: dict[str, Any] = {"ray_actor_options": actor, "max_ongoing_requests": self.max_ongoing_requests}
        if self.autoscaling:
            opts["autoscaling_config"] = dict(self.autoscaling)
        else:
            opts["num_replicas"] = self.num_replicas
        return opts


def resolve_torch_threads(requested: int, num_cpus: float, node_cpus: int | None = None) -> int:
    """The torch intra-op thread count of a replica.

    Ray sets ``OMP_NUM_THREADS`` from a worker's CPU request, so a fractional request would leave
    torch on one thread, which measured 156 ms per SmolLM2 forward against 117 ms with both
    cores of a 2-core machine. Auto (``requested == 0``) therefore uses the whole request rounded
    up when the replica asked for at least one CPU (it owns those cores), and every core the
    process may run on when it asked for a fraction: a fractional request means "share this
    node", and torch's threads only keep cores busy while a forward pass runs.
    """
    if requested > 0:
        return requested
    cores = node_cpus or len(os.sched_getaffinity(0))
    if num_cpus >= 1:
        return max(1, min(cores, math.ceil(num_cpus)))
    return max(1, cores)


@dataclass(frozen=True)
class RaySettings:
    """How the local Ray instance is started by ``interp serve`` (ignored when joining a cluster).

    ``resources`` are custom resources of the local node, e.g. the worker-group resources of the
    Helm chart's Serve config (``{interp_pool_cpu: 1000, interp_pool_gateway: 1}``) so that a
    rendered config runs on one machine.
    """

    address: str | None = None
    num_cpus: int | None = None
    resources: dict[str, float] | None = None
    object_store_memory_bytes: int = 256 << 20
    temp_dir: str | None = None
    metrics_export_port: int | None = None


@dataclass(frozen=True)
class FleetSettings:
    """Everything the fleet reads at start-up.

    ``deployments`` holds the resolved settings of the gateway and of every registered service
    (defaults from the registry, overridden by the YAML); :meth:`deployment` reads one.
    """

    host: str = "127.0.0.1"
    port: int = 50051
    api_keys: dict[str, str] = field(default_factory=lambda: {DEV_API_KEY: "dev"})
    require_api_key: bool = True
    store_url: str = "~/.cache/interp-suite/store"
    store_ttl_s: float = 86400.0
    store_sweep_interval_s: float = 3600.0
    store_connect_timeout_s: float = 2.0
    store_read_timeout_s: float = 5.0
    store_retries: int = 2
    store_secure: bool = False
    store_region: str | None = None
    model_cache_dir: str = "~/.cache/interp-suite/models"
    max_models_per_replica: int = 2
    max_model_bytes: int = 0
    allow_hub: bool = True
    allowed_local_roots: tuple[str, ...] = ()
    preload_models: tuple[str, ...] = ()
    max_tokens: int = 512
    device: str = "auto"
    default_timeout_s: float = 120.0
    max_timeout_s: float = 900.0
    max_message_bytes: int = 64 << 20
    batching: bool = True
    batch_max_sequences: int = 32
    batch_max_tokens: int = 8192
    attribution_batch_size: int = 16
    limits: Limits = field(default_factory=Limits)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    deployments: dict[str, DeploymentSettings] = field(default_factory=dict)
    ray: RaySettings = field(default_factory=RaySettings)

    def deployment(self, name: str) -> DeploymentSettings:
        """The settings of one deployment (defaults when it was never resolved)."""
        return self.deployments.get(name) or DeploymentSettings()

    def preloads(self, name: str) -> tuple[str, ...]:
        """Models a replica of deployment ``name`` loads at start: the fleet-wide
        ``preload_models``, then the deployment's own, each once."""
        return tuple(dict.fromkeys((*self.preload_models, *self.deployment(name).preload_models)))

    def tenants(self) -> list[str]:
        """Every tenant the API keys name, plus the tenant of calls made without a key."""
        return sorted({*self.api_keys.values(), DEFAULT_TENANT})

    def store_credentials(self) -> dict[str, str]:
        """S3 credentials from the environment (empty for the local store)."""
        return {
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        }

    def store_options(self) -> dict[str, Any]:
        """``open_store`` options for ``store_url``: for S3 the credentials, TLS, region and the
        timeouts that make a hung store answer UNAVAILABLE within seconds (store/s3.py); none
        for a local store."""
        if not self.store_url.startswith("s3://"):
            return {}
        return {
            **self.store_credentials(),
            "secure": self.store_secure,
            "region": self.store_region,
            "connect_timeout_s": self.store_connect_timeout_s,
            "read_timeout_s": self.store_read_timeout_s,
            "retries": self.store_retries,
        }


_NESTED = {"limits": Limits, "delivery": DeliveryPolicy, "ray": RaySettings}
_GATEWAY_DEFAULTS = {"num_cpus": 0.1, "max_ongoing_requests": 64}


def _build(cls: type, data: Mapping[str, Any], where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown settings {sorted(unknown)}; known: {sorted(names)}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if cls is FleetSettings and key in _NESTED:
            if value is not None and not isinstance(value, Mapping):
                raise ValueError(f"{where}.{key}: expected a mapping, got {value!r}")
            value = _build(_NESTED[key], value or {}, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        _check_scalar(defaults[key], value, f"{where}.{key}")
        kwargs[key] = value
    return cls(**kwargs)


def _check_scalar(default: Any, value: Any, where: str) -> None:
    """A setting whose default is a number, string or flag takes a value of that kind (an int
    where a float is expected), so ``port: abc`` fails here rather than deep inside start-up."""
    kind = type(default)
    if kind not in (bool, int, float, str):
        return
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
        raise ValueError(f"{where}: expected {names[kind]}, got {value!r}")


def _deployments(data: Mapping[str, Any] | None, services: Sequence[ServiceSpec], where: str) -> dict[str, DeploymentSettings]:
    """Registry defaults per deployment, overridden field by field by the YAML entries."""
    defaults: dict[str, Mapping[str, Any]] = {GATEWAY: _GATEWAY_DEFAULTS, **{s.key: s.deployment for s in services}}
    data = dict(data or {})
    unknown = set(data) - set(defaults)
    if unknown:
        raise ValueError(f"{where}.deployments: unknown deployments {sorted(unknown)}; known: {sorted(defaults)}")
    out = {}
    for name, base in defaults.items():
        override = data.get(name) or {}
        if isinstance(override, DeploymentSettings):
            out[name] = override
            continue
        out[name] = _build(DeploymentSettings, {**base, **override}, f"{where}.deployments.{name}")
    holders = {s.key for s in services if s.holds_weights}
    for name, d in out.items():
        if d.preload_models and name not in holders:
            raise ValueError(
                f"{where}.deployments.{name}.preload_models: {name} holds no model weights "
                f"(services that do: {sorted(holders)})"
            )
    return out


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    data: Mapping[str, Any] | None = None,
    services: Sequence[ServiceSpec] | None = None,
) -> FleetSettings:
    """Read settings from an optional YAML file (or its already parsed ``data``) and the
    environment.

    Args:
        path: YAML file; ``INTERP_CONFIG`` when None and no ``data`` is given.
        env: the environment (``os.environ`` when None).
        data: the YAML's content, e.g. the ``settings`` argument of a Serve config
            (``serve.app.build_from_args``); exclusive with ``path``.
        services: the registered services whose deployment defaults apply (the registry's
            ``SERVICES`` when None).
    """
    env = dict(os.environ if env is None else env)
    if data is not None:
        if path is not None:
            raise ValueError("load_settings takes a path or data, not both")
        if not isinstance(data, Mapping):
            raise ValueError("settings: the top level must be a mapping")
        data = dict(data)
    else:
        path = path or env.get("INTERP_CONFIG")
        data = read_settings_file(path) if path else {}
    if "INTERP_HOST" in env:
        data["host"] = env["INTERP_HOST"]
    if "INTERP_PORT" in env:
        try:
            data["port"] = int(env["INTERP_PORT"])
        except ValueError:
            raise ValueError(f"INTERP_PORT: {env['INTERP_PORT']!r} is not a port number") from None
    if "INTERP_STORE_URL" in env:
        data["store_url"] = env["INTERP_STORE_URL"]
    if "INTERP_MODEL_CACHE" in env:
        data["model_cache_dir"] = env["INTERP_MODEL_CACHE"]
    if "INTERP_API_KEYS" in env:
        data["api_keys"] = parse_api_keys(env["INTERP_API_KEYS"])
    if "INTERP_RAY_RESOURCES" in env:
        data["ray"] = {**(data.get("ray") or {}), "resources": _parse_resources(env["INTERP_RAY_RESOURCES"])}
    return from_dict(data, services=services, where=str(path or "settings"))


def read_settings_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping a settings YAML holds (empty for an empty file).

    Raises:
        ValueError: the top level is not a mapping.
    """
    loaded = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    return loaded


def parse_api_keys(text: str) -> dict[str, str]:
    """``INTERP_API_KEYS``: ``key=tenant,key2=tenant2`` (spaces around entries ignored).

    Raises:
        ValueError: an entry that is not ``key=tenant`` with both parts, or no entry at all
            (a fleet without keys would refuse every call).
    """
    keys: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        key, sep, tenant = (part.strip() for part in entry.partition("="))
        if not sep or not key or not tenant:
            raise ValueError(f"INTERP_API_KEYS: entry {entry.split('=', 1)[0][:4]!r}... is not key=tenant")
        keys[key] = tenant
    if not keys:
        raise ValueError("INTERP_API_KEYS is set but names no key=tenant entry")
    return keys


def _parse_resources(text: str) -> dict[str, float]:
    """``INTERP_RAY_RESOURCES``: a JSON object of custom resource name -> amount."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in value.values()):
        raise ValueError(f"INTERP_RAY_RESOURCES: expected a JSON object of resource amounts, got {text[:80]!r}")
    return {str(k): float(v) for k, v in value.items()}


def to_dict(settings: FleetSettings) -> dict[str, Any]:
    """Plain-data form, as passed to the Ray Serve deployments."""
    return dataclasses.asdict(settings)


def from_dict(
    data: Mapping[str, Any], *, services: Sequence[ServiceSpec] | None = None, where: str = "settings"
) -> FleetSettings:
    """Build settings from plain data (YAML, or :func:`to_dict`'s output)."""
    if services is None:
        from interp_services.registry import SERVICES  # the registry imports servicers; load late

        services = SERVICES
    data = dict(data)
    deployments = _deployments(data.pop("deployments", None), services, where)
    return dataclasses.replace(_build(FleetSettings, data, where), deployments=deployments)
