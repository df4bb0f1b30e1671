"""Tests of the OpenTelemetry pipeline with the real SDK: instruments, exporters, resource."""

from __future__ import annotations

import io
import math
import types
import uuid

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality as ProtoTemporality
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)
from tests.otlp_sink import OtlpSink

from otel_dify import __version__, catalog
from otel_dify.catalog import ATTR_APP_ID, ATTR_COST_CURRENCY, ATTR_WORKSPACE_ID, MetricSpec
from otel_dify.config import ConfigError
from otel_dify.snapshot import Point, Snapshot, SnapshotHolder
from otel_dify.telemetry import (
    ConsoleLineExporter,
    Telemetry,
    build_exporter,
    build_resource,
    create_telemetry,
    resolve_protocol,
)
from otel_dify.telemetry.pipeline import POLL_DURATION_METRIC


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove OTEL_* variables of the calling shell, which the SDK reads from os.environ."""
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def app_attributes(app_id: str) -> dict[str, str]:
    return {ATTR_WORKSPACE_ID: "ws-1", ATTR_APP_ID: app_id}


def collect(reader: InMemoryMetricReader) -> dict[str, object]:
    """Return the collected metrics by name."""
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        metric.name: metric
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }


def point_values(metric) -> dict[tuple, float]:
    return {tuple(sorted(point.attributes.items())): point.value for point in metric.data.data_points}


def make_telemetry(
    holder: SnapshotHolder, metrics=None, exporter: MetricExporter | None = None, **kwargs
) -> tuple[Telemetry, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(
        catalog.enabled_metrics() if metrics is None else metrics,
        holder,
        exporter,
        extra_readers=[reader],
        export_interval_s=kwargs.pop("export_interval_s", math.inf),
        **kwargs,
    )
    return telemetry, reader


@pytest.fixture
def holder() -> SnapshotHolder:
    return SnapshotHolder()


@pytest.fixture
def pipeline(holder: SnapshotHolder):
    telemetry, reader = make_telemetry(holder)
    yield telemetry, reader
    telemetry.shutdown(timeout_s=5)


class RecordingExporter(MetricExporter):
    """An exporter that keeps every export and returns a chosen result."""

    def __init__(self, result: MetricExportResult = MetricExportResult.SUCCESS) -> None:
        super().__init__()
        self.result = result
        self.exports: list[MetricsData] = []
        self.shutdown_calls = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        self.exports.append(metrics_data)
        return self.result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.shutdown_calls += 1


# Instruments from the catalog


def test_instruments_match_enabled_catalog(pipeline, holder: SnapshotHolder) -> None:
    telemetry, reader = pipeline
    enabled = catalog.enabled_metrics()
    observable = [spec for spec in enabled if spec.instrument != "histogram"]
    holder.replace(Snapshot.build({spec.name: [Point(app_attributes("a1"), 1)] for spec in observable}))
    telemetry.record_poll_duration(0.5, {ATTR_WORKSPACE_ID: "ws-1"})

    collected = collect(reader)

    assert telemetry.metric_names == tuple(spec.name for spec in enabled)
    assert set(collected) == {spec.name for spec in enabled}
    for spec in enabled:
        metric = collected[spec.name]
        assert metric.unit == spec.unit, spec.name
        assert metric.description == spec.description, spec.name


def test_instrument_kinds_follow_catalog(pipeline, holder: SnapshotHolder) -> None:
    telemetry, reader = pipeline
    enabled = catalog.enabled_metrics()
    holder.replace(Snapshot.build({spec.name: [Point(app_attributes("a1"), 1)] for spec in enabled}))
    telemetry.record_poll_duration(0.5)

    collected = collect(reader)

    for spec in enabled:
        data = collected[spec.name].data
        if spec.instrument == "counter":
            assert isinstance(data, Sum), spec.name
            assert data.is_monotonic, spec.name
            assert data.aggregation_temporality == AggregationTemporality.CUMULATIVE, spec.name
        elif spec.instrument == "gauge":
            assert isinstance(data, Gauge), spec.name
        else:
            assert isinstance(data, Histogram), spec.name


def test_callbacks_report_snapshot_points(pipeline, holder: SnapshotHolder) -> None:
    telemetry, reader = pipeline
    cost_attributes = {**app_attributes("a1"), ATTR_COST_CURRENCY: "USD"}
    holder.replace(
        Snapshot.build(
            {
                "dify.app.messages": [Point(app_attributes("a1"), 12), Point(app_attributes("a2"), 7)],
                "dify.app.cost": [Point(cost_attributes, 0.0123)],
            }
        )
    )

    collected = collect(reader)

    assert set(collected) == {"dify.app.messages", "dify.app.cost"}
    assert point_values(collected["dify.app.messages"]) == {
        tuple(sorted(app_attributes("a1").items())): 12,
        tuple(sorted(app_attributes("a2").items())): 7,
    }
    assert point_values(collected["dify.app.cost"]) == {tuple(sorted(cost_attributes.items())): 0.0123}


def test_callbacks_follow_snapshot_replacement(pipeline, holder: SnapshotHolder) -> None:
    telemetry, reader = pipeline
    holder.replace(Snapshot.build({"dify.app.conversations.active": [Point(app_attributes("a1"), 3)]}))
    first = collect(reader)

    holder.replace(Snapshot.build({"dify.app.conversations.active": [Point(app_attributes("a1"), 5)]}))
    second = collect(reader)

    assert list(point_values(first["dify.app.conversations.active"]).values()) == [3]
    assert list(point_values(second["dify.app.conversations.active"]).values()) == [5]


def test_empty_snapshot_reports_nothing(pipeline) -> None:
    telemetry, reader = pipeline

    assert collect(reader) == {}


def test_callbacks_read_holder_once_each(holder: SnapshotHolder) -> None:
    class CountingHolder(SnapshotHolder):
        reads = 0

        @property
        def current(self) -> Snapshot:
            CountingHolder.reads += 1
            return super().current

    counting = CountingHolder(Snapshot.build({"dify.apps": [Point({}, 4)]}))
    telemetry, reader = make_telemetry(counting)
    observable = [spec for spec in catalog.enabled_metrics() if spec.instrument != "histogram"]

    collected = collect(reader)
    reads = CountingHolder.reads
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert reads == len(observable)
    assert set(collected) == {"dify.apps"}


def test_unknown_snapshot_metric_ignored(pipeline, holder: SnapshotHolder) -> None:
    telemetry, reader = pipeline
    holder.replace(Snapshot.build({"dify.not.in.catalog": [Point({}, 1)], "dify.apps": [Point({}, 2)]}))

    assert set(collect(reader)) == {"dify.apps"}


# Enabled and disabled metrics


def test_disabled_metric_absent(holder: SnapshotHolder) -> None:
    metrics = catalog.enabled_metrics(disabled=["dify.app.cost", POLL_DURATION_METRIC])
    telemetry, reader = make_telemetry(holder, metrics)
    holder.replace(
        Snapshot.build({"dify.app.cost": [Point(app_attributes("a1"), 1.5)], "dify.apps": [Point({}, 1)]})
    )

    telemetry.record_poll_duration(0.5)
    collected = collect(reader)
    telemetry.shutdown(timeout_s=5)

    assert "dify.app.cost" not in telemetry.metric_names
    assert POLL_DURATION_METRIC not in telemetry.metric_names
    assert set(collected) == {"dify.apps"}


def test_optional_metric_enabled(holder: SnapshotHolder) -> None:
    optional = next(spec for spec in catalog.METRICS if not spec.enabled_by_default)
    telemetry, reader = make_telemetry(holder, catalog.enabled_metrics(enabled=[optional.name]))
    holder.replace(Snapshot.build({optional.name: [Point(app_attributes("a1"), 2)]}))

    collected = collect(reader)
    telemetry.shutdown(timeout_s=5)

    assert set(collected) == {optional.name}


def test_optional_metric_absent_by_default(pipeline, holder: SnapshotHolder) -> None:
    telemetry, reader = pipeline
    optional = next(spec for spec in catalog.METRICS if not spec.enabled_by_default)
    holder.replace(Snapshot.build({optional.name: [Point(app_attributes("a1"), 2)]}))

    assert collect(reader) == {}


# Histograms


def test_poll_duration_uses_catalog_buckets(pipeline) -> None:
    telemetry, reader = pipeline
    telemetry.record_poll_duration(0.07, {ATTR_WORKSPACE_ID: "ws-1"})
    telemetry.record_poll_duration(42.0, {ATTR_WORKSPACE_ID: "ws-1"})

    point = collect(reader)[POLL_DURATION_METRIC].data.data_points[0]

    assert tuple(point.explicit_bounds) == catalog.get(POLL_DURATION_METRIC).bucket_boundaries
    assert point.count == 2
    assert point.sum == pytest.approx(42.07)
    assert dict(point.attributes) == {ATTR_WORKSPACE_ID: "ws-1"}


def test_record_histogram_unknown_name(pipeline) -> None:
    telemetry, _ = pipeline

    with pytest.raises(KeyError, match="dify.no.such"):
        telemetry.record_histogram("dify.no.such", 1.0)


def test_record_histogram_rejects_gauge(pipeline) -> None:
    telemetry, _ = pipeline

    with pytest.raises(ValueError, match="not a histogram"):
        telemetry.record_histogram("dify.apps", 1.0)


# Construction checks


def test_duplicate_spec_rejected(holder: SnapshotHolder) -> None:
    spec = catalog.get("dify.apps")

    with pytest.raises(ValueError, match="listed twice"):
        Telemetry([spec, spec], holder, None, extra_readers=[InMemoryMetricReader()])


def test_unknown_instrument_kind_rejected(holder: SnapshotHolder) -> None:
    spec = MetricSpec("dify.odd", "updowncounter", "1", "Odd.", (), True, "test")  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="unknown instrument kind"):
        Telemetry([spec], holder, None, extra_readers=[InMemoryMetricReader()])


def test_no_reader_rejected(holder: SnapshotHolder) -> None:
    with pytest.raises(ValueError, match="exporter or at least one extra reader"):
        Telemetry(catalog.enabled_metrics(), holder, None)


@pytest.mark.parametrize("interval_s", [0, -1, math.nan])
def test_invalid_export_interval_rejected(holder: SnapshotHolder, interval_s: float) -> None:
    with pytest.raises(ValueError, match="export interval"):
        Telemetry(catalog.enabled_metrics(), holder, RecordingExporter(), export_interval_s=interval_s)


@pytest.mark.parametrize(
    ("environment_value", "expected_s"),
    [(None, 60.0), ("5000", 5.0), ("250.5", 0.2505), ("abc", 60.0), ("0", 60.0), ("-3", 60.0)],
)
def test_export_interval_from_environment(
    monkeypatch: pytest.MonkeyPatch, holder: SnapshotHolder, environment_value: str | None, expected_s: float
) -> None:
    if environment_value is not None:
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", environment_value)

    telemetry = Telemetry(catalog.enabled_metrics(), holder, RecordingExporter())
    interval_s = telemetry.export_interval_s
    telemetry.shutdown(timeout_s=5)

    assert interval_s == pytest.approx(expected_s)


def test_explicit_interval_beats_environment(monkeypatch: pytest.MonkeyPatch, holder: SnapshotHolder) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "5000")

    telemetry = Telemetry(catalog.enabled_metrics(), holder, RecordingExporter(), export_interval_s=math.inf)
    interval_s = telemetry.export_interval_s
    telemetry.shutdown(timeout_s=5)

    assert interval_s == math.inf


# Flush and shutdown


def test_force_flush_exports_snapshot(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    flushed = telemetry.force_flush(timeout_s=5)
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert flushed is True
    assert len(exporter.exports) == 1
    metric = exporter.exports[0].resource_metrics[0].scope_metrics[0].metrics[0]
    assert metric.name == "dify.apps"
    assert metric.data.data_points[0].value == 3


def test_force_flush_reports_export_failure(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter(MetricExportResult.FAILURE)
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    flushed = telemetry.force_flush(timeout_s=5)
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert flushed is False
    assert len(exporter.exports) == 1


def test_force_flush_reports_exporter_exception(holder: SnapshotHolder) -> None:
    class RaisingExporter(RecordingExporter):
        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            raise ConnectionError("collector gone")

    telemetry = Telemetry(catalog.enabled_metrics(), holder, RaisingExporter(), export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    flushed = telemetry.force_flush(timeout_s=5)
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert flushed is False


def test_force_flush_after_shutdown_false(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert telemetry.force_flush(timeout_s=5) is False
    assert exporter.exports == []


def test_shutdown_exports_once_without_thread(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    telemetry.shutdown(timeout_s=5)

    assert len(exporter.exports) == 1
    assert exporter.shutdown_calls == 1


def test_shutdown_skips_final_export_on_request(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    telemetry.shutdown(timeout_s=5, final_export=False)

    assert exporter.exports == []
    assert exporter.shutdown_calls == 1


def test_shutdown_exports_once_with_thread(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    # An hour-long interval: the background thread only runs its final export at shutdown.
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=3600)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    telemetry.shutdown(timeout_s=5)

    assert len(exporter.exports) == 1


def test_shutdown_stops_exporter_past_deadline(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    # A zero budget is spent before the final export starts.
    telemetry.shutdown(timeout_s=0)

    assert exporter.shutdown_calls == 1


def test_shutdown_twice_is_noop(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 3)]}))

    telemetry.shutdown(timeout_s=5)
    telemetry.shutdown(timeout_s=5)

    assert len(exporter.exports) == 1
    assert exporter.shutdown_calls == 1


# Console exporter


def test_console_lines_format(holder: SnapshotHolder) -> None:
    stream = io.StringIO()
    telemetry = Telemetry(
        catalog.enabled_metrics(), holder, ConsoleLineExporter(stream), export_interval_s=math.inf
    )
    holder.replace(
        Snapshot.build(
            {
                "dify.app.messages": [Point({ATTR_APP_ID: "a1", "dify.app.name": 'say "hi"\n'}, 12)],
                "dify.apps": [Point({}, 2.5)],
            }
        )
    )
    telemetry.record_poll_duration(1.5, {ATTR_WORKSPACE_ID: "ws-1"})

    telemetry.shutdown(timeout_s=5)
    lines = stream.getvalue().splitlines()

    assert 'dify.app.messages{dify.app.id="a1",dify.app.name="say \\"hi\\"\\n"} 12 {message}' in lines
    assert "dify.apps 2.5 {app}" in lines
    assert 'dify.exporter.poll.duration{dify.workspace.id="ws-1"} count=1 sum=1.5 s' in lines
    assert len(lines) == 3


def test_console_write_failure_reported(holder: SnapshotHolder) -> None:
    stream = io.StringIO()
    stream.close()
    telemetry = Telemetry(
        catalog.enabled_metrics(), holder, ConsoleLineExporter(stream), export_interval_s=math.inf
    )
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 2)]}))

    flushed = telemetry.force_flush(timeout_s=5)
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert flushed is False


# Protocol and exporter selection


def test_protocol_default_http() -> None:
    assert resolve_protocol({}) == "http/protobuf"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}, "grpc"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "grpc"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": " GRPC "}, "grpc"),
    ],
)
def test_protocol_from_environment(environment: dict[str, str], expected: str) -> None:
    assert resolve_protocol(environment) == expected


@pytest.mark.parametrize("value", ["http/json", "http", "thrift"])
def test_protocol_invalid_names_variable(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": value})

    assert [problem.variable for problem in raised.value.problems] == ["OTEL_EXPORTER_OTLP_PROTOCOL"]
    assert repr(value) in str(raised.value)
    assert "grpc or http/protobuf" in str(raised.value)


def test_protocol_reports_every_invalid_variable() -> None:
    environment = {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grcp", "OTEL_EXPORTER_OTLP_PROTOCOL": "htp"}

    with pytest.raises(ConfigError) as raised:
        resolve_protocol(environment)

    assert [problem.variable for problem in raised.value.problems] == [
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]


def test_protocol_invalid_generic_despite_valid_metrics() -> None:
    environment = {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "grcp"}

    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        resolve_protocol(environment)


def test_build_exporter_http_by_default() -> None:
    exporter = build_exporter({})
    exporter.shutdown()

    assert isinstance(exporter, HttpExporter)


def test_build_exporter_grpc() -> None:
    exporter = build_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    exporter.shutdown()

    assert isinstance(exporter, GrpcExporter)


def test_build_exporter_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")

    exporter = build_exporter()
    exporter.shutdown()

    assert isinstance(exporter, GrpcExporter)


def test_build_exporter_console_ignores_protocol() -> None:
    exporter = build_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "bogus"}, console=True)

    assert isinstance(exporter, ConsoleLineExporter)


def test_build_exporter_invalid_protocol() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        build_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


# Temporality, checked on the wire with a real OTLP receiver


def export_counter_twice(monkeypatch: pytest.MonkeyPatch, sink: OtlpSink, holder: SnapshotHolder) -> list:
    """Export dify.app.messages at 5 and then 8 over gRPC; return the received Sum messages."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", sink.endpoint)
    exporter = build_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    telemetry = Telemetry(catalog.enabled_metrics(), holder, exporter, export_interval_s=math.inf)

    holder.replace(Snapshot.build({"dify.app.messages": [Point(app_attributes("a1"), 5)]}))
    assert telemetry.force_flush(timeout_s=10)
    holder.replace(Snapshot.build({"dify.app.messages": [Point(app_attributes("a1"), 8)]}))
    assert telemetry.force_flush(timeout_s=10)
    telemetry.shutdown(timeout_s=10, final_export=False)

    return [metric.sum for metric in sink.metrics("dify.app.messages")]


def test_temporality_cumulative_by_default(monkeypatch: pytest.MonkeyPatch, holder: SnapshotHolder) -> None:
    with OtlpSink() as sink:
        sums = export_counter_twice(monkeypatch, sink, holder)

    assert [s.aggregation_temporality for s in sums] == [ProtoTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE] * 2
    assert [s.data_points[0].as_int for s in sums] == [5, 8]


def test_temporality_delta_from_environment(monkeypatch: pytest.MonkeyPatch, holder: SnapshotHolder) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "DELTA")

    with OtlpSink() as sink:
        sums = export_counter_twice(monkeypatch, sink, holder)

    assert [s.aggregation_temporality for s in sums] == [ProtoTemporality.AGGREGATION_TEMPORALITY_DELTA] * 2
    assert [s.data_points[0].as_int for s in sums] == [5, 3]


# Resource


def test_resource_defaults() -> None:
    attributes = build_resource("https://dify.example.com").attributes

    assert attributes["service.name"] == "otel-dify"
    assert attributes["service.version"] == __version__
    assert uuid.UUID(str(attributes["service.instance.id"])).version == 4
    assert attributes["server.address"] == "dify.example.com"
    assert attributes["server.port"] == 443
    assert attributes["telemetry.sdk.language"] == "python"


def test_resource_instance_id_per_call() -> None:
    first = build_resource().attributes["service.instance.id"]
    second = build_resource().attributes["service.instance.id"]

    assert first != second


@pytest.mark.parametrize(
    ("base_url", "address", "port"),
    [
        ("http://127.0.0.1:5001", "127.0.0.1", 5001),
        ("http://Dify.Local", "dify.local", 80),
        ("https://user:secret@dify.example.com:8443/", "dify.example.com", 8443),
    ],
)
def test_resource_server_from_base_url(base_url: str, address: str, port: int) -> None:
    attributes = build_resource(base_url).attributes

    assert attributes["server.address"] == address
    assert attributes["server.port"] == port


def test_resource_without_base_url() -> None:
    attributes = build_resource().attributes

    assert "server.address" not in attributes
    assert "server.port" not in attributes


def test_resource_service_name_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "dify-usage")

    assert build_resource().attributes["service.name"] == "dify-usage"


def test_resource_attributes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=from-attributes,service.instance.id=pod-7,server.address=dify.internal,k8s.container.name=exporter",
    )

    attributes = build_resource("https://dify.example.com").attributes

    assert attributes["service.name"] == "from-attributes"
    assert attributes["service.instance.id"] == "pod-7"
    assert attributes["server.address"] == "dify.internal"
    assert attributes["k8s.container.name"] == "exporter"


def test_resource_service_name_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-variable")

    assert build_resource().attributes["service.name"] == "from-variable"


def test_telemetry_exports_resource(holder: SnapshotHolder) -> None:
    exporter = RecordingExporter()
    telemetry = Telemetry(
        catalog.enabled_metrics(),
        holder,
        exporter,
        resource=build_resource("http://127.0.0.1:5001"),
        export_interval_s=math.inf,
    )
    holder.replace(Snapshot.build({"dify.apps": [Point({}, 1)]}))

    telemetry.shutdown(timeout_s=5)
    resource = exporter.exports[0].resource_metrics[0].resource

    assert resource.attributes["service.name"] == "otel-dify"
    assert resource.attributes["server.address"] == "127.0.0.1"


# Factory


def test_create_telemetry_console(holder: SnapshotHolder) -> None:
    settings = types.SimpleNamespace(
        base_url="http://127.0.0.1:5001", metrics_enabled=[], metrics_disabled=["dify.apps"]
    )
    stream = io.StringIO()
    telemetry = create_telemetry(settings, holder, console=True, console_stream=stream)
    holder.replace(
        Snapshot.build({"dify.apps": [Point({}, 1)], "dify.app.messages": [Point(app_attributes("a1"), 4)]})
    )

    flushed = telemetry.force_flush(timeout_s=5)
    telemetry.shutdown(timeout_s=5, final_export=False)

    assert flushed is True
    assert telemetry.export_interval_s == math.inf
    assert "dify.apps" not in telemetry.metric_names
    assert stream.getvalue().splitlines() == [
        'dify.app.messages{dify.workspace.id="ws-1",dify.app.id="a1"} 4 {message}'
    ]


def test_create_telemetry_invalid_protocol(holder: SnapshotHolder) -> None:
    settings = types.SimpleNamespace(base_url="http://127.0.0.1:5001", metrics_enabled=[], metrics_disabled=[])

    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"):
        create_telemetry(settings, holder, environ={"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "json"})
