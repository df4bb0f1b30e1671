"""The OpenTelemetry side of otel-dify: resource, exporter and metric instruments.

The poll loop fills a :class:`~otel_dify.snapshot.SnapshotHolder`;
:class:`Telemetry` turns its points into observable instruments and exports
them over OTLP (gRPC or HTTP/protobuf) or to the console.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from otel_dify.telemetry.console import ConsoleLineExporter

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


def __getattr__(name: str) -> Any:
    # The console exporter serves only ``otel-dify once --console``, so
    # ``otel-dify run`` does not import its module.
    if name == "ConsoleLineExporter":
        from otel_dify.telemetry.console import ConsoleLineExporter

        return ConsoleLineExporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
