"""Configuration of otel-dify from OTEL_DIFY_* environment variables."""

from otel_dify.config.errors import ConfigError, Problem

__all__ = ["ConfigError", "Problem"]
