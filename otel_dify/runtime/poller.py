"""One poll of every workspace, turned into a new snapshot."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from otel_dify.catalog import ATTR_WORKSPACE_ID
from otel_dify.collect.points import build_snapshot
from otel_dify.collect.workspace import WorkspaceResult
from otel_dify.runtime.memory import release_free_memory
from otel_dify.runtime.self_stats import SelfStats
from otel_dify.snapshot import SnapshotHolder

if TYPE_CHECKING:
    from otel_dify.records.runtime import RecordsRuntime

logger = logging.getLogger(__name__)


class DurationRecorder(Protocol):
    def record_poll_duration(self, seconds: float, attributes: dict[str, str]) -> None: ...


class Collector(Protocol):
    """A workspace's statistics poll (:class:`~otel_dify.collect.workspace.WorkspaceCollector`) or a stand-in."""

    async def poll(self, now_utc: datetime) -> WorkspaceResult: ...


@dataclass(frozen=True)
class PollSummary:
    """Outcome of one poll, for the summary log line and the health state."""

    workspaces: int
    workspaces_failed: int
    apps: int
    requests: int
    errors: int
    duration_s: float

    @property
    def succeeded(self) -> bool:
        return self.workspaces > 0 and self.workspaces_failed == 0


class Poller:
    """Polls every workspace concurrently and swaps in the snapshot built from the results.

    One failing workspace does not stop the others: its previous figures stay
    in the snapshot, and its ``dify.exporter.up`` point turns 0. With
    ``records``, each workspace's record collection runs right after its
    statistics, and the usage backlog and the state file once all are done;
    record errors count in ``dify.exporter.errors`` but leave ``up`` alone.
    Each poll ends with :func:`~otel_dify.runtime.memory.release_free_memory`.
    """

    def __init__(
        self,
        collectors: Sequence[tuple[str, Collector]],
        holder: SnapshotHolder,
        stats: SelfStats,
        enabled_metrics: frozenset[str],
        *,
        durations: DurationRecorder | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        monotonic: Callable[[], float] = time.monotonic,
        records: RecordsRuntime | None = None,
    ) -> None:
        self._collectors = list(collectors)
        self._records = records
        self._holder = holder
        self._stats = stats
        self._enabled_metrics = enabled_metrics
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._durations = durations
        self._results: dict[str, WorkspaceResult] = {}

    async def poll_once(self) -> PollSummary:
        started = self._monotonic()
        requests_before = self._stats.total_requests()
        now_utc = self._wall_clock()

        results = await asyncio.gather(
            *(self._timed_poll(key, collector, now_utc) for key, collector in self._collectors)
        )
        if self._records is not None:
            await self._records.finish_poll(now_utc)

        finished_unix = self._wall_clock().timestamp()
        for (key, _collector), result in zip(self._collectors, results, strict=True):
            self._results[key] = result
            self._stats.record_poll(
                key, result.workspace_id, succeeded=result.succeeded, now_unix=finished_unix, reason=result.reason
            )

        snapshot = build_snapshot(self._results.values(), self._stats, self._enabled_metrics)
        if self._records is not None:
            # Imported here because a process without record collection never loads the record modules.
            from otel_dify.records.points import merge_points

            snapshot = merge_points(snapshot, self._records.points(self._enabled_metrics))
        self._holder.replace(snapshot)

        summary = PollSummary(
            workspaces=len(results),
            workspaces_failed=sum(1 for result in results if not result.succeeded),
            apps=sum(len(result.apps) for result in results),
            requests=self._stats.total_requests() - requests_before,
            errors=sum(result.errors for result in results),
            duration_s=self._monotonic() - started,
        )
        logger.info(
            "poll finished",
            extra={
                "workspaces": summary.workspaces,
                "workspaces_failed": summary.workspaces_failed,
                "apps": summary.apps,
                "requests": summary.requests,
                "errors": summary.errors,
                "duration_s": round(summary.duration_s, 3),
            },
        )

        # The poll's requests, responses and rows are garbage now, but glibc
        # would keep their pages for later allocations instead of returning them.
        release_free_memory()
        return summary

    async def _timed_poll(self, key: str, collector: Collector, now_utc: datetime) -> WorkspaceResult:
        started = self._monotonic()
        result = await collector.poll(now_utc)
        if self._records is not None:
            await self._records.poll_workspace(key, result, now_utc)
        if self._durations is not None:
            self._durations.record_poll_duration(
                self._monotonic() - started, {ATTR_WORKSPACE_ID: result.workspace_id}
            )
        return result

    def failing_reasons(self) -> list[str]:
        """Return one line per workspace whose last poll failed."""
        return [
            f"workspace {health.workspace_id or key}: {health.reason or 'poll failed'}"
            for key, health in sorted(self._stats.health().items())
            if not health.up
        ]
