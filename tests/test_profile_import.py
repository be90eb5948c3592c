"""profile import: databases written as the MAAS CLI and python-libmaas write them."""

from __future__ import annotations

import json
import sqlite3
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner
from conftest import Run, values
from simulator import FIXTURES, MaasSimulator

from maascurl.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from make_cli_databases import (
    libmaas_profile,
    maascli_profile,
    write_libmaas_db,
    write_maascli_db,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DESCRIBE = json.loads((FIXTURES / "describe.json").read_text())
NOWHERE = "http://127.0.0.1:9/MAAS"  # never contacted: completion reads the cache


def config_file(home: Path) -> Path:
    return home / "config" / "config.toml"


def read_config(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(config_file(home).read_text())
    return data


@pytest.fixture
def bob_key(sim: MaasSimulator) -> str:
    return sim.add_user("bob")


@pytest.fixture
def cli_db(sim: MaasSimulator, tmp_path: Path) -> Path:
    """As `maas login` writes it: a signed profile, an anonymous one, one for an idle server."""
    path = tmp_path / "dbs" / ".maascli.db"
    path.parent.mkdir()
    write_maascli_db(
        path,
        [
            maascli_profile("admin", sim.url, sim.api_key, DESCRIBE),
            maascli_profile("anon", sim.url + "/", None, DESCRIBE),
            maascli_profile("idle", NOWHERE, "c0nsumer:t0ken:s3cr3t-s3cr3t", DESCRIBE),
        ],
    )
    return path


@pytest.fixture
def libmaas_db(sim: MaasSimulator, tmp_path: Path, bob_key: str) -> Path:
    """As python-libmaas writes it: two profiles, the second one selected."""
    path = tmp_path / "dbs" / ".maas.db"
    path.parent.mkdir(exist_ok=True)
    profiles = [
        libmaas_profile("lab", sim.url + "/api/2.0/", sim.api_key, DESCRIBE, insecure=False),
        libmaas_profile("bob", sim.url, bob_key, DESCRIBE, insecure=True),
    ]
    write_libmaas_db(path, profiles, selected="bob")
    return path


# ---------------------------------------------------------------- importing


def test_import_from_the_maas_cli(sim: MaasSimulator, run: Run, home: Path, cli_db: Path) -> None:
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "imported 3 of 3 profiles" in result.stderr
    config = read_config(home)
    assert config["default"] == "admin"  # the first, as with login
    assert config["profiles"] == {
        "admin": {"url": sim.url, "api_key": sim.api_key},
        "anon": {"url": sim.url, "anonymous": True},
        "idle": {"url": NOWHERE, "api_key": "c0nsumer:t0ken:s3cr3t-s3cr3t"},
    }
    assert sim.requests == []  # nothing contacted
    # The profiles work: signed with the imported key, and unsigned for the anonymous one.
    whoami = run("get", "users", "op=whoami", "-p", "admin")
    assert whoami.exit_code == 0, whoami.stderr
    assert json.loads(whoami.stdout)["username"] == "admin"
    assert sim.requests[-1].oauth is not None
    version = run("get", "version", "-p", "anon")
    assert version.exit_code == 0, version.stderr
    assert sim.requests[-1].oauth is None
    show = run("profile", "show", "anon")
    assert "anonymous: true" in show.stdout


def test_imported_profiles_complete_offline(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path
) -> None:
    assert run("profile", "import", str(cli_db)).exit_code == 0
    # 'idle' points at a port nothing listens on: only the cache can answer.
    assert values("maascurl get -p idle machines op=list_al") == ["op=list_allocated"]
    assert "machines/" in values("maascurl get -p idle mach")
    assert values("maascurl get -p ") == ["admin", "anon", "idle"]
    assert sim.requests == []


def test_import_from_libmaas(
    sim: MaasSimulator, run: Run, home: Path, libmaas_db: Path, bob_key: str
) -> None:
    result = run("profile", "import", str(libmaas_db))
    assert result.exit_code == 0, result.stderr
    config = read_config(home)
    assert config["default"] == "bob"  # libmaas's selected profile
    assert "'bob' is the default profile now" in result.stderr
    assert config["profiles"]["lab"] == {"url": sim.url, "api_key": sim.api_key}
    assert config["profiles"]["bob"] == {"url": sim.url, "api_key": bob_key, "insecure": True}
    whoami = run("get", "users", "op=whoami")
    assert json.loads(whoami.stdout)["username"] == "bob"
    assert values("maascurl get -p lab machines op=list_al") == ["op=list_allocated"]


def test_keeps_an_existing_default(
    sim: MaasSimulator, run: Run, home: Path, libmaas_db: Path, profile: str
) -> None:
    assert run("profile", "import", str(libmaas_db)).exit_code == 0
    assert read_config(home)["default"] == "sim"


def test_existing_names_are_skipped_unless_force(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path, bob_key: str
) -> None:
    login = run("login", "admin", sim.url, bob_key)
    assert login.exit_code == 0, login.stderr
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 0, result.stderr
    assert "skipped 'admin': a profile of that name exists (--force replaces it)" in result.stderr
    assert "imported 2 of 3 profiles" in result.stderr
    assert read_config(home)["profiles"]["admin"]["api_key"] == bob_key
    forced = run("profile", "import", str(cli_db), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "replaced profile 'admin'" in forced.stderr
    assert "default profile now" not in forced.stderr
    assert read_config(home)["profiles"]["admin"]["api_key"] == sim.api_key


def test_dry_run_writes_nothing_and_shows_no_key(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path, bob_key: str
) -> None:
    assert run("login", "admin", sim.url, bob_key).exit_code == 0
    before = config_file(home).read_bytes()
    cache = sorted((home / "cache").rglob("*"))
    result = run("profile", "import", str(cli_db), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "would skip 'admin'" in result.stderr
    assert f"would import profile 'anon': {sim.url}, unsigned (no key)" in result.stderr
    assert f"would import profile 'idle': {NOWHERE}, signed with its API key" in result.stderr
    assert "nothing written" in result.stderr
    for part in [*sim.api_key.split(":"), "c0nsumer", "t0ken", "s3cr3t"]:
        assert part not in result.stdout + result.stderr
    assert config_file(home).read_bytes() == before
    assert sorted((home / "cache").rglob("*")) == cache
    forced = run("profile", "import", str(cli_db), "--dry-run", "--force")
    assert "would replace profile 'admin'" in forced.stderr


def test_no_key_reaches_output_or_the_configs_neighbours(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path
) -> None:
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 0
    secrets = [*sim.api_key.split(":")[1:], "t0ken", "s3cr3t-s3cr3t"]
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    for path in home.rglob("*"):
        if path.is_file() and path != config_file(home) and "dbs" not in path.parts:
            for secret in secrets:
                assert secret.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------- where it reads from


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "user"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.mark.parametrize("place", [".maascli.db", "snap/maas/current/.maascli.db", ".maas.db"])
def test_finds_the_database_in_the_home_directory(
    sim: MaasSimulator, run: Run, home: Path, user_home: Path, place: str
) -> None:
    path = user_home / place
    path.parent.mkdir(parents=True, exist_ok=True)
    write_maascli_db(path, [maascli_profile("found", sim.url, sim.api_key, DESCRIBE)])
    result = run("profile", "import")
    assert result.exit_code == 0, result.stderr
    assert f"from {path}" in result.stderr
    assert "found" in read_config(home)["profiles"]


def test_the_maas_cli_database_comes_first(
    sim: MaasSimulator, run: Run, home: Path, user_home: Path
) -> None:
    write_maascli_db(user_home / ".maascli.db", [maascli_profile("cli", sim.url, None, None)])
    write_libmaas_db(user_home / ".maas.db", [libmaas_profile("lib", sim.url, None, None)])
    result = run("profile", "import")
    assert result.exit_code == 0, result.stderr
    assert list(read_config(home)["profiles"]) == ["cli"]
    assert f"`maascurl profile import {user_home / '.maas.db'}`" in result.stderr
    assert "'cli' came without an API description" in result.stderr


def test_no_database_anywhere(run: Run, home: Path, user_home: Path) -> None:
    result = run("profile", "import")
    assert result.exit_code == 1
    assert result.stderr.startswith("maascurl: error: no MAAS CLI profiles found")
    assert result.stderr.count("\n") == 1


# ---------------------------------------------------------------- bad files


def corrupt_row(path: Path, name: str, data: Any) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO profiles (name, data) VALUES (?, ?)", (name, data))
    db.close()


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 100, b"SQLite format 3\x00" + b"\xff" * 2000, b""],
    ids=["text", "truncated", "empty"],
)
def test_a_corrupt_file_is_one_clear_error(
    run: Run, home: Path, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(content)
    result = run("profile", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"maascurl: error: {path} is not a MAAS CLI")
    assert result.stderr.count("\n") == 1
    assert not config_file(home).exists()


def test_an_unknown_schema_is_one_clear_error(run: Run, home: Path, tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE profiles (name TEXT, url TEXT)")
    db.close()
    result = run("profile", "import", str(path))
    assert result.exit_code == 1
    assert "no table profiles(id, name, data)" in result.stderr
    assert not config_file(home).exists()


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"url": "http://127.0.0.1:9/MAAS/api/2.0/", "credentials": ["a", "b"]}),
        json.dumps({"url": "http://127.0.0.1:9/MAAS/api/2.0/", "credentials": 7}),
        json.dumps({"url": "http://127.0.0.1:9/MAAS/api/2.0/", "cacerts": 1}),
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=[
        "not-json",
        "not-an-object",
        "short-credentials",
        "odd-credentials",
        "odd-cacerts",
        "nested-too-deeply",
    ],
)
def test_one_bad_profile_imports_nothing(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path, data: str
) -> None:
    corrupt_row(cli_db, "zz-broken", data)
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"maascurl: error: {cli_db}: profile 'zz-broken'")
    assert result.stderr.count("\n") == 1
    assert not config_file(home).exists()
    assert not (home / "cache").exists()


def test_profiles_maascurl_cannot_take_are_skipped_with_a_note(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path
) -> None:
    corrupt_row(cli_db, "has space", json.dumps(maascli_profile("x", sim.url, None, None)))
    old = maascli_profile("old", sim.url, None, None) | {"url": sim.url + "/api/1.0/"}
    corrupt_row(cli_db, "old", json.dumps(old))
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 0, result.stderr
    assert "skipped 'has space': not a valid maascurl profile name" in result.stderr
    assert "skipped 'old': its URL" in result.stderr
    assert "imported 3 of 5 profiles" in result.stderr


# ---------------------------------------------------------------- read-only


def test_the_database_is_only_read(run: Run, home: Path, cli_db: Path, libmaas_db: Path) -> None:
    for path in (cli_db, libmaas_db):
        before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(path.parent.iterdir()))
        path.chmod(0o400)
        result = run("profile", "import", str(path), "--force")
        assert result.exit_code == 0, result.stderr
        path.chmod(0o600)
        after = (path.read_bytes(), path.stat().st_mtime_ns, sorted(path.parent.iterdir()))
        assert after == before  # nothing beside it either: no journal, no lock file


def test_reads_while_the_other_tool_holds_a_lock(run: Run, home: Path, cli_db: Path) -> None:
    """No lock is taken: a plain read-only open would fail with 'database is locked'."""
    holder = sqlite3.connect(cli_db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = run("profile", "import", str(cli_db))
        assert result.exit_code == 0, result.stderr
    finally:
        holder.close()
    assert len(read_config(home)["profiles"]) == 3


def test_refuses_a_database_in_the_middle_of_a_write(run: Run, home: Path, cli_db: Path) -> None:
    journal = cli_db.with_name(cli_db.name + "-journal")
    journal.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\x00" * 504)
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 1
    assert "is being written" in result.stderr
    assert not config_file(home).exists()


# ---------------------------------------------------------------- CA certificates


def test_a_ca_certificate_goes_beside_the_config(
    https_maas: MaasSimulator, ca: trustme.CA, run: Run, home: Path, tmp_path: Path
) -> None:
    pem = ca.cert_pem.bytes().decode()
    path = tmp_path / ".maascli.db"
    profile = maascli_profile("tls", https_maas.url, https_maas.api_key, DESCRIBE, cacerts=pem)
    write_maascli_db(path, [profile])
    result = run("profile", "import", str(path))
    assert result.exit_code == 0, result.stderr
    cacert = Path(read_config(home)["profiles"]["tls"]["cacert"])
    assert cacert.parent == config_file(home).parent
    assert cacert.read_text() == pem
    assert stat.S_IMODE(cacert.stat().st_mode) == 0o600
    whoami = run("get", "users", "op=whoami", "-p", "tls")
    assert whoami.exit_code == 0, whoami.stderr
    assert json.loads(whoami.stdout)["username"] == "admin"


def test_a_broken_config_imports_nothing(
    https_maas: MaasSimulator, ca: trustme.CA, run: Run, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / ".maascli.db"
    pem = ca.cert_pem.bytes().decode()
    write_maascli_db(path, [maascli_profile("tls", https_maas.url, None, None, cacerts=pem)])
    config_file(home).parent.mkdir(parents=True)
    config_file(home).write_text("this is = not [ toml\n")
    result = run("profile", "import", str(path))
    assert result.exit_code == 1
    assert list(config_file(home).parent.glob("cacert-*")) == []


def test_file_completes_as_a_path(home: Path) -> None:
    """Click answers 'file' and the shell scripts then complete file names."""
    env = {"_MAASCURL_COMPLETE": "bash_complete", "COMP_WORDS": "maascurl profile import ~/.m"}
    env["COMP_CWORD"] = "3"
    result = CliRunner().invoke(cli, [], env=env, prog_name="maascurl")
    assert result.stdout.splitlines() == ["file,~/.m"]
    assert "--dry-run" in values("maascurl profile import --")
    assert values("maascurl profile ") == ["default", "import", "list", "show"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/MA\x1b]0;pwned\x07AS/",
        "http://127.0.0.1:9/MAAS\u009b31m/",
        "http://127.0.0.1:9/MA AS/",
        "http://127.0.0.1:9/MA\udce9AS/",
    ],
    ids=["osc", "c1", "space", "not-utf8"],
)
def test_a_stored_url_login_would_refuse_is_skipped(
    run: Run, home: Path, tmp_path: Path, url: str
) -> None:
    """As `login` refuses such a URL, import skips its profile, saying so visibly."""
    path = tmp_path / ".maascli.db"
    write_maascli_db(path, [maascli_profile("odd", url, None, None)])
    for args in (["--dry-run"], []):
        result = run("profile", "import", str(path), *args)
        assert result.exit_code == 0, result.stderr
        assert "skipped 'odd': its URL" in result.stderr
        assert "holds control characters, spaces or non-UTF-8" in result.stderr
        assert not any(c in result.stderr for c in "\x1b\x07\u009b")
    assert "imported 0 of 1 profiles" in result.stderr
    assert "odd" not in (config_file(home).read_text() if config_file(home).exists() else "")


def test_a_bidi_control_in_a_stored_url_is_shown_escaped(
    run: Run, home: Path, tmp_path: Path
) -> None:
    """A URL login takes may still hold a bidi control (U+202E turns what follows around on
    the screen): the import's summary shows it escaped, as profile list and show do."""
    path = tmp_path / ".maascli.db"
    write_maascli_db(path, [maascli_profile("odd", "http://127.0.0.1:9/MA\u202eAS", None, None)])
    result = run("profile", "import", str(path), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "would import profile 'odd': http://127.0.0.1:9/MA\\u202eAS" in result.stderr
    assert "\u202e" not in result.stderr


def test_a_file_that_changes_while_read_is_refused(
    sim: MaasSimulator, run: Run, home: Path, cli_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Immutable reads cannot see another writer, so a change meanwhile must be noticed."""
    from maascurl.profiles import profile_import

    query = profile_import._query

    def query_then_other_tool_writes(path: Path) -> list[tuple[str, Any, Any]]:
        rows = query(path)
        write_maascli_db(path, [maascli_profile("late", sim.url, None, None)])
        return rows

    monkeypatch.setattr(profile_import, "_query", query_then_other_tool_writes)
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 1
    assert "changed while it was read; run the import again" in result.stderr
    assert not config_file(home).exists()


def test_refuses_a_database_beside_its_write_ahead_log(run: Run, home: Path, cli_db: Path) -> None:
    """In WAL mode the newest writes are in the -wal file, which an immutable read skips."""
    cli_db.with_name(cli_db.name + "-wal").write_bytes(b"\x37\x7f\x06\x82" + b"\x00" * 28)
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 1
    assert "is being written (.maascli.db-wal is beside it)" in result.stderr
    assert not config_file(home).exists()


@pytest.mark.parametrize("suffix", ["-journal", "-wal"])
def test_a_link_to_a_database_being_written_is_refused(
    run: Run, home: Path, cli_db: Path, tmp_path: Path, suffix: str
) -> None:
    """The journal lies beside the database itself, not beside a link to it."""
    cli_db.with_name(cli_db.name + suffix).write_bytes(b"\xd9\xd5\x05\xf9" + b"\x00" * 508)
    link = tmp_path / "elsewhere" / "profiles.db"
    link.parent.mkdir()
    link.symlink_to(cli_db)
    result = run("profile", "import", str(link))
    assert result.exit_code == 1
    assert f"is being written (.maascli.db{suffix} is beside it)" in result.stderr
    assert not config_file(home).exists()


def test_an_empty_journal_left_by_a_finished_write_is_no_obstacle(
    run: Run, home: Path, cli_db: Path
) -> None:
    """journal_mode=TRUNCATE leaves an empty journal after every committed write."""
    writer = sqlite3.connect(cli_db)
    try:
        writer.execute("PRAGMA journal_mode=TRUNCATE")
        writer.execute("UPDATE profiles SET name = name")
        writer.commit()
    finally:
        writer.close()
    journal = cli_db.with_name(cli_db.name + "-journal")
    assert journal.is_file() and journal.stat().st_size == 0
    result = run("profile", "import", str(cli_db))
    assert result.exit_code == 0, result.stderr
    assert len(read_config(home)["profiles"]) == 3


def test_a_failed_import_leaves_no_certificate_behind(
    https_maas: MaasSimulator, ca: trustme.CA, run: Run, home: Path, tmp_path: Path
) -> None:
    """Nothing half-imported: the first profile's certificate goes when the second fails."""
    pem = ca.cert_pem.bytes().decode()
    path = tmp_path / ".maascli.db"
    profiles = [
        maascli_profile("first", https_maas.url, None, None, cacerts=pem),
        maascli_profile("second", https_maas.url, None, None, cacerts=pem),
    ]
    write_maascli_db(path, profiles)
    (config_file(home).parent / "cacert-second.pem").mkdir(parents=True)  # cannot be replaced
    result = run("profile", "import", str(path))
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "cacert-second.pem" in result.stderr
    assert list(config_file(home).parent.glob("cacert-first*")) == []
    assert list(config_file(home).parent.glob(".cacert-*")) == []  # no temporary file left
    assert not config_file(home).exists()
