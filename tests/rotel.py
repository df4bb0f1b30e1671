"""Run rotel-agent, a real OpenTelemetry collector, as a subprocess for end-to-end tests.

rotel-agent ships as a binary inside the ``rotel`` Python package (a test
dependency). It receives OTLP over gRPC and HTTP on loopback ports and
forwards everything over OTLP/gRPC to one endpoint, usually an
:class:`tests.otlp_sink.OtlpSink`, because it has no exporter that writes to a
file.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_BINARY_NAME = "rotel-agent"
_LOOPBACK = "127.0.0.1"
_CONNECT_RETRY_S = 0.02


class RotelNotFoundError(RuntimeError):
    """The rotel package, or its rotel-agent binary, is not installed."""


def find_rotel_agent() -> Path:
    """Return the path of the rotel-agent binary inside the installed rotel package.

    Raises RotelNotFoundError, naming the install command, when it is missing.
    """
    # The package is found through its distribution metadata first, because
    # this module is named rotel too: with the tests folder on sys.path,
    # importlib.util.find_spec("rotel") returns this file.
    try:
        distribution = importlib.metadata.distribution("rotel")
    except importlib.metadata.PackageNotFoundError:
        raise RotelNotFoundError("the rotel package is not installed; run: pip install -e '.[test]'") from None

    candidates = [
        Path(str(distribution.locate_file(file)))
        for file in distribution.files or ()
        if file.name == _BINARY_NAME and file.parent.name == "rotel"
    ]
    spec = importlib.util.find_spec("rotel")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(location) / _BINARY_NAME for location in spec.submodule_search_locations]

    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RotelNotFoundError(
        f"{_BINARY_NAME} is missing from the rotel package {distribution.version}; "
        "the package may have no binary for this platform"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_LOOPBACK, 0))
        return probe.getsockname()[1]


class RotelAgent:
    """One rotel-agent process that forwards OTLP to ``exporter_endpoint`` over gRPC.

    Receivers listen on free 127.0.0.1 ports chosen at :meth:`start`.
    Environment variables starting with ``ROTEL_`` are removed from the
    child's environment, because rotel reads its flags from them too.
    """

    def __init__(self, exporter_endpoint: str) -> None:
        self._exporter_endpoint = exporter_endpoint
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._grpc_port: int | None = None
        self._http_port: int | None = None

    def __enter__(self) -> "RotelAgent":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def grpc_endpoint(self) -> str:
        """OTLP/gRPC receiver URL, for example ``http://127.0.0.1:40123``."""
        return f"http://{_LOOPBACK}:{self._require(self._grpc_port)}"

    @property
    def http_endpoint(self) -> str:
        """OTLP/HTTP receiver base URL, without the signal path."""
        return f"http://{_LOOPBACK}:{self._require(self._http_port)}"

    @property
    def http_metrics_url(self) -> str:
        """OTLP/HTTP metrics URL, the value for ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``."""
        return self.http_endpoint + "/v1/metrics"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the agent and wait until both receivers accept connections.

        Raises RuntimeError, with the agent's output, when it exits or its
        ports stay closed for ``timeout_s`` seconds.
        """
        if self._process is not None:
            raise RuntimeError("rotel-agent is already started")

        binary = find_rotel_agent()
        self._workdir = Path(tempfile.mkdtemp(prefix="otel-dify-rotel-"))
        self._grpc_port = free_port()
        self._http_port = free_port()
        command = [
            str(binary),
            "start",
            "--otlp-grpc-endpoint", f"{_LOOPBACK}:{self._grpc_port}",
            "--otlp-http-endpoint", f"{_LOOPBACK}:{self._http_port}",
            "--exporter", "otlp",
            "--otlp-exporter-endpoint", self._exporter_endpoint,
            "--otlp-exporter-protocol", "grpc",
            # Per-process files, so that agents of parallel tests never share them.
            "--pid-file", str(self._workdir / "rotel-agent.pid"),
            "--log-file", str(self._workdir / "rotel-agent.log"),
        ]
        environment = {name: value for name, value in os.environ.items() if not name.startswith("ROTEL_")}
        with open(self._output_path, "wb") as output:
            self._process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment
            )

        try:
            self._wait_until_listening(timeout_s)
        except RuntimeError:
            self.stop()
            raise

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the agent with SIGTERM, or SIGKILL after ``timeout_s``; a second call does nothing."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def output(self) -> str:
        """What the agent printed so far, for failure messages."""
        if self._workdir is None:
            return ""
        try:
            return self._output_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def _output_path(self) -> Path:
        assert self._workdir is not None
        return self._workdir / "output.txt"

    def _wait_until_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for port in (self._grpc_port, self._http_port):
            assert port is not None
            while not _accepts_connections(port):
                assert self._process is not None
                if self._process.poll() is not None:
                    raise RuntimeError(
                        f"rotel-agent exited with code {self._process.returncode}: {self.output()}"
                    )
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"rotel-agent did not listen on port {port} within {timeout_s} s: {self.output()}"
                    )
                time.sleep(_CONNECT_RETRY_S)

    @staticmethod
    def _require(port: int | None) -> int:
        if port is None:
            raise RuntimeError("rotel-agent is not started")
        return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((_LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False
