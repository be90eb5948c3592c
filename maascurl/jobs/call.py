"""One API call from start to finish: profile, request, checks, send, output.

The Click layer hands over plain values; heavy modules (httpx, oauthlib) are
imported here only once a request is really going to be built or sent.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from maascurl.errors import ConfigError, HTTPStatusError, UsageError, note, warn
from maascurl.profiles.config import Profile, select_profile
from maascurl.show.terminal import OutputOptions
from maascurl.wire.request import RequestSpec, build_request
from maascurl.wire.settings import Transport

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.api.listings import ListingRecorder
    from maascurl.jobs.wait import WaitOptions
    from maascurl.wire._httpx import httpx
    from maascurl.wire.auth import MaasAuth
    from maascurl.wire.client import Pace


@dataclass
class CallOptions:
    profile: str | None = None
    anonymous: bool = False
    verbose: bool = False
    offline: bool = False
    transport: Transport = field(default_factory=Transport)
    output: OutputOptions = field(default_factory=OutputOptions)
    headers: tuple[str, ...] = ()  # -H values
    body: str | None = None  # --body FILE or -
    no_check: bool = False
    quiet: bool = False
    wait: WaitOptions | None = None  # --wait: see wait.py


@dataclass
class Target:
    """Where requests go: a profile's server, or a bare URL for anonymous calls."""

    api_root: str
    profile: Profile | None

    @property
    def state_key(self) -> str:
        name = self.profile.name if self.profile else "(anonymous)"
        return f"{name}@{self.api_root}"


def resolve_target(options: CallOptions, path: str) -> Target:
    try:
        profile = select_profile(options.profile)
    except ConfigError:
        if options.anonymous and "://" in path and options.profile is None:
            return Target(_api_root_from_url(path), None)
        raise
    return Target(profile.api_root, profile)


def _api_root_from_url(url: str) -> str:
    marker = url.find("/api/2.0/")
    if marker < 0:
        raise UsageError(f"cannot tell the API root of {url!r}: expected .../api/2.0/...")
    return url[: marker + len("/api/2.0/")]


def perform(method: str, path: str, items: list[str], options: CallOptions) -> None:
    target = resolve_target(options, path)
    from maascurl.api.apidesc import load_cached

    desc = load_cached(target.api_root)
    spec = build_request(
        method, target.api_root, path, items, desc, headers=options.headers, body=options.body
    )
    lazy = LazySession(target, options)
    try:
        if desc is not None and not options.no_check:
            desc = checked(spec, desc, target, lazy.get if not options.offline else None, path)
        if _upload_in_chunks(spec, target, options):
            return
        if options.offline:
            _print_offline(spec, target, options)
            return
        if options.wait is not None:
            from maascurl.jobs.wait import send_and_wait

            send_and_wait(spec, lazy.get(), options, options.wait)
            return
        _send_and_write(spec, lazy.get(), target, options, desc, path)
    finally:
        lazy.close()


class LazySession:
    """One Session for a call, opened only once something is to be sent."""

    def __init__(self, target: Target, options: CallOptions) -> None:
        self.target = target
        self.options = options
        self.session: Session | None = None

    def get(self) -> Session:
        if self.session is None:
            self.session = Session(self.target, self.options)
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _upload_in_chunks(spec: RequestSpec, target: Target, options: CallOptions) -> bool:
    """A big boot-resource create goes the way `upload-image` sends it (upload.py)."""
    if spec.method != "POST" or not spec.files:
        return False  # the common case decides without importing upload.py
    from maascurl.jobs.upload import chunked_job, upload_image

    job = chunked_job(spec, target.api_root)
    if job is None:
        return False
    if options.offline:
        note("sent for real, this upload goes in chunks, as `maascurl upload-image` sends it")
        return False
    upload_image(job, options, target)
    return True


def check_against_description(
    spec: RequestSpec, desc: ApiDescription, api_root: str, typed: str
) -> None:
    """Refuse an op the resource lacks; warn of likely typos in field names."""
    from maascurl.api.checks import check

    check(spec, desc, api_root, typed)


# A description younger than this is not fetched again to recheck a refusal.
RECHECK_AFTER = 60.0


def checked(
    spec: RequestSpec,
    desc: ApiDescription,
    target: Target,
    open_session: Callable[[], Session] | None,
    typed: str,
) -> ApiDescription:
    """Check SPEC; before refusing it, fetch a description older than a minute once.

    A MAAS upgrade adds ops that an older cached description does not know.
    Without OPEN_SESSION (--offline) nothing is fetched.
    """
    from maascurl.api.checks import NotInDescription, check

    try:
        check(spec, desc, target.api_root, typed)
        return desc
    except NotInDescription:
        fresh = _fetch_if_old(target, open_session) if open_session is not None else None
        if fresh is None:
            raise
    check(spec, fresh, target.api_root, typed)
    return fresh


def _fetch_if_old(target: Target, open_session: Callable[[], Session]) -> ApiDescription | None:
    import time

    from maascurl.api.apidesc import cache_file, save_cache

    try:
        age = time.time() - cache_file(target.api_root).stat().st_mtime
    except OSError:
        age = RECHECK_AFTER
    if age < RECHECK_AFTER:
        return None
    session = open_session()
    response = session.send(RequestSpec("GET", target.api_root + "describe/"))
    from maascurl.profiles.login import DESCRIBE_LIMIT
    from maascurl.wire.bounded import read_capped

    with session.errors(target.api_root):
        body, more = read_capped(response, DESCRIBE_LIMIT)  # a hostile one may be endless
    if response.status_code != 200 or more:
        return None
    try:
        fresh = save_cache(target.api_root, body)
    except ValueError:
        return None
    note("fetched the server's API description again to check this request")
    return fresh


def make_auth(target: Target, anonymous: bool) -> MaasAuth | None:
    if anonymous or target.profile is None or target.profile.anonymous:
        return None
    from maascurl.profiles import state
    from maascurl.wire.auth import Clock, MaasAuth

    key = target.profile.key()

    def corrected(offset: float) -> None:
        warn(f"this machine's clock is {offset:.0f} s behind the MAAS server; corrected")
        state.save_clock_offset(target.state_key, offset)

    def forgotten() -> None:
        state.save_clock_offset(target.state_key, 0.0)

    return MaasAuth(key, Clock(state.clock_offset(target.state_key), corrected, forgotten))


def _print_offline(spec: RequestSpec, target: Target, options: CallOptions) -> None:
    from maascurl.show.output import describe_request, raw_headers
    from maascurl.wire.client import open_client, to_httpx

    auth = make_auth(target, options.anonymous)
    with open_client(Transport(), "http", None) as client:  # builds, never sends
        request = to_httpx(client, spec)
    if auth is not None:
        auth.sign(request)
    headers = [(n, v) for n, v in raw_headers(request.headers) if n.lower() != "host"]
    describe_request(spec, headers, sys.stdout)


class Session:
    """A kept-alive connection pool to one target, shared by one request or thousands.

    Every request sent through it is signed afresh (own nonce and timestamp)
    and gets what a single call gets: timeouts, clock-skew recovery,
    Retry-After retries and same-origin redirects. httpx's client is
    thread-safe, so fleet runs send from several threads through one Session.
    Errors come out as MaascurlError with maascurl's exit codes.
    """

    def __init__(self, target: Target, options: CallOptions) -> None:
        from maascurl.show.output import log_request, log_response
        from maascurl.wire.client import open_client

        self.target = target
        self.transport = options.transport.for_profile(target.profile)
        hooks: dict[str, list[Callable[..., object]]] | None = None
        if options.verbose:
            hooks = {"request": [log_request], "response": [log_response]}
        scheme = target.api_root.split(":", 1)[0]
        _warn_transport(target, self.transport, scheme)
        auth = make_auth(target, options.anonymous)
        self.client = open_client(self.transport, scheme, auth, hooks)
        # A fleet run gives its Sessions a Pace: Retry-After then slows every
        # request to this server, not only the refused one.
        self.pace: Pace | None = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def send(self, spec: RequestSpec) -> httpx.Response:
        """Send SPEC; return the streamed final response (the caller closes it)."""
        from maascurl.wire.client import send, to_httpx, transport_errors

        with transport_errors(spec.url):
            request = to_httpx(self.client, spec, _track)
            return send(self.client, request, self.transport, self.pace)

    def read(self, spec: RequestSpec) -> httpx.Response:
        """Send SPEC and read its whole answer; raise the server's error for anything but 2xx."""
        from maascurl.wire.status import status_error

        response = self.send(spec)
        with self.errors(spec.url):
            try:
                if not 200 <= response.status_code < 300:
                    raise status_error(response)
                response.read()
            finally:
                response.close()
        return response

    @contextmanager
    def errors(self, url: str) -> Iterator[None]:
        """Map transport failures while a response body is being read."""
        from maascurl.wire.client import transport_errors

        with transport_errors(url):
            yield


def _track(body: Iterable[bytes], label: str, total: int) -> Iterable[bytes]:
    """A multipart body with files, drawn as a bar (show/progress.py), imported only then."""
    from maascurl.show.progress import tracked

    return tracked(body, label, total)


def _warn_transport(target: Target, transport: Transport, scheme: str) -> None:
    """Say when the key is not protected: TLS unchecked, or plain http from the environment."""
    from maascurl.profiles.config import ENVIRONMENT_PROFILE

    profile = target.profile
    if transport.insecure and scheme == "https":
        saved = " (saved in the profile)" if profile is not None and profile.insecure else ""
        warn(f"TLS certificate verification is off (--insecure){saved}")
    if profile is not None and profile.name == ENVIRONMENT_PROFILE:
        from maascurl.profiles.login import _warn_cleartext

        _warn_cleartext(profile.url)  # `login` says it once for saved profiles


def _send_and_write(
    spec: RequestSpec,
    session: Session,
    target: Target,
    options: CallOptions,
    desc: ApiDescription | None,
    typed: str = "",
) -> None:
    from maascurl.show.output import write_response

    response = session.send(spec)
    with session.errors(spec.url):
        recorder = _listing_recorder(spec, response, target, desc)
        try:
            write_response(response, options.output)
        except HTTPStatusError as exc:
            raise _with_path_hint(exc, spec, target, desc, typed) from None
        finally:
            response.close()
        if recorder is not None:
            recorder.save()
        if desc is not None or _cache_is_damaged(target.api_root):
            refresh_if_stale(session.client, response, target.api_root, desc)


def _with_path_hint(
    exc: HTTPStatusError,
    spec: RequestSpec,
    target: Target,
    desc: ApiDescription | None,
    typed: str,
) -> HTTPStatusError:
    """A 404 for a path the description does not know: say which one was likely meant."""
    relative = spec.url[len(target.api_root) :]
    if exc.status != 404 or desc is None or desc.match(relative) is not None:
        return exc
    suggestion = desc.suggest_path(relative)
    if suggestion is None:
        return exc
    return HTTPStatusError(exc.status, f"{exc}; did you mean {suggestion}?")


def _listing_recorder(
    spec: RequestSpec, response: httpx.Response, target: Target, desc: ApiDescription | None
) -> ListingRecorder | None:
    # Only a plain listing (no op, no filter) stands for the whole collection.
    if desc is None or spec.method != "GET" or spec.query or response.status_code != 200:
        return None
    from maascurl.api.listings import ListingRecorder

    return ListingRecorder.attach(response, desc, target.api_root, spec)


def _cache_is_damaged(api_root: str) -> bool:
    """A cache file that load_cached refused: replace it rather than ignore it forever."""
    from maascurl.api.apidesc import cache_file

    return cache_file(api_root).exists()


def refresh_if_stale(
    client: httpx.Client, response: httpx.Response, api_root: str, desc: ApiDescription | None
) -> None:
    """Every MAAS answer names its API's hash: refresh the cache when it changed."""
    server_hash = response.headers.get("X-MAAS-API-Hash")
    if not server_hash or (desc is not None and server_hash == desc.hash):
        return
    from maascurl.api.apidesc import save_cache
    from maascurl.profiles.login import DESCRIBE_LIMIT
    from maascurl.wire.bounded import read_capped

    try:
        with client.stream("GET", api_root + "describe/") as fresh:
            fresh.raise_for_status()
            body, more = read_capped(fresh, DESCRIBE_LIMIT)
        if more:
            raise ValueError("the API description is too large")
        save_cache(api_root, body)
    except Exception:  # the user's call succeeded; a failed refresh is only a note
        warn("the server's API changed and the cached description is stale; run `maascurl refresh`")
        return
    note("the server's API changed; refreshed its cached description")
