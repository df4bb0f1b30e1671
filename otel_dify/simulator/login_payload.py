"""The body of ``POST /console/api/login``: checks and the Base64 password of Dify 1.11.2+."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from otel_dify.simulator.errors import FieldError, invalid_param, json_error
from otel_dify.simulator.profiles import VersionProfile

MODEL = "LoginPayload"


def parse_login_payload(payload: Any, profile: VersionProfile) -> tuple[str, str]:
    """Return ``(email, plain password)`` from a login body.

    Under a Base64 profile the password is decoded first, as Dify's decorator
    does before validation. Raises ``DifyHTTPError``: 401
    ``authentication_failed`` "Invalid encrypted data" for a password that is
    not Base64 of UTF-8 text, 400 ``invalid_param`` for a body that is not a
    JSON object or lacks ``email`` or ``password``.
    """
    if not isinstance(payload, dict):
        not_object = FieldError(
            "",
            f"Input should be a valid dictionary or instance of {MODEL}",
            "model_type",
            payload,
            "Invalid JSON payload received or JSON payload is empty.",
        )
        raise invalid_param(profile, MODEL, [not_object])

    password = payload.get("password")
    if profile.base64_password and isinstance(password, str):
        password = _decode_base64(password)

    errors: list[FieldError] = []
    email = payload.get("email")
    for name, value in (("email", email), ("password", password)):
        if name not in payload:
            errors.append(
                FieldError(name, "Field required", "missing", payload, "Missing required parameter in the JSON body")
            )
        elif not isinstance(value, str):
            errors.append(FieldError(name, "Input should be a valid string", "string_type", value, f"Invalid {name}."))
    if errors:
        raise invalid_param(profile, MODEL, errors)
    return str(email), str(password)


def _decode_base64(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise json_error(401, "authentication_failed", "Invalid encrypted data") from exc
