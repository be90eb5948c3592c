"""ITEMs on the command line, checked by what the MAAS simulator received."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Run
from simulator import MaasSimulator, RecordedRequest

ROOT = "/MAAS/api/2.0/"


def only(sim: MaasSimulator) -> RecordedRequest:
    assert len(sim.requests) == 1, [(r.method, r.path) for r in sim.requests]
    return sim.requests[0]


def ok(result: object) -> None:
    exit_code = getattr(result, "exit_code", None)
    assert exit_code == 0, getattr(result, "stderr", "")


# ---------------------------------------------------------------- name=value


def test_field_is_a_query_parameter_for_get(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "hostname=calm-otter")
    ok(result)
    request = only(api)
    assert (request.method, request.path) == ("GET", ROOT + "machines/")
    assert request.query == [("hostname", "calm-otter")]
    assert request.body == b""
    assert '"hostname": "calm-otter"' in result.stdout


def test_field_is_a_query_parameter_for_delete(api: MaasSimulator, run: Run) -> None:
    api.add_file("doomed.txt", b"bye")
    ok(run("delete", "files", "filename=doomed.txt"))
    request = only(api)
    assert (request.method, request.path) == ("DELETE", ROOT + "files/")
    assert request.query == [("filename", "doomed.txt")]
    assert request.body == b""
    assert "doomed.txt" not in api.files


def test_field_is_a_form_field_for_put(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000", "hostname=web-01"))
    request = only(api)
    assert (request.method, request.path, request.query) == ("PUT", ROOT + "machines/abc000/", [])
    assert request.form == [("hostname", "web-01")]
    assert api.machines[0]["hostname"] == "web-01"


def test_field_is_a_form_field_for_post(api: MaasSimulator, run: Run) -> None:
    ok(run("post", "machines/abc000", "op=deploy", "distro_series=noble", "osystem=ubuntu"))
    request = only(api)
    assert request.query == [("op", "deploy")]
    assert request.form == [("distro_series", "noble"), ("osystem", "ubuntu")]
    assert api.machines[0]["distro_series"] == "noble"


# ---------------------------------------------------------------- op=NAME


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_op_is_the_first_query_parameter_for_every_method(
    bare: MaasSimulator, run: Run, method: str
) -> None:
    # No cached description here, so the server sees every op as typed.
    result = run(method, "machines/abc000", "a==1", "b=2", "op=poke", "c==3")
    assert result.exit_code == 4  # the simulator does not know op=poke
    request = only(bare)
    assert request.method == method.upper()
    assert request.query[0] == ("op", "poke")
    assert [name for name, _ in request.query].count("op") == 1
    if method in ("get", "delete"):
        assert request.query == [("op", "poke"), ("a", "1"), ("b", "2"), ("c", "3")]
        assert request.form == []
    else:
        assert request.query == [("op", "poke"), ("a", "1"), ("c", "3")]
        assert request.form == [("b", "2")]
    assert "Unrecognised signature" in result.stderr


def test_two_different_ops_are_a_usage_error(bare: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "op=list_allocated", "op=is_registered")
    assert result.exit_code == 2
    assert "more than one op" in result.stderr
    assert bare.requests == []


def test_op_suffix_in_the_path(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/op-list_allocated")
    ok(result)
    request = only(api)
    assert (request.path, request.query) == (ROOT + "machines/", [("op", "list_allocated")])
    assert '"system_id": "abc001"' in result.stdout


# ---------------------------------------------------------------- name==value


def test_double_equals_is_always_a_query_parameter(api: MaasSimulator, run: Run) -> None:
    ok(run("post", "machines/abc000", "op=deploy", "comment==why", "distro_series=noble"))
    request = only(api)
    assert request.query == [("op", "deploy"), ("comment", "why")]
    assert request.form == [("distro_series", "noble")]


def test_double_equals_on_put(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000", "dry==1"))
    request = only(api)
    assert request.query == [("dry", "1")]
    assert request.form == []
    assert request.body == b""


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("separator", ["@=", "@"])
def test_file_part_is_sent_with_the_parameter_as_filename(
    api: MaasSimulator, run: Run, tmp_path: Path, separator: str
) -> None:
    data = bytes(range(256)) * 4 + b"\r\n--not-a-boundary--\r\n"
    source = tmp_path / "blob.bin"
    source.write_bytes(data)
    ok(run("post", "files", "filename=blob", f"file{separator}{source}"))
    request = only(api)
    assert request.form == [("filename", "blob")]
    assert request.files == [("file", "file", data)]
    assert api.files["blob"]["content"] == data


def test_megabyte_file_arrives_byte_for_byte(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024 + 17)
    source = tmp_path / "big.img"
    source.write_bytes(data)
    ok(run("post", "files", "filename=big", f"file@={source}"))
    request = only(api)
    assert request.files == [("file", "file", data)]
    assert int(request.headers["content-length"]) == len(request.body)


def test_tilde_in_a_file_path_is_expanded(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAAtilde user@host\n")
    ok(run("post", "files", "filename=t", "file@=~/id.pub"))
    assert only(api).files == [("file", "file", b"ssh-ed25519 AAAAtilde user@host\n")]


@pytest.mark.parametrize("item", ["file@-", "file@=-"])
def test_file_from_stdin(api: MaasSimulator, run: Run, item: str) -> None:
    data = b"\x00from stdin\xff\n"
    ok(run("post", "files", "filename=piped", item, input=data))
    assert only(api).files == [("file", "file", data)]
    assert api.files["piped"]["content"] == data


def test_missing_file_is_an_error_before_sending(api: MaasSimulator, run: Run) -> None:
    result = run("post", "files", "filename=x", "file@=/nonexistent/file.bin")
    assert result.exit_code == 1
    assert "cannot read /nonexistent/file.bin" in result.stderr
    assert api.requests == []


def test_a_directory_is_not_a_file(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    result = run("post", "files", "filename=x", f"file@={tmp_path}")
    assert result.exit_code == 1
    assert "is a directory" in result.stderr.lower()
    assert api.requests == []


@pytest.mark.parametrize("method", ["get", "delete"])
def test_get_and_delete_cannot_carry_a_file(
    api: MaasSimulator, run: Run, tmp_path: Path, method: str
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    result = run(method, "files", f"file@={tmp_path / 'f'}")
    assert result.exit_code == 2
    assert "cannot carry a file" in result.stderr
    assert api.requests == []


# ---------------------------------------------------------------- headers


def test_header_item_is_sent(api: MaasSimulator, run: Run) -> None:
    ok(run("get", "machines", "X-Request-Id:  abc-123 ", "Accept:application/json"))
    request = only(api)
    assert request.headers["x-request-id"] == "abc-123"
    assert request.headers["accept"] == "application/json"
    assert request.query == []


def test_bad_header_name_is_a_usage_error(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "Bad Header:x")
    assert result.exit_code == 2
    assert "bad header name" in result.stderr
    assert api.requests == []


# ---------------------------------------------------------------- separators


def test_earliest_separator_wins_for_a_field(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000", "storage=root:8G", "tags==a:b"))
    request = only(api)
    assert request.form == [("storage", "root:8G")]
    assert request.query == [("tags", "a:b")]
    assert "storage" not in request.headers


def test_earliest_separator_wins_for_a_header(api: MaasSimulator, run: Run) -> None:
    ok(run("get", "machines", "X-B:d@e"))
    request = only(api)
    assert request.headers["x-b"] == "d@e"
    assert request.query == []


def test_backslash_escapes_a_separator(bare: MaasSimulator, run: Run) -> None:
    ok(run("get", "zones", "a\\=b=c", "x\\:y==z", "p\\@q=r", "back\\\\slash=1"))
    assert only(bare).query == [("a=b", "c"), ("x:y", "z"), ("p@q", "r"), ("back\\slash", "1")]


def test_backslash_escaped_name_in_a_form_field(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000", "owner\\:data=x:y"))
    assert only(api).form == [("owner:data", "x:y")]


@pytest.mark.parametrize("item", ["nothing", "=value", ":value"])
def test_bad_items_are_usage_errors(api: MaasSimulator, run: Run, item: str) -> None:
    result = run("get", "machines", item)
    assert result.exit_code == 2
    assert "maascurl: error: bad item" in result.stderr
    assert api.requests == []


def test_empty_value_is_sent(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000", "description=", "x=="))
    request = only(api)
    assert request.form == [("description", "")]
    assert request.query == [("x", "")]


# ---------------------------------------------------------------- repeats, text


def test_repeated_names_are_all_sent_in_order(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "hostname=glad-otter", "id=abc000", "hostname=calm-otter")
    ok(result)
    query = only(api).query
    assert [v for n, v in query if n == "hostname"] == ["glad-otter", "calm-otter"]
    assert ("id", "abc000") in query
    assert len(query) == 3


def test_interleaved_query_names_keep_the_typed_order(api: MaasSimulator, run: Run) -> None:
    offline = run("get", "zones", "a=1", "b=2", "a=3", "--offline")
    assert offline.stdout.startswith("GET /MAAS/api/2.0/zones/?a=1&b=2&a=3 HTTP/1.1\n")
    assert run("get", "zones", "a=1", "b=2", "a=3").exit_code == 0
    assert only(api).query == [("a", "1"), ("b", "2"), ("a", "3")]


def test_repeated_form_fields_in_order(api: MaasSimulator, run: Run) -> None:
    ok(run("post", "machines/abc000", "op=deploy", "tags=b", "zone=default", "tags=a"))
    assert only(api).form == [("tags", "b"), ("zone", "default"), ("tags", "a")]


def test_utf8_values_in_query_and_form(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000", "description=café ☃ 日本", "note==naïve ✓"))
    request = only(api)
    assert request.form == [("description", "café ☃ 日本")]
    assert request.query == [("note", "naïve ✓")]
    assert api.machines[0]["description"] == "café ☃ 日本"


def test_reserved_characters_in_query_values(api: MaasSimulator, run: Run) -> None:
    ok(run("get", "machines", "hostname=a&b=c?d#e %f+g"))
    assert only(api).query == [("hostname", "a&b=c?d#e %f+g")]


# ---------------------------------------------------------------- bodies


def test_post_without_fields_sends_no_body(api: MaasSimulator, run: Run) -> None:
    ok(run("post", "machines/abc001", "op=release"))
    request = only(api)
    assert request.body == b""
    assert "content-type" not in request.headers
    assert request.headers.get("content-length", "0") == "0"
    assert "transfer-encoding" not in request.headers
    assert api.machines[1]["status_name"] == "Ready"


def test_put_without_fields_sends_no_body(api: MaasSimulator, run: Run) -> None:
    ok(run("put", "machines/abc000"))
    request = only(api)
    assert request.body == b""
    assert "content-type" not in request.headers


@pytest.mark.parametrize("method", ["post", "put"])
def test_fields_send_multipart_with_a_content_length(
    api: MaasSimulator, run: Run, method: str
) -> None:
    items = ["op=deploy"] if method == "post" else []
    ok(run(method, "machines/abc000", *items, "description=hello"))
    request = only(api)
    assert request.content_type.startswith("multipart/form-data; boundary=")
    assert request.headers["content-length"] == str(len(request.body))
    assert "transfer-encoding" not in request.headers
    assert request.form == [("description", "hello")]
    boundary = request.content_type.split("boundary=", 1)[1]
    assert request.body.endswith(f"--{boundary}--\r\n".encode())


def test_fields_and_files_together_in_one_body(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    source = tmp_path / "data"
    source.write_bytes(b"payload")
    ok(run("post", "files", f"file@{source}", "filename=mixed"))
    request = only(api)
    assert request.form == [("filename", "mixed")]
    assert request.files == [("file", "file", b"payload")]
    assert request.headers["content-length"] == str(len(request.body))


def test_a_non_ascii_header_value_is_a_usage_error(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "X-Note:café")
    assert result.exit_code == 2
    assert "maascurl: error: header X-Note must have an ASCII value" in result.stderr
    assert api.requests == []
