"""Build a Telemetry pipeline from the program's settings."""

from __future__ import annotations

import math
from typing import Mapping, Protocol, Sequence, TextIO

from otel_dify import catalog
from otel_dify.snapshot import SnapshotHolder
from otel_dify.telemetry.exporters import build_exporter
from otel_dify.telemetry.pipeline import Telemetry
from otel_dify.telemetry.resource import build_resource


class TelemetrySettings(Protocol):
    """The settings fields that the telemetry pipeline reads."""

    base_url: object
    metrics_enabled: Sequence[str]
    metrics_disabled: Sequence[str]


def create_telemetry(
    settings: TelemetrySettings,
    snapshot_holder: SnapshotHolder,
    *,
    console: bool = False,
    console_stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    """Create the pipeline for the enabled catalog metrics.

    With ``console=True`` (``otel-dify once --console``) the metrics go to
    ``console_stream`` and there is no background export: the caller calls
    ``force_flush`` after its poll. Otherwise the OTLP exporter of
    :func:`build_exporter` exports every ``OTEL_METRIC_EXPORT_INTERVAL``
    milliseconds (60 s by default). Raises ConfigError for an unsupported
    OTLP protocol, KeyError or ValueError for metric names that the
    configuration should have rejected already.
    """
    metrics = catalog.enabled_metrics(settings.metrics_enabled, settings.metrics_disabled)
    exporter = build_exporter(environ, console=console, console_stream=console_stream)
    return Telemetry(
        metrics,
        snapshot_holder,
        exporter,
        resource=build_resource(str(settings.base_url)),
        export_interval_s=math.inf if console else None,
    )
