"""Parsing of the statistics ``start``/``end`` parameters."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from otel_dify.simulator.profiles import get_profile
from otel_dify.simulator.timewindow import TimeWindow, TimeWindowError, localize, parse_time_window

MODERN = get_profile("1.15")
LEGACY = get_profile("1.9.2")
NEW_YORK = "America/New_York"


def test_parse_local_to_utc() -> None:
    window = parse_time_window("2026-12-04 10:00", "2026-12-04 10:01", NEW_YORK, MODERN)
    assert window.start == datetime(2026, 12, 4, 15, 0, tzinfo=timezone.utc)
    assert window.end == datetime(2026, 12, 4, 15, 1, tzinfo=timezone.utc)


def test_absent_bounds_unbounded() -> None:
    assert parse_time_window(None, None, NEW_YORK, MODERN) == TimeWindow(None, None)


def test_empty_string_absent_modern() -> None:
    assert parse_time_window("", "", NEW_YORK, MODERN) == TimeWindow(None, None)


def test_empty_string_rejected_legacy() -> None:
    with pytest.raises(TimeWindowError) as caught:
        parse_time_window("", None, NEW_YORK, LEGACY)
    assert caught.value.param == "start"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-12-01", "Invalid start time format: time data '2026-12-01' does not match format '%Y-%m-%d %H:%M'"),
        ("2026-12-01T00:00", "Invalid start time format: time data '2026-12-01T00:00' does not match format '%Y-%m-%d %H:%M'"),
        ("2026-12-01 00:00:00", "Invalid start time format: unconverted data remains: :00"),
        ("yesterday", "Invalid start time format: time data 'yesterday' does not match format '%Y-%m-%d %H:%M'"),
    ],
)
def test_bad_format_message(value: str, message: str) -> None:
    with pytest.raises(TimeWindowError) as caught:
        parse_time_window(value, None, NEW_YORK, MODERN)
    assert caught.value.message == message


def test_bad_end_named() -> None:
    with pytest.raises(TimeWindowError) as caught:
        parse_time_window("2026-12-01 00:00", "tomorrow", NEW_YORK, MODERN)
    assert caught.value.message.startswith("Invalid end time format: ")


def test_start_after_end_modern() -> None:
    with pytest.raises(TimeWindowError) as caught:
        parse_time_window("2026-12-04 10:00", "2026-12-01 10:00", NEW_YORK, MODERN)
    assert caught.value.message == "start must be earlier than or equal to end"


def test_start_after_end_legacy_allowed() -> None:
    window = parse_time_window("2026-12-04 10:00", "2026-12-01 10:00", NEW_YORK, LEGACY)
    assert window.start is not None and window.end is not None
    assert window.start > window.end


def test_contains_half_open() -> None:
    window = TimeWindow(datetime(2026, 12, 4, 15, tzinfo=timezone.utc), datetime(2026, 12, 4, 16, tzinfo=timezone.utc))
    assert window.contains(datetime(2026, 12, 4, 15, tzinfo=timezone.utc))
    assert not window.contains(datetime(2026, 12, 4, 16, tzinfo=timezone.utc))


def test_ambiguous_time_standard() -> None:
    # 2026-11-01 01:30 happens twice in New York; Dify reads it as EST (UTC-5).
    local = localize(datetime(2026, 11, 1, 1, 30), ZoneInfo(NEW_YORK))
    assert local.astimezone(timezone.utc) == datetime(2026, 11, 1, 6, 30, tzinfo=timezone.utc)


def test_skipped_time_moved_forward() -> None:
    # 2026-03-08 02:30 does not exist in New York; Dify moves it to 03:30 EDT.
    local = localize(datetime(2026, 3, 8, 2, 30), ZoneInfo(NEW_YORK))
    assert local.astimezone(timezone.utc) == datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)
