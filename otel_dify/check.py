"""``otel-dify check``: connectivity, version, login, timezone, apps and permissions, in plain text."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from otel_dify.collect.windows import midnight
from otel_dify.config import Settings
from otel_dify.dify.errors import AuthenticationError, DifyError, HTTPStatusError, TransportError
from otel_dify.dify.records_client import ServiceApiClient
from otel_dify.runtime.assembly import build_clients, build_service_clients, build_transport
from otel_dify.runtime.self_stats import SelfStats

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_UNREACHABLE = 3
EXIT_AUTHENTICATION = 4
EXIT_UNEXPECTED = 5


def _exit_code_for(error: DifyError) -> int:
    if isinstance(error, TransportError):
        return EXIT_UNREACHABLE
    if isinstance(error, AuthenticationError):
        return EXIT_AUTHENTICATION
    return EXIT_UNEXPECTED


async def run_check(settings: Settings, out: TextIO) -> int:
    """Check every configured workspace and print one line per step; return the worst exit code.

    Exit codes: 0 every check passed, 3 Dify could not be reached, 4 login or
    key rejected, 5 Dify answered with an error or an unexpected body (for
    example, the account may not read statistics).
    """
    stats = SelfStats()
    transport = build_transport(settings, stats)
    worst = EXIT_OK
    try:
        for key, client in build_clients(settings, transport):
            out.write(f"workspace {key}\n")
            code = await _check_one(client, out)
            worst = max(worst, code)
            await client.close()
        for service_client in build_service_clients(settings, transport):
            out.write(f"app key {service_client.app_id}\n")
            worst = max(worst, await _check_service_key(service_client, out))
    finally:
        await transport.close()

    out.write("result: ok\n" if worst == EXIT_OK else f"result: failed (exit code {worst})\n")
    return worst


async def _check_service_key(client: ServiceApiClient, out: TextIO) -> int:
    """Read ``/v1/info`` with one app key: the key works and the app's name and mode are known."""
    try:
        info = await client.info()
    except DifyError as error:
        out.write(f"  failed: {error.error_type}: {error.message}\n")
        return _exit_code_for(error)
    out.write(f"  app: {info.get('name', '?')} ({info.get('mode') or 'mode not reported'})\n")
    version = client.server_version
    out.write(f"  Dify version: {'.'.join(map(str, version)) if version else 'not reported by the server'}\n")
    return EXIT_OK


async def _check_one(client, out: TextIO) -> int:
    def line(label: str, value: object) -> None:
        out.write(f"  {label}: {value}\n")

    try:
        await client.login()
        line("login", f"ok ({client.generation.value if client.generation else 'unknown'})")
        line("Dify version", client.server_version or "not reported by the server")

        profile = await client.get_profile()
        line("account timezone", profile.timezone)

        workspace = await client.get_workspace()
        line("workspace", f"{workspace.name} ({workspace.id})")

        apps = await client.list_apps()
        modes = Counter(app.mode for app in apps)
        summary = ", ".join(f"{count} {mode}" for mode, count in sorted(modes.items())) or "none"
        line("apps", f"{len(apps)} ({summary})")

        if apps:
            # One cheap statistics request shows whether this account may read statistics.
            today = datetime.now(ZoneInfo(profile.timezone)).date()
            await client.get_app_statistic(apps[0].id, "daily-messages", start=midnight(today), end=None)
            line("statistics permission", "ok")
    except HTTPStatusError as error:
        line("failed", f"{error.endpoint}: HTTP {error.status}: {error.message}")
        return _exit_code_for(error)
    except DifyError as error:
        line("failed", f"{error.error_type}: {error.message}")
        return _exit_code_for(error)
    return EXIT_OK
