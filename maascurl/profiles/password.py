"""Log in with a username and password: MAAS hands out the user's API token.

MAAS's `accounts/authenticate/` view lives under the MAAS root, beside the API,
and says it exists with the `authenticate-api` capability of `version/`. It
takes the form fields `username`, `password` and `consumer`, and answers with
the first token whose consumer has that name, making one when there is none:
logging in again from the same machine gets the same key back instead of
piling up tokens. The key is then stored, checked and used exactly like a key
given to `login` directly.

The password comes from a hidden prompt or from stdin, never from the command
line (where the process list shows it); it is sent once and never stored or
printed. No cookie is sent: with none, MAAS skips Django's CSRF check.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlencode

from maascurl.errors import HTTPStatusError, MaascurlError, UsageError, register_secret, warn
from maascurl.profiles.config import (
    Profile,
    load_config,
)
from maascurl.profiles.target import Target, connecting, is_cleartext
from maascurl.wire.request import RawBody, RequestSpec
from maascurl.wire.settings import Transport

if TYPE_CHECKING:
    from maascurl.profiles.tokens import Stored
    from maascurl.wire.connection import Connection

CAPABILITY = "authenticate-api"
AUTHENTICATE_PATH = "/accounts/authenticate/"  # under the MAAS root, not the API root
REFUSED = "MAAS refused the username or password"
# Its answers here (version/, the token) are a few hundred bytes.
ANSWER_LIMIT = 1024 * 1024


def password_login(
    name: str,
    url: str,
    username: str,
    password_source: str | None,
    insecure: bool,
    cacert: str | None,
    timeout: float,
) -> None:
    """`login NAME URL --username USER`: trade the password for a key, then log in with it."""
    from maascurl.profiles.login import check_and_save, new_profile

    profile = new_profile(name, url, insecure, cacert)
    check_password_source(password_source)
    if not username:
        raise UsageError("--username needs a user name")
    load_config()  # refuse early, before any network work, when the config is unreadable
    _warn_cleartext(profile.url)
    with _open_session(profile, timeout) as session:
        check_capability(session, profile)
        password = read_password(password_source, username)
        profile.api_key = authenticate(session, profile, username, password)
        v3 = _v3_login(session, profile, username, password)
    profile.username = username  # whom the v3 API asks for a password again
    profile.key()  # a well-formed key, its secrets registered for redaction
    check_and_save(profile, timeout)
    _keep_v3(profile, v3)


def _v3_login(session: Connection, profile: Profile, username: str, password: str) -> V3Login:
    """The v3 API's description and tokens for the same password, where the server has
    that API: its OpenAPI document (no credentials) says so before the password goes."""
    from maascurl.api.openapi import fetch_openapi
    from maascurl.profiles.tokens import v3_login

    try:
        desc = fetch_openapi(session, profile.v3_root)
        if desc is None:
            return V3Login(None, 0)  # MAAS 3.4 and older: nothing more is sent
        return V3Login(v3_login(session, profile, username, password), len(desc.paths))
    except (MaascurlError, ValueError) as exc:  # the key is what login is for
        warn(f"could not log in to the v3 API ({exc}); v3/ requests will ask again")
        return V3Login(None, 0)


class V3Login(NamedTuple):
    tokens: Stored | None
    paths: int  # in its cached description


def _keep_v3(profile: Profile, v3: V3Login) -> None:
    """Keep the v3 tokens, or forget older ones."""
    from maascurl.profiles import tokens
    from maascurl.profiles.login import tell

    if v3.tokens is None:
        tokens.forget(profile.name)
        return
    tokens.save(profile, v3.tokens)
    tell("logged in to the v3 API too (its token is kept, never the password)")
    tell(f"cached the v3 API's description ({v3.paths} paths)")


def check_password_source(source: str | None) -> None:
    """Only '-' (stdin) may follow --password: a password in argv is in the process list."""
    if source is not None and source != "-":
        # The value is not repeated: it is a password.
        raise UsageError(
            "a password is never taken from the command line; use --password - to read it "
            "from stdin, or leave --password out to be asked for it"
        )


def read_password(source: str | None, username: str) -> str:
    """The password from stdin ('-') or from a hidden prompt on the terminal."""
    if source == "-":
        password = sys.stdin.readline().rstrip("\r\n")  # spaces may belong to it
    else:
        import click

        password = click.prompt(f"Password for {username}", hide_input=True, err=True)
    if not password:
        raise UsageError("no password given")
    register_secret(password, any_length=True)
    return password


def consumer_name() -> str:
    """The token's name in MAAS: tells the operator where it went (and reuses it next time)."""
    return f"maascurl@{socket.gethostname()}"


def _open_session(profile: Profile, timeout: float) -> Connection:
    from maascurl.wire.connection import Connection

    transport = Transport(
        insecure=profile.insecure, cacert=profile.cacert, timeout=timeout, retries=1
    )
    target = Target(profile.api_root, profile)
    return Connection(*connecting(target, transport, anonymous=True))  # nothing to sign with yet


def check_capability(session: Connection, profile: Profile) -> None:
    url = profile.api_root + "version/"
    body = _read_answer(session, RequestSpec("GET", url))
    try:
        capabilities = json.loads(body)["capabilities"]
        if not isinstance(capabilities, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise MaascurlError(f"{url} did not answer like a MAAS server") from None
    if CAPABILITY not in capabilities:
        raise MaascurlError(
            f"the MAAS server at {profile.url} does not offer password login "
            f"(no {CAPABILITY!r} capability); take an API key from the web UI (your "
            "preferences, API keys) or from `sudo maas apikey --username NAME` on the "
            "region host, and give it to `maascurl login PROFILE URL`"
        )


def authenticate(session: Connection, profile: Profile, username: str, password: str) -> str:
    """POST the credentials to MAAS; return the API key it answers with."""
    form = {"username": username, "password": password, "consumer": consumer_name()}
    spec = RequestSpec(
        "POST",
        profile.url + AUTHENTICATE_PATH,
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=RawBody(content=urlencode(form).encode("utf-8")),
    )
    body = _read_answer(session, spec)
    try:
        token = json.loads(body)
        parts = [token[field] for field in ("consumer_key", "token_key", "token_secret")]
        if not all(isinstance(part, str) for part in parts):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise MaascurlError(f"{spec.url} did not answer like a MAAS server") from None
    return ":".join(parts)


def _read_answer(session: Connection, spec: RequestSpec) -> bytes:
    """The body of a 200 answer to SPEC; anything else is an error with its exit code."""
    try:
        return session.read_capped(spec, ANSWER_LIMIT)
    except HTTPStatusError as error:
        if error.status == 403 and spec.method == "POST":
            raise HTTPStatusError(403, REFUSED) from None
        raise


def _warn_cleartext(url: str) -> None:
    if is_cleartext(url):
        warn(f"{url} is plain http: the password travels in clear text; use https if you can")
