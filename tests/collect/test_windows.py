from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from otel_dify.collect.windows import format_dify_time, history_cut, local_today, midnight


def test_format_has_minutes_and_no_seconds():
    assert format_dify_time(datetime(2026, 12, 4, 9, 5, 59)) == "2026-12-04 09:05"


def test_midnight_string():
    assert midnight(date(2026, 11, 30)) == "2026-11-30 00:00"


def test_cut_new_york_evening():
    # 19:00 UTC on 4 December is 14:00 in New York: the cut is the start of 3 December.
    now = datetime(2026, 12, 4, 19, 0, tzinfo=timezone.utc)
    cut = history_cut(now, ZoneInfo("America/New_York"))
    assert cut.end_day == date(2026, 12, 3)
    assert cut.end == "2026-12-03 00:00"
    assert cut.timezone == "America/New_York"


def test_cut_tokyo_is_a_day_ahead():
    # 16:00 UTC on 4 December is 01:00 on 5 December in Tokyo.
    now = datetime(2026, 12, 4, 16, 0, tzinfo=timezone.utc)
    assert local_today(now, ZoneInfo("Asia/Tokyo")) == date(2026, 12, 5)
    assert history_cut(now, ZoneInfo("Asia/Tokyo")).end_day == date(2026, 12, 4)


def test_cut_new_york_before_utc_midnight():
    # 02:00 UTC on 5 December is still 4 December in New York.
    now = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)
    assert local_today(now, ZoneInfo("America/New_York")) == date(2026, 12, 4)
    assert history_cut(now, ZoneInfo("UTC")).end_day == date(2026, 12, 4)
