"""JSON bodies of workflow runs, app logs and node executions, shaped like Dify 1.15.0's.

Timestamps are Unix seconds. Prices in usage objects are strings. Fields a
profile predates are left out (see ``record_features``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.node_builder import run_error
from otel_dify.simulator.record_features import RecordFeatures
from otel_dify.simulator.record_text import ANSWERS, SYSTEM_PROMPT, pick, run_inputs, run_outputs
from otel_dify.simulator.records import RUNNING, Account, App, EndUser, NodeExecution, WorkflowRun
from otel_dify.simulator.usage import usage_json, usage_totals_json
from otel_dify.simulator.views import unix_seconds

#: ``end_users.type`` as the API sends it: Dify 1.15.0 writes ``service-api`` for service-API users.
_END_USER_TYPES = {"service_api": "service-api"}
_MODEL_NODE_TYPES = frozenset({"llm", "question-classifier", "parameter-extractor"})


def account_json(account: Account | None) -> dict[str, Any] | None:
    """Return Dify's simple account object ``{id, name, email}``."""
    if account is None:
        return None
    return {"id": account.id, "name": account.name, "email": account.email}


def end_user_json(end_user: EndUser | None) -> dict[str, Any] | None:
    """Return Dify's simple end-user object. Dify 1.15.0 always sends ``is_anonymous`` as false."""
    if end_user is None:
        return None
    return {
        "id": end_user.id,
        "type": _END_USER_TYPES.get(end_user.type, end_user.type),
        "is_anonymous": False,
        "session_id": end_user.session_id,
    }


def creator_fields(run: WorkflowRun, dataset: Dataset) -> dict[str, Any]:
    """Return ``created_by_role``, ``created_by_account`` and ``created_by_end_user`` of a run."""
    account = dataset.accounts.get(run.created_by) if run.created_by_role == "account" else None
    end_user = dataset.end_user(run.app_id, run.created_by) if run.created_by_role == "end_user" else None
    return {
        "created_by_role": run.created_by_role,
        "created_by_account": account_json(account),
        "created_by_end_user": end_user_json(end_user),
    }


def _finished_at(run: WorkflowRun) -> int | None:
    return unix_seconds(run.finished_at) if run.status != RUNNING else None


def log_run_json(run: WorkflowRun, nodes: Sequence[NodeExecution], features: RecordFeatures) -> dict[str, Any]:
    """Return the ``workflow_run`` object inside an app-log item."""
    body: dict[str, Any] = {"id": run.id, "version": run.version, "status": run.status}
    if features.app_log_details:
        body["triggered_from"] = run.triggered_from
    body.update(
        {
            "error": run_error(nodes),
            "elapsed_time": run.elapsed_time,
            "total_tokens": run.total_tokens,
            "total_steps": len(nodes),
            "created_at": unix_seconds(run.created_at),
            "finished_at": _finished_at(run),
            "exceptions_count": run.exceptions_count,
        }
    )
    return body


def app_log_item(
    run: WorkflowRun, nodes: Sequence[NodeExecution], dataset: Dataset, features: RecordFeatures, *, detail: bool
) -> dict[str, Any]:
    """Return one item of ``workflow-app-logs`` or ``/v1/workflows/logs``."""
    body: dict[str, Any] = {"id": run.log_id, "workflow_run": log_run_json(run, nodes, features)}
    if features.app_log_details:
        body["details"] = {"trigger_metadata": {}} if detail else None
    body["created_from"] = run.created_from
    body.update(creator_fields(run, dataset))
    body["created_at"] = unix_seconds(run.created_at)
    return body


def run_list_item(run: WorkflowRun, nodes: Sequence[NodeExecution], dataset: Dataset, *, advanced: bool) -> dict[str, Any]:
    """Return one item of ``workflow-runs``. The advanced-chat list adds the conversation and message ids."""
    account = dataset.accounts.get(run.created_by) if run.created_by_role == "account" else None
    body: dict[str, Any] = {
        "id": run.id,
        "version": run.version,
        "status": run.status,
        "elapsed_time": run.elapsed_time,
        "total_tokens": run.total_tokens,
        "total_steps": len(nodes),
        "created_by_account": account_json(account),
        "created_at": unix_seconds(run.created_at),
        "finished_at": _finished_at(run),
        "exceptions_count": run.exceptions_count,
        "retry_index": None,
    }
    if advanced:
        body["conversation_id"] = run.conversation_id
        body["message_id"] = run.message_id
    return body


def run_detail(app: App, run: WorkflowRun, nodes: Sequence[NodeExecution], dataset: Dataset) -> dict[str, Any]:
    """Return the body of ``GET …/workflow-runs/<run_id>``."""
    return {
        "id": run.id,
        "version": run.version,
        "graph": _graph(nodes),
        "inputs": run_inputs(app, run),
        "status": run.status,
        "outputs": run_outputs(app, run),
        "error": run_error(nodes),
        "elapsed_time": run.elapsed_time,
        "total_tokens": run.total_tokens,
        "total_steps": len(nodes),
        **creator_fields(run, dataset),
        "created_at": unix_seconds(run.created_at),
        "finished_at": _finished_at(run),
        "exceptions_count": run.exceptions_count,
    }


def service_run_detail(app: App, run: WorkflowRun, nodes: Sequence[NodeExecution]) -> dict[str, Any]:
    """Return the body of ``GET /v1/workflows/run/<run_id>``, whose ``inputs`` is a JSON string."""
    return {
        "id": run.id,
        "workflow_id": app.workflow_id,
        "status": run.status,
        "inputs": json.dumps(run_inputs(app, run)),
        "outputs": run_outputs(app, run),
        "error": run_error(nodes),
        "total_steps": len(nodes),
        "total_tokens": run.total_tokens,
        "created_at": unix_seconds(run.created_at),
        "finished_at": _finished_at(run),
        "elapsed_time": run.elapsed_time,
    }


def node_list(
    app: App, run: WorkflowRun, nodes: Sequence[NodeExecution], dataset: Dataset, features: RecordFeatures
) -> dict[str, Any]:
    """Return the body of ``…/workflow-runs/<run_id>/node-executions``: ``{"data": [node, ...]}`` in index order."""
    creator = creator_fields(run, dataset)
    return {"data": [_node_json(app, run, node, nodes, creator, features) for node in nodes]}


def _node_json(
    app: App,
    run: WorkflowRun,
    node: NodeExecution,
    nodes: Sequence[NodeExecution],
    creator: dict[str, Any],
    features: RecordFeatures,
) -> dict[str, Any]:
    running = node.status == RUNNING
    inputs, process_data, outputs = _node_io(app, run, node, nodes)
    metadata = {} if running else _execution_metadata(node, nodes)
    body: dict[str, Any] = {
        "id": node.id,
        "index": node.index,
        "predecessor_node_id": node.predecessor_node_id,
        "node_id": node.node_id,
        "node_type": node.node_type,
        "title": node.title,
        "inputs": inputs,
        "process_data": None if running else process_data,
        "outputs": None if running else outputs,
        "status": node.status,
        "error": node.error,
        # Dify reports 0 until the node ends.
        "elapsed_time": 0.0 if running else node.elapsed_time,
        "execution_metadata": metadata,
        "extras": {},
        "created_at": unix_seconds(node.created_at),
        **creator,
        "finished_at": None if running else unix_seconds(_node_end(node)),
    }
    if features.node_truncation_flags:
        body.update({"inputs_truncated": False, "outputs_truncated": False, "process_data_truncated": False})
    return body


def _node_end(node: NodeExecution) -> datetime:
    return node.created_at + timedelta(seconds=node.elapsed_time)


def _node_io(
    app: App, run: WorkflowRun, node: NodeExecution, nodes: Sequence[NodeExecution]
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """Return a node's ``inputs``, ``process_data`` and ``outputs``."""
    if node.node_type == "start":
        system: dict[str, Any] = {
            "sys.files": [],
            "sys.user_id": run.created_by,
            "sys.app_id": app.id,
            "sys.workflow_id": app.workflow_id,
            "sys.workflow_run_id": run.id,
        }
        values = {**run_inputs(app, run), **system}
        return values, None, dict(values)
    if node.node_type in ("end", "answer"):
        return {}, None, run_outputs(app, run)
    if node.is_container:
        texts = [pick(ANSWERS, child.id) for child in nodes if child.parent_node_id == node.node_id]
        return {"iterator_selector": ["start", "items"]} if node.node_type == "iteration" else {}, None, {"output": texts}
    if node.node_type == "agent":
        outputs: dict[str, Any] = {"text": pick(ANSWERS, node.id), "files": [], "json": []}
        if node.usage is not None:
            outputs["usage"] = usage_json(node.usage)
        return {"query": pick(ANSWERS, run.id)}, {"agent_strategy": "function_calling"}, outputs
    if node.node_type in _MODEL_NODE_TYPES:
        return {}, _model_process_data(node, run_inputs(app, run)), _model_outputs(node)
    if node.status == "exception":
        return {}, None, {"status_code": 502, "body": "", "headers": {}}
    return {}, None, {}


def _model_process_data(node: NodeExecution, inputs: dict[str, Any]) -> dict[str, Any]:
    user_text = next(iter(inputs.values()), "")
    data: dict[str, Any] = {
        "model_mode": "chat",
        "prompts": [
            {"role": "system", "text": SYSTEM_PROMPT, "files": []},
            {"role": "user", "text": str(user_text), "files": []},
        ],
    }
    if node.usage is not None:
        data["usage"] = usage_json(node.usage)
    data["finish_reason"] = "stop" if node.status == "succeeded" else None
    data["model_provider"] = node.model_provider
    data["model_name"] = node.model_name
    return data


def _model_outputs(node: NodeExecution) -> dict[str, Any]:
    if node.status == "failed":
        return {}
    usage = usage_json(node.usage) if node.usage is not None else None
    if node.node_type == "question-classifier":
        return {"class_name": "Billing", "class_id": "1", "usage": usage}
    if node.node_type == "parameter-extractor":
        return {"__is_success": 1, "__reason": None, "usage": usage}
    return {"text": pick(ANSWERS, node.id), "reasoning_content": "", "usage": usage, "finish_reason": "stop"}


def _execution_metadata(node: NodeExecution, nodes: Sequence[NodeExecution]) -> dict[str, Any]:
    """Return ``execution_metadata``: own usage totals, or a container's sum over its children."""
    metadata: dict[str, Any] = {}
    if node.is_container:
        children = [child for child in nodes if child.parent_node_id == node.node_id]
        usages = [child.usage for child in children if child.usage is not None]
        total_price = sum((usage.total_price for usage in usages), Decimal("0"))
        metadata.update(usage_totals_json(sum(usage.total_tokens for usage in usages), total_price, "USD"))
        durations = {str(child.parent_round): round(child.elapsed_time, 6) for child in children}
        metadata[f"{node.node_type}_duration_map"] = durations
    elif node.usage is not None:
        metadata.update(usage_totals_json(node.usage.total_tokens, node.usage.total_price, node.usage.currency))

    if node.parent_node_id is not None:
        parent = next((item for item in nodes if item.node_id == node.parent_node_id and item.is_container), None)
        kind = parent.node_type if parent is not None else "iteration"
        metadata[f"{kind}_id"] = node.parent_node_id
        metadata[f"{kind}_index"] = node.parent_round
    return metadata


def _graph(nodes: Sequence[NodeExecution]) -> dict[str, Any]:
    """Return a workflow graph with the run's top-level nodes in a row, joined in execution order."""
    top = [node for node in nodes if node.parent_node_id is None]
    graph_nodes = []
    for position, node in enumerate(top):
        data: dict[str, Any] = {"desc": "", "selected": False, "title": node.title, "type": node.node_type}
        if node.model_provider is not None:
            data["model"] = {"provider": node.model_provider, "name": node.model_name, "mode": "chat", "completion_params": {}}
        point = {"x": 30 + 304 * position, "y": 227}
        graph_nodes.append(
            {
                "data": data,
                "height": 90,
                "id": node.node_id,
                "position": point,
                "positionAbsolute": dict(point),
                "selected": False,
                "sourcePosition": "right",
                "targetPosition": "left",
                "type": "custom",
                "width": 244,
            }
        )
    edges = []
    for source, target in zip(top, top[1:]):
        edges.append(
            {
                "data": {"isInIteration": False, "isInLoop": False, "sourceType": source.node_type, "targetType": target.node_type},
                "id": f"{source.node_id}-to-{target.node_id}",
                "source": source.node_id,
                "sourceHandle": "source",
                "target": target.node_id,
                "targetHandle": "target",
                "type": "custom",
                "zIndex": 0,
            }
        )
    return {"edges": edges, "nodes": graph_nodes, "viewport": {"x": 0, "y": 0, "zoom": 0.7}}
