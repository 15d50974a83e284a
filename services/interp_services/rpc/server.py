"""A plain (non-Ray) gRPC server for the internal servicers: tests, and single-process use.

Example:
    >>> server, port = create_server("127.0.0.1:0", model_host=servicer)
    >>> server.stop(None)
"""

from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from interp.v1 import attention_service_pb2_grpc, model_host_service_pb2_grpc
from interp_services.rpc.attention import AttentionServicer
from interp_services.rpc.model_host import ModelHostServicer


def create_server(
    address: str,
    *,
    model_host: ModelHostServicer | None = None,
    attention: AttentionServicer | None = None,
    max_workers: int = 8,
    max_message_bytes: int = 64 << 20,
) -> tuple[grpc.Server, int]:
    """Start a server with the given servicers on ``address`` (``host:0`` picks a free port)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if model_host is not None:
        model_host_service_pb2_grpc.add_ModelHostServiceServicer_to_server(model_host, server)
        health_servicer.set("interp.v1.ModelHostService", health_pb2.HealthCheckResponse.SERVING)
    if attention is not None:
        attention_service_pb2_grpc.add_AttentionServiceServicer_to_server(attention, server)
        health_servicer.set("interp.v1.AttentionService", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    server.start()
    return server, port
