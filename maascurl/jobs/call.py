"""One API call from start to finish: profile, request, checks, send, output.

The Click layer hands over plain values; heavy modules (httpx, oauthlib) are
imported here only once a request is really going to be built or sent. What
is built on one call (--wait, a chunked upload) is not imported here: the
command layer hands it in as a Step (see perform).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from maascurl.errors import HTTPStatusError, note, warn
from maascurl.profiles.target import Target, connecting, explained, make_auth, resolve_target
from maascurl.show.terminal import OutputOptions
from maascurl.wire.connection import Connection
from maascurl.wire.request import RequestSpec, build_request
from maascurl.wire.settings import Transport

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.api.listings import ListingRecorder
    from maascurl.api.openapi import V3Description
    from maascurl.wire._httpx import httpx

    # The 2.0 API's describe/, or the v3 API's OpenAPI document (api/openapi.py).
    Description = ApiDescription | V3Description | None


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
    description: Description = None  # what it was checked against, if anything

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
    lazy = LazySession(target, options)
    try:
        desc = load_description(target, options, lazy)
        spec = build_request(
            method,
            target.api_root,
            path,
            items,
            desc,
            headers=options.headers,
            body=options.body,
            exact=options.no_check,
            v3=target.v3,
        )
        if options.verbose:
            for text in spec.notes:
                note(text)
        if desc is not None and not options.no_check:
            desc = checked(spec, desc, target, lazy if not options.offline else None, path)
        call = Checked(spec, target, options, lazy, desc)
        if any(step(call) for step in steps):  # in order, until one does the work
            return
        if options.offline:
            print_offline(spec, target, options)
            return
        _send_and_write(spec, lazy.get(), target, options, desc, path, lazy)
    finally:
        lazy.close()


def load_description(target: Target, options: CallOptions, lazy: LazySession) -> Description:
    """TARGET's cached description: the 2.0 API's (refreshed as its answers say), or the v3
    API's, fetched when there is none or it is stale (not with --offline or --no-check)."""
    if not target.v3:
        from maascurl.api.apidesc import load_cached

        return load_cached(target.api_root)
    from maascurl.jobs.v3 import description

    fetching = not (options.offline or options.no_check)
    return description(target, lazy.plain if fetching else None)


class LazySession:
    """One Session for a call, opened only once something is to be sent.

    `plain` is a connection to the same server without credentials, for what
    needs none (the v3 API's description).
    """

    def __init__(self, target: Target, options: CallOptions) -> None:
        self.target = target
        self.options = options
        self.session: Session | None = None
        self._plain: Connection | None = None

    def get(self) -> Session:
        if self.session is None:
            self.session = Session(self.target, self.options)
        return self.session

    def plain(self) -> Connection:
        if self._plain is None:
            self._plain = Session(self.target, self.options, anonymous=True)
        return self._plain

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        if self._plain is not None:
            self._plain.close()


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
    desc: Description,
    target: Target,
    lazy: LazySession | None,
    typed: str,
) -> Description:
    """Check SPEC; before refusing it, fetch a description older than a minute once.

    A MAAS upgrade adds ops (and v3 paths) that an older cached description
    does not know. Without LAZY (--offline) nothing is fetched.
    """
    from maascurl.api.checks import NotInDescription

    check = _v3_check if target.v3 else _v2_check
    try:
        check(spec, desc, target, typed)
        return desc
    except NotInDescription:
        fresh = _fetch_if_old(target, lazy) if lazy is not None else None
        if fresh is None:
            raise
    check(spec, fresh, target, typed)
    return fresh


def _v2_check(spec: RequestSpec, desc: Description, target: Target, typed: str) -> None:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.api.checks import check

    assert isinstance(desc, ApiDescription)
    check(spec, desc, target.api_root, typed)


def _v3_check(spec: RequestSpec, desc: Description, target: Target, typed: str) -> None:
    from maascurl.api.openapi import V3Description
    from maascurl.jobs.v3 import check

    assert isinstance(desc, V3Description)
    check(spec, desc, target, typed)


def _fetch_if_old(target: Target, lazy: LazySession) -> Description:
    if target.v3:
        from maascurl.jobs.v3 import refetched

        return refetched(target, lazy.plain, RECHECK_AFTER)
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
        fresh = fetch_description(lazy.get(), target.api_root)
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

    Signed with the profile's key (unless --anonymous or ANONYMOUS), or for
    the v3 API with its token; verbose with -v, and warning when the key is
    not protected.
    """

    def __init__(self, target: Target, options: CallOptions, *, anonymous: bool = False) -> None:
        hooks: dict[str, list[Callable[..., object]]] | None = None
        if options.verbose:
            from maascurl.show.output import log_request, log_response

            hooks = {"request": [log_request], "response": [log_response]}
        unsigned = options.anonymous or anonymous
        transport, scheme, auth = connecting(target, options.transport, unsigned, hooks)
        super().__init__(transport, scheme, auth, hooks, track=_track)
        self.target = target
        self.auth = auth
        self.signed = auth is not None

    def close(self) -> None:
        try:
            super().close()
        finally:
            source = getattr(self.auth, "source", None)  # the v3 API's tokens
            if source is not None:
                source.close()

    def explained(self, error: HTTPStatusError) -> HTTPStatusError:
        """ERROR with the next step for this profile (a refused key: log in again). The v3
        API's errors are explained by jobs/v3.py: its 401 asks for a password login."""
        if self.target.v3:
            return error
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
    desc: Description,
    typed: str = "",
    lazy: LazySession | None = None,
) -> None:
    from maascurl.show.output import write_response

    response = session.send(spec)
    with session.errors(spec.url):
        v2_desc = None if target.v3 else cast("ApiDescription | None", desc)
        recorder = None if target.v3 else _listing_recorder(spec, response, target, v2_desc)
        try:
            write_response(response, options.output)
        except HTTPStatusError as exc:
            error = _explained(exc, spec, target, desc, typed, lazy, options.no_check)
            if isinstance(error, HTTPStatusError):
                error = session.explained(error)
            raise error from None
        finally:
            response.close()
        if recorder is not None:
            recorder.save()
        if target.v3:
            return
        if v2_desc is not None or _cache_is_damaged(target.api_root):
            refresh_if_stale(session, response, target.api_root, v2_desc)


def explained_error(exc: HTTPStatusError, call: Checked) -> Exception:
    """EXC, an error answer to CALL's request, with what to do about it (the path meant,
    and for the v3 API a fresh login or the ETag)."""
    return _explained(exc, call.spec, call.target, call.description, "", call.lazy)


def _explained(
    exc: HTTPStatusError,
    spec: RequestSpec,
    target: Target,
    desc: Description,
    typed: str,
    lazy: LazySession | None,
    exact: bool = False,
) -> Exception:
    if not target.v3:
        return _with_path_hint(exc, spec, target, desc, typed, exact)
    from maascurl.api.openapi import V3Description
    from maascurl.jobs.v3 import explained

    plain = lazy.plain if lazy is not None else LazySession(target, CallOptions()).plain
    return explained(exc, spec, target, desc if isinstance(desc, V3Description) else None, plain)


def _with_path_hint(
    exc: HTTPStatusError,
    spec: RequestSpec,
    target: Target,
    desc: Description,
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
    profile = session.target.profile
    if profile is not None:
        _forget_v3_description(profile.v3_root)


def _forget_v3_description(v3_root: str) -> None:
    """An upgraded server's v3 API has changed too: its next request fetches the document."""
    from maascurl.api.apidesc import cache_file

    with suppress(OSError):
        cache_file(v3_root, kind="openapi").unlink()
