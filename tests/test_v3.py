"""MAAS's v3 API beside the 2.0 one, from one profile: addressing, tokens, JSON bodies, errors.

Against maascurl/sandbox/simulator_v3.py's V3Api mounted on the shared v2 simulator
(conftest's `v3`, `v38` and `v3_profile` fixtures); without a mount the v2
simulator answers 404 under /MAAS/a/, as a MAAS 3.4 region does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
from pathlib import Path

import pytest
from conftest import Run, complete, password_login, values
from hostile import HostileServer, endless, reply
from simulator import MaasSimulator
from simulator_v3 import DEFAULT_PASSWORD, V3Api

from maascurl.profiles import tokens

V3 = "/MAAS/a/v3"


def token_file(home: Path, name: str = "sim") -> Path:
    return home / "cache" / "tokens" / f"{name}.json"


def kept(home: Path, name: str = "sim") -> dict[str, object]:
    data: dict[str, object] = json.loads(token_file(home, name).read_text())
    return data


def age_token(home: Path, seconds: float, name: str = "sim") -> None:
    """Make the kept token look SECONDS older to maascurl (the server's clock is untouched)."""
    path = token_file(home, name)
    data = json.loads(path.read_text())
    data["expires"] -= seconds
    path.write_text(json.dumps(data))


def v3_paths(api: V3Api) -> list[str]:
    return [f"{r.method} {r.path}" for r in api.requests]


# ---------------------------------------------------------------- login and the kept token


def test_password_login_keeps_a_v3_token_never_the_password(
    v3: V3Api, sim: MaasSimulator, run: Run, home: Path
) -> None:
    result = password_login(run, sim)
    assert result.exit_code == 0, result.stderr
    assert "logged in to the v3 API too" in result.stderr
    assert "cached the v3 API's description (64 paths)" in result.stderr
    login = [r for r in v3.requests if r.path == f"{V3}/auth/login"]
    assert len(login) == 1 and login[0].headers["content-type"].startswith(
        "application/x-www-form-urlencoded"
    )
    path = token_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = kept(home)
    assert data["username"] == "admin" and data["url"] == sim.url + "/a/v3/"
    assert v3.decode(str(data["access_token"]))["sub"] == "admin"
    assert "refresh_token" not in data  # 3.7.3 hands out none
    everything = path.read_text() + (home / "config" / "config.toml").read_text()
    assert DEFAULT_PASSWORD not in everything
    assert [p.name for p in path.parent.iterdir()] == ["sim.json"]  # no temporary file left
    shown = run("profile", "show", "sim")
    assert "username: admin" in shown.stdout and "v3_token: valid for 9 min" in shown.stdout


def test_a_v3_path_goes_to_the_v3_api_with_the_bearer_token(
    v3_profile: str, v3: V3Api, sim: MaasSimulator, run: Run, home: Path
) -> None:
    token = str(kept(home)["access_token"])
    for path in ("v3/zones", "/MAAS/a/v3/zones", f"{sim.url}/a/v3/zones", "/v3/zones/"):
        v3.requests.clear()
        result = run("get", path)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["kind"] == "ZonesList"
        [request] = v3.requests
        assert request.path == f"{V3}/zones"  # no trailing slash: v3 routes have none
        assert request.headers["authorization"] == f"Bearer {token}"
        assert "cookie" not in request.headers  # never a session cookie
    sim.requests.clear()
    assert run("get", "users", "op=whoami").exit_code == 0  # the 2.0 API: signed as ever
    assert sim.requests[-1].oauth["oauth_signature_method"] == "PLAINTEXT"


def test_a_token_about_to_expire_is_renewed_first(
    v3_profile: str, v3: V3Api, run: Run, home: Path
) -> None:
    old = str(kept(home)["access_token"])
    age_token(home, 500)  # 100 s left: less than RENEW_BEFORE
    v3.advance(500)
    result = run("get", "v3/users/me")
    assert result.exit_code == 0, result.stderr
    assert v3_paths(v3) == [f"GET {V3}/auth/access_token", f"GET {V3}/users/me"]
    assert v3.requests[0].headers["authorization"] == f"Bearer {old}"
    new = str(kept(home)["access_token"])
    assert new != old and v3.requests[1].headers["authorization"] == f"Bearer {new}"
    assert float(str(kept(home)["expires"])) > time.time() + 590


def test_a_script_with_an_expired_token_gets_exit_4_and_the_login_command(
    v3_profile: str, v3: V3Api, sim: MaasSimulator, run: Run
) -> None:
    v3.advance(601)  # the server's clock: maascurl still thinks the token valid
    result = run("get", "v3/zones")
    assert result.exit_code == 4
    command = f"maascurl login sim {sim.url} --username admin"
    assert result.stderr.strip().endswith(command), result.stderr
    assert "has expired" in result.stderr and "renews a token only while" in result.stderr
    assert result.stdout == ""
    # The request, refused; no renewal can help an expired token in 3.7.3.
    assert v3_paths(v3) == [f"GET {V3}/zones"]


def test_a_kept_token_known_expired_is_not_sent(
    v3_profile: str, v3: V3Api, run: Run, home: Path
) -> None:
    age_token(home, 700)
    v3.advance(700)
    result = run("get", "v3/zones")
    assert result.exit_code == 4 and "maascurl login sim" in result.stderr
    assert v3.requests == []


def test_a_terminal_is_asked_for_the_password(
    v3_profile: str, v3: V3Api, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "can_prompt", lambda: True)
    age_token(home, 700)
    v3.advance(700)
    result = run("get", "v3/zones", input=DEFAULT_PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert "profile 'sim' needs a password login: its v3 token has expired" in result.stderr
    assert "Password for admin" in result.stderr
    assert v3_paths(v3) == [f"POST {V3}/auth/login", f"GET {V3}/zones"]
    assert DEFAULT_PASSWORD not in json.dumps(kept(home))
    again = run("get", "v3/zones")
    assert again.exit_code == 0 and "Password" not in again.stderr


def test_a_wrong_password_at_the_prompt_is_exit_4(
    v3_profile: str, v3: V3Api, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "can_prompt", lambda: True)
    age_token(home, 700)
    v3.advance(700)
    result = run("get", "v3/zones", input="not the password\n")
    assert result.exit_code == 4
    assert "MAAS refused the username or password" in result.stderr
    assert "not the password" not in result.stderr


def test_a_token_the_server_refuses_is_replaced_once_then_exit_4(
    v3_profile: str, v3: V3Api, run: Run
) -> None:
    v3.rotate_key()  # every token stops verifying
    result = run("get", "v3/zones")
    assert result.exit_code == 4 and "log in again: maascurl login sim" in result.stderr
    assert v3_paths(v3) == [f"GET {V3}/zones"]


def test_maas_38_refresh_token_gets_a_new_jwt(
    v38: V3Api, sim: MaasSimulator, run: Run, home: Path
) -> None:
    assert password_login(run, sim).exit_code == 0
    refresh = str(kept(home)["refresh_token"])
    assert hashlib.sha256(refresh.encode()).hexdigest() in v38.refresh_tokens
    v38.requests.clear()
    v38.advance(601)
    result = run("get", "v3/zones", "-v")
    assert result.exit_code == 0, result.stderr
    assert v3_paths(v38) == [
        f"GET {V3}/zones",  # refused: the token expired
        f"GET {V3}/auth/access_token",  # with the refresh cookie
        f"GET {V3}/zones",
    ]
    renewal = v38.requests[1]
    assert renewal.headers["cookie"] == f"maas.local_refresh_token_cookie={refresh}"
    assert "sessionid" not in renewal.headers["cookie"]
    new = str(kept(home)["access_token"])
    assert v38.requests[2].headers["authorization"] == f"Bearer {new}"
    assert kept(home)["refresh_token"] == refresh
    # -v shows the renewal, its cookies redacted.
    assert "Cookie: maas.local_refresh_token_cookie=<redacted>" in result.stderr
    assert "maas.local_jwt_token_cookie=<redacted>" in result.stderr
    assert refresh not in result.stderr and new not in result.stderr


def test_maas_38_refused_refresh_token_is_exit_4(
    v38: V3Api, sim: MaasSimulator, run: Run, home: Path
) -> None:
    assert password_login(run, sim).exit_code == 0
    v38.refresh_tokens.clear()  # logged out elsewhere, or older than 30 days
    v38.advance(601)
    result = run("get", "v3/zones")
    assert result.exit_code == 4
    assert "MAAS refused its refresh token" in result.stderr
    assert result.stderr.strip().endswith(f"maascurl login sim {sim.url} --username admin")


def test_a_profile_from_an_api_key_says_v3_needs_a_password_login(
    v3: V3Api, profile: str, run: Run
) -> None:
    result = run("get", "v3/zones")
    assert result.exit_code == 4
    assert "holds an API key, which only the 2.0 API takes" in result.stderr
    assert "the v3 API needs a password login: maascurl login sim" in result.stderr
    assert "--username NAME" in result.stderr
    assert [r.path for r in v3.requests] == ["/MAAS/a/openapi.json"]  # no token: nothing sent


def test_logout_forgets_the_v3_token(v3_profile: str, run: Run, home: Path) -> None:
    assert token_file(home).exists()
    assert run("logout", "sim").exit_code == 0
    assert not token_file(home).exists()


def test_a_key_login_replaces_an_older_password_login_and_its_token(
    v3_profile: str, sim: MaasSimulator, run: Run, home: Path
) -> None:
    assert run("login", "sim", sim.url, sim.api_key).exit_code == 0
    assert not token_file(home).exists()
    assert "username =" not in (home / "config" / "config.toml").read_text()


# ---------------------------------------------------------------- a region without v3 (3.4)


def test_a_region_without_v3_says_so(profile: str, sim: MaasSimulator, run: Run) -> None:
    assert sim.v3 is None
    sim.requests.clear()
    result = run("get", "v3/zones")
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        f"maascurl: error: this MAAS ({sim.url}) has no v3 API: MAAS 3.5 and later serve it "
        "under /MAAS/a/v3/; its 2.0 API takes PATHs without v3/"
    )
    assert [r.path for r in sim.requests] == ["/MAAS/a/openapi.json"]


def test_a_password_login_to_a_region_without_v3_is_as_before(
    sim: MaasSimulator, run: Run, home: Path
) -> None:
    result = password_login(run, sim)
    assert result.exit_code == 0, result.stderr
    assert "v3" not in result.stderr
    assert not token_file(home).exists()
    assert run("get", "users", "op=whoami").exit_code == 0


def test_no_v3_with_no_check_still_says_so(
    sim: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert password_login(run, sim).exit_code == 0
    monkeypatch.setattr(tokens, "can_prompt", lambda: True)
    result = run("get", "v3/zones", "--no-check")
    assert result.exit_code == 4 and "has no v3 API" in result.stderr


# ---------------------------------------------------------------- JSON bodies


def sent_json(api: V3Api) -> object:
    [request] = [r for r in api.requests if r.method in ("POST", "PUT")]
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.body)


def test_items_build_a_json_object(v3_profile: str, v3: V3Api, run: Run, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("line one\nline two\n")
    result = run("post", "v3/fabrics/0/vlans", "name=blue", "vid:=42", "mtu:=9000",
                 "description=@" + str(notes))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert sent_json(v3) == {
        "name": "blue",
        "vid": 42,
        "mtu": 9000,
        "description": "line one\nline two\n",
    }
    created = json.loads(result.stdout)
    assert created["vid"] == 42 and created["description"] == "line one\nline two\n"


def test_json_items_of_every_type_and_from_a_file(
    v3_profile: str, v3: V3Api, run: Run, tmp_path: Path
) -> None:
    data = tmp_path / "flag.json"
    data.write_text("true\n")
    result = run("post", "v3/notifications", "message=hi", "category=info",
                 "for_admins:=true", "dismissable:=false", "context:={\"a\": [1, null]}",
                 "user_id:=1", "for_users:=@" + str(data), "--no-check")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert sent_json(v3) == {
        "message": "hi",
        "category": "info",
        "for_admins": True,
        "dismissable": False,
        "context": {"a": [1, None]},
        "user_id": 1,
        "for_users": True,
    }


def test_a_name_given_twice_is_a_list(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("post", "v3/zones", "name=a", "tag=x", "tag=y", "--offline")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith('{"name":"a","tag":["x","y"]}')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("post", "v3/zones", "vid:=4x"), "vid:=4x: not JSON"),
        (("get", "v3/zones", "id:=[1]"), "GET has no body for JSON"),
        (("post", "v3/zones", "key@/etc/hostname"), "not file parts"),
        (("post", "machines", "vid:=4"), "only the v3 API (v3/PATH) takes"),
        (("post", "v3/zones", "name=a", "--body", "-"), "cannot go with fields"),
    ],
)
def test_json_item_mistakes_are_usage_errors(
    v3_profile: str, v3: V3Api, run: Run, args: tuple[str, ...], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert v3.requests == []


def test_body_sends_a_raw_body_as_json(
    v3_profile: str, v3: V3Api, run: Run, tmp_path: Path
) -> None:
    body = tmp_path / "zone.json"
    body.write_text('{"name": "raw", "description": "as it is"}')
    result = run("post", "v3/zones", "--body", str(body))
    assert result.exit_code == 0, result.stderr
    [request] = v3.requests
    assert request.body == body.read_bytes()
    assert request.headers["content-type"] == "application/json"
    assert json.loads(result.stdout)["name"] == "raw"


def test_get_items_are_query_parameters(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("get", "v3/zones", "id=1", "id=2", "size==1")
    assert result.exit_code == 0, result.stderr
    assert v3.requests[0].query == [("id", "1"), ("id", "2"), ("size", "1")]
    answer = json.loads(result.stdout)
    assert answer["total"] == 2 and len(answer["items"]) == 1


# ---------------------------------------------------------------- errors


def test_a_validation_error_names_its_fields_38(v38: V3Api, sim: MaasSimulator, run: Run) -> None:
    assert password_login(run, sim).exit_code == 0
    result = run("post", "v3/fabrics/0/vlans", "vid:=99999", "mtu:=1", "--no-check")
    assert result.exit_code == 4
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("maascurl: error: 422 Unprocessable Entity: Failed to validate")
    assert "vid: Input should be less than or equal to 4094." in line
    assert "mtu: Input should be greater than or equal to 552." in line


def test_a_validation_error_without_fields_37(v3_profile: str, run: Run) -> None:
    result = run("post", "v3/zones", "description=x", "-q")
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        "maascurl: error: 422 Unprocessable Entity: Failed to validate the request. field required."
    )


@pytest.mark.parametrize(
    ("status", "code"), [(409, 4), (403, 4), (500, 5), (503, 5)]
)  # fmt: skip
def test_error_envelopes_keep_the_v2_exit_codes(
    v3_profile: str, v3: V3Api, run: Run, status: int, code: int
) -> None:
    v3.queue(status, path="zones")
    result = run("get", "v3/zones", "--retries", "0")
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith(f"maascurl: error: {status} ")
    assert '"kind"' not in result.stderr and "code:" not in result.stderr


def test_a_duplicate_is_a_conflict_with_the_violation(v3_profile: str, run: Run) -> None:
    assert run("post", "v3/zones", "name=dup").exit_code == 0
    result = run("post", "v3/zones", "name=dup")
    assert result.exit_code == 4
    assert "409 Conflict" in result.stderr and "already exist" in result.stderr


def test_an_unknown_path_suggests_the_nearest(v3_profile: str, run: Run) -> None:
    result = run("get", "v3/zonez")
    assert result.exit_code == 4
    assert result.stderr.strip().endswith("404 Not Found: Not Found; did you mean v3/zones?")


def test_a_method_the_path_lacks_is_refused_before_sending(
    v3_profile: str, v3: V3Api, run: Run
) -> None:
    result = run("put", "v3/zones", "name=x")
    assert result.exit_code == 2
    assert "v3/zones has no PUT (its methods: GET, POST)" in result.stderr
    assert v3.requests == []
    unchecked = run("put", "v3/zones", "name=x", "--no-check")
    assert unchecked.exit_code == 4 and "405 Method Not Allowed" in unchecked.stderr


def test_a_field_close_to_a_known_one_is_warned_of(v3_profile: str, run: Run) -> None:
    result = run("post", "v3/zones", "name=w", "descripton=x")
    assert result.exit_code == 0, result.stderr
    assert "no field 'descripton'; did you mean 'description'?" in result.stderr


def test_a_body_field_the_operation_does_not_name_is_warned_of(
    v3_profile: str, v3: V3Api, run: Run
) -> None:
    """MAAS's v3 models drop a field they do not name without a word: maascurl says so,
    sends it all the same, and says nothing under --no-check or -q."""
    result = run("post", "v3/zones", "name=w", "vid:=3")
    assert result.exit_code == 0, result.stderr
    assert (
        "POST v3/zones has no field 'vid' (its fields: name, description); MAAS ignores it; "
        "sending it anyway"
    ) in result.stderr
    assert json.loads(v3.requests[-1].body) == {"name": "w", "vid": 3}
    for flag in ("--no-check", "-q"):
        quiet = run("post", "v3/zones", f"name=w{flag}", "vid:=3", flag)
        assert quiet.exit_code == 0 and "vid" not in quiet.stderr, (flag, quiet.stderr)


# ---------------------------------------------------------------- secrets, -v, -i, --offline


@pytest.mark.parametrize(
    "flags", [("-v",), ("-i",), ("-v", "-i"), ("--offline",)], ids=["v", "i", "vi", "offline"]
)
def test_the_token_is_never_shown(
    v3_profile: str, run: Run, home: Path, flags: tuple[str, ...]
) -> None:
    token = str(kept(home)["access_token"])
    result = run("post", "v3/zones", "name=shown", *flags)
    assert result.exit_code == 0, result.stderr
    assert token not in result.stdout + result.stderr
    assert token.split(".")[2] not in result.stdout + result.stderr
    if "-i" not in flags:
        assert "Authorization: Bearer <redacted>" in result.stdout + result.stderr


def test_offline_prints_the_json_body_and_sends_nothing(v3: V3Api, profile: str, run: Run) -> None:
    result = run("post", "v3/zones", "name=x", "description=y z", "--offline")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("POST /MAAS/a/v3/zones HTTP/1.1\n")
    assert "Content-Type: application/json\n" in result.stdout
    assert result.stdout.rstrip().endswith('{"name":"x","description":"y z"}')
    assert v3.requests == []  # not even a token (this profile has none)


def test_include_shows_the_etag(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("get", "v3/zones/1", "-i")
    assert result.exit_code == 0
    assert f"ETag: {v3.etag('/zones', 1)}" in result.stdout


# ---------------------------------------------------------------- pages


def test_a_page_is_written_as_maas_sent_it(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("get", "v3/zones", "--page-size", "2")
    assert result.exit_code == 0, result.stderr
    page = json.loads(result.stdout)
    assert [z["id"] for z in page["items"]] == [5, 4]
    assert page["total"] == 5 and page["next"] == "/MAAS/a/v3/zones?page=2&size=2"
    assert v3.requests[0].query == [("size", "2")]


def test_paginate_follows_next_to_the_end(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("get", "v3/zones", "--paginate", "--page-size", "2")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)
    assert [z["id"] for z in items] == [5, 4, 3, 2, 1]
    assert items == v3.objects("/zones")[::-1]
    assert [r.query for r in v3.requests] == [
        [("size", "2")],
        [("page", "2"), ("size", "2")],
        [("page", "3"), ("size", "2")],
    ]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in v3.requests)


def test_paginate_keeps_the_filters_maas_carries(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("get", "v3/zones", "id=1", "id=2", "id=3", "--paginate", "--page-size", "1")
    assert result.exit_code == 0, result.stderr
    assert [z["id"] for z in json.loads(result.stdout)] == [3, 2, 1]
    assert v3.requests[-1].query == [("page", "3"), ("size", "1"), ("id", "1"), ("id", "2"),
                                     ("id", "3")]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--format", "jsonl", "--fields", "id,name"), '{"id":5,"name":"zone-4"}\n'),
        (("--format", "tsv", "--fields", "id,name", "--header-row"), "id\tname\n5\tzone-4\n"),
        (("--format", "csv", "--fields", "name"), "name\nzone-4\n"),
        (("--fields", "name"), '[{"name":"zone-4"},'),
        (("-t", "--fields", "id,name", "--sort", "name"), "id  name"),
    ],
    ids=["jsonl", "tsv", "csv", "json-fields", "table-sorted"],
)
def test_paginate_writes_every_format(
    v3_profile: str, run: Run, flags: tuple[str, ...], expected: str
) -> None:
    result = run("get", "v3/zones", "--paginate", "--page-size", "2", *flags)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.decode().startswith(expected)
    for name in ("zone-4", "zone-3", "zone-2", "zone-1", "default"):
        assert result.stdout.count(name) == 1, name
    if "--sort" in flags:
        lines = result.stdout.splitlines()[2:]
        assert [line.split()[1] for line in lines] == sorted(line.split()[1] for line in lines)


def test_paginate_to_a_file_writes_it_whole_or_not_at_all(
    v3_profile: str, v3: V3Api, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "zones.json"
    out.parent.mkdir()
    assert run("get", "v3/zones", "--paginate", "--page-size", "2", "-o", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())) == 5
    out.write_text("before")
    v3.queue(503, path="zones", count=1)
    v3.requests.clear()
    first = run("get", "v3/zones", "--page-size", "2")  # takes the fault
    assert first.exit_code == 5
    v3.queue(500, path="zones", count=5)
    result = run("get", "v3/zones", "--paginate", "--page-size", "2", "-o", str(out))
    assert result.exit_code == 5
    assert out.read_text() == "before"
    assert [p.name for p in out.parent.iterdir()] == ["zones.json"]


def test_paginate_with_jq_runs_it_once_over_every_item(v3_profile: str, run: Run) -> None:
    result = run("get", "v3/zones", "--paginate", "--page-size", "2", "--jq", "length, .[0].name")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "5\nzone-4\n"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--format", "csv", "--fields", "name", "--crlf"), "name\r\nzone-4\r\nzone-3\r\n"),
        (("-t", "--fields", "name", "--sort", "-name"), "name"),
        (("--jq", ".[].name"), "zone-4\nzone-3\n"),
    ],
    ids=["csv-crlf", "table", "jq"],
)
def test_paginate_writes_a_format_into_o_file(
    v3_profile: str, run: Run, tmp_path: Path, flags: tuple[str, ...], expected: str
) -> None:
    """As for one answer: -o FILE with a format gets what the format makes, not the JSON."""
    out = tmp_path / "zones.out"
    result = run("get", "v3/zones", "--paginate", "--page-size", "2", "-o", str(out), *flags)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    text = out.read_bytes().decode()
    assert text.startswith(expected)
    for name in ("zone-4", "zone-3", "zone-2", "zone-1", "default"):
        assert text.count(name) == 1, name
    if "--sort" in flags:
        assert text.splitlines()[2].split() == ["zone-4"]


def test_an_error_on_a_later_page_ends_the_run_with_its_status(
    v3_profile: str, v3: V3Api, run: Run, tmp_path: Path
) -> None:
    page = {"items": [{"id": 1}], "total": 2, "next": "/MAAS/a/v3/zonesx?page=2&size=1"}
    v3.queue(200, json.dumps(page).encode(), path="zones", count=1)
    result = run("get", "v3/zones", "--paginate", "--no-check")
    assert result.exit_code == 4
    assert "404 Not Found" in result.stderr
    assert result.stdout == '[{"id":1}'  # what came is written; the list stays unclosed
    v3.queue(200, json.dumps(page).encode(), path="zones", count=1)
    out = tmp_path / "zones.json"
    saved = run("get", "v3/zones", "--paginate", "--no-check", "-o", str(out))
    assert saved.exit_code == 4 and not out.exists()


def test_an_error_on_the_first_page_writes_nothing(v3_profile: str, v3: V3Api, run: Run) -> None:
    v3.queue(500, path="zones")
    result = run("get", "v3/zones", "--paginate", "--retries", "0")
    assert result.exit_code == 5 and result.stdout == ""


def test_paginate_refuses_what_is_no_list(v3_profile: str, v3: V3Api, run: Run) -> None:
    single = run("get", "v3/zones/1", "--paginate")
    assert single.exit_code == 2 and "answers no list of pages" in single.stderr
    v2 = run("get", "machines", "--paginate")
    assert v2.exit_code == 2 and "for the v3 API's lists" in v2.stderr
    both = run("get", "v3/zones", "--page-size", "2", "size=3")
    assert both.exit_code == 2 and "either --page-size or a size item" in both.stderr
    assert v3.requests == []
    unknown = run("get", "v3/zones/1", "--paginate", "--no-check")
    assert unknown.exit_code == 1 and "not a page of items" in unknown.stderr


def test_paginate_stops_at_a_next_page_elsewhere(v3_profile: str, v3: V3Api, run: Run) -> None:
    page = {"items": [{"id": 1}], "total": 2, "next": "http://elsewhere.invalid/MAAS/a/v3/zones"}
    v3.queue(200, json.dumps(page).encode(), path="zones")
    result = run("get", "v3/zones", "--paginate")
    assert result.exit_code == 1
    assert "is on another server; stopped" in result.stderr
    assert len(v3.requests) == 1


def test_paginate_stops_when_a_page_comes_round_again(v3_profile: str, v3: V3Api, run: Run) -> None:
    page = {"items": [{"id": 1}], "total": 9, "next": "/MAAS/a/v3/zones?page=2&size=1"}
    v3.queue(200, json.dumps(page).encode(), path="zones", count=3)
    result = run("get", "v3/zones", "--paginate", "--page-size", "1")
    assert result.exit_code == 1
    assert "handed out this page twice; stopped" in result.stderr


# ---------------------------------------------------------------- ETags


def test_if_match_sends_the_etag_and_a_mismatch_explains_itself(
    v3_profile: str, v3: V3Api, run: Run
) -> None:
    created = json.loads(run("post", "v3/zones", "name=short-lived").stdout)
    path = f"v3/zones/{created['id']}"
    stale = v3.etag("/zones", created["id"])
    assert run("put", path, "name=renamed", "description=x").exit_code == 0  # a new ETag
    v3.requests.clear()
    result = run("delete", path, "--if-match", stale)
    assert result.exit_code == 4
    assert v3.requests[0].headers["if-match"] == stale
    message = result.stderr.strip()
    assert message.startswith(
        "maascurl: error: 412 Precondition Failed: A precondition has failed."
    )
    assert f"did not match '{stale}'" in message
    assert "changed since its ETag was read: read it again" in message
    assert "--if-match auto" in message
    current = v3.etag("/zones", created["id"])
    assert run("delete", path, "--if-match", current).exit_code == 0
    assert all(z["id"] != created["id"] for z in v3.objects("/zones"))


def test_if_match_auto_reads_the_current_etag_first(v3_profile: str, v3: V3Api, run: Run) -> None:
    created = json.loads(run("post", "v3/zones", "name=auto").stdout)
    path = f"v3/zones/{created['id']}"
    etag = v3.etag("/zones", created["id"])
    v3.requests.clear()
    result = run("delete", path, "--if-match", "auto", "-v")
    assert result.exit_code == 0, result.stderr
    assert v3_paths(v3) == [f"GET {V3}/zones/{created['id']}", f"DELETE {V3}/zones/{created['id']}"]
    assert v3.requests[1].headers["if-match"] == etag
    assert f"< ETag: {etag}" in result.stderr and f"> If-Match: {etag}" in result.stderr


def test_if_match_auto_of_a_missing_object_is_its_404(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("delete", "v3/zones/999", "--if-match", "auto")
    assert result.exit_code == 4 and "404 Not Found" in result.stderr
    assert v3_paths(v3) == [f"GET {V3}/zones/999"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("delete", "zones/1", "--if-match", "x"), "for the v3 API's objects"),
        (("delete", "v3/zones/1", "--if-match", "x", "-H", "If-Match: y"), "not both"),
        (("delete", "v3/zones/{}", "--if-match", "auto", "--each", "-"), "cannot be used with"),
    ],
)
def test_if_match_mistakes_are_usage_errors(
    v3_profile: str, v3: V3Api, run: Run, args: tuple[str, ...], message: str
) -> None:
    result = run(*args, input="1\n")
    assert result.exit_code == 2 and message in result.stderr
    assert v3.requests == []


def test_offline_says_if_match_auto_would_read_first(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("delete", "v3/zones/1", "--if-match", "auto", "--offline")
    assert result.exit_code == 0
    assert "--if-match auto first reads the object's ETag with a GET" in result.stderr
    assert v3.requests == []


MEASURED = """
import atexit, sys, tracemalloc
tracemalloc.start()
atexit.register(lambda: sys.stderr.write(f"peak={tracemalloc.get_traced_memory()[1]}\\n"))
from maascurl.cli import main
sys.argv[0] = "maascurl"
main()
"""


def traced_peak(home: Path, out: Path, *args: str) -> int:
    """The most memory maascurl's Python held while it ran ARGS in a process of its own,
    stdout to OUT (the simulator and the test's own memory apart)."""
    import subprocess
    import sys

    from conftest import env_for_subprocess

    with out.open("wb") as stream:
        done = subprocess.run(
            [sys.executable, "-c", MEASURED, *args],
            env=env_for_subprocess(home), stdout=stream, stderr=subprocess.PIPE, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return int(done.stderr.decode().rsplit("peak=", 1)[1])


def test_paginate_memory_stays_flat_for_10000_items(
    v3_profile: str, v3: V3Api, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "zones.json"
    args = ("get", "v3/zones", "--paginate", "--page-size", "1000")
    few = traced_peak(home, out, *args)
    v3.fill("/zones", 10_000)
    many = traced_peak(home, out, *args)
    assert len(json.loads(out.read_bytes())) == 10_005
    # 10,000 zones held at once take about 13 MB of Python objects; a page at a time, one
    # page (1,000 zones) and its body more than five zones do.
    assert many - few < 4 * 2**20, (few, many)


# ---------------------------------------------------------------- TAB and describe


def test_tab_offers_v3_beside_the_v2_paths_once_it_is_known(v3_profile: str) -> None:
    assert "nospace,v3/" in complete("maascurl get v")
    assert "nospace,/v3/" in complete("maascurl get /v")
    assert "nospace,machines/" in complete("maascurl get ")


def test_tab_offers_no_v3_for_a_server_not_known_to_have_it(v3: V3Api, profile: str) -> None:
    assert "nospace,v3/" not in complete("maascurl get v")
    assert values("maascurl get v3/zo") == []
    assert v3.requests == []  # TAB never contacts the server


def test_tab_completes_v3_paths_a_segment_at_a_time(v3_profile: str) -> None:
    found = values("maascurl get v3/fa")
    assert "v3/fabrics" in found and "v3/fabrics/" in found
    assert values("maascurl get v3/fabrics/") == [
        "v3/fabrics/",  # itself, as for the 2.0 API's paths
        "v3/fabrics/{fabric_id}",
        "v3/fabrics/{fabric_id}/",
    ]
    assert "v3/fabrics/0/vlans" in values("maascurl get v3/fabrics/0/vl")
    assert values("maascurl post v3/notifications/5") == [
        "v3/notifications/5",
        "v3/notifications/5:dismiss",
    ]
    assert values("maascurl post v3/users/me/sshkeys:i") == ["v3/users/me/sshkeys:import"]
    assert values("maascurl get /MAAS/a/v3/zo") == [
        "/MAAS/a/v3/zones",
        "/MAAS/a/v3/zones/",
        "/MAAS/a/v3/zones_with_summary",
    ]


def test_tab_completes_v3_items(v3_profile: str) -> None:
    assert values("maascurl post v3/zones ") == ["name=", "description="]
    assert values("maascurl post v3/zones name=x ") == ["description="]
    vlan = values("maascurl post v3/fabrics/0/vlans ")
    assert {"name=", "vid:=", "mtu:=", "space_id:="} <= set(vlan)
    assert {"page=", "size=", "id="} <= set(values("maascurl get v3/zones "))
    categories = values("maascurl post v3/notifications category=")
    assert categories == [f"category={c}" for c in ("error", "warning", "success", "info")]
    assert values("maascurl post v3/notifications for_admins:=t") == ["for_admins:=true"]
    subnet = values("maascurl post v3/fabrics/0/vlans/0/subnets rdns_mode:=")
    assert subnet == ["rdns_mode:=2", "rdns_mode:=0", "rdns_mode:=1"]
    help_text = complete("maascurl post v3/zones na", "zsh")
    assert "required: string: Name" in help_text


def test_tab_completes_v3_fields_from_what_a_get_answers(v3_profile: str) -> None:
    found = values("maascurl get v3/zones --fields ")
    assert found == ["id", "name", "description", "kind"]
    assert values("maascurl get v3/zones --sort -na") == ["-name"]


def test_describe_v3(v3_profile: str, run: Run) -> None:
    index = run("describe", "v3")
    assert index.exit_code == 0, index.stderr
    assert any(
        line.startswith("v3/zones ") and "GET POST" in line for line in index.stdout.splitlines()
    )
    path = run("describe", "v3/zones")
    assert path.stdout.splitlines()[0] == "v3/zones"
    assert "list_zones" in path.stdout and "create_zone" in path.stdout
    op = run("describe", "v3/fabrics/0/vlans", "post")
    assert op.exit_code == 0, op.stderr
    text = op.stdout
    assert text.startswith("POST /MAAS/a/v3/fabrics/{fabric_id}/vlans\n")
    assert "fabric_id (path)  required  integer" in text
    assert "JSON body (name=text, name:=JSON):" in text
    assert "vid" in text and "(default 0)" in text
    assert "Answer (VlanResponse):" in text
    deleted = run("describe", "v3/zones/1", "-m", "delete")
    assert "takes If-Match" in deleted.stdout
    listed = run("describe", "v3/zones", "get", "--json")
    data = json.loads(listed.stdout)
    assert data["paged"] and data["operation"] == "list_zones"
    assert [p["name"] for p in data["params"]] == ["page", "size", "id"]


def test_describe_v3_orders_methods_and_keeps_if_match_out_of_the_parameters(
    v3_profile: str, run: Run
) -> None:
    index = json.loads(run("describe", "v3", "--json").stdout)
    methods = {row["path"]: row["methods"] for row in index}
    assert methods["v3/zones/{zone_id}"] == ["GET", "PUT", "DELETE"]  # as HTTP lists them
    deleted = json.loads(run("describe", "v3/zones/1", "delete", "--json").stdout)
    assert deleted["if_match"] is True  # said once, as --if-match, not as a header to type
    assert all(p["name"].lower() != "if-match" for p in deleted["params"])


def test_describe_v3_mistakes(v3_profile: str, run: Run) -> None:
    unknown = run("describe", "v3/zonez")
    assert unknown.exit_code == 2
    assert "unknown v3 path: v3/zonez (did you mean v3/zones?)" in unknown.stderr
    method = run("describe", "v3/zones", "put")
    assert method.exit_code == 2 and "v3/zones has no PUT; its methods: get, post" in method.stderr


def test_describe_v3_fetches_the_document_once(
    v3: V3Api, profile: str, run: Run, home: Path
) -> None:
    first = run("describe", "v3/zones")
    assert first.exit_code == 0 and "fetching the v3 API's description" in first.stderr
    again = run("describe", "v3/zones")
    assert again.exit_code == 0 and again.stderr == ""
    assert [r.path for r in v3.requests] == ["/MAAS/a/openapi.json"]


def test_describe_v3_of_a_region_without_it(profile: str, run: Run) -> None:
    result = run("describe", "v3")
    assert result.exit_code == 4 and "has no v3 API" in result.stderr


def test_refresh_fetches_the_v3_document_too(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("refresh")
    assert result.exit_code == 0, result.stderr
    assert "sim: cached 64 v3 paths" in result.stderr
    assert [r.path for r in v3.requests] == ["/MAAS/a/openapi.json"]


def test_a_stale_v3_document_is_fetched_again(
    v3_profile: str, v3: V3Api, run: Run, home: Path
) -> None:
    from maascurl.api import openapi

    path = openapi.cache_file(f"{v3_profile_url(run)}/a/v3/")
    head, _, rows = path.read_bytes().partition(b"\n")
    meta = json.loads(head)
    meta["fetched"] -= openapi.MAX_AGE + 1
    path.write_bytes(json.dumps(meta).encode() + b"\n" + rows)
    result = run("get", "v3/zones")
    assert result.exit_code == 0, result.stderr
    assert v3_paths(v3)[0] == "GET /MAAS/a/openapi.json"
    again = run("get", "v3/zones")
    assert again.exit_code == 0 and "GET /MAAS/a/openapi.json" not in v3_paths(v3)[2:]


def v3_profile_url(run: Run) -> str:
    return str(json.loads(run("profile", "show", "sim", "--json").stdout)["url"])


def test_an_upgrade_seen_by_the_v2_hash_drops_the_v3_document(
    v3_profile: str, sim: MaasSimulator, run: Run
) -> None:
    from maascurl.api import openapi

    cached = openapi.cache_file(f"{sim.url}/a/v3/")
    assert cached.exists()
    saved = (sim.describe_bytes, sim.api_hash, sim.routes)
    sim.add_op("machines/", "GET", "list_upgraded")
    try:
        result = run("get", "users", "op=whoami")
    finally:  # the simulator is shared: its API put back
        sim.describe_bytes, sim.api_hash, sim.routes = saved
    assert result.exit_code == 0
    assert "refreshed its cached description" in result.stderr
    assert not cached.exists()


def test_checks_warn_of_likely_mistakes(v3_profile: str, v3: V3Api, run: Run) -> None:
    query = run("get", "v3/zones", "sise=3")
    assert "has no query parameter 'sise'; did you mean 'size'?" in query.stderr
    array = run("post", "v3/domains/0/rrsets", "name=www", "rrtype=A", "a_records=10.0.0.1")
    assert "a_records is an array, not text; give it as JSON: a_records:='[\"10.0.0.1\"]'" in (
        array.stderr
    )
    choice = run("post", "v3/notifications", "message=hi", "category=inf")
    assert "category 'inf' is not one of its values; did you mean 'info'?" in choice.stderr
    assert "POST v3/zones needs name" in run("post", "v3/zones", "description=x").stderr


# ---------------------------------------------------------------- fleets, batch, wait, PATCH


def test_each_sends_a_v3_request_per_line_with_its_json_body(
    v3_profile: str, v3: V3Api, run: Run
) -> None:
    lines = '{"name": "east", "vid": 1210}\n{"name": "west", "vid": 1220}\n'
    result = run("post", "v3/fabrics/0/vlans", "name={name}", "vid:={vid}", "--each", "-",
                 input=lines)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    created = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(v["name"], v["vid"]) for v in created] == [("east", 1210), ("west", 1220)]
    bodies = [json.loads(r.body) for r in v3.requests if r.method == "POST"]
    bodies.sort(key=lambda body: body["vid"])  # sent 4 at a time: in any order
    assert bodies == [{"name": "east", "vid": 1210}, {"name": "west", "vid": 1220}]
    token = {r.headers["authorization"] for r in v3.requests}
    assert len(token) == 1  # one token for the whole run


def test_each_names_a_failed_v3_line_by_its_v3_path(v3_profile: str, run: Run) -> None:
    result = run("get", "v3/zones/{}", "--each", "-", input="1\n999\n")
    assert result.exit_code == 4
    assert "maascurl: error: line 2 (get v3/zones/999): 404 Not Found" in result.stderr
    assert json.loads(result.stdout)["id"] == 1


def test_batch_mixes_both_apis_of_one_profile(v3_profile: str, v3: V3Api, run: Run) -> None:
    lines = "get v3/zones/1\nget users op=whoami\npost v3/zones name=batched\n"
    result = run("batch", "-", input=lines)
    assert result.exit_code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0]["name"] == "default" and out[1]["username"] == "admin"
    assert out[2]["name"] == "batched"


def test_each_checks_every_v3_line_before_sending(v3_profile: str, v3: V3Api, run: Run) -> None:
    result = run("put", "v3/zones", "name={}", "--each", "-", input="a\nb\n")
    assert result.exit_code == 2 and "lines 1-2:" in result.stderr and "has no PUT" in result.stderr
    assert v3.requests == []


def test_patch_is_for_the_v3_api(v38: V3Api, sim: MaasSimulator, run: Run) -> None:
    assert password_login(run, sim).exit_code == 0
    v2 = run("patch", "machines/abc000", "hostname=x")
    assert v2.exit_code == 2 and "the 2.0 API takes no PATCH" in v2.stderr
    result = run("patch", "v3/switches/1", "description=x", "--offline")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("PATCH /MAAS/a/v3/switches/1 HTTP/1.1\n")
    assert result.stdout.rstrip().endswith('{"description":"x"}')
    assert "v3/switches/1" in values("maascurl patch v3/switches/1")


def test_wait_polls_a_38_operation_until_it_ends(v38: V3Api, sim: MaasSimulator, run: Run) -> None:
    assert password_login(run, sim).exit_code == 0
    op = v38.add_operation("machine.deploy", resource_id=1, seconds=0.4)
    result = run("wait", f"v3/operations/{op}", "status=COMPLETED",
                 "--fail-on", "status=FAILED,CANCELLED", "--interval", "0.1")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "COMPLETED"
    polls = [r for r in v38.requests if r.path == f"{V3}/operations/{op}"]
    assert len(polls) >= 2
    cancelled = v38.add_operation("machine.deploy", resource_id=2, seconds=60)
    assert run("delete", f"v3/operations/{cancelled}").exit_code == 0
    failed = run("wait", f"v3/operations/{cancelled}", "status=COMPLETED",
                 "--fail-on", "status=FAILED,CANCELLED", "--interval", "0.1")  # fmt: skip
    assert failed.exit_code == 8 and "CANCELLED" in failed.stderr


# ---------------------------------------------------------------- hostile and odd cases


def test_a_literal_segment_wins_over_a_placeholder_in_any_order() -> None:
    from maascurl.api.openapi import Path_, V3Description

    desc = V3Description("test", [Path_("users/{user_id}", ()), Path_("users/me", ())])
    match = desc.match("users/me")
    assert match is not None and match.path.template == "users/me"
    other = desc.match("users/7")
    assert other is not None and other.values == {"user_id": "7"}


def test_a_kept_token_of_another_server_is_not_sent(
    v3_profile: str, v3: V3Api, sim: MaasSimulator, run: Run, home: Path
) -> None:
    token = str(kept(home)["access_token"])
    config = home / "config" / "config.toml"
    moved = sim.url.replace("127.0.0.1", "localhost")
    config.write_text(config.read_text().replace(sim.url, moved))
    result = run("get", "v3/zones")
    assert result.exit_code == 4
    assert "profile 'sim' has no v3 token" in result.stderr
    assert all(r.headers.get("authorization") != f"Bearer {token}" for r in v3.requests)


def test_an_endless_401_body_is_read_only_in_part(
    hostile: HostileServer, run: Run, home: Path
) -> None:
    """A refused token's answer is read up to 64 KB (as for the 2.0 API's signing)."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[profiles.h]\nurl = "{hostile.url}"\nusername = "admin"\n')
    claims = base64.urlsafe_b64encode(b'{"iat": 0, "exp": 600}').decode().rstrip("=")
    stored = {
        "url": hostile.url + "/a/v3/",
        "username": "admin",
        "access_token": f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln",
        "expires": time.time() + 500,
    }
    path = token_file(home, "h")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored))
    hostile.answer(reply(401, endless()))
    result = run("get", "v3/zones", "-p", "h", "--no-check", "--max-time", "20")
    assert result.exit_code == 4, result.stderr  # not 7: the endless body was not awaited
    assert "has expired" in result.stderr and "maascurl login h" in result.stderr


def test_maas_api_url_and_key_say_how_to_log_in_for_v3(
    v3: V3Api, bare: MaasSimulator, run: Run
) -> None:
    result = run("get", "v3/zones")
    assert result.exit_code == 4
    assert f"maascurl login PROFILE {bare.url} --username NAME" in result.stderr
    assert "and -p PROFILE" in result.stderr


def test_a_v3_answer_to_a_file_and_as_a_table(
    v3_profile: str, v3: V3Api, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "zone.json"
    assert run("get", "v3/zones/1", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_bytes())["name"] == "default"
    table = run("get", "v3/zones", "-t", "--fields", "id,name")
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["id", "name"]
    assert [line.split()[1] for line in table.stdout.splitlines()[2:]] == [
        "zone-4", "zone-3", "zone-2", "zone-1", "default"
    ]  # fmt: skip
    fields = run("get", "v3/zones", "--format", "jsonl", "--fields", "name")
    assert fields.stdout.splitlines()[0] == '{"name":"zone-4"}'


def test_a_token_file_others_can_write_is_not_trusted(
    v3_profile: str, v3: V3Api, run: Run, home: Path
) -> None:
    """As for every cache file (api/apidesc.py's open_cached): someone else's is ignored."""
    path = token_file(home)
    path.chmod(0o666)
    result = run("get", "v3/zones")
    assert result.exit_code == 4 and "profile 'sim' has no v3 token" in result.stderr
    assert v3.requests == []
    path.chmod(0o600)
    assert run("get", "v3/zones").exit_code == 0
