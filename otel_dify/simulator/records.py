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

#: Final ``workflow_runs.status`` values the simulator writes.
RUN_STATUSES = ("succeeded", "failed", "stopped", "partial-succeeded")
#: Status of a run (and its node executions) that has not finished yet.
RUNNING = "running"

#: ``workflow_app_logs.created_from`` for each ``invoke_from`` that writes an app log.
#: Debugger runs write none.
CREATED_FROM_BY_INVOKE_FROM = {"service-api": "service-api", "web-app": "web-app", "explore": "installed-app"}

#: Node types that run child node executions and aggregate their usage.
CONTAINER_NODE_TYPES = frozenset({"iteration", "loop"})


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
    #: Model that generated the answer (``messages.model_provider`` and
    #: ``model_id``). Dify never sends them, and the simulator uses them only
    #: to price the usage in the message's ``metadata``.
    model_provider: str | None = None
    model_name: str | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.message_tokens + self.answer_tokens


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """LLM usage of one node execution, as Dify's ``LLMUsage`` stores it.

    A unit price times ``price_unit`` is the USD price of one token.
    ``prompt_price`` and ``completion_price`` are each rounded to 7
    decimals, and ``total_price`` is their sum. ``latency`` is in seconds.
    """

    prompt_tokens: int
    completion_tokens: int
    prompt_unit_price: Decimal
    completion_unit_price: Decimal
    price_unit: Decimal
    prompt_price: Decimal
    completion_price: Decimal
    latency: float
    currency: str = "USD"

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def total_price(self) -> Decimal:
        """Prompt plus completion price."""
        return self.prompt_price + self.completion_price


@dataclass(frozen=True, slots=True)
class NodeExecution:
    """One node execution of a workflow run (``workflow_node_executions`` row).

    ``usage`` is the node's own LLM usage. Only leaf nodes have one: llm,
    question-classifier, parameter-extractor and agent nodes. An iteration or
    loop container has none, and the API derives its totals from the
    children that name it in ``parent_node_id``. ``parent_round`` is the
    child's iteration or loop index. ``model_provider`` and ``model_name``
    are None for agent nodes, whose model Dify does not report.
    ``elapsed_time`` is in seconds.
    """

    id: str
    index: int
    node_id: str
    node_type: str
    title: str
    status: str
    created_at: datetime
    elapsed_time: float
    predecessor_node_id: str | None = None
    model_provider: str | None = None
    model_name: str | None = None
    usage: NodeUsage | None = None
    parent_node_id: str | None = None
    parent_round: int | None = None
    error: str | None = None

    @property
    def is_container(self) -> bool:
        """True for iteration and loop nodes."""
        return self.node_type in CONTAINER_NODE_TYPES


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
    #: ``workflow_app_logs`` row of the run. Dify writes one only for
    #: ``app-run`` runs of workflow apps, so both are None otherwise.
    log_id: str | None = None
    created_from: str | None = None
    #: Set on advanced-chat runs, like ``message_id``.
    conversation_id: str | None = None
    #: None while the run is ``running``.
    finished_at: datetime | None = None
    exceptions_count: int = 0
    #: Published workflow version, or ``draft`` for debugging runs.
    version: str = "draft"


@dataclass(frozen=True, slots=True)
class NodePlan:
    """What a generated run's node executions will be, built on first use.

    Building every run's nodes up front would make generating large data
    sets several times slower, so the generator stores this plan and
    ``Dataset.nodes_of`` builds (and keeps) the executions when a request or
    the ground truth first needs them. ``seed`` drives the random choices.
    ``status`` is the run's status, and a ``running`` run's nodes are all
    running. A chatflow turn has ``chatflow_model`` (provider, model) and
    ``prompt_tokens``; its completion tokens are the rest of ``total_tokens``.
    """

    seed: int
    created_at: datetime
    elapsed_time: float
    total_tokens: int
    status: str
    terminal: str
    chatflow_model: tuple[str, str] | None = None
    prompt_tokens: int = 0


@dataclass(slots=True)
class AppRecords:
    """Everything recorded for one app, each list in ascending ``created_at`` order."""

    end_users: list[EndUser] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    workflow_runs: list[WorkflowRun] = field(default_factory=list)
    #: Node executions by run id, in ``index`` order. A generated run has a
    #: plan in ``node_plans`` instead, until ``Dataset.nodes_of`` builds them.
    node_executions: dict[str, tuple[NodeExecution, ...]] = field(default_factory=dict)
    node_plans: dict[str, NodePlan] = field(default_factory=dict)
