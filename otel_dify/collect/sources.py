"""The Dify statistics endpoints the exporter reads, and what each one feeds.

Each :class:`StatisticSource` names one endpoint, the app modes it supports,
the metrics it feeds and how to read one daily row. A source is fetched only
when at least one of its metrics is enabled and the app's mode supports it, so
that disabling metrics also saves requests to Dify.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Mapping

from otel_dify.dify.models import AppMode

MESSAGE_MODES = frozenset({AppMode.CHAT, AppMode.COMPLETION, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
CONVERSATION_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})
WORKFLOW_MODES = frozenset({AppMode.WORKFLOW, AppMode.ADVANCED_CHAT})


class Family(str, enum.Enum):
    """URL family of a statistics endpoint."""

    APP = "statistics"
    WORKFLOW = "workflow/statistics"


class Shape(str, enum.Enum):
    """Reduction of a source's daily rows to values.

    ``TOTAL``: rows are summed over all days into absolute, monotonic totals.
    ``TODAY``: only the row of the current local day counts; it is a gauge.
    """

    TOTAL = "total"
    TODAY = "today"


class InvalidRowError(ValueError):
    """A statistics row lacks a field or has a value of the wrong type."""


def _integer(row: Mapping[str, Any], field: str) -> int:
    """Read an integer that Dify sends as a number or, for workflow tokens, as a string."""
    value = row.get(field)
    if isinstance(value, bool):
        raise InvalidRowError(f"field {field!r} is a boolean, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise InvalidRowError(f"field {field!r} is {value!r}, expected an integer")


def _number(row: Mapping[str, Any], field: str) -> float:
    value = row.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRowError(f"field {field!r} is {value!r}, expected a number")
    return float(value)


def _price(row: Mapping[str, Any]) -> Decimal:
    """Read ``total_price``: a decimal string such as "0.0197304", or null on a day without price.

    A row without the key is invalid: reading it as 0 would lower the cost total.
    """
    if "total_price" not in row:
        raise InvalidRowError("field 'total_price' is missing")
    value = row["total_price"]
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRowError(f"field 'total_price' is {value!r}, expected a decimal string")
    try:
        price = Decimal(str(value))
    except InvalidOperation as error:
        raise InvalidRowError(f"field 'total_price' is {value!r}, expected a decimal string") from error
    if not price.is_finite():
        raise InvalidRowError(f"field 'total_price' is {value!r}, expected a finite decimal")
    return price


def _currency(row: Mapping[str, Any]) -> str:
    value = row.get("currency")
    if not isinstance(value, str) or not value:
        raise InvalidRowError(f"field 'currency' is {value!r}, expected an ISO 4217 code")
    return value.upper()


# A row reader returns (metric name, currency or None, value) triples.
RowValue = tuple[str, str | None, Decimal]
RowReader = Callable[[Mapping[str, Any]], Iterable[RowValue]]


def _count(metric: str, field: str) -> RowReader:
    """Return a reader of one integer field (a number, or a string for workflow tokens)."""

    def read(row: Mapping[str, Any]) -> Iterable[RowValue]:
        return [(metric, None, Decimal(_integer(row, field)))]

    return read


def _measure(metric: str, field: str, divisor: int = 1) -> RowReader:
    """Return a reader of one float field, divided by ``divisor`` to reach OpenTelemetry's unit."""

    def read(row: Mapping[str, Any]) -> Iterable[RowValue]:
        return [(metric, None, Decimal(str(_number(row, field))) / divisor)]

    return read


def _read_token_costs(row: Mapping[str, Any]) -> Iterable[RowValue]:
    return [
        ("dify.app.tokens", None, Decimal(_integer(row, "token_count"))),
        ("dify.app.cost", _currency(row), _price(row)),
    ]


_read_messages = _count("dify.app.messages", "message_count")
_read_workflow_runs = _count("dify.app.workflow.runs", "runs")
_read_workflow_tokens = _count("dify.app.workflow.tokens", "token_count")
_read_conversations = _count("dify.app.conversations.active", "conversation_count")
_read_end_users = _count("dify.app.end_users.active", "terminal_count")
_read_workflow_end_users = _count("dify.app.workflow.end_users.active", "terminal_count")
# Dify reports likes per 1000 messages; OpenTelemetry ratios use unit "1".
_read_satisfaction = _measure("dify.app.satisfaction", "rate", divisor=1000)
_read_interactions = _measure("dify.app.interactions.per_conversation", "interactions")
# Dify reports milliseconds; OpenTelemetry durations use seconds.
_read_response_latency = _measure("dify.app.response.latency", "latency", divisor=1000)
_read_output_token_rate = _measure("dify.app.output_tokens.rate", "tps")


@dataclass(frozen=True)
class StatisticSource:
    """One statistics endpoint of Dify and the metrics it feeds."""

    family: Family
    name: str
    modes: frozenset[AppMode]
    shape: Shape
    metrics: tuple[str, ...]
    read_row: RowReader
    # The mode names as plain strings, because every poll checks each app's
    # mode and reading an enum member's value is slow in CPython 3.11.
    _mode_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mode_names", frozenset(mode.value for mode in self.modes))

    @property
    def endpoint(self) -> str:
        """The endpoint template used in logs and the ``http.route`` attribute."""
        return f"/console/api/apps/{{app_id}}/{self.family.value}/{self.name}"

    def supports(self, mode: str) -> bool:
        return mode in self._mode_names


SOURCES: tuple[StatisticSource, ...] = (
    StatisticSource(Family.APP, "daily-messages", MESSAGE_MODES, Shape.TOTAL, ("dify.app.messages",), _read_messages),
    StatisticSource(
        Family.APP, "token-costs", MESSAGE_MODES, Shape.TOTAL, ("dify.app.tokens", "dify.app.cost"), _read_token_costs
    ),
    StatisticSource(
        Family.WORKFLOW, "daily-conversations", WORKFLOW_MODES, Shape.TOTAL,
        ("dify.app.workflow.runs",), _read_workflow_runs,
    ),
    StatisticSource(
        Family.WORKFLOW, "token-costs", WORKFLOW_MODES, Shape.TOTAL,
        ("dify.app.workflow.tokens",), _read_workflow_tokens,
    ),
    StatisticSource(
        Family.APP, "daily-conversations", MESSAGE_MODES, Shape.TODAY,
        ("dify.app.conversations.active",), _read_conversations,
    ),
    StatisticSource(
        Family.APP, "daily-end-users", MESSAGE_MODES, Shape.TODAY, ("dify.app.end_users.active",), _read_end_users
    ),
    StatisticSource(
        Family.WORKFLOW, "daily-terminals", WORKFLOW_MODES, Shape.TODAY,
        ("dify.app.workflow.end_users.active",), _read_workflow_end_users,
    ),
    StatisticSource(
        Family.APP, "user-satisfaction-rate", MESSAGE_MODES, Shape.TODAY,
        ("dify.app.satisfaction",), _read_satisfaction,
    ),
    StatisticSource(
        Family.APP, "average-session-interactions", CONVERSATION_MODES, Shape.TODAY,
        ("dify.app.interactions.per_conversation",), _read_interactions,
    ),
    StatisticSource(
        Family.APP, "average-response-time", frozenset({AppMode.COMPLETION}), Shape.TODAY,
        ("dify.app.response.latency",), _read_response_latency,
    ),
    StatisticSource(
        Family.APP, "tokens-per-second", MESSAGE_MODES, Shape.TODAY,
        ("dify.app.output_tokens.rate",), _read_output_token_rate,
    ),
)

#: Gauges that count things: a day without a row means zero, not "unknown".
ZERO_WHEN_ABSENT = frozenset(
    {"dify.app.conversations.active", "dify.app.end_users.active", "dify.app.workflow.end_users.active"}
)


@functools.lru_cache(maxsize=64)
def sources_for(mode: str, enabled_metrics: frozenset[str]) -> tuple[StatisticSource, ...]:
    """Return the sources to fetch for an app of ``mode`` given the enabled metric names.

    The result is cached, because every poll calls this once per app and the
    result depends only on the arguments. A process sees a handful of modes
    and one set of enabled metrics.
    """
    return tuple(
        source
        for source in SOURCES
        if source.supports(mode) and any(metric in enabled_metrics for metric in source.metrics)
    )
