"""The fleet's Serve config: the one structure every way of running the fleet deploys.

``interp serve`` (this machine) and the Helm chart's ``RayService`` (Kubernetes) both deploy a
Serve config (Ray's ``ServeDeploySchema``) with one application whose ``import_path`` is
:data:`IMPORT_PATH` (``serve.app.build_from_args``) and whose ``args`` are
``{"settings": <the settings YAML of deploy/settings.example.yaml>}``. This module imports
neither Ray Serve nor torch, so a launcher can read and check its settings first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from interp_services.settings import FleetSettings, load_settings

APP_NAME = "interp"
IMPORT_PATH = "interp_services.serve.app:build_from_args"
"""The Serve application builder named in every Serve config of the fleet."""


def serve_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The Serve config (Ray's ``ServeDeploySchema``) that runs the fleet with these settings.

    The gateway serves gRPC itself, so Serve's HTTP proxy is disabled and the application has
    no route prefix. The Helm chart renders this same structure into its ``RayService``.
    """
    return {
        "proxy_location": "Disabled",
        "applications": [
            {"name": APP_NAME, "import_path": IMPORT_PATH, "route_prefix": None, "args": {"settings": dict(settings)}}
        ],
    }


def settings_from_args(args: Mapping[str, Any], env: Mapping[str, str] | None = None) -> FleetSettings:
    """The fleet settings a Serve config's ``args`` describe (``{"settings": {...}}``), with the
    environment's overrides (``settings.load_settings``)."""
    unknown = set(args) - {"settings"}
    if unknown:
        raise ValueError(f"the fleet's Serve application takes only a 'settings' argument, got {sorted(unknown)}")
    return load_settings(data=args.get("settings") or {}, env=os.environ if env is None else env)


def read_serve_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A Serve config file (Ray's ``ServeDeploySchema``) that runs this fleet: one application
    whose builder is ``serve.app.IMPORT_PATH``."""
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load(Path(path).read_text())
    ServeDeploySchema.model_validate(config)  # Ray's own check of the structure
    apps = config["applications"]
    if len(apps) != 1 or apps[0]["import_path"] != IMPORT_PATH:
        raise ValueError(f"{path}: expected one application with import_path {IMPORT_PATH!r}")
    return config
