"""The application builder: one Serve application, the gateway as its ingress."""

from __future__ import annotations

from ray.serve import Application

from interp_services.serve.deployments import AttentionDeployment, GatewayDeployment, ModelHostDeployment
from interp_services.serve.settings import FleetSettings, to_dict

APP_NAME = "interp"


def build_app(settings: FleetSettings) -> Application:
    """Bind the three deployments with their replica/resource options from ``settings``."""
    data = to_dict(settings)
    model_host = ModelHostDeployment.options(**settings.model_host.serve_options()).bind(data)
    attention = AttentionDeployment.options(**settings.attention.serve_options()).bind(data, model_host)
    return GatewayDeployment.options(**settings.gateway.serve_options()).bind(data, model_host, attention)
