"""Local-time windows for Dify's statistics endpoints.

Dify parses a statistics request's ``start`` and ``end`` as ``YYYY-MM-DD HH:MM``
in the account's timezone (start inclusive, end exclusive) and groups the rows
by local date in that zone. Totals are therefore built from two windows that
meet at a local midnight: a history window that ends at the midnight starting
yesterday, and a trailing window from that midnight to now with no ``end``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DIFY_TIME_FORMAT = "%Y-%m-%d %H:%M"


def format_dify_time(local: datetime) -> str:
    """Format a local wall-clock time the one way Dify's statistics accept it."""
    return local.strftime(DIFY_TIME_FORMAT)


def local_today(now_utc: datetime, timezone: ZoneInfo) -> date:
    """Return the calendar date of ``now_utc`` in ``timezone``."""
    return now_utc.astimezone(timezone).date()


@functools.lru_cache(maxsize=16)
def midnight(day: date) -> str:
    """Return the Dify time string of local midnight at the start of ``day``.

    Cached, because each poll formats the same one or two days once per
    statistics request.
    """
    return format_dify_time(datetime.combine(day, time(0, 0)))


@dataclass(frozen=True)
class HistoryCut:
    """Boundary between the history window and the trailing window.

    ``end_day`` is the local date whose midnight closes the history window: the
    history covers ``[count_from, end_day 00:00)`` and the trailing window
    ``[end_day 00:00, now]``. ``timezone`` is the account timezone the strings
    were made for; a change of timezone invalidates the cut.
    """

    end_day: date
    timezone: str

    @property
    def end(self) -> str:
        return midnight(self.end_day)


def history_cut(now_utc: datetime, timezone: ZoneInfo) -> HistoryCut:
    """Return the cut at the local midnight that starts yesterday.

    Yesterday stays in the trailing window because Dify fills a message's
    tokens and price only when its answer finishes, so rows of the last hours
    before midnight can still change after it.
    """
    yesterday = local_today(now_utc, timezone) - timedelta(days=1)
    return HistoryCut(end_day=yesterday, timezone=timezone.key)
