"""What the second security review found (issue 20, items 2 to 6), each against a hostile
server (tests/hostile.py), a hostile input file or a hostile SQLite file.

Item 2 (PATH placeholders) is tested in tests/test_each_data.py, and bash's quoting of
TAB candidates (item 3) with real shells in tests/test_completion.py.
"""

from __future__ import annotations

import json
from typing import Any

from conftest import Run, complete
from hostile import HostileServer, reply

from maascurl.api.apidesc import save_cache
from maascurl.api.listings import load_ids

MB = 1024 * 1024
# Typed on a command line by TAB and run with Enter, it creates /tmp/PWNED.
PAYLOAD = "x$(touch${IFS}/tmp/PWNED)"


def describe(*resources: tuple[str, list[dict[str, Any]]]) -> bytes:
    """An API description with RESOURCES: (path under /MAAS/api/2.0/, actions) pairs."""
    rows = []
    for path, actions in resources:
        params = [p[1:-1] for p in path.split("/") if p.startswith("{")]
        auth = {"path": f"/MAAS/api/2.0/{path}", "params": params, "doc": "E.", "actions": actions}
        rows.append({"name": path, "auth": auth})
    return json.dumps({"hash": "h1", "resources": rows}).encode()


def action(method: str, op: str | None, doc: str = "Do it.") -> dict[str, Any]:
    name = op or {"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}[method]
    return {"doc": doc, "method": method, "name": name, "op": op, "restful": op is None}


# --- 3: TAB candidates from the server ----------------------------------------------------


def test_a_listed_id_that_is_shell_syntax_is_not_kept(hostile: HostileServer, run: Run) -> None:
    save_cache(
        hostile.api_root,
        describe(("evils/", [action("GET", None)]), ("evils/{id}/", [action("GET", None)])),
    )
    listing = json.dumps(
        [{"id": PAYLOAD, "name": "evil"}, {"id": "e1", "name": "one"}, {"id": "a b", "name": "x"}]
    ).encode()
    hostile.answer(reply(200, listing, {"X-MAAS-API-Hash": "h1"}))
    result = run("get", "evils")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == listing  # the answer itself is shown as it came
    assert load_ids(hostile.api_root, "evils/") == [("e1", "one")]
    assert complete("maascurl get evils/") == ["nospace,evils/", "nospace,evils/e1/"]


def test_ops_fields_and_paths_that_are_shell_syntax_are_not_offered(
    hostile: HostileServer,
) -> None:
    field_doc = "Do it.\n\n:param name: A name.\n:param x$(touch${IFS}/tmp/PWNED): Evil.\n"
    save_cache(
        hostile.api_root,
        describe(
            ("evils/", [action("GET", None), action("GET", PAYLOAD), action("GET", "list")]),
            ("evils/{id}/", [action("POST", "fix", field_doc)]),
            ("$(touch${IFS}PWNED)/", [action("GET", None)]),
        ),
    )
    assert complete("maascurl get evils op=") == ["plain,op=list"]
    assert complete("maascurl get evils/op-") == ["plain,evils/op-list"]
    assert complete("maascurl post evils/e1 op=fix ") == ["nospace,name="]
    assert not any("PWNED" in c for c in complete("maascurl get "))
    assert complete("maascurl describe evils ") == ["plain,list", "plain,read"]
