"""The ``otel-dify`` command line.

Exit codes:
    0  success (``run``: stopped by SIGTERM/SIGINT within the shutdown timeout)
    1  failure at run time: a poll or the export failed (``once``), the
       shutdown timeout passed or a second signal arrived (``run``), or the
       health probe failed (``healthcheck``)
    2  invalid configuration or command line; every problem is printed with
       its variable
    3  ``check``: Dify could not be reached
    4  ``check``: the login or the admin API key was rejected
    5  ``check``: Dify answered with an error or an unexpected body
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from otel_dify import __version__

EXIT_CONFIG = 2

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-dify",
        description="Poll a Dify deployment and push its usage as OpenTelemetry metrics over OTLP. "
        "Settings come from OTEL_DIFY_* and the standard OTEL_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"otel-dify {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("run", help="poll at the configured interval and export until stopped (the default)")

    once = commands.add_parser("once", help="poll once, export once and exit")
    once.add_argument(
        "--console", action="store_true", help="print the metrics to stdout instead of sending them over OTLP"
    )

    commands.add_parser("check", help="check connectivity, Dify version, login, timezone, apps and permissions")

    demo = commands.add_parser("demo", help="run the exporter against the built-in Dify simulator")
    demo.add_argument(
        "--otlp", action="store_true", help="send to the OTLP endpoint of the OTEL_* variables and keep running"
    )
    demo.add_argument(
        "--profile", default="1.15", help="simulated Dify version: 0.9.1, 1.9.1, 1.9.2 or 1.15 (default 1.15)"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the simulated data (default 1)")
    demo.add_argument("--interval", type=float, default=15.0, help="poll interval in seconds with --otlp (default 15)")

    healthcheck = commands.add_parser("healthcheck", help="probe the health server; for a container HEALTHCHECK")
    healthcheck.add_argument(
        "--host", default=None, help="host to probe (default: OTEL_DIFY_HEALTH_HOST, or 127.0.0.1)"
    )
    healthcheck.add_argument(
        "--port", type=int, default=None, help="port to probe (default: OTEL_DIFY_HEALTH_PORT, or 8890)"
    )
    healthcheck.add_argument("--ready", action="store_true", help="probe /readyz instead of /healthz")

    # Parsed by the simulator's own parser in main(); listed here for --help only.
    commands.add_parser(
        "simulator",
        help="serve the built-in Dify simulator; `otel-dify simulator --help` lists its options",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["simulator"]:
        # argparse cannot pass options such as --port through a subcommand
        # untouched, so the simulator's own parser reads everything after it.
        from otel_dify.simulator.__main__ import main as simulator_main

        return simulator_main(arguments[1:], prog="otel-dify simulator")

    args = _parser().parse_args(arguments)
    command = args.command or "run"

    if command == "healthcheck":
        from otel_dify.commands import healthcheck

        return healthcheck(args.host, args.port, ready=args.ready)
    if command == "demo":
        from otel_dify.commands import demo

        return demo(profile=args.profile, seed=args.seed, otlp=args.otlp, interval_s=args.interval)

    from otel_dify.commands import check, once, run

    if command == "once":
        return once(console=args.console)
    if command == "check":
        return check()
    return run()


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
