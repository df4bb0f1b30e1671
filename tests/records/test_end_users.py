"""The dify.end_user.id attribute: top end users by tokens, sticky membership, hashing."""

from __future__ import annotations

import hashlib

import pytest

from otel_dify.records.end_users import OTHER_END_USERS, EndUserLabels
from otel_dify.records.state import EndUserTable


def labels(
    mode: str = "raw", *, top_n: int = 2, salt: str | None = None
) -> tuple[EndUserLabels, dict[str, EndUserTable]]:
    tables: dict[str, EndUserTable] = {}
    return EndUserLabels(mode, salt=salt, top_n=top_n, tables=tables), tables  # type: ignore[arg-type]


def test_off_gives_no_attribute() -> None:
    policy, tables = labels("off")

    assert policy.label("app", "alice", 10) is None
    assert tables == {}


def test_no_end_user_gives_no_attribute() -> None:
    policy, _ = labels()

    assert policy.label("app", None, 10) is None


def test_top_users_promoted_by_tokens() -> None:
    policy, tables = labels(top_n=2)
    for user, tokens in [("alice", 50), ("bob", 500), ("carol", 200), ("dave", 5)]:
        assert policy.label("app", user, tokens) == OTHER_END_USERS

    policy.promote()

    assert tables["app"].promoted == ["bob", "carol"]
    assert policy.label("app", "bob", 1) == "bob"
    assert policy.label("app", "alice", 1_000) == OTHER_END_USERS


def test_membership_sticky() -> None:
    policy, tables = labels(top_n=1)
    policy.label("app", "alice", 10)
    policy.promote()
    policy.label("app", "bob", 10_000)

    policy.promote()

    assert tables["app"].promoted == ["alice"]
    assert policy.label("app", "alice", 1) == "alice"


def test_places_per_app() -> None:
    policy, tables = labels(top_n=1)
    policy.label("app-a", "alice", 10)
    policy.label("app-b", "bob", 10)

    policy.promote()

    assert tables["app-a"].promoted == ["alice"]
    assert tables["app-b"].promoted == ["bob"]


def test_hashed_ids_salted() -> None:
    policy, tables = labels("hashed", top_n=1, salt="pepper-123")
    policy.label("app", "customer-42", 10)
    policy.promote()

    value = policy.label("app", "customer-42", 1)

    assert value == hashlib.sha256(b"pepper-123customer-42").hexdigest()[:16]
    assert "customer-42" not in tables["app"].promoted
    assert labels("hashed", top_n=1, salt="other-salt")[0]._present("customer-42") != value


def test_hashed_needs_salt() -> None:
    with pytest.raises(ValueError, match="salt"):
        labels("hashed", salt=None)


def test_candidates_bounded() -> None:
    policy, tables = labels(top_n=1)
    for number in range(500):
        policy.label("app", f"user-{number}", number)

    assert len(tables["app"].tokens) <= 200
    assert "user-499" in tables["app"].tokens
