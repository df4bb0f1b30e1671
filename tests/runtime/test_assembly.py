"""Settings to collection options, as the assembly wires them."""

from __future__ import annotations

from otel_dify.concurrency import pool_size
from otel_dify.config import load_settings
from otel_dify.records.service_api import ServiceApiCollector
from otel_dify.runtime.assembly import assemble, collection_options
from otel_dify.snapshot import SnapshotHolder

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


async def test_service_api_pool_follows_concurrency() -> None:
    environment = {
        "OTEL_DIFY_BASE_URL": "http://127.0.0.1:9",
        "OTEL_DIFY_SERVICE_API_KEYS": "app-" + "a" * 24,
        "OTEL_DIFY_MAX_CONCURRENCY": "6",
    }
    assembly = assemble(load_settings(environment, env_file=None), SnapshotHolder())
    try:
        collectors = [collector for _key, collector in assembly.poller._collectors]
        service = [collector for collector in collectors if isinstance(collector, ServiceApiCollector)]

        assert len(service) == 1
        assert service[0].workers == pool_size(6)
    finally:
        await assembly.close()
