"""Load settings from a minimal valid environment with changes, and collect the problems of a failing load."""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Mapping

import pytest

from otel_dify.config import ConfigError, Settings, load_settings

PASSWORD = "correct horse battery"

#: The smallest valid environment: base URL and console e-mail and password. Read-only, because test modules share it.
BASE_ENV: Mapping[str, str] = MappingProxyType(
    {
        "OTEL_DIFY_BASE_URL": "http://127.0.0.1:5001",
        "OTEL_DIFY_EMAIL": "ops@example.com",
        "OTEL_DIFY_PASSWORD": PASSWORD,
    }
)


def load(env_file: str | os.PathLike[str] | None = None, **overrides: str | None) -> Settings:
    """Load settings from BASE_ENV changed by ``overrides`` (None removes a variable), and ``env_file`` when given.

    Raises ConfigError as :func:`otel_dify.config.load_settings` does.
    """
    environ = dict(BASE_ENV)
    for name, value in overrides.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return load_settings(environ, env_file=env_file)


def problems_of(**overrides: str | None) -> dict[str, str]:
    """Return the problems of a load that must fail, keyed by variable. Fails the test when the load succeeds."""
    with pytest.raises(ConfigError) as excinfo:
        load(**overrides)
    return {problem.variable: problem.message for problem in excinfo.value.problems}
