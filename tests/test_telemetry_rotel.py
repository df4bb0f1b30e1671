"""End-to-end: the pipeline's OTLP exporter → rotel-agent (a real collector) → an OTLP sink."""

from __future__ import annotations

import math
import os

import pytest

from otel_dify import catalog
from otel_dify.catalog import (
    ATTR_APP_ID,
    ATTR_APP_MODE,
    ATTR_APP_NAME,
    ATTR_COST_CURRENCY,
    ATTR_WORKSPACE_ID,
    ATTR_WORKSPACE_NAME,
)
from otel_dify.snapshot import Point, Snapshot, SnapshotHolder
from otel_dify.telemetry import Telemetry, build_exporter, build_resource
from otel_dify.telemetry.pipeline import POLL_DURATION_METRIC
from tests.e2e_fixtures import otlp_sink, rotel_agent  # noqa: F401 - pytest fixtures
from tests.otlp_sink import OtlpSink
from tests.rotel import RotelAgent

APP_ONE = {
    ATTR_WORKSPACE_ID: "ws-1",
    ATTR_WORKSPACE_NAME: "Research",
    ATTR_APP_ID: "0b6a3f0e-1111-4c5d-9e8f-000000000001",
    ATTR_APP_NAME: "Support bot",
    ATTR_APP_MODE: "chat",
}
APP_TWO = {**APP_ONE, ATTR_APP_ID: "0b6a3f0e-2222-4c5d-9e8f-000000000002", ATTR_APP_NAME: "Writer"}

SNAPSHOT = Snapshot.build(
    {
        "dify.app.messages": [Point(APP_ONE, 1234), Point(APP_TWO, 7)],
        "dify.app.cost": [Point({**APP_ONE, ATTR_COST_CURRENCY: "USD"}, 0.0375)],
        "dify.app.satisfaction": [Point(APP_ONE, 0.25)],
        "dify.apps": [Point({ATTR_WORKSPACE_ID: "ws-1", ATTR_WORKSPACE_NAME: "Research", ATTR_APP_MODE: "chat"}, 2)],
    }
)


@pytest.fixture(autouse=True)
def clean_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove OTEL_* variables of the calling shell, which the SDK exporters read from os.environ."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def start_pipeline(
    monkeypatch: pytest.MonkeyPatch, agent: RotelAgent, protocol: str, holder: SnapshotHolder
) -> Telemetry:
    endpoint = agent.grpc_endpoint if protocol == "grpc" else agent.http_metrics_url
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=e2e")

    exporter = build_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": protocol})
    return Telemetry(
        catalog.enabled_metrics(),
        holder,
        exporter,
        resource=build_resource("http://127.0.0.1:5001"),
        export_interval_s=math.inf,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_snapshot_arrives_through_rotel(
    monkeypatch: pytest.MonkeyPatch, rotel_agent: RotelAgent, otlp_sink: OtlpSink, protocol: str
) -> None:
    holder = SnapshotHolder(SNAPSHOT)
    telemetry = start_pipeline(monkeypatch, rotel_agent, protocol, holder)
    telemetry.record_poll_duration(0.8, {ATTR_WORKSPACE_ID: "ws-1"})

    flushed = telemetry.force_flush(timeout_s=10)
    arrived = otlp_sink.wait_for(lambda: len(otlp_sink.metric_names()) >= 5, timeout_s=10)
    telemetry.shutdown(timeout_s=10, final_export=False)

    assert flushed is True
    assert arrived, f"sink got {sorted(otlp_sink.metric_names())}; rotel output: {rotel_agent.output()}"
    assert otlp_sink.metric_names() == {
        "dify.app.messages",
        "dify.app.cost",
        "dify.app.satisfaction",
        "dify.apps",
        POLL_DURATION_METRIC,
    }
    by_app_id = sorted(otlp_sink.points("dify.app.messages"), key=lambda point: point[0][ATTR_APP_ID])
    assert by_app_id == [(APP_ONE, 1234), (APP_TWO, 7)]
    assert otlp_sink.points("dify.app.cost") == [({**APP_ONE, ATTR_COST_CURRENCY: "USD"}, 0.0375)]
    assert otlp_sink.points("dify.app.satisfaction") == [(APP_ONE, 0.25)]
    assert otlp_sink.points("dify.apps") == [
        ({ATTR_WORKSPACE_ID: "ws-1", ATTR_WORKSPACE_NAME: "Research", ATTR_APP_MODE: "chat"}, 2)
    ]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_metadata_arrives_through_rotel(
    monkeypatch: pytest.MonkeyPatch, rotel_agent: RotelAgent, otlp_sink: OtlpSink, protocol: str
) -> None:
    holder = SnapshotHolder(SNAPSHOT)
    telemetry = start_pipeline(monkeypatch, rotel_agent, protocol, holder)
    telemetry.record_poll_duration(0.8, {ATTR_WORKSPACE_ID: "ws-1"})
    telemetry.record_poll_duration(12.0, {ATTR_WORKSPACE_ID: "ws-1"})

    telemetry.force_flush(timeout_s=10)
    arrived = otlp_sink.wait_for(lambda: bool(otlp_sink.histogram_points(POLL_DURATION_METRIC)), timeout_s=10)
    telemetry.shutdown(timeout_s=10, final_export=False)

    assert arrived, f"rotel output: {rotel_agent.output()}"
    resource = otlp_sink.resource_attributes()
    assert resource["service.name"] == "otel-dify"
    assert resource["server.address"] == "127.0.0.1"
    assert resource["server.port"] == 5001
    assert resource["deployment.environment.name"] == "e2e"

    messages = otlp_sink.metrics("dify.app.messages")[-1]
    assert messages.unit == "{message}"
    assert messages.sum.is_monotonic
    assert messages.description == catalog.get("dify.app.messages").description

    [(attributes, histogram)] = otlp_sink.histogram_points(POLL_DURATION_METRIC)
    assert attributes == {ATTR_WORKSPACE_ID: "ws-1"}
    assert histogram.count == 2
    assert histogram.sum == pytest.approx(12.8)
    assert tuple(histogram.explicit_bounds) == catalog.get(POLL_DURATION_METRIC).bucket_boundaries


def test_latest_snapshot_wins_through_rotel(
    monkeypatch: pytest.MonkeyPatch, rotel_agent: RotelAgent, otlp_sink: OtlpSink
) -> None:
    holder = SnapshotHolder(Snapshot.build({"dify.app.messages": [Point(APP_ONE, 10)]}))
    telemetry = start_pipeline(monkeypatch, rotel_agent, "grpc", holder)

    telemetry.force_flush(timeout_s=10)
    first = otlp_sink.wait_for(lambda: otlp_sink.points("dify.app.messages") == [(APP_ONE, 10)], timeout_s=10)
    holder.replace(Snapshot.build({"dify.app.messages": [Point(APP_ONE, 15)]}))
    telemetry.force_flush(timeout_s=10)
    second = otlp_sink.wait_for(lambda: otlp_sink.points("dify.app.messages") == [(APP_ONE, 15)], timeout_s=10)
    telemetry.shutdown(timeout_s=10, final_export=False)

    assert first, f"rotel output: {rotel_agent.output()}"
    assert second, f"sink points: {otlp_sink.points('dify.app.messages')}"
