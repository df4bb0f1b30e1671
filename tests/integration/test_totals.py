"""Counters and gauges against the simulator's ground truth, in every Dify version profile."""

from __future__ import annotations

from datetime import timedelta

import pytest

from otel_dify.simulator import DifySimulator
from tests.integration.harness import ADMIN_KEY, cost_usd, running_harness

PROFILES = ["0.9.1", "1.9.1", "1.9.2", "1.15"]


def assert_matches_truth(harness) -> None:
    """Check every summable counter of every app against the simulator's ground truth."""
    apps = harness.simulator.apps()
    assert apps, "the simulator generated no apps"
    for app in apps:
        truth = harness.simulator.ground_truth(app.id)
        mode = app.mode.value
        if mode == "workflow":
            assert harness.value("dify.app.messages", app.id) is None, app.name
        else:
            assert harness.value("dify.app.messages", app.id) == truth.messages, app.name
            assert harness.value("dify.app.tokens", app.id) == truth.tokens, app.name
            assert harness.value("dify.app.cost", app.id, **{"dify.cost.currency": "USD"}) == pytest.approx(
                cost_usd(truth.cost), abs=1e-9
            ), app.name
        if mode in ("workflow", "advanced-chat"):
            assert harness.value("dify.app.workflow.runs", app.id) == truth.workflow_runs, app.name
            assert harness.value("dify.app.workflow.tokens", app.id) == truth.workflow_tokens, app.name


@pytest.mark.parametrize("profile", PROFILES)
async def test_totals_equal_truth(profile):
    simulator = DifySimulator(profile=profile, seed=7)
    async with running_harness(simulator) as harness:
        summary = await harness.poll()
        assert summary.succeeded
        assert_matches_truth(harness)


async def test_totals_with_secure_cookies():
    simulator = DifySimulator(profile="1.15", seed=3, secure_cookies=True)
    async with running_harness(simulator) as harness:
        assert (await harness.poll()).succeeded
        assert_matches_truth(harness)


async def test_totals_with_admin_key():
    simulator = DifySimulator(profile="1.15", seed=5, admin_api_key=ADMIN_KEY)
    async with running_harness(simulator, admin_key=True) as harness:
        assert (await harness.poll()).succeeded
        assert_matches_truth(harness)
        assert harness.simulator.login_attempts() == 0


@pytest.mark.parametrize("timezone", ["America/New_York", "Asia/Tokyo", "UTC"])
async def test_timezone_totals_and_today(timezone):
    simulator = DifySimulator(profile="1.15", seed=11)
    simulator.admin.timezone = timezone
    async with running_harness(simulator) as harness:
        assert (await harness.poll()).succeeded
        assert_matches_truth(harness)
        for app in simulator.apps():
            truth = simulator.ground_truth(app.id, timezone=timezone)
            if app.mode.value != "workflow":
                assert harness.value("dify.app.conversations.active", app.id) == truth.conversations_active
                assert harness.value("dify.app.end_users.active", app.id) == truth.end_users_active


async def test_day_rollover_keeps_totals_exact():
    simulator = DifySimulator(profile="1.15", seed=13)
    simulator.admin.timezone = "Asia/Tokyo"
    chat = simulator.app_of_mode("chat")
    async with running_harness(simulator, history_refresh_interval="600") as harness:
        assert (await harness.poll()).succeeded

        # Cross Tokyo's midnight in steps, with new traffic on both sides of it.
        for _ in range(6):
            simulator.dataset.add_message(chat.id, simulator.clock.now() - timedelta(seconds=30), liked=True)
            harness.advance(3 * 3600)
            assert (await harness.poll()).succeeded
            assert_matches_truth(harness)

        truth = simulator.ground_truth(chat.id, timezone="Asia/Tokyo")
        assert harness.value("dify.app.conversations.active", chat.id) == truth.conversations_active


async def test_restart_gives_identical_totals():
    simulator = DifySimulator(profile="1.15", seed=17)
    async with running_harness(simulator) as first:
        await first.poll()
        before = {name: sorted((tuple(sorted(p.attributes.items())), p.value) for p in first.points(name))
                  for name in ("dify.app.messages", "dify.app.tokens", "dify.app.cost", "dify.app.workflow.runs")}
    async with running_harness(simulator) as second:
        await second.poll()
        after = {name: sorted((tuple(sorted(p.attributes.items())), p.value) for p in second.points(name))
                 for name in before}
    assert all(before[name] for name in before)
    assert before == after


async def test_count_from_limits_totals():
    simulator = DifySimulator(profile="1.15", seed=19)
    chat = simulator.app_of_mode("chat")
    today = simulator.clock.now().astimezone().date()
    async with running_harness(simulator, count_from=(today + timedelta(days=30)).isoformat()) as harness:
        assert (await harness.poll()).succeeded
        assert harness.value("dify.app.messages", chat.id) == 0


async def test_history_shrink_never_lowers_total():
    simulator = DifySimulator(profile="1.15", seed=23)
    chat = simulator.app_of_mode("chat")
    async with running_harness(simulator, history_refresh_interval="60", poll_interval="60") as harness:
        await harness.poll()
        before = harness.value("dify.app.messages", chat.id)

        # Retention clean-up deletes the oldest messages.
        records = simulator.dataset.records[chat.id]
        del records.messages[: len(records.messages) // 2]
        harness.advance(120)
        await harness.poll()

        assert before is not None and before > 0
        assert harness.value("dify.app.messages", chat.id) == before


async def test_access_token_expiry_between_polls():
    simulator = DifySimulator(profile="1.15", seed=29, access_token_ttl_s=300)
    async with running_harness(simulator) as harness:
        assert (await harness.poll()).succeeded
        for _ in range(3):
            harness.advance(400)
            assert (await harness.poll()).succeeded
        assert_matches_truth(harness)
        assert simulator.login_attempts() == 1
        assert simulator.count_requests(path="/console/api/refresh-token") >= 1


async def test_wrong_password_backs_off():
    simulator = DifySimulator(profile="1.15", seed=31)
    configured_password = simulator.admin_password
    async with running_harness(simulator) as harness:
        # The account's password changes after the exporter was configured, so its login fails.
        simulator.admin.password = "a-different-password"
        assert harness.settings.password.get_secret_value() == configured_password
        for _ in range(5):
            summary = await harness.poll()
            assert not summary.succeeded
            harness.advance(60)
        assert simulator.login_attempts() == 1
        up = [point.value for point in harness.points("dify.exporter.up")]
        assert up == [0.0]

        # 15 minutes after the failure the exporter tries once more.
        harness.advance(900)
        await harness.poll()
        assert simulator.login_attempts() == 2


async def test_backoff_reason_names_rejection():
    simulator = DifySimulator(profile="1.15", seed=43)
    async with running_harness(simulator) as harness:
        simulator.admin.password = "a-different-password"
        await harness.poll()
        harness.advance(60)
        summary = await harness.poll()

        assert not summary.succeeded
        reasons = harness.assembly.poller.failing_reasons()
        assert len(reasons) == 1
        assert "HTTP 401" in reasons[0]
        assert "Invalid email or password" in reasons[0]


async def test_wrong_password_never_locks_account():
    simulator = DifySimulator(profile="1.15", seed=53)
    async with running_harness(simulator) as harness:
        simulator.admin.password = "a-different-password"

        # Three days of polls every five minutes with the wrong password.
        for _ in range(3 * 24 * 12):
            await harness.poll()
            harness.advance(300)

        login_statuses = [entry.status for entry in simulator.request_log if entry.path == "/console/api/login"]
        assert 429 not in login_statuses
        assert 5 <= len(login_statuses) <= 8
