from datetime import timedelta

import pytest

from otel_dify.dify.models import AppMode

from bench.control import RUN_AGE_S
from bench.sim_server import build_simulator
from bench.traffic import LLM_NODES_PER_RUN, RunTraffic, run_specs


def added_runs(simulator, since):
    return [
        run
        for records in simulator.dataset.records.values()
        for run in records.workflow_runs
        if run.created_at >= since
    ]


def test_run_specs_repeatable():
    assert run_specs(7) == run_specs(7)
    assert run_specs(7) != run_specs(8)


def test_run_specs_llm_nodes_cycle():
    counts = [sum(1 for spec in run_specs(number) if spec.node_type == "llm") for number in range(6)]

    assert counts == [*LLM_NODES_PER_RUN, *LLM_NODES_PER_RUN]


def test_run_specs_every_llm_has_tokens():
    for number in range(12):
        for spec in run_specs(number):
            if spec.node_type == "llm":
                assert spec.prompt_tokens > 0
                assert spec.completion_tokens > 0


def test_run_specs_several_models():
    models = {spec.model for spec in run_specs(1) if spec.node_type == "llm"}

    assert len(models) == 3


def test_add_counts_match_dataset():
    simulator = build_simulator(10, seed=1, days=2, token_ttl_s=3600)
    since = simulator.clock.now() - timedelta(seconds=RUN_AGE_S + 1)
    traffic = RunTraffic(simulator)

    added = traffic.add(9)

    runs = added_runs(simulator, since)
    nodes = [node for run in runs for node in simulator.dataset.nodes_of(run.app_id, run.id)]
    usages = [node.usage for node in nodes if node.node_type == "llm"]
    assert added.runs == 9
    assert len(runs) == 9
    assert added.llm_calls == len(usages)
    assert added.input_tokens == sum(usage.prompt_tokens for usage in usages)
    assert added.output_tokens == sum(usage.completion_tokens for usage in usages)
    assert traffic.total_runs == 9


def test_add_finished_and_dated_back():
    simulator = build_simulator(10, seed=1, days=2, token_ttl_s=3600)
    before = simulator.clock.now()
    since = before - timedelta(seconds=RUN_AGE_S + 1)

    RunTraffic(simulator).add(4)
    after = simulator.clock.now()

    runs = added_runs(simulator, since)
    assert len(runs) == 4
    for run in runs:
        assert run.status == "succeeded"
        assert run.created_at <= after - timedelta(seconds=RUN_AGE_S)
        assert run.created_at >= before - timedelta(seconds=RUN_AGE_S + 0.001)
        assert run.finished_at <= after


def test_add_spreads_over_run_apps():
    simulator = build_simulator(10, seed=1, days=2, token_ttl_s=3600)
    since = simulator.clock.now() - timedelta(seconds=RUN_AGE_S + 1)

    RunTraffic(simulator).add(8)

    apps = {app.id: app.mode for app in simulator.apps()}
    per_app: dict[str, int] = {}
    for run in added_runs(simulator, since):
        per_app[run.app_id] = per_app.get(run.app_id, 0) + 1
    # 10 apps have two workflow and two advanced-chat apps: two runs each.
    assert sorted(per_app.values()) == [2, 2, 2, 2]
    assert {apps[app_id] for app_id in per_app} == {AppMode.WORKFLOW, AppMode.ADVANCED_CHAT}


def test_add_one_end_user_per_app():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    since = simulator.clock.now() - timedelta(seconds=RUN_AGE_S + 1)
    traffic = RunTraffic(simulator)

    traffic.add(3)
    traffic.add(3)

    creators = {(run.app_id, run.created_by) for run in added_runs(simulator, since)}
    assert len(creators) == 2


def test_add_zero_and_negative():
    simulator = build_simulator(5, seed=1, days=2, token_ttl_s=3600)
    traffic = RunTraffic(simulator)

    assert traffic.add(0).runs == 0
    with pytest.raises(ValueError, match="0 or more"):
        traffic.add(-1)
