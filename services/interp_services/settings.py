"""One frozen settings object per process, read once at start-up from YAML and environment.

Precedence: built-in defaults < YAML file (``--config`` or ``INTERP_CONFIG``) < environment
(``INTERP_PORT``, ``INTERP_HOST``, ``INTERP_STORE_URL``, ``INTERP_API_KEYS`` as
``key=tenant,key2=tenant2``, ``INTERP_MODEL_CACHE``). Store credentials come only from the
environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``) or a Kubernetes Secret mounted as
those variables, never from the YAML.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interp_services.rpc.codec import DeliveryPolicy
from interp_services.rpc.context import Limits
from interp_services.rpc.gateway import DEV_API_KEY


@dataclass(frozen=True)
class DeploymentSettings:
    """Replicas and resources of one Ray Serve deployment.

    ``autoscaling`` (a Ray Serve ``autoscaling_config`` mapping, e.g. ``{min_replicas: 1,
    max_replicas: 4, target_ongoing_requests: 2}``) replaces ``num_replicas`` when set.
    """

    num_replicas: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    memory_bytes: int = 0
    max_ongoing_requests: int = 8
    autoscaling: dict[str, Any] | None = None

    def serve_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Deployment.options``."""
        actor: dict[str, Any] = {"num_cpus": self.num_cpus}
        if self.num_gpus:
            actor["num_gpus"] = self.num_gpus
        if self.memory_bytes:
            actor["memory"] = self.memory_bytes
        opts: dict[str, Any] = {"ray_actor_options": actor, "max_ongoing_requests": self.max_ongoing_requests}
        if self.autoscaling:
            opts["autoscaling_config"] = dict(self.autoscaling)
        else:
            opts["num_replicas"] = self.num_replicas
        return opts


@dataclass(frozen=True)
class RaySettings:
    """How the local Ray instance is started by ``interp serve`` (ignored when joining a cluster)."""

    address: str | None = None
    num_cpus: int | None = None
    object_store_memory_bytes: int = 256 << 20
    temp_dir: str | None = None
    metrics_export_port: int | None = None


@dataclass(frozen=True)
class FleetSettings:
    """Everything the fleet reads at start-up."""

    host: str = "127.0.0.1"
    port: int = 50051
    api_keys: dict[str, str] = field(default_factory=lambda: {DEV_API_KEY: "dev"})
    require_api_key: bool = True
    store_url: str = "~/.cache/interp-suite/store"
    model_cache_dir: str = "~/.cache/interp-suite/models"
    max_models_per_replica: int = 2
    max_model_bytes: int = 0
    allow_hub: bool = True
    allowed_local_roots: tuple[str, ...] = ()
    preload_models: tuple[str, ...] = ()
    max_tokens: int = 512
    device: str = "auto"
    torch_threads: int = 0
    default_timeout_s: float = 120.0
    max_timeout_s: float = 900.0
    max_message_bytes: int = 64 << 20
    limits: Limits = field(default_factory=Limits)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    gateway: DeploymentSettings = field(default_factory=lambda: DeploymentSettings(num_cpus=0.1, max_ongoing_requests=64))
    model_host: DeploymentSettings = field(default_factory=lambda: DeploymentSettings(num_cpus=0.5, max_ongoing_requests=8))
    attention: DeploymentSettings = field(default_factory=lambda: DeploymentSettings(num_cpus=0.25, max_ongoing_requests=8))
    ray: RaySettings = field(default_factory=RaySettings)

    def store_credentials(self) -> dict[str, str]:
        """S3 credentials from the environment (empty for the local store)."""
        return {
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        }


_NESTED = {
    "limits": Limits,
    "delivery": DeliveryPolicy,
    "gateway": DeploymentSettings,
    "model_host": DeploymentSettings,
    "attention": DeploymentSettings,
    "ray": RaySettings,
}


def _build(cls: type, data: dict[str, Any], where: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown settings {sorted(unknown)}; known: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        if cls is FleetSettings and key in _NESTED:
            value = _build(_NESTED[key], value or {}, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> FleetSettings:
    """Read settings from an optional YAML file and the environment."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("INTERP_CONFIG")
    data: dict[str, Any] = {}
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the top level must be a mapping")
        data = loaded
    if "INTERP_HOST" in env:
        data["host"] = env["INTERP_HOST"]
    if "INTERP_PORT" in env:
        data["port"] = int(env["INTERP_PORT"])
    if "INTERP_STORE_URL" in env:
        data["store_url"] = env["INTERP_STORE_URL"]
    if "INTERP_MODEL_CACHE" in env:
        data["model_cache_dir"] = env["INTERP_MODEL_CACHE"]
    if "INTERP_API_KEYS" in env:
        pairs = [p.split("=", 1) for p in env["INTERP_API_KEYS"].split(",") if p.strip()]
        data["api_keys"] = {k.strip(): v.strip() for k, v in pairs}
    return _build(FleetSettings, data, str(path or "settings"))


def to_dict(settings: FleetSettings) -> dict[str, Any]:
    """Plain-data form, as passed to the Ray Serve deployments."""
    return dataclasses.asdict(settings)


def from_dict(data: dict[str, Any]) -> FleetSettings:
    """Inverse of ``to_dict``."""
    return _build(FleetSettings, data, "settings")
