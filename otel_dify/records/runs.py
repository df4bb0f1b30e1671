"""Incremental reading of workflow runs: each run counted once, when it has finished.

Every poll reads the runs created from ``watermark - overlap`` (the window
start) up to now and skips ids already counted. Unfinished runs stay pending
until a later read shows them finished, and the watermark moves to the newest
run read. Two list shapes exist:

* :class:`LogRunSource` reads page-numbered workflow logs (console
  ``workflow-app-logs``, service API ``/v1/workflows/logs``). The window has
  an upper bound, so the pages stay put while they are read. When the window
  holds more pages than the budget of one poll, the oldest pages are read
  first, so that the watermark advances without leaving a gap.
* :class:`CursorRunSource` reads the ``last_id`` cursor list of advanced-chat
  runs, newest first. When the budget ends before the window start is
  reached, the rest is kept as a :class:`~otel_dify.records.state.Segment`
  and read in later polls.

Pending runs that drop out of the window are read one by one from the run
detail endpoint.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Awaitable, Callable, Iterable, Protocol

from otel_dify.dify.errors import HTTPStatusError, NotFoundError
from otel_dify.dify.records_client import RECORDS_PAGE_LIMIT
from otel_dify.records.models import RunPage, RunRecord
from otel_dify.records.parsing import parse_log_page, parse_run_item, parse_run_page
from otel_dify.records.recorder import AppContext, Recorder
from otel_dify.records.state import Cursor, PendingRun, Segment

logger = logging.getLogger(__name__)

#: Pending runs re-read one by one per app and poll, once the list no longer shows them.
PENDING_RECHECKS_PER_POLL = 10

#: A run still unfinished this long after it was first seen is given up. Paused
#: runs wait for human input, so the limit is generous.
PENDING_MAX_AGE_S = 7 * 86_400

#: Pending runs kept per app and source; beyond it the oldest is given up.
MAX_PENDING_RUNS = 1_000

#: Unread stretches of a cursor list kept per app; beyond it the oldest is given up.
MAX_SEGMENTS = 20


class RequestBudget:
    """The list pages one app and source may still request in this poll."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.remaining = limit

    @property
    def available(self) -> bool:
        return self.remaining > 0

    def spend(self) -> None:
        """Take one request from the budget; raises RuntimeError when none is left."""
        if self.remaining <= 0:
            raise RuntimeError("the request budget of this poll is spent")
        self.remaining -= 1


@dataclass(frozen=True)
class Window:
    """The time range of one poll's read, in Unix seconds.

    ``floor`` is when counting began; ``start`` is ``watermark - overlap``
    but never before ``floor``; ``upper`` is the poll's wall time.
    """

    floor: int
    start: int
    upper: int

    @classmethod
    def for_cursor(cls, cursor: Cursor, *, floor: int, overlap_s: int, now: int) -> "Window":
        return cls(floor=floor, start=max(floor, cursor.watermark - overlap_s), upper=now)


@dataclass
class ReadResult:
    """The runs a source read (already limited to the range each read accepts) and where to move the watermark.

    ``newest`` is None when the watermark must stay. ``segments`` replaces the
    cursor's segments when it is not None.
    """

    runs: list[RunRecord]
    newest: int | None
    segments: list[Segment] | None = field(default=None)


class RunSource(Protocol):
    """A list of finished and unfinished runs of one app, and the run detail to re-read pending runs."""

    name: str

    async def read(self, cursor: Cursor, window: Window, budget: RequestBudget) -> ReadResult: ...

    async def detail(self, run_id: str) -> RunRecord: ...


LogPageFetcher = Callable[[int, int, int], Awaitable[dict]]
CursorPageFetcher = Callable[[str | None], Awaitable[dict]]
DetailFetcher = Callable[[str], Awaitable[dict]]


def _newest(runs: list[RunRecord]) -> int | None:
    return max((run.created_at for run in runs), default=None)


class LogRunSource:
    """Runs from a page-numbered workflow log list, newest first.

    ``fetch_page(created_after, created_before, page)`` returns one page body.
    ``time_filters()`` returns whether the server applies the ``created_at``
    filters (Dify 1.0.1 and later); without them the pages shift while new
    runs arrive, so the source reads newest first and stops at the window
    start, and a backlog beyond the page budget is skipped with a warning.
    """

    def __init__(
        self,
        name: str,
        fetch_page: LogPageFetcher,
        fetch_detail: DetailFetcher,
        time_filters: Callable[[], bool],
        *,
        app_id: str,
    ) -> None:
        self.name = name
        self._fetch_page = fetch_page
        self._fetch_detail = fetch_detail
        self._time_filters = time_filters
        self._app_id = app_id

    async def detail(self, run_id: str) -> RunRecord:
        return parse_run_item(await self._fetch_detail(run_id))

    async def read(self, cursor: Cursor, window: Window, budget: RequestBudget) -> ReadResult:
        first = await self._page(window.start, window.upper, 1, budget)
        if not first.has_more:
            runs = self._within(first.runs, window.start, window.upper)
            return ReadResult(runs, _newest(runs))

        if not self._time_filters() or first.total is None:
            return await self._newest_first(first, window, budget)

        pages = math.ceil(first.total / RECORDS_PAGE_LIMIT)
        if pages - 1 <= budget.remaining:
            rest = await self._pages_from(2, window.start, window.upper, budget)
            runs = self._within([*first.runs, *rest], window.start, window.upper)
            return ReadResult(runs, _newest(runs))

        return await self._catch_up(cursor, window, budget)

    async def _catch_up(self, cursor: Cursor, window: Window, budget: RequestBudget) -> ReadResult:
        """Read the oldest pages after the watermark, leaving out the overlap.

        The overlap holds only runs counted already, so re-reading it first
        could spend the whole budget without progress. Runs that arrive late
        inside the overlap are therefore not seen while catching up.
        """
        after = max(window.floor, cursor.watermark)
        if not budget.available:
            return ReadResult([], None)

        head = await self._page(after, window.upper, 1, budget)
        if not head.has_more or head.total is None:
            runs = self._within(head.runs, after, window.upper)
            return ReadResult(runs, _newest(runs))

        pages = math.ceil(head.total / RECORDS_PAGE_LIMIT)
        if pages - 1 <= budget.remaining:
            rest = await self._pages_from(2, after, window.upper, budget)
            runs = self._within([*head.runs, *rest], after, window.upper)
            return ReadResult(runs, _newest(runs))

        first_page = pages - budget.remaining + 1
        oldest: list[RunRecord] = []
        tail_complete = True
        for page_number in range(first_page, pages + 1):
            page = await self._page(after, window.upper, page_number, budget)
            oldest.extend(page.runs)
            tail_complete = not page.has_more

        oldest = self._within(oldest, after, window.upper)
        logger.info(
            "more runs than one poll's page budget; reading the oldest first",
            extra={"app_id": self._app_id, "source": self.name, "runs_in_window": head.total, "runs_read": len(oldest)},
        )
        # Runs committed meanwhile shift the pages; then the oldest ones were
        # not read, and the watermark stays until a later poll reads them.
        return ReadResult(oldest, _newest(oldest) if tail_complete else None)

    async def _newest_first(self, first: RunPage, window: Window, budget: RequestBudget) -> ReadResult:
        runs = list(first.runs)
        page, page_number = first, 1
        while page.has_more and page.runs and min(run.created_at for run in page.runs) >= window.start:
            if not budget.available:
                # NOTE: without working time filters the pages cannot be read
                # oldest first, so the older runs of a long window are lost.
                logger.warning(
                    "stopped at the page budget; older runs of this window are skipped",
                    extra={"app_id": self._app_id, "source": self.name, "pages": page_number},
                )
                break
            page_number += 1
            page = await self._page(window.start, window.upper, page_number, budget)
            runs.extend(page.runs)
        runs = self._within(runs, window.start, window.upper)
        return ReadResult(runs, _newest(runs))

    async def _pages_from(self, first_page: int, after: int, before: int, budget: RequestBudget) -> list[RunRecord]:
        runs: list[RunRecord] = []
        page_number = first_page
        while budget.available:
            page = await self._page(after, before, page_number, budget)
            runs.extend(page.runs)
            if not page.has_more or not page.runs:
                break
            page_number += 1
        return runs

    async def _page(self, after: int, before: int, page_number: int, budget: RequestBudget) -> RunPage:
        budget.spend()
        return parse_log_page(await self._fetch_page(after, before, page_number))

    @staticmethod
    def _within(runs: Iterable[RunRecord], lower: int, upper: int) -> list[RunRecord]:
        # Filter here too, because servers before Dify 1.0.1 ignore the time filters.
        return [run for run in runs if lower <= run.created_at <= upper]


class CursorRunSource:
    """Runs from a ``last_id`` cursor list, newest first, with unread stretches kept as segments.

    ``fetch_page(last_id)`` returns one page body; None requests the newest runs.
    """

    def __init__(self, name: str, fetch_page: CursorPageFetcher, fetch_detail: DetailFetcher, *, app_id: str) -> None:
        self.name = name
        self._fetch_page = fetch_page
        self._fetch_detail = fetch_detail
        self._app_id = app_id

    async def detail(self, run_id: str) -> RunRecord:
        return parse_run_item(await self._fetch_detail(run_id))

    async def read(self, cursor: Cursor, window: Window, budget: RequestBudget) -> ReadResult:
        """Read new runs first, then unread segments, then the overlap with what budget is left.

        New runs (not older than the watermark) come first; when the budget
        ends before the watermark is reached, the rest becomes a segment.
        Segments come next. The overlap below the watermark is re-read only
        with the budget left after both.
        """
        head: list[RunRecord] = []
        head_scan = await self._scan(None, cursor.watermark, budget, head, accept_from=window.start)
        segments = [replace(segment) for segment in cursor.segments]

        if not head_scan.done and head_scan.last_id is not None:
            segments.insert(0, Segment(last_id=head_scan.last_id, stop_before=cursor.watermark))
            logger.info(
                "more runs than one poll's page budget; the rest is read in later polls",
                extra={"app_id": self._app_id, "source": self.name, "segments": len(segments)},
            )
            if len(segments) > MAX_SEGMENTS:
                given_up = segments.pop()
                logger.warning(
                    "too many unread stretches of runs; the oldest is skipped",
                    extra={"app_id": self._app_id, "source": self.name, "stop_before": given_up.stop_before},
                )

        older: list[RunRecord] = []
        for segment in list(segments):
            if not budget.available:
                break
            try:
                scan = await self._scan(segment.last_id, segment.stop_before, budget, older)
            except HTTPStatusError as error:
                if error.status != 400:
                    raise
                # Dify returns 400 for a last_id that no longer exists (a deleted run).
                logger.warning(
                    "an unread stretch of runs starts at a run that no longer exists; it is skipped",
                    extra={"app_id": self._app_id, "source": self.name, "stop_before": segment.stop_before},
                )
                segments.remove(segment)
                continue
            if scan.done or scan.last_id is None:
                segments.remove(segment)
            else:
                segment.last_id = scan.last_id

        overlap: list[RunRecord] = []
        more_overlap = (
            head_scan.last_id is not None and head_scan.oldest is not None and head_scan.oldest >= window.start
        )
        if head_scan.done and more_overlap and budget.available:
            # NOTE: the overlap is re-read only with budget to spare, so runs
            # that Dify commits late can be missed while a burst drains.
            await self._scan(head_scan.last_id, window.start, budget, overlap)

        newest = _newest([run for run in head if run.created_at >= cursor.watermark])
        return ReadResult(head + older + overlap, newest, segments)

    async def _scan(
        self,
        last_id: str | None,
        stop_before: int,
        budget: RequestBudget,
        out: list[RunRecord],
        *,
        accept_from: int | None = None,
    ) -> "_Scan":
        """Read pages after ``last_id`` until one reaches a run older than ``stop_before`` or the list ends.

        Runs not older than ``accept_from`` (default ``stop_before``) go to ``out``.
        """
        accept = stop_before if accept_from is None else accept_from
        while budget.available:
            budget.spend()
            page = parse_run_page(await self._fetch_page(last_id))
            out.extend(run for run in page.runs if run.created_at >= accept)
            if not page.runs or not page.has_more:
                return _Scan(done=True, last_id=None, oldest=None)
            last_id = page.runs[-1].id
            oldest = page.runs[-1].created_at
            if oldest < stop_before:
                return _Scan(done=True, last_id=last_id, oldest=oldest)
        return _Scan(done=False, last_id=last_id, oldest=None)


@dataclass(frozen=True)
class _Scan:
    """The end of a cursor scan.

    ``done`` is False when the budget ran out. ``last_id`` and ``oldest`` name
    the oldest run of the last page read, when the scan stopped before the list's end.
    """

    done: bool
    last_id: str | None
    oldest: int | None


async def collect_runs(
    context: AppContext,
    source: RunSource,
    cursor: Cursor,
    window: Window,
    budget: RequestBudget,
    recorder: Recorder,
    *,
    overlap_s: int,
    queue_usage: bool = True,
) -> None:
    """Read one app's runs for this poll and count those that finished.

    DifyError from a list request propagates, and the cursor then stays as
    it was, except for pending runs re-read and counted before it.
    """
    await _recheck_pending(context, source, cursor, window, recorder, queue_usage=queue_usage)
    result = await source.read(cursor, window, budget)

    for run in result.runs:
        _accept(context, cursor, run, recorder, now=window.upper, queue_usage=queue_usage)
    if result.segments is not None:
        cursor.segments = result.segments
    if result.newest is not None and result.newest > cursor.watermark:
        cursor.watermark = result.newest

    _bound_pending(context, cursor)
    next_start = max(window.floor, cursor.watermark - overlap_s)
    cursor.seen.prune_older_than(min([next_start, *(segment.stop_before for segment in cursor.segments)]))


def _accept(
    context: AppContext, cursor: Cursor, run: RunRecord, recorder: Recorder, *, now: int, queue_usage: bool
) -> None:
    if run.id in cursor.seen:
        return

    pending = cursor.pending_runs.get(run.id)
    if not run.final:
        if pending is None:
            cursor.pending_runs[run.id] = PendingRun(run=run, first_seen=now)
        else:
            pending.run = _merge(pending.run, run)
        return

    counted = run if pending is None else _merge(pending.run, run)
    cursor.pending_runs.pop(run.id, None)
    recorder.count_run(context, counted, queue_usage=queue_usage)
    cursor.seen.add(run.id, counted.created_at)


def _merge(known: RunRecord, fresh: RunRecord) -> RunRecord:
    """Take status, tokens and time from ``fresh``; keep what only the first read knew."""
    return RunRecord(
        id=known.id,
        created_at=known.created_at,
        status=fresh.status,
        elapsed_s=fresh.elapsed_s if fresh.elapsed_s is not None else known.elapsed_s,
        total_tokens=fresh.total_tokens if fresh.total_tokens is not None else known.total_tokens,
        created_from=known.created_from or fresh.created_from,
        end_user=known.end_user or fresh.end_user,
    )


async def _recheck_pending(
    context: AppContext, source: RunSource, cursor: Cursor, window: Window, recorder: Recorder, *, queue_usage: bool
) -> None:
    """Re-read pending runs that the list no longer shows, oldest first, a few per poll."""
    checked = 0
    for pending in sorted(cursor.pending_runs.values(), key=lambda item: item.run.created_at):
        if window.upper - pending.first_seen > PENDING_MAX_AGE_S:
            logger.warning(
                "a workflow run stayed unfinished too long; it will not be counted",
                extra={"app_id": context.app.id, "run_id": pending.run.id, "status": pending.run.status},
            )
            _give_up(cursor, pending)
            continue
        if pending.run.created_at >= window.start:
            # The list read of this poll shows it.
            continue
        if checked >= PENDING_RECHECKS_PER_POLL:
            break

        checked += 1
        try:
            fresh = await source.detail(pending.run.id)
        except NotFoundError:
            logger.warning(
                "a pending workflow run no longer exists; it will not be counted",
                extra={"app_id": context.app.id, "run_id": pending.run.id},
            )
            _give_up(cursor, pending)
            continue

        if fresh.final:
            _accept(context, cursor, fresh, recorder, now=window.upper, queue_usage=queue_usage)
        else:
            pending.rechecks += 1
            pending.run = _merge(pending.run, fresh)


def _bound_pending(context: AppContext, cursor: Cursor) -> None:
    while len(cursor.pending_runs) > MAX_PENDING_RUNS:
        oldest = min(cursor.pending_runs.values(), key=lambda item: item.run.created_at)
        logger.warning(
            "too many unfinished workflow runs; the oldest will not be counted",
            extra={"app_id": context.app.id, "run_id": oldest.run.id},
        )
        _give_up(cursor, oldest)


def _give_up(cursor: Cursor, pending: PendingRun) -> None:
    # Marked as seen, so that a later read neither keeps it pending nor counts it.
    del cursor.pending_runs[pending.run.id]
    cursor.seen.add(pending.run.id, pending.run.created_at)
