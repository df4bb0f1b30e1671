"""Dify release numbers: parsing the ``X-Version`` header and the releases that changed the API.

Every response of Dify 1.15.0 carries ``X-Version: 1.15.0``. Older releases may
leave the header out, so every decision that depends on the version also has a
fallback for an unknown version.
"""

from __future__ import annotations

import logging
import re
from typing import Mapping

logger = logging.getLogger(__name__)

Version = tuple[int, int, int]

#: Response header in which Dify reports its release.
VERSION_HEADER = "X-Version"

#: First release whose login returns an access and refresh token pair (0.9.1 returns one JWT).
TOKEN_PAIR_SINCE: Version = (0, 9, 2)

#: First release that hands out the session only as cookies and checks ``X-CSRF-Token``.
COOKIE_SESSION_SINCE: Version = (1, 9, 2)

#: First release that serves ``/console/api/workspaces/current`` as POST instead of GET.
WORKSPACE_POST_SINCE: Version = (1, 10, 1)

#: First release that expects the login password Base64-encoded.
BASE64_PASSWORD_SINCE: Version = (1, 11, 2)

_VERSION_PATTERN = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> Version | None:
    """Parse ``"1.15.0"``, ``"v1.9.2"`` or ``"1.11.2-fix.1"`` into ``(major, minor, patch)``.

    A missing patch number counts as 0. Returns None for None, an empty string
    or text that does not start with a release number; suffixes after the
    patch number are ignored.
    """
    if not text:
        return None

    match = _VERSION_PATTERN.match(text)
    if match is None:
        return None

    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


class ServerVersion:
    """The latest release number a Dify server reported, shared by a client and its authenticator.

    ``update_from_headers`` runs on every HTTP response; a response without the
    header leaves the known value as it is.
    """

    def __init__(self) -> None:
        self._text: str | None = None
        self._parsed: Version | None = None

    @property
    def text(self) -> str | None:
        """The header value as received, or None before any response carried it."""
        return self._text

    @property
    def parsed(self) -> Version | None:
        """The parsed release number, or None when unknown or unparseable."""
        return self._parsed

    def update_from_headers(self, headers: Mapping[str, str]) -> None:
        """Store the ``X-Version`` header of a response, if it has one."""
        value = headers.get(VERSION_HEADER)
        if not value or value == self._text:
            return

        parsed = parse_version(value)
        if parsed is None:
            logger.warning(
                "Dify sent an unparseable version header",
                extra={"server_version": value},
            )
        elif self._text is not None:
            # A changed version means the server was upgraded or a load
            # balancer mixes releases; both change how the client must talk.
            logger.info(
                "Dify server version changed",
                extra={"server_version": value, "previous_server_version": self._text},
            )

        self._text = value
        self._parsed = parsed

    def at_least(self, release: Version) -> bool | None:
        """Return whether the known version is ``release`` or later, or None when unknown."""
        if self._parsed is None:
            return None
        return self._parsed >= release
