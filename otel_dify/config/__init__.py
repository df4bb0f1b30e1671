"""Configuration of otel-dify from OTEL_DIFY_* environment variables.

:func:`load_settings` is the entry point. It returns an immutable
:class:`Settings` or raises :class:`ConfigError` with one :class:`Problem`
per invalid variable.
"""

from otel_dify.config.docs import configuration_variables, render_configuration_markdown
from otel_dify.config.errors import ConfigError, Problem
from otel_dify.config.loader import known_variables, load_settings
from otel_dify.config.settings import ENV_PREFIX, MIN_AUTH_BACKOFF_S, Settings, env_name

__all__ = [
    "ENV_PREFIX",
    "MIN_AUTH_BACKOFF_S",
    "ConfigError",
    "Problem",
    "Settings",
    "configuration_variables",
    "env_name",
    "known_variables",
    "load_settings",
    "render_configuration_markdown",
]
