"""Tests of the fake MAAS API v3 (maascurl/sandbox/simulator_v3.py), over plain HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import MaasSimulator
from simulator_v3 import DEFAULT_PASSWORD, FIXTURES, V3Api, V3Simulator

V3 = "/MAAS/a/v3"
FORM = "application/x-www-form-urlencoded"
SHA256_HEX = re.compile(r"[0-9a-f]{64}\Z")


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    parts = urllib.parse.urlsplit(url)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        sent.setdefault("Content-Type", FORM)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


class Client:
    """Plain HTTP calls to one simulator."""

    def __init__(self, sim: V3Simulator) -> None:
        self.sim = sim
        self.api = sim.api

    def __call__(self, method: str, path: str, **kwargs: Any) -> Answer:
        if not path.startswith("/"):
            path = f"{V3}/{path}"
        return request(self.sim.url, method, path, **kwargs)

    def login(self, username: str = "admin", password: str = DEFAULT_PASSWORD) -> Answer:
        return self("POST", "auth/login", form={"username": username, "password": password})

    def token(self, username: str = "admin", password: str = DEFAULT_PASSWORD) -> str:
        answer = self.login(username, password)
        assert answer.status == 200, answer.body
        return str(answer.json()["access_token"])


@pytest.fixture
def v3() -> Iterator[Client]:
    with V3Simulator(machines=45) as sim:
        yield Client(sim)


@pytest.fixture
def v38() -> Iterator[Client]:
    with V3Simulator(version="3.8.0a1", machines=12) as sim:
        yield Client(sim)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def detail(answer: Answer) -> dict[str, Any]:
    [first] = answer.json()["details"]
    return dict(first)


# ---------------------------------------------------------------- the document


def test_openapi_json_is_the_fixture_and_needs_no_token(v3: Client) -> None:
    answer = v3("GET", "/MAAS/a/openapi.json")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.body == (FIXTURES / "openapi-3.7.3.json").read_bytes()
    doc = answer.json()
    assert len(doc["paths"]) == 64
    assert doc["paths"][f"{V3}/zones"]["get"]["operationId"] == "list_zones"


def test_the_38_simulator_serves_the_38_document(v38: Client) -> None:
    doc = v38("GET", "/MAAS/a/openapi.json").json()
    assert len(doc["paths"]) == 125
    assert f"{V3}/operations" in doc["paths"]


def test_fixtures_carry_no_operation_prose() -> None:
    for version in ("3.7.3", "3.8.0a1"):
        doc = json.loads((FIXTURES / f"openapi-{version}.json").read_text())
        for path, item in doc["paths"].items():
            for method, operation in item.items():
                assert operation["summary"] == f"{method.upper()} {path}"
                assert "description" not in operation


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"3\.7\.3"):
        V3Api("3.6.0")


# ---------------------------------------------------------------- login and tokens


def test_login_takes_a_form_and_returns_a_ten_minute_jwt(v3: Client) -> None:
    answer = v3.login()
    assert answer.status == 200
    body = answer.json()
    assert list(body) == ["token_type", "access_token", "kind"]
    assert body["token_type"] == "bearer" and body["kind"] == "AccessToken"
    token = body["access_token"]
    header, payload, signature = token.split(".")
    expected = hmac.new(v3.api.key.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    assert base64.urlsafe_b64encode(expected.digest()).rstrip(b"=").decode() == signature
    got = claims(token)
    assert got["iss"] == "MAAS" and got["aud"] == "api" and got["sub"] == "admin"
    assert got["user_id"] == 1 and got["roles"] == ["user", "admin"]
    assert got["exp"] - got["iat"] == pytest.approx(600)
    assert abs(got["iat"] - time.time()) < 5


def test_38_login_adds_a_refresh_token(v38: Client) -> None:
    body = v38.login().json()
    assert list(body) == ["kind", "token_type", "access_token", "refresh_token"]
    assert body["kind"] == "Tokens"
    assert re.fullmatch(r"[0-9a-f]{64}", body["refresh_token"])
    got = claims(body["access_token"])
    assert isinstance(got["iat"], int) and got["exp"] - got["iat"] == 600
    assert "roles" not in got


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong"), ("nobody", DEFAULT_PASSWORD)]
)
def test_a_wrong_login_is_401_with_the_envelope(v3: Client, username: str, password: str) -> None:
    answer = v3.login(username, password)
    assert answer.status == 401
    assert answer.json() == {
        "code": 401,
        "message": "Unauthorized.",
        "details": [
            {
                "type": "UnexistingUserOrInvalidCredentialsViolation",
                "message": "The credentials are not matching or the user does not exist",
                "field": None,
                "location": None,
            }
        ],
        "kind": "Error",
    }


def test_an_inactive_user_cannot_log_in(v3: Client) -> None:
    v3.api.add_user("carol", "secret")
    assert v3.login("carol", "secret").status == 200
    v3.api.set_active("carol", False)
    assert v3.login("carol", "secret").status == 401


def test_login_wants_a_form_not_json(v3: Client, v38: Client) -> None:
    credentials = {"username": "admin", "password": DEFAULT_PASSWORD}
    answer = v3("POST", "auth/login", json_body=credentials)
    assert answer.status == 422
    assert [d["type"] for d in answer.json()["details"]] == ["value_error.missing"] * 2
    answer = v38("POST", "auth/login", json_body=credentials)
    assert [(d["location"], d["field"]) for d in answer.json()["details"]] == [
        ("body", "username"),
        ("body", "password"),
    ]


def test_calls_without_a_token_are_401(v3: Client) -> None:
    answer = v3("GET", "zones")
    assert answer.status == 401
    assert detail(answer)["type"] == "NotAuthenticatedViolation"


def test_tokens_that_do_not_decode_or_come_from_elsewhere_are_400(v3: Client) -> None:
    answer = v3("GET", "zones", token="not-a-jwt")
    assert answer.status == 400
    assert detail(answer)["message"] == "Could not decode the token."
    token = v3.token()
    header, _, signature = token.split(".")
    foreign = base64.urlsafe_b64encode(json.dumps({**claims(token), "iss": "x"}).encode())
    answer = v3("GET", "zones", token=f"{header}.{foreign.decode().rstrip('=')}.{signature}")
    assert answer.status == 400
    assert detail(answer)["message"] == "The authorization token comes from an unknown issuer 'x'"


def test_a_tampered_or_resigned_token_is_401(v3: Client) -> None:
    token = v3.token()
    answer = v3("GET", "zones", token=token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert answer.status == 401
    assert detail(answer) == {
        "type": "InvalidTokenViolation",
        "message": "The token is not valid.",
        "field": None,
        "location": None,
    }
    v3.api.rotate_key()
    assert v3("GET", "zones", token=token).status == 401


def test_a_token_expires_after_ten_minutes_of_the_simulators_clock(v3: Client) -> None:
    token = v3.token()
    v3.api.advance(590)
    assert v3("GET", "zones", token=token).status == 200
    v3.api.advance(20)
    answer = v3("GET", "zones", token=token)
    assert answer.status == 401 and detail(answer)["type"] == "InvalidTokenViolation"
    assert v3("GET", "zones", token=v3.token()).status == 200  # a new login works


def test_the_token_lifetime_is_configurable() -> None:
    api = V3Api(token_lifetime=5)
    got = api.decode(api.issue_token())
    assert got["exp"] - got["iat"] == pytest.approx(5)


def test_a_valid_token_is_renewed_by_access_token(v3: Client) -> None:
    token = v3.token()
    v3.api.advance(300)
    answer = v3("GET", "auth/access_token", token=token)
    assert answer.status == 200
    assert list(answer.json()) == ["token_type", "access_token", "kind"]
    fresh = answer.json()["access_token"]
    assert claims(fresh)["exp"] == pytest.approx(claims(token)["exp"] + 300, abs=1)
    v3.api.advance(400)  # the first token is gone, the renewed one is not
    assert v3("GET", "zones", token=token).status == 401
    assert v3("GET", "zones", token=fresh).status == 200
    v3.api.advance(300)
    assert v3("GET", "auth/access_token", token=fresh).status == 401


def test_38_an_expired_token_is_served_with_the_refresh_cookie(v38: Client) -> None:
    body = v38.login().json()
    token, refresh = body["access_token"], body["refresh_token"]
    v38.api.advance(700)
    answer = v38("GET", "zones", token=token)
    assert answer.status == 401
    assert detail(answer)["message"] == "The token is not valid, and no refresh token is present."
    cookie = {"Cookie": f"maas.local_refresh_token_cookie={refresh}"}
    answer = v38("GET", "auth/access_token", token=token, headers=cookie)
    assert answer.status == 200
    assert list(answer.json()) == ["kind", "token_type", "access_token"]
    [set_cookie] = answer.headers.get_all("Set-Cookie") or []
    assert set_cookie.startswith("maas.local_jwt_token_cookie=")
    fresh = set_cookie.split("=", 1)[1].split(";", 1)[0]
    assert v38("GET", "zones", token=fresh).status == 200
    assert v38("GET", "zones", token=answer.json()["access_token"]).status == 200
    bogus = {"Cookie": "maas.local_refresh_token_cookie=0000"}
    answer = v38("GET", "zones", token=token, headers=bogus)
    assert "the refresh token is invalid" in detail(answer)["message"]
    assert v38("POST", "auth/logout", headers=cookie).status == 204
    assert v38("GET", "zones", token=token, headers=cookie).status == 401


def test_38_a_refresh_token_expires_too(v38: Client) -> None:
    refresh = v38.api.issue_refresh_token()
    cookie = {"Cookie": f"maas.local_refresh_token_cookie={refresh}"}
    token = v38.api.issue_token()
    v38.api.advance(31 * 86400)
    assert v38("GET", "zones", token=token, headers=cookie).status == 401


def test_writes_need_an_admin(v3: Client) -> None:
    token = v3.token("user2", "user2 password")
    assert v3("GET", "zones", token=token).status == 200
    answer = v3("POST", "zones", token=token, json_body={"name": "mine"})
    assert answer.status == 403
    assert detail(answer)["type"] == "MissingPermissionViolation"
    assert v3("GET", "users", token=token).status == 403
    assert v3("GET", "users/me", token=token).json() == {
        "id": 2,
        "username": "user2",
        "is_superuser": False,
    }


def test_37_prefers_a_session_cookie_to_the_bearer_token(v3: Client) -> None:
    token = v3.token()
    stale = {"Cookie": "sessionid=stale"}
    answer = v3("GET", "zones", token=token, headers=stale)
    assert answer.status == 401
    assert detail(answer)["message"] == "The sessionid is not valid."
    v3.api.add_session("abc", "user2")
    assert v3("GET", "users/me", headers={"Cookie": "sessionid=abc"}).json()["id"] == 2


def test_requests_are_recorded_with_their_user(v3: Client) -> None:
    token = v3.token()
    v3("GET", "zones?size=1", token=token)
    last = v3.api.requests[-1]
    assert (last.method, last.path, last.query, last.user) == (
        "GET",
        f"{V3}/zones",
        [("size", "1")],
        "admin",
    )
    assert last.headers["authorization"] == f"Bearer {token}"


# ---------------------------------------------------------------- pages


def test_pages_follow_next_to_the_end(v3: Client) -> None:
    token = v3.token()
    path, pages, ids = f"{V3}/machines?size=20", [], []
    while path:
        body = v3("GET", path, token=token).json()
        assert body["kind"] == "MachinesList" and body["total"] == 45
        pages.append(body)
        ids += [m["id"] for m in body["items"]]
        path = body.get("next")
    assert [p.get("next") for p in pages] == [
        f"{V3}/machines?page=2&size=20",
        f"{V3}/machines?page=3&size=20",
        None,
    ]
    assert list(pages[-1]) == ["items", "total", "kind"]  # no "next" at all
    assert ids == list(range(45, 0, -1))  # newest first, each once
    machine = pages[0]["items"][0]
    assert machine["_links"] == {"self": {"href": f"{V3}/machines/45"}}
    assert machine["kind"] == "Machine" and machine["system_id"] == "abc02c"


def test_the_default_page_is_twenty(v3: Client) -> None:
    body = v3("GET", "events", token=v3.token()).json()
    assert len(body["items"]) == 20 and body["total"] == 120
    assert body["next"] == f"{V3}/events?page=2&size=20"


def test_next_carries_the_filters(v3: Client) -> None:
    token = v3.token()
    body = v3("GET", "zones?size=1&id=1&id=3", token=token).json()
    assert [z["id"] for z in body["items"]] == [3]
    assert body["next"] == f"{V3}/zones?page=2&size=1&id=1&id=3"
    body = v3("GET", "events?size=2&system_id=abc001", token=token).json()
    assert {e["node_system_id"] for e in body["items"]} == {"abc001"}
    assert body["next"] == f"{V3}/events?page=2&size=2&system_id=abc001"


def test_a_page_past_the_end_is_empty(v3: Client) -> None:
    body = v3("GET", "zones?page=9", token=v3.token()).json()
    assert body == {"items": [], "total": 5, "kind": "ZonesList"}


@pytest.mark.parametrize("query", ["size=0", "size=1001", "page=x"])
def test_bad_page_parameters_are_422(v3: Client, v38: Client, query: str) -> None:
    answer = v3("GET", f"zones?{query}", token=v3.token())
    assert answer.status == 422
    assert detail(answer)["field"] is None  # 3.7 does not say which
    answer = v38("GET", f"zones?{query}", token=v38.token())
    assert answer.status == 422
    assert (detail(answer)["location"], detail(answer)["field"]) == ("query", query.split("=")[0])


def test_ten_thousand_objects_page_quickly() -> None:
    started = time.perf_counter()
    api = V3Api(machines=10_000, events=0)
    api.fill("/zones", 10_000)
    token = api.issue_token()
    auth = {"authorization": f"Bearer {token}"}
    body = api.handle("GET", f"{V3}/machines?page=10&size=1000", auth).json()
    assert body["total"] == 10_000 and len(body["items"]) == 1000 and "next" not in body
    assert body["items"][-1]["id"] == 1
    assert api.handle("GET", f"{V3}/zones?size=1", auth).json()["total"] == 10_005
    assert time.perf_counter() - started < 5


# ---------------------------------------------------------------- objects, ETags, bodies


def test_objects_carry_an_etag_that_if_match_checks(v3: Client) -> None:
    token = v3.token()
    answer = v3("POST", "zones", token=token, json_body={"name": "lab", "description": "x"})
    assert answer.status == 201
    created = answer.json()
    assert created == {
        "_links": {"self": {"href": f"{V3}/zones/6"}},
        "id": 6,
        "name": "lab",
        "description": "x",
        "kind": "Zone",
    }
    first = answer.headers["ETag"]
    assert SHA256_HEX.match(first)
    assert v3("GET", "zones/6", token=token).headers["ETag"] == first
    updated = v3("PUT", "zones/6", token=token, json_body={"name": "lab2"})
    assert updated.status == 200 and updated.json()["name"] == "lab2"
    assert updated.json()["description"] == ""  # PUT replaces: the default again
    second = updated.headers["ETag"]
    assert second != first and SHA256_HEX.match(second)
    stale = v3("DELETE", "zones/6", token=token, headers={"If-Match": first})
    assert stale.status == 412
    assert detail(stale) == {
        "type": "EtagPreconditionViolation",
        "message": f"The resource etag '{second}' did not match '{first}'.",
        "field": None,
        "location": None,
    }
    assert v3("DELETE", "zones/6", token=token, headers={"If-Match": second}).status == 204
    gone = v3("GET", "zones/6", token=token)
    assert gone.status == 404
    assert gone.json() == {
        "code": 404,
        "message": "Entity not found.",
        "details": None,
        "kind": "Error",
    }
    assert v3("DELETE", "zones/6", token=token).status == 404


def test_delete_without_if_match_just_deletes(v3: Client) -> None:
    token = v3.token()
    assert v3("DELETE", "zones/2", token=token).status == 204
    assert [z["id"] for z in v3.api.objects("/zones")] == [1, 3, 4, 5]


def test_lists_carry_no_etag(v3: Client) -> None:
    assert v3("GET", "zones", token=v3.token()).headers["ETag"] is None


def test_bodies_are_validated_against_the_schema(v3: Client, v38: Client) -> None:
    answer = v3("POST", "zones", token=v3.token(), json_body={"description": "no name"})
    assert answer.status == 422
    assert answer.json() == {
        "code": 422,
        "message": "Failed to validate the request.",
        "details": [
            {
                "type": "value_error.missing",
                "message": "field required",
                "field": None,
                "location": None,
            }
        ],
        "kind": "Error",
    }
    body = {"vid": 5000, "mtu": "big", "name": "v"}
    answer = v38("POST", "fabrics/0/vlans", token=v38.token(), json_body=body)
    assert answer.json() == {
        "kind": "Error",
        "code": 422,
        "message": "Failed to validate the request.",
        "details": [
            {
                "type": "less_than_equal",
                "message": "Input should be less than or equal to 4094",
                "field": "vid",
                "location": "body",
            },
            {
                "type": "int_parsing",
                "message": "Input should be a valid integer, unable to parse string as an integer",
                "field": "mtu",
                "location": "body",
            },
        ],
    }


def test_enums_and_formats_are_checked(v3: Client, v38: Client) -> None:
    note = {"message": "hi", "category": "loud"}
    answer = v3("POST", "notifications", token=v3.token(), json_body=note)
    assert detail(answer)["message"] == (
        "value is not a valid enumeration member; permitted: 'error', 'warning', 'success', 'info'"
    )
    answer = v38("POST", "notifications", token=v38.token(), json_body=note)
    assert detail(answer)["message"] == "Input should be 'error', 'warning', 'success' or 'info'"
    subnet = {"cidr": "10.0.0.0/33"}
    answer = v3("POST", "fabrics/0/vlans/5001/subnets", token=v3.token(), json_body=subnet)
    assert detail(answer)["type"] == "value_error.ipvanynetwork"


@pytest.mark.parametrize(
    ("content_type", "body", "v1_type", "v2_type"),
    [
        (FORM, b"name=x", "type_error.dict", "model_attributes_type"),
        ("text/plain", b'{"name": "x"}', "type_error.dict", "model_attributes_type"),
        ("application/json", b'{"name": ', "value_error.jsondecode", "json_invalid"),
        ("application/json", b"", "value_error.missing", "missing"),
    ],
)
def test_bodies_must_be_json(
    v3: Client, v38: Client, content_type: str, body: bytes, v1_type: str, v2_type: str
) -> None:
    headers = {"Content-Type": content_type}
    answer = v3("POST", "zones", token=v3.token(), body=body, headers=headers)
    assert answer.status == 422 and detail(answer)["type"] == v1_type
    answer = v38("POST", "zones", token=v38.token(), body=body, headers=headers)
    assert answer.status == 422 and detail(answer)["type"] == v2_type


def test_a_json_body_without_a_content_type_is_read_as_json(v3: Client) -> None:
    answer = v3("POST", "zones", token=v3.token(), body=b'{"name": "plain"}')
    assert answer.status == 201


def test_duplicate_names_are_409_and_defaults_cannot_go(v3: Client) -> None:
    token = v3.token()
    answer = v3("POST", "zones", token=token, json_body={"name": "zone-1"})
    assert answer.status == 409
    assert detail(answer)["type"] == "UniqueConstraintViolation"
    assert v3("PUT", "zones/3", token=token, json_body={"name": "zone-1"}).status == 409
    answer = v3("DELETE", "zones/1", token=token)
    assert answer.status == 400
    assert detail(answer)["type"] == "CannotDeleteDefaultZoneViolation"
    answer = v3("DELETE", "fabrics/1/vlans/5004", token=token)
    assert answer.status == 400
    assert detail(answer)["type"] == "CannotDeleteDefaultFabricVlanViolation"


def test_vlans_live_under_their_fabric(v3: Client) -> None:
    token = v3.token()
    answer = v3("POST", "fabrics/1/vlans", token=token, json_body={"vid": 42, "name": "v42"})
    assert answer.status == 201
    vlan = answer.json()
    assert vlan["_links"]["self"]["href"] == f"{V3}/fabrics/1/vlans/{vlan['id']}"
    assert vlan["mtu"] == 1500  # the request schema's default
    assert [v["vid"] for v in v3("GET", "fabrics/1/vlans", token=token).json()["items"]] == [42, 0]
    assert v3("GET", f"fabrics/0/vlans/{vlan['id']}", token=token).status == 404
    assert v3("POST", "fabrics/1/vlans", token=token, json_body={"vid": 42}).status == 409
    assert v3("POST", "fabrics/99/vlans", token=token, json_body={"vid": 1}).status == 404
    fabric = v3("GET", "fabrics/0", token=token).json()
    assert fabric["vlans"] == {"href": f"{V3}/fabrics/0/vlans"}


def test_notifications_are_per_user_and_can_be_dismissed(v3: Client) -> None:
    admin, user = v3.token(), v3.token("user2", "user2 password")
    assert v3("GET", "notifications", token=admin).json()["total"] == 3
    assert [n["ident"] for n in v3("GET", "notifications", token=user).json()["items"]] == [
        "upgrade"
    ]
    assert v3("POST", "notifications/1:dismiss", token=user).status == 204
    assert v3("GET", "notifications?only_active=true", token=user).json()["total"] == 0
    assert v3("GET", "notifications", token=user).json()["total"] == 1
    assert v3("GET", "notifications?only_active=true", token=admin).json()["total"] == 3


def test_machines_are_read_only_in_37(v3: Client) -> None:
    token = v3.token()
    assert v3("GET", "machines/1", token=token).status == 404
    answer = v3("POST", "machines", token=token, json_body={})
    assert answer.status == 405 and answer.json() == {"detail": "Method Not Allowed"}
    assert answer.headers["Allow"] == "GET"
    assert v3("POST", "users/me", token=token).headers["Allow"] == "GET"


def test_unknown_routes_and_trailing_slashes(v3: Client) -> None:
    token = v3.token()
    answer = v3("GET", "nothing-here", token=token)
    assert answer.status == 404 and answer.json() == {"detail": "Not Found"}
    answer = v3("GET", "zones/?size=2", token=token)
    assert answer.status == 307
    assert answer.headers["Location"].endswith(f"{V3}/zones?size=2")
    assert v3("GET", "/MAAS/api/2.0/version/").status == 404  # only v3 here


def test_unmodelled_operations_say_so(v3: Client) -> None:
    answer = v3("GET", "configurations", token=v3.token())
    assert answer.status == 501
    assert detail(answer)["type"] == "NotSimulated"


@pytest.mark.parametrize("version", ["3.7.3", "3.8.0a1"])
def test_every_collection_lists_and_every_operation_answers(version: str) -> None:
    api = V3Api(version, machines=3, events=3)
    auth = {"authorization": f"Bearer {api.issue_token()}"}
    for path in api.collections:
        concrete = re.sub(r"\{\w+\}", "0", path)
        assert api.handle("GET", f"{V3}{concrete}", auth).status == 200, path
    for op in api.operations_list:  # no crash, whatever the answer
        target = re.sub(r"\{\w+\}", "1", op.template)
        status = api.handle(op.method, target, {**auth, "content-type": "application/json"}, b"{}")
        assert 200 <= status.status < 600, op.template
    assert api.crashes == []


def test_fill_makes_objects_of_any_collection(v3: Client) -> None:
    ids = v3.api.fill("/resource_pools", 3)
    body = v3("GET", "resource_pools", token=v3.token()).json()
    assert [p["id"] for p in body["items"]] == [*reversed(ids), 0]
    assert body["items"][0]["name"] == f"resource-pool-{ids[-1]}"


def test_the_same_seed_gives_the_same_data() -> None:
    one, two = V3Api(seed=3), V3Api(seed=3)
    assert one.objects("/machines") == two.objects("/machines")
    assert one.etag("/zones", 1) == two.etag("/zones", 1)
    assert one.objects("/fabrics/0/vlans") == two.objects("/fabrics/0/vlans")


# ---------------------------------------------------------------- 3.8 operations


def test_38_operations_list_filter_and_cancel(v38: Client) -> None:
    token = v38.token()
    body = v38("GET", "operations?size=2", token=token).json()
    assert body["total"] == 6 and body["next"] == f"{V3}/operations?page=2&size=2"
    bulk = v38("GET", "operations?is_bulk=true&size=1", token=token).json()
    assert [o["op_type"] for o in bulk["items"]] == ["machine.bulkdeploy"]
    running = v38.api.add_operation(resource_id=1, seconds=60)
    done = v38("GET", "operations?status=COMPLETED", token=token).json()["items"][0]["uuid"]
    answer = v38("DELETE", f"operations/{done}", token=token)
    assert answer.status == 409 and detail(answer)["type"] == "ConflictViolation"
    answer = v38("DELETE", f"operations/{running}", token=token)
    assert answer.status == 202 and answer.json()["status"] == "CANCELLING"
    assert v38("GET", f"operations/{running}", token=token).json()["status"] == "CANCELLED"
    tasks = v38("GET", f"operations/{running}/tasks", token=token).json()
    assert {t["status"] for t in tasks["items"]} == {"CANCELLED"}
    assert v38("GET", "operations/nope", token=token).status == 404


def test_38_an_operation_finishes_on_the_simulated_clock(v38: Client) -> None:
    token = v38.token()
    running = v38.api.add_operation("machine.commission", resource_id=2, seconds=30)
    assert v38("GET", f"operations/{running}", token=token).json()["status"] == "RUNNING"
    v38.api.advance(31)
    operation = v38("GET", f"operations/{running}", token=v38.token()).json()
    assert operation["status"] == "COMPLETED" and "finished" in operation


# ---------------------------------------------------------------- faults


def test_queued_faults_answer_first(v3: Client) -> None:
    token = v3.token()
    v3.api.queue(503, path="zones", count=2)
    first = v3("GET", "zones", token=token)
    assert first.status == 503 and first.json()["code"] == 503
    assert v3("GET", "fabrics", token=token).status == 200  # another path
    assert v3("GET", "zones", token=token).status == 503
    assert v3("GET", "zones", token=token).status == 200
    v3.api.queue(500, b"oops", {"Content-Type": "text/plain"})
    answer = v3("GET", "/MAAS/a/openapi.json")
    assert (answer.status, answer.body) == (500, b"oops")
    assert answer.headers["Content-Type"] == "text/plain"


def test_slow_paths_answer_late(v3: Client) -> None:
    token = v3.token()
    v3.api.slow("zones", 0.3)
    started = time.perf_counter()
    assert v3("GET", "zones", token=token).status == 200
    assert time.perf_counter() - started >= 0.3
    v3.api.reset_faults()
    started = time.perf_counter()
    v3("GET", "zones", token=token)
    assert time.perf_counter() - started < 0.3


def test_a_truncated_answer_closes_the_connection(v3: Client) -> None:
    v3.api.queue(200, b'{"items": [1, 2, 3]}', truncate=5)
    with pytest.raises(http.client.IncompleteRead):
        v3("GET", "zones", token=v3.api.issue_token())


# ---------------------------------------------------------------- beside the v2 simulator


def test_a_v2_simulator_without_v3_answers_404_under_maas_a() -> None:
    with MaasSimulator() as sim:
        assert request(sim.url, "GET", "/MAAS/a/openapi.json").status == 404
        assert request(sim.url, "POST", f"{V3}/auth/login", form={}).status == 404


def test_v3_mounted_beside_v2_shares_the_port_and_the_clock() -> None:
    api = V3Api(machines=3)
    with MaasSimulator(v3=api) as sim:
        answer = request(sim.url, "GET", "/MAAS/a/openapi.json")
        assert answer.status == 200 and answer.headers["X-MAAS-API-Hash"] is None
        form = {"username": "admin", "password": sim.password}
        token = request(sim.url, "POST", f"{V3}/auth/login", form=form).json()["access_token"]
        assert request(sim.url, "GET", f"{V3}/machines", token=token).json()["total"] == 3
        assert request(sim.url, "GET", "/MAAS/api/2.0/version/").status == 200  # v2 as before
        sim.clock_offset = 601
        assert request(sim.url, "GET", f"{V3}/machines", token=token).status == 401
        assert api.requests[-1].path == f"{V3}/machines"
        assert all(not r.path.startswith("/MAAS/a/") for r in sim.requests)


def test_standalone_prints_its_url() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "maascurl.sandbox.simulator_v3",
            "--machines",
            "2",
            "--version",
            "3.8.0a1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("url=")
        assert url.startswith("http://127.0.0.1:")
        assert len(request(url, "GET", "/MAAS/a/openapi.json").json()["paths"]) == 125
    finally:
        process.terminate()
        process.wait(timeout=10)
