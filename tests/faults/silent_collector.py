"""A collector stand-in that accepts TCP connections on 127.0.0.1 and never reads or writes.

An OTLP export to it connects at once and then waits: gRPC for the HTTP/2
settings frame, HTTP/protobuf for the response, until the exporter's own
timeout ends the attempt.
"""

from __future__ import annotations

import socket
import threading

_LOOPBACK = "127.0.0.1"


class SilentCollector:
    """A listening socket whose accepted connections stay open and silent until :meth:`stop`.

    Use it as a context manager or call :meth:`start` and :meth:`stop`.
    :attr:`accepted` counts the connections accepted so far.
    """

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = 0

    def __enter__(self) -> "SilentCollector":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the silent collector is not started")
        return self._listener.getsockname()[1]

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, for ``OTEL_EXPORTER_OTLP_ENDPOINT`` with either protocol."""
        return f"http://{_LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Listen on a free loopback port and accept connections on a daemon thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((_LOOPBACK, 0))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="silent-collector", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            with self._lock:
                self._connections.append(connection)
                self.accepted += 1

    def stop(self) -> None:
        """Close the listener and every accepted connection. A second call does nothing."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        # shutdown() wakes the thread blocked in accept(); close() alone may not.
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
