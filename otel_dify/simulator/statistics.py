"""Dify's console statistics, computed from the simulator's records.

Each function mirrors the SQL of one endpoint under
``/console/api/apps/<id>/statistics/`` or ``.../workflow/statistics/``.
Rows are grouped by the local date of ``created_at`` in the account's
timezone, and a day without rows is absent (never zero-filled). Rows are
sorted by date except for ``average-app-interactions``, whose SQL has no
ORDER BY. Only records created at or before the simulator clock's ``now``
count, because later ones do not exist yet from the client's point of view.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from otel_dify.dify.models import AppMode
from otel_dify.simulator.records import APP_RUN, DEBUGGER, App, AppRecords, Message, WorkflowRun
from otel_dify.simulator.timewindow import TimeWindow, local_date

Row = dict[str, Any]

MESSAGE_STATISTICS = (
    "daily-messages",
    "daily-conversations",
    "daily-end-users",
    "token-costs",
    "average-session-interactions",
    "user-satisfaction-rate",
    "average-response-time",
    "tokens-per-second",
)
WORKFLOW_STATISTICS = ("daily-conversations", "daily-terminals", "token-costs", "average-app-interactions")

# Endpoint -> (allowed modes, Python set repr Dify prints in its 404 message).
_MODE_LIMITS: dict[str, tuple[frozenset[AppMode], str]] = {
    "average-session-interactions": (
        frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT}),
        "{'chat', 'agent-chat', 'advanced-chat', 'agent'}",
    ),
    "average-response-time": (frozenset({AppMode.COMPLETION}), "{'completion'}"),
    "workflow/average-app-interactions": (frozenset({AppMode.WORKFLOW}), "{'workflow'}"),
}


class AppModeNotSupportedError(Exception):
    """The endpoint rejects this app's mode, which Dify reports as 404 ``app_not_found``."""

    def __init__(self, supported: str) -> None:
        super().__init__(f"App mode is not in the supported list: {supported}.")
        self.message = f"App mode is not in the supported list: {supported}."


@dataclass
class _DayAccumulator:
    """Per-day running totals; each statistic reads the fields it needs."""

    count: int = 0
    conversation_ids: set[str] = field(default_factory=set)
    user_ids: set[str] = field(default_factory=set)
    tokens: int = 0
    answer_tokens: int = 0
    price: Decimal | None = None
    latency_s: float = 0.0
    likes: int = 0


def check_mode(endpoint: str, app: App) -> None:
    """Raise ``AppModeNotSupportedError`` when ``endpoint`` rejects ``app``'s mode.

    ``endpoint`` is the path after ``statistics/``, prefixed with
    ``workflow/`` for workflow statistics.
    """
    limit = _MODE_LIMITS.get(endpoint)
    if limit is not None and app.mode not in limit[0]:
        raise AppModeNotSupportedError(limit[1])


def message_statistic(
    name: str,
    app: App,
    records: AppRecords,
    window: TimeWindow,
    zone_name: str,
    *,
    now: datetime,
    exclude_debugger: bool,
) -> list[Row]:
    """Return the rows of message statistic ``name`` (one of ``MESSAGE_STATISTICS``).

    Raises ``AppModeNotSupportedError`` for a mode the endpoint rejects and
    ``KeyError`` for an unknown name. A workflow app has no messages and gets
    ``[]`` from every endpoint that does not reject its mode.
    """
    check_mode(name, app)
    zone = ZoneInfo(zone_name)
    if name == "average-session-interactions":
        return _average_session_interactions(records, window, zone, now, exclude_debugger)

    days: dict[date, _DayAccumulator] = {}
    for message in _visible_messages(records.messages, now, exclude_debugger):
        if not window.contains(message.created_at):
            continue
        day = days.setdefault(local_date(message.created_at, zone), _DayAccumulator())
        _accumulate_message(day, message)

    render = _MESSAGE_RENDERERS[name]
    return [render(day, totals) for day, totals in sorted(days.items())]


def workflow_statistic(
    name: str,
    app: App,
    records: AppRecords,
    window: TimeWindow,
    zone_name: str,
    *,
    now: datetime,
) -> list[Row]:
    """Return the rows of workflow statistic ``name`` (one of ``WORKFLOW_STATISTICS``).

    Only runs with ``triggered_from='app-run'`` count, whatever their status.
    Raises ``AppModeNotSupportedError`` for ``average-app-interactions`` on
    any mode but workflow, and ``KeyError`` for an unknown name.
    """
    check_mode(f"workflow/{name}", app)
    zone = ZoneInfo(zone_name)

    runs_by_day: dict[date, list[WorkflowRun]] = {}
    for run in _visible_runs(records.workflow_runs, now):
        if window.contains(run.created_at):
            runs_by_day.setdefault(local_date(run.created_at, zone), []).append(run)

    if name == "average-app-interactions":
        return _average_app_interactions(runs_by_day)
    render = _WORKFLOW_RENDERERS[name]
    return [render(day, runs) for day, runs in sorted(runs_by_day.items())]


def _visible_messages(messages: Iterable[Message], now: datetime, exclude_debugger: bool) -> Iterable[Message]:
    for message in messages:
        if message.created_at > now:
            break
        if exclude_debugger and message.invoke_from == DEBUGGER:
            continue
        yield message


def _visible_runs(runs: Iterable[WorkflowRun], now: datetime) -> Iterable[WorkflowRun]:
    for run in runs:
        if run.created_at > now:
            break
        if run.triggered_from == APP_RUN:
            yield run


def _accumulate_message(day: _DayAccumulator, message: Message) -> None:
    day.count += 1
    day.conversation_ids.add(message.conversation_id)
    if message.from_end_user_id is not None:
        day.user_ids.add(message.from_end_user_id)
    day.tokens += message.message_tokens + message.answer_tokens
    day.answer_tokens += message.answer_tokens
    if message.total_price is not None:
        # SQL SUM skips NULL prices and is NULL only when every price is NULL.
        day.price = message.total_price if day.price is None else day.price + message.total_price
    day.latency_s += message.provider_response_latency
    if message.liked:
        day.likes += 1


def _render_price(price: Decimal | None) -> str | None:
    # Flask serializes Decimal with str(): "0.0302490", and "1E-7" for tiny sums.
    return None if price is None else str(price)


def _tokens_per_second(totals: _DayAccumulator) -> float | int:
    if totals.latency_s == 0:
        return 0
    return round(totals.answer_tokens / totals.latency_s, 4)


_MESSAGE_RENDERERS: dict[str, Callable[[date, _DayAccumulator], Row]] = {
    "daily-messages": lambda day, t: {"date": str(day), "message_count": t.count},
    "daily-conversations": lambda day, t: {"date": str(day), "conversation_count": len(t.conversation_ids)},
    "daily-end-users": lambda day, t: {"date": str(day), "terminal_count": len(t.user_ids)},
    "token-costs": lambda day, t: {
        "date": str(day),
        "token_count": t.tokens,
        "total_price": _render_price(t.price),
        "currency": "USD",
    },
    "user-satisfaction-rate": lambda day, t: {"date": str(day), "rate": round(t.likes * 1000 / t.count, 2)},
    "average-response-time": lambda day, t: {"date": str(day), "latency": round(t.latency_s / t.count * 1000, 4)},
    "tokens-per-second": lambda day, t: {"date": str(day), "tps": _tokens_per_second(t)},
}


def _average_session_interactions(
    records: AppRecords, window: TimeWindow, zone: ZoneInfo, now: datetime, exclude_debugger: bool
) -> list[Row]:
    # Dify filters and buckets by the conversation's created_at and counts all
    # of its (non-debugger) messages, whenever they were sent.
    message_counts: dict[str, int] = {}
    for message in _visible_messages(records.messages, now, exclude_debugger):
        message_counts[message.conversation_id] = message_counts.get(message.conversation_id, 0) + 1

    per_day: dict[date, list[int]] = {}
    for conversation in records.conversations:
        if conversation.created_at > now or not window.contains(conversation.created_at):
            continue
        count = message_counts.get(conversation.id)
        if count:
            per_day.setdefault(local_date(conversation.created_at, zone), []).append(count)

    return [
        {"date": str(day), "interactions": _average_2dp(counts)} for day, counts in sorted(per_day.items())
    ]


def _average_app_interactions(runs_by_day: dict[date, list[WorkflowRun]]) -> list[Row]:
    rows: list[Row] = []
    for day, runs in runs_by_day.items():
        per_creator: dict[str, int] = {}
        for run in runs:
            per_creator[run.created_by] = per_creator.get(run.created_by, 0) + 1
        rows.append({"date": str(day), "interactions": _average_2dp(list(per_creator.values()))})

    # Dify's query has no ORDER BY and PostgreSQL returns hash-aggregate order.
    # A CRC of the date gives a fixed order that is not sorted by date.
    rows.sort(key=lambda row: zlib.crc32(row["date"].encode()))
    return rows


def _average_2dp(values: list[int]) -> float:
    # PostgreSQL's AVG over integers is an exact numeric; Dify rounds it to 2
    # decimals (half to even) and sends a float.
    average = Decimal(sum(values)) / Decimal(len(values))
    return float(average.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


_WORKFLOW_RENDERERS: dict[str, Callable[[date, list[WorkflowRun]], Row]] = {
    "daily-conversations": lambda day, runs: {"date": str(day), "runs": len(runs)},
    "daily-terminals": lambda day, runs: {"date": str(day), "terminal_count": len({run.created_by for run in runs})},
    # SUM over a bigint column is a PostgreSQL numeric, which Flask sends as a string.
    "token-costs": lambda day, runs: {"date": str(day), "token_count": str(sum(run.total_tokens for run in runs))},
}
