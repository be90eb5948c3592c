"""A streaming multipart/form-data body with a known length.

MAAS expects multipart for POST and PUT (as the official CLI sends them), and
its WSGI server needs a Content-Length, so the body's size is computed up
front while file contents are streamed from disk. The body can be iterated
again, which retries and re-signed redirects need.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from maascurl.errors import MaascurlError
from maascurl.wire.request import FilePart

_CHUNK = 256 * 1024


class MultipartBody:
    def __init__(self, fields: list[tuple[str, str | bytes]], files: list[FilePart]) -> None:
        self.boundary = secrets.token_hex(16)
        self.fields = fields
        self.files = files

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        size = sum(len(self._field_bytes(name, value)) for name, value in self.fields)
        for part in self.files:
            size += len(self._file_head(part)) + part.size() + 2
        return size + len(self._closing())

    def __iter__(self) -> Iterator[bytes]:
        for name, value in self.fields:
            yield self._field_bytes(name, value)
        for part in self.files:
            yield self._file_head(part)
            yield from _file_chunks(part)
            yield b"\r\n"
        yield self._closing()

    def _field_bytes(self, name: str, value: str | bytes) -> bytes:
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{_quote(name)}"\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        )
        data = value if isinstance(value, bytes) else value.encode()
        return head.encode() + data + b"\r\n"

    def _file_head(self, part: FilePart) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{_quote(part.name)}"; '
            f'filename="{_quote(part.filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

    def _closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()


def _quote(name: str) -> str:
    # HTML5 form encoding: escape quotes and line breaks inside the header value.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _file_chunks(part: FilePart) -> Iterator[bytes]:
    if part.content is not None:
        yield part.content
        return
    assert part.path is not None
    left = part.size()  # the size the body's Content-Length promised
    with open(part.path, "rb") as stream:
        while left > 0:
            chunk = stream.read(min(_CHUNK, left))
            if not chunk:
                raise MaascurlError(f"{part.path} shrank while it was being sent")
            left -= len(chunk)
            yield chunk
