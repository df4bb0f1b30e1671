"""Query-string validation of ``GET /console/api/apps``, with Dify's error messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from otel_dify.simulator.errors import FieldError, invalid_param
from otel_dify.simulator.profiles import VersionProfile

APP_LIST_MODES = ("completion", "chat", "advanced-chat", "workflow", "agent-chat", "channel", "all")
#: Dify matches only the first 30 characters of the ``name`` filter.
NAME_FILTER_MAX_CHARS = 30


@dataclass(frozen=True)
class AppListQuery:
    """Validated app-list parameters; ``name`` is None when absent or empty."""

    page: int = 1
    limit: int = 20
    mode: str = "all"
    name: str | None = None


def parse_app_list_query(query: Mapping[str, str], profile: VersionProfile) -> AppListQuery:
    """Validate ``page`` (1..99999), ``limit`` (1..100), ``mode`` and ``name``.

    Unknown parameters are ignored, as Dify ignores them. Raises
    ``DifyHTTPError`` 400 ``invalid_param`` naming every bad field.
    """
    errors: list[FieldError] = []
    page = _int_in_range(query, "page", 1, 1, 99999, errors)
    limit = _int_in_range(query, "limit", 20, 1, 100, errors)

    mode = query.get("mode", "all")
    if mode not in APP_LIST_MODES:
        choices = ", ".join(f"'{value}'" for value in APP_LIST_MODES[:-1]) + f" or '{APP_LIST_MODES[-1]}'"
        errors.append(
            FieldError(
                "mode",
                f"Input should be {choices}",
                "literal_error",
                mode,
                f"The value '{mode}' is not a valid choice for 'mode'.",
            )
        )

    if errors:
        raise invalid_param(profile, "AppListQuery", errors)

    # Without errors both numbers were parsed.
    assert page is not None and limit is not None
    name = query.get("name") or None
    return AppListQuery(page=page, limit=limit, mode=mode, name=name[:NAME_FILTER_MAX_CHARS] if name else None)


def _int_in_range(
    query: Mapping[str, str], name: str, default: int, low: int, high: int, errors: list[FieldError]
) -> int | None:
    raw = query.get(name)
    if raw is None:
        return default

    try:
        value = int(raw)
    except ValueError:
        errors.append(
            FieldError(
                name,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
                raw,
                f"invalid literal for int() with base 10: '{raw}'",
            )
        )
        return None

    # Dify's int_range(low, high) calls pass no argument name, so flask-restful writes "argument".
    legacy = f"Invalid argument: {value}. argument must be within the range {low} - {high}"
    if value < low:
        errors.append(FieldError(name, f"Input should be greater than or equal to {low}", "greater_than_equal", raw, legacy))
        return None
    if value > high:
        errors.append(FieldError(name, f"Input should be less than or equal to {high}", "less_than_equal", raw, legacy))
        return None
    return value

