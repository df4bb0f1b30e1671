"""Session cookies as Dify 1.9.2+ sets them.

Dify names its cookies ``access_token``, ``refresh_token`` and ``csrf_token``,
or ``__Host-access_token`` and so on with the ``Secure`` flag when both its
console URLs use https. The ``Set-Cookie`` attribute order follows
Werkzeug's ``dump_cookie``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"
CSRF_TOKEN = "csrf_token"

_EPOCH_EXPIRES = "Thu, 01 Jan 1970 00:00:00 GMT"


def cookie_name(base: str, secure: bool) -> str:
    """Return the cookie name under the ``__Host-`` prefix rule."""
    return f"__Host-{base}" if secure else base


def set_cookie(name: str, value: str, *, max_age_s: int, now: datetime, http_only: bool, secure: bool) -> str:
    """Return one ``Set-Cookie`` header value; ``Expires`` is ``now`` plus ``max_age_s``."""
    expires = format_datetime(now + timedelta(seconds=max_age_s), usegmt=True)
    parts = [f"{name}={value}", f"Expires={expires}", f"Max-Age={max_age_s}"]
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    parts.extend(["Path=/", "SameSite=Lax"])
    return "; ".join(parts)


def clear_cookie(name: str, *, http_only: bool, secure: bool) -> str:
    """Return the ``Set-Cookie`` value that deletes a cookie, as Dify's logout sends it."""
    parts = [f"{name}=", f"Expires={_EPOCH_EXPIRES}"]
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    parts.extend(["Path=/", "SameSite=Lax"])
    return "; ".join(parts)
