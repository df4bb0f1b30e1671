"""Query-string validation of the record endpoints, with Dify's error messages.

From Dify 1.11.0 each endpoint validates its query with a Pydantic model and
a 400 ``invalid_param`` lists every invalid field in the model's field
order. Before, flask-restful reqparse stopped at the first bad argument.
``QueryReader`` collects the errors of both styles, and the parse functions
return typed queries or raise ``DifyHTTPError``.

NOTE: the wording of UUID, timestamp and ``time_range`` errors and the
run-list ``status`` choices follow Pydantic and Dify's source. A real
server was not asked for them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from otel_dify.simulator.errors import FieldError, invalid_param
from otel_dify.simulator.profiles import VersionProfile
from otel_dify.simulator.record_features import (
    RUN_LIST_STATUSES,
    SERVICE_LOG_STATUSES,
    TRIGGERED_FROM_VALUES,
    RecordFeatures,
)
from otel_dify.simulator.workflow_logs import AppLogFilter

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_TIME_RANGE = re.compile(r"^(\d+)([dhms])$")
_TIME_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
SORT_BY_VALUES = ("created_at", "-created_at", "updated_at", "-updated_at")
ANNOTATION_STATUSES = ("annotated", "not_annotated", "all")


class QueryReader:
    """Read typed query parameters and collect every invalid one.

    Each reader method returns the parsed value, or its default when the
    parameter is absent or invalid; ``check`` then raises for the invalid
    ones. An empty string counts as absent for optional choices, UUIDs and
    timestamps when the profile treats empty parameters as absent (1.11.0+).
    """

    def __init__(self, query: Mapping[str, str], profile: VersionProfile) -> None:
        self._query = query
        self._profile = profile
        self.errors: list[FieldError] = []

    def _raw(self, name: str) -> str | None:
        raw = self._query.get(name)
        if raw == "" and self._profile.empty_param_is_absent:
            return None
        return raw

    def text(self, name: str) -> str | None:
        """Return a free-text parameter, or None when it is empty, because Dify filters only on non-empty text."""
        return self._query.get(name) or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """Return an integer in ``low..high``."""
        raw = self._query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self._fail(
                name,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
                raw,
                f"invalid literal for int() with base 10: '{raw}'",
            )
            return default

        # Dify's int_range(low, high) passes no argument name, so flask-restful writes "argument".
        legacy = f"Invalid argument: {value}. argument must be within the range {low} - {high}"
        if value < low:
            self._fail(name, f"Input should be greater than or equal to {low}", "greater_than_equal", raw, legacy)
            return default
        if value > high:
            self._fail(name, f"Input should be less than or equal to {high}", "less_than_equal", raw, legacy)
            return default
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, kind: str = "literal_error") -> str | None:
        """Return one of ``choices``. ``kind`` is ``enum`` for an Enum field and ``literal_error`` for a Literal."""
        raw = self._raw(name)
        if raw is None or raw in choices:
            return raw
        quoted = [f"'{choice}'" for choice in choices]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
        self._fail(
            name, f"Input should be {listed}", kind, raw, f"The value '{raw}' is not a valid choice for '{name}'."
        )
        return None

    def uuid(self, name: str, *, required: bool = False) -> str | None:
        """Return a UUID in its lower-case canonical form."""
        raw = self._raw(name)
        if raw is None:
            if required:
                self._fail(
                    name, "Field required", "missing", dict(self._query), "Missing required parameter in the query string"
                )
            return None
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            # Pydantic appends the parser's reason ("invalid character: ..."), which the simulator leaves out.
            self._fail(name, "Input should be a valid UUID", "uuid_parsing", raw, f"{raw} is not a valid uuid.")
            return None

    def boolean(self, name: str, default: bool = False) -> bool:
        """Return a boolean written the ways Pydantic accepts (true/false, 1/0, yes/no, on/off, t/f, y/n)."""
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self._fail(
            name,
            "Input should be a valid boolean, unable to interpret input",
            "bool_parsing",
            raw,
            f"Invalid literal for boolean(): {raw}",
        )
        return default

    def timestamp(self, name: str) -> datetime | None:
        """Return an ISO 8601 date or time as aware UTC. A value without an offset is read as UTC."""
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            self._fail(name, f"Input should be a valid datetime or date, {_datetime_reason(raw)}",
                       "datetime_from_date_parsing", raw, f"Invalid isoformat string: '{raw}'")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)

    def time_range(self, name: str) -> timedelta | None:
        """Return a ``7d``, ``4h``, ``30m`` or ``30s`` range."""
        raw = self._raw(name)
        if raw is None:
            return None
        match = _TIME_RANGE.match(raw)
        if match is None:
            message = "Value error, time_range must be a number followed by d, h, m or s"
            self._fail(name, message, "value_error", raw, f"Invalid time_range: {raw}")
            return None
        return timedelta(**{_TIME_UNITS[match.group(2)]: int(match.group(1))})

    def check(self, model: str) -> None:
        """Raise 400 ``invalid_param`` naming Pydantic model ``model`` when any parameter was invalid."""
        if self.errors:
            raise invalid_param(self._profile, model, self.errors)

    def _fail(self, name: str, message: str, kind: str, value: object, legacy: str) -> None:
        self.errors.append(FieldError(name, message, kind, value, legacy))


def _datetime_reason(raw: str) -> str:
    # Pydantic's most common reasons. Other inputs get another reason from Dify.
    if len(raw) < 10:
        return "input is too short"
    if not raw[:4].isdigit():
        return "invalid character in year"
    return "unexpected extra characters at the end of the input"


@dataclass(frozen=True)
class AppLogQuery:
    """Parameters of ``workflow-app-logs`` and ``/v1/workflows/logs``."""

    page: int
    limit: int
    detail: bool
    filter: AppLogFilter


def parse_app_log_query(query: Mapping[str, str], profile: VersionProfile, *, service_api: bool) -> AppLogQuery:
    """Validate the app-log parameters of the console list, or of ``/v1/workflows/logs``.

    Parameters a profile predates are ignored, as Dify ignores unknown ones.
    """
    features = RecordFeatures.for_profile(profile)
    reader = QueryReader(query, profile)

    keyword = reader.text("keyword")
    if service_api:
        status = reader.choice("status", SERVICE_LOG_STATUSES)
    else:
        status = reader.choice("status", features.app_log_statuses, kind="enum" if features.app_log_details else "literal_error")
    before = reader.timestamp("created_at__before") if features.app_log_time_filters else None
    after = reader.timestamp("created_at__after") if features.app_log_time_filters else None
    session_id = reader.text("created_by_end_user_session_id")
    account_email = reader.text("created_by_account")
    detail = reader.boolean("detail") if features.app_log_details and not service_api else False
    page = reader.integer("page", 1, 1, 99999)
    limit = reader.integer("limit", 20, 1, 100)
    reader.check("WorkflowLogQuery" if service_api else "WorkflowAppLogQuery")

    log_filter = AppLogFilter(
        status=status,
        keyword=keyword,
        created_after=after,
        created_before=before,
        end_user_session_id=session_id,
        account_email=account_email,
    )
    return AppLogQuery(page=page, limit=limit, detail=detail, filter=log_filter)


@dataclass(frozen=True)
class RunListQuery:
    """Parameters of ``workflow-runs`` and ``advanced-chat/workflow-runs``."""

    last_id: str | None
    limit: int
    status: str | None
    triggered_from: str


def parse_run_list_query(query: Mapping[str, str], profile: VersionProfile) -> RunListQuery:
    """Validate the run-list parameters.

    ``triggered_from`` defaults to ``debugging``, so without it the list
    holds only editor test runs. Profiles before 1.9.2 ignore ``status`` and
    ``triggered_from`` and always list debugging runs.
    """
    features = RecordFeatures.for_profile(profile)
    reader = QueryReader(query, profile)
    last_id = reader.uuid("last_id")
    limit = reader.integer("limit", 20, 1, 100)
    status = None
    triggered_from = "debugging"
    if features.run_list_filters:
        status = reader.choice("status", RUN_LIST_STATUSES)
        triggered_from = reader.choice("triggered_from", TRIGGERED_FROM_VALUES) or "debugging"
    reader.check("WorkflowRunListQuery")
    return RunListQuery(last_id=last_id, limit=limit, status=status, triggered_from=triggered_from)


@dataclass(frozen=True)
class RunCountQuery:
    """Parameters of ``workflow-runs/count`` (1.9.2+)."""

    status: str | None
    time_range: timedelta | None
    triggered_from: str


def parse_run_count_query(query: Mapping[str, str], profile: VersionProfile) -> RunCountQuery:
    """Validate the run-count parameters. ``triggered_from`` defaults to ``debugging`` here too."""
    reader = QueryReader(query, profile)
    status = reader.choice("status", RUN_LIST_STATUSES)
    time_range = reader.time_range("time_range")
    triggered_from = reader.choice("triggered_from", TRIGGERED_FROM_VALUES) or "debugging"
    reader.check("WorkflowRunCountQuery")
    return RunCountQuery(status=status, time_range=time_range, triggered_from=triggered_from)


@dataclass(frozen=True)
class ConversationQuery:
    """Parameters of ``chat-conversations``. ``start`` and ``end`` stay raw for the time-window parser."""

    keyword: str | None
    start: str | None
    end: str | None
    annotation_status: str
    message_count_gte: int | None
    page: int
    limit: int
    sort_by: str


def parse_conversation_query(query: Mapping[str, str], profile: VersionProfile) -> ConversationQuery:
    """Validate the conversation-list parameters (``start``/``end`` are checked later, like Dify does)."""
    reader = QueryReader(query, profile)
    keyword = reader.text("keyword")
    annotation_status = reader.choice("annotation_status", ANNOTATION_STATUSES) or "all"
    message_count_gte = reader.integer("message_count_gte", 0, 1, 99999) if "message_count_gte" in query else None
    page = reader.integer("page", 1, 1, 99999)
    limit = reader.integer("limit", 20, 1, 100)
    sort_by = reader.choice("sort_by", SORT_BY_VALUES) or "-updated_at"
    reader.check("ChatConversationQuery")
    return ConversationQuery(
        keyword=keyword,
        start=query.get("start"),
        end=query.get("end"),
        annotation_status=annotation_status,
        message_count_gte=message_count_gte,
        page=page,
        limit=limit,
        sort_by=sort_by,
    )


@dataclass(frozen=True)
class MessageQuery:
    """Parameters of ``chat-messages``."""

    conversation_id: str
    first_id: str | None
    limit: int


def parse_message_query(query: Mapping[str, str], profile: VersionProfile) -> MessageQuery:
    """Validate the chat-message parameters, of which ``conversation_id`` is required."""
    reader = QueryReader(query, profile)
    conversation_id = reader.uuid("conversation_id", required=True)
    first_id = reader.uuid("first_id")
    limit = reader.integer("limit", 20, 1, 100)
    reader.check("ChatMessagesQuery")
    assert conversation_id is not None  # check() raised otherwise
    return MessageQuery(conversation_id=conversation_id, first_id=first_id, limit=limit)
