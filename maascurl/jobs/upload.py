"""Boot-image uploads in chunks, resumable: `maascurl upload-image`.

Why chunks: MAAS checks a request's OAuth timestamp only once the whole body
has arrived, so one request that takes longer than 300 s is refused. MAAS's
own CLI therefore creates the resource without its content and then PUTs the
content in 4 MiB pieces to the file's `upload_uri` (a handler the API
description does not list); each piece here is a fresh, signed request sent
through `call.Session`, with the retries of any single call.

What MAAS tells about an unfinished upload (its `boot_resource_file_to_dict`):
up to 3.4 the file's `progress` is `total_size / bytes_stored` (0 when
nothing is stored), so the bytes stored are `size / progress`, and a second
run carries on from there. From 3.5 the file lives on a region's disk and
`progress` is the share of all region controllers' copies, which does not
say where one region's copy ends; such an upload is started over.

Only the standard library is imported here at first, so completion can read
FILETYPES and ARCHITECTURES cheaply.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maascurl.errors import (
    ConnectFailed,
    HTTPStatusError,
    MaascurlError,
    TimedOut,
    UsageError,
    note,
)
from maascurl.termsafe import safe_line

if TYPE_CHECKING:
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.target import Target
    from maascurl.wire._httpx import httpx
    from maascurl.wire.request import RequestSpec

CHUNK_SIZE = 4 * 1024 * 1024  # what MAAS's own CLI sends per request
# `post boot-resources content@=FILE` over this size goes the chunked way.
AUTO_CHUNK_MIN = 64 * 1024 * 1024
HASH_BLOCK = 1024 * 1024
ANSWER_LIMIT = 16 * 1024 * 1024  # an answer read whole (a boot resource, a chunk's reply)

# The filetypes MAAS accepts for an upload (BOOT_RESOURCE_FILE_TYPE_CHOICES_UPLOAD).
FILETYPES = (
    "tgz",
    "tbz",
    "txz",
    "ddtgz",
    "ddtbz",
    "ddtxz",
    "ddtar",
    "ddbz2",
    "ddgz",
    "ddxz",
    "ddraw",
)
# How MAAS records each upload filetype on the file (BOOT_RESOURCE_FILE_TYPE).
STORED_FILETYPES = {
    "tgz": "root-tgz",
    "tbz": "root-tbz",
    "txz": "root-txz",
    "ddtgz": "root-dd",
    "ddtbz": "root-dd.tar.bz2",
    "ddtxz": "root-dd.tar.xz",
    "ddtar": "root-dd.tar",
    "ddbz2": "root-dd.bz2",
    "ddgz": "root-dd.gz",
    "ddxz": "root-dd.xz",
    "ddraw": "root-dd.raw",
}
# For TAB completion only; MAAS checks the architecture itself.
ARCHITECTURES = (
    "amd64/generic",
    "arm64/generic",
    "armhf/generic",
    "i386/generic",
    "ppc64el/generic",
    "riscv64/generic",
    "s390x/generic",
)

# File name endings that say the filetype without doubt. A bare .gz, .xz or
# .bz2 could hold a tarball or a disk image, so those are not guessed.
_ENDINGS = (
    (".dd.tar.gz", "ddtgz"),
    (".dd.tgz", "ddtgz"),
    (".dd.tar.bz2", "ddtbz"),
    (".dd.tbz", "ddtbz"),
    (".dd.tar.xz", "ddtxz"),
    (".dd.txz", "ddtxz"),
    (".dd.tar", "ddtar"),
    (".dd.bz2", "ddbz2"),
    (".dd.gz", "ddgz"),
    (".dd.xz", "ddxz"),
    (".dd", "ddraw"),
    (".img", "ddraw"),
    (".raw", "ddraw"),
    (".tar.gz", "tgz"),
    (".tgz", "tgz"),
    (".tar.bz2", "tbz"),
    (".tbz", "tbz"),
    (".tar.xz", "txz"),
    (".txz", "txz"),
)


def guess_filetype(path: str) -> str | None:
    name = os.path.basename(path).lower()
    return next((kind for ending, kind in _ENDINGS if name.endswith(ending)), None)


@dataclass
class ImageUpload:
    """What to upload and what to call it; `fields` are further create fields."""

    name: str
    architecture: str
    path: str
    title: str | None = None
    filetype: str | None = None
    base_image: str | None = None
    fields: list[tuple[str, str | bytes]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunk_size: int = 0  # 0: CHUNK_SIZE

    def create_fields(self, size: int, sha256: str) -> list[tuple[str, str | bytes]]:
        given = [
            ("name", self.name),
            ("architecture", self.architecture),
            ("filetype", self.filetype),
            ("title", self.title),
            ("base_image", self.base_image),
        ]
        fields = [(name, value) for name, value in given if value is not None]
        return [*fields, *self.fields, ("size", str(size)), ("sha256", sha256)]


@dataclass
class Unfinished:
    """A resource's file on the server and where the upload goes on from."""

    resource_id: int
    file: dict[str, Any]
    offset: int


def checked_filetype(path: str, filetype: str | None) -> str:
    if filetype is not None:
        return filetype
    guessed = guess_filetype(path)
    if guessed is None:
        raise UsageError(
            f"cannot tell the filetype of {os.path.basename(path)} from its name; "
            f"give --filetype ({', '.join(FILETYPES)})"
        )
    return guessed


# --------------------------------------------------------------- the run


# Work after the upload, before the resource is printed (--wait: the racks'
# sync, jobs/racksync.py, handed in by the command layer). A TimedOut it
# raises still prints the resource, which was uploaded, then ends the command.
AfterUpload = Callable[["Session"], None]


def upload_image(
    job: ImageUpload,
    options: CallOptions,
    target: Target | None = None,
    then: AfterUpload | None = None,
) -> None:
    """Hash, create (or find the unfinished upload), send the chunks, verify, THEN, print."""
    from maascurl.jobs.call import Session
    from maascurl.profiles.target import resolve_target
    from maascurl.show.output import write_response

    if target is None:
        target = resolve_target(options.profile, "boot-resources/", anonymous=options.anonymous)
    size, sha256, stamp = hash_file(job.path)
    if size == 0:
        raise MaascurlError(f"{job.path} is empty")
    with Session(target, options) as session:
        api = _Api(session, target.api_root, job.headers)
        state = find_unfinished(api, job, size, sha256)
        if state is None:
            state = create(api, job, size, sha256)
        if state.offset < size:
            send_chunks(api, job, state, size)
            if _stamp(job.path) != stamp:
                raise MaascurlError(f"{job.path} changed while it was being uploaded")
        final = verify(api, state, size, sha256)
        late = _then(then, session)
        with session.errors(str(final.request.url)):
            write_response(final, options.output)
        if late is not None:
            raise late


def _then(then: AfterUpload | None, session: Session) -> TimedOut | None:
    """Run THEN; a timeout is handed back, to be raised once the resource is printed."""
    if then is None:
        return None
    try:
        then(session)
    except TimedOut as late:
        return late
    return None


def hash_file(path: str) -> tuple[int, str, tuple[int, int]]:
    """(size, sha256, a stamp that changes when the file does); memory stays flat."""
    import hashlib

    from maascurl.show.progress import Bar

    digest = hashlib.sha256()
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    size = 0
    try:
        stamp = _stamp(path)
        with open(path, "rb") as stream, Bar(f"sha256 {_short(path)}", stamp[0]) as bar:
            while count := stream.readinto(buffer):
                digest.update(view[:count])
                size += count
                bar.advance(count)
    except OSError as exc:
        raise MaascurlError(f"cannot read {path}: {exc.strerror}") from None
    return size, digest.hexdigest(), stamp


def _stamp(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_size, info.st_mtime_ns


def _short(path: str) -> str:
    return os.path.basename(path) or path


class _Api:
    """The few calls an upload makes, each sent through the Session."""

    def __init__(self, session: Session, api_root: str, headers: list[tuple[str, str]]) -> None:
        self.session = session
        self.api_root = api_root
        self.headers = headers

    def send(self, spec: RequestSpec) -> httpx.Response:
        """Send SPEC; return the read 2xx response or raise the server's error."""
        spec.headers = [*self.headers, *spec.headers]
        return self.session.read(spec, ANSWER_LIMIT)

    def json(self, spec: RequestSpec) -> Any:
        response = self.send(spec)
        try:
            return json.loads(response.content)
        except ValueError:
            raise MaascurlError(f"{spec.url} answered with something that is not JSON") from None

    def get(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        from maascurl.wire.request import RequestSpec

        return self.json(RequestSpec("GET", self.api_root + path, query=query or []))

    def resource(self, resource_id: int) -> Any:
        return self.get(f"boot-resources/{resource_id}/")


def newest_file(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The one file of the resource's newest set, picked as MAAS's own CLI does."""
    sets = resource.get("sets") or {}
    if not sets:
        return None
    files = sets[sorted(sets, reverse=True)[0]].get("files") or {}
    if len(files) != 1:
        return None
    found: dict[str, Any] = next(iter(files.values()))
    return found


def stored_bytes(rfile: dict[str, Any]) -> int | None:
    """How much of an unfinished file the server holds; None when it cannot tell."""
    if "filename_on_disk" in rfile:
        return None  # MAAS 3.5+: progress is a share of all regions' copies
    size: Any = rfile.get("size")
    progress: Any = rfile.get("progress") or 0
    if not _is_count(size) or not _is_finite(progress):
        raise MaascurlError(
            f"MAAS answered with a file whose size or progress is not a number "
            f"(size {_shown(size)}, progress {_shown(progress)})"
        )
    if progress <= 0:
        return 0
    ratio = size / progress
    if not _is_finite(ratio):  # a tiny progress: no size at all
        return None
    held = round(ratio)
    return held if 0 <= held <= size else None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: Any) -> str:
    return (
        safe_line(repr(value)[:40])
        if isinstance(value, (str, int, float))
        else type(value).__name__
    )


def find_unfinished(api: _Api, job: ImageUpload, size: int, sha256: str) -> Unfinished | None:
    """An earlier upload of the same image (name, architecture, sha256) to go on with."""
    stored_name = job.name.removeprefix("custom/")  # MAAS drops "custom/"
    listing = api.get("boot-resources/", [("type", "uploaded")])
    match = next(
        (
            item
            for item in listing
            if item.get("name") in (job.name, stored_name)
            and item.get("architecture") == job.architecture
        ),
        None,
    )
    if match is None:
        return None
    resource_id = int(match["id"])
    rfile = newest_file(api.resource(resource_id))
    if rfile is None or rfile.get("sha256") != sha256 or rfile.get("size") != size:
        return None
    if rfile.get("filetype") != STORED_FILETYPES.get(job.filetype or "tgz"):
        return None  # the same bytes as another filetype: a new upload
    where = f"boot-resources/{resource_id}/"
    if rfile.get("complete"):
        note(f"{_short(job.path)} is already uploaded as {where}")
        return Unfinished(resource_id, rfile, size)
    held = stored_bytes(rfile)
    if held is None:
        note(
            f"{where} holds part of this image, but this MAAS (3.5 or later) does not "
            "say how much; starting the upload over"
        )
        return None
    if held:
        note(f"resuming the upload to {where} at {held} of {size} bytes")
    return Unfinished(resource_id, rfile, held)


def create(api: _Api, job: ImageUpload, size: int, sha256: str) -> Unfinished:
    from maascurl.wire.request import RequestSpec

    spec = RequestSpec(
        "POST", api.api_root + "boot-resources/", fields=job.create_fields(size, sha256)
    )
    resource = api.json(spec)
    rfile = newest_file(resource)
    if rfile is None:
        raise MaascurlError("MAAS created the resource but named no single file to upload to")
    if rfile.get("complete"):
        return Unfinished(int(resource["id"]), rfile, size)
    # MAAS up to 3.4 keeps one stored copy per sha256: part of it may be there.
    held = stored_bytes(rfile) or 0
    if held:
        note(f"MAAS already holds {held} of {size} bytes of this image; sending the rest")
    return Unfinished(int(resource["id"]), rfile, held)


def send_chunks(api: _Api, job: ImageUpload, state: Unfinished, size: int) -> None:
    """PUT the file from state.offset on; a broken chunk is followed by asking
    the server how much it holds (where it can tell) and going on from there."""
    from urllib.parse import urljoin

    from maascurl.show.progress import Bar

    upload_uri = state.file.get("upload_uri")
    if not upload_uri:
        raise MaascurlError("MAAS gave no upload_uri for the unfinished file")
    url = urljoin(api.api_root, str(upload_uri))
    if not url.startswith(api.api_root):
        # Each chunk is signed: never send the key to anywhere else.
        raise MaascurlError(f"MAAS gave an upload_uri outside its API: {safe_line(url)}")
    offset, failures = state.offset, 0
    retries = api.session.transport.retries  # a chunk is retried like any single call
    hint = "run the same command again to resume"
    with Bar(f"upload {_short(job.path)}", size, offset) as bar:
        try:
            while offset < size:
                length = min(job.chunk_size or CHUNK_SIZE, size - offset)
                try:
                    put_chunk(api, url, job.path, offset, length)
                except (ConnectFailed, TimedOut) as exc:
                    if failures >= retries:
                        raise _with_hint(exc, hint) from None
                    failures += 1
                    offset = _recover(api, state, exc, failures, bar)
                    continue
                except HTTPStatusError as exc:
                    raise _with_hint(exc, _status_hint(exc, state)) from None
                failures = 0
                offset += length
                bar.advance(length)
        except KeyboardInterrupt:
            note(f"upload stopped at {offset} of {size} bytes; {hint}")
            raise


def put_chunk(api: _Api, url: str, path: str, offset: int, length: int) -> None:
    from maascurl.wire.request import RawBody, RequestSpec

    body = RawBody(path=path, offset=offset, length=length)
    headers = [("Content-Type", "application/octet-stream")]
    api.send(RequestSpec("PUT", url, headers=headers, body=body))


def _recover(api: _Api, state: Unfinished, exc: MaascurlError, failures: int, bar: Any) -> int:
    """After a broken chunk: wait, then ask MAAS where its copy ends."""
    transport = api.session.transport
    wait = min(0.5 * 2**failures, transport.retry_max_wait)
    note(f"{str(exc).rstrip('.')}; retrying in {wait:g} s ({failures}/{transport.retries})")
    time.sleep(wait)
    rfile = newest_file(api.resource(state.resource_id))
    held = stored_bytes(rfile) if rfile is not None else None
    if rfile is None or held is None:
        raise _with_hint(exc, "this MAAS cannot say how much it holds; run the command again")
    if rfile.get("complete"):
        held = int(rfile["size"])
    bar.advance(held - bar.completed)
    return held


def _status_hint(exc: HTTPStatusError, state: Unfinished) -> str:
    where = f"boot-resources/{state.resource_id}/"
    if "SHA256" in str(exc):
        return (
            f"what MAAS holds of {where} is not this file; delete it "
            f"(maascurl delete {where}) and upload again"
        )
    return f"the upload to {where} stopped"


def _with_hint(exc: MaascurlError, hint: str) -> MaascurlError:
    message = f"{str(exc).rstrip('.')}; {hint}"
    if isinstance(exc, HTTPStatusError):
        return HTTPStatusError(exc.status, message)
    return type(exc)(message)


def verify(api: _Api, state: Unfinished, size: int, sha256: str) -> httpx.Response:
    """Read the resource back: its newest file must be this image, stored whole."""
    from maascurl.wire.request import RequestSpec

    url = f"{api.api_root}boot-resources/{state.resource_id}/"
    response = api.send(RequestSpec("GET", url))
    try:
        rfile = newest_file(json.loads(response.content))
    except ValueError:
        rfile = None
    where = f"boot-resources/{state.resource_id}/"
    if rfile is None or rfile.get("sha256") != sha256 or rfile.get("size") != size:
        raise MaascurlError(f"{where} does not show this image after the upload")
    if not rfile.get("complete") and stored_bytes(rfile) is not None:
        raise MaascurlError(f"{where} is still incomplete after the upload")
    # From 3.5, "complete" waits for every region controller's copy; the last
    # chunk's 200 already told that MAAS checked the sha256 of the whole file.
    return response


# --------------------------------------------------------------- the general path


def _text(name: str, value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{name}= must be UTF-8 text") from None


def chunked_job(spec: RequestSpec, api_root: str) -> ImageUpload | None:
    """The upload a `post boot-resources ... content@=FILE` means, when FILE is big.

    Sent as one request, a big image runs into MAAS's 300 s OAuth window;
    over AUTO_CHUNK_MIN it goes the way `upload-image` sends it instead.
    """
    if spec.method != "POST" or spec.url != api_root + "boot-resources/" or spec.op:
        return None
    content = [part for part in spec.files if part.name == "content"]
    if len(content) != 1 or content[0].path is None or content[0].size() < AUTO_CHUNK_MIN:
        return None
    if len(spec.files) > 1:
        raise UsageError("boot-resources create takes one file, content@=FILE")
    fields = {name: _text(name, value) for name, value in spec.fields}
    for required in ("name", "architecture"):
        if required not in fields:
            raise UsageError(f"boot-resources create needs {required}=")
    known = ("name", "architecture", "title", "filetype", "base_image")
    return ImageUpload(
        name=fields["name"],
        architecture=fields["architecture"],
        path=content[0].path,
        title=fields.get("title"),
        filetype=fields.get("filetype"),
        base_image=fields.get("base_image"),
        fields=[(n, v) for n, v in spec.fields if n not in known],
        headers=list(spec.headers),
    )
