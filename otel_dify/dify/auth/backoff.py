"""The pause after a failed login that keeps Dify from locking the account.

Dify counts failed logins per e-mail and, once more than 5 are recorded,
rejects every login with 429 for 24 hours (``LOGIN_LOCKOUT_DURATION``). A
human who shares the account would be locked out too. Dify restarts the 24
hours at every failure, so a fixed pause of 15 minutes would still lock the
account after about 75 minutes of a wrong password. The pause therefore
doubles with each consecutive failure (15, 30, 60 and 120 minutes with the
default) and, from the fifth failure on, lasts :data:`LOCKOUT_WINDOW_PAUSE_S`
(25 hours), longer than Dify keeps the count. At most 5 failures then fall
within Dify's window, one fewer than it takes to lock the account.
"""

from __future__ import annotations

import logging
from typing import Callable

from otel_dify.dify.errors import AuthBackoffError

logger = logging.getLogger(__name__)

#: Shortest allowed pause after a failed login, in seconds.
MIN_AUTH_BACKOFF_S = 900.0

#: Consecutive failures after which the pause outlasts Dify's failure count.
DOUBLING_FAILURES = 4

#: Pause from the fifth consecutive failure on: Dify's default
#: LOGIN_LOCKOUT_DURATION (24 h) plus an hour.
LOCKOUT_WINDOW_PAUSE_S = 25 * 3600.0


class LoginBackoff:
    """Refuses login attempts until the pause after the last failure has passed.

    The pause is ``backoff_s`` after one failure and doubles with each further
    consecutive failure up to the fourth; from the fifth on it is
    :data:`LOCKOUT_WINDOW_PAUSE_S`. A successful login (:meth:`reset`) starts
    over. ``clock`` returns monotonic seconds. A ``backoff_s`` below
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
        self._consecutive_failures = 0

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

    def pause_s(self, consecutive_failures: int) -> float:
        """Return the pause after the given number of consecutive failures (1 or more)."""
        if consecutive_failures > DOUBLING_FAILURES:
            return max(LOCKOUT_WINDOW_PAUSE_S, self.backoff_s)
        return self.backoff_s * 2 ** (consecutive_failures - 1)

    def record_failure(self, *, at_least_s: float = 0.0, reason: str = "") -> float:
        """Start the pause after one more failure, at least ``at_least_s`` seconds, and return its end.

        ``reason`` (no secrets) is repeated in the error raised during the pause,
        so that readiness reports say why the login failed.
        """
        self._consecutive_failures += 1
        self._retry_at = self._clock() + max(self.pause_s(self._consecutive_failures), at_least_s)
        self._last_failure = reason
        return self._retry_at

    def reset(self) -> None:
        """End the pause after a successful login."""
        self._retry_at = None
        self._consecutive_failures = 0
