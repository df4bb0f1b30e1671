"""Record totals and record self-statistics to snapshot points.

Only apps listed in their workspace's latest poll get points, as for the
statistics metrics. The series cap applies to every record counter.
"""

from __future__ import annotations

from typing import Mapping

from otel_dify.catalog import ATTR_METRIC_NAME, ATTR_RECORDS_LEVEL
from otel_dify.records.levels import Level
from otel_dify.records.recorder import TOTAL_METRICS, AppContext, RecordStats
from otel_dify.records.series_cap import cap_series
from otel_dify.records.state import RecordState
from otel_dify.snapshot import Point, Snapshot

BACKLOG_METRIC = "dify.exporter.records.backlog"
DROPPED_METRIC = "dify.exporter.records.dropped"
REQUESTS_METRIC = "dify.exporter.records.requests"
SERIES_OVERFLOW_METRIC = "dify.exporter.records.series_overflow"


def record_points(
    state: RecordState,
    contexts: Mapping[str, AppContext],
    stats: RecordStats,
    levels: frozenset[Level],
    enabled_metrics: frozenset[str],
    *,
    max_series: int,
) -> dict[str, list[Point]]:
    """Return the points of the record metrics in ``enabled_metrics``.

    ``contexts`` maps app ids to their latest labels; totals of apps missing
    from it are kept but not reported. Each counter has at most
    ``max_series`` points, see :func:`~otel_dify.records.series_cap.cap_series`.
    """
    points: dict[str, list[Point]] = {}

    for (metric, app_id, items), value in state.totals.items():
        context = contexts.get(app_id)
        if context is None or metric not in enabled_metrics:
            continue
        points.setdefault(metric, []).append(Point({**context.attributes(), **dict(items)}, float(value)))

    overflow: list[Point] = []
    for metric in TOTAL_METRICS:
        if metric not in points:
            continue
        points[metric], folded = cap_series(points[metric], max_series)
        if folded:
            overflow.append(Point({ATTR_METRIC_NAME: metric}, float(folded)))

    def add(metric: str, point: Point) -> None:
        if metric in enabled_metrics:
            points.setdefault(metric, []).append(point)

    add(BACKLOG_METRIC, Point({}, float(len(state.backlog))))
    add(DROPPED_METRIC, Point({}, float(stats.dropped)))
    # Run lists serve the llm_usage level too, so a level may send requests while it is off.
    for level_name in sorted({level.value for level in levels} | set(stats.requests)):
        add(REQUESTS_METRIC, Point({ATTR_RECORDS_LEVEL: level_name}, float(stats.requests[level_name])))
    for point in overflow:
        add(SERIES_OVERFLOW_METRIC, point)
    return points


def merge_points(snapshot: Snapshot, extra: Mapping[str, list[Point]]) -> Snapshot:
    """Return a snapshot with the points of ``snapshot`` and ``extra``; a metric in both keeps both lists."""
    merged: dict[str, list[Point]] = {name: list(metric_points) for name, metric_points in snapshot.points.items()}
    for name, metric_points in extra.items():
        merged.setdefault(name, []).extend(metric_points)
    return Snapshot.build(merged)
