"""One API call from start to finish: profile, request, checks, send, output.

The Click layer hands over plain values; heavy modules (httpx, oauthlib) are
imported here only once a request is really going to be built or sent. What
is built on one call (--wait, a chunked upload) is not imported here: the
command layer hands it in as a Step (see perform).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from maascurl.errors import HTTPStatusError, note, warn
from maascurl.profiles.target import Target, connecting, explained, make_auth, resolve_target
from maascurl.show.terminal import OutputOptions
from maascurl.wire.connection import Connection
from maascurl.wire.request import RequestSpec, build_request
from maascurl.wire.settings import Transport

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.api.listings import ListingRecorder
    from maascurl.wire._httpx import httpx


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


@dataclass
class Checked:
    """One request built and checked, on its way: what a Step sees."""

    spec: RequestSpec
    target: Target
    options: CallOptions
    lazy: LazySession

    def session(self) -> Session:
        return self.lazy.get()


# Work the command layer puts in place of sending a call's request and writing
# its answer (--wait; a big boot-image upload in chunks, jobs/upload.py): it
# returns True when it did the call's work, False to leave it to the next step
# and finally to perform() itself. A step sees --offline and decides.
Step = Callable[[Checked], bool]


def perform(
    method: str, path: str, items: list[str], options: CallOptions, steps: Sequence[Step] = ()
) -> None:
    """One call: build and check the request, then let STEPS take it over or send it."""
    target = resolve_target(options.profile, path, anonymous=options.anonymous)
    from maascurl.api.apidesc import load_cached

    desc = load_cached(target.api_root)
    spec = build_request(
        method,
        target.api_root,
        path,
        items,
        desc,
        headers=options.headers,
        body=options.body,
        exact=options.no_check,
    )
    if options.verbose:
        for text in spec.notes:
            note(text)
    lazy = LazySession(target, options)
    try:
        if desc is not None and not options.no_check:
            desc = checked(spec, desc, target, lazy.get if not options.offline else None, path)
        call = Checked(spec, target, options, lazy)
        if any(step(call) for step in steps):  # in order, until one does the work
            return
        if options.offline:
            print_offline(spec, target, options)
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

    from maascurl.api.apidesc import cache_file
    from maascurl.api.fetch import fetch_description
    from maascurl.wire.connection import AnswerTooLarge

    try:
        age = time.time() - cache_file(target.api_root).stat().st_mtime
    except OSError:
        age = RECHECK_AFTER
    if age < RECHECK_AFTER:
        return None
    try:
        fresh = fetch_description(open_session(), target.api_root)
    except (HTTPStatusError, AnswerTooLarge, ValueError):
        return None  # the refusal stands, as checked against the cached description
    note("fetched the server's API description again to check this request")
    return fresh


def print_offline(spec: RequestSpec, target: Target, options: CallOptions) -> None:
    from maascurl.show.output import describe_request, raw_headers
    from maascurl.wire.client import open_client, to_httpx

    auth = make_auth(target, options.anonymous)
    with open_client(Transport(), "http", None) as client:  # builds, never sends
        request = to_httpx(client, spec)
    if auth is not None:
        auth.sign(request)
    headers = [(n, v) for n, v in raw_headers(request.headers) if n.lower() != "host"]
    describe_request(spec, headers, sys.stdout)


def _track(body: Iterable[bytes], label: str, total: int) -> Iterable[bytes]:
    """A multipart body with files, drawn as a bar (show/progress.py), imported only then."""
    from maascurl.show.progress import tracked

    return tracked(body, label, total)


class Session(Connection):
    """A Connection to TARGET for one call, or for thousands in a fleet run (wire/connection.py).

    Signed with the profile's key (unless --anonymous), verbose with -v, and
    warning when the key is not protected.
    """

    def __init__(self, target: Target, options: CallOptions) -> None:
        hooks: dict[str, list[Callable[..., object]]] | None = None
        if options.verbose:
            from maascurl.show.output import log_request, log_response

            hooks = {"request": [log_request], "response": [log_response]}
        transport, scheme, auth = connecting(target, options.transport, options.anonymous)
        super().__init__(transport, scheme, auth, hooks, track=_track)
        self.target = target
        self.signed = auth is not None

    def explained(self, error: HTTPStatusError) -> HTTPStatusError:
        """ERROR with the next step for this profile (a refused key: log in again)."""
        return explained(error, self.target, self.signed)

    def read(self, spec: RequestSpec, limit: int) -> httpx.Response:
        try:
            return super().read(spec, limit)
        except HTTPStatusError as error:
            raise self.explained(error) from None

    def read_capped(
        self, spec: RequestSpec, limit: int, transport: Transport | None = None
    ) -> bytes:
        try:
            return super().read_capped(spec, limit, transport)
        except HTTPStatusError as error:
            raise self.explained(error) from None


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
            raise session.explained(
                _with_path_hint(exc, spec, target, desc, typed, options.no_check)
            ) from None
        finally:
            response.close()
        if recorder is not None:
            recorder.save()
        if desc is not None or _cache_is_damaged(target.api_root):
            refresh_if_stale(session, response, target.api_root, desc)


def _with_path_hint(
    exc: HTTPStatusError,
    spec: RequestSpec,
    target: Target,
    desc: ApiDescription | None,
    typed: str,
    exact: bool = False,
) -> HTTPStatusError:
    """A 404 for a path the description does not know: say which one was likely meant.

    EXACT (--no-check sent the path as typed): a path that lacks the trailing
    slash MAAS's paths have is named with it.
    """
    relative = spec.url[len(target.api_root) :]
    if exc.status != 404:
        return exc
    if exact and relative and not relative.endswith("/"):
        slashed = desc.canonical(relative, op_suffix=False) if desc is not None else None
        slashed = slashed if slashed is not None else relative + "/"
        if slashed.endswith("/"):
            return HTTPStatusError(
                exc.status, f"{exc}; --no-check sends PATH as typed: did you mean {slashed}?"
            )
    if desc is None or desc.match(relative, op_suffix=False) is not None:
        return exc
    suggestion = desc.suggest_path(relative)
    if suggestion is None:
        return exc
    return HTTPStatusError(exc.status, f"{exc}; did you mean {suggestion}?", html=exc.html)


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
    session: Session, response: httpx.Response, api_root: str, desc: ApiDescription | None
) -> None:
    """Every MAAS answer names its API's hash: refresh the cache when it changed.

    Sent once, without retries: the user's call is done, and a refresh that
    fails is only a note.
    """
    server_hash = response.headers.get("X-MAAS-API-Hash")
    if not server_hash or (desc is not None and server_hash == desc.hash):
        return
    from dataclasses import replace

    from maascurl.api.fetch import fetch_description

    try:
        fetch_description(session, api_root, replace(session.transport, retries=0))
    except Exception:  # the user's call succeeded; a failed refresh is only a note
        warn("the server's API changed and the cached description is stale; run `maascurl refresh`")
        return
    note("the server's API changed; refreshed its cached description")
