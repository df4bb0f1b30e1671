"""The poll loop's view of record collection: one call per workspace, one at the end of the poll, and the points.

The poller calls :meth:`RecordsRuntime.poll_workspace` after each workspace's
statistics poll, :meth:`RecordsRuntime.finish_poll` once every workspace is
done (it reads the usage backlog and saves the state), and
:meth:`RecordsRuntime.points` when it builds the snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Mapping, Protocol

from otel_dify.collect.workspace import WorkspaceResult
from otel_dify.dify.errors import DifyError
from otel_dify.dify.records_client import ConsoleRecordsClient
from otel_dify.records.collector import ErrorSink, RecordOptions
from otel_dify.records.levels import Level
from otel_dify.records.llm_usage import drain_backlog
from otel_dify.records.points import record_points
from otel_dify.records.recorder import AppContext, Recorder
from otel_dify.records.state import RecordState
from otel_dify.records.store import StateStore
from otel_dify.snapshot import Point

logger = logging.getLogger(__name__)


class WorkspaceRecords(Protocol):
    """Record collection of one collector key: the console or the service-API collector."""

    async def poll(self, result: WorkspaceResult, now: int) -> dict[str, AppContext]: ...


class RecordsRuntime:
    """Runs record collection inside the poll loop and keeps its state between polls.

    ``collectors`` maps collector keys (as the poller names them) to their
    record collectors. ``console_clients`` maps each key with console access
    to the client that reads node executions. ``store`` is None
    without a state directory. ``on_error`` counts errors as
    ``dify.exporter.errors``.
    """

    def __init__(
        self,
        recorder: Recorder,
        options: RecordOptions,
        collectors: Mapping[str, WorkspaceRecords],
        console_clients: Mapping[str, ConsoleRecordsClient],
        *,
        store: StateStore | None,
        max_series: int,
        on_error: ErrorSink,
    ) -> None:
        self.recorder = recorder
        self.options = options
        self._collectors = dict(collectors)
        self._console_clients = dict(console_clients)
        self._store = store
        self._max_series = max_series
        self._on_error = on_error
        self._contexts: dict[str, dict[str, AppContext]] = {}
        self._save_failed = False

        for key in {item.workspace_key for item in recorder.state.backlog} - set(self._console_clients):
            removed = recorder.state.backlog.discard_workspace(key)
            logger.warning(
                "dropped queued runs of a workspace that is no longer configured",
                extra={"collector": key, "runs": removed},
            )

    @property
    def state(self) -> RecordState:
        return self.recorder.state

    async def poll_workspace(self, key: str, result: WorkspaceResult, now_utc: datetime) -> None:
        """Read the new records of the apps in ``result``. Never raises for a Dify failure."""
        state = self.recorder.state
        now = int(now_utc.timestamp())
        if state.started_at is None:
            # Every workspace of this poll shares now_utc, so they agree on the start.
            state.started_at = now
            logger.info("record counting starts", extra={"started_at": now})

        collector = self._collectors.get(key)
        if collector is None:
            return
        self._contexts[key] = await collector.poll(result, now)

    async def finish_poll(self, now_utc: datetime) -> None:
        """Read node executions of queued runs within the budget, update end-user ranks and save the state."""
        # Runs counted during this poll are queued at the time they were
        # counted, which is past now_utc once the poll crosses a second
        # boundary. Taking the later time reads them in this poll, not the next.
        now = max(int(now_utc.timestamp()), self.recorder.unix_now())
        if Level.LLM_USAGE in self.options.levels and self._console_clients:
            summary = await drain_backlog(
                self.recorder,
                self._all_contexts(),
                self._console_clients,
                budget=self.options.usage_budget,
                concurrency=self.options.usage_concurrency,
                now=now,
                on_error=self._usage_error,
            )
            if summary.read or summary.requeued or summary.given_up:
                logger.info(
                    "model usage read",
                    extra={
                        "runs_read": summary.read,
                        "runs_requeued": summary.requeued,
                        "runs_given_up": summary.given_up,
                        "backlog": len(self.recorder.state.backlog),
                    },
                )

        self.recorder.labels.promote()
        await self.save()

    def close(self) -> None:
        """Release the state directory's lock, so that another process or assembly can use it."""
        if self._store is not None:
            self._store.close()

    async def save(self) -> None:
        """Write the state file when a state directory is configured; a failure is logged, not raised."""
        if self._store is None:
            return
        document = self.recorder.state.to_json()
        try:
            await asyncio.to_thread(self._store.save_document, document)
        except OSError as error:
            logger.error(
                "cannot save the record state; a restart would count from the last saved poll",
                extra={"state_file": str(self._store.path), "error": error.strerror or type(error).__name__},
            )
            self._save_failed = True
            return
        if self._save_failed:
            logger.info("record state saved again", extra={"state_file": str(self._store.path)})
            self._save_failed = False

    def points(self, enabled_metrics: frozenset[str]) -> dict[str, list[Point]]:
        return record_points(
            self.recorder.state,
            self._all_contexts(),
            self.recorder.stats,
            self.options.levels,
            enabled_metrics,
            max_series=self._max_series,
        )

    def _all_contexts(self) -> dict[str, AppContext]:
        contexts: dict[str, AppContext] = {}
        for key_contexts in self._contexts.values():
            contexts.update(key_contexts)
        return contexts

    def _usage_error(self, context: AppContext | None, error: DifyError) -> None:
        workspace_id = context.workspace_id if context is not None else ""
        self._on_error(workspace_id, error.error_type)
        logger.warning(
            "reading a run's node executions failed: %s",
            error.message,
            extra={"workspace_id": workspace_id, **error.log_context()},
        )
