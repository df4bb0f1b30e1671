"""Run the otel-dify image against the simulator and a real collector, and check what arrives.

Everything runs on this machine's loopback: the image's own ``otel-dify
simulator`` in one container, rotel-agent (a real OpenTelemetry collector)
forwarding to an in-process OTLP/gRPC sink, and the exporter in a second
container from the image with ``--network host --read-only --cap-drop ALL``.

Checks:
- ``run`` (the image's default command) sends dify.app.tokens and
  dify.app.messages over OTLP/gRPC, with positive totals per app;
- its process runs as uid 65532;
- the image's HEALTHCHECK passes (``podman healthcheck run``), and
  ``otel-dify healthcheck --ready`` passes after the first poll;
- ``podman stop`` (SIGTERM) ends it with exit code 0, and its logs do not
  contain the Dify password;
- ``once`` sends the same metrics over OTLP/HTTP and exits 0.

Usage, from the repository root with grpcio, opentelemetry-proto and rotel
installed: ``python -m tests.container.smoke_run IMAGE``. Exit code 0 when
every check passes, 1 otherwise. Containers it started are removed on exit.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.otlp_sink import OtlpSink
from tests.rotel import RotelAgent, free_port

LOOPBACK = "127.0.0.1"
NONROOT_ID = "65532"
REQUIRED_METRICS = ("dify.app.tokens", "dify.app.messages")
PODMAN_TIMEOUT_S = 120
CONNECT_RETRY_S = 0.1
SIMULATOR_EMAIL = "ci-metrics@example.com"

# Flags shared by both containers: host network (loopback only, no podman
# network is created), read-only root, no capabilities.
HARDENED = ["--network", "host", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


class CheckFailed(Exception):
    """A smoke-run check failed; the message names the check and what was seen."""


def podman(
    *arguments: str, check: bool = True, timeout_s: float = PODMAN_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run one podman command and return its result.

    Raises CheckFailed with podman's output when ``check`` is set and the command fails.
    """
    result = subprocess.run(["podman", *arguments], capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and result.returncode != 0:
        raise CheckFailed(
            f"podman {' '.join(arguments[:2])} failed with exit code {result.returncode}: {result.stderr.strip()}"
        )
    return result


def expect(condition: bool, message: str) -> None:
    """Print ``message`` as passed, or raise CheckFailed with it."""
    if not condition:
        raise CheckFailed(message)
    print(f"smoke_run: ok   {message}", flush=True)


def wait_for_port(port: int, timeout_s: float, container: str) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections; raise CheckFailed with the container's logs if not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=CONNECT_RETRY_S):
                return
        except OSError:
            pass
        if not is_running(container):
            raise CheckFailed(
                f"{container} exited before it listened on {LOOPBACK}:{port}:\n{container_logs(container)}"
            )
        time.sleep(CONNECT_RETRY_S)
    raise CheckFailed(
        f"{container} did not listen on {LOOPBACK}:{port} within {timeout_s} s:\n{container_logs(container)}"
    )


def is_running(name: str) -> bool:
    """Return whether the container ``name`` exists and runs."""
    result = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
    return result.stdout.strip() == "true"


def container_logs(name: str) -> str:
    """Return a container's stdout and stderr, or '' when it is gone."""
    result = podman("logs", name, check=False)
    return result.stdout + result.stderr


@contextmanager
def container(name: str, image: str, *arguments: str, options: Sequence[str] = ()) -> Iterator[str]:
    """Start a detached container named ``name``; remove it on exit, whatever happened."""
    podman("rm", "--force", "--ignore", name, check=False)
    try:
        # A failed start can leave a created container behind, so removal
        # covers the start too.
        podman("run", "--detach", "--name", name, *HARDENED, *options, image, *arguments)
        yield name
    finally:
        podman("rm", "--force", "--ignore", name, check=False)


def write_env_file(path: Path, variables: dict[str, str]) -> None:
    """Write ``variables`` as a podman --env-file, readable by the owner only."""
    path.touch(mode=0o600)
    path.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))


def metric_totals(sink: OtlpSink) -> dict[str, tuple[int, float]]:
    """Return, per required metric, the number of latest points and the sum of their values."""
    totals = {}
    for name in REQUIRED_METRICS:
        points = sink.points(name)
        totals[name] = (len(points), float(sum(value for _, value in points)))
    return totals


def wait_for_metrics(sink: OtlpSink, timeout_s: float, source: str) -> None:
    """Wait until every required metric has arrived with a positive total, then print the totals."""

    def arrived() -> bool:
        return all(count > 0 and total > 0 for count, total in metric_totals(sink).values())

    sink.wait_for(arrived, timeout_s=timeout_s)
    totals = metric_totals(sink)
    for name, (count, total) in totals.items():
        expect(count > 0 and total > 0, f"{source}: {name} arrived ({count} app points, total {total:g})")


def check_run(image: str, sink: OtlpSink, rotel: RotelAgent, env_file: Path, password: str, timeout_s: float) -> None:
    """Check the default command: metrics over gRPC, uid, health, readiness, SIGTERM, logs."""
    name = f"otel-dify-ci-exporter-{os.getpid()}"
    # fmt: off
    options = [
        "--env-file", str(env_file),
        "--env", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        "--env", f"OTEL_EXPORTER_OTLP_ENDPOINT={rotel.grpc_endpoint}",
        # Without systemd podman cannot schedule the HEALTHCHECK; it still
        # runs on request (podman healthcheck run).
        "--health-interval", "disable",
    ]
    # fmt: on
    with container(name, image, options=options):
        try:
            wait_for_metrics(sink, timeout_s, "run over OTLP/gRPC")
        except CheckFailed as error:
            raise CheckFailed(
                f"{error}\nexporter logs:\n{container_logs(name)}\nrotel-agent output:\n{rotel.output()}"
            ) from None

        # podman top names the user from the image's /etc/passwd and gives
        # the host's view as a number.
        identity = podman("top", name, "user", "huser", "group", "hgroup").stdout.split()
        expected = ["nonroot", NONROOT_ID, "nonroot", NONROOT_ID]
        expect(identity[4:] == expected, f"run: runs as nonroot, uid and gid {NONROOT_ID} (podman top: {identity})")

        health = podman("healthcheck", "run", name, check=False)
        health_output = (health.stdout + health.stderr).strip()
        expect(
            health.returncode == 0, f"run: HEALTHCHECK passes (exit code {health.returncode}) {health_output}".rstrip()
        )
        ready = podman("exec", name, "/opt/otel-dify/bin/otel-dify", "healthcheck", "--ready", check=False)
        expect(ready.returncode == 0, f"run: /readyz answers ready (exit code {ready.returncode})")

        podman("stop", "--time", "30", name)
        exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = container_logs(name)
        expect(exit_code == "0", f"run: SIGTERM ends it with exit code 0 (got {exit_code})")
        expect(password not in logs, "run: the logs do not contain the Dify password")
        json_lines = [line for line in logs.splitlines() if line.startswith("{")]
        expect(
            bool(json_lines) and all(_is_json(line) for line in json_lines),
            f"run: logs are JSON lines ({len(json_lines)} lines)",
        )


def check_once(image: str, sink: OtlpSink, rotel: RotelAgent, env_file: Path, timeout_s: float) -> None:
    """Check ``once`` over OTLP/HTTP: exit code 0 and the metrics at the sink."""
    sink.clear()
    # fmt: off
    result = podman(
        "run", "--rm", *HARDENED, "--no-healthcheck",
        "--env-file", str(env_file),
        "--env", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "--env", f"OTEL_EXPORTER_OTLP_ENDPOINT={rotel.http_endpoint}",
        image, "once",
        check=False,
    )
    # fmt: on
    if result.returncode != 0:
        raise CheckFailed(f"once exited with code {result.returncode}:\n{result.stdout}{result.stderr}")
    expect(True, "once exits 0")
    wait_for_metrics(sink, timeout_s, "once over OTLP/HTTP")


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def smoke_run(image: str, timeout_s: float) -> None:
    """Run every check; raise CheckFailed at the first failure."""
    password = secrets.token_urlsafe(18)
    simulator_port = free_port()
    simulator_name = f"otel-dify-ci-simulator-{os.getpid()}"

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="otel-dify-smoke-")))
        sink = stack.enter_context(OtlpSink())
        rotel = stack.enter_context(RotelAgent(sink.endpoint))
        print(
            f"smoke_run: sink {sink.endpoint}, rotel-agent gRPC {rotel.grpc_endpoint} HTTP {rotel.http_endpoint}",
            flush=True,
        )

        # fmt: off
        stack.enter_context(
            container(
                simulator_name, image,
                "simulator",
                "--host", LOOPBACK,
                "--port", str(simulator_port),
                "--email", SIMULATOR_EMAIL,
                # One word with "=": a random password may start with "-",
                # which argparse would read as an option.
                f"--password={password}",
                options=["--no-healthcheck"],
            )
        )
        # fmt: on
        wait_for_port(simulator_port, timeout_s, simulator_name)
        print(f"smoke_run: simulator on http://{LOOPBACK}:{simulator_port}", flush=True)

        env_file = workdir / "otel-dify.env"
        write_env_file(
            env_file,
            {
                "OTEL_DIFY_BASE_URL": f"http://{LOOPBACK}:{simulator_port}",
                "OTEL_DIFY_EMAIL": SIMULATOR_EMAIL,
                "OTEL_DIFY_PASSWORD": password,
                "OTEL_DIFY_POLL_INTERVAL": "5s",
                "OTEL_DIFY_INITIAL_DELAY": "0",
                "OTEL_DIFY_HEALTH_HOST": LOOPBACK,
                "OTEL_DIFY_HEALTH_PORT": str(free_port()),
                "OTEL_DIFY_SHUTDOWN_TIMEOUT": "10s",
                "OTEL_METRIC_EXPORT_INTERVAL": "1000",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
            },
        )

        check_run(image, sink, rotel, env_file, password, timeout_s)
        check_once(image, sink, rotel, env_file, timeout_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="local image, for example localhost/otel-dify:ci")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each awaited event (default 60)"
    )
    args = parser.parse_args(argv)

    try:
        smoke_run(args.image, args.timeout)
    except (CheckFailed, subprocess.TimeoutExpired, RuntimeError) as error:
        print(f"smoke_run: FAIL {error}", file=sys.stderr)
        return 1
    print("smoke_run: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
