"""What both simulators' HTTP servers share: a threaded server that takes hang-ups calmly,
the reason phrases MAAS's servers send, and start/stop on a thread of its own.

Standard library only, like the simulators that use it (import-linter checks all three).
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

# The reason phrases MAAS's servers send (Python 3.12 and older): Python 3.13's http.server
# renamed these three (RFC 9110), which a client may show.
REASONS = {
    413: "Request Entity Too Large",
    416: "Requested Range Not Satisfiable",
    422: "Unprocessable Entity",
}


class QuietServer(ThreadingHTTPServer):
    """A server whose clients may hang up, or fail a TLS handshake: normal in tests."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            super().handle_error(request, client_address)


S = TypeVar("S", bound="Served")


class Served:
    """start(), stop() and `with` for an object whose _server serves on a thread of its own."""

    THREAD_NAME = "maas-simulator"
    _server: ThreadingHTTPServer
    _thread: threading.Thread | None = None

    def start(self: S) -> S:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # quick shutdown between tests
            name=self.THREAD_NAME,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
