"""Behaviour of the record-level endpoints that changed between Dify releases.

Each flag is derived from the profile's version number and names the first
release with the change, as read from Dify's source at its release tags.
The simulator's profiles are 0.9.1, 1.9.1, 1.9.2 and 1.15.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_dify.simulator.profiles import VersionProfile

#: ``status`` values of ``workflow-app-logs`` in Dify 1.15.0, in its error message order.
APP_LOG_STATUSES = ("scheduled", "running", "succeeded", "failed", "stopped", "partial-succeeded", "paused")
#: ``status`` values before the trigger work of 1.10.0 added more.
LEGACY_APP_LOG_STATUSES = ("succeeded", "failed", "stopped", "partial-succeeded")
#: ``status`` values of the run list filter (1.9.2+).
RUN_LIST_STATUSES = ("running", "succeeded", "failed", "stopped", "partial-succeeded")
#: ``status`` values of ``GET /v1/workflows/logs``.
SERVICE_LOG_STATUSES = ("succeeded", "failed", "stopped")
TRIGGERED_FROM_VALUES = ("debugging", "app-run")


def version_tuple(version: str) -> tuple[int, ...]:
    """Return ``"1.15.0"`` as ``(1, 15, 0)``."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class RecordFeatures:
    """Switches for the record endpoints of one profile."""

    #: ``created_at__before`` / ``created_at__after`` on app logs (1.0.1+).
    app_log_time_filters: bool
    #: ``workflow-runs`` accepts ``status`` and ``triggered_from``, and ``/count`` exists (1.9.2+).
    run_list_filters: bool
    #: Node executions carry ``inputs_truncated`` and the other ``*_truncated`` flags (1.9.2+).
    node_truncation_flags: bool
    #: App logs accept ``detail`` and items carry ``details`` and ``workflow_run.triggered_from`` (1.10.0+).
    #: NOTE: ``triggered_from`` in log items is assumed to come with the triggers of 1.10.0.
    #: It is certain only from 1.14.1.
    app_log_details: bool
    #: ``/v1/info`` returns ``mode`` (1.4.0+) and ``author_name`` (1.4.3+).
    info_mode: bool
    info_author: bool
    app_log_statuses: tuple[str, ...]

    @classmethod
    def for_profile(cls, profile: VersionProfile) -> RecordFeatures:
        """Return the switches of ``profile``."""
        version = version_tuple(profile.version)
        return cls(
            app_log_time_filters=version >= (1, 0, 1),
            run_list_filters=version >= (1, 9, 2),
            node_truncation_flags=version >= (1, 9, 2),
            app_log_details=version >= (1, 10, 0),
            info_mode=version >= (1, 4, 0),
            info_author=version >= (1, 4, 3),
            app_log_statuses=APP_LOG_STATUSES if version >= (1, 10, 0) else LEGACY_APP_LOG_STATUSES,
        )
