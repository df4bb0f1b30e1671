"""Dify session cookies, kept by hand instead of in an aiohttp cookie jar.

Dify 1.9.2 and later names its cookies ``__Host-access_token`` and so on, with
``Secure``, whenever its console URLs start with ``https``, even when the
exporter reaches it over plain HTTP inside a container network. A standard
cookie jar drops such cookies, so this module stores every ``Set-Cookie``
name and value exactly as received and replays them in a ``Cookie`` header.
Domain, Path and Secure attributes are ignored on purpose: one store belongs
to one Dify base URL.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Callable, Iterable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header: the name and value as received, and the lifetime.

    ``max_age_s`` is the ``Max-Age`` attribute in seconds, or None when absent
    or not an integer. ``expires_at`` is the ``Expires`` attribute as a Unix
    timestamp, or None. The value is left out of ``repr`` because it is a
    session secret.
    """

    name: str
    value: str = field(repr=False)
    max_age_s: int | None = None
    expires_at: float | None = None

    def is_deletion(self, now: float) -> bool:
        """Return whether this header removes the cookie (empty value, Max-Age <= 0 or Expires past).

        ``now`` is the current Unix time in seconds, compared with ``Expires``
        only when there is no ``Max-Age``, as RFC 6265 section 5.3 orders.
        """
        if self.value == "":
            return True
        if self.max_age_s is not None:
            return self.max_age_s <= 0
        return self.expires_at is not None and self.expires_at <= now


def parse_set_cookie(header: str) -> SetCookie | None:
    """Parse one ``Set-Cookie`` header value, or return None when it has no ``name=value`` pair.

    The name and value are the text before the first ``;``, with surrounding
    whitespace stripped. Double quotes around the value are kept, because the
    server expects the same bytes back.
    """
    pair, _, attribute_text = header.partition(";")
    name, separator, value = pair.partition("=")
    name = name.strip()
    if not separator or not name:
        return None

    max_age_s: int | None = None
    expires_at: float | None = None
    for attribute in attribute_text.split(";"):
        key, _, attribute_value = attribute.partition("=")
        key = key.strip().lower()
        attribute_value = attribute_value.strip()
        if key == "max-age":
            max_age_s = _parse_max_age(attribute_value)
        elif key == "expires":
            expires_at = _parse_expires(attribute_value)

    return SetCookie(name=name, value=value.strip(), max_age_s=max_age_s, expires_at=expires_at)


def parse_set_cookie_headers(headers: Iterable[str]) -> tuple[SetCookie, ...]:
    """Parse every ``Set-Cookie`` header in order, skipping malformed ones with a warning."""
    cookies: list[SetCookie] = []
    for header in headers:
        cookie = parse_set_cookie(header)
        if cookie is None:
            # The header text may contain a token, so only its length is logged.
            logger.warning("Ignoring a malformed Set-Cookie header", extra={"header_length": len(header)})
            continue
        cookies.append(cookie)
    return tuple(cookies)


def _parse_max_age(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _parse_expires(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class CookieStore:
    """Cookie names and values of one Dify session, in the order the server first set them.

    A second ``Set-Cookie`` for a stored name replaces its value in place; a
    deletion (see :meth:`SetCookie.is_deletion`) removes it.
    """

    def __init__(self, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._values: dict[str, str] = {}
        self._wall_clock = wall_clock
        # Every console request reads the full Cookie header and the CSRF
        # cookie, while only a login or a refresh changes them, so both
        # lookups are cached until the next change.
        self._full_header: str | None = None
        self._by_suffix: dict[str, tuple[str, str] | None] = {}

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Names only: the values are session secrets.
        return f"CookieStore(names={list(self._values)!r})"

    def update(self, cookies: Iterable[SetCookie]) -> None:
        """Apply the ``Set-Cookie`` headers of one response, in order."""
        now = self._wall_clock()
        for cookie in cookies:
            if cookie.is_deletion(now):
                self._values.pop(cookie.name, None)
            else:
                self._values[cookie.name] = cookie.value
        self._forget_lookups()

    def clear(self) -> None:
        """Forget every cookie."""
        self._values.clear()
        self._forget_lookups()

    def _forget_lookups(self) -> None:
        self._full_header = None
        self._by_suffix.clear()

    def names(self) -> list[str]:
        """Return the stored cookie names."""
        return list(self._values)

    def find_by_suffix(self, suffix: str) -> tuple[str, str] | None:
        """Return the ``(name, value)`` of the first cookie whose name ends with ``suffix``.

        Dify adds a ``__Host-`` prefix to its cookie names depending on its
        configuration, so callers look cookies up by their unprefixed name.
        """
        if suffix in self._by_suffix:
            return self._by_suffix[suffix]

        found: tuple[str, str] | None = None
        for name, value in self._values.items():
            if name.endswith(suffix):
                found = (name, value)
                break
        self._by_suffix[suffix] = found
        return found

    def header_value(self, names: Iterable[str] | None = None) -> str | None:
        """Build a ``Cookie`` header value (``a=1; b=2``), or return None when empty.

        ``names`` limits the header to those cookies, and None selects them all.
        """
        if names is None:
            if self._full_header is None and self._values:
                self._full_header = _join_cookies(self._values.items())
            return self._full_header

        requested_names = set(names)
        selected = [(name, value) for name, value in self._values.items() if name in requested_names]
        if not selected:
            return None
        return _join_cookies(selected)


def _join_cookies(pairs: Iterable[tuple[str, str]]) -> str:
    return "; ".join(f"{name}={value}" for name, value in pairs)
