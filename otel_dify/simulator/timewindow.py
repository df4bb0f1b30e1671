"""The ``start``/``end`` query parameters of Dify's statistics endpoints.

Dify parses each value with ``strptime(value, "%Y-%m-%d %H:%M")`` as a local
time in the account's timezone and converts it to UTC. Rows then match
``start <= created_at < end`` (start inclusive, end exclusive), and either
bound may be absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from otel_dify.simulator.profiles import VersionProfile

TIME_FORMAT = "%Y-%m-%d %H:%M"


class TimeWindowError(ValueError):
    """A ``start`` or ``end`` value Dify rejects with 400.

    ``param`` names the offending parameter, or is None when the pair is
    inconsistent (start later than end).
    """

    def __init__(self, message: str, *, param: str | None, value: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.value = value


@dataclass(frozen=True)
class TimeWindow:
    """A half-open UTC interval; a None bound is unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def contains(self, instant: datetime) -> bool:
        """True when ``start <= instant < end``."""
        if self.start is not None and instant < self.start:
            return False
        if self.end is not None and instant >= self.end:
            return False
        return True


def parse_time_window(
    start: str | None, end: str | None, zone_name: str, profile: VersionProfile
) -> TimeWindow:
    """Parse the raw ``start`` and ``end`` query values as Dify's statistics do.

    None means the parameter was not sent. An empty string counts as absent
    from 1.11.0 and fails the format check before. Raises ``TimeWindowError``
    for a bad format, and from 1.10.0 for ``start`` later than ``end``.
    """
    zone = ZoneInfo(zone_name)
    start_utc = _parse_bound(start, "start", zone, profile)
    end_utc = _parse_bound(end, "end", zone, profile)

    if profile.validate_start_before_end and start_utc and end_utc and start_utc > end_utc:
        raise TimeWindowError("start must be earlier than or equal to end", param=None, value=None)
    return TimeWindow(start=start_utc, end=end_utc)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """Return the calendar date of ``instant`` in ``zone``, the bucket key of daily rows."""
    return instant.astimezone(zone).date()


def _parse_bound(value: str | None, label: str, zone: ZoneInfo, profile: VersionProfile) -> datetime | None:
    if value is None:
        return None
    if value == "" and profile.empty_param_is_absent:
        return None

    try:
        naive = datetime.strptime(value, TIME_FORMAT)
    except ValueError as exc:
        raise TimeWindowError(f"Invalid {label} time format: {exc}", param=label, value=value) from exc

    return localize(naive.replace(second=0), zone).astimezone(timezone.utc)


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attach ``zone`` to a naive local time the way Dify does around DST changes.

    An ambiguous time (the repeated hour in autumn) is read as standard time.
    A time that does not exist (the skipped hour in spring) is moved forward
    one hour first.
    """
    earlier = naive.replace(tzinfo=zone, fold=0)
    later = naive.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier

    round_trip = earlier.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        # The wall time was skipped by a DST change.
        return (naive + timedelta(hours=1)).replace(tzinfo=zone)
    # The wall time happened twice; prefer the standard-time reading.
    return earlier if earlier.dst() == timedelta(0) else later
