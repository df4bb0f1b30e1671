"""Implementations of the ``otel-dify`` commands, behind the argument parsing of :mod:`otel_dify.cli`."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Mapping

from otel_dify.logs import configure_logging, register_secret

if TYPE_CHECKING:
    from otel_dify.config import Settings

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2
DEFAULT_HEALTH_HOST = "127.0.0.1"
DEFAULT_HEALTH_PORT = 8890


def _load(environ: Mapping[str, str] | None = None) -> Settings | None:
    """Load the settings, or print every problem to stderr and return None."""
    # Imported here because the configuration loads pydantic and pydantic-settings
    # (about 11 MB), which the health probe, run every few seconds, does not need.
    from otel_dify.config import ConfigError, load_settings

    try:
        return load_settings(environ)
    except ConfigError as error:
        sys.stderr.write(f"otel-dify: invalid configuration:\n{error}\n")
        return None


def _start_logging(settings: Settings, *, stream=None) -> None:
    for secret in (settings.password, settings.admin_api_key):
        if secret is not None:
            register_secret(secret.get_secret_value())
    configure_logging(settings.log_level, stream)
    logger.info("configuration loaded", extra={"configuration": settings.masked()})


def run() -> int:
    settings = _load()
    if settings is None:
        return EXIT_CONFIG
    _start_logging(settings)

    from otel_dify.runtime.service import run_service

    return _run_service_command(run_service(settings))


def once(*, console: bool) -> int:
    settings = _load()
    if settings is None:
        return EXIT_CONFIG
    # With --console, stdout carries the metrics, so the logs go to stderr.
    _start_logging(settings, stream=sys.stderr if console else None)

    from otel_dify.runtime.service import run_once

    return _run_service_command(run_once(settings, console=console))


def check() -> int:
    settings = _load()
    if settings is None:
        return EXIT_CONFIG
    # stdout carries the report, so the logs go to stderr.
    _start_logging(settings, stream=sys.stderr)

    from otel_dify.check import run_check

    return _run_async(run_check(settings, sys.stdout))


def healthcheck(host: str | None, port: int | None, *, ready: bool) -> int:
    from otel_dify.health import HEALTHZ_PATH, READYZ_PATH, probe

    host = host or os.environ.get("OTEL_DIFY_HEALTH_HOST") or DEFAULT_HEALTH_HOST
    if host in ("0.0.0.0", "::"):
        # A server bound to every address also accepts connections on loopback.
        host = "127.0.0.1"
    if port is None:
        try:
            port = int(os.environ.get("OTEL_DIFY_HEALTH_PORT") or DEFAULT_HEALTH_PORT)
        except ValueError:
            sys.stderr.write("otel-dify: invalid configuration:\nOTEL_DIFY_HEALTH_PORT: not an integer\n")
            return EXIT_CONFIG
    if port == 0:
        sys.stderr.write(
            "otel-dify: the health port is 0, so the server picked a free port at start;"
            " pass --port with the port of the 'health server started' log line\n"
        )
        return EXIT_CONFIG
    return probe(host, port, path=READYZ_PATH if ready else HEALTHZ_PATH)


def demo(*, profile: str, seed: int, otlp: bool, interval_s: float) -> int:
    # The metrics go to stdout unless they are sent over OTLP, so the logs go to stderr.
    configure_logging(os.environ.get("OTEL_DIFY_LOG_LEVEL", "WARNING"), sys.stderr if not otlp else None)
    from otel_dify.demo import run_demo

    return _run_async(run_demo(profile=profile, seed=seed, otlp=otlp, interval_s=interval_s))


def _run_service_command(coroutine) -> int:
    """Run ``run`` or ``once``; a setting that proves unusable at start (a state directory in use) exits 2."""
    from otel_dify.config import ConfigError

    try:
        return _run_async(coroutine)
    except ConfigError as error:
        logger.error("invalid configuration", extra={"problems": [str(problem) for problem in error.problems]})
        sys.stderr.write(f"otel-dify: invalid configuration:\n{error}\n")
        return EXIT_CONFIG


def _run_async(coroutine) -> int:
    # asyncio loads ssl (about 9 MB), which the health probe does not need.
    import asyncio

    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        return 1
