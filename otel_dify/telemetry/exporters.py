"""Choose the metric exporter: OTLP over gRPC or HTTP/protobuf, or the console."""

from __future__ import annotations

import logging
import os
from typing import Mapping, TextIO

from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
)
from opentelemetry.sdk.metrics.export import MetricExporter

from otel_dify.config import ConfigError, Problem

logger = logging.getLogger(__name__)

PROTOCOL_GRPC = "grpc"
PROTOCOL_HTTP_PROTOBUF = "http/protobuf"
SUPPORTED_PROTOCOLS: tuple[str, ...] = (PROTOCOL_GRPC, PROTOCOL_HTTP_PROTOBUF)

# The OTLP exporter specification makes http/protobuf the default. The
# Python SDK's own auto-configuration falls back to gRPC instead; this
# program follows the specification, like the other language SDKs.
DEFAULT_PROTOCOL = PROTOCOL_HTTP_PROTOBUF

# Checked first: a signal-specific variable overrides the generic one.
PROTOCOL_VARIABLES: tuple[str, ...] = (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL)


def resolve_protocol(environ: Mapping[str, str] | None = None) -> str:
    """Return the OTLP protocol for metrics: ``grpc`` or ``http/protobuf``.

    Reads ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``, then
    ``OTEL_EXPORTER_OTLP_PROTOCOL``; an unset or empty variable counts as
    unset, and the default is ``http/protobuf``. Values are compared without
    case and surrounding spaces. Raises ConfigError listing every variable
    that is set to something else (``http/json`` included, because the Python
    SDK ships no OTLP/JSON exporter), even when the other variable is valid,
    so that a typo never goes unnoticed.
    """
    environ = os.environ if environ is None else environ

    chosen: list[str] = []
    problems: list[Problem] = []
    for variable in PROTOCOL_VARIABLES:
        raw = environ.get(variable, "").strip()
        if not raw:
            continue

        protocol = raw.lower()
        if protocol in SUPPORTED_PROTOCOLS:
            chosen.append(protocol)
        else:
            problems.append(
                Problem(variable, f"unsupported OTLP protocol {raw!r} (expected grpc or http/protobuf)")
            )

    if problems:
        raise ConfigError(problems)
    return chosen[0] if chosen else DEFAULT_PROTOCOL


def build_exporter(
    environ: Mapping[str, str] | None = None,
    *,
    console: bool = False,
    console_stream: TextIO | None = None,
) -> MetricExporter:
    """Create the metric exporter.

    With ``console=True``, returns a :class:`ConsoleLineExporter` writing to
    ``console_stream`` (stdout by default) and reads no variable. Otherwise
    returns the SDK's OTLP metric exporter for the protocol that
    :func:`resolve_protocol` picks from ``environ`` (``os.environ`` by
    default), and raises ConfigError for an unsupported protocol.

    Only the protocol comes from ``environ``. The SDK exporter reads the
    endpoint, headers, timeout (in seconds in the Python SDK, although the
    specification specifies milliseconds), compression, certificates and the
    temporality preference ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``
    from ``os.environ`` itself when it is created.
    """
    if console:
        from otel_dify.telemetry.console import ConsoleLineExporter

        return ConsoleLineExporter(console_stream)

    protocol = resolve_protocol(environ)
    logger.info("OTLP metric exporter selected", extra={"otlp_protocol": protocol})

    # Imported here so that a process using one transport does not load the
    # other: the gRPC exporter pulls in grpcio, the HTTP one its HTTP client.
    if protocol == PROTOCOL_GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter()

    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter()
