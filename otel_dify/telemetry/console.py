"""A metric exporter that prints one text line per data point, for dry runs."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.util.types import Attributes

logger = logging.getLogger(__name__)


class ConsoleLineExporter(MetricExporter):
    """Write every data point as one line, for ``otel-dify once --console``.

    A number point prints as ``name{key="value",...} value unit``; a histogram
    point prints its count and sum instead of the value. The SDK's
    ConsoleMetricExporter prints the whole export as nested JSON, which is
    hard to read for a quick check of what a poll produced.

    Uses cumulative temporality for every instrument, like the OTLP
    exporters by default. ``export`` returns FAILURE when writing to the
    stream fails, and never raises.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream if stream is not None else sys.stdout

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        lines = list(_format_lines(metrics_data))
        try:
            self._stream.write("".join(line + "\n" for line in lines))
            self._stream.flush()
        except (OSError, ValueError) as error:
            # ValueError is what a closed stream raises.
            logger.warning("writing metrics to the console failed", extra={"error_type": type(error).__name__})
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        # The stream belongs to the caller, so it stays open.
        return None


def _format_lines(metrics_data: MetricsData):
    for resource_metrics in metrics_data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    yield f"{metric.name}{_format_attributes(point.attributes)} {_format_value(point)} {metric.unit}".rstrip()


def _format_attributes(attributes: Attributes) -> str:
    if not attributes:
        return ""
    pairs = ",".join(f"{key}={_quote(value)}" for key, value in attributes.items())
    return "{" + pairs + "}"


def _quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _format_value(point: NumberDataPoint | HistogramDataPoint | object) -> str:
    if isinstance(point, NumberDataPoint):
        return repr(point.value)
    if isinstance(point, HistogramDataPoint):
        return f"count={point.count} sum={point.sum!r}"
    # Exponential histograms have count and sum too; anything else prints as is.
    count = getattr(point, "count", None)
    total = getattr(point, "sum", None)
    if count is not None and total is not None:
        return f"count={count} sum={total!r}"
    return repr(point)
