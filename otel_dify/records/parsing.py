"""JSON bodies of Dify's record endpoints to :mod:`otel_dify.records.models`.

Each function raises :class:`InvalidRecordError` when the body itself has the
wrong shape. One malformed item in an otherwise valid list is skipped and
counted in the page's ``skipped`` field, so that it cannot block every later
record of the app.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, TypeVar

from otel_dify.records.models import (
    CONTAINER_NODE_TYPES,
    UNKNOWN_MODEL,
    Conversation,
    ConversationPage,
    LeafUsage,
    MessagePage,
    MessageRecord,
    NodeUsage,
    RunPage,
    RunRecord,
    ServiceAppInfo,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class InvalidRecordError(ValueError):
    """A record body or item lacks a field or has a value of the wrong type."""


def _integer(value: Any, field: str) -> int:
    """Read an integer that Dify sends as a number or as a digit string."""
    if isinstance(value, bool):
        raise InvalidRecordError(f"field {field!r} is a boolean, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise InvalidRecordError(f"field {field!r} is {value!r}, expected an integer")


def _optional_integer(value: Any, field: str) -> int | None:
    return None if value is None else _count(value, field)


def _count(value: Any, field: str) -> int:
    """Read a token count, which a counter cannot take negative."""
    number = _integer(value, field)
    if number < 0:
        raise InvalidRecordError(f"field {field!r} is {number}, expected a count of at least 0")
    return number


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise InvalidRecordError(f"field {field!r} is a boolean, expected a number")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise InvalidRecordError(f"field {field!r} is {value!r}, expected a number") from None
    else:
        raise InvalidRecordError(f"field {field!r} is {value!r}, expected a number")
    if not math.isfinite(number):
        raise InvalidRecordError(f"field {field!r} is {value!r}, expected a finite number")
    return number


def _optional_number(value: Any, field: str) -> float | None:
    return None if value is None else _number(value, field)


def _decimal(value: Any, field: str) -> Decimal | None:
    """Read a price, which Dify serialises as a decimal string such as ``"0.0002708"``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRecordError(f"field {field!r} is {value!r}, expected a decimal string")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRecordError(f"field {field!r} is {value!r}, expected a decimal string") from None
    if not price.is_finite() or price < 0:
        raise InvalidRecordError(f"field {field!r} is {value!r}, expected a finite decimal of at least 0")
    return price


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRecordError(f"field {field!r} is {value!r}, expected a non-empty string")
    return value


def _optional_string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRecordError(f"field {field!r} is not an object")
    return value


def _items(body: Any, field: str = "data") -> list[Any]:
    items = _object(body, "body").get(field)
    if not isinstance(items, list):
        raise InvalidRecordError(f"the body lacks the list {field!r}")
    return items


def _has_more(body: Mapping[str, Any]) -> bool:
    value = body.get("has_more")
    if not isinstance(value, bool):
        raise InvalidRecordError("the body lacks the boolean 'has_more'")
    return value


def _end_user(value: Any) -> str | None:
    """Return an end user's session id, or its id when the session id is missing."""
    if not isinstance(value, dict):
        return None
    return _optional_string(value.get("session_id")) or _optional_string(value.get("id"))


def _run_fields(
    run: Mapping[str, Any], *, created_at: int, created_from: str | None, end_user: str | None
) -> RunRecord:
    return RunRecord(
        id=_string(run.get("id"), "id"),
        created_at=created_at,
        status=_string(run.get("status"), "status"),
        elapsed_s=_optional_number(run.get("elapsed_time"), "elapsed_time"),
        total_tokens=_optional_integer(run.get("total_tokens"), "total_tokens"),
        created_from=created_from,
        end_user=end_user,
    )


def parse_log_item(item: Any) -> RunRecord:
    """Read one item of ``workflow-app-logs`` or ``/v1/workflows/logs``.

    The record's ``created_at`` is the log row's, because the list filters and
    sorts by it; the run's own time is the fallback.
    """
    log = _object(item, "item")
    run = _object(log.get("workflow_run"), "workflow_run")
    created_at = log.get("created_at")
    if created_at is None:
        created_at = run.get("created_at")
    return _run_fields(
        run,
        created_at=_integer(created_at, "created_at"),
        created_from=_optional_string(log.get("created_from")),
        end_user=_end_user(log.get("created_by_end_user")),
    )


def parse_run_item(item: Any) -> RunRecord:
    """Read one item of ``advanced-chat/workflow-runs``, or a run detail of the console or service API."""
    run = _object(item, "item")
    return _run_fields(
        run,
        created_at=_integer(run.get("created_at"), "created_at"),
        created_from=None,
        end_user=_end_user(run.get("created_by_end_user")),
    )


def _parse_items(items: list[Any], parse: Callable[[Any], T], what: str) -> tuple[list[T], int]:
    parsed: list[T] = []
    skipped = 0
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except InvalidRecordError as error:
            skipped += 1
            logger.warning("skipped a malformed %s: %s", what, error, extra={"item_index": index})
    return parsed, skipped


def parse_log_page(body: Any) -> RunPage:
    """Read a page of a workflow log list: ``{page, limit, total, has_more, data}``."""
    items = _items(body)
    runs, skipped = _parse_items(items, parse_log_item, "workflow log item")
    total = body.get("total")
    return RunPage(
        runs=tuple(runs),
        has_more=_has_more(body),
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        skipped=skipped,
    )


def parse_run_page(body: Any) -> RunPage:
    """Read a page of a cursor run list: ``{limit, has_more, data}``."""
    items = _items(body)
    runs, skipped = _parse_items(items, parse_run_item, "workflow run item")
    return RunPage(runs=tuple(runs), has_more=_has_more(body), total=None, skipped=skipped)


def _usage_of(node: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, bool]:
    """Return the usage dict of a node and whether it carries the prompt/completion split.

    LLM, question-classifier, parameter-extractor and knowledge-retrieval
    nodes keep it in ``process_data.usage``. Agent nodes keep it in
    ``outputs.usage``, and some agent strategies pass only totals up in
    ``execution_metadata``.
    """
    process_data = node.get("process_data")
    if isinstance(process_data, dict) and isinstance(process_data.get("usage"), dict):
        return process_data["usage"], True

    outputs = node.get("outputs")
    if node.get("node_type") == "agent" and isinstance(outputs, dict) and isinstance(outputs.get("usage"), dict):
        return outputs["usage"], True

    metadata = node.get("execution_metadata")
    if node.get("node_type") == "agent" and isinstance(metadata, dict) and metadata.get("total_tokens") is not None:
        return metadata, False
    return None, False


def _leaf_usage(node: Mapping[str, Any]) -> LeafUsage | None:
    node_type = _optional_string(node.get("node_type")) or "unknown"
    if node_type in CONTAINER_NODE_TYPES:
        return None

    usage, split = _usage_of(node)
    if usage is None:
        return None

    raw_process_data = node.get("process_data")
    process_data: Mapping[str, Any] = raw_process_data if isinstance(raw_process_data, dict) else {}
    input_tokens = _optional_integer(usage.get("prompt_tokens"), "prompt_tokens") if split else None
    output_tokens = _optional_integer(usage.get("completion_tokens"), "completion_tokens") if split else None
    total = _optional_integer(usage.get("total_tokens"), "total_tokens")
    if total is None:
        total = (input_tokens or 0) + (output_tokens or 0)

    return LeafUsage(
        node_type=node_type,
        provider_id=_optional_string(process_data.get("model_provider")),
        model=_optional_string(process_data.get("model_name")) or UNKNOWN_MODEL,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total,
        price=_decimal(usage.get("total_price"), "total_price"),
        currency=(_optional_string(usage.get("currency")) or "").upper() or None,
        latency_s=_optional_number(usage.get("latency"), "latency"),
    )


def parse_node_executions(body: Any) -> NodeUsage:
    """Read ``{"data": [node execution, ...]}`` into the usage of its leaf nodes.

    Iteration and loop containers are skipped: their usage sums their child
    executions, which are listed as well. A node with usage in a shape that
    cannot be read raises, because skipping it would undercount the run.
    """
    leaves = []
    running = False
    for node in _items(body):
        node_object = _object(node, "node execution")
        if node_object.get("status") == "running":
            running = True
        leaf = _leaf_usage(node_object)
        if leaf is not None:
            leaves.append(leaf)
    return NodeUsage(leaves=tuple(leaves), running=running)


def parse_conversation_page(body: Any) -> ConversationPage:
    """Read a page of ``chat-conversations``."""

    def parse(item: Any) -> Conversation:
        conversation = _object(item, "item")
        end_user = _optional_string(conversation.get("from_end_user_session_id")) or _optional_string(
            conversation.get("from_end_user_id")
        )
        return Conversation(
            id=_string(conversation.get("id"), "id"),
            updated_at=_integer(conversation.get("updated_at"), "updated_at"),
            end_user=end_user,
        )

    conversations, _skipped = _parse_items(_items(body), parse, "conversation")
    return ConversationPage(conversations=tuple(conversations), has_more=_has_more(body))


def parse_message_page(body: Any) -> MessagePage:
    """Read a page of ``chat-messages``: ascending time order, ``has_more`` means older ones exist.

    NOTE: Dify 1.15 also returns the full usage with prices in
    ``metadata.usage``, but the 1.9.2 pipelines store the metadata before they
    attach the usage, so prices are not read from messages.
    """

    def parse(item: Any) -> MessageRecord:
        message = _object(item, "item")
        return MessageRecord(
            id=_string(message.get("id"), "id"),
            conversation_id=_string(message.get("conversation_id"), "conversation_id"),
            created_at=_integer(message.get("created_at"), "created_at"),
            status=_optional_string(message.get("status")) or "normal",
            input_tokens=_optional_integer(message.get("message_tokens"), "message_tokens") or 0,
            output_tokens=_optional_integer(message.get("answer_tokens"), "answer_tokens") or 0,
            latency_s=_optional_number(message.get("provider_response_latency"), "provider_response_latency") or 0.0,
            workflow_run_id=_optional_string(message.get("workflow_run_id")),
        )

    messages, _skipped = _parse_items(_items(body), parse, "message")
    return MessagePage(messages=tuple(messages), has_more=_has_more(body))


def parse_service_info(body: Any) -> ServiceAppInfo:
    """Read ``GET /v1/info``. ``mode`` exists from Dify 1.4.0; an older server gives ``unknown``."""
    info = _object(body, "body")
    return ServiceAppInfo(
        name=_optional_string(info.get("name")) or "",
        mode=_optional_string(info.get("mode")) or "unknown",
    )
