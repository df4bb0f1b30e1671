"""Incremental reading of chat messages: conversations changed since the watermark, then their new messages.

The cursor's watermark is the ``updated_at`` of the last conversation read
completely. Conversations are listed oldest update first, so when the budget
ends mid-way the watermark stays at the last complete one and the next poll
continues there. A conversation listed again inside the overlap is read again
only when its ``updated_at`` changed. A message counts once, when its answer
is complete or once it is older than the overlap; an unfinished one is held as
pending and its conversation is read again in later polls.

Dify's ``start`` filter takes local minutes in the account's time zone, so
the window start is rounded down to the minute in that zone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from otel_dify.dify.errors import NotFoundError
from otel_dify.dify.records_client import ConsoleRecordsClient
from otel_dify.records.levels import Level
from otel_dify.records.models import Conversation, MessageRecord
from otel_dify.records.parsing import parse_conversation_page, parse_message_page
from otel_dify.records.recorder import AppContext, Recorder
from otel_dify.records.runs import RequestBudget, Window
from otel_dify.records.state import Cursor, PendingMessage

logger = logging.getLogger(__name__)

#: Called for each advanced-chat message with a workflow run id, on Dify releases before 1.9.2.
RunIdSink = Callable[[AppContext, MessageRecord], None]


def local_minute(unix_s: int, zone: ZoneInfo) -> str:
    """Format Unix seconds as ``YYYY-MM-DD HH:MM`` in ``zone``, rounded down to the minute."""
    return datetime.fromtimestamp(unix_s, timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M")


class MessageReader:
    """Reads the new messages of one app in one poll and counts them.

    ``on_run_id`` receives advanced-chat messages that carry a workflow run
    id, when runs cannot be listed (Dify before 1.9.2); None ignores them.
    """

    def __init__(
        self,
        client: ConsoleRecordsClient,
        context: AppContext,
        cursor: Cursor,
        recorder: Recorder,
        *,
        overlap_s: int,
        on_run_id: RunIdSink | None = None,
    ) -> None:
        self._client = client
        self._context = context
        self._cursor = cursor
        self._recorder = recorder
        self._overlap_s = overlap_s
        self._on_run_id = on_run_id

    async def collect(self, window: Window, budget: RequestBudget, zone: ZoneInfo) -> None:
        """Read changed conversations and their new messages; DifyError propagates."""
        app_id = self._context.app.id
        since = local_minute(window.start, zone)
        done: set[str] = set()
        complete = True
        more_pages = False
        page_number = 0

        while budget.available:
            page_number += 1
            budget.spend()
            self._recorder.stats.request(Level.MESSAGES)
            page = parse_conversation_page(
                await self._client.chat_conversations(app_id, updated_since=since, page=page_number)
            )
            for conversation in page.conversations:
                changed = self._cursor.conversations.get(conversation.id) != conversation.updated_at
                if changed and conversation.id not in done:
                    if not await self._read_conversation(conversation, window, window.start, budget):
                        complete = False
                        break
                    self._cursor.conversations[conversation.id] = conversation.updated_at
                    done.add(conversation.id)
                # Conversations come oldest update first, so every earlier one is complete.
                self._cursor.watermark = max(self._cursor.watermark, conversation.updated_at)
            more_pages = page.has_more and bool(page.conversations)
            if not complete or not more_pages:
                break

        if not complete or more_pages:
            logger.info(
                "more changed conversations than one poll's page budget; the rest is read in later polls",
                extra={"app_id": app_id},
            )

        await self._read_pending(window, budget, done)
        next_start = max(window.floor, self._cursor.watermark - self._overlap_s)
        self._cursor.seen.prune_older_than(next_start)
        for conversation_id in [
            key for key, updated_at in self._cursor.conversations.items() if updated_at < next_start
        ]:
            del self._cursor.conversations[conversation_id]

    async def _read_pending(self, window: Window, budget: RequestBudget, done: set[str]) -> None:
        """Read again the conversations whose unfinished messages were not re-read above."""
        oldest_by_conversation: dict[str, int] = {}
        for pending in self._cursor.pending_messages.values():
            if pending.conversation_id in done:
                continue
            known = oldest_by_conversation.get(pending.conversation_id)
            if known is None or pending.created_at < known:
                oldest_by_conversation[pending.conversation_id] = pending.created_at

        for conversation_id, oldest in sorted(oldest_by_conversation.items(), key=lambda item: item[1]):
            if not budget.available:
                break
            # Each pending message keeps the end user of its conversation.
            conversation = Conversation(id=conversation_id, updated_at=0, end_user=None)
            try:
                await self._read_conversation(conversation, window, min(oldest, window.start), budget)
            except NotFoundError:
                logger.warning(
                    "a conversation with unfinished messages no longer exists; they will not be counted",
                    extra={"app_id": self._context.app.id, "conversation_id": conversation_id},
                )
                for message_id in [
                    key
                    for key, pending in self._cursor.pending_messages.items()
                    if pending.conversation_id == conversation_id
                ]:
                    del self._cursor.pending_messages[message_id]

    async def _read_conversation(
        self, conversation: Conversation, window: Window, stop_before: int, budget: RequestBudget
    ) -> bool:
        """Read one conversation's messages back to ``stop_before``; return False when the budget ran out first."""
        first_id: str | None = None
        while True:
            if not budget.available:
                return False
            budget.spend()
            self._recorder.stats.request(Level.MESSAGES)
            page = parse_message_page(
                await self._client.chat_messages(self._context.app.id, conversation.id, first_id=first_id)
            )
            for message in page.messages:
                self._accept(message, conversation, window)
            if not page.messages or not page.has_more or page.messages[0].created_at < stop_before:
                return True
            first_id = page.messages[0].id

    def _accept(self, message: MessageRecord, conversation: Conversation, window: Window) -> None:
        cursor = self._cursor
        if message.id in cursor.seen:
            return
        pending = cursor.pending_messages.get(message.id)
        # Older messages were counted, or precede counting, unless they were held as pending.
        if pending is None and message.created_at < max(window.start, window.floor):
            return

        end_user = pending.end_user if pending is not None else conversation.end_user
        aged = message.created_at < window.upper - self._overlap_s
        if not message.looks_finished and not aged:
            cursor.pending_messages[message.id] = PendingMessage(conversation.id, message.created_at, end_user)
            return

        cursor.pending_messages.pop(message.id, None)
        self._recorder.count_message(self._context, message, end_user)
        cursor.seen.add(message.id, message.created_at)
        if self._on_run_id is not None and message.workflow_run_id:
            self._on_run_id(self._context, message)
