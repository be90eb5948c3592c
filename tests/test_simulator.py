"""Tests of the fake MAAS server used by the rest of the test suite."""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import re
import ssl
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from oauthlib import oauth1

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import API_PREFIX, FIXTURES, FORBIDDEN, INVALID_API_KEY, MaasSimulator


@pytest.fixture
def sim() -> Iterator[MaasSimulator]:
    with MaasSimulator() as server:
        yield server


def oauth_params(api_key: str, **overrides: str) -> dict[str, str]:
    consumer, token, secret = api_key.split(":")
    params = {
        "oauth_consumer_key": consumer,
        "oauth_token": token,
        "oauth_signature_method": "PLAINTEXT",
        "oauth_signature": "&" + secret,
        "oauth_timestamp": str(int(time.time())),
        "oauth_nonce": f"n{time.monotonic_ns()}",
        "oauth_version": "1.0",
    }
    params.update(overrides)
    return params


def header(params: dict[str, str]) -> str:
    items = ", ".join(f'{k}="{urllib.parse.quote(v, safe="")}"' for k, v in params.items())
    return "OAuth " + items


def signed(sim: MaasSimulator, method: str, url: str, api_key: str | None = None) -> dict[str, str]:
    """Sign the way a real client does, with oauthlib."""
    consumer, token, secret = (api_key or sim.api_key).split(":")
    client = oauth1.Client(
        consumer,
        client_secret="",
        resource_owner_key=token,
        resource_owner_secret=secret,
        signature_method=oauth1.SIGNATURE_PLAINTEXT,
    )
    _, headers, _ = client.sign(url, method)
    return dict(headers)


def call(
    sim: MaasSimulator, method: str, path: str, api_key: str | None = None, **kwargs: Any
) -> httpx.Response:
    url = sim.api_root + path
    headers = {**signed(sim, method, url, api_key), **kwargs.pop("headers", {})}
    return httpx.request(method, url, headers=headers, **kwargs)


def raw(sim: MaasSimulator, path: str, params: dict[str, str]) -> httpx.Response:
    return httpx.get(sim.api_root + path, headers={"Authorization": header(params)})


# ---------------------------------------------------------------- basics


def test_signed_request_gets_the_caller(sim: MaasSimulator) -> None:
    response = call(sim, "GET", "users/?op=whoami")
    assert response.status_code == 200
    assert response.json()["username"] == "admin"
    assert response.json()["is_superuser"] is True
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-maas-api-hash"] == "29b8898cd6164c9b0adae16fe79c9932fe40e145"
    assert "date" in response.headers
    recorded = sim.requests[-1]
    assert recorded.method == "GET"
    assert recorded.path == API_PREFIX + "users/"
    assert recorded.query == [("op", "whoami")]
    assert recorded.oauth is not None
    assert recorded.oauth["oauth_signature_method"] == "PLAINTEXT"


def test_added_user_has_own_key(sim: MaasSimulator) -> None:
    key = sim.add_user("alice")
    assert key.count(":") == 2 and key != sim.api_key
    response = call(sim, "GET", "users/?op=whoami", api_key=key)
    assert response.json()["username"] == "alice"
    assert response.json()["is_superuser"] is False


def test_anonymous_version_and_describe(sim: MaasSimulator) -> None:
    version = httpx.get(sim.api_root + "version/")
    assert version.status_code == 200
    assert "capabilities" in version.json()
    describe = httpx.get(sim.api_root + "describe/")
    fixture = FIXTURES / "describe.json"
    assert describe.content == fixture.read_bytes()
    assert describe.headers["x-maas-api-hash"] == describe.json()["hash"]


def test_anonymous_action_of_mixed_resource(sim: MaasSimulator) -> None:
    response = httpx.get(
        sim.api_root + "nodes/", params={"op": "is_registered", "mac_address": "x"}
    )
    assert response.status_code == 200
    assert response.json() is False


def test_date_header_follows_clock_offset(sim: MaasSimulator) -> None:
    sim.clock_offset = 86400 * 365
    response = httpx.get(sim.api_root + "version/")
    served = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    assert served - time.time() > 86400 * 364


# ---------------------------------------------------------------- OAuth rejections


def test_unsigned_request_is_forbidden(sim: MaasSimulator) -> None:
    response = httpx.get(sim.api_root + "machines/")
    assert (response.status_code, response.text) == (401, FORBIDDEN)


def test_incomplete_oauth_header_is_forbidden(sim: MaasSimulator) -> None:
    params = oauth_params(sim.api_key)
    del params["oauth_nonce"]
    response = raw(sim, "machines/", params)
    assert (response.status_code, response.text) == (401, FORBIDDEN)


def test_unknown_consumer(sim: MaasSimulator) -> None:
    response = raw(sim, "machines/", oauth_params(sim.api_key, oauth_consumer_key="nope"))
    assert (response.status_code, response.text) == (401, INVALID_API_KEY)
    assert response.text == "Authorization Error: Invalid API key."


def test_unknown_token(sim: MaasSimulator) -> None:
    response = raw(sim, "machines/", oauth_params(sim.api_key, oauth_token="tok"))
    assert response.status_code == 401
    assert response.text == "Authorization Error: 'Invalid access token: tok'"


def test_wrong_signature(sim: MaasSimulator) -> None:
    response = raw(sim, "machines/", oauth_params(sim.api_key, oauth_signature="&wrong"))
    assert response.status_code == 401
    secret = sim.api_key.split(":")[2]
    expected = f"Invalid signature. Expected signature base string: &{secret}"
    assert response.text == f"Authorization Error: {expected!r}"


def test_signature_is_percent_decoded(sim: MaasSimulator) -> None:
    secret = sim.api_key.split(":")[2]
    params = oauth_params(sim.api_key)
    text = ", ".join(f'{k}="{v}"' for k, v in params.items() if k != "oauth_signature")
    response = httpx.get(
        sim.api_root + "machines/",
        headers={"Authorization": f'OAuth {text}, oauth_signature="%26{secret}"'},
    )
    assert response.status_code == 200


def test_non_plaintext_method(sim: MaasSimulator) -> None:
    response = raw(sim, "machines/", oauth_params(sim.api_key, oauth_signature_method="HMAC-SHA1"))
    assert response.status_code == 401
    assert response.text == (
        "Authorization Error: 'Signature method HMAC-SHA1 not supported try one of the "
        "following: PLAINTEXT'"
    )


def test_bad_oauth_version(sim: MaasSimulator) -> None:
    response = raw(sim, "machines/", oauth_params(sim.api_key, oauth_version="2.0"))
    assert response.status_code == 401
    assert response.text == "Authorization Error: 'OAuth version 2.0 not supported.'"


def test_expired_timestamp_uses_clock_offset(sim: MaasSimulator) -> None:
    sim.clock_offset = 1500001000 - time.time()
    response = raw(sim, "machines/", oauth_params(sim.api_key, oauth_timestamp="1500000000"))
    assert response.status_code == 401
    match = re.fullmatch(
        r"Authorization Error: 'Expired timestamp: given 1500000000 and now (\d+) has a "
        r"greater difference than threshold 300'",
        response.text,
    )
    assert match is not None
    assert abs(int(match.group(1)) - 1500001000) <= 2


def test_skewed_client_clock_is_rejected_only_when_behind(sim: MaasSimulator) -> None:
    sim.clock_offset = 301 + 5
    behind = call(sim, "GET", "machines/")
    assert behind.status_code == 401
    assert "Expired timestamp" in behind.text
    sim.clock_offset = -3600  # the client's clock is ahead: accepted
    assert call(sim, "GET", "machines/").status_code == 200


def test_nonce_replay(sim: MaasSimulator) -> None:
    params = oauth_params(sim.api_key, oauth_nonce="abc123")
    assert raw(sim, "machines/", params).status_code == 200
    again = raw(sim, "machines/", params)
    assert again.status_code == 401
    assert again.text == "Authorization Error: 'Nonce already used: abc123'"


# ---------------------------------------------------------------- routing


def test_missing_trailing_slash_is_unknown(sim: MaasSimulator) -> None:
    response = call(sim, "GET", "machines")
    assert response.status_code == 404
    assert response.text == "Unknown API endpoint: /MAAS/api/2.0/machines."
    assert response.headers["content-type"].startswith("text/plain")


def test_templates_without_trailing_slash_match_exactly(sim: MaasSimulator) -> None:
    assert call(sim, "GET", "commissioning-scripts/foo").status_code == 200
    assert call(sim, "GET", "commissioning-scripts/foo/").status_code == 404


def test_unknown_op(sim: MaasSimulator) -> None:
    response = call(sim, "GET", "machines/?op=foo")
    assert (response.status_code, response.text) == (
        400,
        "Unrecognised signature: method=GET op=foo",
    )
    put = call(sim, "PUT", "machines/")
    assert (put.status_code, put.text) == (400, "Unrecognised signature: method=PUT op=None")


def test_op_from_form_body_and_path_suffix(sim: MaasSimulator) -> None:
    from_form = call(sim, "POST", "machines/", data={"op": "allocate"})
    assert from_form.status_code == 200
    assert from_form.json()["status_name"] == "Allocated"
    from_path = call(sim, "GET", "machines/op-list_allocated")
    assert from_path.status_code == 200
    assert len(from_path.json()) == 2


# ---------------------------------------------------------------- bodies


def test_urlencoded_repeated_fields(sim: MaasSimulator) -> None:
    body = "tags=a&tags=b&name=h%C3%A9llo&empty="
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    call(sim, "POST", "machines/?op=allocate", content=body, headers=headers)
    assert sim.requests[-1].form == [("tags", "a"), ("tags", "b"), ("name", "héllo"), ("empty", "")]


def test_query_keeps_repeated_keys(sim: MaasSimulator) -> None:
    response = call(sim, "GET", "machines/?hostname=amber-otter&hostname=brisk-otter&zone=default")
    assert sim.requests[-1].query == [
        ("hostname", "amber-otter"),
        ("hostname", "brisk-otter"),
        ("zone", "default"),
    ]
    assert response.json() == []  # both are in zone-north


def test_multipart_base64_parts_like_the_maas_cli(sim: MaasSimulator) -> None:
    boundary = "===============1234=="
    parts = [
        ("name", None, 'text/plain; charset="utf-8"', b"foo"),
        ("tags", None, 'text/plain; charset="utf-8"', b"a"),
        ("tags", None, 'text/plain; charset="utf-8"', b"b"),
        ("comment", None, 'text/plain; charset="utf-8"', "héllo wörld".encode()),
        ("user_data", "user_data", "text/x-sh", b"#!/bin/sh\necho hi\n"),
    ]
    chunks = []
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
        chunks.append(
            f"--{boundary}\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: {disposition}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {ctype}\r\n\r\n{base64.b64encode(data).decode()}\r\n\r\n"
        )
    body = "".join(chunks) + f"--{boundary}--"
    headers = {"Content-Type": f'multipart/form-data; boundary="{boundary}"'}
    response = call(sim, "POST", "machines/?op=allocate", content=body, headers=headers)
    recorded = sim.requests[-1]
    assert recorded.form == [
        ("name", "foo"),
        ("tags", "a"),
        ("tags", "b"),
        ("comment", "héllo wörld"),
    ]
    assert recorded.files == [("user_data", "user_data", b"#!/bin/sh\necho hi\n")]
    assert response.status_code == 400  # MAAS checks the tags exist
    assert response.json() == {"tags": ["No such tag(s): 'a', 'b'."]}


def test_multipart_from_httpx(sim: MaasSimulator) -> None:
    response = call(
        sim,
        "POST",
        "machines/abc001/?op=deploy",
        data={"distro_series": "noble", "tags": ["x", "y"]},
        files={"user_data": ("ud.sh", b"\x00\xffbinary")},
    )
    assert response.status_code == 200
    assert response.json()["status_name"] == "Deploying"
    assert response.json()["distro_series"] == "noble"
    recorded = sim.requests[-1]
    assert recorded.form == [("distro_series", "noble"), ("tags", "x"), ("tags", "y")]
    assert recorded.files == [("user_data", "ud.sh", b"\x00\xffbinary")]
    assert recorded.content_type.startswith("multipart/form-data")


def test_empty_multipart_is_a_bad_request(sim: MaasSimulator) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    response = call(sim, "POST", "machines/?op=allocate", content=b"--xyz--\r\n", headers=headers)
    assert response.status_code == 400


def test_chunked_request_body(sim: MaasSimulator) -> None:
    def pieces() -> Iterator[bytes]:
        yield b"hostname="
        yield b"renamed"

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = call(sim, "PUT", "machines/abc000/", content=pieces(), headers=headers)
    assert sim.requests[-1].headers.get("transfer-encoding") == "chunked"
    assert response.json()["hostname"] == "renamed"
    assert response.json()["fqdn"] == "renamed.maas"


def test_keep_alive_serves_several_requests_per_connection(sim: MaasSimulator) -> None:
    port = int(sim.url.split(":")[2].split("/")[0])
    connection = http.client.HTTPConnection("127.0.0.1", port)
    try:
        for _ in range(3):
            path = API_PREFIX + "users/?op=whoami"
            connection.request("GET", path, headers=signed(sim, "GET", sim.url[:-5] + path))
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["username"] == "admin"
    finally:
        connection.close()


# ---------------------------------------------------------------- faults


def test_queued_fault_after_oauth_check(sim: MaasSimulator) -> None:
    sim.queue(503, "busy", {"Retry-After": "7"}, path="machines/")
    assert httpx.get(sim.api_root + "machines/").status_code == 401  # unsigned: not consumed
    assert call(sim, "GET", "users/?op=whoami").status_code == 200  # other path
    failed = call(sim, "GET", "machines/")
    assert (failed.status_code, failed.text, failed.headers["retry-after"]) == (503, "busy", "7")
    assert call(sim, "GET", "machines/").status_code == 200


def test_queued_fault_count(sim: MaasSimulator) -> None:
    sim.queue(502, count=2)
    assert [call(sim, "GET", "version/").status_code for _ in range(3)] == [502, 502, 200]


def test_queued_delay(sim: MaasSimulator) -> None:
    sim.queue(200, '{"slow": true}', {"Content-Type": "application/json"}, delay=1.5)
    with pytest.raises(httpx.ReadTimeout):
        call(sim, "GET", "machines/", timeout=0.2)


def test_queued_truncated_body(sim: MaasSimulator) -> None:
    sim.queue(200, b'{"a": "' + b"x" * 1000 + b'"}', truncate=10)
    with pytest.raises(httpx.RemoteProtocolError):
        call(sim, "GET", "machines/")
    assert call(sim, "GET", "machines/").status_code == 200


# ---------------------------------------------------------------- resources


def test_machines_listing_and_filters(sim: MaasSimulator) -> None:
    machines = call(sim, "GET", "machines/").json()
    assert [m["system_id"] for m in machines] == ["abc000", "abc001", "abc002"]
    assert len({m["hostname"] for m in machines}) == 3
    by_id = call(sim, "GET", "machines/?id=abc002&id=abc000").json()
    assert [m["system_id"] for m in by_id] == ["abc000", "abc002"]
    by_name = call(sim, "GET", f"machines/?hostname={machines[1]['hostname']}").json()
    assert [m["system_id"] for m in by_name] == ["abc001"]


def test_list_allocated_only_shows_the_callers(sim: MaasSimulator) -> None:
    mine = call(sim, "GET", "machines/?op=list_allocated").json()
    assert [m["system_id"] for m in mine] == ["abc001"]
    other = sim.add_user("bob")
    assert call(sim, "GET", "machines/?op=list_allocated", api_key=other).json() == []


def test_machine_read_update_release_delete(sim: MaasSimulator) -> None:
    missing = call(sim, "GET", "machines/zzz/")
    assert (missing.status_code, missing.text) == (404, "No Machine matches the given query.")
    assert call(sim, "GET", "machines/abc000/").json()["system_id"] == "abc000"
    renamed = call(sim, "PUT", "machines/abc000/", data={"hostname": "web1"})
    assert renamed.json()["hostname"] == "web1"
    released = call(sim, "POST", "machines/abc001/?op=release")
    assert (released.json()["status_name"], released.json()["owner"]) == ("Ready", None)
    deleted = call(sim, "DELETE", "machines/abc000/")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert call(sim, "GET", "machines/abc000/").status_code == 404
    listing = call(sim, "GET", "machines/").json()
    assert [(m["system_id"], m["hostname"]) for m in listing] == [
        ("abc001", listing[0]["hostname"]),
        ("abc002", listing[1]["hostname"]),
    ]
    sim.machines[0]["hostname"] = "edited"
    sim.changed()
    assert call(sim, "GET", "machines/").json()[0]["hostname"] == "edited"


def test_allocate_by_tag(sim: MaasSimulator) -> None:
    allocated = call(sim, "POST", "machines/?op=allocate", data={"tags": "virtual"})
    assert allocated.json()["system_id"] == "abc000"
    assert allocated.json()["owner"] == "admin"
    again = call(sim, "POST", "machines/?op=allocate", data={"tags": "virtual"})
    assert again.status_code == 409


def test_other_documented_ops_answer(sim: MaasSimulator) -> None:
    assert call(sim, "POST", "machines/abc002/?op=power_on").json()["system_id"] == "abc002"
    free = call(sim, "POST", "machines/abc000/?op=power_on")  # MAAS powers on owned machines
    assert (free.status_code, free.text) == (409, "Can't start node: it hasn't been allocated.")
    assert call(sim, "GET", "tags/").json()[0]["name"] == "virtual"
    assert call(sim, "GET", "fabrics/").status_code == 200


def test_sshkeys(sim: MaasSimulator) -> None:
    assert len(call(sim, "GET", "account/prefs/sshkeys/").json()) == 2
    created = call(sim, "POST", "account/prefs/sshkeys/", data={"key": "ssh-ed25519 AAAA me@host"})
    assert created.status_code == 201
    body = created.json()
    assert body["key"] == "ssh-ed25519 AAAA me@host"
    assert body["resource_uri"] == f"{API_PREFIX}account/prefs/sshkeys/{body['id']}/"
    # As MAAS's SSHKeyForm: the key comes from the form fields; a file part is ignored.
    from_file = call(
        sim, "POST", "account/prefs/sshkeys/", files={"key": ("id.pub", b"ssh-rsa BBBB x\n")}
    )
    assert from_file.status_code == 400
    assert from_file.json() == {"key": ["This field is required."]}
    missing = call(sim, "POST", "account/prefs/sshkeys/", data={"other": "1"})
    assert missing.status_code == 400
    assert missing.json() == {"key": ["This field is required."]}
    assert len(call(sim, "GET", "account/prefs/sshkeys/").json()) == 3


def test_files(sim: MaasSimulator) -> None:
    created = call(
        sim, "POST", "files/", data={"filename": "a.txt"}, files={"file": ("a.txt", b"hello")}
    )
    assert created.status_code == 201
    sim.add_file("b.bin", b"\x00\x01")
    got = call(sim, "GET", "files/?op=get&filename=a.txt")
    assert (got.content, got.headers["content-type"]) == (b"hello", "application/octet-stream")
    listing = call(sim, "GET", "files/").json()
    assert [f["filename"] for f in listing] == ["a.txt", "b.bin"]
    read = call(sim, "GET", "files/b.bin/").json()
    assert base64.b64decode(read["content"]) == b"\x00\x01"
    anonymous = httpx.get(sim.url + listing[0]["anon_resource_uri"].removeprefix("/MAAS"))
    assert anonymous.content == b"hello"
    missing = call(sim, "GET", "files/?op=get&filename=nope")
    assert (missing.status_code, missing.text) == (404, "File not found")


def test_fleet_of_a_thousand_machines(sim: MaasSimulator) -> None:
    sim.set_fleet(1000)
    response = call(sim, "GET", "machines/")
    assert 8_000_000 < len(response.content) < 11_000_000
    machines = response.json()
    assert len({m["system_id"] for m in machines}) == 1000
    assert len({m["hostname"] for m in machines}) == 1000
    assert len({m["ip_addresses"][0] for m in machines}) == 1000


def test_https(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with MaasSimulator(ssl_context=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        client_context = ssl.create_default_context(cafile=str(ca_file))
        response = httpx.get(server.api_root + "version/", verify=client_context)
        assert response.status_code == 200


def test_tags_and_dhcp_snippets_read_form_fields_only(sim: MaasSimulator) -> None:
    """As MAAS's forms: a file part under a field's name is ignored."""
    try:
        made = call(sim, "POST", "tags/", data={"name": "t1", "comment": "hi\n"})
        assert made.status_code == 200 and made.json()["comment"] == "hi\n"
        ignored = call(sim, "POST", "tags/", data={"name": "t2"}, files={"comment": ("c", b"lost")})
        assert ignored.status_code == 200 and ignored.json()["comment"] == ""
        assert call(sim, "GET", "tags/t1/").json()["name"] == "t1"
        again = call(sim, "POST", "tags/", data={"name": "t1"})
        assert again.status_code == 400
        assert again.json() == {"name": ["Tag with this Name already exists."]}
        snippet = call(
            sim, "POST", "dhcp-snippets/", data={"name": "s"}, files={"value": ("v", b"x")}
        )
        assert snippet.status_code == 400
        assert snippet.json() == {"value": ["This field is required."]}
        good = call(sim, "POST", "dhcp-snippets/", data={"name": "s", "value": "option x;"})
        assert call(sim, "GET", f"dhcp-snippets/{good.json()['id']}/").json()["value"] == (
            "option x;"
        )
    finally:
        sim.tags.clear()
        sim.dhcp_snippets.clear()


def test_tls_sent_to_the_plain_port_gets_no_answer(sim: MaasSimulator) -> None:
    """Twisted waits for a request line, so a TLS handshake hangs until the client gives up."""
    with pytest.raises(httpx.ConnectTimeout):
        httpx.get(sim.url.replace("http://", "https://"), timeout=0.3, verify=False)


def test_an_added_op_is_served_and_described(sim: MaasSimulator) -> None:
    saved = (sim.describe_bytes, sim.api_hash, sim.routes)
    try:
        before = call(sim, "POST", "machines/abc000/?op=power_cycle")
        assert before.status_code == 400
        sim.add_op("machines/{system_id}/", "POST", "power_cycle")
        assert call(sim, "POST", "machines/abc000/?op=power_cycle").status_code == 200
        described = httpx.get(sim.api_root + "describe/").json()
        assert described["hash"] == sim.api_hash != saved[1]
    finally:
        sim.describe_bytes, sim.api_hash, sim.routes = saved
