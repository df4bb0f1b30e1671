"""Build the node executions of a workflow run from short node specs.

A run's executions are a ``start`` node, the spec'd nodes in order (an
iteration or loop container followed by its children), and a terminal node
(``end`` for workflow apps, ``answer`` for advanced-chat apps) when the run
got that far. ``index`` counts executions from 1 in start order. The run's
elapsed time is shared out over the nodes, so node times lie inside the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from otel_dify.simulator.pricing import DEFAULT_MODEL
from otel_dify.simulator.records import RUNNING, NodeExecution
from otel_dify.simulator.usage import make_usage, model_price

#: Node types that call a model and so carry usage when they have tokens.
USAGE_NODE_TYPES = frozenset({"llm", "question-classifier", "parameter-extractor", "agent"})
START_SECONDS = 0.015
TERMINAL_SECONDS = 0.008
#: Time an iteration or loop container runs beyond its children.
CONTAINER_SECONDS = 0.004
#: Errors of nodes in status failed or exception. A failed run's error names its failed node.
NODE_TIMEOUT_ERROR = "Request timed out."
RATE_LIMIT_ERROR = "[langgenius/openai/openai] Rate Limit Error, Error code: 429 - You exceeded your current quota."
EXCEPTION_NODE_ERROR = "HTTP request failed: 502 Bad Gateway"

_TITLES = {
    "start": "Start",
    "end": "End",
    "answer": "Answer",
    "llm": "LLM",
    "question-classifier": "Question Classifier",
    "parameter-extractor": "Parameter Extractor",
    "agent": "Agent",
    "iteration": "Iteration",
    "loop": "Loop",
    "code": "Code",
    "http-request": "HTTP Request",
}

IdFactory = Callable[[], str]


@dataclass(frozen=True)
class NodeSpec:
    """One node of a run to build.

    ``node_type`` is Dify's node type. The types in ``USAGE_NODE_TYPES`` get
    usage from ``prompt_tokens`` and ``completion_tokens`` at the list price
    of ``provider``/``model``, unless both counts are 0. An ``iteration`` or
    ``loop`` runs ``children``, one spec per child execution in order, and
    has no usage of its own. ``status`` is the node's own status.
    """

    node_type: str = "llm"
    provider: str = DEFAULT_MODEL.provider
    model: str = DEFAULT_MODEL.model
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str = "succeeded"
    children: tuple[NodeSpec, ...] = ()
    title: str | None = None
    error: str | None = None


class _Builder:
    """Running state of one ``build_nodes`` call: clock, index and id bookkeeping."""

    def __init__(self, created_at: datetime, work_share: float, new_id: IdFactory) -> None:
        self.clock = created_at
        self.work_share = work_share
        self.new_id = new_id
        self.nodes: list[NodeExecution] = []
        self.node_ids: set[str] = set()
        self.titles: set[str] = set()

    def unique(self, base: str, used: set[str], separator: str) -> str:
        candidate, number = base, 1
        while candidate in used:
            number += 1
            candidate = f"{base}{separator}{number}"
        used.add(candidate)
        return candidate

    def add(
        self,
        spec: NodeSpec,
        *,
        elapsed: float,
        predecessor: str | None,
        node_id: str | None = None,
        parent: tuple[str, int] | None = None,
    ) -> NodeExecution:
        if node_id is None:
            node_id = self.unique(spec.node_type.replace("-", "_"), self.node_ids, "_")
        title = spec.title or self.unique(_TITLES.get(spec.node_type, spec.node_type.title()), self.titles, " ")
        usage = None
        if spec.node_type in USAGE_NODE_TYPES and spec.prompt_tokens + spec.completion_tokens > 0:
            price = model_price(spec.provider, spec.model)
            usage = make_usage(price, spec.prompt_tokens, spec.completion_tokens, round(elapsed, 3))
        names_model = spec.node_type in USAGE_NODE_TYPES and spec.node_type != "agent"
        node = NodeExecution(
            id=self.new_id(),
            index=len(self.nodes) + 1,
            node_id=node_id,
            node_type=spec.node_type,
            title=title,
            status=spec.status,
            created_at=self.clock,
            elapsed_time=round(elapsed, 6),
            predecessor_node_id=predecessor,
            model_provider=spec.provider if names_model else None,
            model_name=spec.model if names_model else None,
            usage=usage,
            parent_node_id=parent[0] if parent else None,
            parent_round=parent[1] if parent else None,
            error=spec.error,
        )
        self.nodes.append(node)
        return node


def build_nodes(
    specs: Sequence[NodeSpec],
    *,
    created_at: datetime,
    elapsed_time: float,
    terminal: str | None,
    new_id: IdFactory,
) -> tuple[NodeExecution, ...]:
    """Return the node executions of a run that started at ``created_at``.

    ``elapsed_time`` (seconds) is the run's duration, or a planned duration
    for a running run. ``terminal`` is ``end``, ``answer`` or None for a run
    that stopped before its terminal node. Every id comes from ``new_id``.
    """
    work_nodes = sum(max(len(spec.children), 1) for spec in specs)
    overhead = START_SECONDS + TERMINAL_SECONDS + CONTAINER_SECONDS * sum(1 for spec in specs if spec.children)
    work_seconds = max(elapsed_time - overhead, 0.01 * max(work_nodes, 1))
    builder = _Builder(created_at, work_seconds / max(work_nodes, 1), new_id)

    start = builder.add(NodeSpec("start"), elapsed=START_SECONDS, predecessor=None, node_id="start")
    builder.clock += timedelta(seconds=START_SECONDS)
    previous = start.node_id
    for spec in specs:
        previous = _add_spec(builder, spec, previous)
    if terminal is not None:
        builder.add(NodeSpec(terminal), elapsed=TERMINAL_SECONDS, predecessor=previous, node_id=terminal)
    return tuple(builder.nodes)


def _add_spec(builder: _Builder, spec: NodeSpec, predecessor: str) -> str:
    if not spec.children:
        node = builder.add(spec, elapsed=builder.work_share, predecessor=predecessor)
        builder.clock += timedelta(seconds=builder.work_share)
        return node.node_id

    # The container starts first and ends after its last child, so its
    # elapsed time covers all children.
    container_elapsed = builder.work_share * len(spec.children) + CONTAINER_SECONDS
    container = builder.add(spec, elapsed=container_elapsed, predecessor=predecessor)
    for round_index, child in enumerate(spec.children):
        child_id = f"{container.node_id}_{child.node_type.replace('-', '_')}"
        builder.add(
            child,
            elapsed=builder.work_share,
            predecessor=container.node_id,
            node_id=child_id,
            parent=(container.node_id, round_index),
        )
        builder.clock += timedelta(seconds=builder.work_share)
    builder.clock += timedelta(seconds=CONTAINER_SECONDS)
    return container.node_id


def chatflow_plan(provider: str, model: str, prompt_tokens: int, completion_tokens: int, *, failed: bool) -> list[NodeSpec]:
    """Return the specs of a chatflow turn: one LLM call, failed when the message is an error."""
    status = "failed" if failed else "succeeded"
    error = NODE_TIMEOUT_ERROR if failed else None
    return [NodeSpec("llm", provider, model, prompt_tokens, completion_tokens, status=status, error=error)]


def running_specs(specs: Sequence[NodeSpec]) -> list[NodeSpec]:
    """Return ``specs`` with every node, children included, in status ``running``."""
    return [
        replace(spec, status=RUNNING, children=tuple(running_specs(spec.children))) for spec in specs
    ]


def finish_nodes(
    nodes: Sequence[NodeExecution],
    *,
    status: str,
    finished_at: datetime,
    terminal: str,
    new_id: IdFactory,
) -> tuple[NodeExecution, ...]:
    """Return the executions of a running run once it ends with run status ``status``.

    Running nodes succeed, except that the last one fails (``failed``) or
    stops (``stopped``) with the run. A ``partial-succeeded`` run gets an
    ``http-request`` node in status ``exception`` before its terminal node.
    Succeeded and partial-succeeded runs get the ``terminal`` node, which
    ends at ``finished_at``. Usage of the running nodes is kept, because
    their model calls were made.
    """
    running = [node for node in nodes if node.status == RUNNING]
    last_running = running[-1].id if running else None
    finished: list[NodeExecution] = []
    for node in nodes:
        if node.status != RUNNING:
            finished.append(node)
        elif node.id == last_running and status in ("failed", "stopped"):
            error = NODE_TIMEOUT_ERROR if status == "failed" else None
            finished.append(replace(node, status=status, error=error))
        else:
            finished.append(replace(node, status="succeeded"))

    tail: list[NodeSpec] = []
    if status == "partial-succeeded":
        tail.append(NodeSpec("http-request", status="exception", error=EXCEPTION_NODE_ERROR))
    if status in ("succeeded", "partial-succeeded"):
        tail.append(NodeSpec(terminal))

    clock = finished_at - timedelta(seconds=TERMINAL_SECONDS * len(tail))
    for spec in tail:
        predecessor = _last_top_level(finished)
        finished.append(
            NodeExecution(
                id=new_id(),
                index=len(finished) + 1,
                node_id=terminal if spec.node_type == terminal else spec.node_type.replace("-", "_"),
                node_type=spec.node_type,
                title=_TITLES[spec.node_type],
                status=spec.status,
                created_at=clock,
                elapsed_time=TERMINAL_SECONDS,
                predecessor_node_id=predecessor,
                error=spec.error,
            )
        )
        clock += timedelta(seconds=TERMINAL_SECONDS)
    return tuple(finished)


def run_error(nodes: Sequence[NodeExecution]) -> str | None:
    """Return the error Dify stores on a failed run: the failed node's, prefixed with its title."""
    for node in nodes:
        if node.status == "failed" and node.error:
            return f"Node {node.title} run failed: {node.error}"
    return None


def _last_top_level(nodes: Sequence[NodeExecution]) -> str | None:
    for node in reversed(nodes):
        if node.parent_node_id is None:
            return node.node_id
    return None
