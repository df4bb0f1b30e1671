"""Deterministic data generation and later additions."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from otel_dify.dify.models import AppMode
from otel_dify.simulator import Dataset

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)


def fingerprint(dataset: Dataset) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for app_id, records in dataset.records.items():
        rows.append((app_id, dataset.apps[app_id].name))
        rows.extend((message.id, message.created_at.isoformat(), str(message.total_price)) for message in records.messages)
        rows.extend((run.id, run.created_at.isoformat(), run.status) for run in records.workflow_runs)
    return rows


def test_same_seed_same_data() -> None:
    assert fingerprint(Dataset.generate(4, NOW)) == fingerprint(Dataset.generate(4, NOW))


def test_other_seed_other_data() -> None:
    assert fingerprint(Dataset.generate(4, NOW)) != fingerprint(Dataset.generate(5, NOW))


def test_modes_per_workspace() -> None:
    dataset = Dataset.generate(4, NOW, workspaces=2, apps_per_mode=3)
    for workspace_id in dataset.workspaces:
        modes = [app.mode for app in dataset.apps_of(workspace_id)]
        for mode in AppMode:
            assert modes.count(mode) == 3, mode


def test_records_by_mode() -> None:
    dataset = Dataset.generate(4, NOW)
    for app in dataset.apps.values():
        records = dataset.records[app.id]
        if app.mode is AppMode.WORKFLOW:
            assert records.messages == []
            assert records.workflow_runs
        elif app.mode is AppMode.ADVANCED_CHAT:
            # One workflow run per chatflow message.
            assert [run.message_id for run in records.workflow_runs] == [message.id for message in records.messages]
        else:
            assert records.messages
            assert records.workflow_runs == []


def test_records_inside_window() -> None:
    dataset = Dataset.generate(4, NOW, days=10)
    start = NOW - timedelta(days=10)
    for records in dataset.records.values():
        for message in records.messages:
            assert start <= message.created_at < NOW
        for run in records.workflow_runs:
            assert start <= run.created_at < NOW


def test_records_sorted() -> None:
    dataset = Dataset.generate(4, NOW)
    for records in dataset.records.values():
        times = [message.created_at for message in records.messages]
        assert times == sorted(times)


def test_debugger_traffic_present() -> None:
    dataset = Dataset.generate(4, NOW, apps_per_mode=3)
    messages = [message for records in dataset.records.values() for message in records.messages]
    runs = [run for records in dataset.records.values() for run in records.workflow_runs]
    assert any(message.invoke_from == "debugger" for message in messages)
    assert any(run.triggered_from == "debugging" for run in runs)
    assert {message.invoke_from for message in messages} == {"service-api", "web-app", "explore", "debugger"}


def test_explore_messages_lack_end_user() -> None:
    dataset = Dataset.generate(4, NOW, apps_per_mode=3)
    for records in dataset.records.values():
        for message in records.messages:
            has_user = message.from_end_user_id is not None
            assert has_user == (message.invoke_from in ("service-api", "web-app"))


def test_midnight_records_each_zone() -> None:
    dataset = Dataset.generate(4, NOW)
    instants = {message.created_at for records in dataset.records.values() for message in records.messages}
    for zone_name in ("America/New_York", "UTC", "Asia/Tokyo"):
        zone = ZoneInfo(zone_name)
        midnights = [instant for instant in instants if instant.astimezone(zone).time() == time(0, 0)]
        assert midnights, zone_name
        assert any(midnight - timedelta(seconds=1) in instants for midnight in midnights), zone_name


def test_prices_have_seven_decimals() -> None:
    dataset = Dataset.generate(4, NOW)
    for records in dataset.records.values():
        for message in records.messages:
            assert message.total_price is not None
            assert message.total_price.as_tuple().exponent == -7


def test_add_message_new_conversation() -> None:
    dataset = Dataset.generate(4, NOW, conversations_per_app=0, boundary_records=False)
    chat = next(app for app in dataset.apps.values() if app.mode is AppMode.CHAT)
    message = dataset.add_message(chat.id, NOW - timedelta(hours=1))
    records = dataset.records[chat.id]

    assert [conversation.id for conversation in records.conversations] == [message.conversation_id]
    assert message.from_end_user_id in {user.id for user in records.end_users}
    assert str(message.total_price) == "0.0000450"


def test_add_message_keeps_order() -> None:
    dataset = Dataset.generate(4, NOW)
    chat = next(app for app in dataset.apps.values() if app.mode is AppMode.CHAT)
    dataset.add_message(chat.id, NOW - timedelta(days=5, seconds=7))
    times = [message.created_at for message in dataset.records[chat.id].messages]
    assert times == sorted(times)


def test_add_message_workflow_rejected() -> None:
    dataset = Dataset.generate(4, NOW)
    workflow = next(app for app in dataset.apps.values() if app.mode is AppMode.WORKFLOW)
    with pytest.raises(ValueError, match="stores no messages"):
        dataset.add_message(workflow.id, NOW)


def test_add_run_chat_rejected() -> None:
    dataset = Dataset.generate(4, NOW)
    chat = next(app for app in dataset.apps.values() if app.mode is AppMode.CHAT)
    with pytest.raises(ValueError, match="stores no workflow runs"):
        dataset.add_workflow_run(chat.id, NOW)


def test_add_message_unknown_conversation() -> None:
    dataset = Dataset.generate(4, NOW)
    chat = next(app for app in dataset.apps.values() if app.mode is AppMode.CHAT)
    with pytest.raises(ValueError, match="does not belong"):
        dataset.add_message(chat.id, NOW, conversation_id="00000000-0000-4000-8000-000000000000")


def test_add_debugging_run_by_owner() -> None:
    dataset = Dataset.generate(4, NOW)
    workflow = next(app for app in dataset.apps.values() if app.mode is AppMode.WORKFLOW)
    run = dataset.add_workflow_run(workflow.id, NOW, triggered_from="debugging")
    assert run.created_by == dataset.workspaces[workflow.workspace_id].owner_id
    assert run.created_by_role == "account"


def test_thousand_apps() -> None:
    dataset = Dataset.generate(4, NOW, apps_per_mode=200)
    records = sum(
        len(r.messages) + len(r.workflow_runs) + len(r.conversations) + len(r.end_users) for r in dataset.records.values()
    )
    assert len(dataset.apps) == 1000
    assert 40_000 <= records <= 90_000


def test_naive_now_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        Dataset.generate(4, datetime(2026, 12, 4))
