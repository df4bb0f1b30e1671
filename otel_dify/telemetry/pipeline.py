"""The OpenTelemetry metrics pipeline: one instrument per enabled catalog metric."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Callable, Iterable, Mapping, Sequence

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation
from opentelemetry.sdk.environment_variables import OTEL_METRIC_EXPORT_INTERVAL
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import Attributes

from otel_dify import __version__, catalog
from otel_dify.catalog import MetricSpec
from otel_dify.runtime.memory import release_free_memory
from otel_dify.snapshot import SnapshotHolder
from otel_dify.telemetry.resource import build_resource

logger = logging.getLogger(__name__)

METER_NAME = "otel_dify"

# Default of OTEL_METRIC_EXPORT_INTERVAL in the OpenTelemetry specification.
DEFAULT_EXPORT_INTERVAL_S = 60.0

POLL_DURATION_METRIC = catalog.get("dify.exporter.poll.duration").name

# Time always left for stopping the reader and exporter, even when the final
# export used up the caller's budget: the SDK skips a reader whose deadline
# has passed, and the exporter would then keep its connections open.
_MIN_STOP_BUDGET_S = 0.5

ObservableCallback = Callable[[CallbackOptions], Iterable[Observation]]


class Telemetry:
    """A MeterProvider with one instrument per given metric spec.

    For each spec in ``metrics``:

    - ``counter`` becomes an ObservableCounter and ``gauge`` an
      ObservableGauge. Its callback reports every point of
      ``snapshot_holder.current.get(spec.name)`` and does nothing else: no
      I/O and no locks, because the SDK runs all callbacks one after another
      on the reader thread and drops the whole collection when they overrun
      the export timeout.
    - ``histogram`` becomes a synchronous Histogram that
      :meth:`record_histogram` feeds, with ``spec.bucket_boundaries`` as the
      explicit bucket advisory. An advisory, unlike a View, still lets
      ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`` select
      exponential histograms.

    A metric that is not in ``metrics`` gets no instrument, so it is never
    exported, not even as an empty series.

    ``exporter`` is wrapped in a PeriodicExportingMetricReader that exports
    every ``export_interval_s`` seconds. ``None`` means
    ``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds) or 60 s; ``math.inf``
    means no background export, so the caller exports with
    :meth:`force_flush`. ``extra_readers`` are added as they are, for example
    an InMemoryMetricReader in tests. ``exporter`` may be None when
    ``extra_readers`` is not empty. ``resource`` defaults to
    :func:`build_resource` without a Dify URL.

    The provider is not registered as the global MeterProvider, so several
    instances can live in one process.

    NOTE: SDK 1.45 keeps at most 2000 attribute sets per metric and folds the
    rest into one series marked ``otel.metric.overflow``. An installation with
    more than about 2000 apps therefore loses per-app detail.
    """

    def __init__(
        self,
        metrics: Sequence[MetricSpec],
        snapshot_holder: SnapshotHolder,
        exporter: MetricExporter | None,
        *,
        resource: Resource | None = None,
        export_interval_s: float | None = None,
        extra_readers: Sequence[MetricReader] = (),
    ) -> None:
        if exporter is None and not extra_readers:
            raise ValueError("Telemetry needs an exporter or at least one extra reader")
        _check_unique_names(metrics)

        self._snapshot_holder = snapshot_holder
        self._export_interval_s = _resolve_export_interval_s(export_interval_s)
        self._lock = threading.Lock()
        self._shut_down = False

        readers: list[MetricReader] = []
        self._recorder: _ResultRecordingExporter | None = None
        if exporter is not None:
            self._recorder = _ResultRecordingExporter(exporter)
            readers.append(
                PeriodicExportingMetricReader(self._recorder, export_interval_millis=self._export_interval_s * 1000)
            )
        readers.extend(extra_readers)

        self._provider = MeterProvider(
            resource=resource if resource is not None else build_resource(),
            metric_readers=readers,
        )
        meter = self._provider.get_meter(METER_NAME, __version__)

        self._histograms: dict[str, Histogram] = {}
        for spec in metrics:
            self._create_instrument(meter, spec)
        self._metric_names = tuple(spec.name for spec in metrics)

        logger.info(
            "telemetry pipeline started",
            extra={
                "metric_count": len(self._metric_names),
                "exporter": type(exporter).__name__ if exporter is not None else None,
                "export_interval_s": self._export_interval_s,
            },
        )

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Names of the metrics that have an instrument, in the given order."""
        return self._metric_names

    @property
    def export_interval_s(self) -> float:
        """Seconds between background exports; ``math.inf`` when there are none."""
        return self._export_interval_s

    def record_histogram(self, name: str, value: float, attributes: Attributes = None) -> None:
        """Record ``value`` on histogram ``name``; do nothing when that metric is disabled.

        Raises KeyError for a name that is not in the catalog and ValueError
        for a catalog metric that is not a histogram. Thread-safe and cheap,
        so the asyncio loop may call it directly.
        """
        histogram = self._histograms.get(name)
        if histogram is not None:
            histogram.record(value, attributes)
            return

        spec = catalog.get(name)
        if spec.instrument != "histogram":
            raise ValueError(f"metric {name!r} is a {spec.instrument}, not a histogram")

    def record_poll_duration(self, seconds: float, attributes: Attributes = None) -> None:
        """Record the duration of one poll, in seconds, on ``dify.exporter.poll.duration``."""
        self.record_histogram(POLL_DURATION_METRIC, seconds, attributes)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Collect and export now.

        Returns True when the collection finished and the export it triggered
        (if any) succeeded, False otherwise or after :meth:`shutdown`. Never
        raises. Blocks on network I/O, so the asyncio loop must call it
        through an executor. Exports never overlap: the SDK serialises this
        call with the background export.

        NOTE: ``timeout_s`` bounds the collection, but the OTLP exporters of
        SDK 1.45 ignore it for the export and retry until their own timeout,
        ``OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`` or ``OTEL_EXPORTER_OTLP_TIMEOUT``
        (seconds, default 10). A flush to an unreachable collector therefore
        blocks for about that long.
        """
        with self._lock:
            if self._shut_down:
                logger.warning("metrics not exported: telemetry pipeline is shut down")
                return False
        return self._flush(timeout_s)

    def shutdown(self, timeout_s: float = 30.0, *, final_export: bool = True) -> None:
        """Export one last time and stop the pipeline, within ``timeout_s`` seconds.

        ``final_export=False`` skips the last export when there is no
        background export (``export_interval_s`` is ``math.inf``), for a
        caller that has just called :meth:`force_flush` and would otherwise
        print or send the same values twice. With a background export the
        SDK always exports once more while it stops. A second call does
        nothing. Never raises. Blocks like :meth:`force_flush`, and may take
        up to half a second more than ``timeout_s`` so that the exporter is
        always stopped.
        """
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True

        deadline = time.monotonic() + timeout_s
        if final_export and math.isinf(self._export_interval_s):
            # Without a background thread the SDK's shutdown exports nothing,
            # so the final export happens here.
            self._flush(timeout_s)

        remaining_s = max(_MIN_STOP_BUDGET_S, deadline - time.monotonic())
        try:
            self._provider.shutdown(timeout_millis=remaining_s * 1000)
        except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception listing failed readers
            logger.warning(
                "telemetry pipeline shutdown failed",
                extra={"error_type": type(error).__name__, "error": str(error)},
            )
            return
        logger.info("telemetry pipeline stopped")

    def _flush(self, timeout_s: float) -> bool:
        if self._recorder is not None:
            self._recorder.take_result()

        try:
            self._provider.force_flush(timeout_millis=timeout_s * 1000)
        except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception listing failed readers
            logger.warning(
                "metric collection failed",
                extra={"error_type": type(error).__name__, "error": str(error)},
            )
            return False

        if self._recorder is None:
            return True
        # The SDK logs the reason of a failed export itself.
        return self._recorder.take_result() is not MetricExportResult.FAILURE

    def _create_instrument(self, meter: Meter, spec: MetricSpec) -> None:
        if spec.instrument == "counter":
            meter.create_observable_counter(
                spec.name,
                callbacks=[_snapshot_callback(self._snapshot_holder, spec.name)],
                unit=spec.unit,
                description=spec.description,
            )
        elif spec.instrument == "gauge":
            meter.create_observable_gauge(
                spec.name,
                callbacks=[_snapshot_callback(self._snapshot_holder, spec.name)],
                unit=spec.unit,
                description=spec.description,
            )
        elif spec.instrument == "histogram":
            self._histograms[spec.name] = meter.create_histogram(
                spec.name,
                unit=spec.unit,
                description=spec.description,
                explicit_bucket_boundaries_advisory=list(spec.bucket_boundaries) or None,
            )
        else:
            raise ValueError(f"metric {spec.name!r} has unknown instrument kind {spec.instrument!r}")


def _snapshot_callback(holder: SnapshotHolder, name: str) -> ObservableCallback:
    def observe(options: CallbackOptions) -> list[Observation]:
        # One read of the holder, so all points of this metric come from the same poll.
        points = holder.current.get(name)
        return [Observation(point.value, point.attributes) for point in points]

    return observe


class _ResultRecordingExporter(MetricExporter):
    """Delegate to an exporter and remember, per thread, the result of the last export.

    The SDK reader swallows export failures, so without this wrapper
    :meth:`Telemetry.force_flush` could not tell a failed export from a good
    one. A flush exports on the calling thread, so a thread-local result
    belongs to that flush and never to a background export.
    """

    def __init__(self, inner: MetricExporter) -> None:
        # The reader copies temporality and aggregation preferences from its
        # exporter, so the wrapper must present those of the wrapped exporter.
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self._inner = inner
        self._local = threading.local()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            self._local.result = MetricExportResult.FAILURE
            raise
        finally:
            # The encoded data points are garbage now, but glibc would keep
            # their pages in the export thread's heap instead of returning them.
            release_free_memory()
        self._local.result = result
        return result

    def take_result(self) -> MetricExportResult | None:
        """Return and clear the result of the last export on this thread."""
        result = getattr(self._local, "result", None)
        self._local.result = None
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, *args: object, **kwargs: object) -> None:
        # Passed through unchanged: the SDK reader calls shutdown(timeout=...)
        # although the exporter interface names the argument timeout_millis.
        self._inner.shutdown(*args, **kwargs)


def _check_unique_names(metrics: Sequence[MetricSpec]) -> None:
    seen: set[str] = set()
    for spec in metrics:
        if spec.name in seen:
            raise ValueError(f"metric {spec.name!r} is listed twice")
        seen.add(spec.name)


def _resolve_export_interval_s(export_interval_s: float | None, environ: Mapping[str, str] | None = None) -> float:
    if export_interval_s is not None:
        if not export_interval_s > 0:
            raise ValueError(f"export interval must be > 0 seconds, got {export_interval_s!r}")
        return float(export_interval_s)

    environ = os.environ if environ is None else environ
    raw = environ.get(OTEL_METRIC_EXPORT_INTERVAL, "").strip()
    if not raw:
        return DEFAULT_EXPORT_INTERVAL_S

    # Same rule as the SDK reader: an invalid value logs a warning and the
    # default applies, as the specification recommends for environment variables.
    try:
        interval_ms = float(raw)
    except ValueError:
        interval_ms = math.nan
    if not interval_ms > 0:
        logger.warning(
            "invalid OTEL_METRIC_EXPORT_INTERVAL, using the default",
            extra={"value": raw, "default_s": DEFAULT_EXPORT_INTERVAL_S},
        )
        return DEFAULT_EXPORT_INTERVAL_S
    return interval_ms / 1000
