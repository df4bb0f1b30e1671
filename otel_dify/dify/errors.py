"""Errors raised by the Dify client.

Every error carries the endpoint template (``/console/api/apps/{app_id}/...``),
the app id when there is one, and the HTTP status when a response arrived, so
that a log line or a self-metric can name what failed.
"""

from __future__ import annotations


class DifyError(Exception):
    """Base class of every failure talking to Dify."""

    #: Short stable name used as the ``error.type`` attribute of self-metrics.
    error_type = "dify_error"

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        app_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.app_id = app_id
        self.status = status

    def log_context(self) -> dict[str, object]:
        """Return the fields to attach to a log record, leaving out unknown ones."""
        context: dict[str, object] = {"error_type": self.error_type}
        if self.endpoint is not None:
            context["endpoint"] = self.endpoint
        if self.app_id is not None:
            context["app_id"] = self.app_id
        if self.status is not None:
            context["http_status"] = self.status
        return context


class TransportError(DifyError):
    """Connection refused or reset, DNS failure or timeout, after the retries ran out."""

    error_type = "transport"


class RequestTimeoutError(TransportError):
    """A request did not finish within the configured request timeout."""

    error_type = "timeout"


class HTTPStatusError(DifyError):
    """Dify answered with a status the caller does not handle (4xx other than 401, or 5xx)."""

    error_type = "http_status"


class NotFoundError(HTTPStatusError):
    """404: unknown app, a mode the endpoint does not support, or an unknown path."""

    error_type = "not_found"


class InvalidResponseError(DifyError):
    """The body was not JSON (Dify sends HTML for some 404s) or lacked the expected shape."""

    error_type = "invalid_response"


class AuthenticationError(DifyError):
    """Login, refresh or an authenticated request was rejected."""

    error_type = "authentication"


class LoginLockedError(AuthenticationError):
    """Dify locked the e-mail after too many failed logins (429)."""

    error_type = "login_locked"


class AuthBackoffError(AuthenticationError):
    """A login is not attempted because the back-off after a failed login still runs.

    ``retry_at`` is the monotonic clock reading (seconds) from which the next
    attempt is allowed.
    """

    error_type = "auth_backoff"

    def __init__(self, message: str, *, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at
