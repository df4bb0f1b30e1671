import logging
from datetime import date
from decimal import Decimal

import pytest

from otel_dify.collect.sources import SOURCES, ZERO_WHEN_ABSENT, InvalidRowError, sources_for
from otel_dify.collect.totals import MonotonicGuard, add_sums, sum_rows, today_values
from tests.fixtures_loader import captured_rows


def source(family: str, name: str):
    return next(s for s in SOURCES if s.family.value == family and s.name == name)


TOKEN_COSTS = source("statistics", "token-costs")
WORKFLOW_TOKENS = source("workflow/statistics", "token-costs")
SATISFACTION = source("statistics", "user-satisfaction-rate")
LATENCY = source("statistics", "average-response-time")
CONVERSATIONS = source("statistics", "daily-conversations")
MESSAGES = source("statistics", "daily-messages")


def test_token_costs_capture_sums():
    rows = captured_rows("30_stats_token-costs_chat_range11d")
    sums = sum_rows(TOKEN_COSTS, rows)
    assert sums[("dify.app.tokens", None)] == sum(row["token_count"] for row in rows)
    assert sums[("dify.app.cost", "USD")] == sum(Decimal(row["total_price"]) for row in rows)


def test_workflow_tokens_are_strings_in_capture():
    rows = captured_rows("40_wfstats_token-costs_workflow_range11d")
    assert all(isinstance(row["token_count"], str) for row in rows)
    assert sum_rows(WORKFLOW_TOKENS, rows)[("dify.app.workflow.tokens", None)] == sum(
        int(row["token_count"]) for row in rows
    )


def test_no_rows_sum_to_zero():
    sums = sum_rows(TOKEN_COSTS, [])
    assert sums == {("dify.app.tokens", None): Decimal(0), ("dify.app.cost", "USD"): Decimal(0)}


def test_null_price_counts_zero():
    rows = [{"date": "2025-12-02", "token_count": 0, "total_price": None, "currency": "USD"}]
    assert sum_rows(TOKEN_COSTS, rows)[("dify.app.cost", "USD")] == Decimal(0)


def test_currencies_never_mix():
    rows = [
        {"date": "2026-12-01", "token_count": 10, "total_price": "0.5", "currency": "USD"},
        {"date": "2026-12-02", "token_count": 10, "total_price": "2", "currency": "eur"},
    ]
    sums = sum_rows(TOKEN_COSTS, rows)
    assert sums[("dify.app.cost", "USD")] == Decimal("0.5")
    assert sums[("dify.app.cost", "EUR")] == Decimal("2")


@pytest.mark.parametrize(
    "row",
    [
        {"date": "2026-12-01", "token_count": "12x", "total_price": "1", "currency": "USD"},
        {"date": "2026-12-01", "token_count": True, "total_price": "1", "currency": "USD"},
        {"date": "2026-12-01", "total_price": "1", "currency": "USD"},
        {"date": "2026-12-01", "token_count": 1, "total_price": "abc", "currency": "USD"},
        {"date": "2026-12-01", "token_count": 1, "total_price": "NaN", "currency": "USD"},
        {"date": "2026-12-01", "token_count": 1, "total_price": "1", "currency": None},
        {"date": "12/01/2026", "token_count": 1, "total_price": "1", "currency": "USD"},
        {"token_count": 1, "total_price": "1", "currency": "USD"},
    ],
)
def test_malformed_row_rejected(row):
    with pytest.raises(InvalidRowError):
        sum_rows(TOKEN_COSTS, [row])


def test_satisfaction_per_mille_to_ratio():
    rows = captured_rows("30_stats_user-satisfaction-rate_chat_range11d")
    values = today_values(SATISFACTION, rows, date(2026, 11, 24), ZERO_WHEN_ABSENT)
    assert values == {("dify.app.satisfaction", None): Decimal("0.45455")}


def test_latency_milliseconds_to_seconds():
    rows = captured_rows("30_stats_average-response-time_completion_range11d")
    values = today_values(LATENCY, rows, date(2026, 12, 4), ZERO_WHEN_ABSENT)
    assert values == {("dify.app.response.latency", None): Decimal("5.8188889")}


def test_absent_day_counts_zero_conversations():
    rows = [{"date": "2026-12-03", "conversation_count": 4}]
    values = today_values(CONVERSATIONS, rows, date(2026, 12, 4), ZERO_WHEN_ABSENT)
    assert values == {("dify.app.conversations.active", None): Decimal(0)}


def test_absent_day_gives_no_average():
    assert today_values(LATENCY, [], date(2026, 12, 4), ZERO_WHEN_ABSENT) == {}


def test_add_sums_keeps_both_sides():
    left = {("a", None): Decimal(1), ("c", "USD"): Decimal("0.1")}
    right = {("a", None): Decimal(2), ("b", None): Decimal(5)}
    assert add_sums(left, right) == {("a", None): Decimal(3), ("b", None): Decimal(5), ("c", "USD"): Decimal("0.1")}


def test_guard_keeps_larger_total(caplog):
    guard = MonotonicGuard()
    guard.apply("app-1", {("dify.app.messages", None): Decimal(10)})
    with caplog.at_level(logging.WARNING):
        guarded = guard.apply("app-1", {("dify.app.messages", None): Decimal(7)})
    assert guarded[("dify.app.messages", None)] == Decimal(10)
    assert any("smaller total" in record.getMessage() for record in caplog.records)


def test_guard_forgets_deleted_app():
    guard = MonotonicGuard()
    guard.apply("app-1", {("dify.app.messages", None): Decimal(10)})
    guard.forget("app-1")
    assert guard.apply("app-1", {("dify.app.messages", None): Decimal(3)}) == {("dify.app.messages", None): Decimal(3)}


def test_sources_follow_mode_and_enabled_metrics():
    everything = frozenset(metric for s in SOURCES for metric in s.metrics)
    workflow = {(s.family.value, s.name) for s in sources_for("workflow", everything)}
    assert workflow == {
        ("workflow/statistics", "daily-conversations"),
        ("workflow/statistics", "token-costs"),
        ("workflow/statistics", "daily-terminals"),
    }
    completion = {s.name for s in sources_for("completion", everything)}
    assert "average-response-time" in completion
    assert "average-session-interactions" not in completion
    assert sources_for("chat", frozenset({"dify.app.messages"})) == (MESSAGES,)


def test_every_source_metric_is_in_catalog():
    from otel_dify import catalog

    for statistic_source in SOURCES:
        for metric in statistic_source.metrics:
            assert catalog.get(metric).name == metric


def test_missing_price_key_rejected():
    row = {"date": "2026-12-01", "token_count": 1, "currency": "USD"}
    with pytest.raises(InvalidRowError, match="total_price"):
        sum_rows(TOKEN_COSTS, [row])
