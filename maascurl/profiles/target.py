"""Where requests go and how they are signed: a profile's server, its key and clock.

A Target is a profile's API root (or a bare URL, for anonymous calls); the
auth signs with the profile's key and the clock offset remembered for it
(state.py). Login checks a key with the same signing a call uses, so both
build it here. A PATH under `v3/` (or `/MAAS/a/v3/`) targets the server's
v3 API instead, whose requests carry a bearer token (tokens.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from maascurl.errors import ConfigError, HTTPStatusError, UsageError, warn
from maascurl.profiles.config import ENV_KEY, ENVIRONMENT_PROFILE, Profile, select_profile
from maascurl.wire.request import is_v3_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from maascurl.wire.auth import MaasAuth
    from maascurl.wire.bearer import BearerAuth
    from maascurl.wire.settings import Transport

    Hooks = dict[str, list[Callable[..., object]]]


@dataclass
class Target:
    """Where requests go: a profile's server, or a bare URL for anonymous calls.

    V3: the server's v3 API, whose root API_ROOT then is (`.../MAAS/a/v3/`).
    """

    api_root: str
    profile: Profile | None
    v3: bool = False

    @property
    def state_key(self) -> str:
        name = self.profile.name if self.profile else "(anonymous)"
        return f"{name}@{self.api_root}"

    @property
    def server(self) -> str:
        """The MAAS URL (`http://host:5240/MAAS`), for messages."""
        if self.profile is not None:
            return self.profile.url
        marker = "/a/v3/" if self.v3 else "/api/2.0/"
        return self.api_root[: -len(marker)] if self.api_root.endswith(marker) else self.api_root


def resolve_target(profile: str | None, path: str, *, anonymous: bool = False) -> Target:
    """The chosen PROFILE's server; with ANONYMOUS and no profile at all, PATH's own (a URL).

    A PATH under `v3/` targets the server's v3 API.
    """
    try:
        chosen = select_profile(profile)
    except ConfigError:
        if anonymous and "://" in path and profile is None:
            v3 = is_v3_path(path)
            return Target(_api_root_from_url(path, v3), None, v3)
        raise
    if is_v3_path(path, urlsplit(chosen.url).path):
        return Target(chosen.v3_root, chosen, v3=True)
    return Target(chosen.api_root, chosen)


def _api_root_from_url(url: str, v3: bool = False) -> str:
    mark = "/a/v3/" if v3 else "/api/2.0/"
    marker = (url.partition("?")[0] + "/").find(mark)
    if marker < 0:
        raise UsageError(f"cannot tell the API root of {url!r}: expected .../api/2.0/...")
    return url[:marker] + mark


def make_auth(
    target: Target, anonymous: bool, transport: Transport | None = None, hooks: Hooks | None = None
) -> MaasAuth | BearerAuth | None:
    """How TARGET's requests are signed (an httpx.Auth), or None for unsigned ones.

    The v3 API's: a bearer token from TRANSPORT's server (tokens.py), whose
    own requests get HOOKS (-v).
    """
    if anonymous or target.profile is None or target.profile.anonymous:
        return None
    if target.v3:
        return _bearer(target, target.profile, transport, hooks)
    from maascurl.profiles import state
    from maascurl.wire.auth import Clock, MaasAuth

    key = target.profile.key()

    def corrected(offset: float) -> None:
        warn(f"this machine's clock is {offset:.0f} s behind the MAAS server; corrected")
        state.save_clock_offset(target.state_key, offset)

    def forgotten() -> None:
        state.save_clock_offset(target.state_key, 0.0)

    return MaasAuth(key, Clock(state.clock_offset(target.state_key), corrected, forgotten))


def _bearer(
    target: Target, profile: Profile, transport: Transport | None, hooks: Hooks | None
) -> BearerAuth:
    from dataclasses import replace

    from maascurl.profiles.tokens import V3Tokens
    from maascurl.wire.bearer import BearerAuth
    from maascurl.wire.settings import Transport

    scheme = target.api_root.split(":", 1)[0]
    # Token requests are small and never retried by Retry-After: they answer at once.
    own = replace((transport or Transport()).for_profile(profile), retries=1)
    return BearerAuth(V3Tokens(profile, own, scheme, hooks))


def connecting(
    target: Target, transport: Transport, anonymous: bool, hooks: Hooks | None = None
) -> tuple[Transport, str, MaasAuth | BearerAuth | None]:
    """The transport (the command line's over the profile's), scheme and auth for TARGET,
    as wire/connection.py's Connection takes them; says when the key is not protected."""
    transport = transport.for_profile(target.profile)
    scheme = target.api_root.split(":", 1)[0]
    warn_transport(target, transport, scheme)
    return transport, scheme, make_auth(target, anonymous, transport, hooks)


def warn_transport(target: Target, transport: Transport, scheme: str) -> None:
    """Say when the key is not protected: TLS unchecked, or plain http from the environment."""
    profile = target.profile
    if transport.insecure and scheme == "https":
        saved = " (saved in the profile)" if profile is not None and profile.insecure else ""
        warn(f"TLS certificate verification is off (--insecure){saved}")
    if profile is not None and profile.name == ENVIRONMENT_PROFILE:
        warn_cleartext(profile.url)  # `login` says it once for saved profiles


def is_cleartext(url: str) -> bool:
    """Plain http to another host: what is sent can be read on the way."""
    parts = urlsplit(url)
    return parts.scheme == "http" and not _is_loopback(parts.hostname or "")


def warn_cleartext(url: str) -> None:
    if not is_cleartext(url):
        return
    warn(
        f"{url} is plain http: the API key's signature travels in clear text; "
        "use https if the server offers it"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- what an error means for this profile, and what to do next -----------------------

# What MAAS's 401s say about the key (its three parts: consumer key, token key, secret).
_REFUSALS = (
    ("Invalid signature", "its secret, the third part, is wrong"),
    ("Invalid access token", "its token, the second part, is unknown: revoked or mistyped"),
    ("Invalid API key", "its consumer key, the first part, is unknown: revoked or mistyped"),
)


def refusal_reason(message: str) -> str:
    """Which part of the key a 401's text (MAAS's) says is wrong."""
    return next((why for text, why in _REFUSALS if text in message), "wrong or revoked")


def explained(error: HTTPStatusError, target: Target, signed: bool) -> HTTPStatusError:
    """ERROR with the next step: a refused key names its profile and `maascurl login`, and
    a 404 that is not MAAS's own says so, with the URL MAAS is likely at."""
    if error.status == 401:
        hint = key_hint(str(error), target.profile, signed)
    elif error.status == 404:
        hint = not_maas_hint(error, target.api_root)
    else:
        hint = None
    if hint is None:
        return error
    return HTTPStatusError(error.status, joined(str(error), hint), html=error.html)


def joined(message: str, more: str) -> str:
    """MESSAGE, then MORE as a sentence of its own after a full stop, else after '; '."""
    if message.endswith((".", "!", "?")):
        return f"{message} {more[:1].upper()}{more[1:]}"
    return f"{message}; {more}"


def key_hint(message: str, profile: Profile | None, signed: bool) -> str | None:
    if profile is None:
        return None
    if not signed:
        if profile.anonymous:
            return (
                f"profile {profile.name!r} has no API key (anonymous = true); log in with one: "
                f"maascurl login {profile.name} {profile.url}"
            )
        return "this request needs the API key: drop --anonymous"
    why = refusal_reason(message)
    if profile.name == ENVIRONMENT_PROFILE:
        return f"the server refused the API key in ${ENV_KEY} ({why})"
    return (
        f"the server refused the API key of profile {profile.name!r} ({why}); log in again "
        f"with a key from MAAS (the UI's API keys, or sudo maas apikey --username NAME): "
        f"maascurl login {profile.name} {profile.url}"
    )


def not_maas_hint(error: HTTPStatusError, api_root: str) -> str | None:
    """A 404 that no MAAS API gives: a web page, or a URL whose path is not /MAAS."""
    root = api_root.removesuffix("api/2.0/").rstrip("/")
    if not (error.html or not root.endswith("/MAAS")):
        return None  # MAAS's own 404 (No Machine matches...): the path is what is wrong
    host = urlsplit(root).netloc
    what = "a web page" if error.html else "a 404"
    hint = f"{host} answered with {what}, not as MAAS's API answers: is the URL right?"
    likely = likely_url(root)
    return f"{hint} MAAS's is likely {likely}" if likely else hint


def likely_url(url: str) -> str | None:
    """Where MAAS probably is, when URL is not where it usually is; None when it is.

    MAAS serves its API under /MAAS (capitals), on port 5240 (http) or 5443 (https).
    """
    parts = urlsplit(url.rstrip("/"))
    path = parts.path
    if path.lower().endswith("/maas"):
        path = path[: -len("/maas")]
    netloc = parts.netloc
    if parts.port is None and parts.hostname:
        netloc += ":5443" if parts.scheme == "https" else ":5240"
    likely = f"{parts.scheme}://{netloc}{path}/MAAS"
    return None if likely == url.rstrip("/") else likely
