#!/usr/bin/env python3
"""Build the sandbox's data (maascurl/sandbox/data/) from reference data.

The reference data (a real MAAS describe document and captured API response
bodies) is not part of the repository; this script reduces it to what the
tests need and replaces every piece of documentation prose with short
generated text, keeping only the facts: resource names and paths, action
names/methods/ops, parameter names, Required./Optional. markers and types.
The document's top-level doc says so (GENERATED_DOC).

Usage: python scripts/make_fixtures.py [--shared DIR] [--out DIR]

Running it twice produces byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "fixtures"
DEFAULT_OUT = REPO / "maascurl" / "sandbox" / "data"  # the sandbox's, and the tests'


PARAM_RE = re.compile(r"^\s*:param ([\w-]+):\s*(.*)$")
TYPE_RE = re.compile(r"^\s*:type ([\w-]+):\s*(.*)$")
# Lines such as ":maas_name: ..." list configuration names inside a parameter.
ITEM_RE = re.compile(r"^:([\w-]+):\s")
WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
MARKERS = ("Required.", "Optional.")
# The document's own top-level doc: it says that its texts are not MAAS's.
GENERATED_DOC = (
    "MAAS API, as described by the maascurl MAAS simulator: the handler and action texts "
    "are generated from MAAS's names, not MAAS's documentation."
)

Json = Any


def handler_words(handler_name: str) -> str:
    """'SSHKeysHandler' -> 'ssh keys'."""
    stem = handler_name.removesuffix("Handler")
    return " ".join(w.lower() for w in WORD_RE.findall(stem))


def subject(handler_name: str) -> str:
    words = handler_words(handler_name)
    if words.endswith("s"):
        return f"the {words} collection"
    return f"one {words}"


def parse_doc_facts(doc: str) -> list[tuple[str, str, str]]:
    """Return the (kind, name, value) facts of an action doc, in order.

    kind is 'param' (value = Required./Optional. marker or ''), 'type'
    (value = type name) or 'item' (a configuration name, value unused).
    """
    facts: list[tuple[str, str, str]] = []
    for line in doc.splitlines():
        if m := PARAM_RE.match(line):
            first = m.group(2).split(" ", 1)[0]
            facts.append(("param", m.group(1), first if first in MARKERS else ""))
        elif m := TYPE_RE.match(line):
            facts.append(("type", m.group(1), m.group(2).strip()))
        elif (m := ITEM_RE.match(line)) and m.group(1) != "return":
            facts.append(("item", m.group(1), ""))
    return facts


def render_facts(facts: list[tuple[str, str, str]]) -> str:
    # Mirrors the layout MAAS emits: blocks separated by "\n\n " and a
    # trailing "\n\n " after the last parameter block.
    out = ""
    seen_param = False
    in_items = False
    for kind, name, value in facts:
        if kind == "param":
            marker = f"{value}  " if value else ""
            out += ("\n\n " if seen_param else "") + f":param {name}: {marker}Value for {name}."
            seen_param, in_items = True, False
        elif kind == "type":
            out += f"\n:type {name}: {value}"
        else:
            if not in_items:
                out += "\n\nAccepted names:\n"
                in_items = True
            out += f"\n:{name}: Setting {name}."
    return out


def generate_action_doc(action: Json, handler_name: str) -> str:
    name = action["name"]
    title = name.replace("_", " ").replace("-", " ").capitalize()
    sentence = f"Runs the {name} operation on {subject(handler_name)}."
    facts = render_facts(parse_doc_facts(action["doc"] or ""))
    if facts:
        return f"{title}\n\n{sentence}\n\n{facts}\n\n "
    return f"{title}\n\n{sentence}\n\n"


def convert_part(part: Json) -> Json:
    if part is None:
        return None
    name = part["name"]
    actions = [
        {
            "doc": generate_action_doc(a, name),
            "method": a["method"],
            "name": a["name"],
            "op": a["op"],
            "restful": a["restful"],
        }
        for a in part["actions"]
    ]
    return {
        "actions": actions,
        "doc": f"Operations on {subject(name)}.",
        "name": name,
        "params": list(part["params"]),
        "path": part["path"],
        "uri": part["uri"],
    }


def convert_describe(real: Json) -> Json:
    resources = [
        {"anon": convert_part(r["anon"]), "auth": convert_part(r["auth"]), "name": r["name"]}
        for r in real["resources"]
    ]
    handlers = [convert_part(h) for h in real["handlers"]]
    doc, digest = GENERATED_DOC, real["hash"]
    return {"doc": doc, "handlers": handlers, "hash": digest, "resources": resources}


def load(path: Path) -> Json:
    return json.loads(path.read_text(encoding="utf-8"))


def examples(shared: Path, name: str) -> Json:
    return load(shared / "responses" / "maas-api-examples" / f"{name}.json")


def gomaas(shared: Path, name: str) -> Json:
    return load(shared / "responses" / "gomaasclient" / f"{name}.json")


def response_files(shared: Path) -> dict[str, Json]:
    account = examples(shared, "account")
    users = examples(shared, "users")
    return {
        "machine.json": gomaas(shared, "machine"),
        "machines.json": gomaas(shared, "machines"),
        "whoami.json": users["whoami"],
        "users.json": users["list"],
        "version.json": examples(shared, "version")["version"],
        "sshkeys.json": account["ssh-keys-list"],
        "sshkey.json": account["ssh-keys-get"],
        "sslkeys.json": account["ssl-keys-list"],
        "tokens.json": account["account-list-tokens"],
        "tags.json": examples(shared, "tags")["get-tags"],
        "events.json": examples(shared, "events")["events-query"],
        "devices.json": [examples(shared, "devices")["devices-create"]],
        "fabrics.json": examples(shared, "fabrics")["fabrics-read"],
        "spaces.json": examples(shared, "spaces")["read-spaces"],
        "ipaddresses.json": examples(shared, "ipaddresses")["ipaddresses-read"],
        "dnsresources.json": examples(shared, "dnsresources")["dnsresources-read"],
        "zones.json": [gomaas(shared, "zone")],
        "resource_pools.json": gomaas(shared, "resource_pools"),
        "subnets.json": gomaas(shared, "subnets"),
        "vlans.json": gomaas(shared, "vlans"),
        "domains.json": gomaas(shared, "domains"),
        "interfaces.json": gomaas(shared, "interfaces"),
        "block_devices.json": gomaas(shared, "block_devices"),
        "boot_resources.json": gomaas(shared, "boot_resources"),
        "rack_controllers.json": gomaas(shared, "rack_controllers"),
    }


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    shared: Path = args.shared
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    describe = convert_describe(load(shared / "maas-describe-real.json"))
    compact = json.dumps(describe, sort_keys=True, separators=(",", ":"))
    write(out / "describe.json", compact.encode("ascii"))

    for name, data in response_files(shared).items():
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        write(out / name, text.encode("utf-8"))


if __name__ == "__main__":
    main()
