"""Generated and added run records: node plans, app logs, running runs and their determinism."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from otel_dify.dify.models import AppMode
from otel_dify.simulator import Dataset
from otel_dify.simulator.node_builder import NodeSpec
from otel_dify.simulator.records import APP_RUN, DEBUGGING, RUNNING

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(4, NOW, apps_per_mode=3)


def apps(dataset: Dataset, mode: AppMode) -> list[str]:
    return [app.id for app in dataset.apps.values() if app.mode is mode]


def all_nodes(dataset: Dataset, mode: AppMode) -> list[tuple[str, str | None, str]]:
    found: list[tuple[str, str | None, str]] = []
    for app_id in apps(dataset, mode):
        for run in dataset.records[app_id].workflow_runs:
            found.extend((node.node_type, node.model_provider, node.status) for node in dataset.nodes_of(app_id, run.id))
    return found


def test_plans_cover_node_types(dataset: Dataset) -> None:
    types = Counter(node_type for node_type, _, _ in all_nodes(dataset, AppMode.WORKFLOW))
    for node_type in ("start", "llm", "question-classifier", "parameter-extractor", "iteration", "loop", "agent", "end"):
        assert types[node_type] > 0, node_type


def test_plans_cover_providers(dataset: Dataset) -> None:
    providers = {provider for _, provider, _ in all_nodes(dataset, AppMode.WORKFLOW) if provider}
    assert providers == {"langgenius/openai/openai", "langgenius/anthropic/anthropic"}


def test_agent_nodes_lack_model(dataset: Dataset) -> None:
    agents = [(provider, status) for node_type, provider, status in all_nodes(dataset, AppMode.WORKFLOW) if node_type == "agent"]
    assert agents
    assert {provider for provider, _ in agents} == {None}


def test_nodes_deterministic() -> None:
    first, second = Dataset.generate(9, NOW), Dataset.generate(9, NOW)
    app_id = apps(first, AppMode.WORKFLOW)[0]
    run_ids = [run.id for run in first.records[app_id].workflow_runs]
    # Nodes are built on first use; the order of use must not change them.
    built_forward = {run_id: first.nodes_of(app_id, run_id) for run_id in run_ids}
    built_backward = {run_id: second.nodes_of(app_id, run_id) for run_id in reversed(run_ids)}
    assert built_forward == built_backward


def test_nodes_kept_after_build(dataset: Dataset) -> None:
    app_id = apps(dataset, AppMode.WORKFLOW)[0]
    run = dataset.records[app_id].workflow_runs[0]
    assert dataset.nodes_of(app_id, run.id) is dataset.nodes_of(app_id, run.id)


def test_nodes_inside_run(dataset: Dataset) -> None:
    for app_id in apps(dataset, AppMode.WORKFLOW):
        for run in dataset.records[app_id].workflow_runs:
            if run.status == RUNNING:
                continue
            assert run.finished_at is not None, run.id
            # Node times are rounded to the microsecond.
            latest_end = run.finished_at + timedelta(microseconds=10)
            for node in dataset.nodes_of(app_id, run.id):
                assert run.created_at <= node.created_at, run.id
                assert node.created_at + timedelta(seconds=node.elapsed_time) <= latest_end, run.id


def test_app_logs_only_workflow_app_runs(dataset: Dataset) -> None:
    for app in dataset.apps.values():
        for run in dataset.records[app.id].workflow_runs:
            expected = app.mode is AppMode.WORKFLOW and run.triggered_from == APP_RUN
            assert (run.log_id is not None) == expected, run.id
            assert (run.created_from is not None) == expected, run.id


def test_created_from_values(dataset: Dataset) -> None:
    values = {
        run.created_from for app_id in apps(dataset, AppMode.WORKFLOW) for run in dataset.records[app_id].workflow_runs
    }
    assert values == {None, "service-api", "web-app", "installed-app"}


def test_running_runs_near_now(dataset: Dataset) -> None:
    for app_id in apps(dataset, AppMode.WORKFLOW):
        running = [run for run in dataset.records[app_id].workflow_runs if run.status == RUNNING]
        assert len(running) == 2
        for run in running:
            assert NOW - timedelta(minutes=10) <= run.created_at < NOW
            assert (run.total_tokens, run.elapsed_time, run.finished_at) == (0, 0.0, None)


def test_versions_by_trigger(dataset: Dataset) -> None:
    app_id = apps(dataset, AppMode.WORKFLOW)[0]
    app = dataset.apps[app_id]
    for run in dataset.records[app_id].workflow_runs:
        expected = "draft" if run.triggered_from == DEBUGGING else app.updated_at.strftime("%Y-%m-%d %H:%M:%S.%f")
        assert run.version == expected


def test_partial_runs_count_exception(dataset: Dataset) -> None:
    partial = [
        (app_id, run)
        for app_id in apps(dataset, AppMode.WORKFLOW)
        for run in dataset.records[app_id].workflow_runs
        if run.status == "partial-succeeded"
    ]
    assert partial
    for app_id, run in partial:
        exceptions = [node for node in dataset.nodes_of(app_id, run.id) if node.status == "exception"]
        assert run.exceptions_count == len(exceptions) == 1


def test_chatflow_nodes_match_message(dataset: Dataset) -> None:
    app_id = apps(dataset, AppMode.ADVANCED_CHAT)[0]
    messages = {message.id: message for message in dataset.records[app_id].messages}
    for run in dataset.records[app_id].workflow_runs:
        message = messages[run.message_id or ""]
        llm = next(node for node in dataset.nodes_of(app_id, run.id) if node.node_type == "llm")
        assert llm.usage is not None
        assert (llm.usage.prompt_tokens, llm.usage.completion_tokens) == (message.message_tokens, message.answer_tokens)
        assert llm.model_name == message.model_name
        assert run.conversation_id == message.conversation_id


def test_add_run_default_node() -> None:
    dataset = Dataset.generate(4, NOW)
    app_id = apps(dataset, AppMode.WORKFLOW)[0]
    run = dataset.add_workflow_run(app_id, NOW - timedelta(hours=1), total_tokens=90)
    nodes = dataset.nodes_of(app_id, run.id)
    assert [node.node_type for node in nodes] == ["start", "llm", "end"]
    assert nodes[1].usage is not None
    assert (nodes[1].usage.prompt_tokens, nodes[1].usage.completion_tokens) == (60, 30)
    assert run.created_from == "service-api"


def test_add_run_total_from_specs() -> None:
    dataset = Dataset.generate(4, NOW)
    app_id = apps(dataset, AppMode.WORKFLOW)[0]
    specs = [NodeSpec("question-classifier", prompt_tokens=50, completion_tokens=5), NodeSpec("llm", prompt_tokens=70, completion_tokens=30)]
    run = dataset.add_workflow_run(app_id, NOW - timedelta(hours=1), nodes=specs)
    assert run.total_tokens == 155
    assert [node.node_type for node in dataset.nodes_of(app_id, run.id)] == ["start", "question-classifier", "llm", "end"]


def test_add_run_by_browser_user() -> None:
    dataset = Dataset.generate(4, NOW)
    app_id = apps(dataset, AppMode.WORKFLOW)[0]
    browser = dataset.add_end_user(app_id, type="browser")
    run = dataset.add_workflow_run(app_id, NOW - timedelta(hours=1), created_by=browser.id)
    assert run.created_from == "web-app"


def test_update_run_rejects_time_change() -> None:
    dataset = Dataset.generate(4, NOW)
    app_id = apps(dataset, AppMode.WORKFLOW)[0]
    run = dataset.records[app_id].workflow_runs[0]
    with pytest.raises(ValueError, match="cannot move"):
        dataset.update_workflow_run(app_id, run.id, created_at=NOW)
