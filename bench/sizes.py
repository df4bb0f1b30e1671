"""The split of a benchmark app count over the simulator's five app modes."""

from __future__ import annotations

#: The simulator generates the same number of apps for each of the five app modes.
APP_MODES = 5


def apps_per_mode(apps: int) -> int:
    """Return how many apps of each mode make ``apps`` apps; raise ValueError unless it divides evenly."""
    if apps < APP_MODES or apps % APP_MODES:
        raise ValueError(f"app count must be a positive multiple of {APP_MODES} (one share per app mode), got {apps}")
    return apps // APP_MODES
