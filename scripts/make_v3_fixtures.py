#!/usr/bin/env python3
"""Build the committed MAAS API v3 OpenAPI fixtures under maascurl/sandbox/data/v3/.

The reference documents (the exact OpenAPI documents MAAS 3.7.3 and the
3.8.0a1 development branch serve at /MAAS/a/openapi.json) are not part of the
repository.  This script keeps their structure and facts -- paths, methods,
operationIds, tags, parameters (name, in, required, schema), request bodies,
responses and their headers, component schemas (properties, types, formats,
required, enums, defaults, bounds, patterns, $refs) and security schemes --
and replaces every piece of documentation prose with short generated text:

- an operation's summary becomes "METHOD /path", its description is dropped;
- a response's description becomes the HTTP reason phrase of its status;
- a schema's title becomes its component name, a property's title is made
  from the property name (as pydantic does), descriptions are dropped;
- parameter and header descriptions are dropped, the info block keeps only
  the title and version.

Usage: python scripts/make_v3_fixtures.py [--shared DIR] [--out DIR]

Running it twice produces byte-identical files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "fixtures"
DEFAULT_OUT = REPO / "maascurl" / "sandbox" / "data" / "v3"
VERSIONS = ("3.7.3", "3.8.0a1")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROSE = ("description", "summary", "title")

Json = Any


def field_title(name: str) -> str:
    """pydantic's default title for a field: 'cpu_speed_MHz' -> 'Cpu Speed Mhz'."""
    return name.title().replace("_", " ").strip()


# Reason phrases (RFC 9110), fixed here: http.HTTPStatus's differ between Pythons.
REASONS = {
    "200": "OK",
    "201": "Created",
    "202": "Accepted",
    "204": "No Content",
    "303": "See Other",
    "400": "Bad Request",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "Not Found",
    "409": "Conflict",
    "412": "Precondition Failed",
    "422": "Unprocessable Content",
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": "Service Unavailable",
    "507": "Insufficient Storage",
}


def reason(status: str) -> str:
    return REASONS.get(status, "Response")


def clean_schema(schema: Json, title: str | None) -> Json:
    """A schema without prose; TITLE replaces its title where it had one."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Json] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key == "title":
            if title is not None:
                out[key] = title
            continue
        if key == "properties":
            out[key] = {name: clean_schema(sub, field_title(name)) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = clean_schema(value, None)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [clean_schema(sub, None) for sub in value]
        else:
            out[key] = value
    return out


def clean_content(content: Json) -> Json:
    return {
        media: {
            key: clean_schema(value, None) if key == "schema" else value
            for key, value in body.items()
            if key not in PROSE
        }
        for media, body in content.items()
    }


def clean_parameter(parameter: Json) -> Json:
    out: dict[str, Json] = {}
    for key, value in parameter.items():
        if key in PROSE:
            continue
        if key == "schema":
            out[key] = clean_schema(value, field_title(parameter["name"]))
        elif key == "content":
            out[key] = clean_content(value)
        else:
            out[key] = value
    return out


def clean_response(status: str, response: Json) -> Json:
    out: dict[str, Json] = {}
    for key, value in response.items():
        if key == "description":
            out[key] = reason(status)
        elif key == "headers":
            out[key] = {
                name: {
                    k: clean_schema(v, None) if k == "schema" else v
                    for k, v in header.items()
                    if k not in PROSE
                }
                for name, header in value.items()
            }
        elif key == "content":
            out[key] = clean_content(value)
        elif key not in PROSE:
            out[key] = value
    return out


def clean_operation(method: str, path: str, operation: Json) -> Json:
    out: dict[str, Json] = {}
    for key, value in operation.items():
        if key == "summary":
            out[key] = f"{method.upper()} {path}"
        elif key == "description":
            continue
        elif key == "parameters":
            out[key] = [clean_parameter(p) for p in value]
        elif key == "requestBody":
            out[key] = {
                k: clean_content(v) if k == "content" else v
                for k, v in value.items()
                if k not in PROSE
            }
        elif key == "responses":
            out[key] = {status: clean_response(status, r) for status, r in value.items()}
        else:
            out[key] = value
    return out


def without_prose(value: Json) -> Json:
    """Drop prose keys everywhere below (for blocks that hold no schemas)."""
    if isinstance(value, dict):
        return {k: without_prose(v) for k, v in value.items() if k not in PROSE}
    if isinstance(value, list):
        return [without_prose(v) for v in value]
    return value


def convert(doc: Json) -> Json:
    paths: dict[str, Json] = {}
    for path, item in doc["paths"].items():
        paths[path] = {
            key: (
                clean_operation(key, path, value)
                if key in METHODS
                else [clean_parameter(p) for p in value]
                if key == "parameters"
                else value
            )
            for key, value in item.items()
            if key not in PROSE
        }
    components: dict[str, Json] = {}
    for key, value in doc.get("components", {}).items():
        if key == "schemas":
            components[key] = {name: clean_schema(s, name) for name, s in value.items()}
        else:
            components[key] = without_prose(value)
    out: dict[str, Json] = {
        "openapi": doc["openapi"],
        "info": {"title": doc["info"]["title"], "version": doc["info"]["version"]},
        "paths": paths,
        "components": components,
    }
    for key, value in doc.items():
        if key not in out:
            out[key] = without_prose(value)
    return out


def leftover_prose(original: Json, converted: Json) -> list[str]:
    """Strings of the original's prose keys that survived (should be none)."""
    prose: set[str] = set()

    def collect(node: Json, into: set[str], keys: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in keys and isinstance(v, str):
                    into.add(v)
                collect(v, into, keys)
        elif isinstance(node, list):
            for v in node:
                collect(v, into, keys)

    collect(original, prose, ("description", "summary"))
    kept: set[str] = set()
    collect(converted, kept, ("description", "summary"))
    generated = {*REASONS.values(), "Response"}
    return sorted(s for s in prose & kept if s not in generated and " /MAAS/" not in s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    shared: Path = args.shared
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for version in VERSIONS:
        original = json.loads(
            (shared / f"maas-v3-openapi-{version}.json").read_text(encoding="utf-8")
        )
        converted = convert(original)
        if left := leftover_prose(original, converted):
            raise SystemExit(f"{version}: prose left in the fixture: {left[:5]}")
        data = json.dumps(converted, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        path = out / f"openapi-{version}.json"
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
