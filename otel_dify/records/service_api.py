"""The service-API-only mode: app API keys instead of a console login.

With only app keys the exporter reads what each key's app exposes without a
``user`` parameter: ``GET /v1/info`` (name and mode) and, for workflow apps,
``GET /v1/workflows/logs`` (runs with status, tokens and duration) and
``GET /v1/workflows/run/{id}`` (to re-read a run that was unfinished). It
sees no cost, no models, no chat records and no statistics.

:class:`ServiceApiCollector` stands in for a workspace collector in the poll
loop: it "lists" one app per key. :class:`ServiceRecordsCollector` then reads
the runs of the workflow apps among them.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import partial
from typing import Awaitable, Callable, Iterable, Iterator, Sequence

from otel_dify.collect.workspace import AppFigures, WorkspaceResult
from otel_dify.concurrency import gather_bounded, pool_size
from otel_dify.dify.errors import AuthenticationError, DifyError, InvalidResponseError
from otel_dify.dify.models import App, AppMode
from otel_dify.dify.records_client import SERVICE_INFO_ENDPOINT, SERVICE_WORKFLOW_LOGS_ENDPOINT, ServiceApiClient
from otel_dify.records.collector import ErrorSink, RecordOptions
from otel_dify.records.levels import Level
from otel_dify.records.parsing import InvalidRecordError, parse_service_info
from otel_dify.records.recorder import AppContext, Recorder
from otel_dify.records.runs import LogRunSource, RequestBudget, Window, collect_runs

logger = logging.getLogger(__name__)

#: Collector key of the service-API mode.
SERVICE_API_KEY = "service-api"

#: Source name of the service API's workflow logs in the record state.
SERVICE_LOGS_SOURCE = "service_workflow_logs"

#: How long the name and mode of an app are trusted before ``/v1/info`` is read again, in seconds.
INFO_REFRESH_S = 3600.0


class ServiceApiCollector:
    """Lists the apps of the configured app keys, as a workspace poll lists a workspace's apps.

    The result has an empty workspace id, because an app key reveals no
    workspace. Never raises for a Dify failure: an app whose ``/v1/info``
    fails keeps its previous name and mode, or is left out until one succeeds.
    ``max_concurrency`` is the transport's request slots
    (OTEL_DIFY_MAX_CONCURRENCY) and sizes the pool of workers that read keys.
    """

    def __init__(
        self,
        clients: Sequence[ServiceApiClient],
        *,
        on_error: ErrorSink,
        monotonic: Callable[[], float] = time.monotonic,
        max_concurrency: int = 4,
    ) -> None:
        self.clients = list(clients)
        self._on_error = on_error
        self._monotonic = monotonic
        self._workers = pool_size(max_concurrency)
        self._apps: dict[str, App] = {}
        self._read_at: dict[str, float] = {}

    @property
    def workers(self) -> int:
        """Number of worker coroutines that read the keys' ``/v1/info`` in one poll."""
        return self._workers

    @property
    def workspace_id(self) -> str | None:
        return ""

    async def poll(self, now_utc: datetime) -> WorkspaceResult:
        """Read ``/v1/info`` of the keys whose app is unknown or older than an hour; never raises."""
        outcomes = await gather_bounded(
            (partial(self._refresh, client) for client in self.clients), workers=self._workers
        )
        errors = sum(1 for ok in outcomes if not ok)
        apps = tuple(
            AppFigures(app=self._apps[client.app_id]) for client in self.clients if client.app_id in self._apps
        )
        return WorkspaceResult(
            workspace_id="",
            workspace_name=None,
            apps=apps,
            errors=errors,
            succeeded=errors == 0,
            reason=f"{errors} app keys failed" if errors else None,
        )

    async def _refresh(self, client: ServiceApiClient) -> bool:
        now = self._monotonic()
        if client.app_id in self._apps and now - self._read_at.get(client.app_id, float("-inf")) < INFO_REFRESH_S:
            return True
        try:
            info = parse_service_info(await client.info())
        except DifyError as error:
            _report(self._on_error, error, "reading the app of an API key failed")
            return False
        except InvalidRecordError as error:
            wrapped = InvalidResponseError(str(error), endpoint=SERVICE_INFO_ENDPOINT, app_id=client.app_id, status=200)
            _report(self._on_error, wrapped, "the app of an API key has an unexpected body")
            return False

        app = App(id=client.app_id, name=info.name, mode=info.mode)
        if self._apps.get(client.app_id) != app:
            logger.info("app of an API key found", extra={"app_id": app.id, "app_mode": app.mode})
        self._apps[client.app_id] = app
        self._read_at[client.app_id] = now
        return True


class ServiceRecordsCollector:
    """Reads the workflow runs of the key apps that :class:`ServiceApiCollector` listed."""

    def __init__(
        self,
        key: str,
        clients: Sequence[ServiceApiClient],
        recorder: Recorder,
        options: RecordOptions,
        *,
        on_error: ErrorSink,
    ) -> None:
        self.key = key
        self._clients = {client.app_id: client for client in clients}
        self._recorder = recorder
        self._options = options
        self._on_error = on_error
        self._skip_logged: set[str] = set()

    async def poll(self, result: WorkspaceResult, now: int) -> dict[str, AppContext]:
        contexts = {figures.app.id: AppContext(self.key, "", "", figures.app) for figures in result.apps}
        if Level.WORKFLOW_RUNS not in self._options.levels:
            return contexts

        await gather_bounded(self._jobs(contexts.values(), now), workers=pool_size(self._options.max_concurrency))
        return contexts

    def _jobs(self, contexts: Iterable[AppContext], now: int) -> Iterator[Callable[[], Awaitable[None]]]:
        """Yield one run-reading job per workflow app that has a key, in the order of ``contexts``."""
        for context in contexts:
            client = self._clients.get(context.app.id)
            if client is None:
                continue
            if context.app.mode != AppMode.WORKFLOW.value:
                self._log_skip_once(context)
                continue
            yield partial(self._run_job, context, client, now)

    async def _run_job(self, context: AppContext, client: ServiceApiClient, now: int) -> None:
        await self._guarded(context, self._runs(context, client, now))

    def _log_skip_once(self, context: AppContext) -> None:
        if context.app.id in self._skip_logged:
            return
        self._skip_logged.add(context.app.id)
        logger.info(
            "the service API shows no records of this app mode; only workflow apps have run logs",
            extra={"app_id": context.app.id, "app_mode": context.app.mode},
        )

    async def _runs(self, context: AppContext, client: ServiceApiClient, now: int) -> None:
        state = self._recorder.state
        assert state.started_at is not None
        stats = self._recorder.stats

        async def page(after: int, before: int, page_number: int) -> dict:
            stats.request(Level.WORKFLOW_RUNS)
            return await client.workflow_logs(created_after=after, created_before=before, page=page_number)

        async def detail(run_id: str) -> dict:
            stats.request(Level.WORKFLOW_RUNS)
            return await client.workflow_run(run_id)

        source = LogRunSource(
            SERVICE_LOGS_SOURCE, page, detail, client.supports_log_time_filters, app_id=context.app.id
        )
        cursor = state.cursor(context.app.id, SERVICE_LOGS_SOURCE)
        window = Window.for_cursor(cursor, floor=state.started_at, overlap_s=self._options.overlap_s, now=now)
        await collect_runs(
            context,
            source,
            cursor,
            window,
            RequestBudget(self._options.max_pages),
            self._recorder,
            overlap_s=self._options.overlap_s,
            queue_usage=False,
        )

    async def _guarded(self, context: AppContext, work: Awaitable[None]) -> None:
        try:
            await work
        except DifyError as error:
            _report(self._on_error, error, "reading workflow logs with an API key failed")
        except InvalidRecordError as error:
            wrapped = InvalidResponseError(
                str(error), endpoint=SERVICE_WORKFLOW_LOGS_ENDPOINT, app_id=context.app.id, status=200
            )
            _report(self._on_error, wrapped, "workflow logs of an API key have an unexpected body")


def _report(on_error: ErrorSink, error: DifyError, message: str) -> None:
    on_error("", error.error_type)
    level = logging.ERROR if isinstance(error, AuthenticationError) else logging.WARNING
    logger.log(level, "%s: %s", message, error.message, extra=error.log_context())
