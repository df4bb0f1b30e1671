"""Incremental message reading: changed conversations, de-duplication, unfinished answers and budgets."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from otel_dify.dify.errors import NotFoundError
from otel_dify.records.messages import MessageReader, local_minute
from otel_dify.records.runs import RequestBudget, Window
from tests.records.support import CHAT_APP_ID, body, context, make_recorder

OVERLAP = 600
START = 1_796_400_000
ZONE = ZoneInfo("America/New_York")


def template_message() -> dict[str, Any]:
    return copy.deepcopy(body("62_chat_messages_l2")["data"][0])


def template_conversation() -> dict[str, Any]:
    return copy.deepcopy(body("60_chat_conversations_chat_p2_l5")["data"][0])


class FakeChats:
    """Conversations and messages answered like Dify's console lists."""

    def __init__(self) -> None:
        self.conversations: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[Any, ...]] = []

    def say(
        self, conversation_id: str, message_id: str, created_at: int, *, finished: bool = True, user: str = "u1"
    ) -> None:
        conversation = self.conversations.setdefault(
            conversation_id, {"id": conversation_id, "updated_at": created_at, "user": user, "messages": []}
        )
        conversation["updated_at"] = max(conversation["updated_at"], created_at)
        conversation["messages"].append({"id": message_id, "created_at": created_at, "finished": finished})

    def finish(self, conversation_id: str, message_id: str) -> None:
        for message in self.conversations[conversation_id]["messages"]:
            if message["id"] == message_id:
                message["finished"] = True

    async def chat_conversations(
        self, app_id: str, *, updated_since: str, page: int, limit: int = 100
    ) -> dict[str, Any]:
        self.requests.append(("conversations", updated_since, page))
        since = int(datetime.strptime(updated_since, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE).timestamp())
        matching = sorted(
            (item for item in self.conversations.values() if item["updated_at"] >= since),
            key=lambda item: (item["updated_at"], item["id"]),
        )
        chunk = matching[(page - 1) * limit : page * limit]
        data = []
        for item in chunk:
            conversation = template_conversation()
            conversation.update(id=item["id"], updated_at=item["updated_at"], from_end_user_session_id=item["user"])
            data.append(conversation)
        return {
            "page": page,
            "limit": limit,
            "total": len(matching),
            "has_more": len(matching) > page * limit,
            "data": data,
        }

    async def chat_messages(
        self, app_id: str, conversation_id: str, *, first_id: str | None, limit: int = 100
    ) -> dict[str, Any]:
        self.requests.append(("messages", conversation_id, first_id))
        if conversation_id not in self.conversations:
            raise NotFoundError("Conversation Not Exists.", status=404)
        messages = sorted(self.conversations[conversation_id]["messages"], key=lambda item: item["created_at"])
        if first_id is not None:
            position = next(index for index, item in enumerate(messages) if item["id"] == first_id)
            messages = messages[:position]
        chunk = messages[-limit:]
        data = []
        for item in chunk:
            message = template_message()
            message.update(id=item["id"], conversation_id=conversation_id, created_at=item["created_at"])
            if not item["finished"]:
                message.update(answer_tokens=0, provider_response_latency=0)
            data.append(message)
        return {"limit": limit, "has_more": len(messages) > limit, "data": data}


class Harness:
    def __init__(self, *, max_pages: int = 20) -> None:
        self.chats = FakeChats()
        self.recorder, self.histograms = make_recorder(started_at=START)
        self.context = context(CHAT_APP_ID, "chat", "Support Bot")
        self.now = START
        self.max_pages = max_pages
        self.queued_runs: list[str] = []

    @property
    def cursor(self):
        return self.recorder.state.cursor(CHAT_APP_ID, "messages")

    async def poll(self, advance: int = 60) -> int:
        self.now += advance
        before = len(self.chats.requests)
        window = Window.for_cursor(self.cursor, floor=START, overlap_s=OVERLAP, now=self.now)
        reader = MessageReader(self.chats, self.context, self.cursor, self.recorder, overlap_s=OVERLAP)  # type: ignore[arg-type]
        await reader.collect(window, RequestBudget(self.max_pages), ZONE)
        return len(self.chats.requests) - before

    def messages(self) -> int:
        return int(self.recorder.state.totals.sum("dify.messages"))

    def tokens(self, token_type: str) -> int:
        return int(self.recorder.state.totals.sum("dify.message.tokens", **{"gen_ai.token.type": token_type}))


def test_local_minute_in_account_zone() -> None:
    assert local_minute(1796411337, ZONE) == "2026-12-04 14:08"
    assert local_minute(1796411337, ZoneInfo("Asia/Tokyo")) == "2026-12-05 04:08"


async def test_messages_counted_once() -> None:
    harness = Harness()
    harness.chats.say("c1", "m1", START + 10)
    harness.chats.say("c1", "m2", START + 20)
    harness.chats.say("c2", "m3", START + 30)

    await harness.poll()
    harness.chats.say("c1", "m4", START + 70)
    await harness.poll()
    await harness.poll()

    assert harness.messages() == 4
    assert harness.tokens("input") == 4 * 1386
    assert harness.tokens("output") == 4 * 460
    assert harness.histograms.values("dify.message.latency") == [pytest.approx(7.058)] * 4


async def test_messages_before_start_ignored() -> None:
    harness = Harness()
    harness.chats.say("c1", "old", START - 100)
    harness.chats.say("c1", "new", START + 10)

    await harness.poll()

    assert harness.messages() == 1


async def test_unfinished_message_counted_when_done() -> None:
    harness = Harness()
    harness.chats.say("c1", "m1", START + 10, finished=False, user="customer-7")

    await harness.poll()
    assert harness.messages() == 0
    assert "m1" in harness.cursor.pending_messages

    harness.chats.finish("c1", "m1")
    await harness.poll()
    await harness.poll()

    assert harness.messages() == 1
    assert harness.tokens("output") == 460
    assert harness.cursor.pending_messages == {}


async def test_unfinished_message_counted_after_overlap() -> None:
    harness = Harness()
    harness.chats.say("c1", "m1", START + 10, finished=False)
    await harness.poll()

    await harness.poll(advance=OVERLAP + 60)

    assert harness.messages() == 1
    assert harness.tokens("output") == 0


async def test_pending_conversation_read_again() -> None:
    harness = Harness()
    harness.chats.say("c1", "m1", START + 10, finished=False)
    await harness.poll()
    # Another conversation moves the watermark far past c1's update.
    harness.chats.say("c2", "m2", START + 5_000)
    harness.chats.finish("c1", "m1")

    await harness.poll(advance=5_000)

    assert harness.messages() == 2
    assert ("messages", "c1", None) in harness.chats.requests[-3:]


async def test_budget_spread_over_polls() -> None:
    harness = Harness(max_pages=5)
    for number in range(30):
        harness.chats.say(f"c{number:02d}", f"m{number:02d}", START + 10 + number)

    polls = 0
    while harness.messages() < 30 and polls < 20:
        assert await harness.poll(advance=1 if polls else 100) <= 5
        polls += 1

    assert harness.messages() == 30
    assert polls > 1


async def test_long_conversation_paged_back() -> None:
    harness = Harness()
    for number in range(250):
        harness.chats.say("c1", f"m{number:03d}", START + 10 + number)

    await harness.poll(advance=400)
    await harness.poll()

    assert harness.messages() == 250
    firsts = [request[2] for request in harness.chats.requests if request[0] == "messages"]
    assert firsts[:3] == [None, "m150", "m050"]


async def test_end_user_label_from_conversation() -> None:
    harness = Harness()
    harness.recorder.labels.mode = "raw"
    harness.chats.say("c1", "m1", START + 10, user="customer-1")

    await harness.poll()
    harness.recorder.labels.promote()
    harness.chats.say("c1", "m2", START + 70, user="customer-1")
    await harness.poll()

    totals = harness.recorder.state.totals
    assert totals.get("dify.messages", CHAT_APP_ID, {"dify.message.status": "normal", "dify.end_user.id": "other"}) == 1
    assert (
        totals.get("dify.messages", CHAT_APP_ID, {"dify.message.status": "normal", "dify.end_user.id": "customer-1"})
        == 1
    )


async def test_deleted_conversation_pending_dropped() -> None:
    harness = Harness()
    harness.chats.say("c1", "m1", START + 10, finished=False)
    await harness.poll()
    del harness.chats.conversations["c1"]
    harness.chats.say("c2", "m2", START + 2_000)

    await harness.poll(advance=2_000)

    assert harness.cursor.pending_messages == {}
    assert harness.messages() == 1


async def test_unchanged_conversation_not_read_again() -> None:
    harness = Harness()
    harness.chats.say("c1", "m1", START + 10)
    await harness.poll()

    await harness.poll()
    await harness.poll()

    assert [request for request in harness.chats.requests if request[0] == "messages"] == [("messages", "c1", None)]
