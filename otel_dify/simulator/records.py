"""The rows the simulator keeps, shaped like the Dify tables they stand for.

All datetimes are aware UTC. Ids are UUID strings. Prices are ``Decimal``
with 7 decimals, like Dify's ``Numeric(10, 7)`` columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from otel_dify.dify.models import AppMode

#: ``messages.invoke_from`` values the simulator writes.
INVOKE_FROM_VALUES = ("service-api", "web-app", "explore", "debugger")
DEBUGGER = "debugger"

#: ``workflow_runs.triggered_from`` values the simulator writes.
APP_RUN = "app-run"
DEBUGGING = "debugging"

#: ``workflow_runs.status`` values the simulator writes.
RUN_STATUSES = ("succeeded", "failed", "stopped", "partial-succeeded")


@dataclass(slots=True)
class Account:
    """A console user. ``timezone`` (IANA name) changes through the API."""

    id: str
    name: str
    email: str
    password: str
    timezone: str
    created_at: datetime
    last_login_at: datetime | None = None
    interface_language: str = "en-US"


@dataclass(frozen=True, slots=True)
class Workspace:
    """A Dify tenant with exactly one owner account."""

    id: str
    name: str
    owner_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class App:
    """One app of a workspace. ``workflow_id`` is set for workflow and advanced-chat apps."""

    id: str
    name: str
    mode: AppMode
    workspace_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    workflow_id: str | None
    site_code: str
    icon: str


@dataclass(frozen=True, slots=True)
class EndUser:
    """A web-app or service-API user of one app (``end_users`` row)."""

    id: str
    app_id: str
    type: str
    session_id: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation; completion apps get one per message, as Dify writes them."""

    id: str
    app_id: str
    created_at: datetime
    invoke_from: str
    from_end_user_id: str | None
    from_account_id: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One user turn and its LLM usage (``messages`` row plus its like feedback).

    ``from_end_user_id`` is None for explore and debugger messages, which an
    account sends from the console. ``provider_response_latency`` is in seconds.
    """

    id: str
    app_id: str
    conversation_id: str
    created_at: datetime
    from_end_user_id: str | None
    from_account_id: str | None
    invoke_from: str
    message_tokens: int
    answer_tokens: int
    total_price: Decimal | None
    currency: str
    provider_response_latency: float
    status: str
    liked: bool

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.message_tokens + self.answer_tokens


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """One workflow execution (``workflow_runs`` row).

    ``created_by`` is an end-user id when ``created_by_role`` is ``end_user``
    and an account id when it is ``account``. ``elapsed_time`` is in seconds.
    """

    id: str
    app_id: str
    created_at: datetime
    status: str
    triggered_from: str
    total_tokens: int
    elapsed_time: float
    created_by: str
    created_by_role: str
    message_id: str | None = None


@dataclass(slots=True)
class AppRecords:
    """Everything recorded for one app, each list in ascending ``created_at`` order."""

    end_users: list[EndUser] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    workflow_runs: list[WorkflowRun] = field(default_factory=list)
