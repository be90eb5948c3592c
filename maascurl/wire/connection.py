"""A kept-alive connection pool to one server, sending RequestSpecs.

Every request sent through it is signed afresh by its auth (own nonce and
timestamp) and gets what client.py gives a single request: timeouts,
Retry-After retries and same-origin redirects. httpx's client is
thread-safe, so fleet runs send from several threads through one
Connection. Errors come out as MaascurlError with maascurl's exit codes.
Importing this module costs nothing: httpx comes with the first Connection.

jobs/call.py's Session is a Connection opened for a profile; login and
password use one directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from maascurl.errors import AnswerTooLarge

if TYPE_CHECKING:
    from maascurl.wire._httpx import httpx
    from maascurl.wire.client import Pace, Tracker
    from maascurl.wire.request import RequestSpec
    from maascurl.wire.settings import Transport


C = TypeVar("C", bound="Connection")

__all__ = ["AnswerTooLarge", "Connection"]


class Connection:
    """A kept-alive connection pool to one server (see above)."""

    def __init__(
        self,
        transport: Transport,
        scheme: str,
        auth: httpx.Auth | None,
        hooks: dict[str, list[Callable[..., object]]] | None = None,
        track: Tracker | None = None,
    ) -> None:
        from maascurl.wire.client import open_client

        self.transport = transport
        self.client = open_client(transport, scheme, auth, hooks)
        self.track = track  # draws a multipart body with files as it is sent
        # A fleet run gives its connections a Pace: Retry-After then slows every
        # request to this server, not only the refused one.
        self.pace: Pace | None = None

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def send(self, spec: RequestSpec, transport: Transport | None = None) -> httpx.Response:
        """Send SPEC; return the streamed final response (the caller closes it).

        TRANSPORT, when given, replaces the connection's own for this request
        (a refresh sent once, without retries).
        """
        from maascurl.wire.client import send, to_httpx, transport_errors

        with transport_errors(spec.url):
            request = to_httpx(self.client, spec, self.track)
            return send(self.client, request, transport or self.transport, self.pace)

    def read(self, spec: RequestSpec, limit: int) -> httpx.Response:
        """Send SPEC and read its whole answer, at most LIMIT bytes; raise the server's
        error for anything but 2xx.

        Every caller that holds an answer whole names its own cap for it: an
        answer past LIMIT (an endless body, a gzip bomb) is AnswerTooLarge,
        one line, after reading no more than LIMIT and one decoding step.
        """
        from maascurl.wire.bounded import read_body
        from maascurl.wire.status import status_error

        response = self.send(spec)
        with self.errors(spec.url):
            try:
                if not 200 <= response.status_code < 300:
                    raise status_error(response)
                read_body(response, limit, spec.url)
            finally:
                response.close()
        return response

    def read_capped(
        self, spec: RequestSpec, limit: int, transport: Transport | None = None
    ) -> bytes:
        """The body of a 200 answer to SPEC, at most LIMIT bytes (AnswerTooLarge past it);
        any other status is the server's error."""
        from maascurl.wire.bounded import read_body
        from maascurl.wire.status import status_error

        response = self.send(spec, transport)
        with self.errors(spec.url):
            try:
                if response.status_code != 200:
                    raise status_error(response)
                return read_body(response, limit, spec.url)
            finally:
                response.close()

    @contextmanager
    def errors(self, url: str) -> Iterator[None]:
        """Map transport failures while a response body is being read."""
        from maascurl.wire.client import transport_errors

        with transport_errors(url):
            yield
