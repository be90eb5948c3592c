"""What a real MAAS 3.4 region showed: each finding, checked against the simulator.

The simulator reads parameters the way MAAS's forms do (form fields only; a
file part under a field's name is ignored), stalls a TLS handshake sent to
its plain port as Twisted does, and can gain an op as an upgrade does.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run, complete, env_for_subprocess, values
from simulator import MaasSimulator, RecordedRequest, load_routes

from maascurl.api import listings
from maascurl.api.apidesc import cache_file
from maascurl.wire import client, request
from maascurl.wire.multipart import MultipartBody
from maascurl.wire.request import build_request

ROOT = "/MAAS/api/2.0/"
API_ROOT = "http://127.0.0.1:9/MAAS/api/2.0/"


def only(sim: MaasSimulator) -> RecordedRequest:
    assert len(sim.requests) == 1, [(r.method, r.path) for r in sim.requests]
    return sim.requests[0]


def ok(result: object) -> None:
    assert getattr(result, "exit_code", None) == 0, getattr(result, "stderr", "")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ---------------------------------------------------------------- 1. name=@FILE


def test_readme_sshkey_example_sends_the_key_as_a_field(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIregion user@laptop\n"
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text(key)
    result = run("post", "account/prefs/sshkeys", "key=@~/.ssh/id_ed25519.pub")
    ok(result)
    assert only(api).form == [("key", key)]
    assert json.loads(result.stdout)["key"] == key  # MAAS keeps the trailing newline


def test_a_key_from_a_file_and_the_same_key_from_cat_are_two_keys(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """As the README says beside the example: bytes exact, so MAAS keeps both."""
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItwice user@laptop"
    source = tmp_path / "k.pub"
    source.write_text(key + "\n")
    before = list(api.sshkeys)
    try:
        ok(run("post", "account/prefs/sshkeys", f"key=@{source}"))
        ok(run("post", "account/prefs/sshkeys", f"key={key}"))  # as "$(cat k.pub)" gives it
        listed = json.loads(run("get", "account/prefs/sshkeys").stdout)
        assert [k["key"] for k in listed if k["key"].startswith(key)] == [key + "\n", key]
    finally:
        api.sshkeys[:] = before


def test_a_file_part_for_a_text_field_warns_with_the_fix(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    source = tmp_path / "id.pub"
    source.write_text("ssh-ed25519 AAAA x\n")
    result = run("post", "account/prefs/sshkeys", f"key@={source}")
    # MAAS ignores the file part, as the real region did: 400, key required.
    assert result.exit_code == 4
    assert f"use key=@{source}" in result.stderr
    assert "key: This field is required." in result.stderr


def test_a_file_part_where_maas_wants_one_draws_no_warning(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    (tmp_path / "f").write_bytes(b"data")
    result = run("post", "files", "filename=f", f"file@={tmp_path / 'f'}")
    ok(result)
    assert "warning" not in result.stderr


def test_comment_from_a_file_keeps_every_byte(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comment = "first line\nsecond line\n\n\n"  # "$(cat FILE)" would lose the newlines
    (tmp_path / "notes.txt").write_text(comment)
    monkeypatch.chdir(tmp_path)  # the README's example, as written
    result = run("post", "tags", "name=web", "comment=@notes.txt")
    ok(result)
    assert api.tags["web"]["comment"] == comment
    api.tags.clear()


def test_comment_as_a_file_part_is_lost_by_maas(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    (tmp_path / "c.txt").write_text("lost")
    result = run("post", "tags", "name=t-lost", f"comment@={tmp_path / 'c.txt'}")
    ok(result)  # exit 0 with an empty comment, as on the real region...
    assert api.tags["t-lost"]["comment"] == ""
    assert "use comment=@" in result.stderr  # ...so maascurl says so
    api.tags.clear()


def test_a_200_kb_dhcp_snippet_value_from_a_file(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = "".join(f"option opt{i} code {i % 250} = text;\n" for i in range(7000))
    assert len(value) > 200_000  # beyond what fits in one argument
    (tmp_path / "snippet.conf").write_text(value)
    monkeypatch.chdir(tmp_path)
    result = run("post", "dhcp-snippets", "name=big", "value=@snippet.conf")
    ok(result)
    assert api.dhcp_snippets[-1]["value"] == value
    api.dhcp_snippets.clear()


def test_a_value_from_a_file_may_hold_nul_and_non_utf8_bytes(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    data = b"a\x00b\xff\xfe\r\n--x\n"
    (tmp_path / "v.bin").write_bytes(data)
    ok(run("post", "dhcp-snippets", "name=raw", f"value=@{tmp_path / 'v.bin'}"))
    body = only(api).body
    assert b'name="value"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n' + data + b"\r\n" in (
        body
    )
    api.dhcp_snippets.clear()


def test_value_from_stdin_and_a_literal_at(api: MaasSimulator, run: Run) -> None:
    ok(
        run(
            "put",
            "machines/abc000",
            "description=@-",
            "hostname=\\@home",
            input=b"from stdin\n",
        )
    )
    assert only(api).form == [("description", "from stdin\n"), ("hostname", "@home")]


def test_value_from_a_file_goes_in_the_query_for_get(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    (tmp_path / "name").write_text("calm-otter")
    ok(run("get", "machines", f"hostname=@{tmp_path / 'name'}"))
    request_ = only(api)
    assert request_.query == [("hostname", "calm-otter")]
    assert request_.body == b""


@pytest.mark.parametrize(
    "args",
    [
        ("key=@-", "comment=@-"),
        ("key=@-", "file@=-"),
        ("key=@-", "--body", "-"),
    ],
)
def test_two_items_reading_stdin_is_a_usage_error(
    api: MaasSimulator, run: Run, args: tuple[str, ...]
) -> None:
    result = run("post", "tags", *args, input=b"x")
    assert result.exit_code == 2
    assert "both read stdin" in result.stderr
    assert api.requests == []


# ---------------------------------------------------------------- 2. --body


def test_body_from_a_file_is_sent_as_it_is(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    data = os.urandom(3000) + b"\x00end"
    (tmp_path / "chunk").write_bytes(data)
    ok(run("post", "machines/abc000", "op=deploy", "--body", str(tmp_path / "chunk")))
    sent = only(api)
    assert sent.body == data
    assert sent.headers["content-type"] == "application/octet-stream"
    assert sent.headers["content-length"] == str(len(data))
    assert sent.oauth is not None and sent.oauth["oauth_signature"]


def test_body_from_stdin_with_its_content_type(api: MaasSimulator, run: Run) -> None:
    ok(
        run(
            "post",
            "machines/abc000",
            "op=deploy",
            "Content-Type:application/json",
            "--body",
            "-",
            input=b'{"a": 1}',
        )
    )
    sent = only(api)
    assert (sent.body, sent.headers["content-type"]) == (b'{"a": 1}', "application/json")


def test_body_cannot_go_with_fields(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    (tmp_path / "b").write_bytes(b"x")
    result = run("post", "machines/abc000", "op=deploy", "a=1", "--body", str(tmp_path / "b"))
    assert result.exit_code == 2
    assert "--body sends the body as it is: it cannot go with fields or files" in result.stderr
    assert api.requests == []


def test_a_content_type_is_never_replaced_by_multipart_silently(
    api: MaasSimulator, run: Run
) -> None:
    result = run("post", "machines/abc000", "op=deploy", "a=1", "Content-Type:text/csv")
    assert result.exit_code == 2
    assert "Content-Type" in result.stderr and "--body" in result.stderr
    assert api.requests == []


# ---------------------------------------------------------------- 3. error bodies


def test_include_prints_an_error_answer_on_stdout(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/nosuch", "-i")
    assert result.exit_code == 4
    head, _, body = result.stdout.partition("\n\n")
    assert head.startswith("HTTP/1.1 404 Not Found\n")
    assert "Content-Type: text/plain" in head
    assert body.strip() == "No Machine matches the given query."
    assert result.stderr == "maascurl: error: 404 Not Found: No Machine matches the given query.\n"


def test_keep_error_body_saves_it_with_output(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    target = tmp_path / "err.json"
    api.queue(400, json.dumps({"name": ["Bad."]}), {"Content-Type": "application/json"})
    result = run("get", "machines", "--keep-error-body", "-o", str(target))
    assert result.exit_code == 4
    assert json.loads(target.read_bytes()) == {"name": ["Bad."]}
    assert result.stdout == ""


def test_an_error_never_replaces_output_without_the_option(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")
    api.queue(500, "boom")
    result = run("get", "machines", "-i", "-o", str(target))
    assert result.exit_code == 5
    assert target.read_bytes() == b"precious"
    assert result.stdout.startswith("HTTP/1.1 500 ")


def test_keep_error_body_on_stdout(api: MaasSimulator, run: Run) -> None:
    api.queue(409, "No available machine matches constraints")
    result = run("post", "machines", "op=allocate", "--fail-with-body", "--retries", "0")
    assert result.exit_code == 4
    assert result.stdout == "No available machine matches constraints"


def test_an_html_error_page_is_summarised_by_its_title(api: MaasSimulator, run: Run) -> None:
    page = (
        "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title>"
        "</head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    api.queue(400, page, {"Content-Type": "text/html"})
    result = run("get", "machines")
    assert result.exit_code == 4
    assert result.stderr == (
        "maascurl: error: 400 Bad Request: The plain HTTP request was sent to HTTPS port\n"
    )


# ---------------------------------------------------------------- 4. a stale description


@pytest.fixture
def upgradable(api: MaasSimulator) -> Iterator[MaasSimulator]:
    """The simulator with its API put back after a test 'upgrades' it."""
    saved = (api.describe_bytes, api.api_hash, api.routes)
    yield api
    api.describe_bytes, api.api_hash = saved[0], saved[1]
    api.routes = load_routes(json.loads(api.describe_bytes))


def age_cache(sim: MaasSimulator, seconds: float) -> None:
    path = cache_file(sim.api_root)
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_op_added_by_an_upgrade_works(upgradable: MaasSimulator, run: Run) -> None:
    upgradable.add_op("machines/{system_id}/", "POST", "power_cycle")
    age_cache(upgradable, 120)
    result = run("post", "machines/abc000", "op=power_cycle")
    ok(result)
    paths = [(r.method, r.path, r.query) for r in upgradable.requests]
    assert paths == [
        ("GET", ROOT + "describe/", []),
        ("POST", ROOT + "machines/abc000/", [("op", "power_cycle")]),
    ]


def test_a_young_description_is_not_fetched_again(upgradable: MaasSimulator, run: Run) -> None:
    upgradable.add_op("machines/{system_id}/", "POST", "power_cycle")
    result = run("post", "machines/abc000", "op=power_cycle")  # the cache is seconds old
    assert result.exit_code == 2
    assert "`maascurl refresh`" in result.stderr
    assert upgradable.requests == []
    forced = run("post", "machines/abc000/", "op=power_cycle", "--no-check")
    ok(forced)
    assert upgradable.requests[0].query == [("op", "power_cycle")]


def test_a_refused_op_stays_refused_after_one_fetch(api: MaasSimulator, run: Run) -> None:
    age_cache(api, 120)
    result = run("post", "machines/abc000", "op=nonsense")
    assert result.exit_code == 2
    assert [r.path for r in api.requests] == [ROOT + "describe/"]
    api.requests.clear()
    again = run("post", "machines/abc000", "op=nonsense")  # fetched a moment ago
    assert again.exit_code == 2
    assert api.requests == []


# ---------------------------------------------------------------- 5. paths with a query


@pytest.mark.parametrize(
    "path", ["/MAAS/api/2.0/events/?op=query&limit=2&after=37", "events/?op=query&limit=2&after=37"]
)
def test_a_pasted_next_uri_is_accepted(api: MaasSimulator, run: Run, path: str) -> None:
    ok(run("get", path, "level==INFO"))
    sent = only(api)
    assert sent.path == ROOT + "events/"
    assert sent.query == [("op", "query"), ("limit", "2"), ("after", "37"), ("level", "INFO")]


def test_a_pasted_anon_resource_uri_downloads(api: MaasSimulator, run: Run) -> None:
    api.add_file("pasted.bin", b"\x01pasted")
    uri = api.files["pasted.bin"]["key"]
    result = run("get", f"/MAAS/api/2.0/files/?op=get_by_key&key={uri}", "--anonymous", "-o", "-")
    ok(result)
    assert result.stdout_bytes == b"\x01pasted"


# ---------------------------------------------------------------- 6. no false alarms


def test_power_parameters_fields_draw_no_warning(api: MaasSimulator, run: Run) -> None:
    result = run("put", "machines/abc000", "power_parameters_power_address=10.0.0.9")
    ok(result)
    assert "warning" not in result.stderr


def test_a_name_unlike_any_documented_one_draws_no_warning(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=deploy", "vendor_extension=1")
    ok(result)
    assert result.stderr == ""


def test_workload_annotation_keys_draw_no_warning(api: MaasSimulator, run: Run) -> None:
    # The op documents one parameter, "key"; the keys really sent are free-form.
    result = run("post", "machines/abc000", "op=set_workload_annotations", "keys=1", "team=web")
    ok(result)
    assert "warning" not in result.stderr


def test_power_parameters_draw_no_warning(api: MaasSimulator, run: Run) -> None:
    # MAAS expands power_parameters_{name} itself; IPMI's k_g and the uuid of several
    # drivers are close enough to the one documented, power_parameters_skip_check,
    # to look like a typo of it.
    result = run("put", "machines/abc000", "power_parameters_k_g=k", "power_parameters_uuid=u")
    ok(result)
    assert "warning" not in result.stderr


def test_script_parameters_of_commission_and_test_are_not_typos(
    api: MaasSimulator, run: Run
) -> None:
    # `storage` is a script's parameter, though close to the documented skip_storage.
    result = run("post", "machines/abc000", "op=commission", "storage=sda", "runtime=60")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr


def test_quiet_silences_warnings(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    data = tmp_path / "user-data"
    data.write_text("#cloud-config\n")
    loud = run("post", "machines/abc000", "op=deploy", f"user_data@={data}")
    assert f"use user_data=@{data}" in loud.stderr
    quiet = run("post", "machines/abc001", "op=deploy", f"user_data@={data}", "-q")  # not busy
    ok(quiet)
    assert quiet.stderr == ""


# ---------------------------------------------------------------- 7. no silent header


def test_an_item_that_could_be_a_header_or_a_field_is_refused(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=deploy", "team:role=web")
    assert result.exit_code == 2
    assert "team\\:role=web" in result.stderr
    assert "-H 'team: role=web'" in result.stderr
    assert api.requests == []


def test_both_spellings_do_what_they_say(api: MaasSimulator, run: Run) -> None:
    ok(run("post", "machines/abc000", "op=deploy", "team\\:role=web", "-H", "X-Team: role=web"))
    sent = only(api)
    assert sent.form == [("team:role", "web")]
    assert sent.headers["x-team"] == "role=web"


# ---------------------------------------------------------------- 8. protocol mix-ups


def test_https_to_the_plain_port_is_diagnosed(
    sim: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_API_URL", sim.url.replace("http://", "https://"))
    monkeypatch.setenv("MAAS_API_KEY", sim.api_key)
    result = run("get", "version", "--timeout", "0.3")
    assert result.exit_code == 7
    assert "TLS handshake got no answer" in result.stderr
    assert "http on 5240 and https on 5443" in result.stderr


def test_http_to_the_tls_port_is_diagnosed(
    https_maas: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_API_URL", https_maas.url.replace("https://", "http://"))
    monkeypatch.setenv("MAAS_API_KEY", https_maas.api_key)
    result = run("get", "version")
    assert result.exit_code == 6
    assert "is this an https port? MAAS serves http on 5240 and https on 5443" in result.stderr


def test_a_tls_failure_after_a_redirect_names_the_target(
    api: MaasSimulator, https_maas: MaasSimulator, run: Run
) -> None:
    api.queue(302, "", {"Location": https_maas.api_root + "version/"}, path="version/")
    result = run("get", "version", "--follow-any")
    port = https_maas.url.split(":")[2].split("/")[0]
    assert result.exit_code == 6
    assert f"TLS certificate of 127.0.0.1:{port} could not be verified" in result.stderr


def test_login_redirected_elsewhere_suggests_the_target_url(sim: MaasSimulator, run: Run) -> None:
    target = "https://maas.example:5443/MAAS/api/2.0/users/?op=whoami"
    sim.queue(301, "", {"Location": target}, path="users/")
    result = run("login", "prod", sim.url, sim.api_key)
    assert result.exit_code == 3
    assert "maascurl login prod https://maas.example:5443/MAAS" in result.stderr


# ---------------------------------------------------------------- 9. help where a name is wrong


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("resource-pools", "resourcepools/"),
        ("machine/abc000", "machines/abc000/"),
        ("tag/virtual", "tags/virtual/"),
    ],
)
def test_the_official_cli_names_are_accepted(
    api: MaasSimulator, run: Run, typed: str, sent: str
) -> None:
    run("get", typed)
    assert only(api).path == ROOT + sent


@pytest.fixture
def vlan_5006(api: MaasSimulator) -> Iterator[MaasSimulator]:
    """Fabric 2's VLAN 567 (id 5006), its MTU put back after the test."""
    stored = api.fabrics.vlans[5006]
    mtu = stored["mtu"]
    yield api
    stored["mtu"] = mtu


def test_a_vlan_is_read_and_changed_by_its_resource_uri(vlan_5006: MaasSimulator, run: Run) -> None:
    # MAAS serves vlans/{id}/ (every VLAN's resource_uri) though describe/ lacks it:
    # it is never taken for the official CLI's `vlans FABRIC_ID` (fabrics/ID/vlans/).
    read = run("get", "vlans/5006")
    ok(read)
    assert json.loads(read.stdout)["vid"] == 567
    changed = run("put", "vlans/5006", "mtu=9000")  # the described twin's PUT fields
    ok(changed)
    assert json.loads(changed.stdout)["mtu"] == 9000
    assert [r.path for r in vlan_5006.requests] == [ROOT + "vlans/5006/"] * 2
    assert vlan_5006.fabrics.vlans[5006]["mtu"] == 9000


def test_a_vlan_id_that_is_a_fabric_id_is_not_a_fabric(api: MaasSimulator, run: Run) -> None:
    result = run("get", "vlans/1")  # once fabric 1's VLAN list, with exit 0
    assert result.exit_code == 4
    assert "VLAN with specified ID does not exist." in result.stderr
    assert only(api).path == ROOT + "vlans/1/"


@pytest.mark.parametrize(
    "typed",
    [
        "vlans/5006/",
        "/MAAS/api/2.0/vlans/5006/",
        "{url}vlans/5006/",
    ],
)
@pytest.mark.parametrize("no_check", [False, True])
def test_a_resource_uri_goes_as_typed(
    api: MaasSimulator, run: Run, typed: str, no_check: bool
) -> None:
    path = typed.format(url=api.api_root)
    ok(run("get", path, *(["--no-check"] if no_check else [])))
    assert only(api).path == ROOT + "vlans/5006/"


def test_tab_knows_the_paths_maas_serves_beyond_its_description(api: MaasSimulator) -> None:
    assert "vlans/" in values("maascurl get vl")
    assert "mtu=" in values("maascurl put vlans/5006 mt")


def test_no_check_sends_the_path_exactly_as_typed(api: MaasSimulator, run: Run) -> None:
    cli_name = run("get", "resource-pools/", "--no-check")  # no official CLI name mapped
    assert cli_name.exit_code == 4
    no_slash = run("get", "machines", "--no-check")  # no trailing slash added
    assert no_slash.exit_code == 4
    assert no_slash.stderr.rstrip().endswith(
        "--no-check sends PATH as typed: did you mean machines/?"
    )
    suffix = run("get", "machines/op-list_allocated", "--no-check")  # MAAS serves op-NAME too
    ok(suffix)
    assert [(r.path, r.query) for r in api.requests] == [
        (ROOT + "resource-pools/", []),
        (ROOT + "machines", []),
        (ROOT + "machines/op-list_allocated", []),
    ]


def test_a_full_path_is_never_taken_for_an_official_cli_name(api: MaasSimulator, run: Run) -> None:
    result = run("get", "/MAAS/api/2.0/resource-pools/")
    assert result.exit_code == 4
    assert only(api).path == ROOT + "resource-pools/"


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("resource-pools", "resource-pools is the official CLI's name of MAAS's resourcepools/"),
        ("machines", "machines is sent as machines/: MAAS's path ends in a slash"),
        ("machines/op-list_allocated", "machines/op-list_allocated is sent as machines/ with op="),
    ],
)
def test_verbose_says_how_the_typed_path_was_changed(
    api: MaasSimulator, run: Run, typed: str, said: str
) -> None:
    shown = run("get", typed, "-v")
    ok(shown)
    assert f"maascurl: note: {said}" in shown.stderr
    quiet = run("get", typed)
    assert "note:" not in quiet.stderr  # said only with -v
    exact = run("get", "machines/", "-v")
    assert "note:" not in exact.stderr  # nothing changed, nothing said


def test_a_404_for_an_unknown_path_suggests_one(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machinez")
    assert result.exit_code == 4
    assert result.stderr.rstrip().endswith("did you mean machines/?")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("vlans", "fabrics/{fabric_id}/vlans/"),  # once "events/"
        ("interfaces", "nodes/{system_id}/interfaces/"),  # once "ipranges/"
    ],
)
def test_a_404_suggests_only_a_plausible_path(
    api: MaasSimulator, run: Run, typed: str, meant: str
) -> None:
    result = run("get", typed)
    assert result.exit_code == 4
    assert result.stderr.rstrip().endswith(f"did you mean {meant}?")


def test_a_404_for_a_path_like_no_other_suggests_nothing(api: MaasSimulator, run: Run) -> None:
    result = run("get", "zebras")
    assert result.exit_code == 4
    assert "did you mean" not in result.stderr


def test_an_op_of_another_method_says_which(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=query_power_state")
    assert result.exit_code == 2
    assert "query_power_state is a GET op" in result.stderr


def test_a_dashed_op_is_suggested_with_underscores(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/abc000", "op=power-parameters")
    assert result.exit_code == 2
    assert "did you mean 'power_parameters'?" in result.stderr


def test_describe_takes_op_as_typed_in_a_request(api: MaasSimulator, run: Run) -> None:
    plain = run("describe", "machines", "allocate")
    typed = run("describe", "machines", "op=allocate")
    ok(typed)
    assert typed.stdout == plain.stdout
    assert "allocate" in typed.stdout


# ---------------------------------------------------------------- 10. smaller ones


def test_a_refused_connection_fails_within_about_a_second(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(client.time, "sleep", waits.append)
    monkeypatch.setenv("MAAS_API_URL", f"http://127.0.0.1:{closed_port()}/MAAS")
    monkeypatch.setenv("MAAS_API_KEY", "a:b:c")
    result = run("get", "machines")
    assert result.exit_code == 6
    assert waits == [0.125, 0.25, 0.5]


def test_options_before_the_method_and_a_capital_method(api: MaasSimulator, run: Run) -> None:
    ok(run("-p", "sim", "GET", "machines", "hostname=calm-otter"))
    ok(run("--profile=sim", "-q", "get", "version"))
    assert [r.path for r in api.requests] == [ROOT + "machines/", ROOT + "version/"]


def test_tab_offers_ids_seen_in_a_listing(api: MaasSimulator, run: Run) -> None:
    assert "machines/{system_id}/" in complete("maascurl get machines/", "zsh")
    ok(run("get", "machines"))
    api.requests.clear()
    lines = complete("maascurl get machines/", "zsh")
    values = lines[1::3]
    assert "machines/{system_id}/" not in values
    ids = [value for value in values if value.startswith("machines/abc")]
    assert ids == ["machines/abc000/", "machines/abc001/", "machines/abc002/"]
    help_of_first = lines[lines.index("machines/abc000/") + 1]
    assert help_of_first == api.machines[0]["hostname"]  # the help shown beside it
    assert complete("maascurl get machines/abc001", "zsh")[1] == "machines/abc001/"
    assert api.requests == []  # never contacted on TAB


def test_a_filtered_listing_does_not_replace_the_ids(api: MaasSimulator, run: Run) -> None:
    ok(run("get", "machines"))
    ok(run("get", "machines", "hostname=nobody"))
    assert "machines/abc002/" in complete("maascurl get machines/", "zsh")


def test_ids_kept_per_listing_are_capped(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAB reads every kept ID on each press: a big listing keeps only the first MAX_IDS."""
    monkeypatch.setattr(listings, "MAX_IDS", 2)
    ok(run("get", "machines"))
    values = complete("maascurl get machines/", "zsh")[1::3]
    assert [v for v in values if v.startswith("machines/abc")] == [
        "machines/abc000/",
        "machines/abc001/",
    ]


def test_only_the_newest_listing_paths_are_kept(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listings, "MAX_PATHS", 1)
    ok(run("get", "machines"))
    ok(run("get", "zones"))
    assert "zones/default/" in complete("maascurl get zones/", "zsh")
    assert "machines/abc000/" not in complete("maascurl get machines/", "zsh")


def test_an_id_that_is_its_own_name_gets_no_help(api: MaasSimulator, run: Run) -> None:
    """zones/{name}/: the help beside an ID would only repeat it."""
    ok(run("get", "zones"))
    lines = complete("maascurl get zones/", "zsh")
    assert lines[lines.index("zones/default/") + 1] == "_"  # zsh's "no help"


def test_tab_offers_a_file_part_where_maas_wants_one(api: MaasSimulator) -> None:
    assert "file@=" in complete("maascurl post files fi", "zsh")
    assert "key=" in complete("maascurl post account/prefs/sshkeys k", "zsh")


def test_a_clock_offset_is_forgotten_once_clocks_agree(api: MaasSimulator, run: Run) -> None:
    api.clock_offset = 1000
    ok(run("get", "users", "op=whoami"))
    state = Path(os.environ["MAASCURL_CACHE_DIR"], "state.json")
    assert abs(next(iter(json.loads(state.read_text()).values()))["clock_offset"] - 1000) <= 2
    api.clock_offset = 0  # the machine's clock was fixed
    ok(run("get", "users", "op=whoami"))
    assert next(iter(json.loads(state.read_text()).values()))["clock_offset"] == 0
    api.requests.clear()
    ok(run("get", "users", "op=whoami"))
    timestamp = int((only(api).oauth or {})["oauth_timestamp"])
    assert abs(timestamp - time.time()) < 60


# ---------------------------------------------------------------- files that are not regular


def test_an_endless_device_is_refused(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request, "NON_REGULAR_LIMIT", 64 * 1024)
    for item in ("file@=/dev/zero", "comment=@/dev/zero"):
        result = run("post", "files", "filename=z", item)
        assert result.exit_code == 1
        assert "/dev/zero is not a regular file and gives more than" in result.stderr
    assert api.requests == []


def test_a_proc_file_is_sent_with_its_content(api: MaasSimulator, run: Run) -> None:
    ok(run("post", "files", "filename=status", "file@=/proc/self/status"))
    assert b"Name:" in api.files["status"]["content"]


def test_a_pipe_is_read_whole(api: MaasSimulator, run: Run) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"from a pipe\n")
    os.close(write_end)
    try:
        ok(run("post", "tags", "name=t-pipe", f"comment=@/dev/fd/{read_end}"))
    finally:
        os.close(read_end)
    assert api.tags.pop("t-pipe")["comment"] == "from a pipe\n"


def test_a_fifo_without_a_writer_is_refused_not_waited_for(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request, "PIPE_WRITER_WAIT", 0.1)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run("post", "files", "filename=f", f"file@={fifo}")
    assert result.exit_code == 1
    assert "a pipe that gave no data" in result.stderr
    assert api.requests == []


def test_a_growing_file_is_sent_at_the_size_it_had(tmp_path: Path) -> None:
    source = tmp_path / "growing.log"
    source.write_bytes(b"x" * 1000)
    spec = build_request("POST", API_ROOT, "files", ["filename=g", f"file@={source}"])
    body = MultipartBody(spec.fields, spec.files)
    promised = len(body)
    with open(source, "ab") as stream:
        stream.write(b"y" * 5000)
    assert len(b"".join(body)) == promised


def test_process_substitution_through_the_installed_command(api: MaasSimulator, home: Path) -> None:
    """bash's <(cmd) is a pipe under /dev/fd: its content arrives whole, as a field."""
    script = shutil.which("maascurl") or str(Path(sys.executable).with_name("maascurl"))
    done = subprocess.run(
        ["bash", "-c", f"{script} post tags name=t-subst comment=@<(printf 'a\\0b\\n\\n')"],
        env=env_for_subprocess(home),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert api.tags.pop("t-subst")["comment"] == "a\0b\n\n"


def test_a_form_wide_error_reads_as_a_sentence(api: MaasSimulator, run: Run) -> None:
    body = {"__all__": ["Name already exists."], "value": ["This field is required."]}
    api.queue(400, json.dumps(body), {"Content-Type": "application/json"})
    result = run("post", "dhcp-snippets", "name=x")
    assert result.stderr == (
        "maascurl: error: 400 Bad Request: Name already exists. value: This field is required.\n"
    )


def test_an_error_body_is_written_as_it_is_with_a_table_format(
    api: MaasSimulator, run: Run
) -> None:
    result = run("get", "machines/nosuch", "-t", "--keep-error-body")
    assert result.exit_code == 4
    assert result.stdout == "No Machine matches the given query."


def test_the_next_uri_of_an_events_page_is_followed(api: MaasSimulator, run: Run) -> None:
    first = run("get", "events", "op=query", "limit=2")
    ok(first)
    next_uri = json.loads(first.stdout)["next_uri"]
    assert "?" in next_uri
    ok(run("get", next_uri, "limit=2"))
    sent = api.requests[-1]
    assert sent.path == ROOT + "events/"
    assert sent.query[0] == ("op", "query") and ("limit", "2") in sent.query
    assert ("after", next_uri.rpartition("after=")[2]) in sent.query
