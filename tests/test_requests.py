"""Requests end to end over real HTTP: PATH forms, the everyday commands, checks, exit codes."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Run
from oauthlib import oauth1
from simulator import MaasSimulator, RecordedRequest

ROOT = "/MAAS/api/2.0/"


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o027)
    yield
    os.umask(old)


def only(sim: MaasSimulator) -> RecordedRequest:
    assert len(sim.requests) == 1, [(r.method, r.path) for r in sim.requests]
    return sim.requests[0]


def direct_get(sim: MaasSimulator, path: str, params: dict[str, str]) -> bytes:
    """The body a plain signed GET gets, without maascurl in the way."""
    consumer, token, secret = sim.api_key.split(":")
    url = str(httpx.URL(sim.api_root + path, params=params))
    signer = oauth1.Client(
        consumer,
        client_secret="",
        resource_owner_key=token,
        resource_owner_secret=secret,
        signature_method=oauth1.SIGNATURE_PLAINTEXT,
    )
    _, headers, _ = signer.sign(url, "GET")
    response = httpx.get(url, headers=headers)
    assert response.status_code == 200
    return response.content


def assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert "Exception" not in stderr


# ---------------------------------------------------------------- PATH forms


@pytest.mark.parametrize(
    "path",
    [
        "machines",
        "machines/",
        "/machines",
        "/machines/",
        "/MAAS/api/2.0/machines/",
        "/MAAS/api/2.0/machines",
        "machines//",
    ],
)
def test_path_forms_reach_the_machines_collection(api: MaasSimulator, run: Run, path: str) -> None:
    result = run("get", path)
    assert result.exit_code == 0, result.stderr
    assert only(api).path == ROOT + "machines/"
    assert len(json.loads(result.stdout)) == 3


@pytest.mark.parametrize("path", ["machines/abc002", "/machines/abc002/", "machines/abc002/"])
def test_path_forms_reach_one_machine(api: MaasSimulator, run: Run, path: str) -> None:
    result = run("get", path)
    assert result.exit_code == 0, result.stderr
    assert only(api).path == ROOT + "machines/abc002/"
    assert json.loads(result.stdout)["system_id"] == "abc002"


def test_full_url_on_the_profile_server(api: MaasSimulator, run: Run) -> None:
    result = run("get", api.api_root + "machines/?op=list_allocated")
    assert result.exit_code == 0, result.stderr
    request = only(api)
    assert (request.path, request.query) == (ROOT + "machines/", [("op", "list_allocated")])
    assert [m["system_id"] for m in json.loads(result.stdout)] == ["abc001"]


def test_full_url_with_escaped_segment(api: MaasSimulator, run: Run) -> None:
    run("get", api.api_root + "files/my%20file/")
    assert only(api).path == ROOT + "files/my%20file/"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:5240/MAAS/api/2.0/machines/",
        "https://127.0.0.1:{port}/MAAS/api/2.0/machines/",
        "http://127.0.0.1:{port}/other/api/2.0/machines/",
    ],
)
def test_url_off_the_profile_server_is_refused(api: MaasSimulator, run: Run, url: str) -> None:
    port = api.url.split(":")[2].split("/")[0]
    result = run("get", url.format(port=port))
    assert result.exit_code == 2
    assert "maascurl: error: URL" in result.stderr
    assert api.requests == []


@pytest.mark.parametrize("path", ["machines/../users", "../machines", "machines/./abc000"])
def test_dot_segments_are_refused(api: MaasSimulator, run: Run, path: str) -> None:
    result = run("get", path)
    assert result.exit_code == 2
    assert "'.' or '..' segment" in result.stderr
    assert api.requests == []


def test_fragment_in_path_is_refused(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines#op=list_allocated")
    assert result.exit_code == 2
    assert "name==value" in result.stderr
    assert api.requests == []


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("my file.txt", "my%20file.txt"),
        ("café☃", "caf%C3%A9%E2%98%83"),
        ("50%", "50%25"),
    ],
)
def test_segments_are_url_encoded(api: MaasSimulator, run: Run, name: str, encoded: str) -> None:
    run("get", f"files/{name}")
    assert only(api).path == f"{ROOT}files/{encoded}/"


def test_trailing_slash_is_added(bare: MaasSimulator, run: Run) -> None:
    # Without a cached description every route gets the slash MAAS needs.
    assert run("get", "users").exit_code == 0
    assert only(bare).path == ROOT + "users/"


def test_api_root_itself(api: MaasSimulator, run: Run) -> None:
    run("get", "/MAAS/api/2.0/")
    assert only(api).path == ROOT


# ---------------------------------------------------------------- the everyday commands


def test_get_list_allocated_piped_is_the_server_bytes(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "op=list_allocated")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert only(api).query == [("op", "list_allocated")]
    assert result.stdout_bytes == direct_get(api, "machines/", {"op": "list_allocated"})


def test_get_machines_piped_is_the_server_bytes(api: MaasSimulator, run: Run) -> None:
    api.set_fleet(40)
    try:
        result = run("get", "machines")
        assert result.exit_code == 0, result.stderr
        assert result.stdout_bytes == direct_get(api, "machines/", {})
        assert len(json.loads(result.stdout)) == 40
    finally:
        api.set_fleet(3)


def test_post_deploy(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=deploy", "distro_series=noble")
    assert result.exit_code == 0, result.stderr
    request = only(api)
    assert (request.method, request.path) == ("POST", ROOT + "machines/abc000/")
    assert (request.query, request.form) == ([("op", "deploy")], [("distro_series", "noble")])
    machine = json.loads(result.stdout)
    assert (machine["status_name"], machine["distro_series"]) == ("Deploying", "noble")


def test_put_hostname(api: MaasSimulator, run: Run) -> None:
    result = run("put", "machines/abc000", "hostname=web-01")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["hostname"] == "web-01"
    assert only(api).form == [("hostname", "web-01")]
    again = run("get", "machines", "hostname=web-01")
    assert [m["system_id"] for m in json.loads(again.stdout)] == ["abc000"]


def test_delete_machine(api: MaasSimulator, run: Run) -> None:
    result = run("delete", "machines/abc002")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == b""
    request = only(api)
    assert (request.method, request.path, request.body) == (
        "DELETE",
        ROOT + "machines/abc002/",
        b"",
    )
    assert [m["system_id"] for m in api.machines] == ["abc000", "abc001"]
    gone = run("get", "machines/abc002")
    assert gone.exit_code == 4


def test_sshkey_upload_from_a_file(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0maascurltest user@laptop\n"
    (tmp_path / "id_ed25519.pub").write_text(key)
    result = run("post", "account/prefs/sshkeys", f"key=@{tmp_path / 'id_ed25519.pub'}")
    assert result.exit_code == 0, result.stderr
    request = only(api)
    assert request.form == [("key", key)]  # MAAS reads key from a form field
    assert request.files == []
    created = json.loads(result.stdout)
    assert created["key"] == key  # MAAS keeps the trailing newline
    listed = json.loads(run("get", "account/prefs/sshkeys").stdout)
    assert created["id"] in [k["id"] for k in listed]


def test_files_download_with_output(
    api: MaasSimulator, run: Run, tmp_path: Path, umask: None
) -> None:
    data = os.urandom(300_000) + b"\0end"
    api.add_file("image.bin", data)
    target = tmp_path / "out.bin"
    result = run("get", "files", "op=get", "filename=image.bin", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert target.read_bytes() == data
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.bin")] == []
    assert only(api).query == [("op", "get"), ("filename", "image.bin")]


def test_output_replaces_an_existing_file(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    api.add_file("small", b"new contents")
    target = tmp_path / "out"
    target.write_bytes(b"old contents that were longer")
    assert run("get", "files", "op=get", "filename=small", "-o", str(target)).exit_code == 0
    assert target.read_bytes() == b"new contents"


def test_failed_download_leaves_no_file(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    api.queue(200, b"x" * 1000, {"Content-Type": "application/octet-stream"}, truncate=100)
    target = tmp_path / "partial.bin"
    result = run("get", "files", "op=get", "filename=whatever", "-o", str(target))
    assert result.exit_code != 0
    assert result.stderr.startswith("maascurl: error: ")
    assert result.exit_code == 6
    assert not any("partial.bin" in p.name for p in tmp_path.iterdir())
    assert_clean(result.stderr)


def test_output_into_a_missing_directory(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    api.add_file("f", b"x")
    result = run("get", "files", "op=get", "filename=f", "-o", str(tmp_path / "no" / "f"))
    assert result.exit_code == 1
    assert "cannot write" in result.stderr


# ---------------------------------------------------------------- checks from the description


def test_unknown_op_is_refused_with_a_suggestion(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "op=list_alocated")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "maascurl: error: machines has no GET op 'list_alocated'; did you mean 'list_allocated'?"
    )
    assert "`maascurl refresh`" in result.stderr
    assert result.stdout == ""
    assert api.requests == []


def test_op_of_another_method_is_refused(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/abc000", "op=deploy")
    assert result.exit_code == 2
    assert "machines/abc000 op=deploy is a POST op" in result.stderr
    assert api.requests == []


def test_a_misspelt_field_is_refused_and_no_check_sends_it(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=deploy", "distro_serie=noble")
    assert result.exit_code == 2
    assert "has no field 'distro_serie'; did you mean 'distro_series'?" in result.stderr
    assert api.requests == []
    forced = run("post", "machines/abc000/", "op=deploy", "distro_serie=noble", "--no-check")
    assert forced.exit_code == 0, forced.stderr
    assert only(api).form == [("distro_serie", "noble")]


def test_a_misspelt_field_would_have_changed_nothing(api: MaasSimulator, run: Run) -> None:
    """MAAS ignores a field it does not know: the PUT would succeed and change nothing."""
    result = run("put", "machines/abc000", "hostnme=web-01")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "maascurl: error: machines/abc000 update has no field 'hostnme'; did you mean 'hostname'?"
    )
    assert api.requests == []
    forced = run("put", "machines/abc000/", "hostnme=web-01", "--no-check")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["hostname"] == "amber-otter"  # unchanged, as in MAAS


@pytest.mark.parametrize(
    "item",
    [
        "not_hostname=web-01",  # a filter of its own, not a typo of hostname
        "not_agent_name=x",
        "tags=virtual",  # undocumented and like no documented name
    ],
)
def test_a_field_that_is_no_typo_is_sent(api: MaasSimulator, run: Run, item: str) -> None:
    result = run("get", "machines", item)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert only(api).query == [tuple(item.split("="))]


def test_unknown_resource_is_sent_as_typed(api: MaasSimulator, run: Run) -> None:
    result = run("get", "brand-new-things/x1", "op=frob")
    assert result.exit_code == 4
    request = only(api)
    assert (request.path, request.query) == (ROOT + "brand-new-things/x1/", [("op", "frob")])
    assert "Unknown API endpoint" in result.stderr


# ---------------------------------------------------------------- exit codes


def test_exit_0_on_success(api: MaasSimulator, run: Run) -> None:
    result = run("get", "users", "op=whoami")
    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout)["username"] == "admin"


def test_exit_1_on_a_config_error(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "-p", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("maascurl: error: no profile named 'nope'")
    assert_clean(result.stderr)
    assert api.requests == []


def test_exit_2_on_a_bad_option(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert_clean(result.stderr)
    assert api.requests == []


def test_exit_2_on_a_missing_path(api: MaasSimulator, run: Run) -> None:
    result = run("get")
    assert result.exit_code == 2
    assert "maascurl: error:" in result.stderr


def test_exit_3_on_a_redirect_to_another_origin(
    api: MaasSimulator, run: Run, closed_port: int
) -> None:
    elsewhere = f"http://127.0.0.1:{closed_port}/MAAS/api/2.0/machines/"
    api.queue(302, "", {"Location": elsewhere})
    result = run("get", "machines")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"maascurl: error: 302 Found: redirected to {elsewhere}, not followed; "
        "--follow-any follows it without credentials\n"
    )
    assert len(api.requests) == 1


def test_same_origin_redirect_is_followed_and_signed(api: MaasSimulator, run: Run) -> None:
    api.queue(301, "", {"Location": api.api_root + "machines/?op=list_allocated"})
    result = run("get", "machines")
    assert result.exit_code == 0, result.stderr
    first, second = api.requests
    assert second.query == [("op", "list_allocated")]
    assert first.oauth and second.oauth
    assert first.oauth["oauth_nonce"] != second.oauth["oauth_nonce"]


def test_exit_4_on_a_404(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/nope")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == "maascurl: error: 404 Not Found: No Machine matches the given query.\n"


def test_exit_5_on_a_500(api: MaasSimulator, run: Run) -> None:
    api.queue(500, "Internal error: the region is on fire")
    result = run("get", "machines")
    assert result.exit_code == 5
    assert result.stdout == ""
    assert result.stderr == (
        "maascurl: error: 500 Internal Server Error: Internal error: the region is on fire\n"
    )


def test_503_with_retry_after_is_retried(api: MaasSimulator, run: Run) -> None:
    api.queue(503, "busy", {"Retry-After": "0"})
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert len(api.requests) == 2
    assert "503 Service Unavailable; retrying" in result.stderr


def test_503_retries_give_up(api: MaasSimulator, run: Run) -> None:
    api.queue(503, "still busy", {"Retry-After": "0"}, count=5)
    result = run("get", "users", "op=whoami", "--retries", "2")
    assert result.exit_code == 5
    assert len(api.requests) == 3
    assert result.stderr.endswith("maascurl: error: 503 Service Unavailable: still busy\n")


@pytest.mark.parametrize("method", ["get", "post"])
def test_exit_6_when_nothing_listens(
    run: Run, monkeypatch: pytest.MonkeyPatch, closed_port: int, method: str
) -> None:
    monkeypatch.setenv("MAAS_API_URL", f"http://127.0.0.1:{closed_port}/MAAS")
    monkeypatch.setenv("MAAS_API_KEY", "a:b:c")
    result = run(method, "machines", "--retries", "0")
    assert result.exit_code == 6
    assert result.stdout == ""
    assert result.stderr.startswith(f"maascurl: error: cannot connect to 127.0.0.1:{closed_port}")
    assert result.stderr.count("\n") == 1
    assert_clean(result.stderr)


def test_exit_6_when_the_connection_breaks(api: MaasSimulator, run: Run) -> None:
    api.queue(200, b"[" + b"0," * 500 + b"0]", {"Content-Type": "application/json"}, truncate=10)
    result = run("get", "machines")
    assert result.exit_code == 6
    assert "maascurl: error:" in result.stderr
    assert_clean(result.stderr)


def test_exit_7_on_a_timeout(api: MaasSimulator, run: Run) -> None:
    api.queue(200, "[]", {"Content-Type": "application/json"}, delay=1.0)
    result = run("get", "machines", "--timeout", "0.2")
    assert result.exit_code == 7
    assert result.stdout == ""
    assert result.stderr.startswith("maascurl: error: timed out waiting for 127.0.0.1:")
    assert_clean(result.stderr)


def test_bad_timeout_is_a_usage_error(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "--timeout", "0")
    assert result.exit_code == 2
    assert api.requests == []


def test_output_onto_a_directory_is_an_error(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    api.add_file("f", b"x")
    target = tmp_path / "somedir"
    target.mkdir()
    result = run("get", "files", "op=get", "filename=f", "-o", str(target))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"maascurl: error: cannot write {target}: Is a directory\n"
    assert list(target.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".somedir")] == []


def test_404_with_an_empty_body(api: MaasSimulator, run: Run) -> None:
    api.queue(404, "")
    result = run("get", "machines")
    assert (result.exit_code, result.stderr) == (4, "maascurl: error: 404 Not Found\n")


def test_full_url_of_the_api_root_without_its_slash(api: MaasSimulator, run: Run) -> None:
    result = run("get", api.url + "/api/2.0", "--offline")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("GET /MAAS/api/2.0/ HTTP/1.1\n")
