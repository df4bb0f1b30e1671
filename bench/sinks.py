"""OTLP metrics receivers on 127.0.0.1 that count export requests and return success.

Both sinks run on their own threads, so the orchestrator can wait for them
without an event loop, and record the monotonic time of every request, which
the start-up measurement compares with the exporter's start.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent import futures
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

#: Path of the OTLP/HTTP metrics endpoint.
HTTP_METRICS_PATH = "/v1/metrics"


class _Arrivals:
    """Thread-safe count and times of arriving export requests."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._times: list[float] = []

    def record(self) -> None:
        with self._condition:
            self._times.append(time.monotonic())
            self._condition.notify_all()

    @property
    def count(self) -> int:
        with self._condition:
            return len(self._times)

    def wait_for_count(self, count: int, timeout_s: float) -> float | None:
        """Wait until ``count`` requests have arrived; return the monotonic time of that request, or None on timeout."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._times) >= count, timeout=timeout_s):
                return None
            return self._times[count - 1]


class HttpSink:
    """An OTLP/HTTP receiver: ``POST /v1/metrics`` returns 200 with an empty protobuf response.

    The body is read but not decoded, because the benchmark measures the
    exporter and not the receiver.
    """

    protocol = "http/protobuf"

    def __init__(self) -> None:
        self.arrivals = _Arrivals()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def endpoint(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``; the exporter appends ``/v1/metrics``."""
        if self._port is None:
            raise RuntimeError("HTTP sink is not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        """Serve on a free loopback port on a thread of its own; return when it listens."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="http-sink", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10.0) or self._port is None:
            raise RuntimeError("HTTP sink did not start within 10 s")

    def stop(self) -> None:
        """Stop the server and its thread; a second call does nothing."""
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10.0)
        self._loop.close()
        self._loop = None
        self._thread = None

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start_site())
        ready.set()
        self._loop.run_forever()

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(HTTP_METRICS_PATH, self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _export(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.record()
        empty = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        return web.Response(body=empty, content_type="application/x-protobuf")


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, arrivals: _Arrivals) -> None:
        self._arrivals = arrivals

    def Export(self, request: Any, context: Any) -> metrics_service_pb2.ExportMetricsServiceResponse:  # noqa: N802 - name fixed by the gRPC service
        self._arrivals.record()
        return metrics_service_pb2.ExportMetricsServiceResponse()


class GrpcSink:
    """An OTLP/gRPC receiver whose ``Export`` returns an empty success response."""

    protocol = "grpc"

    def __init__(self) -> None:
        self.arrivals = _Arrivals()
        self._server: grpc.Server | None = None
        self._port: int | None = None

    @property
    def endpoint(self) -> str:
        """URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``, such as ``http://127.0.0.1:40123``."""
        if self._port is None:
            raise RuntimeError("gRPC sink is not started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        """Serve on a free loopback port; raise OSError when no port could be bound."""
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2),
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self.arrivals), server)
        port = server.add_insecure_port("127.0.0.1:0")
        if port == 0:
            raise OSError("gRPC sink could not bind a port on 127.0.0.1")
        server.start()
        self._server = server
        self._port = port

    def stop(self) -> None:
        """Stop the server; a second call does nothing."""
        if self._server is None:
            return
        self._server.stop(0.5).wait()
        self._server = None


Sink = HttpSink | GrpcSink


def make_sink(protocol: str) -> Sink:
    """Return an unstarted sink for ``grpc`` or ``http/protobuf``; raise ValueError for anything else."""
    if protocol == HttpSink.protocol:
        return HttpSink()
    if protocol == GrpcSink.protocol:
        return GrpcSink()
    raise ValueError(f"unknown OTLP protocol {protocol!r} (expected grpc or http/protobuf)")
