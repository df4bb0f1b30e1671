"""The opt-in message level against the simulator, and model usage of old advanced-chat apps through messages."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from otel_dify.simulator import DifySimulator
from otel_dify.simulator.records import DEBUGGER
from tests.integration.harness import Harness, record_sum, running_harness
from tests.integration.test_records_workflow import assert_models_match, poll_until_drained

POLL_S = 60
MESSAGE_LEVELS = "workflow_runs,llm_usage,messages"


def add_messages(simulator: DifySimulator, rng: random.Random, app_id: str, count: int) -> None:
    """Add messages in the last poll interval: new conversations, an older conversation, debugger and errors."""
    now = simulator.clock.now()
    # A debugger conversation is hidden from an advanced-chat app's list, so it would hide the new message.
    existing = next(
        conversation.id
        for conversation in reversed(simulator.dataset.records[app_id].conversations)
        if conversation.invoke_from != DEBUGGER
    )
    for number in range(count):
        created_at = now - timedelta(seconds=rng.uniform(0, POLL_S - 1))
        conversation_id = existing if number % 3 == 0 else None
        invoke_from = DEBUGGER if number % 5 == 4 else rng.choice(["service-api", "web-app", "explore"])
        if conversation_id is not None and invoke_from == DEBUGGER:
            invoke_from = "service-api"
        simulator.dataset.add_message(
            app_id,
            created_at,
            conversation_id=conversation_id,
            invoke_from=invoke_from,
            message_tokens=rng.randint(10, 900),
            answer_tokens=rng.randint(5, 400),
            provider_response_latency=round(rng.uniform(0.2, 9.0), 3),
            status="error" if number % 7 == 6 else "normal",
        )


def expected_messages(
    simulator: DifySimulator, app_id: str, since: datetime, *, with_debugger: bool
) -> tuple[Counter, int, int]:
    """Return (messages by status, input tokens, output tokens) of the app's messages since ``since``."""
    statuses: Counter[str] = Counter()
    input_tokens = output_tokens = 0
    for message in simulator.dataset.records[app_id].messages:
        if not since <= message.created_at <= simulator.clock.now():
            continue
        if message.invoke_from == DEBUGGER and not with_debugger:
            continue
        statuses[message.status] += 1
        input_tokens += message.message_tokens
        output_tokens += message.answer_tokens
    return statuses, input_tokens, output_tokens


def exported_messages(harness: Harness, app_id: str) -> tuple[Counter, int, int]:
    statuses: Counter[str] = Counter()
    for point in harness.points("dify.messages"):
        if point.attributes.get("dify.app.id") == app_id:
            statuses[str(point.attributes["dify.message.status"])] += int(point.value)
    input_tokens = record_sum(harness, "dify.message.tokens", app_id, **{"gen_ai.token.type": "input"})
    output_tokens = record_sum(harness, "dify.message.tokens", app_id, **{"gen_ai.token.type": "output"})
    return statuses, int(input_tokens), int(output_tokens)


async def test_messages_equal_records() -> None:
    simulator = DifySimulator(profile="1.15", seed=31)
    rng = random.Random(11)
    chat = simulator.app_of_mode("chat")
    advanced = simulator.app_of_mode("advanced-chat")
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS) as harness:
        since = simulator.clock.now()
        await harness.poll()
        for _ in range(3):
            harness.advance(POLL_S)
            add_messages(simulator, rng, chat.id, 9)
            add_messages(simulator, rng, advanced.id, 6)
            assert (await harness.poll()).succeeded
        harness.advance(POLL_S)
        await harness.poll()

        # The chat app's conversation list includes debugger conversations, as Dify's does.
        chat_expected = expected_messages(simulator, chat.id, since, with_debugger=True)
        assert chat_expected[0]["error"] > 0
        assert exported_messages(harness, chat.id) == chat_expected

        truth = simulator.record_truth(advanced.id, since=since)
        assert exported_messages(harness, advanced.id) == (
            Counter(truth.messages),
            truth.message_input_tokens,
            truth.message_output_tokens,
        )


async def test_messages_off_by_default() -> None:
    simulator = DifySimulator(profile="1.15", seed=32)
    rng = random.Random(12)
    chat = simulator.app_of_mode("chat")
    async with running_harness(simulator) as harness:
        await harness.poll()
        harness.advance(POLL_S)
        add_messages(simulator, rng, chat.id, 4)
        await harness.poll()

        assert harness.points("dify.messages") == ()
        assert [entry for entry in simulator.request_log if entry.path.endswith("/chat-messages")] == []


async def test_old_advanced_chat_usage_from_messages() -> None:
    simulator = DifySimulator(profile="1.9.1", seed=33)
    rng = random.Random(13)
    advanced = simulator.app_of_mode("advanced-chat")
    async with running_harness(simulator, records_enabled=MESSAGE_LEVELS, records_overlap="120") as harness:
        since = simulator.clock.now()
        await harness.poll()
        for _ in range(2):
            harness.advance(POLL_S)
            add_messages(simulator, rng, advanced.id, 5)
            await harness.poll()
        # Runs found through messages wait one overlap before their nodes are read.
        for _ in range(3):
            harness.advance(POLL_S)
            await harness.poll()
        await poll_until_drained(harness)

        truth = simulator.record_truth(advanced.id, since=since)
        assert truth.models
        assert_models_match(harness, truth)
        assert [entry.path for entry in simulator.request_log if entry.path.endswith("/workflow-runs")] == []
        assert record_sum(harness, "dify.workflow.runs", advanced.id) == 0
