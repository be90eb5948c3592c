"""Help built from the API description: data, plain text and rich rendering."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from simulator import FIXTURES

from maascurl.api.apidesc import ApiDescription
from maascurl.api.describe import (
    DescribeError,
    describe_data,
    index_data,
    op_data,
    render_plain,
    render_rich,
    resource_data,
)

FIXTURE = FIXTURES / "describe.json"


@pytest.fixture(scope="module")
def desc() -> ApiDescription:
    return ApiDescription.from_describe(json.loads(FIXTURE.read_bytes()))


def _rich_text(renderable: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    with console.capture() as capture:
        console.print(renderable)
    return capture.get()


def test_index_data(desc: ApiDescription) -> None:
    rows = index_data(desc)
    paths = [r["path"] for r in rows]
    assert len(rows) == 96 + 6  # with the paths MAAS serves beyond its description
    assert paths == sorted(paths)
    assert "machines/" in paths and "machines/{system_id}/" in paths
    vlan = next(r for r in rows if r["path"] == "vlans/{vlan_id}/")
    assert vlan["summary"].endswith("(served by MAAS; not in its API description)")
    assert all(set(r) == {"path", "summary"} and r["summary"] for r in rows)


def test_resource_data(desc: ApiDescription) -> None:
    data = resource_data(desc, "machines/")
    assert data["path"] == "machines/"
    assert data["url"] == "/MAAS/api/2.0/machines/"
    assert list(data["operations"]) == ["GET", "POST"]
    get_ops = [r["op"] for r in data["operations"]["GET"]]
    assert get_ops[0] is None  # restful read comes first
    assert "list_allocated" in get_ops
    assert data["operations"]["GET"][0]["name"] == "read"
    assert "allocate" in [r["op"] for r in data["operations"]["POST"]]
    same = resource_data(desc, "/MAAS/api/2.0/machines")
    assert same == data


def test_resource_data_marks_anonymous(desc: ApiDescription) -> None:
    data = resource_data(desc, "nodes/")
    rows = {r["op"]: r["anonymous"] for r in data["operations"]["GET"]}
    assert rows == {None: False, "is_action_in_progress": True, "is_registered": True}


def test_op_data_deploy(desc: ApiDescription) -> None:
    data = op_data(desc, "machines/abc", "deploy")
    assert data["method"] == "POST"
    assert data["url"] == "/MAAS/api/2.0/machines/{system_id}/?op=deploy"
    assert data["op"] == "deploy"
    params = {p["name"]: p for p in data["params"]}
    assert params["distro_series"]["required"] is False
    assert params["distro_series"]["type"] == "String"
    assert set(params["distro_series"]) == {"name", "required", "type", "summary"}
    assert data["doc"]


def test_op_data_restful_names(desc: ApiDescription) -> None:
    read = op_data(desc, "machines/abc", "read")
    assert (read["method"], read["op"], read["url"]) == (
        "GET",
        None,
        "/MAAS/api/2.0/machines/{system_id}/",
    )
    assert op_data(desc, "machines/abc", "update")["method"] == "PUT"
    assert op_data(desc, "machines/abc", "delete")["method"] == "DELETE"
    assert op_data(desc, "machines/", "create")["method"] == "POST"
    assert op_data(desc, "machines/", None, method="get")["name"] == "read"


def test_op_data_from_path_suffix_and_method(desc: ApiDescription) -> None:
    data = op_data(desc, "machines/op-allocate", None)
    assert (data["method"], data["op"]) == ("POST", "allocate")
    get_config = op_data(desc, "maas/", "get_config", method="GET")
    assert [(p["name"], p["required"]) for p in get_config["params"]] == [("name", True)]


def test_describe_data_dispatch(desc: ApiDescription) -> None:
    assert describe_data(desc) == index_data(desc)
    assert describe_data(desc, "machines/") == resource_data(desc, "machines/")
    assert describe_data(desc, "machines/op-allocate")["op"] == "allocate"
    assert describe_data(desc, "machines/x", "deploy")["op"] == "deploy"


def test_unknown_path_suggests(desc: ApiDescription) -> None:
    with pytest.raises(DescribeError, match=r"machine/abc.*did you mean machines/"):
        resource_data(desc, "machine/abc")
    with pytest.raises(DescribeError, match="unknown API path"):
        op_data(desc, "zzz/yyy/xxx/www/", "read")


def test_unknown_op_suggests(desc: ApiDescription) -> None:
    with pytest.raises(DescribeError, match=r"did you mean 'deploy'") as err:
        op_data(desc, "machines/abc", "deplyo")
    assert "operations:" in str(err.value)
    with pytest.raises(DescribeError, match=r"POST machines/ has no operation 'list_alocated'"):
        op_data(desc, "machines/", "list_alocated", method="POST")
    with pytest.raises(DescribeError, match="did you mean 'list_allocated'"):
        op_data(desc, "machines/", "list_alocated", method="GET")
    with pytest.raises(DescribeError, match="no restful action"):
        op_data(desc, "machines/abc", None, method="POST")


def test_render_plain_index(desc: ApiDescription) -> None:
    text = render_plain(index_data(desc))
    lines = text.splitlines()
    assert len(lines) == 96 + 6
    assert lines[0].startswith("account/ ")
    assert any(line.startswith("machines/{system_id}/ ") for line in lines)
    assert text == render_plain(index_data(desc))


def test_render_plain_resource(desc: ApiDescription) -> None:
    lines = render_plain(resource_data(desc, "nodes/")).splitlines()
    assert lines[0].startswith("nodes/")
    body = [line.split() for line in lines[2:]]
    assert body[0][:3] == ["GET", "read", "(restful)"]
    assert body[2][:3] == ["GET", "is_registered", "anonymous"]
    assert body[-1][:2] == ["POST", "set_zone"]


def test_render_plain_op(desc: ApiDescription) -> None:
    text = render_plain(op_data(desc, "machines/abc", "deploy"))
    lines = text.splitlines()
    assert lines[:2] == [
        "maascurl post machines/abc op=deploy",
        "POST /MAAS/api/2.0/machines/{system_id}/?op=deploy",
    ]
    assert "Parameters:" in lines
    row = next(line for line in lines if line.strip().startswith("distro_series "))
    assert row.split()[1:3] == ["optional", "String"]
    assert ":param" not in text
    required = render_plain(op_data(desc, "maas/", "get_config"))
    assert any(line.split()[:2] == ["name", "required"] for line in required.splitlines())
    assert required.startswith("maascurl get maas op=get_config name=NAME\n")


def test_an_op_of_the_items_asked_of_the_collection(desc: ApiDescription) -> None:
    """Issue 22: `describe machines deploy` says deploy lives on machines/{system_id}/ and
    describes it there, with the maascurl command line."""
    data = op_data(desc, "machines", "deploy")
    assert data["note"] == (
        "deploy is not an operation of machines/; it lives on machines/{system_id}/"
    )
    assert data["command"] == "maascurl post machines/{system_id} op=deploy"
    assert data["url"] == "/MAAS/api/2.0/machines/{system_id}/?op=deploy"
    lines = render_plain(data).splitlines()
    assert lines[0] == f"Note: {data['note']}"
    assert lines[2] == "maascurl post machines/{system_id} op=deploy"
    assert "note" not in op_data(desc, "machines/abc", "deploy")
    with pytest.raises(DescribeError, match="has no operation 'deploi'"):
        op_data(desc, "machines", "deploi")


def test_render_rich(desc: ApiDescription) -> None:
    op_text = _rich_text(render_rich(op_data(desc, "machines/abc", "deploy")))
    assert "POST /MAAS/api/2.0/machines/{system_id}/?op=deploy" in op_text
    assert "distro_series" in op_text and "optional" in op_text
    res_text = _rich_text(render_rich(resource_data(desc, "nodes/")))
    assert "is_registered (anonymous)" in res_text and "read (restful)" in res_text
    index_text = _rich_text(render_rich(index_data(desc)))
    assert "machines/{system_id}/" in index_text
