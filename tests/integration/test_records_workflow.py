"""Record-level run and model-usage totals against the simulator's record truth."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_dify import catalog
from otel_dify.config import load_settings
from otel_dify.runtime.assembly import assemble
from otel_dify.simulator import DifySimulator, run_simulator
from otel_dify.simulator.node_plans import random_plan
from otel_dify.simulator.records import APP_RUN, DEBUGGING
from otel_dify.simulator.records_truth import RecordTruth
from otel_dify.snapshot import SnapshotHolder
from otel_dify.telemetry import Telemetry
from tests.integration.harness import (
    ADMIN_KEY,
    Harness,
    MonotonicClock,
    exporter_environment,
    record_sum,
    running_harness,
)

POLL_S = 60


def add_runs(simulator: DifySimulator, rng: random.Random, count: int, *, debugging: int = 1) -> list[str]:
    """Add app runs of random shapes to the workflow and advanced-chat apps within the last poll interval."""
    now = simulator.clock.now()
    added = []
    for app in (simulator.app_of_mode("workflow"), simulator.app_of_mode("advanced-chat")):
        for _ in range(count):
            created_at = now - timedelta(seconds=rng.uniform(0, POLL_S - 1))
            status = rng.choice(["succeeded", "succeeded", "succeeded", "failed", "partial-succeeded"])
            nodes = random_plan(rng, rng.randint(50, 3_000), status)
            run = simulator.dataset.add_workflow_run(
                app.id,
                created_at,
                triggered_from=APP_RUN,
                status=status,
                nodes=nodes,
                elapsed_time=rng.uniform(0.5, 30),
            )
            added.append(run.id)
        for _ in range(debugging):
            simulator.dataset.add_workflow_run(app.id, now - timedelta(seconds=5), triggered_from=DEBUGGING)
    return added


async def poll_until_drained(harness: Harness, *, max_polls: int = 30) -> None:
    """Poll every interval until the usage backlog is empty."""
    assert harness.assembly.records is not None
    for _ in range(max_polls):
        harness.advance(POLL_S)
        assert (await harness.poll()).succeeded
        if len(harness.assembly.records.state.backlog) == 0:
            return
    raise AssertionError("the usage backlog did not drain")


def model_totals(harness: Harness, app_id: str) -> dict[tuple[str, str], tuple[float, float, float, float]]:
    """Return (input tokens, output tokens, USD cost, calls) by (provider id, model) from the exporter's points."""
    totals: dict[tuple[str, str], list[float]] = {}
    for metric, index, extra in (
        ("dify.llm.tokens", 0, {"gen_ai.token.type": "input"}),
        ("dify.llm.tokens", 1, {"gen_ai.token.type": "output"}),
        ("dify.llm.cost", 2, {"dify.cost.currency": "USD"}),
        ("dify.llm.calls", 3, {}),
    ):
        for point in harness.points(metric):
            attributes = point.attributes
            if attributes.get("dify.app.id") != app_id:
                continue
            if any(attributes.get(key) != value for key, value in extra.items()):
                continue
            key = (str(attributes["dify.llm.provider.id"]), str(attributes["gen_ai.request.model"]))
            totals.setdefault(key, [0.0, 0.0, 0.0, 0.0])[index] += point.value
    return {key: (values[0], values[1], values[2], values[3]) for key, values in totals.items()}


def assert_runs_match(harness: Harness, truth: RecordTruth) -> None:
    app_id = truth.app_id
    exported: Counter[tuple[str, str | None]] = Counter()
    for point in harness.points("dify.workflow.runs"):
        if point.attributes.get("dify.app.id") == app_id:
            created_from = point.attributes.get("dify.workflow.run.created_from")
            key = (
                str(point.attributes["dify.workflow.run.status"]),
                None if created_from is None else str(created_from),
            )
            exported[key] += int(point.value)
    assert dict(exported) == truth.runs, app_id
    assert record_sum(harness, "dify.workflow.tokens", app_id) == truth.workflow_tokens, app_id


def assert_models_match(harness: Harness, truth: RecordTruth) -> None:
    exported = model_totals(harness, truth.app_id)
    expected = {
        key: (
            float(usage.input_tokens),
            float(usage.output_tokens),
            float(usage.cost.get("USD", Decimal(0))),
            float(usage.calls),
        )
        for key, usage in truth.models.items()
    }
    assert set(exported) == set(expected), truth.app_id
    for key, (input_tokens, output_tokens, cost, calls) in expected.items():
        got = exported[key]
        assert got[0] == input_tokens, key
        assert got[1] == output_tokens, key
        assert got[2] == pytest.approx(cost, abs=1e-9), key
        assert got[3] == calls, key
    mismatches = record_sum(harness, "dify.exporter.records.usage_mismatches", truth.app_id)
    assert mismatches == truth.usage_mismatches, truth.app_id


def record_apps(simulator: DifySimulator) -> list[str]:
    return [simulator.app_of_mode("workflow").id, simulator.app_of_mode("advanced-chat").id]


async def test_totals_equal_truth_with_arrivals() -> None:
    simulator = DifySimulator(profile="1.15", seed=21)
    rng = random.Random(5)
    async with running_harness(simulator) as harness:
        since = simulator.clock.now()
        assert (await harness.poll()).succeeded

        for _ in range(4):
            harness.advance(POLL_S)
            add_runs(simulator, rng, 6)
            assert (await harness.poll()).succeeded
        await poll_until_drained(harness)

        for app_id in record_apps(simulator):
            truth = simulator.record_truth(app_id, since=since)
            assert truth.run_count > 0
            assert len(truth.models) > 1
            assert_runs_match(harness, truth)
            assert_models_match(harness, truth)
        providers = {point.attributes["gen_ai.provider.name"] for point in harness.points("dify.llm.calls")}
        assert "openai" in providers
        assert all("/" not in str(provider) for provider in providers)


async def test_running_run_counted_once() -> None:
    simulator = DifySimulator(profile="1.15", seed=22)
    workflow = simulator.app_of_mode("workflow")
    async with running_harness(simulator) as harness:
        since = simulator.clock.now()
        await harness.poll()
        run = simulator.dataset.add_workflow_run(workflow.id, simulator.clock.now(), status="running")

        harness.advance(POLL_S)
        await harness.poll()
        assert simulator.record_truth(workflow.id, since=since).run_count == 0
        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 0

        harness.advance(5)
        simulator.finish_run(run.id, "failed")
        for _ in range(3):
            harness.advance(POLL_S)
            await harness.poll()

        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 1
        assert record_sum(harness, "dify.workflow.runs", workflow.id, **{"dify.workflow.run.status": "failed"}) == 1
        assert_models_match(harness, simulator.record_truth(workflow.id, since=since))


@pytest.mark.parametrize("profile", ["0.9.1", "1.9.1"])
async def test_old_profile_reads_no_run_list(profile: str) -> None:
    simulator = DifySimulator(profile=profile, seed=23)
    rng = random.Random(6)
    workflow = simulator.app_of_mode("workflow")
    async with running_harness(simulator) as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 4, debugging=3)
        await harness.poll()
        await poll_until_drained(harness)

        run_lists = [entry.path for entry in simulator.request_log if entry.path.endswith("/workflow-runs")]
        assert run_lists == []
        truth = simulator.record_truth(workflow.id, since=since)
        assert_runs_match(harness, truth)
        assert_models_match(harness, truth)
        advanced = simulator.app_of_mode("advanced-chat")
        assert record_sum(harness, "dify.workflow.runs", advanced.id) == 0


async def test_debug_runs_never_counted() -> None:
    simulator = DifySimulator(profile="1.15", seed=24)
    workflow = simulator.app_of_mode("workflow")
    advanced = simulator.app_of_mode("advanced-chat")
    async with running_harness(simulator) as harness:
        await harness.poll()
        for app in (workflow, advanced):
            for _ in range(3):
                simulator.dataset.add_workflow_run(app.id, simulator.clock.now(), triggered_from=DEBUGGING)
        harness.advance(POLL_S)
        await harness.poll()
        await poll_until_drained(harness)

        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 0
        assert record_sum(harness, "dify.workflow.runs", advanced.id) == 0
        run_lists = [
            entry.query for entry in simulator.request_log if entry.path.endswith("/advanced-chat/workflow-runs")
        ]
        assert run_lists
        assert all("triggered_from=app-run" in query for query in run_lists)


async def test_backlog_drains_within_budget() -> None:
    simulator = DifySimulator(profile="1.15", seed=25)
    rng = random.Random(7)
    workflow = simulator.app_of_mode("workflow")
    async with running_harness(simulator, llm_usage_budget="5") as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 12)

        per_poll = []
        for _ in range(8):
            before = sum(1 for entry in simulator.request_log if entry.path.endswith("/node-executions"))
            await harness.poll()
            after = sum(1 for entry in simulator.request_log if entry.path.endswith("/node-executions"))
            per_poll.append(after - before)
            harness.advance(POLL_S)

        assert max(per_poll) == 5
        assert sum(per_poll) == 24
        assert harness.value("dify.exporter.records.backlog", workflow.id) is None
        assert [point.value for point in harness.points("dify.exporter.records.backlog")] == [0.0]
        assert [point.value for point in harness.points("dify.exporter.records.dropped")] == [0.0]
        for app_id in record_apps(simulator):
            assert_models_match(harness, simulator.record_truth(app_id, since=since))


async def test_restart_with_state_dir(tmp_path: Path) -> None:
    simulator = DifySimulator(profile="1.15", seed=26)
    rng = random.Random(8)
    state_dir = str(tmp_path / "state")

    async with running_harness(simulator, state_dir=state_dir) as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 5)
        await harness.poll()
        # Some runs are still waiting for their node executions when the exporter stops.
        harness.advance(POLL_S)
        add_runs(simulator, rng, 60)
        await harness.poll()
        assert len(harness.assembly.records.state.backlog) > 0

    # Runs created while the exporter is down.
    simulator.clock.advance(POLL_S)
    add_runs(simulator, rng, 7)
    simulator.clock.advance(3 * POLL_S)
    add_runs(simulator, rng, 3)

    async with running_harness(simulator, state_dir=state_dir) as harness:
        harness.advance(POLL_S)
        await harness.poll()
        await poll_until_drained(harness)

        for app_id in record_apps(simulator):
            truth = simulator.record_truth(app_id, since=since)
            assert_runs_match(harness, truth)
            assert_models_match(harness, truth)


async def test_restart_without_state_dir_starts_now() -> None:
    simulator = DifySimulator(profile="1.15", seed=27)
    rng = random.Random(9)
    workflow = simulator.app_of_mode("workflow")

    async with running_harness(simulator) as harness:
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 4)
        await harness.poll()
        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 4

    simulator.clock.advance(POLL_S)
    async with running_harness(simulator) as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 2)
        await harness.poll()

        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 2
        assert_runs_match(harness, simulator.record_truth(workflow.id, since=since))


async def test_corrupt_state_file_starts_from_now(tmp_path: Path) -> None:
    simulator = DifySimulator(profile="1.15", seed=28)
    rng = random.Random(10)
    workflow = simulator.app_of_mode("workflow")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "records-state.json").write_text('{"version": 1, "cursors": ', encoding="utf-8")

    async with running_harness(simulator, state_dir=str(state_dir)) as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 3)
        assert (await harness.poll()).succeeded

        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 3
        assert_runs_match(harness, simulator.record_truth(workflow.id, since=since))
    assert len(list(state_dir.glob("records-state.json.corrupt-*"))) == 1
    assert (state_dir / "records-state.json").exists()


async def test_histograms_through_telemetry() -> None:
    simulator = DifySimulator(profile="1.15", seed=30)
    rng = random.Random(17)
    histograms = ["dify.workflow.run.duration", "dify.llm.duration"]
    async with run_simulator(simulator) as base_url:
        environ = exporter_environment(simulator, base_url, metrics_enabled=",".join(histograms))
        settings = load_settings(environ, env_file=None)
        holder = SnapshotHolder()
        reader = InMemoryMetricReader()
        telemetry = Telemetry(catalog.enabled_metrics(settings.metrics_enabled), holder, None, extra_readers=[reader])
        monotonic = MonotonicClock()
        assembly = assemble(settings, holder, telemetry, wall_clock=simulator.clock.now, monotonic=monotonic)
        harness = Harness(simulator, settings, assembly, holder, monotonic)
        try:
            since = simulator.clock.now()
            await harness.poll()
            harness.advance(POLL_S)
            add_runs(simulator, rng, 5)
            await harness.poll()
            await poll_until_drained(harness)

            metrics = {
                metric.name: metric
                for resource in reader.get_metrics_data().resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            }
        finally:
            await assembly.close()
            telemetry.shutdown(timeout_s=5)

    truths = [simulator.record_truth(app_id, since=since) for app_id in record_apps(simulator)]
    run_durations = sum(point.count for point in metrics["dify.workflow.run.duration"].data.data_points)
    assert run_durations == sum(truth.run_count for truth in truths)
    model_calls = sum(point.count for point in metrics["dify.llm.duration"].data.data_points)
    assert model_calls == sum(usage.calls for truth in truths for usage in truth.models.values())
    exported_runs = sum(point.value for point in metrics["dify.workflow.runs"].data.data_points)
    assert exported_runs == sum(truth.run_count for truth in truths)


async def test_admin_key_totals() -> None:
    simulator = DifySimulator(profile="1.15", seed=34, admin_api_key=ADMIN_KEY)
    rng = random.Random(18)
    async with running_harness(simulator, admin_key=True) as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 4)
        await harness.poll()
        await poll_until_drained(harness)

        for app_id in record_apps(simulator):
            truth = simulator.record_truth(app_id, since=since)
            assert_runs_match(harness, truth)
            assert_models_match(harness, truth)
        workspace_ids = {point.attributes["dify.workspace.id"] for point in harness.points("dify.workflow.runs")}
        assert workspace_ids == {simulator.dataset.current_workspace(simulator.admin.id).id}
        assert simulator.login_attempts() == 0
