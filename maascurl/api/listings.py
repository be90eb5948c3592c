"""IDs seen in listings, kept in the cache for TAB completion.

When a listing such as `get machines` passes through, the IDs in it (with the
hostname or name as a description) are remembered per listing path, so that
`machines/<TAB>` offers real system IDs without contacting the server.

Recording must not slow the pass-through: the body is copied aside while it
streams and parsed once at the end, only for listings up to RECORD_LIMIT
bytes (a listing of a few hundred machines); bigger or compressed bodies are
not recorded at all. Reading the IDs (on TAB) needs only json.

TAB types an ID into the command line, so only IDs no shell reads as syntax
(termsafe.shell_word) are kept, and only those are read back: a machine
named `x$(touch /tmp/p)` by whoever controls the server is never offered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from maascurl.termsafe import shell_word

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.wire._httpx import httpx
    from maascurl.wire.request import RequestSpec

RECORD_LIMIT = 2 * 1024 * 1024  # ~200 machines; parsing it costs ~20-50 ms
MAX_IDS = 1000  # per listing path: TAB reads them all on every press
MAX_PATHS = 20  # listing paths kept per server
LABEL_FIELDS = ("hostname", "name", "fqdn", "username", "filename", "description")


def ids_file(api_root: str) -> Any:
    from maascurl.api.apidesc import cache_file

    path = cache_file(api_root)
    return path.with_name(path.name.replace("describe-", "ids-", 1))


def load_ids(api_root: str, listing: str) -> list[tuple[str, str]]:
    """(id, label) pairs last seen in the listing at LISTING ("machines/")."""
    from maascurl.api.apidesc import open_cached

    try:
        with open_cached(ids_file(api_root)) as stream:
            rows = json.load(stream)["paths"][listing]
        return [(str(row[0]), str(row[1])) for row in rows if shell_word(str(row[0]))]
    except Exception:  # no listing seen yet, or a damaged file: nothing to offer
        return []


def id_field(desc: ApiDescription, listing: str) -> str | None:
    """The placeholder that follows LISTING in a described path: machines/ -> system_id."""
    match = desc.match(listing)
    if match is None:
        return None
    prefix = match.resource.template
    for resource in desc.resources:
        rest = resource.template[len(prefix) :]
        if resource.template.startswith(prefix) and rest.startswith("{"):
            name, _, tail = rest[1:].partition("}")
            if tail in ("", "/"):
                return name
    return None


class ListingRecorder:
    """Copies a listing's body aside while it streams; saves its IDs afterwards."""

    def __init__(self, api_root: str, listing: str, field: str) -> None:
        self.api_root = api_root
        self.listing = listing
        self.field = field
        self.chunks: list[bytes] = []
        self.size = 0
        self.complete = False

    @classmethod
    def attach(
        cls, response: httpx.Response, desc: ApiDescription, api_root: str, spec: RequestSpec
    ) -> ListingRecorder | None:
        from maascurl.wire.bounded import declared_length, is_encoded

        if is_encoded(response):
            return None
        length = declared_length(response)
        if length is not None and length > RECORD_LIMIT:
            return None  # a big listing streams untouched
        if "json" not in response.headers.get("Content-Type", ""):
            return None
        listing = spec.url[len(api_root) :]
        field = id_field(desc, listing)
        if field is None:
            return None
        recorder = cls(api_root, listing, field)
        response.stream = _tee(response.stream, recorder)
        return recorder

    def take(self, chunk: bytes) -> None:
        if self.size <= RECORD_LIMIT:
            self.chunks.append(chunk)
            self.size += len(chunk)
            if self.size > RECORD_LIMIT:
                self.chunks = []  # too big after all: give up, keep streaming

    def save(self) -> None:
        if not self.complete or self.size > RECORD_LIMIT:
            return
        try:
            data = json.loads(b"".join(self.chunks))
        except (ValueError, RecursionError):  # a hostile server's nesting: record nothing
            return
        self.chunks = []
        rows = _rows(data, self.field)
        if rows is not None:
            _store(self.api_root, self.listing, rows)


def _tee(stream: Any, recorder: ListingRecorder) -> Any:
    """A response stream that hands every raw chunk to RECORDER as it passes."""
    from maascurl.wire._httpx import httpx  # only ever called while a request is sent

    class Tee(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for chunk in stream:
                recorder.take(chunk)
                yield chunk
            recorder.complete = True

        def close(self) -> None:
            stream.close()

    return Tee()


def _rows(data: Any, field: str) -> list[list[str]] | None:
    if not isinstance(data, list):
        return None
    rows: list[list[str]] = []
    for entry in data[:MAX_IDS]:
        if not isinstance(entry, dict) or not isinstance(entry.get(field), (str, int)):
            return None  # not a listing of this resource after all
        if not shell_word(str(entry[field])):
            continue  # never typed on a command line by TAB
        label = next((entry[k] for k in LABEL_FIELDS if isinstance(entry.get(k), str)), "")
        rows.append([str(entry[field]), label if label != str(entry[field]) else ""])
    return rows


def _store(api_root: str, listing: str, rows: list[list[str]]) -> None:
    import tempfile

    from maascurl.api.apidesc import open_cached

    target = ids_file(api_root)
    try:
        with open_cached(target) as stream:
            paths = json.load(stream)["paths"]
        if not isinstance(paths, dict):
            paths = {}
    except Exception:  # missing or damaged: start afresh
        paths = {}
    paths.pop(listing, None)
    paths[listing] = rows  # newest last; the oldest go first
    while len(paths) > MAX_PATHS:
        paths.pop(next(iter(paths)))
    try:
        from maascurl.dirs import make_private_dirs

        make_private_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(prefix=".ids-", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump({"root": api_root, "paths": paths}, stream, separators=(",", ":"))
        os.replace(tmp, target)
    except OSError:
        pass  # completion candidates are a convenience; never fail the request
