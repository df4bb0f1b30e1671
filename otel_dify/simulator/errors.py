"""Error responses in the shapes Dify sends them.

Most console errors are JSON ``{"code", "message", "status"}``. A 401 also
carries ``WWW-Authenticate: Bearer realm="api"``. Routing failures (an
unknown path, a non-UUID app id, a wrong method) are Werkzeug's HTML pages.
Parameter errors are Pydantic messages from Dify 1.11.0 on and flask-restful
reqparse messages before.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from otel_dify.simulator.profiles import VersionProfile

#: Pydantic release whose documentation links Dify 1.15.0 prints.
PYDANTIC_DOCS_VERSION = "2.12"

HTML_NOT_FOUND = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again.</p>\n"
)
HTML_METHOD_NOT_ALLOWED = (
    "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n"
    "<p>The method is not allowed for the requested URL.</p>\n"
)


@dataclass
class DifyHTTPError(Exception):
    """An error response: ``body`` is a JSON object, or HTML text when ``html`` is set."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    html: bool = False

    def __str__(self) -> str:
        return f"{self.status}: {self.body}"


def json_error(status: int, code: str, message: str) -> DifyHTTPError:
    """Return Dify's standard error envelope; a 401 gets the ``WWW-Authenticate`` header."""
    headers = {"WWW-Authenticate": 'Bearer realm="api"'} if status == 401 else {}
    return DifyHTTPError(status, {"code": code, "message": message, "status": status}, headers)


def unauthorized(message: str) -> DifyHTTPError:
    """Return a 401 ``unauthorized`` error with Dify's ``message`` text."""
    return json_error(401, "unauthorized", message)


def html_not_found() -> DifyHTTPError:
    """Return Werkzeug's HTML 404 page, which Dify sends for paths no route matches."""
    return DifyHTTPError(404, HTML_NOT_FOUND, html=True)


def html_method_not_allowed(allowed: Iterable[str]) -> DifyHTTPError:
    """Return Werkzeug's HTML 405 page with the ``Allow`` header.

    NOTE: inferred from Werkzeug's routing (a real Dify 1.15.0 was not asked
    with a wrong method); the 404 page of the same mechanism was observed.
    """
    return DifyHTTPError(405, HTML_METHOD_NOT_ALLOWED, {"Allow": ", ".join(sorted(allowed))}, html=True)


@dataclass(frozen=True)
class FieldError:
    """One invalid request field.

    ``message`` and ``kind`` are Pydantic's wording and error type
    (``missing``, ``less_than_equal``, ...), ``input_value`` the offending
    value as Pydantic would ``repr`` it, and ``legacy_message`` the
    flask-restful reqparse wording Dify used before 1.11.0.
    """

    field: str
    message: str
    kind: str
    input_value: Any
    legacy_message: str


def invalid_param(profile: VersionProfile, model: str, errors: list[FieldError]) -> DifyHTTPError:
    """Return the 400 ``invalid_param`` error for request validation failures.

    From Dify 1.11.0 the message is Pydantic's ``ValidationError`` text for
    ``model``. Before, reqparse stopped at the first bad argument and Dify
    sent ``{"code", "message", "params"}`` without a ``status``.
    """
    if profile.pydantic_errors:
        return DifyHTTPError(
            400, {"code": "invalid_param", "message": pydantic_message(model, errors), "status": 400}
        )

    # NOTE: the pre-1.11.0 shape is read from flask-restful and Dify sources,
    # not compared with a live server of those versions.
    first = errors[0]
    return DifyHTTPError(400, {"code": "invalid_param", "message": first.legacy_message, "params": first.field})


def pydantic_message(model: str, errors: list[FieldError]) -> str:
    """Format ``errors`` the way ``str(pydantic.ValidationError)`` does."""
    noun = "error" if len(errors) == 1 else "errors"
    lines = [f"{len(errors)} validation {noun} for {model}"]
    for error in errors:
        value = error.input_value
        # A model-level error (such as a body that is no JSON object) has no field line.
        if error.field:
            lines.append(error.field)
        lines.append(
            f"  {error.message} [type={error.kind}, input_value={value!r}, input_type={type(value).__name__}]"
        )
        lines.append(f"    For further information visit https://errors.pydantic.dev/{PYDANTIC_DOCS_VERSION}/v/{error.kind}")
    return "\n".join(lines)


def route_hint(path: str, rules: Iterable[str]) -> str:
    """Return the "did you mean" suffix flask-restx appends to a 404 message.

    flask-restx strips the ``<converter:name>`` parts from every URL rule and
    lists the full rules of the three closest matches that
    ``difflib.get_close_matches`` finds for the request path. Returns "" when
    nothing is close.

    NOTE: ``rules`` holds only the simulator's routes. The hints match the
    captured statistics 404s, but near routes the simulator lacks they can
    differ from Dify's.
    """
    by_stripped = {re.sub(r"(<.*>)", "", rule): rule for rule in rules}
    matches = difflib.get_close_matches(path, list(by_stripped))
    if not matches:
        return ""
    suggestions = " or ".join(by_stripped[match] for match in matches)
    return f" You have requested this URI [{path}] but did you mean {suggestions} ?"
