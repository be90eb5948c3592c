"""A hostile HTTP server on 127.0.0.1: it answers with whatever raw bytes a test scripts.

The simulator behaves like MAAS; this one misbehaves on purpose: escape
sequences in reason phrases and headers, compression bombs, stacked
encodings, bodies that trickle or never end. Each reply is a function that
writes to the socket; `reply()` builds the common case.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

Writer = Callable[[BinaryIO], None]

API_KEY = "hostileconsumer:hostiletokenkey:hostiletokensecret"


def reply(
    status: int = 200,
    body: bytes | Iterable[bytes] = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "OK",
    delay: float = 0.0,
    stall: float = 0.0,
) -> Writer:
    """An answer with BODY (bytes, or chunks sent one by one with DELAY between them),
    after STALL seconds of silence."""

    def write(out: BinaryIO) -> None:
        time.sleep(stall)
        head = [f"HTTP/1.1 {status} {reason}"]
        chunked = not isinstance(body, bytes)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if chunked:
            all_headers["Transfer-Encoding"] = "chunked"
        else:
            all_headers.setdefault("Content-Length", str(len(body)))
        all_headers["Connection"] = "close"
        head += [f"{name}: {value}" for name, value in all_headers.items()]
        out.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        out.flush()
        if isinstance(body, bytes):
            out.write(body)
            return
        for chunk in body:
            if delay:
                time.sleep(delay)
            out.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            out.flush()
        out.write(b"0\r\n\r\n")

    return write


def gzip_bomb(size: int) -> bytes:
    """SIZE zero bytes, gzip-compressed (about a thousandth of SIZE)."""
    return gzip.compress(b"\0" * size, compresslevel=9)


def endless(chunk: bytes = b"x" * 1024) -> Iterator[bytes]:
    while True:
        yield chunk


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append({"method": self.command, "path": self.path, **self.headers})
        writer = self.server.replies.pop(0) if self.server.replies else reply(404, b"{}")
        try:
            writer(self.wfile)
            self.wfile.flush()
        except OSError:
            pass  # the client gave up: that is often the point
        self.close_connection = True

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: list[Writer] = []
        self.seen: list[dict[str, str]] = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/MAAS"

    @property
    def api_root(self) -> str:
        return self.url + "/api/2.0/"

    def answer(self, *writers: Writer) -> None:
        self.replies.extend(writers)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.thread.join()
        self.server_close()
