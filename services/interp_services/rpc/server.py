"""A plain (non-Ray) gRPC server for any servicers: tests, and single-process use.

Servicers are registered from their service descriptors (``rpc.host.generic_handler``), so a
new service needs no code here; health and reflection list every service served.

Example:
    >>> server, port = create_server("127.0.0.1:0", [(descriptor, servicer)])
    >>> server.stop(None)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from interp_services.rpc.host import generic_handler


def create_server(
    address: str,
    servicers: Sequence[tuple[ServiceDescriptor, Any]],
    *,
    max_workers: int = 64,
    max_message_bytes: int = 64 << 20,
) -> tuple[grpc.Server, int]:
    """Start a server with the given ``(descriptor, servicer)`` pairs on ``address``.

    ``host:0`` picks a free port; returns ``(server, bound port)``.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for descriptor, servicer in servicers:
        server.add_generic_rpc_handlers((generic_handler(servicer, descriptor),))
        health_servicer.set(descriptor.full_name, health_pb2.HealthCheckResponse.SERVING)
        names.append(descriptor.full_name)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {address}")
    server.start()
    return server, port
