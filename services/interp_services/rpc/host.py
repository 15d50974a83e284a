"""What every service shares at the transport boundary, derived from its protobuf descriptor.

- :func:`method_table` -- the methods of a service with their request/response classes and
  streaming flag, straight from the ``ServiceDescriptor`` (no per-service code).
- :class:`Reply` -- one answer as bytes: OK with a body, or a status with its rich-status
  trailer. Messages travel between processes as bytes, never as pickled protobuf objects.
- :class:`ServicerHost` -- runs a (synchronous) servicer's methods from serialized requests and
  returns Replies; the Ray Serve deployment and the in-process gateway backend both use it, so a
  servicer runs the same code in a plain gRPC server, in one process, and under Ray.
- :func:`generic_handler` -- a ``grpc.GenericRpcHandler`` serving a servicer object for any
  descriptor (the plain gRPC server uses it instead of the generated ``add_*_to_server``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from interp_services.core.errors import InterpError, InvalidArgument
from interp_services.core.reasons import Reason
from interp_services.core.threads import adopt_torch_threads
from interp_services.rpc.context import TENANT_KEY, RecordingContext
from interp_services.rpc.errors import error_from_status, grpc_code, status_for_exception


@dataclass(frozen=True)
class Method:
    """One RPC of a service."""

    name: str
    path: str
    request_type: type[Message]
    response_type: type[Message]
    server_streaming: bool


def method_table(descriptor: ServiceDescriptor) -> dict[str, Method]:
    """The methods of a service, keyed by name (client streaming is not supported)."""
    out = {}
    for m in descriptor.methods:
        if m.client_streaming:
            raise ValueError(f"{descriptor.full_name}.{m.name}: client streaming is not supported")
        out[m.name] = Method(
            name=m.name,
            path=f"/{descriptor.full_name}/{m.name}",
            request_type=message_factory.GetMessageClass(m.input_type),
            response_type=message_factory.GetMessageClass(m.output_type),
            server_streaming=m.server_streaming,
        )
    return out


@dataclass(frozen=True)
class Reply:
    """A service's answer: OK with a body, or a code with details and the rich-status trailer."""

    code: grpc.StatusCode
    details: str = ""
    status: bytes | None = None
    body: bytes | None = None

    @staticmethod
    def ok(body: bytes) -> Reply:
        return Reply(grpc.StatusCode.OK, body=body)

    @staticmethod
    def failure(exc: BaseException) -> Reply:
        """The Reply for an exception: rich status for core errors, generic INTERNAL otherwise."""
        st = status_for_exception(exc)
        return Reply(grpc_code(st), st.message, st.SerializeToString())

    @staticmethod
    def from_context(ctx: RecordingContext) -> Reply:
        return Reply(ctx.code, ctx.details, ctx.status_trailer())

    def error(self) -> InterpError:
        """The core error a non-OK reply stands for (its reason and violations kept)."""
        status = status_pb2.Status.FromString(self.status) if self.status else status_pb2.Status(code=self.code.value[0], message=self.details)
        return error_from_status(status)


class ServicerHost:
    """Runs a synchronous servicer's methods from serialized requests, in worker threads.

    The threads are its own (``max_workers``), not asyncio's default pool of ``cpus + 4``: a
    replica that merges concurrent requests into one forward pass needs them all in flight.
    """

    def __init__(self, servicer: Any, descriptor: ServiceDescriptor, max_workers: int = 64) -> None:
        self.servicer = servicer
        self.descriptor = descriptor
        self.methods = method_table(descriptor)
        # Each worker adopts the replica's torch thread count (see core.threads: without it,
        # a Ray replica's worker threads run torch on one thread whatever the settings say).
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix=f"{descriptor.name}-worker", initializer=adopt_torch_threads
        )

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _parse(self, method: str, request: bytes) -> Any:
        m = self.methods.get(method)
        if m is None or not hasattr(self.servicer, method):
            raise InvalidArgument(Reason.METHOD_UNKNOWN, f"{self.descriptor.full_name} has no method {method!r}")
        try:
            return m.request_type.FromString(request)
        except DecodeError:
            raise InvalidArgument(Reason.REQUEST_MALFORMED, "the request bytes are not a valid message") from None

    async def unary(self, method: str, request: bytes, tenant: str) -> Reply:
        """One unary call; never raises."""
        try:
            req = self._parse(method, request)
        except InvalidArgument as exc:
            return Reply.failure(exc)
        ctx = RecordingContext(((TENANT_KEY, tenant),))
        try:
            resp = await self._in_thread(getattr(self.servicer, method), req, ctx)
        except asyncio.CancelledError:
            ctx.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - servicers are decorated; this is a last resort
            return Reply.failure(exc)
        if ctx.code != grpc.StatusCode.OK:
            return Reply.from_context(ctx)
        return Reply.ok(resp.SerializeToString())

    async def stream(self, method: str, request: bytes, tenant: str) -> AsyncIterator[Reply]:
        """One server-streaming call: OK replies, then at most one non-OK reply."""
        try:
            req = self._parse(method, request)
        except InvalidArgument as exc:
            yield Reply.failure(exc)
            return
        ctx = RecordingContext(((TENANT_KEY, tenant),))
        gen = getattr(self.servicer, method)(req, ctx)
        done = object()
        try:
            while True:
                item = await self._in_thread(next, gen, done)
                if item is done:
                    break
                yield Reply.ok(item.SerializeToString())
        except asyncio.CancelledError:
            ctx.cancel()  # the servicer sees is_active() == False and stops
            raise
        except Exception as exc:  # noqa: BLE001
            yield Reply.failure(exc)
            return
        if ctx.code != grpc.StatusCode.OK:
            yield Reply.from_context(ctx)


def generic_handler(servicer: Any, descriptor: ServiceDescriptor) -> grpc.GenericRpcHandler:
    """A handler that serves ``servicer`` (methods named as in the descriptor) on a gRPC server."""
    handlers = {}
    for m in method_table(descriptor).values():
        make = grpc.unary_stream_rpc_method_handler if m.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[m.name] = make(
            getattr(servicer, m.name),
            request_deserializer=m.request_type.FromString,
            response_serializer=m.response_type.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)
