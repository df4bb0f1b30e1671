"""Chat conversations and chat messages: Dify's list semantics over the simulator's records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from otel_dify.dify.models import AppMode
from otel_dify.simulator.records import DEBUGGER
from tests.simulator.support import Console

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)
NEW_YORK = ZoneInfo("America/New_York")
PREFIX = "/console/api/apps"


async def conversations(console: Console, app_id: str, **params: str) -> dict[str, Any]:
    reply = await console.get(f"{PREFIX}/{app_id}/chat-conversations", console.sim.issue_session(), params=params)
    assert reply.status == 200, reply.body
    return reply.body


async def messages(console: Console, app_id: str, **params: str) -> dict[str, Any]:
    reply = await console.get(f"{PREFIX}/{app_id}/chat-messages", console.sim.issue_session(), params=params)
    assert reply.status == 200, reply.body
    return reply.body


def chat_id(console: Console) -> str:
    return console.sim.app_of_mode(AppMode.CHAT).id


def local_minute(instant: datetime) -> str:
    return instant.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")


# -- chat-conversations ------------------------------------------------------


async def test_conversations_wrong_mode_404(console: Console) -> None:
    workflow = console.sim.app_of_mode(AppMode.WORKFLOW).id
    reply = await console.get(f"{PREFIX}/{workflow}/chat-conversations", console.sim.issue_session())
    assert reply.status == 404
    assert "{'chat', 'agent-chat', 'advanced-chat', 'agent'}" in reply.body["message"]


async def test_conversations_updated_at_moves(console: Console) -> None:
    app_id = chat_id(console)
    old = console.sim.dataset.add_message(app_id, NOW - timedelta(days=8))
    before = await conversations(console, app_id, limit="1")
    reply = console.sim.dataset.add_message(app_id, NOW - timedelta(minutes=2), conversation_id=old.conversation_id)
    after = await conversations(console, app_id, limit="1")

    assert before["data"][0]["id"] != old.conversation_id
    assert after["data"][0]["id"] == old.conversation_id
    assert after["data"][0]["updated_at"] == int(reply.created_at.timestamp())
    assert after["data"][0]["created_at"] == int(old.created_at.timestamp())
    assert after["data"][0]["message_count"] == 2


async def test_window_on_updated_at(console: Console) -> None:
    app_id = chat_id(console)
    first = console.sim.dataset.add_message(app_id, NOW - timedelta(days=3))
    console.sim.dataset.add_message(app_id, NOW - timedelta(minutes=30), conversation_id=first.conversation_id)
    window = {"start": local_minute(NOW - timedelta(hours=1)), "end": local_minute(NOW), "limit": "100"}

    by_update = await conversations(console, app_id, **window)
    by_creation = await conversations(console, app_id, sort_by="created_at", **window)
    assert first.conversation_id in {item["id"] for item in by_update["data"]}
    assert first.conversation_id not in {item["id"] for item in by_creation["data"]}


async def test_window_end_inclusive_minute(console: Console) -> None:
    app_id = chat_id(console)
    # 12:45:59 and 12:46:00 New York time on 3 December.
    inside = datetime(2026, 12, 3, 17, 45, 59, tzinfo=timezone.utc)
    outside = inside + timedelta(seconds=1)
    included = console.sim.dataset.add_message(app_id, inside)
    excluded = console.sim.dataset.add_message(app_id, outside)
    body = await conversations(console, app_id, start="2026-12-03 12:45", end="2026-12-03 12:45", limit="100")
    ids = {item["id"] for item in body["data"]}
    assert included.conversation_id in ids
    assert excluded.conversation_id not in ids


async def test_window_start_inclusive(console: Console) -> None:
    app_id = chat_id(console)
    at_start = console.sim.dataset.add_message(app_id, datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc))
    before = console.sim.dataset.add_message(app_id, datetime(2026, 12, 3, 16, 59, 59, tzinfo=timezone.utc))
    body = await conversations(console, app_id, start="2026-12-03 12:00", end="2026-12-03 12:30", limit="100")
    ids = {item["id"] for item in body["data"]}
    assert at_start.conversation_id in ids
    assert before.conversation_id not in ids


async def test_conversations_sort_orders(console: Console) -> None:
    app_id = chat_id(console)
    ascending = await conversations(console, app_id, sort_by="created_at", limit="100")
    descending = await conversations(console, app_id, sort_by="-updated_at", limit="100")
    created = [item["created_at"] for item in ascending["data"]]
    updated = [item["updated_at"] for item in descending["data"]]
    assert created == sorted(created)
    assert updated == sorted(updated, reverse=True)


async def test_advanced_chat_hides_debugger(console: Console) -> None:
    app = console.sim.app_of_mode(AppMode.ADVANCED_CHAT)
    debug = console.sim.dataset.add_message(app.id, NOW - timedelta(hours=1), invoke_from=DEBUGGER)
    body = await conversations(console, app.id, limit="100")
    records = console.sim.dataset.records[app.id]
    expected = {c.id for c in records.conversations if c.invoke_from != DEBUGGER}
    assert debug.conversation_id not in {item["id"] for item in body["data"]}
    assert {item["id"] for item in body["data"]} == expected


async def test_chat_keeps_debugger(console: Console) -> None:
    app_id = chat_id(console)
    debug = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=1), invoke_from=DEBUGGER)
    body = await conversations(console, app_id, limit="100")
    item = next(item for item in body["data"] if item["id"] == debug.conversation_id)
    assert item["from_source"] == "console"
    assert item["from_account_name"] == console.sim.admin.name


async def test_advanced_chat_status_count(console: Console) -> None:
    app = console.sim.app_of_mode(AppMode.ADVANCED_CHAT)
    first = console.sim.dataset.add_message(app.id, NOW - timedelta(hours=2))
    console.sim.dataset.add_message(app.id, NOW - timedelta(hours=1), conversation_id=first.conversation_id, status="error")
    body = await conversations(console, app.id, limit="100")
    item = next(item for item in body["data"] if item["id"] == first.conversation_id)
    assert item["status_count"] == {"success": 1, "failed": 1, "partial_success": 0, "paused": 0}
    assert item["model_config"]["model"] is None


async def test_message_count_gte(console: Console) -> None:
    app_id = chat_id(console)
    body = await conversations(console, app_id, message_count_gte="3", limit="100")
    assert body["data"]
    assert min(item["message_count"] for item in body["data"]) >= 3


async def test_conversations_keyword(console: Console) -> None:
    app_id = chat_id(console)
    end_user = console.sim.dataset.add_end_user(app_id, session_id="customer-9123-ines")
    message = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=1), end_user_id=end_user.id)
    body = await conversations(console, app_id, keyword="9123-INES", limit="100")
    assert [item["id"] for item in body["data"]] == [message.conversation_id]
    assert body["data"][0]["from_end_user_session_id"] == "customer-9123-ines"


async def test_conversations_page_past_end(console: Console) -> None:
    body = await conversations(console, chat_id(console), page="99", limit="100")
    assert body["data"] == []
    assert body["has_more"] is False
    assert body["total"] > 0


async def test_annotated_filter_empty(console: Console) -> None:
    body = await conversations(console, chat_id(console), annotation_status="annotated")
    assert body["total"] == 0


async def test_bad_sort_by_400(console: Console) -> None:
    reply = await console.get(f"{PREFIX}/{chat_id(console)}/chat-conversations", console.sim.issue_session(), params={"sort_by": "name"})
    assert reply.status == 400
    assert "Input should be 'created_at', '-created_at', 'updated_at' or '-updated_at'" in reply.body["message"]


# -- chat-messages -----------------------------------------------------------


def add_conversation(console: Console, app_id: str, count: int) -> tuple[str, list[str]]:
    """Add a conversation of ``count`` messages a minute apart; return its id and the message ids, oldest first."""
    first = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=5))
    ids = [first.id]
    for number in range(1, count):
        later = console.sim.dataset.add_message(
            app_id, NOW - timedelta(hours=5, minutes=-number), conversation_id=first.conversation_id
        )
        ids.append(later.id)
    return first.conversation_id, ids


async def test_messages_cursor_pages(console: Console) -> None:
    app_id = chat_id(console)
    conversation_id, ids = add_conversation(console, app_id, 5)

    newest = await messages(console, app_id, conversation_id=conversation_id, limit="2")
    middle = await messages(console, app_id, conversation_id=conversation_id, limit="2", first_id=newest["data"][0]["id"])
    oldest = await messages(console, app_id, conversation_id=conversation_id, limit="2", first_id=middle["data"][0]["id"])

    assert [item["id"] for item in newest["data"]] == ids[3:5]
    assert [item["id"] for item in middle["data"]] == ids[1:3]
    assert [item["id"] for item in oldest["data"]] == ids[0:1]
    assert (newest["has_more"], middle["has_more"], oldest["has_more"]) == (True, True, False)


async def test_messages_exact_page_no_more(console: Console) -> None:
    app_id = chat_id(console)
    conversation_id, ids = add_conversation(console, app_id, 2)
    body = await messages(console, app_id, conversation_id=conversation_id, limit="2")
    assert [item["id"] for item in body["data"]] == ids
    assert body["has_more"] is False


async def test_messages_unknown_conversation_404(console: Console) -> None:
    reply = await console.get(
        f"{PREFIX}/{chat_id(console)}/chat-messages",
        console.sim.issue_session(),
        params={"conversation_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert reply.status == 404
    assert reply.body["message"] == "Conversation Not Exists."


async def test_messages_unknown_first_id_404(console: Console) -> None:
    app_id = chat_id(console)
    conversation_id, _ = add_conversation(console, app_id, 2)
    reply = await console.get(
        f"{PREFIX}/{app_id}/chat-messages",
        console.sim.issue_session(),
        params={"conversation_id": conversation_id, "first_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert reply.status == 404
    assert reply.body["message"] == "First message not found"


async def test_messages_tokens_without_price(console: Console) -> None:
    app_id = chat_id(console)
    message = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=1), message_tokens=321, answer_tokens=123)
    body = await messages(console, app_id, conversation_id=message.conversation_id)
    item = body["data"][0]
    assert (item["message_tokens"], item["answer_tokens"]) == (321, 123)
    assert not {"total_price", "currency", "model_provider", "model_id"} & set(item)
    assert item["metadata"]["usage"]["total_tokens"] == 444
    assert item["metadata"]["usage"]["total_price"] == str(message.total_price)


async def test_error_message_status(console: Console) -> None:
    app_id = chat_id(console)
    message = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=1), status="error", answer_tokens=0)
    item = (await messages(console, app_id, conversation_id=message.conversation_id))["data"][0]
    assert item["status"] == "error"
    assert item["error"]
    assert item["answer"] == ""


async def test_advanced_chat_message_run_id(console: Console) -> None:
    app = console.sim.app_of_mode(AppMode.ADVANCED_CHAT)
    message = console.sim.dataset.add_message(app.id, NOW - timedelta(hours=1))
    item = (await messages(console, app.id, conversation_id=message.conversation_id))["data"][0]
    run = next(run for run in console.sim.dataset.records[app.id].workflow_runs if run.message_id == message.id)
    assert item["workflow_run_id"] == run.id
    assert item["message"] == []


async def test_chat_message_run_id_null(console: Console) -> None:
    app_id = chat_id(console)
    message = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=1))
    item = (await messages(console, app_id, conversation_id=message.conversation_id))["data"][0]
    assert item["workflow_run_id"] is None


async def test_messages_future_hidden(console: Console) -> None:
    app_id = chat_id(console)
    first = console.sim.dataset.add_message(app_id, NOW - timedelta(minutes=5))
    console.sim.dataset.add_message(app_id, NOW + timedelta(minutes=5), conversation_id=first.conversation_id)
    before = await messages(console, app_id, conversation_id=first.conversation_id)
    console.sim.clock.advance(600)
    after = await messages(console, app_id, conversation_id=first.conversation_id)
    assert len(before["data"]) == 1
    assert len(after["data"]) == 2


async def test_messages_invalid_limit_400(console: Console) -> None:
    app_id = chat_id(console)
    message = console.sim.dataset.add_message(app_id, NOW - timedelta(hours=1))
    reply = await console.get(
        f"{PREFIX}/{app_id}/chat-messages",
        console.sim.issue_session(),
        params={"conversation_id": message.conversation_id, "limit": "101"},
    )
    assert reply.status == 400
    assert "1 validation error for ChatMessagesQuery\nlimit" in reply.body["message"]
