"""Record collection of one console workspace: runs and messages of every listed app, each app on its own.

A failure of one app and source is logged with the endpoint and app id,
counted in ``dify.exporter.errors``, and leaves the other apps and the state
gathered so far untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_dify.collect.workspace import WorkspaceResult
from otel_dify.concurrency import gather_bounded, pool_size
from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import AuthenticationError, DifyError, InvalidResponseError
from otel_dify.dify.models import AppMode
from otel_dify.dify.records_client import (
    ADVANCED_CHAT_RUNS_ENDPOINT,
    CHAT_MESSAGES_ENDPOINT,
    WORKFLOW_APP_LOGS_ENDPOINT,
    ConsoleRecordsClient,
)
from otel_dify.records.levels import Level
from otel_dify.records.messages import MessageReader
from otel_dify.records.models import MessageRecord
from otel_dify.records.parsing import InvalidRecordError
from otel_dify.records.recorder import AppContext, Recorder
from otel_dify.records.runs import CursorRunSource, LogRunSource, RequestBudget, RunSource, Window, collect_runs

logger = logging.getLogger(__name__)

#: How long the account time zone is trusted before it is read again, in seconds.
TIMEZONE_REFRESH_S = 3600.0

WORKFLOW_LOGS_SOURCE = "workflow_logs"
ADVANCED_CHAT_RUNS_SOURCE = "advanced_chat_runs"
MESSAGES_SOURCE = "messages"

# The endpoint named when a body of a source cannot be parsed.
_SOURCE_ENDPOINTS = {
    WORKFLOW_LOGS_SOURCE: WORKFLOW_APP_LOGS_ENDPOINT,
    ADVANCED_CHAT_RUNS_SOURCE: ADVANCED_CHAT_RUNS_ENDPOINT,
    MESSAGES_SOURCE: CHAT_MESSAGES_ENDPOINT,
}

_MESSAGE_MODES = frozenset({AppMode.CHAT.value, AppMode.AGENT_CHAT.value, AppMode.ADVANCED_CHAT.value})

#: Called with (workspace id or "", error type) for every error the collector handles.
ErrorSink = Callable[[str, str], None]


@dataclass(frozen=True)
class RecordOptions:
    """Record settings that do not change while the process runs.

    ``overlap_s`` is re-read before the watermark each poll; ``max_pages``
    bounds the list requests per app and source and poll.
    ``max_concurrency`` is the transport's request slots
    (OTEL_DIFY_MAX_CONCURRENCY) and sizes the pool of workers that read apps.
    """

    levels: frozenset[Level]
    overlap_s: int = 600
    max_pages: int = 20
    usage_budget: int = 100
    usage_concurrency: int = 4
    max_concurrency: int = 4

    @property
    def reads_runs(self) -> bool:
        """Runs are listed for their own metrics and as the source of the run ids whose usage is read."""
        return bool(self.levels & {Level.WORKFLOW_RUNS, Level.LLM_USAGE})


class ConsoleRecordsCollector:
    """Reads the records of the apps one workspace poll listed.

    The message level needs the account time zone for its ``start`` filter.
    It takes it from the workspace poll's result, and reads the profile itself
    only when that result has none and its own copy is older than
    :data:`TIMEZONE_REFRESH_S` by ``monotonic``.
    """

    def __init__(
        self,
        key: str,
        client: DifyClient,
        recorder: Recorder,
        options: RecordOptions,
        *,
        on_error: ErrorSink,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self._client = client
        self.records_client = ConsoleRecordsClient(client)
        self._recorder = recorder
        self._options = options
        self._on_error = on_error
        self._monotonic = monotonic
        self._zone: ZoneInfo | None = None
        self._zone_read_at = float("-inf")
        self._skip_logged: set[str] = set()

    async def poll(self, result: WorkspaceResult, now: int) -> dict[str, AppContext]:
        """Read the new records of every app in ``result``; return the app contexts by app id.

        Never raises for a Dify failure.
        """
        contexts = {
            figures.app.id: AppContext(self.key, result.workspace_id, result.workspace_name or "", figures.app)
            for figures in result.apps
        }
        if not contexts:
            return contexts

        try:
            # No request when the session is fresh; raises during the login back-off.
            await self._client.login()
        except DifyError as error:
            # The workspace poll has already logged and counted this failure.
            logger.info(
                "record collection skipped: no session",
                extra={"workspace_id": result.workspace_id, **error.log_context()},
            )
            return contexts

        zone = await self._message_zone(result, contexts.values())
        jobs = (job for context in contexts.values() for job in self._jobs_for(context, now, zone))
        await gather_bounded(jobs, workers=pool_size(self._options.max_concurrency))
        return contexts

    def _jobs_for(
        self, context: AppContext, now: int, zone: ZoneInfo | None
    ) -> Iterator[Callable[[], Awaitable[None]]]:
        """Yield the record jobs of one app: its runs first, then its messages when ``zone`` is known."""
        mode = context.app.mode

        if self._options.reads_runs and mode == AppMode.WORKFLOW.value:
            yield lambda: self._guarded(
                context, WORKFLOW_LOGS_SOURCE, self._runs(context, self._log_source(context), now)
            )
        elif self._options.reads_runs and mode == AppMode.ADVANCED_CHAT.value:
            if self.records_client.supports_run_filters():
                yield lambda: self._guarded(
                    context, ADVANCED_CHAT_RUNS_SOURCE, self._runs(context, self._cursor_source(context), now)
                )
            else:
                self._log_skip_once(context)

        if zone is not None and self._reads_messages(context):
            yield lambda: self._guarded(context, MESSAGES_SOURCE, self._messages(context, now, zone))

    def _reads_messages(self, context: AppContext) -> bool:
        return Level.MESSAGES in self._options.levels and context.app.mode in _MESSAGE_MODES

    def _log_skip_once(self, context: AppContext) -> None:
        # NOTE: before Dify 1.9.2 the run list of an advanced-chat app returns
        # only editor debug runs, so its runs are never read. Only the message
        # level can reach its run ids (for model usage), and run counts stay
        # with the statistics metric dify.app.workflow.runs.
        if context.app.id in self._skip_logged:
            return
        self._skip_logged.add(context.app.id)
        logger.info(
            "advanced-chat runs are not read from this Dify release, which lists only debug runs; "
            "turn on the messages level to read their model usage",
            extra={"app_id": context.app.id, "server_version": self._client.server_version},
        )

    def _log_source(self, context: AppContext) -> RunSource:
        app_id = context.app.id
        records = self.records_client

        async def page(after: int, before: int, page_number: int) -> dict:
            self._recorder.stats.request(Level.WORKFLOW_RUNS)
            return await records.workflow_app_logs(app_id, created_after=after, created_before=before, page=page_number)

        return LogRunSource(
            WORKFLOW_LOGS_SOURCE, page, self._detail_fetcher(app_id), records.supports_log_time_filters, app_id=app_id
        )

    def _cursor_source(self, context: AppContext) -> RunSource:
        app_id = context.app.id
        records = self.records_client

        async def page(last_id: str | None) -> dict:
            self._recorder.stats.request(Level.WORKFLOW_RUNS)
            return await records.advanced_chat_runs(app_id, last_id=last_id)

        return CursorRunSource(ADVANCED_CHAT_RUNS_SOURCE, page, self._detail_fetcher(app_id), app_id=app_id)

    def _detail_fetcher(self, app_id: str) -> Callable[[str], Awaitable[dict]]:
        records = self.records_client

        async def detail(run_id: str) -> dict:
            self._recorder.stats.request(Level.WORKFLOW_RUNS)
            return await records.workflow_run(app_id, run_id)

        return detail

    async def _runs(self, context: AppContext, source: RunSource, now: int) -> None:
        state = self._recorder.state
        assert state.started_at is not None
        cursor = state.cursor(context.app.id, source.name)
        window = Window.for_cursor(cursor, floor=state.started_at, overlap_s=self._options.overlap_s, now=now)
        await collect_runs(
            context,
            source,
            cursor,
            window,
            RequestBudget(self._options.max_pages),
            self._recorder,
            overlap_s=self._options.overlap_s,
        )

    async def _messages(self, context: AppContext, now: int, zone: ZoneInfo) -> None:
        state = self._recorder.state
        assert state.started_at is not None
        cursor = state.cursor(context.app.id, MESSAGES_SOURCE)
        window = Window.for_cursor(cursor, floor=state.started_at, overlap_s=self._options.overlap_s, now=now)

        on_run_id = None
        if (
            context.app.mode == AppMode.ADVANCED_CHAT.value
            and Level.LLM_USAGE in self._options.levels
            and not self.records_client.supports_run_filters()
        ):
            on_run_id = self._queue_message_run

        reader = MessageReader(
            self.records_client, context, cursor, self._recorder, overlap_s=self._options.overlap_s, on_run_id=on_run_id
        )
        await reader.collect(window, RequestBudget(self._options.max_pages), zone)

    def _queue_message_run(self, context: AppContext, message: MessageRecord) -> None:
        # The message does not tell whether its run has finished. By the end of
        # the overlap it almost always has, and a run still running is retried.
        assert message.workflow_run_id is not None
        self._recorder.queue_usage(
            context, message.workflow_run_id, None, ready_at=message.created_at + self._options.overlap_s
        )

    async def _message_zone(self, result: WorkspaceResult, contexts: Iterable[AppContext]) -> ZoneInfo | None:
        """Return the account time zone for this poll's message reads, or None when none is needed or known.

        Called once per poll, before any app is read, so that the apps share
        one zone and at most one profile request. A failed read is logged and
        counted once, and the message level then skips this poll.
        """
        if not any(self._reads_messages(context) for context in contexts):
            return None

        if result.timezone is not None:
            # The workspace poll has just read or confirmed it.
            self._zone = result.timezone
            self._zone_read_at = self._monotonic()
            return result.timezone

        try:
            return await self._account_zone()
        except DifyError as error:
            self._report(error, "record collection of messages skipped: no account time zone", result.workspace_id)
            return None

    async def _account_zone(self) -> ZoneInfo:
        """Return the cached account time zone, reading the profile when it is unknown or too old."""
        now = self._monotonic()
        if self._zone is None or now - self._zone_read_at >= TIMEZONE_REFRESH_S:
            profile = await self._client.get_profile()
            try:
                self._zone = ZoneInfo(profile.timezone)
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise InvalidResponseError(
                    f"account timezone {profile.timezone!r} is not a known IANA zone",
                    endpoint="/console/api/account/profile",
                ) from error
            self._zone_read_at = now
        return self._zone

    async def _guarded(self, context: AppContext, source: str, work: Awaitable[None]) -> None:
        try:
            await work
        except DifyError as error:
            self._report(error, f"record collection of {source} failed", context.workspace_id)
        except InvalidRecordError as error:
            wrapped = InvalidResponseError(
                str(error), endpoint=_SOURCE_ENDPOINTS.get(source), app_id=context.app.id, status=200
            )
            self._report(wrapped, f"record collection of {source} got an unexpected body", context.workspace_id)

    def _report(self, error: DifyError, message: str, workspace_id: str) -> None:
        self._on_error(workspace_id, error.error_type)
        level = logging.ERROR if isinstance(error, AuthenticationError) else logging.WARNING
        logger.log(level, "%s: %s", message, error.message, extra={"workspace_id": workspace_id, **error.log_context()})
