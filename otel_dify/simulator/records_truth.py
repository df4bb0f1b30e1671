"""Ground truth of the record-level endpoints, computed straight from the records.

A record-level exporter counts each finished run, each LLM call inside it
and each message once. ``compute_record_truth`` gives the totals it should
reach over the records created in ``[since, now]``, without going through
the endpoint code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from otel_dify.dify.models import AppMode
from otel_dify.simulator.records import APP_RUN, DEBUGGER, RUNNING, App, AppRecords, NodeExecution

#: Provider and model key of agent nodes, whose model Dify does not report.
UNKNOWN_PROVIDER = "unknown"
UNKNOWN_MODEL = "unknown"
_CHAT_MODES = frozenset({AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT})


@dataclass
class ModelUsage:
    """LLM usage of one model summed over leaf node executions. ``cost`` maps a currency to its amount."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: dict[str, Decimal] = field(default_factory=dict)
    calls: int = 0


@dataclass(frozen=True)
class RecordTruth:
    """Record totals of one app over records created in ``[since, until]``.

    ``runs`` counts ``app-run`` runs in a final status by ``(status,
    created_from)``. ``created_from`` comes from the run's app log and is
    None for advanced-chat runs, which have no app log. Running runs and
    editor test runs (``debugging``) are left out of every run figure.
    ``workflow_tokens`` sums their ``total_tokens`` and ``durations`` lists
    their ``elapsed_time`` in seconds.

    ``models`` sums the leaf node executions of those runs by ``(provider,
    model)`` as ``node-executions`` reports them (``process_data``'s
    ``model_provider`` and ``model_name``). Iteration and loop containers
    are skipped, because their usage is their children's. Agent nodes,
    which report no model, count under ``(UNKNOWN_PROVIDER,
    UNKNOWN_MODEL)``. ``usage_mismatches`` counts runs whose leaf usage does
    not add up to their ``total_tokens``.

    The message figures cover chat, agent-chat and advanced-chat apps
    without debugger messages: ``message_input_tokens`` sums
    ``message_tokens``, ``message_output_tokens`` sums ``answer_tokens`` and
    ``messages`` counts messages by ``status``.
    """

    app_id: str
    since: datetime | None
    until: datetime
    runs: dict[tuple[str, str | None], int]
    workflow_tokens: int
    durations: list[float]
    models: dict[tuple[str, str], ModelUsage]
    usage_mismatches: int
    message_input_tokens: int
    message_output_tokens: int
    messages: dict[str, int]

    @property
    def run_count(self) -> int:
        """Finished app runs, over every status and source."""
        return sum(self.runs.values())


def model_key(node: NodeExecution) -> tuple[str, str]:
    """Return the ``(provider, model)`` a leaf node's usage counts under."""
    if node.model_name is None:
        return (UNKNOWN_PROVIDER, UNKNOWN_MODEL)
    return (node.model_provider or UNKNOWN_PROVIDER, node.model_name)


def compute_record_truth(
    app: App,
    records: AppRecords,
    *,
    now: datetime,
    since: datetime | None,
    nodes_of: Callable[[str], tuple[NodeExecution, ...]],
) -> RecordTruth:
    """Sum the app's records created at or after ``since`` (all when None) and at or before ``now``.

    ``nodes_of`` returns the node executions of a run id.
    """

    def in_window(created_at: datetime) -> bool:
        return created_at <= now and (since is None or created_at >= since)

    runs: dict[tuple[str, str | None], int] = {}
    workflow_tokens = 0
    durations: list[float] = []
    models: dict[tuple[str, str], ModelUsage] = {}
    mismatches = 0
    for run in records.workflow_runs:
        if not in_window(run.created_at) or run.triggered_from != APP_RUN or run.status == RUNNING:
            continue
        key = (run.status, run.created_from)
        runs[key] = runs.get(key, 0) + 1
        workflow_tokens += run.total_tokens
        durations.append(run.elapsed_time)

        leaf_tokens = 0
        for node in nodes_of(run.id):
            if node.usage is None or node.is_container:
                continue
            leaf_tokens += node.usage.total_tokens
            usage = models.setdefault(model_key(node), ModelUsage())
            usage.input_tokens += node.usage.prompt_tokens
            usage.output_tokens += node.usage.completion_tokens
            usage.cost[node.usage.currency] = usage.cost.get(node.usage.currency, Decimal(0)) + node.usage.total_price
            usage.calls += 1
        if leaf_tokens != run.total_tokens:
            mismatches += 1

    input_tokens = 0
    output_tokens = 0
    messages: dict[str, int] = {}
    if app.mode in _CHAT_MODES:
        for message in records.messages:
            if not in_window(message.created_at) or message.invoke_from == DEBUGGER:
                continue
            input_tokens += message.message_tokens
            output_tokens += message.answer_tokens
            messages[message.status] = messages.get(message.status, 0) + 1

    return RecordTruth(
        app_id=app.id,
        since=since,
        until=now,
        runs=runs,
        workflow_tokens=workflow_tokens,
        durations=durations,
        models=models,
        usage_mismatches=mismatches,
        message_input_tokens=input_tokens,
        message_output_tokens=output_tokens,
        messages=messages,
    )
