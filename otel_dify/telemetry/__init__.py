"""The OpenTelemetry side of otel-dify: resource, exporter and metric instruments.

The poll loop fills a :class:`~otel_dify.snapshot.SnapshotHolder`;
:class:`Telemetry` turns its points into observable instruments and exports
them over OTLP (gRPC or HTTP/protobuf) or to the console.
"""

from otel_dify.telemetry.console import ConsoleLineExporter
from otel_dify.telemetry.exporters import (
    DEFAULT_PROTOCOL,
    PROTOCOL_GRPC,
    PROTOCOL_HTTP_PROTOBUF,
    build_exporter,
    resolve_protocol,
)
from otel_dify.telemetry.factory import TelemetrySettings, create_telemetry
from otel_dify.telemetry.pipeline import POLL_DURATION_METRIC, Telemetry
from otel_dify.telemetry.resource import DEFAULT_SERVICE_NAME, build_resource

__all__ = [
    "ConsoleLineExporter",
    "DEFAULT_PROTOCOL",
    "DEFAULT_SERVICE_NAME",
    "POLL_DURATION_METRIC",
    "PROTOCOL_GRPC",
    "PROTOCOL_HTTP_PROTOBUF",
    "Telemetry",
    "TelemetrySettings",
    "build_exporter",
    "build_resource",
    "create_telemetry",
    "resolve_protocol",
]
