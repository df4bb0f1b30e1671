"""SimClock: a stopped clock moved by hand, or one that follows real time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from otel_dify.simulator import SimClock

START = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)


def test_clock_stands_still() -> None:
    clock = SimClock(START)
    assert clock.now() == START
    assert clock.now() == START


def test_clock_advance() -> None:
    clock = SimClock(START)
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    assert clock.timestamp() == START.timestamp() + 90


def test_clock_set() -> None:
    clock = SimClock(START)
    target = datetime(2027, 1, 1, tzinfo=timezone(timedelta(hours=9)))
    clock.set(target)
    assert clock.now() == target
    assert clock.now().tzinfo == timezone.utc


def test_clock_rejects_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        SimClock(datetime(2026, 12, 4))


def test_system_clock_offset() -> None:
    clock = SimClock.system()
    clock.advance(3600)
    assert clock.follows_system_time
    assert clock.now() >= datetime.now(timezone.utc) + timedelta(seconds=3599)


def test_system_clock_set() -> None:
    clock = SimClock.system()
    clock.set(START)
    # Real time keeps running from the new instant.
    assert START <= clock.now() < START + timedelta(minutes=5)
