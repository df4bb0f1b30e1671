"""Chat conversations and their messages as ``chat-conversations`` and ``chat-messages`` list them.

A conversation's ``updated_at`` is the time of its newest message, so it
moves when a message is added. Only records created at or before the
simulator clock's ``now`` exist for clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from otel_dify.dify.models import AppMode
from otel_dify.simulator.records import DEBUGGER, App, AppRecords, Conversation, EndUser, Message
from otel_dify.simulator.record_text import conversation_name, message_answer, message_query

#: ``status_count`` keys of advanced-chat conversations, by workflow run status.
_STATUS_COUNT_KEYS = {"succeeded": "success", "failed": "failed", "partial-succeeded": "partial_success", "paused": "paused"}


class ConversationNotFoundError(LookupError):
    """The conversation does not exist in the app (404 "Conversation Not Exists.")."""


class FirstMessageNotFoundError(LookupError):
    """``first_id`` names no message of the conversation (404 "First message not found")."""


@dataclass
class ConversationState:
    """A conversation with the figures the list shows, over its messages up to ``now``."""

    conversation: Conversation
    messages: list[Message] = field(default_factory=list)
    status_count: dict[str, int] | None = None

    @property
    def updated_at(self) -> datetime:
        """Time of the newest message, or the creation time without messages."""
        return self.messages[-1].created_at if self.messages else self.conversation.created_at

    @property
    def likes(self) -> int:
        """Messages liked by the user."""
        return sum(1 for message in self.messages if message.liked)


@dataclass(frozen=True)
class ConversationFilter:
    """Filters of ``chat-conversations``. ``window_start`` and ``window_end`` are inclusive UTC bounds."""

    keyword: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    annotated_only: bool = False
    message_count_gte: int | None = None
    sort_by: str = "-updated_at"


def conversation_states(app: App, records: AppRecords, now: datetime) -> list[ConversationState]:
    """Return the app's conversations visible at ``now`` with their messages.

    Advanced-chat apps leave out debugger conversations, as Dify 0.6.0 and
    later do. Their ``status_count`` counts the workflow runs of the
    conversation's messages by status. Other modes have None.
    """
    advanced = app.mode is AppMode.ADVANCED_CHAT
    states: dict[str, ConversationState] = {}
    for conversation in records.conversations:
        if conversation.created_at > now:
            continue
        if advanced and conversation.invoke_from == DEBUGGER:
            continue
        status_count = dict.fromkeys(_STATUS_COUNT_KEYS.values(), 0) if advanced else None
        states[conversation.id] = ConversationState(conversation, status_count=status_count)

    for message in records.messages:
        if message.created_at > now:
            break
        state = states.get(message.conversation_id)
        if state is not None:
            state.messages.append(message)

    if advanced:
        for run in records.workflow_runs:
            if run.created_at > now:
                break
            state = states.get(run.conversation_id or "")
            key = _STATUS_COUNT_KEYS.get(run.status)
            if state is not None and state.status_count is not None and key is not None:
                state.status_count[key] += 1
    return list(states.values())


def filter_conversations(
    states: list[ConversationState], conversation_filter: ConversationFilter, end_user_of: Callable[[str], EndUser | None]
) -> list[ConversationState]:
    """Return the conversations that pass the filter, in ``sort_by`` order.

    The time window applies to ``updated_at`` when sorting by it (the
    default) and to ``created_at`` otherwise. No simulated conversation is
    annotated, so ``annotated_only`` leaves none.
    """
    by_updated = conversation_filter.sort_by.lstrip("-") == "updated_at"
    selected: list[ConversationState] = []
    for state in states:
        instant = state.updated_at if by_updated else state.conversation.created_at
        if conversation_filter.window_start is not None and instant < conversation_filter.window_start:
            continue
        if conversation_filter.window_end is not None and instant > conversation_filter.window_end:
            continue
        if conversation_filter.annotated_only:
            continue
        gte = conversation_filter.message_count_gte
        if gte is not None and len(state.messages) < gte:
            continue
        if conversation_filter.keyword and not _keyword_matches(state, conversation_filter.keyword, end_user_of):
            continue
        selected.append(state)

    def sort_key(state: ConversationState) -> tuple[datetime, str]:
        return (state.updated_at if by_updated else state.conversation.created_at, state.conversation.id)

    selected.sort(key=sort_key, reverse=conversation_filter.sort_by.startswith("-"))
    return selected


def _keyword_matches(state: ConversationState, keyword: str, end_user_of: Callable[[str], EndUser | None]) -> bool:
    # The searched fields (name, message query and answer text, end-user
    # session id) follow Dify's source. A real server was not asked.
    needle = keyword.lower()
    texts = [conversation_name(state.conversation.id)]
    for message in state.messages:
        texts.append(message_query(message))
        texts.append(message_answer(message))
    if state.conversation.from_end_user_id:
        end_user = end_user_of(state.conversation.from_end_user_id)
        if end_user is not None:
            texts.append(end_user.session_id)
    return any(needle in text.lower() for text in texts)


def message_page(
    records: AppRecords, conversation_id: str, *, first_id: str | None, limit: int, now: datetime
) -> tuple[list[Message], bool]:
    """Return up to ``limit`` messages older than ``first_id`` (or the newest), oldest first, and ``has_more``.

    ``has_more`` is True when older messages than the returned ones exist.
    Raises ``ConversationNotFoundError`` and ``FirstMessageNotFoundError``.
    """
    if not any(c.id == conversation_id and c.created_at <= now for c in records.conversations):
        raise ConversationNotFoundError(conversation_id)
    messages = [m for m in records.messages if m.conversation_id == conversation_id and m.created_at <= now]

    if first_id is not None:
        first = next((message for message in messages if message.id == first_id), None)
        if first is None:
            raise FirstMessageNotFoundError(first_id)
        messages = [message for message in messages if message.created_at < first.created_at]

    newest_first = list(reversed(messages))
    page = newest_first[:limit]
    has_more = False
    if len(page) == limit:
        oldest = page[-1]
        has_more = any(message.created_at < oldest.created_at for message in newest_first[limit:])
    page.reverse()
    return page, has_more
