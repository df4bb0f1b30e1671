"""The immutable figures that the observable instruments report.

The poll loop builds a new :class:`Snapshot` after every poll and swaps it into
a :class:`SnapshotHolder` with one reference assignment. The OpenTelemetry SDK
runs observable callbacks on its reader thread, one after another, while it
holds a lock; a slow callback loses the whole collection cycle. So callbacks
only read the current snapshot: no I/O, no waiting, no locks across awaits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

AttributeValue = str | int | float | bool
Attributes = Mapping[str, AttributeValue]


@dataclass(frozen=True)
class Point:
    """One value of one metric for one attribute set."""

    attributes: Attributes
    value: float


def _empty_points() -> Mapping[str, tuple[Point, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Snapshot:
    """All points of all observable metrics, keyed by metric name.

    A metric that is missing, or that maps to an empty tuple, reports nothing
    in this cycle. Counter values are absolute cumulative totals.
    """

    points: Mapping[str, tuple[Point, ...]] = field(default_factory=_empty_points)

    @classmethod
    def build(cls, points: Mapping[str, list[Point] | tuple[Point, ...]]) -> "Snapshot":
        """Freeze ``points`` into a snapshot that later changes to ``points`` do not affect."""
        frozen = {
            name: tuple(
                Point(MappingProxyType(dict(point.attributes)), point.value) for point in metric_points
            )
            for name, metric_points in points.items()
        }
        return cls(MappingProxyType(frozen))

    def get(self, metric_name: str) -> tuple[Point, ...]:
        """Return the points of ``metric_name``, or an empty tuple."""
        return self.points.get(metric_name, ())


class SnapshotHolder:
    """The current snapshot, replaced whole by the poll loop and read by callbacks.

    Replacing the reference is atomic in CPython, so readers need no lock and
    never see a half-built snapshot.
    """

    def __init__(self, initial: Snapshot | None = None) -> None:
        self._current = initial if initial is not None else Snapshot()

    @property
    def current(self) -> Snapshot:
        return self._current

    def replace(self, snapshot: Snapshot) -> None:
        self._current = snapshot
