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

from maascurl.errors import ConfigError, MaascurlError, note, size_text, warn
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
# What reading another tool's database may cost (see _query): a profile's data is
# its settings and the server's API description (a MB or two; descriptions are
# fetched up to 32 MB).
ROW_LIMIT = 32 * 1024 * 1024  # one value
TOTAL_LIMIT = 64 * 1024 * 1024  # all the profiles
MAX_ROWS = 1000
READ_STEPS = 10_000_000  # steps of SQLite's machine: far more than any real file needs
PROGRESS_EVERY = 1000  # steps between two checks


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
    """The rows of `profiles`, read from a file that may be hostile.

    A database file holds more than data: views, generated columns and
    virtual tables run code when read, so a 4 KB file could ask for an
    endless recursive query or a gigabyte blob. `profiles` must be a plain
    table whose columns are stored (PRAGMA table_info leaves out computed
    ones); functions the schema names run only if SQLite deems them harmless
    (trusted_schema off); a value past ROW_LIMIT is measured, never fetched
    (`length(data)`), and SQLite itself refuses longer ones
    (SQLITE_LIMIT_LENGTH, which Python lets us set from 3.11 on); the rows
    and their total size are bounded too, and the query stops after
    READ_STEPS steps of SQLite's machine.
    """
    import sqlite3
    import sys
    from contextlib import closing
    from urllib.parse import quote

    # Read-only and immutable: no lock on the other tool's file, nothing written beside it.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    unknown = f"{path} is not a MAAS CLI or python-libmaas profile database"
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps * PROGRESS_EVERY > READ_STEPS else 0  # non-zero: interrupt

    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            if sys.version_info >= (3, 11):  # Connection.setlimit is new in 3.11
                db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, ROW_LIMIT)
            db.set_progress_handler(progress, PROGRESS_EVERY)
            db.execute("PRAGMA trusted_schema = OFF")
            kinds = db.execute(
                "SELECT type, sql FROM sqlite_master WHERE name = 'profiles' COLLATE NOCASE"
            ).fetchall()
            plain = [sql for kind, sql in kinds if kind == "table" and _plain_table(sql)]
            columns = {row[1] for row in db.execute("PRAGMA table_info(profiles)")}
            if not plain or not columns >= REQUIRED_COLUMNS:
                raise ConfigError(f"{unknown} (no table profiles(id, name, data))")
            selected = "selected" if "selected" in columns else "0"
            query = (
                "SELECT name, CASE WHEN length(data) <= :cap THEN data END, "
                f"length(data) > :cap, {selected} FROM profiles ORDER BY id LIMIT :rows"
            )
            cursor = db.execute(query, {"cap": ROW_LIMIT, "rows": MAX_ROWS + 1})
            rows = _bounded_rows(path, cursor)
    except sqlite3.Error as exc:
        if steps * PROGRESS_EVERY > READ_STEPS:
            raise ConfigError(f"{unknown} (reading it takes too long)") from None
        raise ConfigError(f"{unknown} ({exc})") from None
    return rows


def _plain_table(sql: Any) -> bool:
    """A CREATE TABLE, not a virtual table (whose module runs code when it is read)."""
    return isinstance(sql, str) and sql.lstrip()[:12].upper() == "CREATE TABLE"


def _bounded_rows(path: Path, cursor: Any) -> list[tuple[str, Any, Any]]:
    rows: list[tuple[str, Any, Any]] = []
    total = 0
    for name, data, too_big, selected in cursor:
        if too_big:
            cap = size_text(ROW_LIMIT)
            raise ConfigError(f"{path}: profile {name!r}: its data is larger than {cap}")
        if len(rows) == MAX_ROWS:
            raise ConfigError(f"{path}: more than {MAX_ROWS} profiles")
        total += _size(data) + _size(name)
        if total > TOTAL_LIMIT:
            raise ConfigError(f"{path}: its profiles hold more than {size_text(TOTAL_LIMIT)}")
        rows.append((name, data, selected))
    return rows


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 0


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
