"""Workflow-run lists: the cursor-paged ``workflow-runs`` list and its counts.

``triggered_from`` selects editor test runs (``debugging``, the default) or
production runs (``app-run``). The cursor ``last_id`` names the last run of
the previous page. The next page contains runs strictly older than it, newest
first, so runs created in the same second as the cursor run are skipped,
as Dify skips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from otel_dify.simulator.records import RUN_STATUSES, RUNNING, AppRecords, WorkflowRun

#: Status keys of ``workflow-runs/count`` bodies, which write ``partial-succeeded`` with an underscore.
COUNT_KEYS = {status: status.replace("-", "_") for status in (RUNNING, *RUN_STATUSES)}


class UnknownCursorError(LookupError):
    """The ``last_id`` cursor names no run of the app."""


@dataclass(frozen=True)
class RunPage:
    """One page of the run list, newest first."""

    runs: list[WorkflowRun]
    has_more: bool


def visible_runs(records: AppRecords, now: datetime) -> list[WorkflowRun]:
    """Return the app's runs created at or before ``now``, newest first."""
    runs = [run for run in records.workflow_runs if run.created_at <= now]
    runs.reverse()
    return runs


def list_runs(
    records: AppRecords,
    *,
    now: datetime,
    triggered_from: str,
    status: str | None,
    last_id: str | None,
    limit: int,
) -> RunPage:
    """Return one page of runs with ``triggered_from`` (and ``status`` when given).

    Raises ``UnknownCursorError`` when ``last_id`` names no run of the app.
    """
    runs = visible_runs(records, now)
    if last_id is not None:
        cursor = next((run for run in runs if run.id == last_id), None)
        if cursor is None:
            raise UnknownCursorError(last_id)
        runs = [run for run in runs if run.created_at < cursor.created_at]

    selected = [
        run for run in runs if run.triggered_from == triggered_from and (status is None or run.status == status)
    ]
    return RunPage(runs=selected[:limit], has_more=len(selected) > limit)


def count_runs(
    records: AppRecords,
    *,
    now: datetime,
    triggered_from: str,
    status: str | None,
    time_range: timedelta | None,
) -> dict[str, int]:
    """Return ``{total, running, succeeded, failed, stopped, partial_succeeded}``.

    ``time_range`` keeps runs created within that span before ``now``.
    """
    counts = dict.fromkeys(COUNT_KEYS.values(), 0)
    since = now - time_range if time_range is not None else None
    for run in visible_runs(records, now):
        if run.triggered_from != triggered_from or (status is not None and run.status != status):
            continue
        if since is not None and run.created_at < since:
            continue
        key = COUNT_KEYS.get(run.status)
        if key is not None:
            counts[key] += 1
    return {"total": sum(counts.values()), **counts}
