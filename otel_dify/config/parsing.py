"""Parsers for the value formats of environment variables: durations, lists, URLs.

Each parser raises :class:`pydantic_core.PydanticCustomError`, so pydantic
reports the message as is, without its "Value error," prefix.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic_core import PydanticCustomError

DURATION_EXAMPLES = "60, 60s, 5m"

_DURATION = re.compile(r"(?P<number>[+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?P<suffix>ms|s|m|h)?")
_SECONDS_PER_SUFFIX: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Path suffixes that users copy from Dify's docs or from the browser together
# with the site root. The client appends the console prefix itself.
_API_SUFFIXES: tuple[str, ...] = ("/console/api", "/v1")


def invalid(message: str) -> PydanticCustomError:
    """Return a validation error whose message is ``message`` verbatim."""
    # The message goes into the context, not the template, because pydantic
    # formats the template and a value containing braces would break it.
    return PydanticCustomError("otel_dify_invalid", "{message}", {"message": message})


def parse_duration(value: Any) -> float:
    """Parse a duration into float seconds.

    Accepts numbers (seconds) and strings such as ``60``, ``1.5``, ``60s``,
    ``500ms``, ``5m`` or ``1h``. A bare number means seconds. Range checks are
    left to the field constraints, so ``-5`` parses to -5.0.
    """
    if isinstance(value, bool):
        raise invalid(f"invalid duration {value!r} (examples: {DURATION_EXAMPLES})")
    if isinstance(value, (int, float)):
        return float(value)

    text = str(value).strip().lower()
    match = _DURATION.fullmatch(text)
    if match is None:
        raise invalid(f"invalid duration {str(value)!r} (examples: {DURATION_EXAMPLES})")

    seconds_per_unit = _SECONDS_PER_SUFFIX[match.group("suffix") or "s"]
    return float(match.group("number")) * seconds_per_unit


def split_list(value: Any) -> tuple[str, ...]:
    """Split a comma-separated string into stripped, non-empty items, keeping order and dropping repeats.

    A list or tuple passes through with the same cleaning.
    """
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = [str(item) for item in value]
    else:
        raise invalid(f"invalid list {value!r} (expected comma-separated values)")

    cleaned = (item.strip() for item in items)
    return tuple(dict.fromkeys(item for item in cleaned if item))


def parse_day(value: Any) -> date | None:
    """Parse a calendar date written as ``YYYY-MM-DD``. None stays None (the field default)."""
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value

    text = str(value).strip()
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise invalid(f"invalid date {text!r} (expected YYYY-MM-DD, for example 2025-01-31)") from None


def normalise_base_url(value: Any) -> str:
    """Return the site root of a Dify URL, without a trailing slash.

    Accepts the root itself or the root followed by ``/console/api`` or
    ``/v1``, with or without a trailing slash. A path prefix in front of those
    (Dify served under ``/dify``) is kept. Query strings, fragments and user
    information are rejected.
    """
    text = str(value).strip()
    example = "for example http://127.0.0.1:5001"

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"invalid URL {text!r} (expected http:// or https:// and a host, {example})")
    try:
        parts.port  # Reading the port raises ValueError when it is not a number in range.
    except ValueError:
        raise invalid(f"invalid URL {text!r}: the port must be a number from 0 to 65535 ({example})") from None
    if parts.query or parts.fragment:
        raise invalid(f"invalid URL {text!r}: remove the query string and fragment ({example})")
    if parts.username or parts.password:
        # The URL is logged at start-up, so credentials must not live in it.
        raise invalid("invalid URL: remove the user name and password from it and use OTEL_DIFY_EMAIL instead")

    path = parts.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
            break

    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
