"""Daily rows to values: sums over a window, today's row, and the monotonic guard."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any, Iterable, Mapping

from otel_dify.collect.sources import InvalidRowError, StatisticSource

logger = logging.getLogger(__name__)

#: (metric name, currency or None): a currency is set only for cost metrics.
ValueKey = tuple[str, str | None]


def _row_date(row: Mapping[str, Any]) -> date:
    value = row.get("date")
    if not isinstance(value, str):
        raise InvalidRowError(f"field 'date' is {value!r}, expected YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidRowError(f"field 'date' is {value!r}, expected YYYY-MM-DD") from error


def sum_rows(source: StatisticSource, rows: Iterable[Mapping[str, Any]]) -> dict[ValueKey, Decimal]:
    """Add up every row of a summable source.

    Every metric of the source gets a value, zero when there are no rows, so
    that an app without traffic still reports a total. Cost is keyed by
    currency and never added across currencies.

    Raises:
        InvalidRowError: a row lacks a field or has a value of the wrong type.
    """
    sums: dict[ValueKey, Decimal] = {}
    for row in rows:
        _row_date(row)
        for metric, currency, value in source.read_row(row):
            key = (metric, currency)
            sums[key] = sums.get(key, Decimal(0)) + value

    for metric in source.metrics:
        if not any(key[0] == metric for key in sums):
            # Dify's token-costs rows always carry "USD", and without rows there is no currency to name.
            sums[(metric, "USD" if metric == "dify.app.cost" else None)] = Decimal(0)
    return sums


def add_sums(left: Mapping[ValueKey, Decimal], right: Mapping[ValueKey, Decimal]) -> dict[ValueKey, Decimal]:
    """Return the key-wise sum of two sets of sums."""
    total = dict(left)
    for key, value in right.items():
        total[key] = total.get(key, Decimal(0)) + value
    return total


def today_values(
    source: StatisticSource, rows: Iterable[Mapping[str, Any]], today: date, zero_when_absent: frozenset[str]
) -> dict[ValueKey, Decimal]:
    """Return the values of the row dated ``today``.

    A metric in ``zero_when_absent`` reads 0 when Dify left today out (Dify
    omits days without data); other metrics, such as averages, get no value.
    """
    values: dict[ValueKey, Decimal] = {}
    for row in rows:
        if _row_date(row) != today:
            continue
        for metric, currency, value in source.read_row(row):
            values[(metric, currency)] = value

    for metric in source.metrics:
        if metric in zero_when_absent and (metric, None) not in values:
            values[(metric, None)] = Decimal(0)
    return values


class MonotonicGuard:
    """Keeps reported totals from going down within one process.

    Dify can delete old records (workflow log retention, message clean-up on
    some plans), so a total recomputed from its history may shrink. Counters
    must not: the guard reports the larger of the new and the last value and
    logs the shrink.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str | None], Decimal] = {}

    def apply(self, app_id: str, values: Mapping[ValueKey, Decimal]) -> dict[ValueKey, Decimal]:
        guarded: dict[ValueKey, Decimal] = {}
        for (metric, currency), value in values.items():
            key = (app_id, metric, currency)
            last = self._last.get(key)
            if last is not None and value < last:
                logger.warning(
                    "Dify reported a smaller total than before; keeping the previous total",
                    extra={"app_id": app_id, "metric": metric, "previous": str(last), "reported": str(value)},
                )
                value = last
            self._last[key] = value
            guarded[(metric, currency)] = value
        return guarded

    def forget(self, app_id: str) -> None:
        """Drop the totals of a deleted app."""
        for key in [key for key in self._last if key[0] == app_id]:
            del self._last[key]
