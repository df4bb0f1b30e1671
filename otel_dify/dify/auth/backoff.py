"""The pause after a failed login that keeps Dify from locking the account.

Dify counts failed logins per e-mail and, once more than 5 are recorded,
rejects every login with 429 for 24 hours (``LOGIN_LOCKOUT_DURATION``). A
human who shares the account would be locked out too. So after each failed
login the client waits at least :data:`MIN_AUTH_BACKOFF_S` before the next
attempt, which allows at most 4 attempts an hour.
"""

from __future__ import annotations

import logging
from typing import Callable

from otel_dify.dify.errors import AuthBackoffError

logger = logging.getLogger(__name__)

#: Shortest allowed pause after a failed login, in seconds.
MIN_AUTH_BACKOFF_S = 900.0


class LoginBackoff:
    """Refuses login attempts until ``backoff_s`` seconds of ``clock`` passed since the last failure.

    ``clock`` returns monotonic seconds. A ``backoff_s`` below
    :data:`MIN_AUTH_BACKOFF_S` is raised to it, with a warning.
    """

    def __init__(self, backoff_s: float, clock: Callable[[], float]) -> None:
        if backoff_s < MIN_AUTH_BACKOFF_S:
            logger.warning(
                "Raising the login back-off to the minimum",
                extra={"auth_backoff_s": backoff_s, "min_auth_backoff_s": MIN_AUTH_BACKOFF_S},
            )
            backoff_s = MIN_AUTH_BACKOFF_S

        self.backoff_s = backoff_s
        self._clock = clock
        self._retry_at: float | None = None
        self._last_failure = ""

    @property
    def retry_at(self) -> float | None:
        """The clock reading from which a login is allowed again, or None when not backing off."""
        return self._retry_at

    def check(self) -> None:
        """Raise AuthBackoffError while the pause after the last failure runs."""
        if self._retry_at is None:
            return

        now = self._clock()
        if now < self._retry_at:
            failure = f" ({self._last_failure})" if self._last_failure else ""
            raise AuthBackoffError(
                f"Not logging in to Dify for another {self._retry_at - now:.0f} s after a failed "
                f"login{failure}, so that Dify does not lock the account",
                retry_at=self._retry_at,
            )

    def record_failure(self, *, at_least_s: float = 0.0, reason: str = "") -> float:
        """Start a pause of ``max(backoff_s, at_least_s)`` seconds and return its end.

        ``reason`` (no secrets) is repeated in the error raised during the pause,
        so that readiness reports say why the login failed.
        """
        self._retry_at = self._clock() + max(self.backoff_s, at_least_s)
        self._last_failure = reason
        return self._retry_at

    def reset(self) -> None:
        """End the pause after a successful login."""
        self._retry_at = None
