"""Tokens for MAAS's v3 API, per profile: kept (never the password), renewed, refreshed.

MAAS 3.5 and later serve a second API under `/MAAS/a/v3/` that takes no
OAuth signature: a password login (`POST auth/login`, form fields `username`
and `password`) answers with a JWT that lasts ten minutes, sent as
`Authorization: Bearer JWT`, and from MAAS 3.8 also with a refresh token.
`maascurl login NAME URL --username U` logs in there too (profiles/password.py)
and the tokens are kept here: one file per profile in the cache directory
(`tokens/NAME.json`, mode 0600 in a 0700 directory, replaced atomically).

Before each v3 request (V3Tokens.token):

- a token with more than RENEW_BEFORE seconds left is used as it is;
- one about to expire is renewed: `GET auth/access_token` with it answers
  with a fresh one (MAAS renews only a token that is still valid);
- an expired one is refreshed (MAAS 3.8): a request that carries the refresh
  token in the cookie `maas.local_refresh_token_cookie` is served despite
  the expired JWT and answers with a new one;
- failing those, a terminal is asked for the password (the v3 login alone),
  and a script stops with exit 4 and the exact login command to run.

A request answered 401 all the same (the server's clock runs ahead, its key
changed) gets one more token by the last two ways (V3Tokens.rejected).
Every token is registered as a secret (errors.py): never printed. These extra
requests go through a connection of their own, shown by -v like any other.
Imported only for v3 requests, login and logout.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from maascurl.errors import (
    EXIT_HTTP_4XX,
    HTTPStatusError,
    MaascurlError,
    UsageError,
    register_secret,
    warn,
)
from maascurl.profiles.config import ENVIRONMENT_PROFILE, Profile
from maascurl.wire.request import RawBody, RequestSpec

if TYPE_CHECKING:
    from maascurl.wire.connection import Connection
    from maascurl.wire.settings import Transport

LOGIN_PATH = "auth/login"  # under the v3 root
RENEW_PATH = "auth/access_token"
REFRESH_COOKIE = "maas.local_refresh_token_cookie"  # MAAS 3.8
JWT_COOKIE = "maas.local_jwt_token_cookie"
RENEW_BEFORE = 120.0  # seconds: a token with less left is renewed first
DEFAULT_LIFETIME = 600.0  # MAAS's, when a token's own claims do not say
ANSWER_LIMIT = 1024 * 1024  # a token answer is a few hundred bytes
REFUSED = "MAAS refused the username or password"

Hooks = dict[str, list[Callable[..., object]]]


class NeedsLogin(MaascurlError):
    """No valid v3 token and no way to get one here: the message says what to run."""

    exit_code = EXIT_HTTP_4XX


class NoV3Api(MaascurlError):
    """The server has no v3 API (MAAS 3.4 and older)."""

    exit_code = EXIT_HTTP_4XX


def no_v3_api(url: str) -> NoV3Api:
    return NoV3Api(
        f"this MAAS ({url}) has no v3 API: MAAS 3.5 and later serve it under /MAAS/a/v3/; "
        "its 2.0 API takes PATHs without v3/"
    )


# --------------------------------------------------------------- the stored tokens


@dataclass
class Stored:
    """What is kept for a profile: never the password."""

    url: str  # the v3 root they are for
    username: str
    access_token: str
    expires: float  # this machine's clock, estimated when the token came
    refresh_token: str | None = None

    def left(self) -> float:
        return self.expires - time.time()


def tokens_dir(cache: Path | None = None) -> Path:
    """Where the tokens are kept: `tokens/` in CACHE, else in the cache directory."""
    from maascurl.api.apidesc import cache_dir

    return (cache or cache_dir()) / "tokens"


def tokens_path(profile_name: str, cache: Path | None = None) -> Path:
    return tokens_dir(cache) / f"{profile_name}.json"


def load(profile: Profile) -> Stored | None:
    """The tokens kept for PROFILE, or None (none, another server's, or a damaged file)."""
    from maascurl.api.apidesc import open_cached

    try:
        with open_cached(tokens_path(profile.name)) as stream:
            data = json.loads(stream.read())
        stored = Stored(
            url=str(data["url"]),
            username=str(data["username"]),
            access_token=str(data["access_token"]),
            expires=float(data["expires"]),
            refresh_token=data.get("refresh_token") or None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stored.url != profile.v3_root or not stored.access_token:
        return None
    for secret in (stored.access_token, stored.refresh_token):
        if isinstance(secret, str):
            register_secret(secret)
    return stored


def save(profile: Profile, stored: Stored, cache: Path | None = None) -> None:
    """Keep STORED for PROFILE: mode 0600, replaced atomically; a failure is a warning.

    In CACHE (the sandbox's private cache for its commands), else the cache directory.
    """
    import tempfile

    from maascurl.dirs import make_private_dirs

    path = tokens_path(profile.name, cache)
    data = {
        "url": stored.url,
        "username": stored.username,
        "access_token": stored.access_token,
        "expires": stored.expires,
    }
    if stored.refresh_token:
        data["refresh_token"] = stored.refresh_token
    try:
        make_private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(data, stream)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warn(f"could not keep the v3 token in {path}: {exc.strerror}")


def forget(profile_name: str) -> bool:
    """Remove the tokens kept for PROFILE_NAME; True when there were some."""
    try:
        tokens_path(profile_name).unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


def from_answer(profile: Profile, username: str, body: bytes, refresh: str | None = None) -> Stored:
    """The tokens in a login or renewal answer (REFRESH: the one kept so far)."""
    try:
        data = json.loads(body)
        token = data["access_token"]
        if not isinstance(token, str) or not token:
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise MaascurlError(f"{profile.v3_root} did not answer with a token") from None
    fresh = data.get("refresh_token")
    refresh = fresh if isinstance(fresh, str) and fresh else refresh
    return _stored(profile, username, token, refresh)


def _stored(profile: Profile, username: str, token: str, refresh: str | None) -> Stored:
    register_secret(token)
    if refresh:
        register_secret(refresh)
    return Stored(profile.v3_root, username, token, time.time() + lifetime(token), refresh)


def _spent(stored: Stored) -> Stored:
    """STORED with its access token known to be refused (its refresh token kept)."""
    return Stored(stored.url, stored.username, stored.access_token, 0.0, stored.refresh_token)


def lifetime(token: str) -> float:
    """How long TOKEN lasts, by its own claims (exp - iat): the server's clock need not
    agree with this machine's."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        seconds = float(claims["exp"]) - float(claims["iat"])
    except (IndexError, ValueError, KeyError, TypeError):
        return DEFAULT_LIFETIME
    return min(max(seconds, 0.0), 86400.0)


# --------------------------------------------------------------- requests for tokens


def login_spec(v3_root: str, username: str, password: str) -> RequestSpec:
    form = urlencode({"username": username, "password": password}).encode("utf-8")
    return RequestSpec(
        "POST",
        v3_root + LOGIN_PATH,
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=RawBody(content=form),
    )


def v3_login(
    connection: Connection, profile: Profile, username: str, password: str
) -> Stored | None:
    """Log in to PROFILE's v3 API; None when the server has none (a 404)."""
    try:
        body = connection.read_capped(login_spec(profile.v3_root, username, password), ANSWER_LIMIT)
    except HTTPStatusError as error:
        if error.status == 404:
            return None
        if error.status == 401:
            raise HTTPStatusError(401, REFUSED) from None
        raise
    return from_answer(profile, username, body)


def login_command(profile: Profile, username: str | None) -> str:
    """The command that logs PROFILE in again, with the TLS settings it has.

    $MAAS_API_URL's profile has no name to log in under: PROFILE stands for one,
    to choose with -p afterwards.
    """
    name = "PROFILE" if profile.name == ENVIRONMENT_PROFILE else profile.name
    words = ["maascurl", "login", name, profile.url, "--username", username or "NAME"]
    if profile.cacert:
        words += ["--cacert", profile.cacert]
    if profile.insecure:
        words.append("--insecure")
    return " ".join(shlex.quote(word) for word in words)


def can_prompt() -> bool:
    """A terminal to ask for the password on (stdin and stderr)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


class V3Tokens:
    """The TokenSource of wire/bearer.py for one profile (see the module docstring).

    Thread-safe: a fleet run's workers share it, and one of them renews.
    """

    def __init__(
        self,
        profile: Profile,
        transport: Transport,
        scheme: str,
        hooks: Hooks | None = None,
        prompt: Callable[[], bool] | None = None,
    ) -> None:
        self.profile = profile
        self.transport = transport
        self.scheme = scheme
        self.hooks = hooks
        self.prompt = prompt
        self.stored = load(profile)
        self.refresh_refused = False
        self._lock = threading.RLock()
        self._connection: Connection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def username(self) -> str | None:
        return self.profile.username or (self.stored.username if self.stored else None)

    # ---- the TokenSource

    def token(self) -> str:
        with self._lock:
            stored = self.stored
            if stored is not None and stored.left() > RENEW_BEFORE:
                return stored.access_token
            if stored is not None and stored.left() > 0:
                renewed = self._renew(stored)
                if renewed is not None:
                    return renewed.access_token
                if self.stored is stored:  # not refused: try it (a 401 comes to rejected)
                    return stored.access_token
            return self._obtain(expired=stored is not None).access_token

    def rejected(self, token: str) -> str | None:
        with self._lock:
            stored = self.stored
            if stored is not None and stored.access_token != token:
                return stored.access_token  # another request renewed it meanwhile
            return self._obtain(expired=True).access_token

    # ---- ways to a token

    def _obtain(self, *, expired: bool) -> Stored:
        """A token by the refresh token, else the password; NeedsLogin when neither."""
        stored = self.stored
        if stored is not None and stored.refresh_token:
            refreshed = self._refresh(stored)
            if refreshed is not None:
                return refreshed
        if stored is None:
            self._check_v3()  # no password is asked for a server without the v3 API
        username = self.username
        if username is None:
            raise NeedsLogin(self._key_only())
        if not (self.prompt or can_prompt)():
            raise NeedsLogin(self._expired(username) if expired else self._missing(username))
        return self._ask_password(username, expired)

    def _check_v3(self) -> None:
        """Raise NoV3Api when the server has no v3 API (its OpenAPI document is a 404);
        a cached document says it has one."""
        from maascurl.api.openapi import cache_file, openapi_url

        if cache_file(self.profile.v3_root).exists():
            return
        spec = RequestSpec("GET", openapi_url(self.profile.v3_root))
        response = self._connect().send(spec)
        response.close()
        if response.status_code == 404:
            raise no_v3_api(self.profile.url)

    def _renew(self, stored: Stored) -> Stored | None:
        """GET auth/access_token with a token still valid: a fresh one, or None.

        A 401 means the token is no longer good: it is marked expired.
        """
        from maascurl.wire.connection import AnswerTooLarge

        spec = RequestSpec(
            "GET",
            self.profile.v3_root + RENEW_PATH,
            headers=[("Authorization", f"Bearer {stored.access_token}")],
        )
        try:
            body = self._connect().read_capped(spec, ANSWER_LIMIT)
            fresh = from_answer(self.profile, stored.username, body, stored.refresh_token)
        except HTTPStatusError as error:
            if error.status == 401:
                self.stored = _spent(stored)
            return None
        except (AnswerTooLarge, MaascurlError):
            return None
        return self._keep(fresh)

    def _refresh(self, stored: Stored) -> Stored | None:
        """MAAS 3.8: the refresh token in its cookie, beside the expired JWT."""
        assert stored.refresh_token is not None
        spec = RequestSpec(
            "GET",
            self.profile.v3_root + RENEW_PATH,
            headers=[
                ("Authorization", f"Bearer {stored.access_token}"),
                ("Cookie", f"{REFRESH_COOKIE}={stored.refresh_token}"),
            ],
        )
        connection = self._connect()
        response = connection.send(spec)
        with connection.errors(spec.url):
            try:
                ok = response.status_code == 200
                body = response.read() if ok else b""
            finally:
                response.close()
        token = _cookie(response.headers.get_list("set-cookie"), JWT_COOKIE) if ok else None
        if body:
            with suppress(MaascurlError):
                token = from_answer(self.profile, stored.username, body).access_token
        if not token:
            self.refresh_refused = True
            self.stored = Stored(stored.url, stored.username, stored.access_token, 0.0)
            save(self.profile, self.stored)  # the refresh token is spent or revoked
            return None
        return self._keep(_stored(self.profile, stored.username, token, stored.refresh_token))

    def _ask_password(self, username: str, expired: bool) -> Stored:
        import click

        why = "its v3 token has expired" if expired else "it has no v3 token yet"
        print(
            f"maascurl: profile {self.profile.name!r} needs a password login: {why}",
            file=sys.stderr,
        )
        password: str = click.prompt(f"Password for {username}", hide_input=True, err=True)
        if not password:
            raise UsageError("no password given")
        register_secret(password)
        stored = v3_login(self._connect(), self.profile, username, password)
        if stored is None:
            raise no_v3_api(self.profile.url)
        return self._keep(stored)

    def _keep(self, stored: Stored) -> Stored:
        self.stored = stored
        save(self.profile, stored)
        return stored

    def _connect(self) -> Connection:
        if self._connection is None:
            from maascurl.wire.connection import Connection

            self._connection = Connection(self.transport, self.scheme, None, self.hooks)
        return self._connection

    # ---- what to say

    def _key_only(self) -> str:
        then = " and -p PROFILE" if self.profile.name == ENVIRONMENT_PROFILE else ""
        return (
            f"profile {self.profile.name!r} holds an API key, which only the 2.0 API takes: "
            "the v3 API needs a password login: "
            f"{login_command(self.profile, None)} (NAME: your MAAS user){then}"
        )

    def _expired(self, username: str) -> str:
        if self.refresh_refused:
            refresh = " and MAAS refused its refresh token"
        else:  # MAAS 3.7 hands out none
            refresh = " (MAAS before 3.8 renews a token only while it is valid)"
        return (
            f"the v3 token of profile {self.profile.name!r} has expired{refresh}; "
            f"log in again: {login_command(self.profile, username)}"
        )

    def _missing(self, username: str) -> str:
        return (
            f"profile {self.profile.name!r} has no v3 token; "
            f"log in: {login_command(self.profile, username)}"
        )


def _cookie(values: list[str], name: str) -> str | None:
    """NAME's value in Set-Cookie headers."""
    for value in values:
        first = value.split(";", 1)[0]
        key, _, cookie = first.partition("=")
        if key.strip() == name and cookie.strip().strip('"'):
            return cookie.strip().strip('"')
    return None


def describe(profile: Profile) -> dict[str, Any] | None:
    """What `profile show` says about the kept v3 tokens (never the tokens)."""
    stored = load(profile)
    if stored is None:
        return None
    left = stored.left()
    state = f"valid for {int(left // 60)} min" if left > 0 else "expired"
    if stored.refresh_token:
        state += " (with a refresh token)"
    return {"v3_token": state}
