"""Loading of :class:`Settings` from the environment, with every problem reported at once."""

from __future__ import annotations

import difflib
import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Mapping

from dotenv import dotenv_values
from pydantic import TypeAdapter, ValidationError

from otel_dify.config.errors import ConfigError, Problem
from otel_dify.config.settings import (
    ENV_PREFIX,
    FILE_FIELDS,
    SECRET_FIELDS,
    Settings,
    consistency_problems,
    env_name,
)

DEFAULT_ENV_FILE = ".env"
FILE_SUFFIX = "_FILE"

# pydantic error types whose message is ours and already shows the value.
_CUSTOM_ERROR_TYPES = frozenset({"otel_dify_invalid"})

# pydantic's bound errors, as (words, context key).
_LIMIT_WORDS: dict[str, tuple[str, str]] = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def file_variable(field_name: str) -> str:
    """Return the variable that names a file holding the value of ``field_name``."""
    return env_name(field_name) + FILE_SUFFIX


def known_variables() -> list[str]:
    """Return every OTEL_DIFY_* variable that otel-dify reads, in documentation order."""
    names: list[str] = []
    for field_name in Settings.model_fields:
        names.append(env_name(field_name))
        if field_name in FILE_FIELDS:
            names.append(file_variable(field_name))
    return names


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
) -> Settings:
    """Build the settings from ``environ`` (default: ``os.environ``) and the optional ``env_file``.

    Variables in ``environ`` win over the same names in ``env_file``. A missing
    ``env_file`` is skipped, and ``None`` reads no file. Names are matched
    without regard to case, and an empty value counts as unset. Other
    variables in either source are ignored, except unknown ``OTEL_DIFY_*``
    names, which are errors because they are usually typos.

    Raises ConfigError listing every problem, each with its variable. No
    message contains the value of a password, key or secret file.
    """
    problems: list[Problem] = []
    variables = _read_env_file(env_file, problems)
    variables.update(os.environ if environ is None else environ)

    ours = _prefixed_variables(variables)
    problems += _unknown_variable_problems(ours)

    raw, failed = _raw_values(ours, problems)
    validated = _validate_fields(raw, failed, problems)
    if "base_url" not in raw and "base_url" not in failed:
        problems.append(Problem(env_name("base_url"), "missing: set the URL of Dify, for example http://127.0.0.1:5001"))
        failed.add("base_url")

    problems += consistency_problems(validated, frozenset(failed))
    if problems:
        raise ConfigError(problems)

    # Every field is validated above, so building without validating again is
    # safe, and it keeps pydantic-settings from reading os.environ a second time.
    return Settings.model_construct(**validated)


def _read_env_file(env_file: str | os.PathLike[str] | None, problems: list[Problem]) -> dict[str, str]:
    if env_file is None:
        return {}

    path = Path(env_file)
    if not path.exists():
        return {}

    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(str(path), f"cannot read the env file: {_reason(error)}"))
        return {}

    # A line without "=" yields None; treat it like an unset variable.
    return {name: value for name, value in values.items() if value is not None}


def _prefixed_variables(variables: Mapping[str, str]) -> dict[str, str]:
    # Upper-case the names so lookups ignore case, as pydantic-settings does.
    return {name.upper(): value for name, value in variables.items() if name.upper().startswith(ENV_PREFIX)}


def _unknown_variable_problems(ours: Mapping[str, str]) -> list[Problem]:
    known = known_variables()
    known_set = set(known)
    problems = []
    for name in sorted(ours):
        if name in known_set:
            continue
        # Compare without the shared prefix, which would make every name look similar.
        suffixes = [variable.removeprefix(ENV_PREFIX) for variable in known]
        close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
        hint = f"did you mean {ENV_PREFIX}{close[0]}?" if close else "see docs/configuration.md for the valid names"
        problems.append(Problem(name, f"unknown variable; {hint}"))
    return problems


def _raw_values(ours: Mapping[str, str], problems: list[Problem]) -> tuple[dict[str, str], set[str]]:
    """Return the non-empty raw value of each set field, reading *_FILE variables, and the fields that failed."""
    raw: dict[str, str] = {}
    failed: set[str] = set()

    for field_name in Settings.model_fields:
        variable = env_name(field_name)
        value = _clean(field_name, ours.get(variable))

        if field_name in FILE_FIELDS:
            path_variable = file_variable(field_name)
            path = ours.get(path_variable, "").strip() or None
            if path is not None and value is not None:
                problems.append(Problem(path_variable, f"set either {variable} or {path_variable}, not both"))
                failed.add(field_name)
                continue
            if path is not None:
                value = _read_secret_file(path_variable, path, problems)
                if value is None:
                    failed.add(field_name)
                    continue

        if value is not None:
            raw[field_name] = value

    return raw, failed


def _clean(field_name: str, value: str | None) -> str | None:
    # Spaces around a password or key may be part of it, so only other values are stripped.
    if value is not None and field_name not in SECRET_FIELDS:
        value = value.strip()
    return value or None


def _read_secret_file(variable: str, path: str, problems: list[Problem]) -> str | None:
    """Return the file content without one trailing newline, or None after adding a problem."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(Problem(variable, f"cannot read file {path!r}: {_reason(error)}"))
        return None

    if content.endswith("\r\n"):
        content = content[:-2]
    elif content.endswith("\n"):
        content = content[:-1]

    if not content:
        problems.append(Problem(variable, f"file {path!r} is empty"))
        return None
    return content


def _reason(error: Exception) -> str:
    # strerror ("Permission denied") names the cause without echoing any content.
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, UnicodeDecodeError):
        return "not valid UTF-8"
    return type(error).__name__


@cache
def _field_adapter(field_name: str) -> TypeAdapter[Any]:
    field = Settings.model_fields[field_name]
    if not field.metadata:
        return TypeAdapter(field.annotation)
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)])


def _validate_fields(raw: Mapping[str, str], failed: set[str], problems: list[Problem]) -> dict[str, Any]:
    """Validate each field on its own, so one bad value does not hide the checks of the others."""
    validated: dict[str, Any] = {}
    for field_name, value in raw.items():
        try:
            validated[field_name] = _field_adapter(field_name).validate_python(value)
        except ValidationError as error:
            failed.add(field_name)
            problems += [_problem_from_error(field_name, detail) for detail in error.errors()]
    return validated


def _message(field_name: str, detail: Mapping[str, Any]) -> str:
    """Return pydantic's error in the wording of the other configuration messages.

    The value is shown, except for secrets, because pydantic's own messages leave it out.
    """
    error_type = detail["type"]
    context = detail.get("ctx", {})
    value_text = "" if field_name in SECRET_FIELDS else f" {detail['input']!r}"

    if error_type in _LIMIT_WORDS:
        words, key = _LIMIT_WORDS[error_type]
        got = f", got{value_text}" if value_text else ""
        return f"must be {words} {context[key]:g}{got}"
    if error_type == "bool_parsing":
        return f"invalid boolean{value_text} (expected true or false)"
    if error_type in ("int_parsing", "int_from_float"):
        return f"invalid integer{value_text}"
    if error_type == "literal_error":
        return f"invalid value{value_text} (expected {context['expected']})"
    if error_type == "string_too_short":
        return "must not be empty"
    got = f" (got{value_text})" if value_text else ""
    return f"{detail['msg']}{got}"


def _problem_from_error(field_name: str, detail: Mapping[str, Any]) -> Problem:
    if detail["type"] in _CUSTOM_ERROR_TYPES:
        message = str(detail["msg"])
    else:
        message = _message(field_name, detail)

    if detail["loc"]:
        message = f"item {detail['loc'][0]}: {message}"
    return Problem(env_name(field_name), message)
