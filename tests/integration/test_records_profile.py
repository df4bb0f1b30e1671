"""With the message level on, a poll reads the account profile once, however many chat apps it reads."""

from __future__ import annotations

from otel_dify.collect.workspace import AppFigures, WorkspaceResult
from otel_dify.dify.client import PROFILE_ENDPOINT
from otel_dify.records.collector import TIMEZONE_REFRESH_S, ConsoleRecordsCollector
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.faults import FaultInjector, rewrite_json
from otel_dify.simulator.server import DEFAULT_START
from tests.integration.harness import Harness, running_harness

MESSAGE_LEVELS = "workflow_runs,llm_usage,messages"

#: Chat, agent-chat and advanced-chat apps among the ten: two of each mode.
CHAT_APPS = 6


def ten_app_simulator(faults: FaultInjector | None = None) -> DifySimulator:
    dataset = Dataset.generate(41, DEFAULT_START, 10, apps_per_mode=2)
    return DifySimulator(profile="1.15", dataset=dataset, faults=faults)


def conversation_lists(simulator: DifySimulator) -> int:
    return sum(1 for entry in simulator.request_log if entry.path.endswith("/chat-conversations"))


def workflow_log_lists(simulator: DifySimulator) -> int:
    return sum(1 for entry in simulator.request_log if entry.path.endswith("/workflow-app-logs"))


def profile_reads(simulator: DifySimulator) -> int:
    return simulator.count_requests(method="GET", path=PROFILE_ENDPOINT)


def records_collector(harness: Harness) -> ConsoleRecordsCollector:
    """Build a second console records collector on the harness's client, recorder and settings."""
    records = harness.assembly.records
    assert records is not None
    (key, client), = harness.assembly.clients
    return ConsoleRecordsCollector(
        key,
        client,
        records.recorder,
        records.options,
        on_error=harness.assembly.stats.record_error,
        monotonic=harness.monotonic,
    )


async def test_first_poll_one_profile_read() -> None:
    simulator = ten_app_simulator()
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS) as harness:
        await harness.poll()

        assert profile_reads(simulator) == 1
        assert conversation_lists(simulator) == CHAT_APPS


async def test_later_polls_no_profile_read() -> None:
    simulator = ten_app_simulator()
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS) as harness:
        await harness.poll()
        harness.advance(60)
        await harness.poll()

        assert profile_reads(simulator) == 1
        assert conversation_lists(simulator) == 2 * CHAT_APPS


async def test_hourly_refresh_one_profile_read() -> None:
    simulator = ten_app_simulator()
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS) as harness:
        await harness.poll()
        reads_before = profile_reads(simulator)
        harness.advance(TIMEZONE_REFRESH_S)
        await harness.poll()

        assert profile_reads(simulator) - reads_before == 1


async def test_result_without_zone_one_profile_read() -> None:
    simulator = ten_app_simulator()
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS) as harness:
        records = harness.assembly.records
        assert records is not None
        records.state.started_at = int(simulator.clock.now().timestamp())
        (_key, client), = harness.assembly.clients
        apps = await client.list_apps()
        # A workspace result that carries no time zone, as after a failed profile read.
        figures = tuple(AppFigures(app=app) for app in apps)
        result = WorkspaceResult(workspace_id="", workspace_name=None, apps=figures, errors=0, succeeded=True)
        collector = records_collector(harness)
        now = int(simulator.clock.now().timestamp())

        await collector.poll(result, now)

        assert profile_reads(simulator) == 1
        assert conversation_lists(simulator) == CHAT_APPS

        await collector.poll(result, now + 60)

        assert profile_reads(simulator) == 1
        assert conversation_lists(simulator) == 2 * CHAT_APPS


async def test_failed_profile_read_counted_once() -> None:
    faults = FaultInjector()
    simulator = ten_app_simulator(faults)
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS) as harness:
        await harness.poll()
        conversations_before = conversation_lists(simulator)
        workflow_logs_before = workflow_log_lists(simulator)
        # Both the statistics and the record collection read the profile again after an hour.
        harness.advance(TIMEZONE_REFRESH_S)
        faults.add(rewrite_json(lambda body: {**body, "timezone": "Mars/Olympus_Mons"}), path=PROFILE_ENDPOINT)

        summary = await harness.poll()

        assert not summary.succeeded
        # One read by the statistics poll, one by the record collection.
        assert profile_reads(simulator) == 3
        workspace_id = simulator.dataset.current_workspace(simulator.admin.id).id
        assert harness.assembly.stats.errors() == {(workspace_id, "invalid_response"): 2}
        assert conversation_lists(simulator) == conversations_before
        assert workflow_log_lists(simulator) > workflow_logs_before
