"""Settings to collection options, as the assembly wires them."""

from __future__ import annotations

from otel_dify.config import load_settings
from otel_dify.runtime.assembly import collection_options

BASE_ENVIRONMENT = {
    "OTEL_DIFY_BASE_URL": "http://127.0.0.1:9",
    "OTEL_DIFY_EMAIL": "metrics@example.com",
    "OTEL_DIFY_PASSWORD": "not-a-real-password",
}


def test_options_pool_follows_concurrency() -> None:
    settings = load_settings({**BASE_ENVIRONMENT, "OTEL_DIFY_MAX_CONCURRENCY": "12"}, env_file=None)

    assert collection_options(settings).max_concurrency == 12


def test_options_pool_default_concurrency() -> None:
    settings = load_settings(BASE_ENVIRONMENT, env_file=None)

    assert collection_options(settings).max_concurrency == settings.max_concurrency
