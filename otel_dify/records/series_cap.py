"""The per-metric series cap: points beyond it fold into one ``otel.metric.overflow`` point.

The OpenTelemetry SDK specification describes the same fold for its
cardinality limit: the excess measurements go to one series whose only
attribute is ``otel.metric.overflow=true``. Doing it in the snapshot builder
keeps the choice of kept series stable (the oldest ones, in the order the
totals first saw them) and makes the fold visible as a self-metric.
"""

from __future__ import annotations

from otel_dify.catalog import ATTR_METRIC_OVERFLOW
from otel_dify.snapshot import Point


def cap_series(points: list[Point], cap: int) -> tuple[list[Point], int]:
    """Return at most ``cap`` points and the number of series folded.

    The first ``cap - 1`` points stay as they are and the rest are summed into
    one overflow point, so the result has exactly ``cap`` points when anything
    was folded. Only for counters: a sum of gauges means nothing.
    """
    if cap < 2:
        raise ValueError(f"cap must be at least 2, got {cap}")
    if len(points) <= cap:
        return points, 0

    kept = points[: cap - 1]
    folded = points[cap - 1 :]
    overflow = Point({ATTR_METRIC_OVERFLOW: True}, sum(point.value for point in folded))
    return [*kept, overflow], len(folded)
