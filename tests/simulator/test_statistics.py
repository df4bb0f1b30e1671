"""Statistics semantics: windows, timezones, empty days, debugger traffic, totals."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from otel_dify.dify.models import AppMode
from otel_dify.simulator import Dataset, DifySimulator, SimClock
from otel_dify.simulator.profiles import get_profile
from otel_dify.simulator.statistics import AppModeNotSupportedError, message_statistic, workflow_statistic
from otel_dify.simulator.timewindow import TimeWindow, parse_time_window
from tests.simulator.support import Console, serving

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)
NEW_YORK = "America/New_York"
PROFILE_1_15 = get_profile("1.15")


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=timezone.utc)


def empty_dataset() -> Dataset:
    return Dataset.generate(3, NOW, conversations_per_app=0, runs_per_app=0, boundary_records=False)


def app_of(dataset: Dataset, mode: AppMode) -> str:
    return next(app.id for app in dataset.apps.values() if app.mode is mode)


def messages(dataset: Dataset, app_id: str, window: TimeWindow = TimeWindow(), zone: str = NEW_YORK, name: str = "daily-messages") -> list[dict[str, object]]:
    app = dataset.apps[app_id]
    return message_statistic(name, app, dataset.records[app_id], window, zone, now=NOW, exclude_debugger=True)


def window(start: str | None, end: str | None, zone: str = NEW_YORK) -> TimeWindow:
    return parse_time_window(start, end, zone, PROFILE_1_15)


def test_window_end_exclusive() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(4, 15))  # 10:00 in New York

    assert messages(dataset, chat, window("2026-12-04 10:00", "2026-12-04 10:01")) == [
        {"date": "2026-12-04", "message_count": 1}
    ]
    assert messages(dataset, chat, window("2026-12-04 09:59", "2026-12-04 10:00")) == []
    assert messages(dataset, chat, window("2026-12-04 10:00", "2026-12-04 10:00")) == []


def test_window_bounds_optional() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(1, 15))
    dataset.add_message(chat, utc(3, 15))

    assert messages(dataset, chat, window("2026-12-02 00:00", None)) == [{"date": "2026-12-03", "message_count": 1}]
    assert messages(dataset, chat, window(None, "2026-12-02 00:00")) == [{"date": "2026-12-01", "message_count": 1}]


def test_timezone_changes_buckets() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(3, 3))  # NY 12-02 22:00, Tokyo 12-03 12:00
    dataset.add_message(chat, utc(3, 16))  # NY 12-03 11:00, Tokyo 12-04 01:00

    assert messages(dataset, chat, zone=NEW_YORK) == [
        {"date": "2026-12-02", "message_count": 1},
        {"date": "2026-12-03", "message_count": 1},
    ]
    assert messages(dataset, chat, zone="UTC") == [{"date": "2026-12-03", "message_count": 2}]
    assert messages(dataset, chat, zone="Asia/Tokyo") == [
        {"date": "2026-12-03", "message_count": 1},
        {"date": "2026-12-04", "message_count": 1},
    ]


def test_window_read_in_account_timezone() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(4, 13))

    assert messages(dataset, chat, window("2026-12-04 12:30", "2026-12-04 14:30", NEW_YORK)) == []
    assert messages(dataset, chat, window("2026-12-04 12:30", "2026-12-04 14:30", "UTC"), zone="UTC") == [
        {"date": "2026-12-04", "message_count": 1}
    ]


def test_midnight_record_starts_day() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(3, 5))  # 00:00:00 in New York
    dataset.add_message(chat, utc(3, 4, 59, 59))  # 23:59:59 the day before

    assert messages(dataset, chat) == [
        {"date": "2026-12-02", "message_count": 1},
        {"date": "2026-12-03", "message_count": 1},
    ]


def test_empty_days_omitted() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(1, 15))
    dataset.add_message(chat, utc(3, 15))

    rows = messages(dataset, chat)
    assert [row["date"] for row in rows] == ["2026-12-01", "2026-12-03"]


def test_debugger_excluded_from_1_9() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    app = dataset.apps[chat]
    dataset.add_message(chat, utc(3, 15))
    dataset.add_message(chat, utc(3, 16), invoke_from="debugger")

    modern = message_statistic("daily-messages", app, dataset.records[chat], TimeWindow(), "UTC", now=NOW, exclude_debugger=True)
    legacy = message_statistic("daily-messages", app, dataset.records[chat], TimeWindow(), "UTC", now=NOW, exclude_debugger=False)
    assert modern == [{"date": "2026-12-03", "message_count": 1}]
    assert legacy == [{"date": "2026-12-03", "message_count": 2}]


def test_end_users_day_with_zero() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(3, 15), invoke_from="explore")

    # The day has a message, so it has a row, but explore messages have no end user.
    assert messages(dataset, chat, name="daily-end-users") == [{"date": "2026-12-03", "terminal_count": 0}]


def test_conversations_counts_active() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    first = dataset.add_message(chat, utc(2, 15))
    dataset.add_message(chat, utc(3, 15), conversation_id=first.conversation_id, end_user_id=first.from_end_user_id)
    dataset.add_message(chat, utc(3, 16))

    assert messages(dataset, chat, name="daily-conversations") == [
        {"date": "2026-12-02", "conversation_count": 1},
        {"date": "2026-12-03", "conversation_count": 2},
    ]


def test_token_costs_row() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, utc(4, 15), message_tokens=100, answer_tokens=50)
    dataset.add_message(chat, utc(4, 16), message_tokens=10, answer_tokens=5, total_price=Decimal("0.0000010"))

    assert messages(dataset, chat, name="token-costs") == [
        {"date": "2026-12-04", "token_count": 165, "total_price": "0.0000460", "currency": "USD"}
    ]


def test_token_costs_null_price() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    message = dataset.add_message(chat, utc(4, 15))
    # A message whose price was never filled in (SQL NULL).
    dataset.records[chat].messages[0] = dataclasses.replace(message, total_price=None)

    rows = messages(dataset, chat, name="token-costs")
    assert rows[0]["total_price"] is None


def test_rate_latency_tps() -> None:
    dataset = empty_dataset()
    completion = app_of(dataset, AppMode.COMPLETION)
    dataset.add_message(completion, utc(4, 15), answer_tokens=100, provider_response_latency=2.0, liked=True)
    dataset.add_message(completion, utc(4, 16), answer_tokens=50, provider_response_latency=1.0)
    dataset.add_message(completion, utc(4, 17), answer_tokens=0, provider_response_latency=0.5)

    assert messages(dataset, completion, name="user-satisfaction-rate") == [{"date": "2026-12-04", "rate": 333.33}]
    assert messages(dataset, completion, name="average-response-time") == [{"date": "2026-12-04", "latency": 1166.6667}]
    assert messages(dataset, completion, name="tokens-per-second") == [{"date": "2026-12-04", "tps": 42.8571}]


def test_session_interactions_by_conversation_day() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    first = dataset.add_message(chat, utc(2, 15))
    # A later message still counts towards the conversation's creation day.
    dataset.add_message(chat, utc(3, 15), conversation_id=first.conversation_id, end_user_id=first.from_end_user_id)
    dataset.add_message(chat, utc(3, 16))

    assert messages(dataset, chat, name="average-session-interactions") == [
        {"date": "2026-12-02", "interactions": 2.0},
        {"date": "2026-12-03", "interactions": 1.0},
    ]


@pytest.mark.parametrize(
    ("endpoint", "mode"),
    [
        ("average-session-interactions", AppMode.COMPLETION),
        ("average-session-interactions", AppMode.WORKFLOW),
        ("average-response-time", AppMode.CHAT),
        ("average-response-time", AppMode.ADVANCED_CHAT),
    ],
)
def test_message_stat_mode_rejected(endpoint: str, mode: AppMode) -> None:
    dataset = empty_dataset()
    with pytest.raises(AppModeNotSupportedError):
        messages(dataset, app_of(dataset, mode), name=endpoint)


def test_message_stats_on_workflow_empty() -> None:
    dataset = Dataset.generate(3, NOW)
    workflow = app_of(dataset, AppMode.WORKFLOW)
    for name in ("daily-messages", "daily-conversations", "daily-end-users", "token-costs", "user-satisfaction-rate", "tokens-per-second"):
        assert messages(dataset, workflow, name=name) == [], name


def test_workflow_stats_on_chat_empty() -> None:
    dataset = Dataset.generate(3, NOW)
    chat = app_of(dataset, AppMode.CHAT)
    app = dataset.apps[chat]
    for name in ("daily-conversations", "daily-terminals", "token-costs"):
        assert workflow_statistic(name, app, dataset.records[chat], TimeWindow(), NEW_YORK, now=NOW) == [], name


def test_workflow_stats_app_runs_only() -> None:
    dataset = empty_dataset()
    workflow = app_of(dataset, AppMode.WORKFLOW)
    app = dataset.apps[workflow]
    user = dataset.add_end_user(workflow)
    dataset.add_workflow_run(workflow, utc(4, 15), total_tokens=300, created_by=user.id)
    dataset.add_workflow_run(workflow, utc(4, 16), total_tokens=200, created_by=user.id, status="failed")
    dataset.add_workflow_run(workflow, utc(4, 17), total_tokens=999, triggered_from="debugging")
    records = dataset.records[workflow]

    def stat(name: str) -> list[dict[str, object]]:
        return workflow_statistic(name, app, records, TimeWindow(), NEW_YORK, now=NOW)

    assert stat("daily-conversations") == [{"date": "2026-12-04", "runs": 2}]
    assert stat("daily-terminals") == [{"date": "2026-12-04", "terminal_count": 1}]
    assert stat("token-costs") == [{"date": "2026-12-04", "token_count": "500"}]
    assert stat("average-app-interactions") == [{"date": "2026-12-04", "interactions": 2.0}]


def test_app_interactions_not_sorted() -> None:
    dataset = Dataset.generate(3, NOW)
    workflow = app_of(dataset, AppMode.WORKFLOW)
    rows = workflow_statistic(
        "average-app-interactions", dataset.apps[workflow], dataset.records[workflow], TimeWindow(), NEW_YORK, now=NOW
    )
    dates = [row["date"] for row in rows]
    assert len(dates) > 5
    assert dates != sorted(dates)


def test_app_interactions_workflow_only() -> None:
    dataset = empty_dataset()
    advanced = app_of(dataset, AppMode.ADVANCED_CHAT)
    with pytest.raises(AppModeNotSupportedError):
        workflow_statistic(
            "average-app-interactions", dataset.apps[advanced], dataset.records[advanced], TimeWindow(), NEW_YORK, now=NOW
        )


def test_advanced_chat_run_per_message() -> None:
    dataset = empty_dataset()
    advanced = app_of(dataset, AppMode.ADVANCED_CHAT)
    dataset.add_message(advanced, utc(4, 15), message_tokens=70, answer_tokens=30)
    dataset.add_message(advanced, utc(4, 16), invoke_from="debugger")
    app = dataset.apps[advanced]

    runs = workflow_statistic("daily-conversations", app, dataset.records[advanced], TimeWindow(), NEW_YORK, now=NOW)
    tokens = workflow_statistic("token-costs", app, dataset.records[advanced], TimeWindow(), NEW_YORK, now=NOW)
    assert runs == [{"date": "2026-12-04", "runs": 1}]
    assert tokens == [{"date": "2026-12-04", "token_count": "100"}]


def test_future_records_hidden() -> None:
    dataset = empty_dataset()
    chat = app_of(dataset, AppMode.CHAT)
    dataset.add_message(chat, NOW + timedelta(minutes=30))
    app = dataset.apps[chat]

    before = message_statistic("daily-messages", app, dataset.records[chat], TimeWindow(), "UTC", now=NOW, exclude_debugger=True)
    after = message_statistic(
        "daily-messages", app, dataset.records[chat], TimeWindow(), "UTC", now=NOW + timedelta(hours=1), exclude_debugger=True
    )
    assert before == []
    assert after == [{"date": "2026-12-04", "message_count": 1}]


# -- over HTTP, against ground truth -----------------------------------------


async def _all_rows(console: Console, app_id: str, name: str, *, workflow: bool = False) -> list[dict[str, Any]]:
    tokens = console.sim.issue_session()
    reply = await console.stats(app_id, name, tokens, workflow=workflow)
    assert reply.status == 200
    return reply.body["data"]


async def test_totals_match_ground_truth(console: Console) -> None:
    sim = console.sim
    for app in sim.apps():
        truth = sim.ground_truth(app.id)
        message_rows = await _all_rows(console, app.id, "daily-messages")
        cost_rows = await _all_rows(console, app.id, "token-costs")
        run_rows = await _all_rows(console, app.id, "daily-conversations", workflow=True)
        run_token_rows = await _all_rows(console, app.id, "token-costs", workflow=True)

        assert sum(row["message_count"] for row in message_rows) == truth.messages, app.name
        assert sum(row["token_count"] for row in cost_rows) == truth.tokens, app.name
        assert sum(Decimal(row["total_price"]) for row in cost_rows) == truth.cost.get("USD", Decimal(0)), app.name
        assert sum(row["runs"] for row in run_rows) == truth.workflow_runs, app.name
        assert sum(int(row["token_count"]) for row in run_token_rows) == truth.workflow_tokens, app.name


async def test_today_matches_ground_truth(console: Console) -> None:
    sim = console.sim
    chat = sim.app_of_mode(AppMode.CHAT)
    user = sim.dataset.add_end_user(chat.id)
    sim.dataset.add_message(chat.id, NOW - timedelta(minutes=5), end_user_id=user.id)
    truth = sim.ground_truth(chat.id)
    today = str(truth.day)

    conversations = {row["date"]: row["conversation_count"] for row in await _all_rows(console, chat.id, "daily-conversations")}
    end_users = {row["date"]: row["terminal_count"] for row in await _all_rows(console, chat.id, "daily-end-users")}
    assert conversations[today] == truth.conversations_active
    assert end_users[today] == truth.end_users_active


async def test_day_rollover_by_clock() -> None:
    clock = SimClock(NOW)
    sim = DifySimulator(clock=clock, dataset=empty_dataset())
    chat = sim.app_of_mode(AppMode.CHAT)
    # 05:00 UTC on 12-05 is midnight in New York: the first message of a new local day.
    sim.dataset.add_message(chat.id, utc(5, 5))

    async with serving(sim) as console:
        before = await _all_rows(console, chat.id, "daily-messages")
        clock.set(utc(5, 5, 0, 1))
        after = await _all_rows(console, chat.id, "daily-messages")

    assert before == []
    assert after == [{"date": "2026-12-05", "message_count": 1}]
    assert sim.ground_truth(chat.id).day.isoformat() == "2026-12-05"


async def test_timezone_shift_over_http(console: Console) -> None:
    sim = console.sim
    chat = sim.app_of_mode(AppMode.CHAT)
    rows_by_zone = {}
    for zone in (NEW_YORK, "UTC", "Asia/Tokyo"):
        sim.admin.timezone = zone
        rows_by_zone[zone] = await _all_rows(console, chat.id, "daily-messages")

    assert rows_by_zone[NEW_YORK] != rows_by_zone["UTC"]
    assert rows_by_zone["UTC"] != rows_by_zone["Asia/Tokyo"]
    for zone, rows in rows_by_zone.items():
        assert sum(row["message_count"] for row in rows) == sim.ground_truth(chat.id).messages, zone
