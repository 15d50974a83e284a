"""The application builder: one Serve application, the gateway as its ingress, one deployment
per registered service (``interp_services.registry``), bound in dependency order."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from interp_services.registry import in_dependency_order
from interp_services.serve.deployments import GatewayDeployment, ServiceDeployment
from interp_services.settings import GATEWAY, FleetSettings, to_dict

APP_NAME = "interp"


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
