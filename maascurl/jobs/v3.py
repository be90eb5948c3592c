"""What one call to MAAS's v3 API needs beyond a 2.0 call: its description, its errors.

jobs/call.py's perform comes here for a PATH under `v3/` (and imports this
module only then): the v3 description (api/openapi.py) is loaded, and
fetched when there is none or it is older than a day; a server without it
(MAAS 3.4 and older) answers the fetch with a 404, which says so. The
errors MAAS answers are made to say what to do (log in again, read the
ETag again, the path meant). The description comes through a connection
without credentials: it needs none, and a token is asked for only when a
request is really sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from maascurl.errors import HTTPStatusError, note, warn

if TYPE_CHECKING:
    from maascurl.api.openapi import V3Description
    from maascurl.profiles.target import Target
    from maascurl.wire.connection import Connection
    from maascurl.wire.request import RequestSpec

Opener = Callable[[], "Connection"]


def description(target: Target, fetch: Opener | None) -> V3Description | None:
    """The cached description; with FETCH (a connection without credentials), fetched when
    there is none or it is stale. Raises NoV3Api when the server has no v3 API."""
    from maascurl.api.openapi import is_stale, load_cached

    desc = load_cached(target.api_root)
    if fetch is None or (desc is not None and not is_stale(desc)):
        return desc
    fresh = _fetch(target, fetch, quiet=desc is not None)
    return fresh if fresh is not None else desc


def _fetch(target: Target, fetch: Opener, *, quiet: bool = False) -> V3Description | None:
    """The description fetched again, or None when that failed (it is only a help)."""
    from maascurl.api.openapi import fetch_openapi
    from maascurl.profiles.tokens import no_v3_api
    from maascurl.wire.connection import AnswerTooLarge

    try:
        fresh = fetch_openapi(fetch(), target.api_root)
    except (HTTPStatusError, AnswerTooLarge, ValueError) as exc:
        if not quiet:
            warn(f"could not read the v3 API's description ({exc}); the request is not checked")
        return None
    if fresh is None:
        raise no_v3_api(target.server)
    if not quiet:
        note(f"cached the v3 API's description ({len(fresh.paths)} paths)")
    return fresh


def refetched(target: Target, fetch: Opener, older_than: float) -> V3Description | None:
    """The description fetched again when the cached one is older than OLDER_THAN seconds
    (a refusal may come from a description older than the server), else None."""
    import time

    from maascurl.api.openapi import load_cached

    cached = load_cached(target.api_root)
    if cached is not None and time.time() - cached.fetched < older_than:
        return None
    fresh = _fetch(target, fetch, quiet=True)
    if fresh is not None:
        note("fetched the v3 API's description again to check this request")
    return fresh


def check(spec: RequestSpec, desc: V3Description, target: Target, typed: str) -> None:
    from maascurl.api.v3checks import check as check_v3

    check_v3(spec, desc, target.api_root, typed)


def explained(
    error: HTTPStatusError,
    spec: RequestSpec,
    target: Target,
    desc: V3Description | None,
    fetch: Opener,
) -> Exception:
    """ERROR with what to do about it: no v3 API, the path meant, a fresh login, the ETag."""
    relative = spec.url[len(target.api_root) :].partition("?")[0]
    if error.status == 404 and desc is None:
        from maascurl.api.openapi import fetch_openapi
        from maascurl.profiles.tokens import no_v3_api

        try:
            if fetch_openapi(fetch(), target.api_root) is None:
                return no_v3_api(target.server)
        except Exception:  # the 404 stands as it is
            return error
    if error.status == 404 and desc is not None and desc.match(relative) is None:
        guess = desc.suggest_path(relative)
        if guess is not None:
            return HTTPStatusError(404, f"{error}; did you mean v3/{guess}?")
    if error.status == 401 and target.profile is not None:
        from maascurl.profiles.tokens import login_command

        command = login_command(target.profile, target.profile.username)
        return HTTPStatusError(401, f"{error}; log in again: {command}")
    if error.status == 412:
        return HTTPStatusError(
            412,
            f"{error} The object changed since its ETag was read: read it again for the "
            "current one (or send with --if-match auto)",
        )
    return error


def current_etag(
    session: Connection,
    spec: RequestSpec,
    target: Target,
    desc: V3Description | None,
    fetch: Opener,
) -> str:
    """The ETag MAAS gives the object SPEC is about, read with a GET of its URL."""
    from maascurl.errors import MaascurlError
    from maascurl.wire.request import RequestSpec
    from maascurl.wire.status import status_error

    headers = [(n, v) for n, v in spec.headers if n.lower() != "content-type"]
    read = RequestSpec("GET", spec.url, headers=headers)
    response = session.send(read)
    with session.errors(read.url):
        try:
            if response.status_code != 200:
                raise explained(status_error(response), read, target, desc, fetch) from None
        finally:
            response.close()
    etag = response.headers.get("ETag")
    if not etag:
        relative = spec.url[len(target.api_root) :]
        raise MaascurlError(f"--if-match auto: MAAS gave no ETag for v3/{relative}")
    return str(etag)
