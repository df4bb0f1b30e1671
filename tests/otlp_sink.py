"""An OTLP/gRPC metrics receiver for end-to-end tests: it records every export request.

Start it on a free loopback port, point an exporter or a collector at
:attr:`OtlpSink.endpoint`, then read what arrived with :meth:`OtlpSink.points`
and friends. :meth:`OtlpSink.wait_for` blocks until a condition holds,
woken by each arriving request instead of polling with sleeps.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Callable, Iterator

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, Metric, NumberDataPoint

AttributeDict = dict[str, object]


class _Servicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: "OtlpSink") -> None:
        self._sink = sink

    def Export(self, request, context):  # noqa: N802 - name fixed by the gRPC service definition
        self._sink._record(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class OtlpSink:
    """An in-process OTLP/gRPC metrics receiver on 127.0.0.1.

    ``port`` 0 (the default) binds a free port. Thread-safe: the gRPC server
    records on its own threads while tests read.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: grpc.Server | None = None
        self._condition = threading.Condition()
        self._requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []

    def __enter__(self) -> "OtlpSink":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("OTLP sink is not started")
        return self._port

    @property
    def endpoint(self) -> str:
        """The gRPC endpoint URL, for example ``http://127.0.0.1:40123``."""
        return f"http://{self._host}:{self.port}"

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Servicer(self), server)
        port = server.add_insecure_port(f"{self._host}:{self._requested_port}")
        if port == 0:
            raise OSError(f"OTLP sink could not bind {self._host}:{self._requested_port}")
        server.start()
        self._server = server
        self._port = port

    def stop(self, grace_s: float = 0.5) -> None:
        """Stop the server; a second call does nothing."""
        if self._server is None:
            return
        self._server.stop(grace_s).wait()
        self._server = None

    def _record(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        with self._condition:
            self._requests.append(request)
            self._condition.notify_all()

    @property
    def requests(self) -> list[metrics_service_pb2.ExportMetricsServiceRequest]:
        """Every export request received so far, oldest first."""
        with self._condition:
            return list(self._requests)

    def clear(self) -> None:
        """Forget every request received so far."""
        with self._condition:
            self._requests.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Block until ``predicate()`` is true or ``timeout_s`` passes; return its last value.

        The predicate runs at once and again after every arriving request.
        """
        with self._condition:
            return self._condition.wait_for(predicate, timeout=timeout_s)

    def metrics(self, metric_name: str) -> list[Metric]:
        """Every received Metric message named ``metric_name``, oldest first."""
        return [metric for _, metric in self._iter_metrics() if metric.name == metric_name]

    def metric_names(self) -> set[str]:
        """Names of all metrics received so far."""
        return {metric.name for _, metric in self._iter_metrics()}

    def points(self, metric_name: str) -> list[tuple[AttributeDict, float | int]]:
        """The latest value per attribute set of a sum or gauge metric, sorted by attributes.

        Integer points return int and double points float, so a test can
        tell them apart. "Latest" means the highest ``time_unix_nano``, then
        the later arrival.
        """
        latest = self._latest_points(metric_name, ("sum", "gauge"))
        return [(attributes, _number_value(point)) for attributes, point in latest]

    def histogram_points(self, metric_name: str) -> list[tuple[AttributeDict, HistogramDataPoint]]:
        """The latest point per attribute set of a histogram metric, sorted by attributes."""
        return self._latest_points(metric_name, ("histogram",))

    def resource_attributes(self) -> AttributeDict:
        """Attributes of the resource in the latest request; empty before any request."""
        requests = self.requests
        if not requests or not requests[-1].resource_metrics:
            return {}
        return decode_attributes(requests[-1].resource_metrics[0].resource.attributes)

    def _iter_metrics(self) -> Iterator[tuple[int, Metric]]:
        for index, request in enumerate(self.requests):
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        yield index, metric

    def _latest_points(self, metric_name: str, kinds: tuple[str, ...]) -> list[tuple[AttributeDict, object]]:
        latest: dict[tuple, tuple[tuple[int, int], AttributeDict, object]] = {}
        for index, metric in self._iter_metrics():
            kind = metric.WhichOneof("data")
            if metric.name != metric_name or kind not in kinds:
                continue
            for point in getattr(metric, kind).data_points:
                attributes = decode_attributes(point.attributes)
                key = tuple(sorted((name, repr(value)) for name, value in attributes.items()))
                order = (point.time_unix_nano, index)
                if key not in latest or order >= latest[key][0]:
                    latest[key] = (order, attributes, point)
        return [(attributes, point) for _, (_, attributes, point) in sorted(latest.items())]


def decode_attributes(attributes: list[KeyValue]) -> AttributeDict:
    """Convert OTLP key-values to a plain dict."""
    return {attribute.key: decode_value(attribute.value) for attribute in attributes}


def decode_value(value: AnyValue) -> object:
    """Convert one OTLP AnyValue to the matching Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _number_value(point: NumberDataPoint) -> float | int:
    if point.WhichOneof("value") == "as_int":
        return point.as_int
    return point.as_double
