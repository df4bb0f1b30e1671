"""Run the Dify simulator: ``python -m otel_dify.simulator --port 0 --profile 1.15 --seed 1``.

Prints the base URL and the (fake, demo-only) login credentials, then serves
until SIGINT or SIGTERM. The clock follows real time, so the generated data
end at the moment of start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from otel_dify.simulator.clock import SimClock
from otel_dify.simulator.generator import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from otel_dify.simulator.profiles import PROFILES
from otel_dify.simulator.server import DifySimulator, run_simulator

logger = logging.getLogger(__name__)


def build_parser(prog: str = "python -m otel_dify.simulator") -> argparse.ArgumentParser:
    """Return the command-line parser; ``prog`` is the command name its usage line shows."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default: 0)")
    parser.add_argument(
        "--profile", default="1.15", choices=sorted(PROFILES), help="Dify version to imitate (default: 1.15)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated data (default: 1)")
    parser.add_argument("--days", type=int, default=10, help="days of traffic before now (default: 10)")
    parser.add_argument(
        "--email", default=DEFAULT_ADMIN_EMAIL, help=f"admin e-mail to log in with (default: {DEFAULT_ADMIN_EMAIL})"
    )
    parser.add_argument(
        "--password",
        default=DEFAULT_ADMIN_PASSWORD,
        help=f"admin password, fake, for demos only (default: {DEFAULT_ADMIN_PASSWORD})",
    )
    parser.add_argument("--admin-api-key", default=None, help="enable the admin API key (1.15 profile only)")
    parser.add_argument(
        "--secure-cookies",
        action="store_true",
        help="name cookies __Host-* and mark them Secure, as Dify does behind an https proxy",
    )
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator and wait for SIGINT or SIGTERM."""
    simulator = DifySimulator(
        profile=args.profile,
        clock=SimClock.system(),
        seed=args.seed,
        days=args.days,
        secure_cookies=args.secure_cookies,
        admin_api_key=args.admin_api_key,
        admin_email=args.email,
        admin_password=args.password,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async with run_simulator(simulator, host=args.host, port=args.port) as base_url:
        print(base_url, flush=True)
        print(f"login: {simulator.admin.email} / {simulator.admin_password} (fake demo credentials)", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None, *, prog: str = "python -m otel_dify.simulator") -> int:
    """Parse ``argv`` and serve; returns the process exit code."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
