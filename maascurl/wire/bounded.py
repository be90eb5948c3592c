"""Reading answers within bounds: content decoding, size caps and --max-time.

httpx would decode any Content-Encoding, stacked ones too, each raw chunk in
one go: a few KB of `gzip, gzip` can ask for gigabytes. maascurl asks for
gzip only, refuses any other coding, and decodes gzip itself in steps of at
most DECODE_STEP bytes, so memory stays flat however far a body expands.
The same stream wrapper enforces --max-time: between chunks it checks the
deadline, and a timer shuts the socket when a read blocks past it.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress

from maascurl.errors import AnswerTooLarge, TimedOut, size_text
from maascurl.wire._httpx import httpx

ACCEPT_ENCODING = "gzip"
DECODE_STEP = 256 * 1024
DEADLINE = "maascurl.deadline"  # request extension: time.monotonic() deadline
_ACCEPTED = ("gzip", "x-gzip")  # identity is no coding: it is taken out first


class _PassThrough:
    """httpx's decoder slot, filled with one that leaves bytes alone (we decode)."""

    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def guard_response(response: httpx.Response) -> None:
    """A response hook: decode this response ourselves, within bounds and the deadline."""
    codings = _codings(response)
    layers = [c for c in codings if c != "identity"]
    refused = None
    if len(layers) > 1 or any(c not in _ACCEPTED for c in layers):
        refused = ", ".join(codings)
    deadline = response.request.extensions.get(DEADLINE)
    response._decoder = _PassThrough()  # type: ignore[assignment]
    response.stream = GuardedStream(response, bool(layers) and refused is None, refused, deadline)


def _codings(response: httpx.Response) -> list[str]:
    return [
        c.strip().lower()
        for c in response.headers.get_list("Content-Encoding", split_commas=True)
        if c.strip()
    ]


def is_encoded(response: httpx.Response) -> bool:
    """Whether the body comes in a coding (gzip): what is read then is its decoding."""
    return any(c != "identity" for c in _codings(response))


def declared_length(response: httpx.Response) -> int | None:
    """The body's length as the server declared it and as the bytes read will count.

    None without a Content-Length that is a number, and for an encoded body,
    whose decoding (what is read, see above) has another length. The one rule
    for a download's progress bar and for telling that it ended early.
    """
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() and not is_encoded(response) else None


class GuardedStream(httpx.SyncByteStream):
    def __init__(
        self, response: httpx.Response, gzip: bool, refused: str | None, deadline: float | None
    ) -> None:
        self.inner = response.stream
        self.gzip = gzip
        self.refused = refused
        self.deadline = deadline
        self.timer: threading.Timer | None = None
        self.expired = False
        if deadline is not None:
            self.timer = _shutdown_timer(response, deadline, self._expire)

    def _expire(self) -> None:
        self.expired = True

    def _check_deadline(self) -> None:
        if self.expired or (self.deadline is not None and time.monotonic() > self.deadline):
            raise TimedOut("the transfer took longer than --max-time")

    def __iter__(self) -> Iterator[bytes]:
        if self.refused is not None:
            raise httpx.DecodingError(
                f"unsupported Content-Encoding {self.refused!r} (maascurl asks for gzip only)"
            )
        try:
            chunks = self._decoded() if self.gzip else self._raw()
            yield from chunks
            # A body that ends at the connection's close ends early, and cleanly, when the
            # timer shuts the socket: that end is the deadline's, not the body's.
            self._check_deadline()
        except (httpx.TransportError, OSError):
            self._check_deadline()  # a socket shut by the timer is a timeout
            raise

    def _raw(self) -> Iterator[bytes]:
        assert isinstance(self.inner, httpx.SyncByteStream)
        for chunk in self.inner:
            self._check_deadline()
            yield chunk

    def _decoded(self) -> Iterator[bytes]:
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            for data in self._raw():
                while not decompressor.eof:
                    out = decompressor.decompress(data, DECODE_STEP)
                    data = decompressor.unconsumed_tail
                    if out:
                        yield out
                    elif not data:
                        break
        except zlib.error as exc:
            raise httpx.DecodingError(f"bad gzip data: {exc}") from None

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if isinstance(self.inner, httpx.SyncByteStream):
            self.inner.close()
        # httpx's inner stream refers back to the response: without this cycle, a
        # response read whole (its body in it) is freed as soon as it is let go.
        self.inner = httpx.ByteStream(b"")


def _shutdown_timer(
    response: httpx.Response, deadline: float, on_fire: Callable[[], None]
) -> threading.Timer | None:
    """A timer that shuts the response's socket at DEADLINE, waking a blocked read."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        return None

    def fire() -> None:
        on_fire()
        with suppress(OSError):
            # The plain socket's shutdown, also for TLS: ssl's own would unwrap.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), fire)
    timer.daemon = True
    timer.start()
    return timer


def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most LIMIT bytes of the body, and whether there was more (then left unread)."""
    body, more = _read_upto(response, limit)
    return bytes(body), more


def _read_upto(response: httpx.Response, limit: int) -> tuple[bytearray, bool]:
    """The body's first LIMIT bytes, never holding more; and whether there was more."""
    body = bytearray()
    more = False
    try:
        for chunk in response.iter_bytes():
            room = limit - len(body)
            if len(chunk) > room:
                body += chunk[:room]
                more = True
                break
            body += chunk
    finally:
        response.close()
    return body, more


def read_body(response: httpx.Response, limit: int, what: str) -> bytes:
    """The whole body, kept as the response's content, or AnswerTooLarge past LIMIT bytes.

    For an answer that is held whole (parsed, tabulated, kept for later):
    each purpose names its cap, and an endless body or a gzip bomb ends in
    one line after reading LIMIT bytes and one decoding step, never more.
    WHAT names the answer in that line (a URL).
    """
    if hasattr(response, "_content"):  # read already, within its own cap
        if len(response.content) > limit:
            raise AnswerTooLarge(f"{what} answered with more than {size_text(limit)}")
        return response.content
    body, more = _read_upto(response, limit)
    if more:
        raise AnswerTooLarge(f"{what} answered with more than {size_text(limit)}")
    content = response._content = bytes(body)  # what .content and iter_bytes() give now
    return content


def deadline_timeouts(timeout: httpx.Timeout, deadline: float) -> dict[str, float | None]:
    """The request's timeouts, none longer than what is left until DEADLINE."""
    left = max(0.001, deadline - time.monotonic())
    bounds = {
        "connect": timeout.connect,
        "read": timeout.read,
        "write": timeout.write,
        "pool": timeout.pool,
    }
    return {name: left if value is None else min(value, left) for name, value in bounds.items()}
