"""One poll of one workspace: discover apps, read the timezone, fetch statistics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Awaitable, Callable, Iterator, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_dify.collect.app_filter import AppFilter
from otel_dify.collect.sources import (
    ZERO_WHEN_ABSENT,
    Family,
    InvalidRowError,
    Shape,
    StatisticSource,
    sources_for,
)
from otel_dify.collect.totals import MonotonicGuard, ValueKey, add_sums, sum_rows, today_values
from otel_dify.collect.windows import HistoryCut, history_cut, local_today, midnight
from otel_dify.concurrency import gather_bounded, pool_size
from otel_dify.dify.errors import AuthenticationError, DifyError, InvalidResponseError
from otel_dify.dify.models import App, Profile, Workspace

logger = logging.getLogger(__name__)

#: How long the account timezone and the workspace name are trusted before they are read again.
PROFILE_REFRESH_S = 3600.0


class StatisticsClient(Protocol):
    """The calls of :class:`otel_dify.dify.client.DifyClient` that collection uses."""

    async def login(self) -> None: ...

    async def get_profile(self) -> Profile: ...

    async def get_workspace(self) -> Workspace: ...

    async def list_apps(self) -> list[App]: ...

    async def get_app_statistic(
        self, app_id: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]: ...

    async def get_workflow_statistic(
        self, app_id: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]: ...


#: Called with (workspace id or "", error type) for every error the collector handles.
ErrorSink = Callable[[str, str], None]


@dataclass
class _History:
    """The summed history window of one source of one app."""

    cut: HistoryCut
    sums: dict[ValueKey, Decimal]
    fetched_at: float


@dataclass
class AppFigures:
    """The latest known values of one app, kept across polls.

    A source that fails in a poll keeps its previous values, so one failed
    request never blanks figures gathered earlier.
    """

    app: App
    values: dict[ValueKey, Decimal] = field(default_factory=dict)
    history: dict[str, _History] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkspaceResult:
    """The outcome of one poll of one workspace.

    ``timezone`` is the account timezone this poll used for its days, or None
    when the poll failed before it had a valid one. Record collection reuses
    it, so a poll reads the account profile only once.
    """

    workspace_id: str
    workspace_name: str | None
    apps: tuple[AppFigures, ...]
    errors: int
    succeeded: bool
    reason: str | None = None
    timezone: ZoneInfo | None = None


@dataclass(frozen=True)
class CollectionOptions:
    """Collection settings that do not change while the process runs."""

    enabled_metrics: frozenset[str]
    app_filter: AppFilter = AppFilter()
    history_refresh_s: float = 3600.0
    count_from: date | None = None
    #: The transport's request slots (OTEL_DIFY_MAX_CONCURRENCY, default 4), which size the worker pool.
    max_concurrency: int = 4


class WorkspaceCollector:
    """Polls the statistics of one workspace and keeps its figures between polls.

    ``workspace_id`` is the admin-key workspace, or None for a console login,
    whose workspace is the account's current one and is known after the first
    poll. Not safe for concurrent :meth:`poll` calls; the runtime polls each
    workspace once at a time.
    """

    def __init__(
        self,
        client: StatisticsClient,
        options: CollectionOptions,
        *,
        workspace_id: str | None = None,
        on_error: ErrorSink = lambda workspace_id, error_type: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._options = options
        self._workspace = Workspace(id=workspace_id, name="") if workspace_id else None
        self._on_error = on_error
        self._monotonic = monotonic
        self._profile: Profile | None = None
        self._profile_read_at = float("-inf")
        self._apps: dict[str, AppFigures] = {}
        self._guard = MonotonicGuard()

    @property
    def workspace_id(self) -> str | None:
        return self._workspace.id if self._workspace else None

    async def poll(self, now_utc: datetime) -> WorkspaceResult:
        """Run one poll. Never raises for a Dify failure: the result says what failed."""
        timezone: ZoneInfo | None = None
        try:
            await self._client.login()
            timezone = await self._refresh_context()
            apps = await self._client.list_apps()
        except DifyError as error:
            self._report(error, "poll of the workspace failed")
            return self._result(
                errors=1, succeeded=False, reason=f"{error.error_type}: {error.message}", timezone=timezone
            )

        self._update_apps(apps)
        cut = history_cut(now_utc, timezone)
        today = local_today(now_utc, timezone)

        outcomes = await gather_bounded(
            self._source_jobs(cut, today), workers=pool_size(self._options.max_concurrency)
        )
        errors = sum(1 for ok in outcomes if not ok)

        reason = f"{errors} statistics requests failed" if errors else None
        return self._result(errors=errors, succeeded=errors == 0, reason=reason, timezone=timezone)

    def _source_jobs(self, cut: HistoryCut, today: date) -> Iterator[Callable[[], Awaitable[bool]]]:
        """Yield one job per app and source, app by app in listing order, sources in catalog order."""
        for figures in tuple(self._apps.values()):
            for source in sources_for(figures.app.mode, self._options.enabled_metrics):
                yield partial(self._collect_source, figures, source, cut, today)

    def _result(
        self, *, errors: int, succeeded: bool, reason: str | None, timezone: ZoneInfo | None
    ) -> WorkspaceResult:
        return WorkspaceResult(
            workspace_id=self.workspace_id or "",
            workspace_name=self._workspace.name if self._workspace else None,
            apps=tuple(self._apps.values()),
            errors=errors,
            succeeded=succeeded,
            reason=reason,
            timezone=timezone,
        )

    async def _refresh_context(self) -> ZoneInfo:
        """Read the account timezone and the workspace name when they are unknown or older than an hour."""
        now = self._monotonic()
        if self._profile is None or now - self._profile_read_at >= PROFILE_REFRESH_S:
            profile = await self._client.get_profile()
            workspace = await self._client.get_workspace()
            if self._profile is not None and profile.timezone != self._profile.timezone:
                logger.info(
                    "account timezone changed; statistics history will be read again",
                    extra={
                        "workspace_id": workspace.id,
                        "previous": self._profile.timezone,
                        "timezone": profile.timezone,
                    },
                )
            self._profile = profile
            self._workspace = workspace
            self._profile_read_at = now

        try:
            return ZoneInfo(self._profile.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise InvalidResponseError(
                f"account timezone {self._profile.timezone!r} is not a known IANA zone",
                endpoint="/console/api/account/profile",
            ) from error

    def _update_apps(self, apps: list[App]) -> None:
        selected = {app.id: app for app in apps if self._options.app_filter.accepts(app)}

        for app_id in [app_id for app_id in self._apps if app_id not in selected]:
            logger.info(
                "app no longer listed; its metrics stop", extra={"app_id": app_id, "workspace_id": self.workspace_id}
            )
            del self._apps[app_id]
            self._guard.forget(app_id)

        for app_id, app in selected.items():
            known = self._apps.get(app_id)
            if known is None:
                logger.info(
                    "app discovered",
                    extra={"app_id": app_id, "app_mode": app.mode, "workspace_id": self.workspace_id},
                )
                self._apps[app_id] = AppFigures(app=app)
            elif known.app != app:
                # A rename or a mode change keeps the figures; only the labels change.
                known.app = app

    async def _collect_source(self, figures: AppFigures, source: StatisticSource, cut: HistoryCut, today: date) -> bool:
        """Fetch one source of one app and store its values; return False when it failed."""
        app_id = figures.app.id
        try:
            if source.shape is Shape.TOTAL:
                values = await self._total(figures, source, cut)
            else:
                rows = await self._fetch(source, app_id, start=midnight(today), end=None)
                values = today_values(source, rows, today, ZERO_WHEN_ABSENT)
        except DifyError as error:
            self._report(error, "statistics request failed")
            return False
        except InvalidRowError as error:
            wrapped = InvalidResponseError(str(error), endpoint=source.endpoint, app_id=app_id, status=200)
            self._report(wrapped, "statistics response has an unexpected shape")
            return False

        if values is None:
            return True
        if source.shape is Shape.TOTAL:
            values = self._guard.apply(app_id, values)
        for metric in source.metrics:
            for key in [key for key in figures.values if key[0] == metric]:
                del figures.values[key]
        figures.values.update(values)
        return True

    async def _total(
        self, figures: AppFigures, source: StatisticSource, cut: HistoryCut
    ) -> dict[ValueKey, Decimal] | None:
        """Return history plus trailing sums, reading the history again when it is due."""
        key = f"{source.family.value}/{source.name}"
        history = figures.history.get(key)
        now = self._monotonic()
        due = (
            history is None
            or history.cut.timezone != cut.timezone
            or now - history.fetched_at >= self._options.history_refresh_s
        )

        if due:
            history = await self._read_history(source, figures.app.id, cut, now)
            figures.history[key] = history

        assert history is not None
        trailing_start = history.cut.end_day
        if self._options.count_from is not None and self._options.count_from > trailing_start:
            trailing_start = self._options.count_from
        rows = await self._fetch(source, figures.app.id, start=midnight(trailing_start), end=None)
        return add_sums(history.sums, sum_rows(source, rows))

    async def _read_history(self, source: StatisticSource, app_id: str, cut: HistoryCut, now: float) -> _History:
        count_from = self._options.count_from
        if count_from is not None and count_from >= cut.end_day:
            return _History(cut=cut, sums=sum_rows(source, []), fetched_at=now)

        start = midnight(count_from) if count_from is not None else None
        rows = await self._fetch(source, app_id, start=start, end=cut.end)
        return _History(cut=cut, sums=sum_rows(source, rows), fetched_at=now)

    async def _fetch(
        self, source: StatisticSource, app_id: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]:
        if source.family is Family.APP:
            return await self._client.get_app_statistic(app_id, source.name, start=start, end=end)
        return await self._client.get_workflow_statistic(app_id, source.name, start=start, end=end)

    def _report(self, error: DifyError, message: str) -> None:
        self._on_error(self.workspace_id or "", error.error_type)
        level = logging.ERROR if isinstance(error, AuthenticationError) else logging.WARNING
        logger.log(
            level,
            "%s: %s",
            message,
            error.message,
            extra={"workspace_id": self.workspace_id, **error.log_context()},
        )
