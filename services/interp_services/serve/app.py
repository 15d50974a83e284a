"""The Serve application: one builder that every way of running the fleet goes through.

Ray Serve calls :func:`build_from_args` with the ``args`` of the fleet's Serve config
(``serve.config``); it reads the settings with the project's loader (environment overrides
included, so API keys and store credentials come from a Kubernetes Secret) and binds the gateway
as the ingress plus one deployment per registered service (``interp_services.registry``), in
dependency order.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from interp_services.registry import in_dependency_order
from interp_services.serve.config import settings_from_args
from interp_services.serve.deployments import GatewayDeployment, ServiceDeployment
from interp_services.settings import GATEWAY, FleetSettings, to_dict


def build_app(settings: FleetSettings) -> Application:
    """Bind every service's deployment with its options from ``settings.deployments``."""
    data = to_dict(settings)
    bound: dict[str, Any] = {}
    public: dict[str, Any] = {}
    for spec in in_dependency_order():
        peers = {callee: bound[callee] for callee in spec.calls}
        options = settings.deployment(spec.key).serve_options()
        bound[spec.key] = ServiceDeployment.options(name=spec.key, **options).bind(spec.key, data, peers)
        if spec.public:
            public[spec.key] = bound[spec.key]
    return GatewayDeployment.options(**settings.deployment(GATEWAY).serve_options()).bind(data, public)


def build_from_args(args: dict[str, Any]) -> Application:
    """Ray Serve application builder (``import_path`` of the Serve config)."""
    return build_app(settings_from_args(args))
