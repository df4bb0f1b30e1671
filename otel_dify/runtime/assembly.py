"""Build the exporter's parts from the settings: transport, clients, collectors, poller."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from otel_dify import catalog
from otel_dify.collect.app_filter import AppFilter
from otel_dify.collect.workspace import CollectionOptions, WorkspaceCollector
from otel_dify.config import Settings
from otel_dify.dify.auth import AdminKeyCredentials, ConsoleCredentials
from otel_dify.dify.client import DifyClient
from otel_dify.dify.transport import Transport
from otel_dify.records.levels import active_levels
from otel_dify.runtime.poller import Collector, DurationRecorder, Poller
from otel_dify.runtime.self_stats import SelfStats
from otel_dify.snapshot import SnapshotHolder

if TYPE_CHECKING:
    # The record modules are imported where they are used, so that a process
    # with every record level off and no app API key does not load them.
    from otel_dify.dify.records_client import ServiceApiClient
    from otel_dify.records.runtime import RecordsRuntime

#: Collector key of the console login, whose workspace is the account's current one.
CONSOLE_KEY = "console"


def ssl_setting(settings: Settings) -> ssl.SSLContext | bool:
    """Return aiohttp's ``ssl`` argument: verification on by default, with an optional CA file."""
    if not settings.tls_verify:
        return False
    if settings.ca_file is not None:
        return ssl.create_default_context(cafile=str(settings.ca_file))
    return True


def build_transport(settings: Settings, stats: SelfStats) -> Transport:
    return Transport(
        timeout_s=settings.request_timeout,
        max_concurrency=settings.max_concurrency,
        ssl=ssl_setting(settings),
        observer=stats.record_request,
    )


def build_clients(
    settings: Settings, transport: Transport, *, monotonic: Callable[[], float] = time.monotonic
) -> list[tuple[str, DifyClient]]:
    """Return one client per polled workspace, keyed by a stable collector key.

    A console login sees the account's current workspace only; an admin key
    gets one client per configured workspace id.
    """
    if settings.admin_api_key is not None:
        return [
            (
                workspace_id,
                DifyClient(
                    settings.base_url,
                    AdminKeyCredentials(api_key=settings.admin_api_key, workspace_id=workspace_id),
                    transport,
                    max_pages=settings.max_pages,
                ),
            )
            for workspace_id in settings.workspace_ids
        ]

    if settings.email is None and settings.password is None:
        # Service-API-only mode: no console client, see build_service_clients.
        return []

    assert settings.email is not None and settings.password is not None
    credentials = ConsoleCredentials(
        email=settings.email, password=settings.password, password_encoding=settings.password_encoding
    )
    client = DifyClient(
        settings.base_url,
        credentials,
        transport,
        auth_backoff_s=settings.auth_backoff,
        max_pages=settings.max_pages,
        clock=monotonic,
    )
    return [(CONSOLE_KEY, client)]


def build_service_clients(settings: Settings, transport: Transport) -> list[ServiceApiClient]:
    """Return one service API client per app key; empty unless the service-API-only mode is configured."""
    if not settings.service_api_keys:
        return []

    from otel_dify.dify.records_client import ServiceApiClient

    return [ServiceApiClient(settings.base_url, key.get_secret_value(), transport) for key in settings.service_api_keys]


def enabled_metric_names(settings: Settings) -> frozenset[str]:
    specs = catalog.enabled_metrics(settings.metrics_enabled, settings.metrics_disabled)
    return frozenset(spec.name for spec in specs)


def collection_options(settings: Settings) -> CollectionOptions:
    return CollectionOptions(
        enabled_metrics=enabled_metric_names(settings),
        app_filter=AppFilter(
            include_ids=frozenset(settings.app_include_ids),
            exclude_ids=frozenset(settings.app_exclude_ids),
            include_names=tuple(settings.app_include_names),
            exclude_names=tuple(settings.app_exclude_names),
            modes=frozenset(settings.app_modes),
        ),
        history_refresh_s=settings.history_refresh_interval,
        count_from=settings.count_from,
        max_concurrency=settings.max_concurrency,
    )


@dataclass
class Assembly:
    """The parts of one exporter process that talk to Dify."""

    transport: Transport
    clients: list[tuple[str, DifyClient]]
    poller: Poller
    stats: SelfStats
    holder: SnapshotHolder
    records: RecordsRuntime | None = None

    async def close(self) -> None:
        for _key, client in self.clients:
            await client.close()
        await self.transport.close()
        if self.records is not None:
            self.records.close()


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _build_records(
    settings: Settings,
    clients: list[tuple[str, DifyClient]],
    service_clients: list[ServiceApiClient],
    enabled_metrics: frozenset[str],
    *,
    on_error: Callable[[str, str], None],
    durations: DurationRecorder | None,
    wall_clock: Callable[[], datetime],
    monotonic: Callable[[], float],
) -> RecordsRuntime | None:
    """Return the record runtime, or None when no configured record level feeds an enabled metric.

    The None case is decided here, before the record modules are imported,
    so that turning every level off also saves their memory (about 0.9 MB).
    """
    if not active_levels(tuple(settings.records_enabled), enabled_metrics):
        return None

    from otel_dify.records.assembly import build_records_runtime
    from otel_dify.records.recorder import HistogramRecorder

    return build_records_runtime(
        settings,
        clients,
        service_clients,
        enabled_metrics,
        on_error=on_error,
        histograms=durations if isinstance(durations, HistogramRecorder) else None,
        wall_clock=wall_clock,
        monotonic=monotonic,
    )


def assemble(
    settings: Settings,
    holder: SnapshotHolder,
    durations: DurationRecorder | None = None,
    *,
    wall_clock: Callable[[], datetime] = _utc_now,
    monotonic: Callable[[], float] = time.monotonic,
) -> Assembly:
    """Wire transport, clients, collectors and the poller for ``settings``.

    ``wall_clock`` (aware UTC) decides the local day and the history cut;
    ``monotonic`` times the login back-off and the refresh of the timezone
    and the history. Tests pass a simulator's clocks.
    """
    stats = SelfStats()
    transport = build_transport(settings, stats)
    clients = build_clients(settings, transport, monotonic=monotonic)
    service_clients = build_service_clients(settings, transport)
    options = collection_options(settings)

    collectors: list[tuple[str, Collector]] = [
        (
            key,
            WorkspaceCollector(
                client,
                options,
                workspace_id=None if key == CONSOLE_KEY else key,
                on_error=stats.record_error,
                monotonic=monotonic,
            ),
        )
        for key, client in clients
    ]
    if service_clients:
        from otel_dify.records.service_api import SERVICE_API_KEY, ServiceApiCollector

        collectors.append(
            (
                SERVICE_API_KEY,
                ServiceApiCollector(
                    service_clients,
                    on_error=stats.record_error,
                    monotonic=monotonic,
                    max_concurrency=settings.max_concurrency,
                ),
            )
        )

    records = _build_records(
        settings,
        clients,
        service_clients,
        options.enabled_metrics,
        on_error=stats.record_error,
        durations=durations,
        wall_clock=wall_clock,
        monotonic=monotonic,
    )
    poller = Poller(
        collectors, holder, stats, options.enabled_metrics, durations=durations, wall_clock=wall_clock, records=records
    )
    return Assembly(transport=transport, clients=clients, poller=poller, stats=stats, holder=holder, records=records)
