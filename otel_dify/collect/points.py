"""Collected figures and self-statistics to the points of a snapshot."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from otel_dify.catalog import (
    ATTR_APP_ID,
    ATTR_APP_MODE,
    ATTR_APP_NAME,
    ATTR_COST_CURRENCY,
    ATTR_ERROR_TYPE,
    ATTR_HTTP_RESPONSE_STATUS_CODE,
    ATTR_HTTP_ROUTE,
    ATTR_WORKSPACE_ID,
    ATTR_WORKSPACE_NAME,
)
from otel_dify.collect.workspace import WorkspaceResult
from otel_dify.runtime.self_stats import SelfStats
from otel_dify.snapshot import Point, Snapshot


def build_snapshot(results: Iterable[WorkspaceResult], stats: SelfStats, enabled_metrics: frozenset[str]) -> Snapshot:
    """Turn the latest results of every workspace and the self-statistics into a snapshot.

    Only metrics in ``enabled_metrics`` get points.
    """
    points: dict[str, list[Point]] = {}

    def add(metric: str, attributes: dict[str, str | int | float | bool], value: float) -> None:
        if metric in enabled_metrics:
            points.setdefault(metric, []).append(Point(attributes, value))

    for result in results:
        workspace = {ATTR_WORKSPACE_ID: result.workspace_id, ATTR_WORKSPACE_NAME: result.workspace_name or ""}
        modes: Counter[str] = Counter()

        for figures in result.apps:
            app = figures.app
            modes[app.mode] += 1
            attributes = {**workspace, ATTR_APP_ID: app.id, ATTR_APP_NAME: app.name, ATTR_APP_MODE: app.mode}
            for (metric, currency), value in sorted(
                figures.values.items(), key=lambda item: (item[0][0], item[0][1] or "")
            ):
                point_attributes = dict(attributes)
                if currency is not None:
                    point_attributes[ATTR_COST_CURRENCY] = currency
                add(metric, point_attributes, float(value))

        for mode, count in sorted(modes.items()):
            add("dify.apps", {**workspace, ATTR_APP_MODE: mode}, float(count))

    for _key, health in sorted(stats.health().items()):
        attributes = {ATTR_WORKSPACE_ID: health.workspace_id}
        add("dify.exporter.up", attributes, 1.0 if health.up else 0.0)
        if health.last_success_unix is not None:
            add("dify.exporter.last_success", attributes, health.last_success_unix)

    for (endpoint, status), count in sorted(stats.requests().items()):
        add("dify.exporter.requests", {ATTR_HTTP_ROUTE: endpoint, ATTR_HTTP_RESPONSE_STATUS_CODE: status}, float(count))
    for (workspace_id, error_type), count in sorted(stats.errors().items()):
        add("dify.exporter.errors", {ATTR_WORKSPACE_ID: workspace_id, ATTR_ERROR_TYPE: error_type}, float(count))

    return Snapshot.build(points)
