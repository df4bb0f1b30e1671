"""Typed views of the records that record-level collection counts.

Times are Unix seconds (Dify serialises every timestamp as whole seconds),
durations are float seconds, prices are :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: Run statuses that can still change. Every other status, including ones a
#: later Dify adds, is treated as final so that a run is never held forever.
NON_FINAL_RUN_STATUSES = frozenset({"running", "scheduled", "paused"})

#: Node types whose usage sums that of their child executions, which are listed too.
CONTAINER_NODE_TYPES = frozenset({"iteration", "loop"})

#: The model name reported when a node names none (agent nodes).
UNKNOWN_MODEL = "unknown"


@dataclass(frozen=True)
class RunRecord:
    """One workflow run as a list or detail endpoint reports it.

    ``created_at`` is the time the list filters and sorts by: the log row's
    time for workflow logs, the run's own time otherwise. ``total_tokens`` and
    ``elapsed_s`` are None when the endpoint does not report them.
    ``created_from`` (service-api, web-app, installed-app) and ``end_user``
    (session id, else end-user id) are None when unknown.
    """

    id: str
    created_at: int
    status: str
    elapsed_s: float | None
    total_tokens: int | None
    created_from: str | None
    end_user: str | None

    @property
    def final(self) -> bool:
        return self.status not in NON_FINAL_RUN_STATUSES


@dataclass(frozen=True)
class RunPage:
    """One page of a run list. ``total`` is None for cursor lists, which report no total."""

    runs: tuple[RunRecord, ...]
    has_more: bool
    total: int | None
    skipped: int = 0


@dataclass(frozen=True)
class LeafUsage:
    """The model usage of one leaf node execution.

    ``input_tokens`` and ``output_tokens`` are None when the node reports
    only a total (agent nodes whose usage comes from ``execution_metadata``).
    ``price`` and ``currency`` are None when the node reports no price.
    ``latency_s`` is the model call latency, None when not reported.
    """

    node_type: str
    provider_id: str | None
    model: str
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int
    price: Decimal | None
    currency: str | None
    latency_s: float | None


@dataclass(frozen=True)
class NodeUsage:
    """What the node executions of one run report: the leaf usages and whether a node still runs."""

    leaves: tuple[LeafUsage, ...]
    running: bool


@dataclass(frozen=True)
class Conversation:
    """One chat conversation: when it last changed and who started it."""

    id: str
    updated_at: int
    end_user: str | None


@dataclass(frozen=True)
class ConversationPage:
    conversations: tuple[Conversation, ...]
    has_more: bool


@dataclass(frozen=True)
class MessageRecord:
    """One chat message and its token usage.

    ``latency_s`` is Dify's ``provider_response_latency``; 0 while the
    answer is being generated. ``workflow_run_id`` is set for advanced-chat
    messages only.
    """

    id: str
    conversation_id: str
    created_at: int
    status: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    workflow_run_id: str | None

    @property
    def looks_finished(self) -> bool:
        """Whether the answer is complete: an error, a latency or answer tokens are set once it is."""
        return self.status == "error" or self.latency_s > 0 or self.output_tokens > 0


@dataclass(frozen=True)
class MessagePage:
    """One page of messages, in ascending time order, and whether older ones exist."""

    messages: tuple[MessageRecord, ...]
    has_more: bool


@dataclass(frozen=True)
class ServiceAppInfo:
    """What ``GET /v1/info`` tells about the app of an API key."""

    name: str
    mode: str
