"""Session faults in process: expired, revoked and logged-out sessions, CSRF rejections, wrong passwords and lockouts.

Login attempts are timed on the exporter's monotonic clock, which only the
test moves, so a back-off of 900 s is checked over hours in well under a
second of real time.
"""

from __future__ import annotations

import logging
import secrets

from otel_dify.dify.auth.backoff import MIN_AUTH_BACKOFF_S, LoginBackoff
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.faults import (
    FaultInjector,
    before,
    csrf_rejection,
    login_lockout,
    logout_latest_session,
    revoke_access_tokens,
)
from tests.faults.support import FaultHarness, add_traffic, fault_harness, record_mismatches, totals_mismatches
from tests.integration.conftest import _RecordText

LOGIN = "/console/api/login"
REFRESH = "/console/api/refresh-token"
STATISTICS = "/console/api/apps/*/statistics/*"
ACCESS_TOKEN_TTL_S = 3600
TWO_HOURS_S = 7200


def new_simulator(seed: int) -> DifySimulator:
    return DifySimulator(profile="1.15", seed=seed, access_token_ttl_s=ACCESS_TOKEN_TTL_S, faults=FaultInjector(seed))


def time_logins(harness: FaultHarness) -> list[float]:
    """Record the exporter's monotonic clock reading at every login request; return the growing list."""
    times: list[float] = []

    def record_login() -> None:
        times.append(harness.monotonic())

    harness.faults.add(before(record_login), path=LOGIN, method="POST")
    return times


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:])]


async def test_expiry_mid_poll_refreshes_once():
    simulator = new_simulator(67)
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        # The server's clock passes the token's expiry between two statistics
        # requests; the exporter's clock does not, so only a 401 reveals it.
        add_traffic(simulator)
        harness.faults.add(
            before(lambda: simulator.clock.advance(ACCESS_TOKEN_TTL_S + 1)), path=STATISTICS, skip=3, count=1
        )
        summary = await harness.tick()
        # Requests before and after the jump read different times, so only the next poll is consistent.
        following = await harness.tick()

        assert summary.succeeded
        assert simulator.count_requests(path=REFRESH) == 1
        assert simulator.login_attempts() == 1
        assert harness.up() == [1.0]
        assert following.succeeded
        assert totals_mismatches(harness) == []
        assert record_mismatches(harness, harness.started_at) == []


async def test_revocation_mid_poll_refreshes_once():
    simulator = new_simulator(71)
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        add_traffic(simulator)
        harness.faults.add(before(lambda: revoke_access_tokens(simulator)), path=STATISTICS, skip=3, count=1)
        summary = await harness.tick()

        assert summary.succeeded
        assert simulator.count_requests(path=REFRESH) == 1
        assert simulator.login_attempts() == 1
        assert totals_mismatches(harness) == []
        assert record_mismatches(harness, harness.started_at) == []


async def test_logout_elsewhere_forces_login():
    simulator = new_simulator(73)
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        # Another session of the account logs out after the exporter logged
        # in, which deletes the exporter's refresh token. Its access token
        # then nears expiry, so the next poll must refresh, is rejected, and
        # logs in again.
        logout_latest_session(simulator)
        add_traffic(simulator)
        summary = await harness.tick(ACCESS_TOKEN_TTL_S)

        assert summary.succeeded
        assert simulator.count_requests(path=REFRESH) == 1
        assert [entry.status for entry in simulator.request_log if entry.path == REFRESH] == [401]
        assert simulator.login_attempts() == 2
        assert harness.up() == [1.0]
        assert totals_mismatches(harness) == []


async def test_single_csrf_rejection_is_replayed():
    simulator = new_simulator(79)
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        add_traffic(simulator)
        harness.faults.add(csrf_rejection(), path=STATISTICS, skip=2, count=1)
        summary = await harness.tick()

        assert summary.succeeded
        assert simulator.count_requests(path=REFRESH) == 1
        assert simulator.login_attempts() == 1
        assert totals_mismatches(harness) == []


async def test_persistent_csrf_rejection_recovers(no_error_traceback):
    simulator = new_simulator(83)
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        fault = harness.faults.add(csrf_rejection(), path=STATISTICS)
        failed = await harness.tick()
        up_during = harness.up()
        errors_during = harness.errors()
        fault.stop()
        add_traffic(simulator)
        recovered = await harness.tick()

        assert not failed.succeeded
        assert up_during == [0.0]
        assert errors_during.get("authentication", 0) >= 1, errors_during
        # A rejected request renews the session by refresh, never by a new login.
        assert simulator.login_attempts() == 1
        assert recovered.succeeded
        assert harness.up() == [1.0]
        assert totals_mismatches(harness) == []
        assert any(record.levelno == logging.ERROR for record in no_error_traceback)


async def test_wrong_password_backs_off_then_recovers():
    simulator = new_simulator(89)
    wrong_password = "wrong-" + secrets.token_hex(8)
    texts = _RecordText()
    logging.getLogger().addHandler(texts)
    try:
        async with fault_harness(simulator, password=wrong_password) as harness:
            logins = time_logins(harness)

            # Two hours of polls every minute while the password is wrong.
            await harness.poll()
            while harness.monotonic() - logins[0] < TWO_HOURS_S:
                assert not (await harness.tick()).succeeded
            attempts_wrong = list(logins)
            up_wrong = harness.up()
            ready_wrong = harness.ready_status()

            # An operator sets the account's password to the configured one.
            # The pauses double after each failure, so fewer than 6 failures
            # fall within Dify's 24-hour count and the e-mail is never locked;
            # the next scheduled attempt succeeds.
            simulator.admin.password = wrong_password
            add_traffic(simulator)
            recovered = False
            while not recovered and harness.monotonic() - logins[0] < 2 * 86400:
                recovered = (await harness.tick(MIN_AUTH_BACKOFF_S / 3)).succeeded
            login_statuses = [entry.status for entry in simulator.request_log if entry.path == LOGIN]

            assert len(attempts_wrong) <= 1 + TWO_HOURS_S // MIN_AUTH_BACKOFF_S
            assert min(gaps(attempts_wrong)) >= MIN_AUTH_BACKOFF_S
            assert up_wrong == [0.0]
            assert ready_wrong == 503
            assert min(gaps(logins)) >= MIN_AUTH_BACKOFF_S
            assert 429 not in login_statuses
            assert login_statuses[-1] == 200
            assert recovered
            assert harness.up() == [1.0]
            assert totals_mismatches(harness) == []
    finally:
        logging.getLogger().removeHandler(texts)

    assert [text[:120] for text in texts.texts if wrong_password in text] == []


async def test_lockout_backs_off_then_recovers():
    simulator = new_simulator(97)
    async with fault_harness(simulator) as harness:
        logins = time_logins(harness)
        lockout = harness.faults.add(login_lockout(), path=LOGIN, method="POST")

        await harness.poll()
        while harness.monotonic() - logins[0] < TWO_HOURS_S:
            assert not (await harness.tick()).succeeded
        attempts_locked = list(logins)
        ready_locked = harness.ready_status()

        lockout.stop()
        add_traffic(simulator)
        ticks_to_recover = 0
        while not (await harness.tick()).succeeded:
            ticks_to_recover += 1

        assert len(attempts_locked) <= 1 + TWO_HOURS_S // MIN_AUTH_BACKOFF_S
        assert min(gaps(attempts_locked)) >= MIN_AUTH_BACKOFF_S
        assert ready_locked == 503
        # Recovery comes with the next scheduled attempt, no later.
        last_pause_s = LoginBackoff(MIN_AUTH_BACKOFF_S, clock=lambda: 0.0).pause_s(len(attempts_locked))
        assert ticks_to_recover <= last_pause_s // 60
        assert min(gaps(logins)) >= MIN_AUTH_BACKOFF_S
        assert harness.up() == [1.0]
        assert totals_mismatches(harness) == []
