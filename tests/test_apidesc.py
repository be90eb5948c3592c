"""API description: parsing, matching, suggestions, cache and completion candidates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from simulator import FIXTURES

from maascurl.api import apidesc
from maascurl.api.apidesc import ApiDescription, Param, parse_params, summary_of
from maascurl.api.completion import complete_item, complete_path

FIXTURE = FIXTURES / "describe.json"
ROOT = "http://127.0.0.1:5240/MAAS/api/2.0/"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_bytes())
    return data


@pytest.fixture(scope="module")
def desc(raw: dict[str, Any]) -> ApiDescription:
    return ApiDescription.from_describe(raw)


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAASCURL_CACHE_DIR", str(tmp_path))
    return tmp_path


def _action(name: str, method: str, op: str | None, doc: str = "") -> dict[str, Any]:
    return {"name": name, "method": method, "op": op, "restful": op is None, "doc": doc}


def _part(path: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    params = re.findall(r"\{(\w+)\}", path)
    return {"name": "H", "doc": "Things.", "params": params, "path": path, "actions": actions}


def _mini_describe() -> dict[str, Any]:
    """A small hand-made description with a literal/placeholder overlap."""
    list_doc = "List\n\n:param tag: Optional.  A tag.\nThis can be specified\nmultiple times.\n"
    return {
        "hash": "abc",
        "resources": [
            {
                "name": "ThingHandler",
                "anon": None,
                "auth": _part("/MAAS/api/2.0/things/{id}/", [_action("read", "GET", None)]),
            },
            {
                "name": "SpecialHandler",
                "anon": None,
                "auth": _part(
                    "/MAAS/api/2.0/things/special/",
                    [_action("read", "GET", None, list_doc), _action("go", "POST", "go")],
                ),
            },
        ],
    }


def _sample_path(template: str) -> tuple[str, dict[str, str]]:
    values: dict[str, str] = {}

    def fill(m: re.Match[str]) -> str:
        values[m.group(1)] = f"v{len(values)}"
        return values[m.group(1)]

    return re.sub(r"\{(\w+)\}", fill, template), values


# Parsing.


def test_counts_and_hash(raw: dict[str, Any], desc: ApiDescription) -> None:
    assert len(raw["resources"]) == 96
    assert len(desc.resources) == 96
    assert desc.hash == raw["hash"]
    templates = [r.template for r in desc.resources]
    assert templates == sorted(set(templates))
    assert all(not t.startswith("/") for t in templates)


def test_templates_keep_their_trailing_slash(desc: ApiDescription) -> None:
    templates = {r.template for r in desc.resources}
    assert "machines/{system_id}/" in templates
    assert "commissioning-scripts/{name}" in templates
    assert "scripts/{name}" in templates
    assert "nodes/{system_id}/blockdevices/{device_id}/partition/{id}" in templates


def test_resource_params_and_ops(desc: ApiDescription) -> None:
    res = desc.resource("nodes/{system_id}/blockdevices/{device_id}/partition/{id}")
    assert res is not None
    assert res.params == ("system_id", "device_id", "id")
    machines = desc.resource("machines/")
    assert machines is not None
    assert "list_allocated" in machines.ops_for("GET")
    assert "allocate" in machines.ops_for("post")
    assert "allocate" not in machines.ops_for("GET")
    read = machines.find_op("GET", None)
    assert read is not None and read.restful and read.name == "read"
    assert machines.find_op("GET", "allocate") is None


def test_action_params_from_describe(desc: ApiDescription) -> None:
    machine = desc.resource("machines/{system_id}/")
    assert machine is not None
    deploy = machine.find_op("POST", "deploy")
    assert deploy is not None
    by_name = {p.name: p for p in deploy.params}
    assert by_name["distro_series"].required is False
    assert by_name["distro_series"].type == "String"
    assert by_name["bridge_all"].type == "Boolean"
    maas = desc.resource("maas/")
    assert maas is not None
    get_config = maas.find_op("GET", "get_config")
    assert get_config is not None
    assert [(p.name, p.required) for p in get_config.params] == [("name", True)]


def test_params_without_required_flag(desc: ApiDescription) -> None:
    scripts = desc.resource("commissioning-scripts/")
    assert scripts is not None
    create = scripts.find_op("POST", None)
    assert create is not None
    assert [(p.name, p.required, p.type) for p in create.params] == [
        ("name", None, ""),
        ("content", None, ""),
    ]


def test_parse_params_wrapped_indented_and_typed() -> None:
    doc = (
        "Do a thing\n\n"
        "Longer text.\n\n"
        ":param alpha: Required.  First line\n"
        "continues here.\n\n"
        "A second paragraph.\n"
        ":type alpha: unicode\n"
        ":type alpha: String\n\n"
        " :param beta: Optional.  Beta value.\n"
        ":type beta: Int\n"
        "        :param gamma: Gamma value that wraps\n"
        "            onto an indented line.\n"
        ":param delta: Optional.  May be specified\nmultiple times.\n"
        ":param alpha: Optional.  Duplicate entry, ignored.\n"
    )
    assert parse_params(doc) == (
        Param("alpha", True, "String", "First line continues here."),
        Param("beta", False, "Int", "Beta value."),
        Param("gamma", None, "", "Gamma value that wraps onto an indented line."),
        Param("delta", False, "", "May be specified multiple times.", repeatable=True),
    )


def test_parse_params_ignores_colon_lists_inside_a_param() -> None:
    doc = ":param name: Required.  Pick one.\n\nNames:\n\n:first: One.\n:second: Two.\n"
    assert [p.name for p in parse_params(doc)] == ["name"]


def test_summary_of() -> None:
    assert summary_of("\n\n  Read a thing. More words.\nSecond line") == "Read a thing."
    assert summary_of("Records (e.g. A, MX) here") == "Records (e.g. A, MX) here"
    assert summary_of("") == ""


def test_anonymous_actions_merged_by_path(desc: ApiDescription) -> None:
    nodes = desc.resource("nodes/")
    assert nodes is not None
    flags = {(a.method, a.op or a.name): a.anonymous for a in nodes.actions}
    assert flags[("GET", "is_registered")] is True
    assert flags[("GET", "is_action_in_progress")] is True
    assert flags[("GET", "read")] is False
    assert flags[("POST", "set_zone")] is False
    devices = desc.resource("devices/")
    assert devices is not None
    # The devices handler's anonymous part lives at nodes/, not devices/.
    assert devices.find_op("GET", "is_action_in_progress") is None
    machines = desc.resource("machines/")
    assert machines is not None
    create = machines.find_op("POST", None)
    assert create is not None and create.anonymous
    accept_all = machines.find_op("POST", "accept_all")
    assert accept_all is not None and not accept_all.anonymous
    version = desc.resource("version/")
    assert version is not None
    assert [(a.name, a.anonymous) for a in version.actions] == [("read", True)]


def test_no_duplicate_actions(desc: ApiDescription) -> None:
    for res in desc.resources:
        keys = [(a.method, a.op, a.name) for a in res.actions]
        assert len(keys) == len(set(keys)), res.template


# Matching.


def test_every_template_matches_sample_values(desc: ApiDescription) -> None:
    for res in desc.resources:
        path, values = _sample_path(res.template)
        for typed in (path, path.rstrip("/"), path.rstrip("/") + "/", "/" + path):
            m = desc.match(typed)
            assert m is not None, typed
            assert m.resource is res
            assert m.values == values
            assert m.op is None
            assert desc.canonical(typed) == path


def test_canonical_trailing_slash(desc: ApiDescription) -> None:
    assert desc.canonical("machines/abc") == "machines/abc/"
    assert desc.canonical("machines/abc/") == "machines/abc/"
    assert desc.canonical("commissioning-scripts/x/") == "commissioning-scripts/x"
    assert desc.canonical("scripts/x") == "scripts/x"
    assert desc.canonical("/MAAS/api/2.0/nodes/a/blockdevices/3/partition/4/") == (
        "nodes/a/blockdevices/3/partition/4"
    )
    assert desc.canonical("machines//abc") == "machines/abc/"


def test_query_is_not_part_of_the_path(desc: ApiDescription) -> None:
    m = desc.match("machines?op=list_allocated")
    assert m is not None and m.resource.template == "machines/" and m.op is None
    assert desc.canonical("machines?op=list_allocated") == "machines/?op=list_allocated"
    assert desc.canonical("scripts/x/?a=1&b=2") == "scripts/x?a=1&b=2"


def test_op_suffix(desc: ApiDescription) -> None:
    m = desc.match("machines/op-list_allocated")
    assert m is not None
    assert (m.resource.template, m.op, m.values) == ("machines/", "list_allocated", {})
    assert desc.canonical("machines/op-list_allocated/") == "machines/"
    m = desc.match("/MAAS/api/2.0/machines/abc/op-deploy")
    assert m is not None
    assert (m.resource.template, m.op, m.values) == (
        "machines/{system_id}/",
        "deploy",
        {"system_id": "abc"},
    )
    assert desc.canonical("commissioning-scripts/x/op-download") == "commissioning-scripts/x"


def test_unknown_paths(desc: ApiDescription) -> None:
    for path in ("", "/", "nope/", "machines/a/b/c/d/e/f", "op-list"):
        assert desc.match(path) is None, path
        assert desc.canonical(path) is None


def test_literal_segment_beats_placeholder() -> None:
    desc = ApiDescription.from_describe(_mini_describe())
    special = desc.match("things/special")
    assert special is not None and special.resource.template == "things/special/"
    assert special.values == {}
    other = desc.match("things/7")
    assert other is not None and other.resource.template == "things/{id}/"
    assert other.values == {"id": "7"}


def test_suggestions(desc: ApiDescription) -> None:
    machines = desc.resource("machines/")
    assert machines is not None
    assert desc.suggest_op(machines, "GET", "list_alocated") == "list_allocated"
    assert desc.suggest_op(machines, "POST", "alocate") == "allocate"
    assert desc.suggest_op(machines, "GET", "zzzzzz") is None
    assert desc.suggest_path("machine/abc") == "machines/{system_id}/"
    assert desc.suggest_path("subnet/") == "subnets/"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("machinez", "machines/"),  # a close spelling of the whole path
        ("vlans", "fabrics/{fabric_id}/vlans/"),  # the official CLI's name, not events/
        ("interfaces", "nodes/{system_id}/interfaces/"),  # not ipranges/
        ("resource-pool", "resourcepools/"),  # close to the official CLI's resource-pools
        ("nope", None),
        ("machines/abc/interfacez", None),  # not machines/: it shares only a prefix
    ],
)
def test_only_plausible_paths_are_suggested(
    desc: ApiDescription, typed: str, meant: str | None
) -> None:
    assert desc.suggest_path(typed) == meant


def test_paths_maas_serves_beyond_its_description_are_known(desc: ApiDescription) -> None:
    vlan = desc.match("vlans/8")
    assert vlan is not None and vlan.resource.template == "vlans/{vlan_id}/"
    assert vlan.values == {"vlan_id": "8"}
    # With the described twin's actions: PUT takes the VLAN's fields.
    update = vlan.resource.find_op("PUT", None)
    assert update is not None and "mtu" in [p.name for p in update.params]
    assert desc.canonical("vlans/8") == "vlans/8/"
    assert desc.from_cli_name(["vlans", "8"]) == ["fabrics", "8", "vlans"]  # the CLI's own
    assert "vlans/{vlan_id}/" not in [r.template for r in desc.resources]  # not cached


# Cache.


def test_cache_round_trip(cache_env: Path, desc: ApiDescription) -> None:
    assert apidesc.cache_dir() == cache_env
    assert apidesc.load_cached(ROOT) is None
    assert apidesc.cached_hash(ROOT) is None
    saved = apidesc.save_cache(ROOT, FIXTURE.read_bytes())
    assert saved.resources == desc.resources
    loaded = apidesc.load_cached(ROOT)
    assert loaded is not None
    assert loaded.hash == desc.hash
    assert loaded.resources == desc.resources
    assert apidesc.cached_hash(ROOT) == desc.hash
    m = loaded.match("machines/abc/op-deploy")
    assert m is not None and m.resource.template == "machines/{system_id}/"
    assert [p.name for p in cache_env.iterdir()] == [apidesc.cache_file(ROOT).name]


@pytest.mark.parametrize(
    ("doc", "about"),
    [
        ("MAAS API", ""),  # MAAS's own: nothing to say
        (None, ""),
        (["not", "text"], ""),
        ("generated texts\nsecond line", "generated texts"),
        ("x" * 500, "x" * 300),
    ],
)
def test_the_description_says_what_it_is_once_and_short(
    cache_env: Path, doc: object, about: str
) -> None:
    """The top-level doc, when not MAAS's own, is kept (its first line) through the cache."""
    body = json.dumps({**_mini_describe(), "doc": doc}).encode()
    assert apidesc.save_cache(ROOT, body).about == about
    loaded = apidesc.load_cached(ROOT)
    assert loaded is not None and loaded.about == about
    head = json.loads(apidesc.cache_file(ROOT).read_bytes().partition(b"\n")[0])
    assert head.get("about", "") == about


def test_a_cache_with_a_bad_about_still_loads(cache_env: Path) -> None:
    apidesc.save_cache(ROOT, json.dumps(_mini_describe()).encode())
    path = apidesc.cache_file(ROOT)
    head, _, rows = path.read_bytes().partition(b"\n")
    path.write_bytes(json.dumps({**json.loads(head), "about": 7}).encode() + b"\n" + rows)
    loaded = apidesc.load_cached(ROOT)
    assert loaded is not None and loaded.about == ""


def test_cache_file_per_root(cache_env: Path) -> None:
    first = apidesc.cache_file(ROOT)
    second = apidesc.cache_file("http://10.0.0.2:5240/MAAS/api/2.0/")
    third = apidesc.cache_file("https://127.0.0.1:5240/MAAS/api/2.0/")
    assert len({first, second, third}) == 3
    assert first.parent == cache_env
    assert "127.0.0.1" in first.name and "10.0.0.2" in second.name
    assert apidesc.cache_file(ROOT) == first


def test_save_cache_replaces_previous(cache_env: Path) -> None:
    small = json.dumps(_mini_describe()).encode()
    apidesc.save_cache(ROOT, small)
    assert apidesc.cached_hash(ROOT) == "abc"
    apidesc.save_cache(ROOT, FIXTURE.read_bytes())
    loaded = apidesc.load_cached(ROOT)
    assert loaded is not None and len(loaded.resources) == 96
    assert len(list(cache_env.iterdir())) == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage",
        b"\x80\x81\x82\n\x00",
        b'{"format": 1, "hash": "x"}\n[["truncated',
        b'{"format": 1, "hash": "x"}\n{"not": "rows"}',
        b'{"format": 1, "hash": "x"}\n[[1, 2]]',
        b'{"format": 999, "hash": "x"}\n[]',
        b"[1]\n[]",
    ],
)
def test_bad_cache_is_ignored(cache_env: Path, content: bytes) -> None:
    apidesc.cache_file(ROOT).write_bytes(content)
    assert apidesc.load_cached(ROOT) is None


def test_bad_cache_hash_is_none(cache_env: Path) -> None:
    apidesc.cache_file(ROOT).write_bytes(b'{"format": 999, "hash": "x"}\n[]')
    assert apidesc.cached_hash(ROOT) is None
    apidesc.cache_file(ROOT).write_bytes(b"junk")
    assert apidesc.cached_hash(ROOT) is None


def test_cache_dir_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("MAASCURL_CACHE_DIR", str(blocker))
    assert apidesc.load_cached(ROOT) is None
    with pytest.raises(OSError):
        apidesc.save_cache(ROOT, FIXTURE.read_bytes())


def test_light_imports(cache_env: Path) -> None:
    """Completion runs on every TAB: the cache path must not pull in heavy packages."""
    apidesc.save_cache(ROOT, FIXTURE.read_bytes())
    code = (
        "import sys\n"
        "from maascurl.api import apidesc, completion\n"
        f"desc = apidesc.load_cached({ROOT!r})\n"
        "assert desc is not None\n"
        "assert completion.complete_item(desc, 'GET', 'machines/', 'op=list_al', [])\n"
        "for name in ('httpx', 'rich', 'click', 'platformdirs'):\n"
        "    assert name not in sys.modules, name\n"
    )
    project = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": project}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=project)


# Completion candidates.


def test_complete_path_first_segment(desc: ApiDescription) -> None:
    values = [v for v, _ in complete_path(desc, "mach")]
    assert values == ["machines/"]
    assert [v for v, _ in complete_path(desc, "/mach")] == ["/machines/"]
    assert [v for v, _ in complete_path(desc, "/MAAS/api/2.0/mach")] == ["/MAAS/api/2.0/machines/"]
    lic = [v for v, _ in complete_path(desc, "lic")]
    assert lic == ["license-key/", "license-keys/"]
    everything = [v for v, _ in complete_path(desc, "")]
    assert "machines/" in everything and "nodes/" in everything
    assert all(v.count("/") == 1 for v in everything)


def test_complete_path_below_a_resource(desc: ApiDescription) -> None:
    found = dict(complete_path(desc, "machines/"))
    assert list(found) == ["machines/", "machines/{system_id}/"]
    assert found["machines/{system_id}/"]
    assert [v for v, _ in complete_path(desc, "machines/abc")] == ["machines/abc/"]
    below = [v for v, _ in complete_path(desc, "nodes/abc/")]
    assert "nodes/abc/blockdevices/" in below and "nodes/abc/interfaces/" in below
    assert [v for v, _ in complete_path(desc, "nodes/abc/blockd")] == ["nodes/abc/blockdevices/"]
    assert [v for v, _ in complete_path(desc, "commissioning-scripts/x")] == [
        "commissioning-scripts/x"
    ]
    assert complete_path(desc, "nothing-here/") == []
    assert complete_path(None, "mach") == []


def test_complete_path_op_suffix(desc: ApiDescription) -> None:
    assert [v for v, _ in complete_path(desc, "machines/op-list_")] == [
        "machines/op-list_allocated"
    ]


def test_complete_op_values(desc: ApiDescription) -> None:
    found = complete_item(desc, "GET", "machines/", "op=list_al", [])
    assert [v for v, _ in found] == ["op=list_allocated"]
    assert complete_item(desc, "POST", "machines/", "op=list_al", []) == []
    post_ops = [v for v, _ in complete_item(desc, "post", "machines/", "op=", [])]
    assert "op=allocate" in post_ops and "op=list_allocated" not in post_ops


def test_complete_fields_of_chosen_op(desc: ApiDescription) -> None:
    found = complete_item(desc, "POST", "machines/abc", "dis", ["op=deploy"])
    assert [v for v, _ in found] == ["distro_series="]
    everything = [v for v, _ in complete_item(desc, "POST", "machines/abc", "", ["op=deploy"])]
    assert "osystem=" in everything and "op=" not in everything
    given = ["op=deploy", "distro_series=jammy"]
    assert "distro_series=" not in [
        v for v, _ in complete_item(desc, "POST", "machines/abc", "", given)
    ]
    by_suffix = [v for v, _ in complete_item(desc, "POST", "machines/abc/op-deploy", "dis", [])]
    assert by_suffix == ["distro_series="]


def test_complete_fields_of_restful_action(desc: ApiDescription) -> None:
    found = [v for v, _ in complete_item(desc, "GET", "machines/", "", [])]
    assert found[0] == "op="
    assert "hostname=" in found
    assert [v for v, _ in complete_item(desc, "GET", "machines/", "host", [])] == ["hostname="]
    # No POST restful action on a machine: only the op word.
    assert [v for v, _ in complete_item(desc, "POST", "machines/abc", "", [])] == ["op="]


def test_complete_item_edge_cases(desc: ApiDescription) -> None:
    assert complete_item(desc, "POST", "machines/abc", "distro_series=", ["op=deploy"]) == []
    assert complete_item(desc, "GET", "unknown/", "", []) == []
    assert complete_item(None, "GET", "machines/", "", []) == []
    assert complete_item(desc, "POST", "machines/abc", "", ["op=nonsense"]) == []


def test_complete_repeatable_fields_stay() -> None:
    desc = ApiDescription.from_describe(_mini_describe())
    found = complete_item(desc, "GET", "things/special/", "", ["tag=a"])
    assert [v for v, _ in found] == ["tag="]
