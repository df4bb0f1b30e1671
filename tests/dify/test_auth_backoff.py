"""Tests for the pause after a failed login."""

from __future__ import annotations

import logging

import pytest

from otel_dify.dify.auth.backoff import MIN_AUTH_BACKOFF_S, LoginBackoff
from otel_dify.dify.errors import AuthBackoffError
from tests.dify.support import FakeClock


def test_backoff_blocks_until_elapsed() -> None:
    clock = FakeClock()
    backoff = LoginBackoff(900.0, clock)
    retry_at = backoff.record_failure()

    clock.advance(899.0)
    with pytest.raises(AuthBackoffError) as caught:
        backoff.check()
    assert caught.value.retry_at == retry_at

    clock.advance(1.0)
    backoff.check()


def test_backoff_clamped_to_minimum(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)

    backoff = LoginBackoff(10.0, FakeClock())

    assert backoff.backoff_s == MIN_AUTH_BACKOFF_S
    assert any(record.levelno == logging.WARNING for record in caplog.records)


def test_backoff_longer_value_kept() -> None:
    clock = FakeClock()
    backoff = LoginBackoff(3600.0, clock)

    assert backoff.record_failure() == clock.now + 3600.0


def test_backoff_at_least_overrides() -> None:
    clock = FakeClock()
    backoff = LoginBackoff(900.0, clock)

    assert backoff.record_failure(at_least_s=7200.0) == clock.now + 7200.0


def test_backoff_reset_allows_login() -> None:
    backoff = LoginBackoff(900.0, FakeClock())
    backoff.record_failure()

    backoff.reset()

    backoff.check()
    assert backoff.retry_at is None


def test_pause_doubles_then_outlasts_lockout_window():
    backoff = LoginBackoff(900.0, clock=lambda: 0.0)
    pauses = [backoff.pause_s(failures) for failures in range(1, 8)]
    assert pauses == [900.0, 1800.0, 3600.0, 7200.0, 90000.0, 90000.0, 90000.0]
