"""Profiles: a server URL and an API key under a name, kept in one TOML file.

The file lives in the platform's config directory (or `$MAASCURL_CONFIG`), is
created with mode 0600, and every change is a locked read-modify-write that
replaces the file atomically, so parallel logins never lose a profile and a
failed write never truncates it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from maascurl.dirs import make_private_dirs
from maascurl.errors import ConfigError, UsageError, warn
from maascurl.wire.settings import ApiKey, parse_api_key

ENV_PROFILE = "MAASCURL_PROFILE"
ENV_URL, ENV_KEY, ENV_CACERT = "MAAS_API_URL", "MAAS_API_KEY", "MAAS_API_CACERT"
ENVIRONMENT_PROFILE = "(environment)"

_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEADER = """\
# maascurl profiles: written by `maascurl login`, safe to edit by hand.
# Each [profiles.NAME] table holds url, api_key (consumer:token:secret) or
# api_key_command, and optional insecure = true and cacert = "/path/ca.pem".
# anonymous = true (instead of a key) sends every request unsigned. username
# (from a password login) is who the v3 API's token is asked for.
"""


@dataclass
class Profile:
    name: str
    url: str
    api_key: str | None = None
    api_key_command: str | None = None
    insecure: bool = False
    cacert: str | None = None
    # Why the file this profile came from may not run commands (None: it may).
    untrusted_source: str | None = field(default=None, compare=False)
    anonymous: bool = False  # sends unsigned requests (a profile without a key)
    username: str | None = None  # who logged in with a password (the v3 API asks for it)

    @property
    def api_root(self) -> str:
        return self.url.rstrip("/") + "/api/2.0/"

    @property
    def v3_root(self) -> str:
        """The root of MAAS's v3 API (3.5 and later) on this profile's server."""
        return self.url.rstrip("/") + "/a/v3/"

    def key(self) -> ApiKey:
        if self.api_key_command:
            if self.untrusted_source:
                raise ConfigError(
                    f"profile {self.name!r}: not running its api_key_command: "
                    f"{self.untrusted_source}"
                )
            return parse_api_key(_run_key_command(self.name, self.api_key_command))
        if not self.api_key and self.name == ENVIRONMENT_PROFILE:
            raise ConfigError(
                f"${ENV_URL} is set but ${ENV_KEY} is not: set {ENV_KEY} to the API key "
                "(consumer_key:token_key:token_secret), or send unsigned with --anonymous"
            )
        if not self.api_key:
            raise ConfigError(f"profile {self.name!r} has no API key")
        return parse_api_key(self.api_key)

    def to_toml(self) -> dict[str, Any]:
        table: dict[str, Any] = {"url": self.url}
        if self.api_key:
            table["api_key"] = self.api_key
        if self.api_key_command:
            table["api_key_command"] = self.api_key_command
        if self.insecure:
            table["insecure"] = True
        if self.cacert:
            table["cacert"] = self.cacert
        if self.anonymous:
            table["anonymous"] = True
        if self.username:
            table["username"] = self.username
        return table


@dataclass
class Config:
    path: Path
    default: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none; run `maascurl login`"
            raise ConfigError(f"no profile named {name!r} (profiles: {known})") from None


def config_path() -> Path:
    if override := os.environ.get("MAASCURL_CONFIG"):
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("maascurl")) / "config.toml"


def normalise_url(url: str) -> str:
    """Accept `http://h:5240/MAAS`, `.../MAAS/` or `.../MAAS/api/2.0/`; return `.../MAAS`."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise UsageError(f"{url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise UsageError(f"{url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise UsageError(f"{url!r} should not have a query or fragment")
    path = parts.path.rstrip("/")
    for suffix in ("/api/2.0", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path or '/MAAS'}"


def check_url_characters(url: str) -> None:
    """Refuse a typed URL holding control characters, spaces or bytes that are not UTF-8."""
    url = url.strip()
    if re.search(r"[\x00-\x1f\x7f-\x9f\s]", url) or not _is_utf8(url):
        shown = url.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
        raise UsageError(f"{shown!r} is not a valid URL: control characters, spaces or non-UTF-8")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes of argv that are not UTF-8
        return False
    return True


def check_profile_name(name: str) -> str:
    if not _PROFILE_NAME.fullmatch(name):
        raise UsageError(
            f"bad profile name {name!r}: use letters, digits, '.', '_' and '-' (64 at most)"
        )
    return name


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    _warn_if_readable_by_others(path)
    config = _parse(path, raw)
    untrusted = _untrusted(path)
    for profile in config.profiles.values():
        profile.untrusted_source = untrusted
    return config


def _untrusted(path: Path) -> str | None:
    """Why PATH could hold commands written by someone else, or None.

    api_key_command runs as the user: a file another user owns or can write
    would be code execution for them.
    """
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_uid not in (os.geteuid(), 0):
        return f"{path} is owned by another user"
    if info.st_mode & 0o022:
        return f"{path} is writable by others; run: chmod 600 {path}"
    return None


def _parse(path: Path, raw: bytes) -> Config:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}; fix or remove the file") from None
    config = Config(path, default=_optional_str(path, data, "default"))
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table")
    for name, table in profiles.items():
        config.profiles[name] = _profile_from_table(path, name, table)
    return config


def _profile_from_table(path: Path, name: str, table: Any) -> Profile:
    if not isinstance(table, dict) or not isinstance(table.get("url"), str):
        raise ConfigError(f"{path}: profile {name!r} needs a url")
    return Profile(
        name=name,
        url=table["url"],
        api_key=_optional_str(path, table, "api_key"),
        api_key_command=_optional_str(path, table, "api_key_command"),
        insecure=bool(table.get("insecure", False)),
        cacert=_optional_str(path, table, "cacert"),
        anonymous=bool(table.get("anonymous", False)),
        username=_optional_str(path, table, "username"),
    )


def _optional_str(path: Path, table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string")
    return value


_warned: set[Path] = set()


def _warn_if_readable_by_others(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077 and path not in _warned:
        _warned.add(path)
        warn(f"{path} is readable by others and holds API keys; run: chmod 600 {path}")


def update_config(change: Callable[[Config], None], path: Path | None = None) -> Config:
    """Apply `change` to the config under an exclusive lock and save it atomically."""
    path = path or config_path()
    if path.is_symlink():
        # Dotfile managers link config.toml: write the file the link names.
        path = Path(os.path.realpath(path))
    make_private_dirs(path.parent)
    with _locked(path):
        config = load_config(path)
        change(config)
        write_atomically(path, render(config))
    return config


class _locked:
    """An exclusive lock on `PATH.lock` (fcntl where the platform has it)."""

    def __init__(self, path: Path) -> None:
        self.lock_path = path.with_name(path.name + ".lock")

    def __enter__(self) -> None:
        self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the lock


def write_atomically(path: Path, text: str) -> None:
    """PATH holds TEXT, mode 0600, or is left as it was (the temporary file goes too)."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:  # e.g. a full disk: the config itself was not touched
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}; it is unchanged") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(config: Config) -> str:
    lines = [_HEADER]
    if config.default:
        lines.append(f"default = {_toml_string(config.default)}\n")
    for name in sorted(config.profiles):
        lines.append(f"\n[profiles.{_toml_key(name)}]\n")
        for key, value in config.profiles[name].to_toml().items():
            rendered = "true" if value is True else _toml_string(value)
            lines.append(f"{key} = {rendered}\n")
    return "".join(lines)


def _toml_key(name: str) -> str:
    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else _toml_string(name)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'


def select_profile(name: str | None) -> Profile:
    """-p NAME, else $MAASCURL_PROFILE, else $MAAS_API_URL + $MAAS_API_KEY, else the default."""
    name = name or os.environ.get(ENV_PROFILE) or None
    if name is None and os.environ.get(ENV_URL):
        return environment_profile()
    config = load_config()
    if name is None:
        if not config.default:
            raise ConfigError(
                "no profile chosen and no default; run `maascurl login NAME URL` "
                f"or set {ENV_URL} and {ENV_KEY}"
            )
        name = config.default
    return config.get(name)


def environment_profile() -> Profile:
    return Profile(
        name=ENVIRONMENT_PROFILE,
        url=normalise_url(os.environ[ENV_URL]),
        api_key=os.environ.get(ENV_KEY) or None,
        cacert=os.environ.get(ENV_CACERT) or None,
    )


def _run_key_command(profile: str, command: str) -> str:
    import shlex
    import subprocess

    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"profile {profile!r}: api_key_command failed: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(
            f"profile {profile!r}: api_key_command exited with status {done.returncode}"
        )
    return done.stdout.strip()
