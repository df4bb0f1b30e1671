"""A rotel-agent collector that can stop and start again on the same ports, to imitate a collector outage."""

from __future__ import annotations

from unittest import mock

from tests import rotel
from tests.rotel import RotelAgent


class RestartableRotel(RotelAgent):
    """A RotelAgent whose receivers keep their ports across :meth:`restart`.

    The first :meth:`start` picks free ports as RotelAgent does. Later starts
    bind the same ports, so an exporter configured with the first endpoints
    reaches the new process.
    """

    def __init__(self, exporter_endpoint: str) -> None:
        super().__init__(exporter_endpoint)
        self._pinned_ports: tuple[int, int] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        if self._pinned_ports is None:
            super().start(timeout_s)
            self._pinned_ports = (self._grpc_port, self._http_port)  # type: ignore[assignment]
            return

        # NOTE: RotelAgent.start calls free_port() for both ports, gRPC first,
        # and has no ports parameter, so patching free_port() is how the
        # ports are reused.
        ports = iter(self._pinned_ports)
        with mock.patch.object(rotel, "free_port", side_effect=lambda: next(ports)):
            super().start(timeout_s)

    def restart(self, timeout_s: float = 10.0) -> None:
        """Start again on the ports of the first start; the agent must be stopped."""
        if self._pinned_ports is None:
            raise RuntimeError("restart() needs a first start() to pick the ports")
        self.start(timeout_s)
