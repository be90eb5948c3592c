"""Sending requests: the httpx client, redirects, retries and transport errors.

Redirects are followed here rather than by httpx so that credentials never
leave the profile's origin: a same-origin hop is signed afresh, a hop to
another origin is reported (or, with --follow-any, followed unsigned), and
https is never downgraded to http.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlencode

import httpcore

from maascurl import __version__
from maascurl.errors import (
    ConfigError,
    ConnectFailed,
    HTTPStatusError,
    TimedOut,
    UsageError,
    note,
    warn,
)
from maascurl.termsafe import safe_line
from maascurl.wire._httpx import httpx
from maascurl.wire.bounded import ACCEPT_ENCODING, DEADLINE, deadline_timeouts, guard_response
from maascurl.wire.multipart import MultipartBody
from maascurl.wire.request import RawBody, RequestSpec
from maascurl.wire.settings import Transport

USER_AGENT = f"maascurl/{__version__}"
MAX_REDIRECTS = 10
RETRY_STATUSES = (409, 429, 503)
IDEMPOTENT = ("GET", "DELETE")
# Short connect: a dead region should fail fast. Generous read: MAAS builds
# big listings slowly on large fleets.
# The connect timeout bounds the TLS handshake too: https sent to MAAS's plain
# port (5240) gets no handshake answer, and should not hang for long.
DEFAULT_TIMEOUT = (5.0, 300.0)
# Waits before retrying a refused connection: a region that is down fails
# within about a second (0.125 + 0.25 + 0.5 s with the default 3 retries).
CONNECT_RETRY_FIRST_WAIT = 0.125

# httpcore reads the socket 64 KB at a time, and every read goes through h11
# and httpx in Python. Reads of 256 KB cut the time a big body (a file, a
# listing of thousands of machines) takes by about a third; memory stays flat.
httpcore.HTTP11Connection.READ_NUM_BYTES = 256 * 1024


def _timeout(transport: Transport) -> httpx.Timeout:
    if transport.timeout is not None:
        return httpx.Timeout(transport.timeout)
    connect, read = DEFAULT_TIMEOUT
    return httpx.Timeout(read, connect=connect)


def _verify(transport: Transport, scheme: str) -> bool | ssl.SSLContext:
    if scheme != "https" or transport.insecure:
        # A plain-http server never needs a CA bundle: skip loading one.
        return False
    # The system's trust store (as curl and openssl use it), so a CA installed
    # system-wide is trusted; SSL_CERT_FILE/SSL_CERT_DIR are honoured by
    # OpenSSL itself, REQUESTS_CA_BUNDLE here.
    cafile = transport.cacert or os.environ.get("REQUESTS_CA_BUNDLE") or None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load CA certificate {cafile}: {exc}") from None


def open_client(
    transport: Transport,
    scheme: str,
    auth: httpx.Auth | None,
    event_hooks: dict[str, list[Callable[..., object]]] | None = None,
) -> httpx.Client:
    # A jar whose policy accepts no domain: a MAAS session cookie would switch
    # on Django's CSRF check, so cookies are never kept or sent.
    jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    # Every answer is decoded by bounded.py, within bounds, before anyone reads it.
    hooks = {"request": [], **(event_hooks or {})}
    hooks["response"] = [guard_response, *hooks.get("response", [])]
    verify = _verify(transport, scheme)
    return httpx.Client(
        auth=auth,
        verify=verify,
        transport=_no_delay_transport(verify),
        timeout=_timeout(transport),
        follow_redirects=False,
        cookies=jar,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
        event_hooks=hooks,
    )


def _no_delay_transport(verify: bool | ssl.SSLContext) -> httpx.HTTPTransport:
    """A transport whose sockets send at once (TCP_NODELAY, as curl's do).

    With Nagle's algorithm the small last segment of a request body can wait
    for the server's delayed ACK (up to ~40 ms on Linux), once per request:
    a cost a chunked upload of a few hundred requests should not pay.
    """
    import socket

    option = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return httpx.HTTPTransport(verify=verify, socket_options=[option])


# Draws a request body while it is sent (show/progress.py's `tracked`): given
# the chunks, a label and the total, it yields the same chunks. The wire draws
# nothing itself; a caller that wants a bar passes one.
Tracker = Callable[[Iterable[bytes], str, int], Iterable[bytes]]


def to_httpx(
    client: httpx.Client, spec: RequestSpec, track: Tracker | None = None
) -> httpx.Request:
    headers = httpx.Headers(spec.headers)
    content: Iterable[bytes] | None = None
    if spec.body is not None:
        content = _RawStream(spec.body)
        headers.setdefault("Content-Type", "application/octet-stream")
        headers["Content-Length"] = str(spec.body.size())
    elif spec.has_body:
        body = MultipartBody(spec.fields, spec.files)
        length = len(body)  # it encodes every field: once is enough
        headers["Content-Type"] = body.content_type
        headers["Content-Length"] = str(length)
        content = _tracked(body, spec, length, track)
    # Encoded here, not by httpx, whose QueryParams would group repeated names
    # and so change the order the user typed.
    url = f"{spec.url}?{urlencode(spec.query)}" if spec.query else spec.url
    return client.build_request(spec.method, url, headers=headers, content=content)


def _tracked(
    body: MultipartBody, spec: RequestSpec, total: int, track: Tracker | None
) -> Iterable[bytes]:
    """A multipart body with files, handed to TRACK to be drawn as it is sent."""
    if not spec.files or track is None:
        return body
    names = ", ".join(part.filename for part in spec.files)
    return track(body, f"send {names}", total)


class _RawStream:
    """A raw body httpx can iterate more than once (retries, re-signed redirects)."""

    def __init__(self, body: RawBody) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        return self.body.chunks()


class Pace:
    """Back-pressure shared by every request to one server (a fleet run's Session).

    When the server answers 503/429/409 with Retry-After, every request to it
    waits that long before going out, not only the one that was refused, so a
    busy region gets a breather instead of the other requests in flight.
    """

    def __init__(self) -> None:
        self._resume_at = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def wait(self) -> None:
        while (left := self._resume_at - time.monotonic()) > 0:
            time.sleep(left)


def send(
    client: httpx.Client, request: httpx.Request, transport: Transport, pace: Pace | None = None
) -> httpx.Response:
    """Send REQUEST, following same-origin redirects; return the streamed final response."""
    if transport.max_time is not None:
        request.extensions[DEADLINE] = time.monotonic() + transport.max_time
    for _ in range(MAX_REDIRECTS + 1):
        response = _send_with_retries(client, request, transport, pace)
        target = _redirect_target(response)
        if target is None:
            return response
        if not _same_origin(target, request.url):
            return _cross_origin(response, request, target, transport, pace)
        response.close()
        request = _redirected(client, request, response.status_code, target, signed=True)
    status = f"{response.status_code} {safe_line(response.reason_phrase)}"
    raise HTTPStatusError(
        response.status_code, f"{status}: more than {MAX_REDIRECTS} redirects, the last to {target}"
    )


def _send_with_retries(
    client: httpx.Client, request: httpx.Request, transport: Transport, pace: Pace | None = None
) -> httpx.Response:
    attempt = 0
    while True:
        if pace is not None:
            pace.wait()
        deadline = request.extensions.get(DEADLINE)
        if deadline is not None:
            request.extensions["timeout"] = deadline_timeouts(client.timeout, deadline)
        try:
            response = client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing reached the server; repeating a GET or DELETE is safe. A
            # TLS failure (an unknown CA, a wrong name) fails the same way again,
            # and so does a host name that does not resolve.
            if request.method not in IDEMPOTENT or attempt >= transport.retries:
                raise
            if _is_tls(exc) or unresolved(exc):
                raise
            attempt += 1
            wait = min(CONNECT_RETRY_FIRST_WAIT * 2 ** (attempt - 1), transport.retry_max_wait)
            _check_wait(request, wait)
            note(f"cannot connect; retrying in {wait:g} s")
            time.sleep(wait)
            continue
        wait = _retry_after(response)
        if wait is None or attempt >= transport.retries:
            return response
        response.close()
        attempt += 1
        wait = min(wait, transport.retry_max_wait)
        _check_wait(request, wait)
        note(
            f"{response.status_code} {safe_line(response.reason_phrase)}; "
            f"retrying in {wait:g} s ({attempt}/{transport.retries})"
        )
        if pace is None:
            time.sleep(wait)
        else:
            pace.pause(wait)  # the wait itself happens at the top of the loop


def _check_wait(request: httpx.Request, wait: float) -> None:
    """A retry that would end past --max-time is not started."""
    deadline = request.extensions.get(DEADLINE)
    if deadline is not None and time.monotonic() + wait > deadline:
        raise TimedOut("the transfer would take longer than --max-time; not retrying")


def _is_tls(exc: BaseException) -> bool:
    """True when an ssl error lies anywhere in the exception's chain of causes."""
    return any(isinstance(item, ssl.SSLError) for item in _causes(exc))


def unresolved(exc: BaseException) -> bool:
    """True when the host's name did not resolve (socket.gaierror in the chain of causes)."""
    import socket

    return any(isinstance(item, socket.gaierror) for item in _causes(exc))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait when the server asks for a retry (503 busy, 409 rolled back)."""
    value = response.headers.get("Retry-After")
    if response.status_code not in RETRY_STATUSES or value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _redirect_target(response: httpx.Response) -> httpx.URL | None:
    location = response.headers.get("Location")
    if not response.is_redirect or not location:
        return None
    try:
        return response.request.url.join(location)
    except httpx.InvalidURL:
        return None


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


_NEUTRAL_HEADERS = (
    "user-agent",
    "accept",
    "accept-encoding",
    "content-type",
    "content-length",
    "transfer-encoding",
)


def _redirected(
    client: httpx.Client, request: httpx.Request, status: int, target: httpx.URL, *, signed: bool
) -> httpx.Request:
    headers = httpx.Headers(request.headers)
    headers.pop("Host", None)
    headers.pop("Authorization", None)
    if not signed:
        # Another origin gets none of the user's own headers either (they may
        # hold tokens of their own): only what describes the request itself.
        headers = httpx.Headers({k: v for k, v in headers.items() if k.lower() in _NEUTRAL_HEADERS})
    method = request.method
    content: httpx.SyncByteStream | httpx.AsyncByteStream | None = request.stream
    if status in (301, 302, 303) and method not in ("GET", "HEAD"):
        # As browsers and curl do: the follow-up of a moved POST is a GET without body.
        method, content = "GET", None
        for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
            headers.pop(name, None)
    new = client.build_request(method, target, headers=headers)
    if content is not None:
        new.stream = content
    if DEADLINE in request.extensions:
        new.extensions[DEADLINE] = request.extensions[DEADLINE]
    return new


def _cross_origin(
    response: httpx.Response,
    request: httpx.Request,
    target: httpx.URL,
    transport: Transport,
    pace: Pace | None = None,
) -> httpx.Response:
    if not transport.follow_any:
        return response
    if request.url.scheme == "https" and target.scheme != "https":
        warn(f"not following a redirect from https to {target}")
        return response
    response.close()
    note(f"following redirect to {target} without credentials")
    other = open_client(transport, target.scheme, auth=None)
    try:
        moved = _redirected(other, request, response.status_code, target, signed=False)
        with transport_errors(str(target)):  # a failure there names that host
            answer = _send_with_retries(other, moved, transport, pace)
    except BaseException:
        other.close()
        raise
    answer.stream = _ClosingClient(answer.stream, other)
    return answer


class _ClosingClient(httpx.SyncByteStream):
    """A body that closes the client it came from when it is closed (read or not).

    The client for another origin serves that one answer; a fleet run would
    otherwise leave one open connection per redirect it followed.
    """

    def __init__(self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, client: httpx.Client):
        assert isinstance(stream, httpx.SyncByteStream)
        self.stream = stream
        self.client = client

    def __iter__(self) -> Iterator[bytes]:
        yield from self.stream

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            self.client.close()


@contextmanager
def transport_errors(url: str) -> Iterator[None]:
    """Turn httpx's exceptions into one-line errors with maascurl's exit codes."""
    try:
        yield
    except httpx.TimeoutException as exc:
        host, scheme = _where(exc, url)
        if isinstance(exc, httpx.ConnectTimeout):
            hint = _PLAIN_PORT_HINT if scheme == "https" and _handshake(exc) else ""
            raise TimedOut(f"timed out connecting to {host}{hint}") from None
        raise TimedOut(f"timed out waiting for {host}") from None
    except httpx.ConnectError as exc:
        if unresolved(exc):
            host = _where(exc, url)[0].rsplit(":", 1)[0]
            raise ConnectFailed(f"cannot resolve {host}: {_reason(exc)}") from None
        raise ConnectFailed(_connect_message(_where(exc, url)[0], exc)) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        host, scheme = _where(exc, url)
        hint = _TLS_PORT_HINT if scheme == "http" and _never_answered(exc) else ""
        raise ConnectFailed(
            f"connection to {host} broke: {exc or type(exc).__name__}{hint}"
        ) from None
    except httpx.ProxyError as exc:
        raise ConnectFailed(f"proxy error reaching {_where(exc, url)[0]}: {exc}") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise UsageError(str(exc)) from None
    except httpx.DecodingError as exc:
        # e.g. "Content-Encoding: gzip" on a body that is not gzip: a broken answer.
        raise ConnectFailed(
            f"the answer from {_where(exc, url)[0]} could not be decoded: {exc}"
        ) from None
    except httpx.TransportError as exc:
        host = _where(exc, url)[0]
        raise ConnectFailed(f"request to {host} failed: {exc or type(exc).__name__}") from None


_PLAIN_PORT_HINT = (
    " (the TLS handshake got no answer: is this a plain http port? "
    "MAAS serves http on 5240 and https on 5443)"
)
_PLAIN_ANSWER_HINT = _PLAIN_PORT_HINT.replace("got no answer", "got a plain-text answer")
_TLS_PORT_HINT = " (is this an https port? MAAS serves http on 5240 and https on 5443)"


def _where(exc: httpx.HTTPError, url: str) -> tuple[str, str]:
    """host:port and scheme of the request that failed: a redirect's target, if it was one."""
    try:
        where = exc.request.url
    except RuntimeError:  # no request attached
        where = httpx.URL(url)
    port = where.port or (443 if where.scheme == "https" else 80)
    return f"{where.host}:{port}", where.scheme


def _handshake(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "handshake" in text or "ssl" in text or _is_tls(exc)


def _never_answered(exc: BaseException) -> bool:
    # A TLS server given plain http closes the connection without a word.
    text = str(exc).lower()
    return "without sending" in text or "disconnected" in text or "reset" in text


def _connect_message(host: str, exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            f"TLS certificate of {host} could not be verified; give its CA with --cacert FILE "
            "(or skip the check with --insecure)"
        )
    if "WRONG_VERSION_NUMBER" in text:  # a plain-http answer to a TLS handshake
        return f"TLS failure with {host}: {text}{_PLAIN_ANSWER_HINT}"
    if "SSL" in text or "TLS" in text:
        return f"TLS failure with {host}: {text}"
    return f"cannot connect to {host}: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    """The OS's words without their errno ('[Errno -2] Name or service not known')."""
    text = str(exc)
    return text.split("] ", 1)[-1] if "] " in text else text
