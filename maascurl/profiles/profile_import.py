"""`profile import`: take over the profiles of the official MAAS CLI and python-libmaas.

Both keep their profiles in SQLite: `~/.maascli.db` (the snap's CLI: under
`~/snap/maas/current/`) and libmaas's `~/.maas.db`, each with a table
`profiles(id, name, data)` (libmaas adds `selected`, its default profile).
`data` is JSON: name, url (the API URL, ending in api/2.0/), credentials (a
[consumer_key, token_key, token_secret] list, or null for anonymous access),
cacerts (PEM text or null; the MAAS CLI), insecure (libmaas) and description,
the server's whole describe document.

The other tool's file is only read: it is opened read-only and immutable, so
SQLite takes no lock and writes nothing beside it (no journal). Immutable
also means SQLite would not notice a write in progress, so the file is
refused while a journal or write-ahead log of the other tool lies beside it,
and read again if it changed meanwhile. Everything is checked before anything
is written; the config then changes in one locked, atomic write, and the
stored descriptions go straight into the cache, so TAB completion works at
once without contacting any server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from maascurl.errors import ConfigError, MaascurlError, note, warn
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
from maascurl.wire.settings import parse_api_key

# Where the MAAS CLI (deb, then snap) and python-libmaas keep their profiles.
SOURCES = ("~/.maascli.db", "~/snap/maas/current/.maascli.db", "~/.maas.db")
REQUIRED_COLUMNS = {"id", "name", "data"}


class Found(NamedTuple):
    """One profile read from the other tool's database, checked."""

    name: str
    url: str  # maascurl's form: http://host:5240/MAAS
    api_key: str | None  # None: anonymous
    cacert_pem: str | None
    insecure: bool
    description: Any
    selected: bool


class Skipped(NamedTuple):
    name: str
    reason: str


def import_profiles(file: str | None, force: bool, dry_run: bool) -> None:
    from maascurl.profiles.login import tell

    path = source_path(file)
    found, skipped = read_profiles(path)
    for skip in skipped:
        note(f"skipped {skip.name!r}: {skip.reason}")
    if dry_run:
        _show_plan(path, found, force)
        return
    done, config, new_default = _save(found, force)
    for item in found:
        if item.name not in done:
            note(f"skipped {item.name!r}: a profile of that name exists (--force replaces it)")
            continue
        tell(f"{done[item.name]} profile {item.name!r}: {_summary(item, config)}")
        _cache_description(item)
    if new_default:
        tell(f"{new_default!r} is the default profile now")
    total = len(found) + len(skipped)
    tell(f"imported {len(done)} of {total} profiles from {path} into {config.path}")


def source_path(file: str | None) -> Path:
    """FILE, else the first of the known databases that exists."""
    if file is not None:
        path = Path(file).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        return path
    present = [Path(p).expanduser() for p in SOURCES if Path(p).expanduser().is_file()]
    if not present:
        raise ConfigError(
            f"no MAAS CLI profiles found (looked for {', '.join(SOURCES)}); give FILE"
        )
    for other in present[1:]:
        note(f"{other} has profiles too: `maascurl profile import {other}` takes them")
    return present[0]


# --- reading ------------------------------------------------------------------


def read_profiles(path: Path) -> tuple[list[Found], list[Skipped]]:
    """Every profile in the database at PATH; one clear error if it is not such a database."""
    found: list[Found] = []
    skipped: list[Skipped] = []
    for name, data, selected in read_rows(path):
        if not data:  # a row libmaas created but never filled; libmaas skips these too
            skipped.append(Skipped(name, "it holds no data"))
            continue
        item = _profile(path, name, data, bool(selected))
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            found.append(item)
    return found, skipped


def read_rows(path: Path) -> list[tuple[str, Any, Any]]:
    try:
        path.open("rb").close()  # SQLite would only say "unable to open database file"
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    _refuse_unfinished_write(path)
    before = _signature(path)
    rows = _query(path)
    if _signature(path) != before:
        raise ConfigError(f"{path} changed while it was read; run the import again")
    return rows


def _refuse_unfinished_write(path: Path) -> None:
    # SQLite keeps the journal beside the file itself, not beside a link to it.
    real = path.resolve()
    for suffix in ("-journal", "-wal"):
        beside = real.with_name(real.name + suffix)
        if beside.is_file() and beside.stat().st_size > 0:
            raise ConfigError(
                f"{path} is being written ({beside.name} is beside it); run the import "
                "again once the other tool is done (a `maas` command lets it finish)"
            )


def _signature(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_ino, status.st_size, status.st_mtime_ns


def _query(path: Path) -> list[tuple[str, Any, Any]]:
    import sqlite3
    from contextlib import closing
    from urllib.parse import quote

    # Read-only and immutable: no lock on the other tool's file, nothing written beside it.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    unknown = f"{path} is not a MAAS CLI or python-libmaas profile database"
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(profiles)")}
            if not columns >= REQUIRED_COLUMNS:
                raise ConfigError(f"{unknown} (no table profiles(id, name, data))")
            selected = "selected" if "selected" in columns else "0"
            query = f"SELECT name, data, {selected} FROM profiles ORDER BY id"
            rows: list[tuple[str, Any, Any]] = db.execute(query).fetchall()
    except sqlite3.Error as exc:
        raise ConfigError(f"{unknown} ({exc})") from None
    return rows


def _profile(path: Path, name: Any, data: Any, selected: bool) -> Found | Skipped:
    where = f"{path}: profile {name!r}"
    try:
        record = json.loads(data)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: its data is not JSON") from None
    except RecursionError:  # a hostile file's nesting, not a bug of ours
        raise ConfigError(f"{where}: its data is nested too deeply") from None
    if not isinstance(name, str) or not isinstance(record, dict):
        raise ConfigError(f"{where}: its data is not a profile")
    try:
        check_profile_name(name)
    except MaascurlError:
        return Skipped(name, "not a valid maascurl profile name; rename it in the other tool")
    url = record.get("url")
    if not isinstance(url, str) or not url.rstrip("/").endswith("/api/2.0"):
        return Skipped(name, f"its URL {url!r} is not a MAAS 2.0 API URL")
    try:
        check_url_characters(url)  # as `login` refuses them
    except MaascurlError:
        return Skipped(name, f"its URL {url!r} holds control characters, spaces or non-UTF-8")
    try:
        url = normalise_url(url)
    except MaascurlError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    cacert = record.get("cacerts")
    if cacert is not None and not isinstance(cacert, str):
        raise ConfigError(f"{where}: cacerts is not PEM text")
    return Found(
        name=name,
        url=url,
        api_key=_api_key(where, record.get("credentials")),
        cacert_pem=cacert or None,
        insecure=record.get("insecure") is True,
        description=record.get("description"),
        selected=selected,
    )


def _api_key(where: str, credentials: Any) -> str | None:
    """The key in maascurl's form, or None for an anonymous profile."""
    if credentials is None or credentials in ([], ""):
        return None
    if isinstance(credentials, str):  # libmaas also accepts the colon-separated form
        credentials = credentials.split(":")
    if not isinstance(credentials, list) or not all(isinstance(p, str) for p in credentials):
        raise ConfigError(f"{where}: its credentials are not a key")
    try:
        key = parse_api_key(":".join(credentials))  # also registers the secrets
    except MaascurlError:
        raise ConfigError(f"{where}: its credentials are not a key") from None
    return ":".join(key)


# --- writing ------------------------------------------------------------------


def _save(found: list[Found], force: bool) -> tuple[dict[str, str], Config, str | None]:
    """Add the profiles in one locked, atomic config write.

    Returns {name: 'imported' or 'replaced'}, the config, and the profile made the
    default (when there was none).
    """
    done: dict[str, str] = {}
    written: list[Path] = []
    new_default: list[str] = []

    def change(config: Config) -> None:
        done.clear()
        new_default.clear()
        for item in found:
            existed = item.name in config.profiles
            if existed and not force:
                continue
            config.profiles[item.name] = _new_profile(item, config.path.parent, written)
            done[item.name] = "replaced" if existed else "imported"
        if done and (not config.default or config.default not in config.profiles):
            chosen = [item.name for item in found if item.selected and item.name in done]
            config.default = (chosen or list(done))[0]
            new_default.append(config.default)

    try:
        config = update_config(change)
    except BaseException:
        for cacert in written:  # nothing half-imported: no certificate without its profile
            cacert.unlink(missing_ok=True)
        raise
    return done, config, new_default[0] if new_default else None


def _new_profile(item: Found, directory: Path, written: list[Path]) -> Profile:
    profile = Profile(
        item.name,
        item.url,
        api_key=item.api_key,
        insecure=item.insecure,
        anonymous=item.api_key is None,
    )
    if item.cacert_pem:
        profile.cacert = str(_write_cacert(directory / f"cacert-{item.name}.pem", item.cacert_pem))
        written.append(Path(profile.cacert))
    return profile


def _write_cacert(target: Path, pem: str) -> Path:
    from maascurl.profiles.config import write_atomically

    write_atomically(target, pem if pem.endswith("\n") else pem + "\n")
    return target


def _cache_description(item: Found) -> None:
    from maascurl.api.apidesc import save_cache

    profile = Profile(item.name, item.url)
    if not isinstance(item.description, dict):
        note(f"{item.name!r} came without an API description; `maascurl refresh -p {item.name}`")
        return
    try:
        save_cache(profile.api_root, json.dumps(item.description).encode("utf-8"))
    except (MaascurlError, ValueError, KeyError, TypeError, OSError) as exc:
        warn(
            f"{item.name!r}: its stored API description could not be cached ({exc}); "
            f"run `maascurl refresh -p {item.name}`"
        )


# --- reporting ----------------------------------------------------------------


def _summary(item: Found, config: Config | None) -> str:
    """URL and settings of a profile, never its key."""
    from maascurl.termsafe import safe_line

    # The URL comes from another tool's file: control characters in it are made visible.
    parts = [
        safe_line(item.url),
        "signed with its API key" if item.api_key else "unsigned (no key)",
    ]
    if item.cacert_pem:
        profile = config.profiles.get(item.name) if config else None
        where = f" in {profile.cacert}" if profile and profile.cacert else ""
        parts.append(f"its CA certificate{where}")
    if item.insecure:
        parts.append("TLS verification off")
    if not isinstance(item.description, dict):
        parts.append("no API description")
    return ", ".join(parts)


def _show_plan(path: Path, found: list[Found], force: bool) -> None:
    from maascurl.profiles.login import tell

    existing = load_config().profiles
    for item in found:
        if item.name in existing and not force:
            note(f"would skip {item.name!r}: a profile of that name exists (--force replaces it)")
            continue
        verb = "replace" if item.name in existing else "import"
        tell(f"would {verb} profile {item.name!r}: {_summary(item, None)}")
    tell(f"dry run: nothing written (from {path}, into {config_path()})")
