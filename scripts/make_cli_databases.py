#!/usr/bin/env python3
"""Write profile databases the way the official MAAS CLI and python-libmaas write them.

Usage: python scripts/make_cli_databases.py OUTDIR --url URL [--api-key KEY]
           [--describe FILE] [--name NAME]

It writes OUTDIR/.maascli.db (as `maas login` does) and OUTDIR/.maas.db (as
python-libmaas's `bin/maas login` does), each with one profile NAME for URL, so
that `maascurl profile import` can be tried by hand against
`maascurl sandbox`. tests/test_profile_import.py imports the functions.

The layouts, checked against the sources of both tools:

- MAAS CLI (src/maascli/config.py, src/maascli/cli.py): the file is created with
  mode 0600; table `profiles (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  data BLOB)`; a profile is saved with `INSERT OR REPLACE` and its data is the
  JSON text of {"credentials", "description", "name", "url", "cacerts"}: the
  credentials a [consumer_key, token_key, token_secret] list or null, the whole
  describe document, the API URL ending in api/2.0/, and the PEM text of the CA
  given with --cacerts or null.
- python-libmaas (maas/client/utils/profiles.py): the same table with `data BLOB
  NOT NULL` and `selected BOOLEAN NOT NULL DEFAULT FALSE`, plus a unique index
  that lets one row at most be selected; a profile is saved by inserting its
  name with empty data (if new) and then updating the data, which is the JSON of
  the profile's other fields (such as "insecure") followed by name, url,
  credentials and description; making it the default sets `selected` to
  (name = ?) on every row.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DESCRIBE = REPO / "maascurl" / "sandbox" / "data" / "describe.json"

Data = dict[str, Any]


def api_url(url: str) -> str:
    """The API URL both tools store: the path ends in api/2.0/."""
    url = url if url.endswith("/") else url + "/"
    return url if url.endswith("/api/2.0/") else url + "api/2.0/"


def credentials(api_key: str | None) -> list[str] | None:
    return api_key.split(":") if api_key else None


def maascli_profile(
    name: str, url: str, api_key: str | None, description: Any, cacerts: str | None = None
) -> Data:
    """A profile's data as `maas login` builds it (its key order too)."""
    return {
        "credentials": credentials(api_key),
        "description": description,
        "name": name,
        "url": api_url(url),
        "cacerts": cacerts,
    }


def libmaas_profile(
    name: str, url: str, api_key: str | None, description: Any, **other: Any
) -> Data:
    """A profile's data as python-libmaas dumps it: other fields first (e.g. insecure)."""
    return {
        **other,
        "name": name,
        "url": api_url(url),
        "credentials": credentials(api_key),
        "description": description,
    }


def write_maascli_db(path: Path, profiles: Iterable[Data]) -> None:
    path.touch(mode=0o600, exist_ok=True)
    with closing(sqlite3.connect(str(path))) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS profiles ("
            " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB)"
        )
        for data in profiles:
            db.execute(
                "INSERT OR REPLACE INTO profiles (name, data) VALUES (?, ?)",
                (data["name"], json.dumps(data)),
            )
        db.commit()


def write_libmaas_db(path: Path, profiles: Iterable[Data], selected: str | None = None) -> None:
    path.touch(mode=0o600, exist_ok=True)
    with closing(sqlite3.connect(str(path))) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS profiles (id INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL UNIQUE, data BLOB NOT NULL,"
            " selected BOOLEAN NOT NULL DEFAULT FALSE)"
        )
        db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS only_one_profile_selected"
            " ON profiles (selected IS NOT NULL) WHERE selected"
        )
        for data in profiles:
            with db:
                db.execute(
                    "INSERT OR IGNORE INTO profiles (name, data) VALUES (?, '')", (data["name"],)
                )
                db.execute(
                    "UPDATE profiles SET data = ? WHERE name = ?", (json.dumps(data), data["name"])
                )
        if selected is not None:
            with db:
                db.execute("UPDATE profiles SET selected = 0")
                db.execute("UPDATE profiles SET selected = (name = ?)", (selected,))
        db.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:5240/MAAS")
    parser.add_argument("--api-key", help="consumer:token:secret (none: an anonymous profile)")
    parser.add_argument("--describe", type=Path, default=DESCRIBE)
    parser.add_argument("--name", default="maas")
    args = parser.parse_args(argv)
    description = json.loads(args.describe.read_text(encoding="utf-8"))
    args.outdir.mkdir(parents=True, exist_ok=True)
    cli_db, libmaas_db = args.outdir / ".maascli.db", args.outdir / ".maas.db"
    write_maascli_db(cli_db, [maascli_profile(args.name, args.url, args.api_key, description)])
    profile = libmaas_profile(args.name, args.url, args.api_key, description, insecure=False)
    write_libmaas_db(libmaas_db, [profile], selected=args.name)
    print(f"wrote {cli_db} and {libmaas_db}")


if __name__ == "__main__":
    main()
