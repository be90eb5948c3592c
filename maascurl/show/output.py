"""Writing responses: raw bytes to pipes and files, pretty colour to terminals.

Piped output is the body exactly as received, streamed in chunks, so `| jq`
and `> file` always work and memory stays flat. A terminal gets JSON
pretty-printed (fast path in `jsoncolor`), through a pager the way git does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, TYPE_CHECKING, TextIO

from maascurl.errors import MaascurlError, note, redact_secrets
from maascurl.show.terminal import OutputOptions, pager_stream, stdout_is_terminal, use_color
from maascurl.termsafe import safe, safe_line
from maascurl.wire.status import status_error

if TYPE_CHECKING:
    from maascurl.wire._httpx import httpx
    from maascurl.wire.request import RequestSpec

PIPE_SIZE = 1024 * 1024  # Linux's default limit for unprivileged processes
# Pretty-printing holds the body and its parse: past this, a terminal gets it as it comes.
TERMINAL_LIMIT = 64 * 1024 * 1024
KEPT_ERROR_LIMIT = 64 * 1024 * 1024  # an error body written with -i or --keep-error-body


def write_response(response: httpx.Response, options: OutputOptions) -> None:
    """Write a 2xx response's body where the options say; raise for any other status.

    An error's body is written only with -i (to stdout) or --keep-error-body
    (where a success's would go), and the error is raised after it.
    """
    failed = not 200 <= response.status_code < 300
    if failed and not (options.include or options.keep_error_body):
        raise status_error(response)
    if failed:
        _keep_error_body(response)  # written below and summarised on stderr
    if options.include:
        write_head(response, sys.stdout)
    if failed and not options.keep_error_body and options.output not in (None, "-"):
        raise status_error(response)  # -i alone never puts an error page into FILE
    if failed and options.view is not None:
        from dataclasses import replace

        options = replace(options, view=None)  # an error's text is no listing to tabulate
    write_body(response, options)
    if failed:
        raise status_error(response)


def _keep_error_body(response: httpx.Response) -> None:
    """Read an error's body for writing, up to KEPT_ERROR_LIMIT: a hostile one may be endless."""
    from maascurl.wire.bounded import read_capped

    body, more = read_capped(response, KEPT_ERROR_LIMIT)
    if more:
        note(f"the error's body is cut at {KEPT_ERROR_LIMIT // 2**20} MB")
    response._content = body  # what write_body and status_error read


def write_body(response: httpx.Response, options: OutputOptions) -> None:
    if options.view is not None:
        write_view(response, options)
        return
    if options.output and options.output != "-":
        save_body(response, options.output)
        return
    if options.output == "-":
        pretty = False  # "-o -" means the raw body on stdout, as in curl
    elif options.pretty is None:
        pretty = stdout_is_terminal()
    else:
        pretty = options.pretty
    if pretty:
        show_pretty(response, options)
    else:
        sys.stdout.flush()
        widen_pipe(sys.stdout.buffer)
        stream_raw(response.iter_bytes(), sys.stdout.buffer)


def write_view(response: httpx.Response, options: OutputOptions) -> None:
    """A 2xx JSON response as --format, --fields, --sort or --jq say (table.py): to stdout,
    or into -o FILE as a body would be (whole or not at all)."""
    from maascurl.show.table import emit, view_of

    to_terminal = options.output is None and stdout_is_terminal()
    shown = view_of(response, options, to_terminal)
    if options.output not in (None, "-"):
        save_text(shown.text, options.output)
    else:
        emit(shown.text, options, color_json=shown.color_json, rendered=shown.rendered)


def save_text(text: str, path: str) -> None:
    """TEXT into PATH as UTF-8, as save_body writes a body."""
    from maascurl.wire._httpx import httpx

    save_body(httpx.Response(200, content=text.encode("utf-8")), path)


def widen_pipe(out: IO[bytes]) -> None:
    """Grow a pipe on OUT to PIPE_SIZE (Linux), so big bodies need fewer wake-ups.

    A default 64 KB pipe makes the writer sleep and wake for every 64 KB; with
    1 MB (and client.py's larger reads) a 30 MB body through `| reader` takes
    ~40% less time. Anything that fails (not a pipe, not Linux, a limit) is
    ignored.
    """
    try:
        import fcntl
        import stat

        fd = out.fileno()
        is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
        if is_pipe and fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_SIZE:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (AttributeError, ImportError, OSError, ValueError):
        pass


def stream_raw(chunks: Iterable[bytes], out: IO[bytes]) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def write_head(response: httpx.Response, out: TextIO) -> None:
    out.write("\n".join(head_lines(response)) + "\n\n")
    out.flush()


def head_lines(response: httpx.Response) -> list[str]:
    """The status line and headers as they may be shown: redacted, controls made visible."""
    from maascurl.wire.redact import redact_header

    lines = [f"{response.http_version} {response.status_code} {response.reason_phrase}"]
    for name, value in raw_headers(response.headers):
        lines.append(f"{name}: {redact_header(name, value)}")
    return [safe_line(redact_secrets(line)) for line in lines]


def show_pretty(response: httpx.Response, options: OutputOptions) -> None:
    chunks = response.iter_bytes()
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > TERMINAL_LIMIT:
            _show_unformatted(bytes(body), chunks, options)
            return
    _show_whole(bytes(body), response, options)


def _show_whole(body: bytes, response: httpx.Response, options: OutputOptions) -> None:
    kind = body_kind(response.headers.get("Content-Type", ""), body)
    if kind == "binary":
        note(f"binary body ({len(body)} bytes) not shown on a terminal; save it with -o FILE")
        return
    with pager_stream(options.pager) as out:
        color = use_color(sys.stdout)
        if kind == "json":
            from maascurl.show.jsoncolor import write_json

            if write_json(body, out, color=color):
                return
        text = safe(body.decode("utf-8", errors="replace"))
        out.write(text if text.endswith("\n") or not text else text + "\n")


def _show_unformatted(head: bytes, rest: Iterator[bytes], options: OutputOptions) -> None:
    """A body past TERMINAL_LIMIT: streamed as text as it comes, memory flat."""
    import codecs

    if body_kind("", head[:8192]) == "binary":
        note("binary body not shown on a terminal; save it with -o FILE")
        return
    note(f"body over {TERMINAL_LIMIT // 2**20} MB: shown as it comes, not pretty-printed")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with pager_stream(options.pager) as out:
        out.write(safe(decoder.decode(head)))
        for chunk in rest:
            out.write(safe(decoder.decode(chunk)))
        out.write(safe(decoder.decode(b"", final=True)) + "\n")


def body_kind(content_type: str, body: bytes) -> str:
    """'json', 'text' or 'binary', judged by the content type and the bytes."""
    if "json" in content_type:
        return "json"
    if b"\0" in body[:8192]:
        return "binary"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    stripped = body.lstrip()[:1]
    return "json" if stripped in (b"{", b"[") else "text"


def save_body(response: httpx.Response, path: str) -> None:
    """Write the body to PATH: complete or not at all for a file, straight into anything else.

    A regular (or new) file gets the body in a temp file beside it, renamed
    into place once complete. A device, FIFO or terminal (`-o /dev/null`,
    `/dev/stdout`, a symlink to one) is written straight into: renaming over
    it would replace the device itself.
    """
    save_chunks(_tracked(response, path), path, lambda written: _check_length(response, written))


def save_chunks(
    chunks: Iterable[bytes], path: str, check: Callable[[int], None] | None = None
) -> None:
    """CHUNKS to PATH as save_body writes a body; CHECK, given the bytes written, may refuse
    to rename the temporary file into place."""
    import stat

    target = os.path.abspath(os.path.expanduser(path))
    try:
        existing: os.stat_result | None = os.stat(target)
    except OSError:
        existing = None
    descriptor = _descriptor_alias(target)
    if descriptor is not None or (existing is not None and not stat.S_ISREG(existing.st_mode)):
        _write_into(chunks, target, path, descriptor)
        return
    # Through a symlink to the file it names, so the link itself stays.
    _save_atomically(chunks, os.path.realpath(target), path, existing, check)


def _descriptor_alias(target: str) -> int | None:
    """N for /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N: written via a dup."""
    import re

    names = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if target in names:
        return names[target]
    match = re.fullmatch(r"/(?:dev|proc/self)/fd/(\d+)", target)
    return int(match.group(1)) if match else None


def _write_into(chunks: Iterable[bytes], target: str, path: str, descriptor: int | None) -> None:
    if descriptor == 1:
        sys.stdout.flush()
    try:
        fd = os.dup(descriptor) if descriptor is not None else os.open(target, os.O_WRONLY)
    except OSError as exc:
        raise MaascurlError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream_raw(chunks, stream)
    except OSError as exc:
        raise MaascurlError(f"cannot write {path}: {exc.strerror}") from None


def _save_atomically(
    chunks: Iterable[bytes],
    target: str,
    path: str,
    existing: os.stat_result | None,
    check: Callable[[int], None] | None,
) -> None:
    # SIGTERM and SIGHUP are held while the temp file is created and its name
    # not yet known here; let in inside the `try`, they remove it like Ctrl-C.
    with _cleanup_on_signals() as let_in:
        tmp, stream = _temp_beside(target, path, existing)
        try:
            with stream:
                let_in()
                stream_raw(chunks, stream)
                if check is not None:
                    check(stream.tell())
                # Mode and checks through the open descriptor, never the name:
                # another user who can write the directory may swap the name.
                _set_mode(stream.fileno(), existing)
                if not _same_file(stream.fileno(), tmp):
                    raise MaascurlError(f"cannot write {path}: its temporary file was replaced")
                os.replace(tmp, target)
        except OSError as exc:  # e.g. PATH is a directory, or the disk is full
            _unlink_quietly(tmp)
            raise MaascurlError(f"cannot write {path}: {exc.strerror}") from None
        except BaseException:
            _unlink_quietly(tmp)
            raise


def _temp_beside(target: str, path: str, existing: os.stat_result | None) -> tuple[str, IO[bytes]]:
    """A new file beside TARGET, made here and by no one else (O_EXCL, no link followed).

    For a new FILE the kernel applies the umask to 0666 as the file is made:
    reading the umask would mean setting it, for the whole process, and a
    fleet's workers make files at the same time. The copy of an existing FILE
    starts 0600 and takes that file's mode once written (_set_mode).
    """
    directory, name = os.path.split(target)
    mode = 0o600 if existing is not None else 0o666
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(4).hex()}")
        try:
            fd = _create(tmp, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise MaascurlError(f"cannot write {path}: {exc.strerror}") from None
        return tmp, os.fdopen(fd, "wb")
    raise MaascurlError(f"cannot write {path}: no free name for a temporary file beside it")


def _create(name: str, mode: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.open(name, flags, mode)


def _set_mode(fd: int, existing: os.stat_result | None) -> None:
    """An existing file's mode (and owner, as root); a new one has the umask's already."""
    import stat

    if existing is not None:
        os.fchmod(fd, stat.S_IMODE(existing.st_mode) & 0o777)
        if os.geteuid() == 0:
            with suppress(OSError):
                os.fchown(fd, existing.st_uid, existing.st_gid)


def open_log(path: str) -> IO[str]:
    """PATH opened for a log written as it goes (--report), never through a stranger's file.

    A device or FIFO of this user's or root's (`/dev/null`, a FIFO made for
    it) and `/dev/stderr` and its kin are written into. Anything else at PATH
    (a link, a file, another user's FIFO) is replaced at once by a new file
    made beside it, so a link planted there is never followed and a file
    someone else made is never written into (in a sticky directory such as
    /tmp, replacing another user's file fails, and so does the run, before it
    sends anything). An existing file of this user keeps its mode.
    """
    import io
    import stat

    target = os.path.abspath(os.path.expanduser(path))
    try:
        found: os.stat_result | None = os.lstat(target)
    except OSError:
        found = None
    descriptor = _descriptor_alias(target)
    trusted = found is not None and found.st_uid in (os.geteuid(), 0)
    try:
        if descriptor is not None:
            return os.fdopen(os.dup(descriptor), "w", encoding="utf-8")
        mode = found.st_mode if found is not None else 0
        if trusted and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            return os.fdopen(os.open(target, os.O_WRONLY), "w", encoding="utf-8")
    except OSError as exc:
        raise MaascurlError(f"cannot write {path}: {exc.strerror}") from None
    keep = found if found is not None and stat.S_ISREG(found.st_mode) and trusted else None
    tmp, stream = _temp_beside(target, path, keep)
    try:
        _set_mode(stream.fileno(), keep)
        os.replace(tmp, target)
    except OSError as exc:  # e.g. another user's file in a sticky directory
        stream.close()
        _unlink_quietly(tmp)
        raise MaascurlError(f"cannot write {path}: {exc.strerror}") from None
    return io.TextIOWrapper(stream, encoding="utf-8")


def _same_file(fd: int, name: str) -> bool:
    try:
        named = os.lstat(name)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _unlink_quietly(name: str) -> None:
    with suppress(OSError):
        os.unlink(name)


class Terminated(MaascurlError):
    """SIGTERM or SIGHUP while saving: the temp file is removed as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


@contextmanager
def _cleanup_on_signals() -> Iterator[Callable[[], None]]:
    """Turn SIGTERM and SIGHUP into an exception, so `finally` and `except` clean up.

    A signal is held back until the caller calls the function this yields, so
    that none can strike between a file's creation and the moment the caller
    knows its name. (Held in Python rather than by the signal mask: any thread
    may take a process's signal, and Python runs the handler in the main one.)
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # only the main thread can take signals; fleet workers rely on it
        return
    held: list[int] = []
    letting_in = False

    def on_signal(signum: int, frame: object) -> None:
        if not letting_in:
            held.append(signum)
            return
        raise Terminated(signum)

    def let_in() -> None:
        nonlocal letting_in
        letting_in = True
        if held:
            raise Terminated(held[0])

    signals = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, on_signal) for signum in signals}
    try:
        yield let_in
        let_in()  # a signal held all along still ends the command
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _tracked(response: httpx.Response, path: str) -> Iterator[bytes]:
    """The body's chunks, drawn as a progress bar on a terminal's stderr (progress.py)."""
    from maascurl.show.progress import track
    from maascurl.wire.bounded import declared_length

    total = declared_length(response)
    return track(response.iter_bytes(), f"save {os.path.basename(path)}", total)


def _check_length(response: httpx.Response, written: int) -> None:
    from maascurl.wire.bounded import declared_length

    expected = declared_length(response)
    if expected is not None and expected != written:
        raise MaascurlError(f"download incomplete: got {written} of {expected} bytes")


def describe_request(spec: RequestSpec, headers: Iterable[tuple[str, str]], out: TextIO) -> None:
    """--offline: the request as it would be sent, secrets redacted."""
    from urllib.parse import urlencode, urlsplit

    from maascurl.wire.redact import redact_header

    parts = urlsplit(spec.url)
    target = parts.path + (f"?{urlencode(spec.query)}" if spec.query else "")
    out.write(f"{spec.method} {target} HTTP/1.1\nHost: {parts.netloc}\n")
    for name, value in headers:
        out.write(f"{name}: {redact_header(name, value)}\n")
    out.write("\n")
    for field_name, field_value in spec.fields:
        out.write(f"{field_name}={_field_text(field_value)}\n")
    for part in spec.files:
        out.write(f"{part.name}@ <{part.size()} bytes from {part.path or 'stdin'}>\n")
    if spec.body is not None and spec.body.json and spec.body.content is not None:
        out.write(spec.body.content.decode("utf-8") + "\n")  # the JSON the ITEMs made
    elif spec.body is not None:
        out.write(f"<{spec.body.size()} bytes of body from {spec.body.path or 'stdin'}>\n")
    out.flush()


def raw_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Header names as they go out or came in on the wire (httpx lower-cases its view)."""
    encoding = headers.encoding
    return [(name.decode(encoding), value.decode(encoding)) for name, value in headers.raw]


def _field_text(value: str | bytes) -> str:
    """A field's value for --offline: text as it is, other bytes by their size."""
    if isinstance(value, str):
        return value
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(value)} bytes>"
    return text if "\0" not in text else f"<{len(value)} bytes>"


def log_request(request: httpx.Request) -> None:
    from maascurl.wire.redact import redact_header

    lines = [f"> {request.method} {request.url.raw_path.decode('ascii')} HTTP/1.1"]
    for name, value in raw_headers(request.headers):
        lines.append(f"> {name}: {redact_header(name, value)}")
    # A redirect's target (the server's text) may be in the request line.
    print("\n".join(map(safe_line, lines)) + "\n>", file=sys.stderr, flush=True)


def log_response(response: httpx.Response) -> None:
    lines = [f"< {line}" for line in head_lines(response)]
    print("\n".join(lines) + "\n<", file=sys.stderr, flush=True)
