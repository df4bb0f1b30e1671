"""JSON bodies of ``chat-conversations`` items and ``chat-messages`` items, shaped like Dify 1.15.0's.

Neither carries a model or a price at the top level, as in Dify: a
message's usage appears only inside ``metadata``.
"""

from __future__ import annotations

from typing import Any

from otel_dify.dify.models import AppMode
from otel_dify.simulator.conversations import ConversationState
from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.record_text import MESSAGE_ERROR, SYSTEM_PROMPT, conversation_name, message_answer, message_query
from otel_dify.simulator.records import App, Message
from otel_dify.simulator.usage import make_usage, model_price, usage_json
from otel_dify.simulator.views import unix_seconds

#: Model of a chat app's current configuration. Conversation items show it,
#: whichever model generated the messages.
APP_CONFIG_MODEL = {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}}
_FEEDBACK_TEXT = "Helpful answer"


def _from_source(end_user_id: str | None) -> str:
    # Service-API and web-app traffic has an end user and counts as "api".
    # Explore and debugger traffic comes from a console account.
    return "api" if end_user_id else "console"


def conversation_item(state: ConversationState, app: App, dataset: Dataset) -> dict[str, Any]:
    """Return one item of ``chat-conversations``."""
    conversation = state.conversation
    end_user = dataset.end_user(app.id, conversation.from_end_user_id) if conversation.from_end_user_id else None
    account = dataset.accounts.get(conversation.from_account_id or "")
    model = None if app.mode is AppMode.ADVANCED_CHAT else dict(APP_CONFIG_MODEL)
    return {
        "id": conversation.id,
        "status": "normal",
        "from_source": _from_source(conversation.from_end_user_id),
        "from_end_user_id": conversation.from_end_user_id,
        "from_end_user_session_id": end_user.session_id if end_user else None,
        "from_account_id": conversation.from_account_id,
        "from_account_name": account.name if account else None,
        "name": conversation_name(conversation.id),
        "summary": message_query(state.messages[0]) if state.messages else None,
        "read_at": None,
        "created_at": unix_seconds(conversation.created_at),
        "updated_at": unix_seconds(state.updated_at),
        "annotated": False,
        "model_config": {"model": model, "pre_prompt": None},
        "message_count": len(state.messages),
        "user_feedback_stats": {"like": state.likes, "dislike": 0},
        "admin_feedback_stats": {"like": 0, "dislike": 0},
        "status_count": dict(state.status_count) if state.status_count is not None else None,
    }


def message_item(message: Message, app: App, workflow_run_id: str | None) -> dict[str, Any]:
    """Return one item of ``chat-messages``.

    ``metadata.usage`` is the message's usage at its model's list price.
    Advanced-chat messages have no prompt list and carry their run's id.
    """
    query = message_query(message)
    prompt = [] if app.mode is AppMode.ADVANCED_CHAT else [
        {"role": "system", "text": SYSTEM_PROMPT, "files": []},
        {"role": "user", "text": query, "files": []},
    ]
    price = model_price(message.model_provider or "", message.model_name or "")
    usage = make_usage(price, message.message_tokens, message.answer_tokens, message.provider_response_latency)
    feedbacks = []
    if message.liked:
        feedbacks.append(
            {
                "rating": "like",
                "content": _FEEDBACK_TEXT,
                "from_source": "user",
                "from_end_user_id": message.from_end_user_id,
                "from_account": None,
            }
        )
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "inputs": {},
        "query": query,
        "message": prompt,
        "message_tokens": message.message_tokens,
        "answer": message_answer(message),
        "answer_tokens": message.answer_tokens,
        "provider_response_latency": message.provider_response_latency,
        "from_source": _from_source(message.from_end_user_id),
        "from_end_user_id": message.from_end_user_id,
        "from_account_id": message.from_account_id,
        "feedbacks": feedbacks,
        "workflow_run_id": workflow_run_id,
        "annotation": None,
        "annotation_hit_history": None,
        "created_at": unix_seconds(message.created_at),
        "agent_thoughts": [],
        "message_files": [],
        "extra_contents": [],
        "metadata": {"annotation_reply": None, "retriever_resources": [], "usage": usage_json(usage), "reasoning": {}},
        "status": message.status,
        "error": MESSAGE_ERROR if message.status == "error" else None,
        "parent_message_id": None,
    }
