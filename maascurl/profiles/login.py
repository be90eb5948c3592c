"""Profile commands: login, logout, list, show, default, and refreshing the cache."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from maascurl.errors import (
    ConfigError,
    HTTPStatusError,
    MaascurlError,
    UsageError,
    redact_secrets,
    warn,
)
from maascurl.profiles.config import (
    Config,
    Profile,
    check_profile_name,
    check_url_characters,
    config_path,
    load_config,
    normalise_url,
    update_config,
)
from maascurl.profiles.target import (
    Target,
    likely_url,
    make_auth,
    refusal_reason,
    warn_cleartext,
)
from maascurl.termsafe import safe_line
from maascurl.wire.request import RequestSpec
from maascurl.wire.settings import Transport

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.wire.auth import MaasAuth
    from maascurl.wire.bearer import BearerAuth
    from maascurl.wire.connection import Connection


def tell(message: str) -> None:
    """A progress line on stderr (stdout stays free for scripts)."""
    print(f"maascurl: {message}", file=sys.stderr)


# Login talks to a server it has not seen before: a silent one must not keep
# it (and a key given in argv, visible to `ps`) waiting for minutes.
LOGIN_TIMEOUT = 30.0
WHOAMI_LIMIT = 1024 * 1024


def read_api_key(api_key: str | None, key_file: str | None = None) -> str:
    """The key from a file, the argument, stdin for '-', or a hidden prompt."""
    if key_file is not None:
        if api_key is not None:
            raise UsageError("give either API_KEY or --api-key-file, not both")
        if key_file == "-":
            return sys.stdin.readline(4096).strip()
        try:
            with open(key_file, encoding="utf-8") as stream:
                return stream.readline(4096).strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the API key from {key_file}: {exc}") from None
    if api_key == "-":
        return sys.stdin.readline().strip()
    if api_key is None:
        import click

        value: str = click.prompt("API key", hide_input=True, err=True)
        return value.strip()
    warn(
        "an API key on the command line is visible to other local users (ps) and "
        "kept in shell history; use '-', --api-key-file FILE or the hidden prompt"
    )
    return api_key.strip()


def login(
    name: str,
    url: str,
    api_key: str | None,
    no_check: bool,
    api_key_command: str | None,
    insecure: bool,
    cacert: str | None,
    api_key_file: str | None = None,
    timeout: float = LOGIN_TIMEOUT,
) -> None:
    profile = new_profile(name, url, insecure, cacert)
    if api_key_command:
        if api_key is not None or api_key_file is not None:
            raise UsageError("give either API_KEY or --api-key-command, not both")
        profile.api_key_command = api_key_command
    else:
        profile.api_key = read_api_key(api_key, api_key_file)
        if not profile.api_key:
            raise UsageError("no API key given: consumer_key:token_key:token_secret")
    profile.key()  # validates the key (or runs the command) before anything is saved
    load_config()  # refuse early, before any network work, when the config is unreadable
    warn_cleartext(profile.url)
    if no_check:  # it contacts nothing: the server may be unreachable for now
        save_profile(profile)
        _forget_v3(profile.name)
        tell("the server was not contacted; `maascurl refresh` caches its API description")
    else:
        check_and_save(profile, timeout)
        _forget_v3(profile.name)


def _forget_v3(name: str) -> None:
    """A profile made from a key has no v3 tokens: those of an older login under NAME go."""
    from maascurl.profiles.tokens import forget

    forget(name)


def new_profile(name: str, url: str, insecure: bool, cacert: str | None) -> Profile:
    """A profile for NAME at URL, both checked; nothing is saved yet."""
    check_profile_name(name)
    # Stored absolute: the profile is used from other directories later.
    cacert = os.path.abspath(cacert) if cacert else None
    check_url_characters(url)
    return Profile(name, normalise_url(url), insecure=insecure, cacert=cacert)


def check_and_save(profile: Profile, timeout: float) -> None:
    """Ask the server whose key this is, cache its API description, save the profile."""
    user = whoami(profile, timeout)
    tell(f"logged in to {profile.url} as {safe_line(user)}")
    _cache_description(profile, timeout)
    save_profile(profile)


def _connection(
    profile: Profile,
    auth: MaasAuth | BearerAuth | None,
    timeout: float | None,
    tls: Transport | None = None,
) -> Connection:
    """A connection to the profile's server with its TLS settings (and TLS's -k, --cacert)
    and one retry."""
    from maascurl.wire.connection import Connection

    given = tls or Transport()
    transport = Transport(
        retries=1, timeout=timeout, insecure=given.insecure, cacert=given.cacert
    ).for_profile(profile)
    return Connection(transport, urlsplit(profile.api_root).scheme, auth)


def whoami(profile: Profile, timeout: float | None = None) -> str:
    # Signed as requests are: a skewed clock is corrected, said and remembered.
    auth = make_auth(Target(profile.api_root, profile), anonymous=False)
    spec = RequestSpec("GET", profile.api_root + "users/?op=whoami")
    try:
        with _connection(profile, auth, timeout) as connection:
            body = connection.read_capped(spec, WHOAMI_LIMIT)
    except HTTPStatusError as error:
        if error.status == 401:
            why = refusal_reason(str(error))
            error.args = (f"the server refused the API key ({why}): {error}",)
        elif error.status == 404:
            error.args = (_not_maas(profile, error),)
        elif 300 <= error.status < 400:
            error.args = (_redirect_hint(profile, str(error)),)
        raise
    try:
        user = json.loads(body)
        return f"{user['username']}" + (" (admin)" if user.get("is_superuser") else "")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise MaascurlError(
            f"{profile.api_root}users/?op=whoami did not answer like a MAAS server"
        ) from None


def _not_maas(profile: Profile, error: HTTPStatusError) -> str:
    """whoami is on every MAAS: a 404 means URL is not MAAS's (a /maas typed in lower case)."""
    likely = likely_url(profile.url)
    what = "a web page" if error.html else "404"
    message = f"{profile.url} does not answer as MAAS does: users/?op=whoami gave {what} ({error})"
    if likely is None:
        return message
    return f"{message}; MAAS is likely at {likely}: maascurl login {profile.name} {likely}"


def _redirect_hint(profile: Profile, message: str) -> str:
    """A server that redirects elsewhere (http to https): log in with where it points."""
    import re

    found = re.search(r"redirected to (\S+?)(?:,|$)", message)
    if found is None:
        return message
    target = found.group(1)
    root = target.split("/api/2.0/", 1)[0] if "/api/2.0/" in target else target
    message = message.replace("; --follow-any follows it without credentials", "")
    return f"{message}; log in with that URL: maascurl login {profile.name} {root}"


def plain_connection(
    profile: Profile, timeout: float | None = None, tls: Transport | None = None
) -> Connection:
    """A connection to the profile's server without credentials (descriptions need none)."""
    return _connection(profile, None, timeout, tls)


def fetch_profile_description(
    profile: Profile, timeout: float | None = None, tls: Transport | None = None
) -> ApiDescription:
    """The server's API description, fetched unsigned (api/fetch.py) and cached."""
    from maascurl.api.fetch import fetch_description

    if tls is not None and tls.insecure and profile.api_root.startswith("https:"):
        warn("TLS certificate verification is off (--insecure)")
    with _connection(profile, None, timeout, tls) as connection:
        return fetch_description(connection, profile.api_root)


def _cache_description(profile: Profile, timeout: float | None = None) -> None:
    try:
        desc = fetch_profile_description(profile, timeout)
    except (MaascurlError, ValueError) as exc:
        warn(f"could not cache the API description ({exc}); run `maascurl refresh` later")
        return
    tell(f"cached the API description ({len(desc.resources)} resources)")


def _refresh_v3(profile: Profile) -> int:
    """Fetch the v3 API's document again where one is cached or the profile logged in
    with a password (a 3.4 region is not asked); 1 when that failed."""
    from maascurl.api.openapi import cache_file, fetch_openapi
    from maascurl.profiles.tokens import tokens_path

    known = cache_file(profile.v3_root).exists() or tokens_path(profile.name).exists()
    if not known:
        return 0
    try:
        with _connection(profile, None, None) as connection:
            desc = fetch_openapi(connection, profile.v3_root)
    except (MaascurlError, ValueError) as exc:
        message = safe_line(redact_secrets(f"{profile.name}: the v3 API's description: {exc}"))
        print(f"maascurl: error: {message}", file=sys.stderr)
        return 1
    if desc is None:
        tell(f"{profile.name}: the server has no v3 API")
    else:
        tell(f"{profile.name}: cached {len(desc.paths)} v3 paths ({desc.version})")
    return 0


def save_profile(profile: Profile) -> None:
    """Add or replace PROFILE in the config; the first profile becomes the default."""
    name = profile.name

    def save(config: Config) -> None:
        config.profiles[name] = profile
        if not config.default or config.default not in config.profiles:
            config.default = name

    config = update_config(save)
    default = " (default)" if config.default == name else ""
    tell(f"saved profile {name!r}{default} in {config.path}")


def logout(name: str) -> None:
    def remove(config: Config) -> None:
        config.get(name)
        del config.profiles[name]
        if config.default == name:
            config.default = None

    config = update_config(remove)
    _forget_v3(name)
    tell(f"removed profile {name!r}")
    if config.default is None and config.profiles:
        tell("no default profile now; choose one with `maascurl profile default NAME`")


def set_default(name: str) -> None:
    def change(config: Config) -> None:
        config.get(name)
        config.default = name

    update_config(change)
    tell(f"{name!r} is now the default profile")


def _public(profile: Profile, default: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": profile.name,
        "url": profile.url,
        "default": profile.name == default,
    }
    if profile.api_key_command:
        data["api_key_command"] = profile.api_key_command
    elif profile.api_key:
        data["api_key"] = redact_key(profile.api_key)
    if profile.anonymous:
        data["anonymous"] = True
    if profile.username:
        data["username"] = profile.username
    data["insecure"] = profile.insecure
    data["cacert"] = profile.cacert
    return data


def _v3_state(profile: Profile) -> dict[str, Any]:
    """How the v3 API's kept token stands (never the token itself)."""
    from maascurl.profiles.tokens import describe

    return describe(profile) or {}


def redact_key(api_key: str) -> str:
    """Show the consumer key only: enough to tell keys apart, useless to an attacker."""
    consumer = api_key.split(":", 1)[0]
    return f"{consumer}:<redacted>:<redacted>"


def list_profiles(as_json: bool) -> None:
    config = load_config()
    rows = [_public(config.profiles[name], config.default) for name in sorted(config.profiles)]
    if as_json:
        print(json.dumps([{k: row[k] for k in ("name", "url", "default")} for row in rows]))
        return
    if not rows:
        tell(f"no profiles in {config.path}; add one with `maascurl login NAME URL`")
        return
    # A hand-edited config may hold anything: control characters are made visible.
    names = [safe_line(row["name"]) for row in rows]
    width = max(map(len, names))
    for row, name in zip(rows, names):
        marker = "*" if row["default"] else " "
        print(f"{marker} {name:<{width}}  {safe_line(row['url'])}")


def show_profile(name: str | None, as_json: bool) -> None:
    """NAME's settings (the default profile's without NAME), and the config file's path."""
    config = load_config()
    if name is None:
        if not config.default:
            known = ", ".join(sorted(config.profiles))
            fix = (
                f"choose one with `maascurl profile default NAME` (profiles: {known})"
                if known
                else "add one with `maascurl login NAME URL`"
            )
            raise ConfigError(f"no default profile in {config.path}; {fix}")
        name = config.default
    data = _public(config.get(name), config.default)
    if config.get(name).username:
        data.update(_v3_state(config.get(name)))
    data["config"] = str(config.path)
    if as_json:
        print(json.dumps(data))
        return
    for key, value in data.items():
        if value is not None:
            shown = str(value).lower() if isinstance(value, bool) else safe_line(value)
            print(f"{key}: {shown}")


def refresh(
    name: str | None, all_profiles: bool, *, insecure: bool = False, cacert: str | None = None
) -> None:
    from maascurl.profiles.config import select_profile

    if all_profiles and name:
        raise UsageError("give either --profile or --all")
    if all_profiles:
        config = load_config()
        profiles = [config.profiles[n] for n in sorted(config.profiles)]
        if not profiles:
            raise ConfigError(f"no profiles in {config_path()}")
    else:
        profiles = [select_profile(name)]
    failed = 0
    for profile in profiles:
        try:
            tls = Transport(insecure=insecure, cacert=cacert)
            desc = fetch_profile_description(profile, tls=tls)
        except (MaascurlError, ValueError) as exc:
            failed += 1
            message = safe_line(redact_secrets(f"{profile.name}: {exc}"))
            print(f"maascurl: error: {message}", file=sys.stderr)
            continue
        tell(f"{profile.name}: cached {len(desc.resources)} resources (hash {desc.hash[:12]})")
        failed += _refresh_v3(profile)
    if failed:
        raise RefreshFailed(failed, len(profiles))


class RefreshFailed(MaascurlError):
    def __init__(self, failed: int, total: int) -> None:
        super().__init__(f"{failed} of {total} profiles could not be refreshed")
