"""The ``dify.end_user.id`` attribute: which end users get their own series, and how the id is sent.

Each app's top end users by tokens keep their own series and the rest share
the series ``other``. A counter must never decrease, so membership is decided
when a record is counted and never revoked. Once per poll, free places among
the app's ``top_n`` go to the non-member end users with the most tokens. A
member's series starts with the records counted after it joined. With
``hashed`` the exporter sends, and keeps in its state file, the first 16 hex
digits of SHA-256(salt + id) instead of the id.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from otel_dify.logs import register_secret
from otel_dify.records.state import EndUserTable

EndUserMode = Literal["off", "raw", "hashed"]

#: The value of ``dify.end_user.id`` for end users without their own series.
OTHER_END_USERS = "other"

#: Candidates remembered per app, as a multiple of ``top_n``; the ones with the fewest tokens go first.
_CANDIDATES_PER_PLACE = 20
_MIN_CANDIDATES = 200


class EndUserLabels:
    """Decides the ``dify.end_user.id`` value of each counted record.

    ``tables`` is the per-app membership and ranking kept in the record state;
    it is updated in place. ``salt`` is required for ``hashed`` and is
    registered with the log redaction.
    """

    def __init__(self, mode: EndUserMode, *, salt: str | None, top_n: int, tables: dict[str, EndUserTable]) -> None:
        if mode == "hashed" and not salt:
            raise ValueError("hashed end-user ids need a salt")
        if top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {top_n}")
        if salt:
            register_secret(salt)
        self.mode = mode
        self._salt = salt or ""
        self._top_n = top_n
        self._tables = tables
        self._max_candidates = max(_MIN_CANDIDATES, _CANDIDATES_PER_PLACE * top_n)

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def label(self, app_id: str, end_user: str | None, tokens: int) -> str | None:
        """Return the attribute value for a record of ``end_user`` with ``tokens``, and rank the user.

        Returns None when the attribute is off or the record has no end user
        (a console account started it). The point then has no such attribute.
        """
        if self.mode == "off" or not end_user:
            return None

        presented = self._present(end_user)
        table = self._tables.setdefault(app_id, EndUserTable())
        if presented in table.promoted:
            return presented

        table.tokens[presented] = table.tokens.get(presented, 0) + max(tokens, 0)
        if len(table.tokens) > self._max_candidates:
            smallest = min(table.tokens, key=lambda user: table.tokens[user])
            del table.tokens[smallest]
        return OTHER_END_USERS

    def promote(self) -> None:
        """Give free places of each app to its non-member end users with the most tokens (ties: by id)."""
        for table in self._tables.values():
            free = self._top_n - len(table.promoted)
            if free <= 0 or not table.tokens:
                continue
            ranked = sorted(table.tokens.items(), key=lambda item: (-item[1], item[0]))
            for user, _tokens in ranked[:free]:
                table.promoted.append(user)
                del table.tokens[user]

    def _present(self, end_user: str) -> str:
        if self.mode == "hashed":
            return hashlib.sha256((self._salt + end_user).encode("utf-8")).hexdigest()[:16]
        return end_user
