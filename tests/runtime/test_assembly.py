"""Settings to collection options, as the assembly wires them."""

from __future__ import annotations

from otel_dify.concurrency import pool_size
from otel_dify.records.service_api import ServiceApiCollector
from otel_dify.runtime.assembly import assemble, collection_options
from otel_dify.snapshot import SnapshotHolder
from tests.config_helpers import load


def test_options_pool_follows_concurrency() -> None:
    settings = load(OTEL_DIFY_MAX_CONCURRENCY="12")

    assert collection_options(settings).max_concurrency == 12


def test_options_pool_default_concurrency() -> None:
    settings = load()

    assert collection_options(settings).max_concurrency == settings.max_concurrency


async def test_service_api_pool_follows_concurrency() -> None:
    settings = load(
        OTEL_DIFY_EMAIL=None,
        OTEL_DIFY_PASSWORD=None,
        OTEL_DIFY_SERVICE_API_KEYS="app-" + "a" * 24,
        OTEL_DIFY_MAX_CONCURRENCY="6",
    )
    assembly = assemble(settings, SnapshotHolder())
    try:
        collectors = [collector for _key, collector in assembly.poller._collectors]
        service = [collector for collector in collectors if isinstance(collector, ServiceApiCollector)]

        assert len(service) == 1
        assert service[0].workers == pool_size(6)
    finally:
        await assembly.close()
