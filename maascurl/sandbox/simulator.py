"""A simulated MAAS region API (v2): `maascurl sandbox`, and the test suite's MAAS.

It speaks real HTTP/1.1 (keep-alive, Content-Length and chunked request
bodies) on 127.0.0.1, routes requests with the resource paths of the
description it serves (data/describe.json, and the paths MAAS serves beyond
it, UNDESCRIBED_ROUTES), checks 0-legged OAuth PLAINTEXT signatures the way
MAAS does, and answers a useful subset of the API from in-memory state with
MAAS 3.4's rules: listing filters, machine statuses and their transitions,
locks, permissions, events, power parameters, fabrics and VLANs. Faults
(error statuses, slow answers, truncated bodies) can be queued, and a
request can be held before it is handled (`hold`), as by a busy worker.

    MaasSimulator(machines=3, seed=None, action_seconds=None, fail_share=0.0,
                  password=DEFAULT_PASSWORD, ssl_context=None, host="127.0.0.1",
                  port=0, boot_images_dir=None, v3=None)

machines: how many; seed: None for the default fleet the test suite knows
(abc000 Ready, abc001 Allocated, abc002 Deployed, ...), or any int or text
for a region drawn from it, the same for the same seed. action_seconds: how
long deploy, release, commission and the like take (None: they never end,
except release; what the test suite expects); fail_share: the share of
machines whose actions fail. The admin is DEFAULT_USER ("admin"), whose API
key is `api_key` and whose password, for /MAAS/accounts/authenticate/, is
DEFAULT_PASSWORD ("correct horse battery staple") unless `password` says
otherwise.

The description it serves and its sample answers are data/*.json beside this
module (shipped in the wheel). The description keeps MAAS's facts (paths,
ops, parameter names) with generated text in place of MAAS's documentation,
and its top-level doc says so (`maascurl describe` shows that line).

Standard library only; it imports no other maascurl module (import-linter
checks it), and in the package only maascurl/sandbox/serve.py, the
`maascurl sandbox` command's work, imports it. The tests import it as
`simulator` (tests/conftest.py registers that name). For development, run it
standalone with more knobs than the sandbox has:

    python3 -m maascurl.sandbox.simulator [--port N] [--machines N] [--seed S]
        [--action-seconds S] [--fail-share F] [--password P]
        [--https-cert C --https-key K] [--boot-images-dir D] [--v3 VERSION]

It prints url=, api_key=, username= and password= lines on stdout, and
serves until Ctrl-C or SIGTERM; actions take 2 seconds unless
--action-seconds says otherwise.

Under /MAAS/a/ it answers 404, as a region without the v3 API (3.4) does,
unless a v3 API (simulator_v3.py's V3Api) is mounted there:
MaasSimulator(v3=V3Api()) or sim.mount_v3(api); standalone, --v3 VERSION
with tests/ on PYTHONPATH (where the v3 simulator lives for now).
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import email.utils
import functools
import hashlib
import json
import random
import re
import signal
import ssl
import string
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from maascurl.sandbox.served import REASONS, QuietServer, Served

FIXTURES = Path(__file__).resolve().parent / "data"  # the description and sample answers
API_PREFIX = "/MAAS/api/2.0/"
V3_MOUNT = "/MAAS/a/"  # where MAAS 3.5+ serves its v3 API (see mount_v3)
TIMESTAMP_THRESHOLD = 300
OAUTH_REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_signature",
    "oauth_timestamp",
    "oauth_nonce",
)

# Texts of MAAS's answers, exposed so tests can compare against them.
FORBIDDEN = "Forbidden"
INVALID_API_KEY = "Authorization Error: Invalid API key."
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

# Password login (maasserver/views/account.py): a Django view beside the API.
ACCOUNTS_AUTHENTICATE = "/MAAS/accounts/authenticate/"
GENERIC_CONSUMER = "MAAS consumer"  # the name MAAS gives a token made without one
SESSION_COOKIE, CSRF_COOKIE = "sessionid", "csrftoken"  # Django's default names
CSRF_FAILURE = "<h1>Forbidden (403)</h1><p>CSRF verification failed. Request aborted.</p>"

# MAAS's node statuses and their labels (maasserver/enum.py, NODE_STATUS_CHOICES).
NODE_STATUS = {
    "New": 0,
    "Commissioning": 1,
    "Failed commissioning": 2,
    "Missing": 3,
    "Ready": 4,
    "Reserved": 5,
    "Deployed": 6,
    "Retired": 7,
    "Broken": 8,
    "Deploying": 9,
    "Allocated": 10,
    "Failed deployment": 11,
    "Releasing": 12,
    "Releasing failed": 13,
    "Disk erasing": 14,
    "Failed disk erasing": 15,
    "Rescue mode": 16,
    "Entering rescue mode": 17,
    "Failed to enter rescue mode": 18,
    "Exiting rescue mode": 19,
    "Failed to exit rescue mode": 20,
    "Testing": 21,
    "Failed testing": 22,
}
STATUS_NAMES = {code: name for name, code in NODE_STATUS.items()}

# The region's admin, who logs in with this password at /MAAS/accounts/authenticate/
# (MaasSimulator(password=...) and --password choose another).
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "correct horse battery staple"
STANDALONE_ACTION_SECONDS = 2.0  # run standalone, deployments and the like take this long
ADJECTIVES = ("amber", "brisk", "calm", "deft", "eager", "fair", "glad", "hale")
ANIMALS = ("otter", "heron", "lynx", "stoat", "finch", "koala", "moose", "quail")

Json = Any


def oauth_error(message: str) -> str:
    # MAAS wraps piston's OAuth errors with %r, hence the quotes.
    return f"Authorization Error: {message!r}"


def unknown_endpoint(path: str) -> str:
    return f"Unknown API endpoint: {path}."


def unrecognised(method: str, op: str | None) -> str:
    return f"Unrecognised signature: method={method} op={op}"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    form: list[tuple[str, str]]
    files: list[tuple[str, str | None, bytes]]
    content_type: str
    oauth: dict[str, str] | None
    received: float = 0.0  # time.monotonic() when the request was read
    client_port: int = 0  # the client's end of the TCP connection it came on


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = TEXT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: int | None = None
    bare: bool = False  # not from the region's Django: none of its headers
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values


class ApiError(Exception):
    def __init__(
        self, status: int, body: str | Json, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.reply = make_reply(status, body)
        self.reply.headers.update(headers or {})


def make_reply(status: int, body: str | bytes | Json) -> Reply:
    if isinstance(body, bytes):
        return Reply(status, body, "application/octet-stream")
    if isinstance(body, str):
        return Reply(status, body.encode("utf-8"), TEXT_TYPE)
    return Reply(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), JSON_TYPE)


@dataclass
class Fault:
    status: int
    body: bytes
    headers: dict[str, str]
    path: str | None
    count: int
    delay: float
    truncate: int | None


@dataclass
class Route:
    template: str
    regex: re.Pattern[str]
    anon: dict[tuple[str, str | None], str] = field(default_factory=dict)
    auth: dict[tuple[str, str | None], str] = field(default_factory=dict)


@dataclass
class Call:
    """What a handler function gets: the parsed request plus routing results."""

    request: RecordedRequest
    user: str | None
    resource: str
    params: dict[str, str]

    def field(self, name: str) -> str | None:
        for key, value in self.request.form:
            if key == name:
                return value
        return None

    def fields(self, name: str) -> list[str]:
        return [v for k, v in self.request.form if k == name]

    def query(self, name: str) -> list[str]:
        return [v for k, v in self.request.query if k == name]

    def file(self, name: str) -> bytes | None:
        for key, _filename, content in self.request.files:
            if key == name:
                return content
        return None


# ---------------------------------------------------------------- parsing


def parse_oauth_header(value: str) -> dict[str, str] | None:
    """Parse 'OAuth k="v", ...' into a dict of percent-decoded values."""
    value = value.strip()
    if not value.startswith("OAuth"):
        return None
    params: dict[str, str] = {}
    for item in value[len("OAuth") :].split(","):
        key, sep, raw = item.strip().partition("=")
        if sep:
            params[key.strip()] = urllib.parse.unquote(raw.strip().strip('"'))
    return params


def parse_body(
    content_type: str, body: bytes
) -> tuple[list[tuple[str, str]], list[tuple[str, str | None, bytes]]]:
    """Return (fields, files) of a form body; raise ApiError if it is malformed."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", errors="replace")
        return urllib.parse.parse_qsl(text, keep_blank_values=True), []
    if kind == "multipart/form-data":
        return parse_multipart(content_type, body)
    return [], []


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[list[tuple[str, str]], list[tuple[str, str | None, bytes]]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if not parts:
        raise ApiError(400, "Bad Request: multipart body has no parts")
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, str | None, bytes]] = []
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append((name, filename, content))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, content.decode(charset, errors="replace")))
    return fields, files


def parse_cookies(header: str) -> dict[str, str]:
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def csrf_passes(request: RecordedRequest, cookies: dict[str, str]) -> bool:
    """Django's check, simplified: the CSRF cookie, echoed in a header or a form field."""
    expected = cookies.get(CSRF_COOKIE)
    given = request.headers.get("x-csrftoken") or dict(request.form).get("csrfmiddlewaretoken")
    return bool(expected) and given == expected


def first(values: list[str]) -> str | None:
    return values[0] if values else None


def is_true(value: str | None) -> bool:
    """A boolean parameter as MAAS's StringBool validator reads it."""
    return value is not None and value.strip().lower() in ("true", "1", "yes", "on", "t", "y")


def make_key(seed: str, length: int) -> str:
    rnd = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    return "".join(rnd.choice(alphabet) for _ in range(length))


def template_regex(template: str) -> re.Pattern[str]:
    pieces = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>[^/]+)" for i, piece in enumerate(pieces)
    )
    return re.compile(pattern + r"\Z")


class Undescribed(NamedTuple):
    path: str  # relative to the API root, as the description writes paths
    handler: str | None  # the handler MAAS routes it to
    methods: tuple[str, ...]  # what the simulator serves there (nothing: not served)
    why: str


# Paths MAAS 3.4 serves that its API description (describe/) lacks: its URL
# table (maasserver/urls_api.py) checked against the committed description,
# and the resource_uri and upload_uri values in MAAS's answers (the samples
# under tests/fixtures and the shared fixtures). A client must send these as
# typed. (reservedips/{id}/, also handed out as resource_uri in the samples,
# is MAAS 3.6's, not 3.4's.)
UNDESCRIBED_ROUTES: tuple[Undescribed, ...] = (
    Undescribed(
        "vlans/{vlan_id}/",
        "VlanHandler",
        ("GET", "PUT", "DELETE"),
        "every VLAN's resource_uri; the VLAN by its id, as fabrics/{fabric_id}/vlans/{vid}/",
    ),
    Undescribed(
        "boot-resources/{id}/upload/{file_id}/",
        "BootResourceFileUploadHandler",
        ("PUT",),
        "upload_uri of a boot resource file not yet complete; its chunks (see BootImages)",
    ),
    Undescribed(
        "nodes/{system_id}/volume-groups/{id}/",
        "VolumeGroupHandler",
        ("GET", "PUT", "DELETE"),
        "the same handler as the described nodes/{system_id}/volume-group/{id}/",
    ),
    Undescribed(
        "commissioning-results/",
        "NodeResultsHandler",
        ("GET",),
        "the older name of the described installation-results/",
    ),
    Undescribed("virtual-machines/", "VirtualMachinesHandler", ("GET",), "hidden from describe"),
    Undescribed("virtual-machines/{id}", "VirtualMachineHandler", ("GET",), "hidden from describe"),
    Undescribed(
        "openapi.yaml",
        None,
        (),
        "MAAS's OpenAPI document (anonymous); not served: it is MAAS's documentation prose",
    ),
)


def load_routes(describe: Json) -> list[Route]:
    routes: dict[str, Route] = {}
    described: dict[str, Route] = {}  # handler name -> a route it serves
    for resource in describe["resources"]:
        for kind in ("anon", "auth"):
            part = resource[kind]
            if part is None:
                continue
            route = routes.setdefault(
                part["path"], Route(part["path"], template_regex(part["path"]))
            )
            table = route.anon if kind == "anon" else route.auth
            for action in part["actions"]:
                table.setdefault((action["method"], action["op"]), part["name"])
            described.setdefault(part["name"], route)
    for extra in UNDESCRIBED_ROUTES:
        if extra.handler is None or not extra.methods:
            continue
        path = API_PREFIX + extra.path
        route = routes.setdefault(path, Route(path, template_regex(path)))
        twin = described.get(extra.handler)
        if twin is not None:  # the actions of the described route of the same handler
            route.anon.update({k: v for k, v in twin.anon.items() if v == extra.handler})
            route.auth.update({k: v for k, v in twin.auth.items() if v == extra.handler})
        else:
            route.auth.update({(method, None): extra.handler for method in extra.methods})
    # Literal paths win over templated ones.
    return sorted(routes.values(), key=lambda r: (r.template.count("{"), r.template))


# ---------------------------------------------------------------- node listing filters
#
# GET machines/, nodes/ and devices/ read their query with MAAS 3.4's
# ReadNodesForm, and op=allocate its form with AcquireNodeForm
# (maasserver/node_constraint_filter_forms.py). Facts used: the names each
# form knows, which of them are checked against existing objects, and how
# values combine: the values of one name are alternatives (OR), except tags,
# all of which a node must carry; different names must all match (AND).
# A name neither form knows is a 400 {"name": ["No such constraint."]}.
# Names the forms know that are about networking, storage or devices are
# accepted but not applied here.

FILTER_FIELDS = (  # FilterNodeForm, in its order (the order of its errors)
    "arch",
    "not_arch",
    "tags",
    "not_tags",
    "fabrics",
    "not_fabrics",
    "fabric_classes",
    "not_fabric_classes",
    "subnets",
    "not_subnets",
    "link_speed",
    "vlans",
    "not_vlans",
    "zone",
    "not_in_zone",
    "system_id",
    "pool",
    "not_in_pool",
    "storage",
    "interfaces",
    "devices",
    "cpu_count",
    "cpu_speed",
    "mem",
    "pod",
    "not_pod",
    "pod_type",
    "not_pod_type",
    "owner",
    "not_owner",
    "power_state",
    "not_power_state",
)
READ_FIELDS = (  # ReadNodesForm adds these
    *FILTER_FIELDS,
    "id",
    "not_id",
    "hostname",
    "not_hostname",
    "mac_address",
    "domain",
    "not_domain",
    "agent_name",
    "not_agent_name",
    "status",
    "not_status",
    "simple_status",
    "not_simple_status",
)
ACQUIRE_FIELDS = (*FILTER_FIELDS, "name")  # AcquireNodeForm adds the hostname as `name`
# Parameters both forms let through without a complaint.
IGNORED_FIELDS = frozenset(
    ("comment", "bridge_all", "bridge_type", "bridge_stp", "bridge_fd", "dry_run", "verbose")
) | {"op", "agent_name"}
# status=: NODE_STATUS's attribute names in lower case (not the labels), an
# optional leading "=" dropped.
STATUS_FILTERS = {
    "new": 0,
    "commissioning": 1,
    "failed_commissioning": 2,
    "missing": 3,
    "ready": 4,
    "reserved": 5,
    "deployed": 6,
    "retired": 7,
    "broken": 8,
    "deploying": 9,
    "allocated": 10,
    "failed_deployment": 11,
    "releasing": 12,
    "failed_releasing": 13,
    "disk_erasing": 14,
    "failed_disk_erasing": 15,
    "rescue_mode": 16,
    "entering_rescue_mode": 17,
    "failed_entering_rescue_mode": 18,
    "exiting_rescue_mode": 19,
    "failed_exiting_rescue_mode": 20,
    "testing": 21,
    "failed_testing": 22,
}
# simple_status=: MAAS's simplified statuses and the statuses each stands for.
SIMPLE_STATUS_FILTERS = {
    "allocated": {10},
    "broken": {8},
    "commissioning": {1},
    "deployed": {6},
    "deploying": {9},
    "failed": {2, 11, 13, 15, 18, 20, 22},
    "new": {0},
    "ready": {4},
    "releasing": {12, 14},
    "rescue_mode": {16, 17, 19},
    "testing": {21},
    "other": {3, 5, 7},
}
POWER_STATES = ("on", "off", "unknown", "error")
MAC_FIELD = re.compile(
    r"^(?:[0-9a-fA-F]{1,2}:){5}[0-9a-fA-F]{1,2}$"
    r"|^(?:[0-9a-fA-F]{1,2}-){5}[0-9a-fA-F]{1,2}$"
    r"|^(?:[0-9a-fA-F]{3,4}.){2}[0-9a-fA-F]{3,4}$"
)
NUMBER_ERRORS = {
    "cpu_count": "Invalid CPU count: number required.",
    "cpu_speed": "Invalid CPU speed: number required.",
    "mem": "Invalid memory: number of MiB required.",
    "link_speed": "Invalid link speed: number required.",
}


def invalid_choice(value: str) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


class Known:
    """What exists in the region, which a filter's names are checked against.

    Each set is worked out only when a filter needs it (a fleet's polls by id
    need none).
    """

    def __init__(self, sim: MaasSimulator) -> None:
        self.sim = sim

    def _of_machines(self, key: str) -> set[str]:
        return {name for m in self.sim.machines if (name := _name(m, key)) is not None}

    @functools.cached_property
    def zones(self) -> set[str]:
        return {z["name"] for z in self.sim.zones} | self._of_machines("zone")

    @functools.cached_property
    def pools(self) -> set[str]:
        return {p["name"] for p in self.sim.pools} | self._of_machines("pool")

    @functools.cached_property
    def tags(self) -> set[str]:
        return set(self.sim.tags) | {t for m in self.sim.machines for t in m["tag_names"]}

    @functools.cached_property
    def owners(self) -> set[str]:
        return set(self.sim.users) | {m["owner"] for m in self.sim.machines if m["owner"]}

    @functools.cached_property
    def architectures(self) -> set[str]:
        return set(USABLE_ARCHITECTURES) | {m["architecture"] for m in self.sim.machines}


def _name(node: Json, key: str) -> str | None:
    value = node.get(key)
    return value.get("name") if isinstance(value, dict) else None


def _macs(node: Json) -> set[str]:
    interfaces = [*node.get("interface_set", []), node.get("boot_interface") or {}]
    return {i["mac_address"].lower() for i in interfaces if i.get("mac_address")}


def _mac(text: str) -> str:
    """A MAC address as MAAS stores it: lower case, colons."""
    digits = re.sub(r"[^0-9a-fA-F]", "", text).lower()
    if len(digits) == 12 and not re.search(r"[:-]", text):
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return ":".join(part.zfill(2) for part in re.split(r"[:-]", text.lower()))


# name -> (what of a node it reads, whether it excludes); the values of one
# name match when any of them equals what the node has (tags: all of them).
NodeTest = Callable[[Json, list[str]], bool]
FILTER_TESTS: dict[str, tuple[NodeTest, bool]] = {
    "id": (lambda n, v: n.get("system_id") in v, False),
    "not_id": (lambda n, v: n.get("system_id") in v, True),
    "system_id": (lambda n, v: n.get("system_id") in v, False),
    "hostname": (lambda n, v: n.get("hostname") in v, False),
    "not_hostname": (lambda n, v: n.get("hostname") in v, True),
    "domain": (lambda n, v: _name(n, "domain") in v, False),
    "not_domain": (lambda n, v: _name(n, "domain") in v, True),
    "zone": (lambda n, v: _name(n, "zone") in v, False),
    "not_in_zone": (lambda n, v: _name(n, "zone") in v, True),
    "pool": (lambda n, v: _name(n, "pool") in v, False),
    "not_in_pool": (lambda n, v: _name(n, "pool") in v, True),
    "pod": (lambda n, v: _name(n, "pod") in v, False),
    "not_pod": (lambda n, v: _name(n, "pod") in v, True),
    "owner": (lambda n, v: n.get("owner") in v, False),
    "not_owner": (lambda n, v: n.get("owner") in v, True),
    "tags": (lambda n, v: set(v) <= set(n.get("tag_names", [])), False),
    "not_tags": (lambda n, v: bool(set(v) & set(n.get("tag_names", []))), True),
    "arch": (lambda n, v: n.get("architecture") in v, False),
    "not_arch": (lambda n, v: n.get("architecture") in v, True),
    "power_state": (lambda n, v: n.get("power_state") in v, False),
    "not_power_state": (lambda n, v: n.get("power_state") in v, True),
    "status": (lambda n, v: str(n.get("status")) in v, False),
    "not_status": (lambda n, v: str(n.get("status")) in v, True),
    "simple_status": (lambda n, v: str(n.get("status")) in v, False),
    "not_simple_status": (lambda n, v: str(n.get("status")) in v, True),
    "mac_address": (lambda n, v: bool(_macs(n) & set(v)), False),
    "agent_name": (lambda n, v: n.get("agent_name", "") in v, False),
    "not_agent_name": (lambda n, v: n.get("agent_name", "") in v, True),
    "cpu_count": (lambda n, v: n.get("cpu_count", 0) >= min(map(float, v)), False),
    "cpu_speed": (lambda n, v: n.get("cpu_speed", 0) >= min(map(float, v)), False),
    "mem": (lambda n, v: n.get("memory", 0) >= min(map(float, v)), False),
    "name": (lambda n, v: any(_name_matches(n, name) for name in v), False),
}


def _name_matches(node: Json, name: str) -> bool:
    """op=allocate's name=: a hostname, or hostname.domain."""
    hostname, _, domain = name.partition(".")
    return node.get("hostname") == hostname and (not domain or _name(node, "domain") == domain)


@dataclass
class NodeFilter:
    """A node listing's query, checked and turned into a test, as MAAS's form does."""

    values: dict[str, list[str]]  # name -> values, cleaned
    input: list[tuple[str, list[str]]]  # the names and values as given (op=allocate's message)

    @classmethod
    def parse(
        cls, pairs: list[tuple[str, str]], known: Known, fields: tuple[str, ...] = READ_FIELDS
    ) -> NodeFilter:
        given: dict[str, list[str]] = {}
        for key, value in pairs:
            given.setdefault(key, []).append(value)
        errors: dict[str, list[str]] = {}
        values: dict[str, list[str]] = {}
        for name in fields:
            if name not in given:
                continue
            try:
                values[name] = cls.clean(name, given[name], known)
            except ValueError as error:
                errors[name] = [str(error)]
        for name in given:
            if name not in fields and name not in IGNORED_FIELDS:
                errors[name] = ["No such constraint."]
        if errors:
            raise ApiError(400, errors)
        inputs = [(k, v) for k, v in given.items() if k != "op"]
        return cls({k: v for k, v in values.items() if v}, inputs)

    @staticmethod
    def clean(name: str, values: list[str], known: Known) -> list[str]:
        """The values MAAS's form would filter with; ValueError with its message if bad."""
        if name in ("status", "not_status", "simple_status", "not_simple_status"):
            simple = "simple" in name
            codes: list[int] = []
            for value in (v.removeprefix("=") for v in values):
                if value not in (SIMPLE_STATUS_FILTERS if simple else STATUS_FILTERS):
                    raise ValueError(invalid_choice(value))
                codes += SIMPLE_STATUS_FILTERS[value] if simple else [STATUS_FILTERS[value]]
            return [str(code) for code in codes]
        if name in ("power_state", "not_power_state"):
            cleaned = [v.removeprefix("=") for v in values]
            for value in cleaned:
                if value not in POWER_STATES:
                    raise ValueError(invalid_choice(value))
            return cleaned
        if name in NUMBER_ERRORS:
            try:
                return [str(float(v)) for v in values]
            except ValueError:
                raise ValueError(NUMBER_ERRORS[name]) from None
        if name == "mac_address":
            for value in values:
                if not MAC_FIELD.match(value):
                    raise ValueError(f"'{value}' is not a valid MAC address.")
            return [_mac(v) for v in values]
        if name in ("zone", "not_in_zone", "pool", "not_in_pool"):
            kind, existing = ("zone", known.zones) if "zone" in name else ("pool", known.pools)
            missing = sorted(set(values) - existing)
            if missing:
                raise ValueError(f"No such {kind}(s): {', '.join(missing)}.")
            return values
        if name in ("tags", "not_tags"):
            tags = [t for v in values for t in re.findall(r"[^\s,]+", v)]
            missing = sorted(set(tags) - known.tags)
            if name == "tags" and missing:
                raise ValueError(f"No such tag(s): {', '.join(repr(t) for t in missing)}.")
            return tags
        if name == "owner":
            missing = sorted(set(values) - known.owners)
            if missing:
                raise ValueError(f"No such owner: '{missing[0]}'.")
            return values
        if name in ("arch", "not_arch"):
            arches: list[str] = []
            for value in values:
                found = [a for a in sorted(known.architectures) if a.split("/")[0] == value]
                if value in known.architectures:
                    arches.append(value)
                elif found:
                    arches.extend(found)  # a bare architecture stands for all its subarchitectures
                else:
                    raise ValueError("Architecture not recognised.")
            return arches
        return values

    def test(self) -> Callable[[Json], bool]:
        checks = [(FILTER_TESTS[k], v) for k, v in self.values.items() if k in FILTER_TESTS]

        def matches(node: Json) -> bool:
            return all(test(node, values) != excludes for (test, excludes), values in checks)

        return matches

    def apply(self, nodes: list[Json]) -> list[Json]:
        matches = self.test()
        return [node for node in nodes if matches(node)]

    def described(self) -> str:
        """MAAS's `describe_constraints` of the form: sorted `name=v1,v2` pairs."""
        return " ".join(f"{k}={','.join(self.values[k])}" for k in sorted(self.values))


# ---------------------------------------------------------------- fleet


def machine_hostname(i: int) -> str:
    name = f"{ADJECTIVES[i % 8]}-{ANIMALS[(i // 8) % 8]}"
    return name if i < 64 else f"{name}-{i // 64}"


def copy_template(template: Json, i: int, system_id: str, hostname: str) -> Json:
    """Machine number i from the template: its ids, MAC and IP addresses."""
    text = json.dumps(template)
    old_id, old_host = template["system_id"], template["hostname"]
    text = text.replace(old_id, system_id).replace(old_host, hostname)
    macs = sorted(set(re.findall(r'"mac_address": "([0-9a-f:]{17})"', text)))
    for j, mac in enumerate(macs):
        text = text.replace(
            mac, f"52:54:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:{j:02x}"
        )
    machine: Json = json.loads(text)
    n = i + 10
    machine["ip_addresses"] = [f"10.{20 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"]
    return machine


def clone_machine(template: Json, i: int, owner: str | None) -> Json:
    """Machine number i of the default fleet: abc000 Ready, abc001 Allocated, abc002
    Deployed, and so on."""
    machine = copy_template(template, i, f"abc{i:03x}", machine_hostname(i))
    machine["tag_names"] = ["virtual"] if i % 2 == 0 else []
    status = (4, 10, 6)[i % 3]
    set_status(machine, status, owner if status != 4 else None)
    if status == 6:
        machine["osystem"], machine["distro_series"] = "ubuntu", "jammy"
    return machine


# A seeded region (MaasSimulator(seed=...)): the same seed gives the same
# machines, and the first N machines of a bigger fleet are those of a fleet of N.
ZCHARS = "34678abcdefghkmnpqrstwxy"  # MAAS's system ids: six of these base-24 digits
SEED_ZONES = ("default", "az1", "az2")
SEED_POOLS = ("default", "web", "db")
SEED_TAGS = ("virtual", "gpu", "ssd", "nvme")
SEED_POWER_TYPES = ("virsh", "virsh", "virsh", "ipmi", "ipmi", "redfish", "lxd", "manual")
SEED_STATUSES = (
    *("Ready",) * 5,
    *("Deployed",) * 4,
    *("Allocated",) * 2,
    "New",
    "Broken",
    "Failed deployment",
)
SEED_ADJECTIVES = (*ADJECTIVES, "keen", "lush", "mild", "neat", "prim", "rapt", "spry", "tidy")
SEED_ANIMALS = (*ANIMALS, "bison", "crane", "egret", "gecko", "hyena", "ibex", "lemur", "mink")


def znum(n: int) -> str:
    digits = ""
    while n:
        n, digit = divmod(n, len(ZCHARS))
        digits = ZCHARS[digit] + digits
    return digits or ZCHARS[0]


def seeded_zones() -> list[Json]:
    return [
        {"name": name, "description": "", "id": i + 1, "resource_uri": f"{API_PREFIX}zones/{name}/"}
        for i, name in enumerate(SEED_ZONES)
    ]


def seeded_pools() -> list[Json]:
    return [
        {
            "name": name,
            "description": "Default pool" if name == "default" else "",
            "id": i,
            "resource_uri": f"{API_PREFIX}resourcepool/{i}/",
        }
        for i, name in enumerate(SEED_POOLS)
    ]


def seeded_tags() -> list[Json]:
    return [
        {
            "name": name,
            "definition": "",
            "comment": "",
            "kernel_opts": "",
            "resource_uri": f"{API_PREFIX}tags/{name}/",
        }
        for name in SEED_TAGS
    ]


def seeded_fleet(template: Json, n: int, seed: int | str) -> list[Json]:
    """N machines drawn from SEED: names, ids, zones, pools, tags, statuses, power."""
    rnd = random.Random(f"maas-simulator:{seed}")
    zones, pools = seeded_zones(), seeded_pools()
    machines: list[Json] = []
    ids: set[str] = set()
    names: set[str] = set()
    for i in range(n):
        system_id = znum(rnd.randrange(24**5, 24**6))
        while system_id in ids:
            system_id = znum(rnd.randrange(24**5, 24**6))
        name = f"{rnd.choice(SEED_ADJECTIVES)}-{rnd.choice(SEED_ANIMALS)}"
        hostname, k = name, 1
        while hostname in names:
            k += 1
            hostname = f"{name}-{k}"
        ids.add(system_id)
        names.add(hostname)
        machine = copy_template(template, i, system_id, hostname)
        status = rnd.choice(SEED_STATUSES)
        owned = status in ("Deployed", "Allocated", "Failed deployment")
        owner = rnd.choice(("admin", "admin", "admin", "user2")) if owned else None
        set_status(machine, NODE_STATUS[status], owner)
        machine.update(
            zone=rnd.choice(zones),
            pool=rnd.choice(pools),
            tag_names=sorted(rnd.sample(SEED_TAGS, rnd.choice((0, 0, 1, 1, 2)))),
            power_type=rnd.choice(SEED_POWER_TYPES),
            architecture=rnd.choice(("amd64/generic",) * 5 + ("arm64/generic",)),
            cpu_count=rnd.choice((2, 4, 8, 16, 32)),
            memory=rnd.choice((4096, 8192, 16384, 32768, 65536)),
        )
        machine["power_state"] = "on" if status == "Deployed" else "off"
        if machine["power_type"] == "manual":
            machine["power_state"] = "unknown"  # MAAS cannot query it
        if status == "Deployed":
            machine["osystem"] = "ubuntu"
            machine["distro_series"] = rnd.choice(("jammy", "jammy", "noble", "focal"))
        if status == "Failed deployment":
            machine["status_message"] = (
                "Node installation failure - Installation failed (refer to the installation log)"
            )
        machines.append(machine)
    return machines


def default_power_parameters(machine: Json) -> Json:
    """Power parameters for the machine's power type, with the names MAAS's power
    drivers give them (provisioningserver/drivers/power/ and pod/, MAAS 3.4)."""
    n = int(hashlib.sha256(machine["system_id"].encode()).hexdigest()[:4], 16)
    address = f"10.{n >> 8 & 255}.{n & 255}.2"
    hostname, kind = machine["hostname"], machine.get("power_type", "")
    if kind == "virsh":
        return {
            "power_address": "qemu+ssh://virsh@10.0.0.1/system",
            "power_id": hostname,
            "power_pass": "",
        }
    if kind == "ipmi":
        return {
            "power_driver": "LAN_2_0",
            "power_boot_type": "auto",
            "power_address": address,
            "power_user": "maas",
            "power_pass": f"ipmi-{n:04x}",
            "k_g": "",
            "cipher_suite_id": "3",
            "privilege_level": "OPERATOR",
            "workaround_flags": ["opensesspriv"],
            "mac_address": "",
        }
    if kind == "redfish":
        return {
            "power_address": address,
            "power_user": "admin",
            "power_pass": f"redfish-{n:04x}",
            "node_id": "1",
        }
    if kind == "lxd":
        return {
            "power_address": "10.0.0.1:8443",
            "instance_name": hostname,
            "project": "default",
            "password": "",
            "certificate": "",
            "key": "",
        }
    return {}  # manual (and power types the simulator does not know)


def set_status(machine: Json, status: int, owner: str | None) -> None:
    machine["status"] = status
    machine["status_name"] = STATUS_NAMES[status]
    machine["owner"] = owner
    machine["status_message"] = ""
    machine["status_action"] = ""
    if status in (0, 4):
        machine["osystem"], machine["distro_series"] = "", ""


# ---------------------------------------------------------------- HTTP plumbing


class _Server(QuietServer):
    sim: MaasSimulator

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sim._lock:
            self.sim.connections += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.sim._lock:
                self.sim.connections -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "maas-simulator"
    sys_version = ""
    # Headers and body go out in separate writes; without this, Nagle's
    # algorithm and delayed ACKs add ~40 ms to every keep-alive answer.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        if self.server.sim.plain and self.starts_with_tls():
            # https sent to MAAS's plain port: Twisted waits for a line that
            # never comes, so the client's TLS handshake gets no answer.
            while self.rfile.read1(65536):
                pass
            self.close_connection = True
            return
        super().handle_one_request()

    def starts_with_tls(self) -> bool:
        try:
            peek = getattr(self.rfile, "peek")  # a BufferedReader's  # noqa: B009
            return bool(peek(1)[:1] == b"\x16")  # a TLS handshake record
        except (OSError, AttributeError):
            return False

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(self.server.sim.now(), usegmt=True)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def serve(self) -> None:
        if self.server.sim.boot_images.serve(self):
            return  # a boot-image chunk: its body goes to disk as it arrives
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        sim = self.server.sim
        generation = sim.entered()
        try:
            held = sim.held_for(self.path)
            if held:
                time.sleep(held)
            reply = sim.handle(self.command, self.path, headers, body, self.client_address[1])
            delay = reply.delay + sim.delay_for(self.path)
            if delay:
                time.sleep(delay)
            self.send(reply)
        finally:
            sim.left(generation)

    def send(self, reply: Reply) -> None:
        self.send_response(reply.status, REASONS.get(reply.status))
        sim = self.server.sim
        base = {
            "Content-Type": reply.content_type,
            "X-MAAS-API-Hash": sim.api_hash,
            "Vary": "Authorization",
            "X-Frame-Options": "DENY",
        }
        if reply.bare:
            base = {"Content-Type": reply.content_type} if reply.content_type else {}
        for name, value in {**base, **reply.headers}.items():
            self.send_header(name, value)
        for cookie in reply.cookies:
            self.send_header("Set-Cookie", cookie)
        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection or reply.truncate is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD" or reply.status in (204, 304):
            return
        if reply.truncate is not None:
            self.wfile.write(reply.body[: reply.truncate])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(reply.body)


# ---------------------------------------------------------------- simulator


class MaasSimulator(Served):
    """In-memory MAAS region API; see the module docstring."""

    def __init__(
        self,
        *,
        machines: int = 3,
        seed: int | str | None = None,
        action_seconds: float | None = None,
        fail_share: float = 0.0,
        password: str = DEFAULT_PASSWORD,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        boot_images_dir: Path | None = None,
        v3: Any = None,
    ) -> None:
        """A region of MACHINES machines; see the module docstring for the others."""
        self.v3: Any = None  # a mounted V3Api (simulator_v3.py), see mount_v3
        if v3 is not None:
            self.mount_v3(v3)
        self.describe_bytes = (FIXTURES / "describe.json").read_bytes()
        describe = json.loads(self.describe_bytes)
        self.api_hash: str = describe["hash"]
        self.routes = load_routes(describe)
        self.version: Json = self.fixture("version.json")
        self.machine_template: Json = self.fixture("machine.json")
        self.requests: list[RecordedRequest] = []
        self.clock_offset = 0.0
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._delays: dict[str, float] = {}  # path prefix -> seconds before answering
        self._holds: list[list[Any]] = []  # [path, op, seconds, count]: waits before handling
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being answered at once
        self.connections = 0  # client connections accepted and not yet done with
        self._generation = 0  # counts resets
        self._tokens: dict[str, tuple[str, str, str]] = {}  # token key -> (consumer, secret, user)
        self._consumers: set[str] = set()
        self._nonces: set[tuple[str, str, str]] = set()
        self.users: dict[str, Json] = {}
        self.passwords: dict[str, str] = {}  # username -> password, for accounts/authenticate
        self._consumer_names: dict[str, str] = {}  # token key -> its consumer's name
        self.machines: list[Json] = []
        self.power_parameters: dict[str, Json] = {}  # system id -> what MAAS stores for it
        self._machines_json: bytes | None = None  # cached unfiltered listing
        self.sshkeys: list[Json] = []
        self.tags: dict[str, Json] = {t["name"]: t for t in self.fixture("tags.json")}
        self.zones: list[Json] = self.fixture("zones.json")
        self.pools: list[Json] = self.fixture("resource_pools.json")
        self.devices: list[Json] = self.fixture("devices.json")
        self.dhcp_snippets: list[Json] = []
        self.files: dict[str, Json] = {}
        self.events: list[Json] = self.fixture("events.json")["events"]
        self._next_id = 100
        self.api_key = self.add_user(DEFAULT_USER, admin=True)
        self.users[DEFAULT_USER] = self.fixture("whoami.json")
        self.password = password
        self.passwords[DEFAULT_USER] = self.password
        for key in self.fixture("sshkeys.json"):
            self.sshkeys.append({**key, "owner": "admin"})
        self.seed = seed
        if seed is not None:  # a seeded region: its own zones, pools, tags and user2
            self.zones, self.pools = seeded_zones(), seeded_pools()
            self.tags = {t["name"]: t for t in seeded_tags()}
            self.add_user("user2")
        self.set_fleet(machines)
        self._ssl_context = ssl_context
        self.plain = ssl_context is None
        self._server = _Server((host, port), _Handler, bind_and_activate=True)
        self._server.sim = self
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        bound_port = self._server.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{bound_port}/MAAS"
        self.api_root = self.url + "/api/2.0/"
        self._handlers = self._make_handlers()
        self.timed = TimedActions(self, action_seconds, fail_share)  # "timed actions and events"
        self._handlers.update(self.timed.handlers())
        self.boot_images = BootImages(self, boot_images_dir)
        self._handlers.update(self.boot_images.handlers())
        self.rack_sync = RackSync(self)  # see "rack controllers syncing boot images"
        self._handlers.update(self.rack_sync.handlers())
        self.fabrics = Fabrics(self)  # see "fabrics and VLANs"
        self._handlers.update(self.fabrics.handlers())

    # ---- public API

    def stop(self) -> None:
        super().stop()
        self.boot_images.close()

    def now(self) -> float:
        return time.time() + self.clock_offset

    def mount_v3(self, api: Any) -> None:
        """Answer /MAAS/a/... with API (a V3Api), on this simulator's clock."""
        api.base_clock = self.now
        self.v3 = api

    def add_user(self, username: str, *, admin: bool = False) -> str:
        """Create a user (if new) with a fresh API key and return the key."""
        with self._lock:
            seed = f"{username}:{len(self._tokens)}"
            consumer, token, secret = (
                make_key(seed + "c", 18),
                make_key(seed + "t", 18),
                make_key(seed + "s", 32),
            )
            self._consumers.add(consumer)
            self._tokens[token] = (consumer, secret, username)
            self.users.setdefault(
                username,
                {
                    "is_superuser": admin,
                    "username": username,
                    "email": f"{username}@example.com",
                    "is_local": True,
                    "resource_uri": f"{API_PREFIX}users/{username}/",
                },
            )
        return f"{consumer}:{token}:{secret}"

    def reset_faults(self) -> None:
        """Drop every queued fault and delay (tests share one simulator)."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._holds.clear()
            self._generation += 1
            self.in_flight = self.max_in_flight = 0

    def queue(
        self,
        status: int,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        *,
        path: str | None = None,
        count: int = 1,
        delay: float = 0.0,
        truncate: int | None = None,
    ) -> None:
        """Answer the next `count` (matching) authenticated requests with a canned reply."""
        if path is not None and not path.startswith("/"):
            path = API_PREFIX + path
        data = body.encode("utf-8") if isinstance(body, str) else body
        fault = Fault(status, data, dict(headers or {}), path, count, delay, truncate)
        with self._lock:
            self._faults.append(fault)

    def slow(self, path: str, seconds: float) -> None:
        """Answer requests under PATH (relative to the API root) only after SECONDS."""
        with self._lock:
            self._delays[API_PREFIX + path] = seconds

    def hold(self, path: str, seconds: float, *, op: str | None = None, count: int = 1) -> None:
        """Handle the next COUNT requests to PATH (relative to the API root; with OP,
        only those with op=OP) only after SECONDS, as a busy region worker picks a
        request up late: a request sent after it may be handled first."""
        with self._lock:
            self._holds.append([API_PREFIX + path, op, seconds, count])

    def held_for(self, target: str) -> float:
        parsed = urllib.parse.urlsplit(target)
        ops = [v for k, v in urllib.parse.parse_qsl(parsed.query) if k == "op"]
        with self._lock:
            for hold in self._holds:
                path, op, seconds, _ = hold
                if parsed.path == path and (op is None or op in ops):
                    hold[3] -= 1
                    if hold[3] <= 0:
                        self._holds.remove(hold)
                    return float(seconds)
        return 0.0

    def delay_for(self, target: str) -> float:
        with self._lock:
            return max((d for p, d in self._delays.items() if target.startswith(p)), default=0.0)

    def entered(self) -> int:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self._generation

    def left(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation:  # not a request from before a reset
                self.in_flight -= 1

    def set_fleet(self, n: int) -> None:
        """N machines: the default fleet, or with a seed, the seed's."""
        with self._lock:
            self._machines_json = None
            self.power_parameters.clear()
            if self.seed is not None:
                self.machines = seeded_fleet(self.machine_template, n, self.seed)
                return
            self.machines = [
                clone_machine(self.machine_template, i, "admin" if i % 3 == 1 else "user2")
                for i in range(n)
            ]

    def changed(self) -> None:
        """Call after editing `machines` in place: the plain listing is cached."""
        with self._lock:
            self._machines_json = None

    def add_file(self, name: str, content: bytes, owner: str = "admin") -> None:
        with self._lock:
            key = make_key(f"file:{name}:{len(self.files)}", 36)
            self.files[name] = {"filename": name, "content": content, "owner": owner, "key": key}

    def add_op(self, template: str, method: str, op: str) -> None:
        """Add an op to the served API, as a MAAS upgrade does (and change its hash)."""
        describe = json.loads(self.describe_bytes)
        for resource in describe["resources"]:
            part = resource["auth"]
            if part is not None and part["path"] == API_PREFIX + template:
                action = {"name": op, "method": method, "op": op, "restful": False}
                part["actions"].append({**action, "doc": f"{op} (added by an upgrade)."})
        describe["hash"] = f"{self.api_hash}-{op}"
        with self._lock:
            self.describe_bytes = json.dumps(describe).encode()
            self.api_hash = describe["hash"]
            self.routes = load_routes(describe)

    def fixture(self, name: str) -> Json:
        return json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    # ---- request handling

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, client_port: int = 0
    ) -> Reply:
        parsed = urllib.parse.urlsplit(target)
        if self.v3 is not None and parsed.path.startswith(V3_MOUNT):
            answer = self.v3.handle(method, target, headers, body)
            return Reply(
                answer.status,
                answer.body,
                answer.content_type or "",
                dict(answer.headers),
                answer.delay,
                answer.truncate,
                bare=True,
                cookies=list(answer.cookies),
            )
        content_type = headers.get("content-type", "")
        request = RecordedRequest(
            method=method,
            path=parsed.path,
            query=urllib.parse.parse_qsl(parsed.query, keep_blank_values=True),
            headers=headers,
            body=body,
            form=[],
            files=[],
            content_type=content_type,
            oauth=parse_oauth_header(headers.get("authorization", "")),
            received=time.monotonic(),
            client_port=client_port,
        )
        body_error: ApiError | None = None
        try:
            request.form, request.files = parse_body(content_type, body)
        except ApiError as error:
            body_error = error
        with self._lock:
            self.requests.append(request)
            self.timed.advance()
            polled = self.timed.poll_fault(request)
        if polled is not None:
            return polled
        try:
            return self.respond(request, body_error)
        except ApiError as error:
            return error.reply

    def respond(self, request: RecordedRequest, body_error: ApiError | None) -> Reply:
        if request.path == ACCOUNTS_AUTHENTICATE:
            return self.take_fault(request.path) or self.accounts_authenticate(request)
        if request.path == API_PREFIX + "describe/":
            # A plain view in MAAS: no OAuth check, any method.
            return self.take_fault(request.path) or Reply(200, self.describe_bytes, JSON_TYPE)
        route, params, path_op = self.match(request.path)
        user = self.authenticate(request, route)
        op = self.pick_op(request, path_op)
        key = (request.method, op)
        resource = (route.auth.get(key) if user is not None else None) or route.anon.get(key)
        if resource is None and user is None and route.auth:
            raise ApiError(401, FORBIDDEN)
        fault = self.take_fault(request.path)
        if fault is not None:
            return fault
        if body_error is not None:
            raise body_error
        if resource is None:
            raise ApiError(400, unrecognised(request.method, op))
        call = Call(request, user, resource, params)
        handler = self._handlers.get((resource, request.method, op), self.default_handler)
        with self._lock:
            if request.method != "GET":
                self._machines_json = None  # anything may have changed a machine
            return handler(call)

    def match(self, path: str) -> tuple[Route, dict[str, str], str | None]:
        for candidate, op in ((path, None), *self.op_suffix(path)):
            for route in self.routes:
                if m := route.regex.match(candidate):
                    return route, m.groupdict(), op
        raise ApiError(404, unknown_endpoint(path))

    @staticmethod
    def op_suffix(path: str) -> list[tuple[str, str]]:
        m = re.match(r"^(.+/)op-([^/]+)$", path)
        return [(m.group(1), m.group(2))] if m else []

    @staticmethod
    def pick_op(request: RecordedRequest, path_op: str | None) -> str | None:
        # MAAS (OperationsResource.dispatch): the query string's op, else the
        # form's, else the path's; Django's QueryDict.get gives a name's last
        # value, and an empty op counts as none.
        for pairs in (request.query, request.form):
            ops = [value for key, value in pairs if key == "op"]
            if ops and ops[-1]:
                return ops[-1]
        return path_op

    def take_fault(self, path: str) -> Reply | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    break
            else:
                return None
        headers = {k: v for k, v in fault.headers.items() if k.lower() != "content-type"}
        content_type = next(
            (v for k, v in fault.headers.items() if k.lower() == "content-type"), TEXT_TYPE
        )
        return Reply(fault.status, fault.body, content_type, headers, fault.delay, fault.truncate)

    # ---- OAuth

    def authenticate(self, request: RecordedRequest, route: Route) -> str | None:
        """Return the caller's username, None for anonymous; raise ApiError on failure."""
        if not route.auth:
            return None  # anonymous-only resource such as version/
        params = request.oauth
        if params is None or any(not params.get(name) for name in OAUTH_REQUIRED):
            if route.anon:
                return None
            raise ApiError(401, FORBIDDEN)
        return self.verify_oauth(params)

    def verify_oauth(self, params: dict[str, str]) -> str:
        def fail(message: str) -> ApiError:
            return ApiError(401, message, {"WWW-Authenticate": 'OAuth realm="OAuth"'})

        version = params.get("oauth_version")
        if version and version != "1.0":
            raise fail(oauth_error(f"OAuth version {version} not supported."))
        consumer, token_key = params["oauth_consumer_key"], params["oauth_token"]
        if consumer not in self._consumers:
            raise fail(INVALID_API_KEY)
        token = self._tokens.get(token_key)
        if token is None or token[0] != consumer:
            raise fail(oauth_error(f"Invalid access token: {token_key}"))
        self.check_timestamp(params["oauth_timestamp"], fail)
        nonce = (consumer, token_key, params["oauth_nonce"])
        with self._lock:
            if nonce in self._nonces:
                raise fail(oauth_error(f"Nonce already used: {params['oauth_nonce']}"))
            self._nonces.add(nonce)
        method = params["oauth_signature_method"]
        if method != "PLAINTEXT":
            raise fail(
                oauth_error(
                    f"Signature method {method} not supported try one of the following: PLAINTEXT"
                )
            )
        if params["oauth_signature"] != "&" + token[1]:
            # As piston's oauth does: the base string it expected, the real secret in it.
            expected = "&" + token[1]
            raise fail(
                oauth_error(f"Invalid signature. Expected signature base string: {expected}")
            )
        return token[2]

    def check_timestamp(self, value: str, fail: Callable[[str], ApiError]) -> None:
        try:
            timestamp = int(value)
        except ValueError:
            raise ApiError(401, FORBIDDEN) from None
        now = int(self.now())
        if now - timestamp > TIMESTAMP_THRESHOLD:
            raise fail(
                oauth_error(
                    f"Expired timestamp: given {timestamp} and now {now} has a greater "
                    f"difference than threshold {TIMESTAMP_THRESHOLD}"
                )
            )

    # ---- password login

    def accounts_authenticate(self, request: RecordedRequest) -> Reply:
        """MAAS's authenticate view: a username and password in, the user's API token out.

        POST only; 403 with an empty body for a wrong or unknown user or password, or an
        inactive user; the first token of the user whose consumer has the given name,
        made when there is none (without a name: the user's first token). A request
        carrying a session cookie gets Django's CSRF check, which a bare POST fails.
        """
        if request.method != "POST":
            return Reply(405, b"", HTML_TYPE, {"Allow": "POST"})
        cookies = parse_cookies(request.headers.get("cookie", ""))
        if SESSION_COOKIE in cookies and not csrf_passes(request, cookies):
            return Reply(403, CSRF_FAILURE.encode(), HTML_TYPE)
        form = dict(request.form)  # Django's QueryDict.get: the last value of a name
        username, password = form.get("username"), form.get("password")
        known = self.passwords.get(username or "")
        if password is None or known is None or password != known:
            return Reply(403, b"", HTML_TYPE)
        if self.users.get(username or "", {}).get("is_active") is False:
            return Reply(403, b"", HTML_TYPE)  # a deactivated user, as Django's login form
        assert username is not None
        token_key = self.token_for(username, form.get("consumer"))
        consumer_key, secret, _ = self._tokens[token_key]
        answer = {
            "consumer_key": consumer_key,
            "name": self._consumer_names.get(token_key, GENERIC_CONSUMER),
            "token_key": token_key,
            "token_secret": secret,
        }
        return make_reply(200, answer)

    def token_for(self, username: str, consumer: str | None) -> str:
        with self._lock:
            tokens = [key for key, (_, _, owner) in self._tokens.items() if owner == username]
            if consumer is not None:
                tokens = [
                    key
                    for key in tokens
                    if self._consumer_names.get(key, GENERIC_CONSUMER) == consumer
                ]
            if tokens:
                return tokens[0]
            token_key = self.add_user(username).split(":")[1]
            self._consumer_names[token_key] = GENERIC_CONSUMER if consumer is None else consumer
            return token_key

    def tokens_of(self, username: str) -> int:
        """How many API tokens USERNAME has."""
        with self._lock:
            return sum(1 for _, _, owner in self._tokens.values() if owner == username)

    # ---- resource behaviour

    def _make_handlers(self) -> dict[tuple[str, str, str | None], Callable[[Call], Reply]]:
        return {
            ("VersionHandler", "GET", None): lambda c: make_reply(200, self.version),
            ("UsersHandler", "GET", "whoami"): lambda c: make_reply(200, self.users[c.user or ""]),
            ("UsersHandler", "GET", None): lambda c: make_reply(200, list(self.users.values())),
            ("UserHandler", "GET", None): self.user_read,
            ("AccountHandler", "GET", "list_authorisation_tokens"): self.tokens_list,
            ("AccountHandler", "POST", "create_authorisation_token"): self.token_create,
            ("MachinesHandler", "GET", None): self.machines_read,
            ("MachinesHandler", "GET", "list_allocated"): self.machines_allocated,
            ("MachinesHandler", "POST", "allocate"): self.machines_allocate,
            ("MachinesHandler", "GET", "power_parameters"): self.machines_power_parameters,
            ("MachineHandler", "GET", "power_parameters"): self.machine_power_parameters,
            ("MachinesHandler", "GET", "is_registered"): lambda c: make_reply(200, False),
            ("NodesHandler", "GET", "is_registered"): lambda c: make_reply(200, False),
            ("AnonNodesHandler", "GET", "is_registered"): lambda c: make_reply(200, False),
            ("AnonNodesHandler", "GET", "is_action_in_progress"): lambda c: make_reply(200, False),
            ("AnonMachinesHandler", "GET", "is_registered"): lambda c: make_reply(200, False),
            ("AnonMachinesHandler", "GET", "is_action_in_progress"): lambda c: make_reply(
                200, False
            ),
            ("AnonFilesHandler", "GET", "get_by_key"): self.file_get_by_key,
            ("NodesHandler", "GET", None): self.machines_read,
            ("DevicesHandler", "GET", None): self.devices_read,
            ("ZonesHandler", "GET", None): lambda c: make_reply(200, self.zones),
            ("ResourcePoolsHandler", "GET", None): lambda c: make_reply(200, self.pools),
            ("TagsHandler", "GET", None): lambda c: make_reply(200, list(self.tags.values())),
            ("MachineHandler", "GET", None): lambda c: make_reply(200, self.machine(c)),
            ("MachineHandler", "PUT", None): self.machine_update,
            ("MachineHandler", "DELETE", None): self.machine_delete,
            ("SSHKeysHandler", "GET", None): self.sshkeys_read,
            ("SSHKeysHandler", "POST", None): self.sshkey_create,
            ("SSHKeyHandler", "GET", None): lambda c: make_reply(
                200, self.public_key(self.sshkey(c))
            ),
            ("SSHKeyHandler", "DELETE", None): self.sshkey_delete,
            ("TagsHandler", "POST", None): self.tag_create,
            ("TagHandler", "GET", None): self.tag_read,
            ("DHCPSnippetsHandler", "POST", None): self.dhcp_snippet_create,
            ("DHCPSnippetHandler", "GET", None): self.dhcp_snippet_read,
            ("FilesHandler", "GET", None): self.files_read,
            ("FilesHandler", "POST", None): self.file_create,
            ("FilesHandler", "DELETE", None): self.files_delete,
            ("FilesHandler", "GET", "get"): self.file_get,
            ("FilesHandler", "GET", "get_by_key"): self.file_get_by_key,
            ("FileHandler", "GET", None): self.file_read,
            ("FileHandler", "DELETE", None): self.file_delete,
            ("VirtualMachinesHandler", "GET", None): lambda c: make_reply(200, []),
            ("VirtualMachineHandler", "GET", None): self.virtual_machine_read,
        }

    LIST_FIXTURES: ClassVar[dict[str, str]] = {
        "SubnetsHandler": "subnets.json",
        "DomainsHandler": "domains.json",
        "InterfacesHandler": "interfaces.json",
        "BlockDevicesHandler": "block_devices.json",
        "BootResourcesHandler": "boot_resources.json",
        "RackControllersHandler": "rack_controllers.json",
        "SSLKeysHandler": "sslkeys.json",
        # Listings of real MAAS answers (data/listing-*.json, by scripts/make_fixtures.py).
        "NodeScriptsHandler": "listing-scripts.json",
        "NodeScriptResultsHandler": "listing-results.json",
        "NodeResultsHandler": "listing-installation-results.json",
        "PartitionsHandler": "listing-partitions.json",
        "VolumeGroupsHandler": "listing-volume-groups.json",
        "IPRangesHandler": "listing-ipranges.json",
        "StaticRoutesHandler": "listing-static-routes.json",
        "DiscoveriesHandler": "listing-discovery.json",
        "DNSResourceRecordsHandler": "listing-dnsresourcerecords.json",
        "PackageRepositoriesHandler": "listing-package-repositories.json",
        "BootSourcesHandler": "listing-boot-sources.json",
        "NotificationsHandler": "listing-notifications.json",
        "VmHostsHandler": "listing-vm-hosts.json",
    }

    def default_handler(self, call: Call) -> Reply:
        request = call.request
        if request.method == "GET" and call.resource in self.LIST_FIXTURES:
            return make_reply(200, self.fixture(self.LIST_FIXTURES[call.resource]))
        if call.resource.startswith("MachineHandler"):
            return make_reply(200, self.machine(call))
        if request.method == "DELETE":
            return Reply(204)
        return make_reply(200, {})

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def virtual_machine_read(self, call: Call) -> Reply:
        raise ApiError(404, "No VirtualMachine matches the given query.")  # none are composed

    # users and account

    def user_read(self, call: Call) -> Reply:
        user = self.users.get(call.params["username"])
        if user is None:
            raise ApiError(404, "No User matches the given query.")
        return make_reply(200, user)

    def tokens_list(self, call: Call) -> Reply:
        tokens = [
            {"name": "cli", "token": f"{consumer}:{key}:{secret}"}
            for key, (consumer, secret, owner) in self._tokens.items()
            if owner == call.user
        ]
        return make_reply(200, tokens)

    def token_create(self, call: Call) -> Reply:
        consumer, token, secret = self.add_user(call.user or "").split(":")
        name = call.field("name") or "Token"
        return make_reply(
            200,
            {"token_key": token, "token_secret": secret, "consumer_key": consumer, "name": name},
        )

    # machines

    def is_admin(self, user: str | None) -> bool:
        return bool(self.users.get(user or "", {}).get("is_superuser"))

    def visible(self, user: str | None) -> list[Json]:
        """The machines USER may see: an admin all, others the free ones and their own."""
        if self.is_admin(user):
            return self.machines
        return [m for m in self.machines if m["owner"] in (None, user)]

    def machines_read(self, call: Call) -> Reply:
        """GET machines/ (and nodes/): the visible machines, filtered as MAAS's form does."""
        machines = self.visible(call.user)
        if machines is self.machines and not [k for k, _ in call.request.query if k != "op"]:
            if self._machines_json is None:
                self._machines_json = make_reply(200, self.machines).body
            return Reply(200, self._machines_json, JSON_TYPE)
        return make_reply(200, NodeFilter.parse(call.request.query, Known(self)).apply(machines))

    def devices_read(self, call: Call) -> Reply:
        return make_reply(
            200, NodeFilter.parse(call.request.query, Known(self)).apply(self.devices)
        )

    def machines_allocated(self, call: Call) -> Reply:
        """op=list_allocated: the caller's machines in status Allocated, id= picking some.

        As MAAS 3.4 (MachinesHandler.list_allocated): Allocated only, so a
        machine leaves the list when its deployment starts.
        """
        ids = call.query("id")
        mine = [
            m
            for m in self.machines
            if m["owner"] == call.user
            and m["status"] == NODE_STATUS["Allocated"]
            and (not ids or m["system_id"] in ids)
        ]
        return make_reply(200, mine)

    def machines_allocate(self, call: Call) -> Reply:
        """op=allocate: the cheapest free Ready machine matching AcquireNodeForm's filters.

        MAAS orders candidates by cpu_count + memory / 1024 (its "cost"); the
        409 texts are those of MachinesHandler.allocate.
        """
        wanted = NodeFilter.parse(call.request.form, Known(self), ACQUIRE_FIELDS)
        matches = wanted.test()
        candidates = [
            m
            for m in self.visible(call.user)
            if m["status"] == 4 and m["owner"] is None and not m.get("locked") and matches(m)
        ]
        if candidates:
            machine = min(candidates, key=lambda m: m["cpu_count"] + m["memory"] / 1024)
            if not is_true(call.field("dry_run")):
                self.timed.acquire(machine, call)
            return make_reply(200, machine)
        system_id = call.fields("system_id")[-1:]
        if not wanted.described():
            message = "No machine available."
        elif system_id:
            message = f"No machine with system ID {system_id[0]} available."
        else:
            message = (
                f"No available machine matches constraints: {wanted.input} "
                f'(resolved to "{wanted.described()}")'
            )
        raise ApiError(409, message)

    def machines_power_parameters(self, call: Call) -> Reply:
        """A dict keyed by system ID (id= picks machines), as MAAS answers; for admins only."""
        if not self.is_admin(call.user):
            raise ApiError(403, "This method is reserved for admin users.")
        ids = call.query("id")
        return make_reply(
            200,
            {
                m["system_id"]: self.power_parameters_of(m)
                for m in self.machines
                if not ids or m["system_id"] in ids
            },
        )

    def machine_power_parameters(self, call: Call) -> Reply:
        """GET machines/{id}/ op=power_parameters: MAAS's admin_read permission (else 403)."""
        machine = self.machine(call)
        if not self.is_admin(call.user):
            raise ApiError(403, "")
        return make_reply(200, self.power_parameters_of(machine))

    def power_parameters_of(self, machine: Json) -> Json:
        system_id = machine["system_id"]
        if system_id not in self.power_parameters:
            self.power_parameters[system_id] = default_power_parameters(machine)
        return self.power_parameters[system_id]

    def machine(self, call: Call) -> Json:
        """The machine of the path, if the caller may see it (403 without text if not)."""
        system_id = call.params.get("system_id")
        for machine in self.machines:
            if machine["system_id"] == system_id:
                self.timed.permit(machine, call.user, "view")
                return machine
        raise ApiError(404, "No Machine matches the given query.")

    def machine_update(self, call: Call) -> Reply:
        machine = self.machine(call)
        self.timed.permit(machine, call.user, "admin")
        params = dict(self.power_parameters_of(machine))
        for key, value in call.request.form:
            if key == "power_type" and value != machine["power_type"]:
                params = default_power_parameters({**machine, "power_type": value})
            if key.startswith("power_parameters_") and key != "power_parameters_skip_check":
                params[key.removeprefix("power_parameters_")] = value
            elif key in machine and isinstance(machine[key], (str, type(None))):
                machine[key] = value
        self.power_parameters[machine["system_id"]] = params
        machine["fqdn"] = f"{machine['hostname']}.{machine['domain']['name']}"
        return make_reply(200, machine)

    def machine_delete(self, call: Call) -> Reply:
        machine = self.machine(call)
        self.timed.permit(machine, call.user, "admin")
        self.machines.remove(machine)
        return Reply(204)

    # ssh keys

    @staticmethod
    def public_key(key: Json) -> Json:
        return {k: v for k, v in key.items() if k != "owner"}

    def sshkeys_read(self, call: Call) -> Reply:
        return make_reply(
            200, [self.public_key(k) for k in self.sshkeys if k["owner"] == call.user]
        )

    def sshkey_create(self, call: Call) -> Reply:
        # MAAS's SSHKeyForm reads form fields only: a file part named "key" is ignored.
        # The key is stored as sent, a trailing newline too (its form field does
        # not strip); only the very same text is a duplicate (SSHKey.clean).
        text = call.field("key")
        if not text:
            raise ApiError(400, {"key": ["This field is required."]})
        if any(k["key"] == text and k["owner"] == call.user for k in self.sshkeys):
            raise ApiError(400, {"__all__": ["This key has already been added for this user."]})
        key_id = self.new_id()
        key = {
            "id": key_id,
            "key": text,
            "keysource": None,
            "resource_uri": f"{API_PREFIX}account/prefs/sshkeys/{key_id}/",
            "owner": call.user,
        }
        self.sshkeys.append(key)
        return make_reply(201, self.public_key(key))

    def sshkey(self, call: Call) -> Json:
        for key in self.sshkeys:
            if str(key["id"]) == call.params["id"] and key["owner"] == call.user:
                return key
        raise ApiError(404, "No SSHKey matches the given query.")

    def sshkey_delete(self, call: Call) -> Reply:
        self.sshkeys.remove(self.sshkey(call))
        return Reply(204)

    # tags and DHCP snippets: every parameter comes from the form fields (a
    # file part under a field's name is ignored, as Django forms do)

    def tag_create(self, call: Call) -> Reply:
        name = call.field("name")
        if not name:
            raise ApiError(400, {"name": ["This field is required."]})
        if name in self.tags:
            raise ApiError(400, {"name": ["Tag with this Name already exists."]})
        tag = {
            "name": name,
            "definition": call.field("definition") or "",
            "comment": call.field("comment") or "",
            "kernel_opts": call.field("kernel_opts") or "",
            "resource_uri": f"{API_PREFIX}tags/{name}/",
        }
        self.tags[name] = tag
        return make_reply(200, tag)

    def tag_read(self, call: Call) -> Reply:
        tag = self.tags.get(call.params["name"])
        if tag is None:
            raise ApiError(404, "No Tag matches the given query.")
        return make_reply(200, tag)

    def dhcp_snippet_create(self, call: Call) -> Reply:
        errors = {
            name: ["This field is required."] for name in ("name", "value") if not call.field(name)
        }
        if errors:
            raise ApiError(400, errors)
        snippet_id = self.new_id()
        snippet = {
            "id": snippet_id,
            "name": call.field("name"),
            "value": call.field("value"),
            "description": call.field("description") or "",
            "enabled": True,
            "resource_uri": f"{API_PREFIX}dhcp-snippets/{snippet_id}/",
        }
        self.dhcp_snippets.append(snippet)
        return make_reply(200, snippet)

    def dhcp_snippet_read(self, call: Call) -> Reply:
        for snippet in self.dhcp_snippets:
            if str(snippet["id"]) == call.params["id"]:
                return make_reply(200, snippet)
        raise ApiError(404, "No DHCPSnippet matches the given query.")

    # files

    def file_json(self, entry: Json, *, content: bool) -> Json:
        name = entry["filename"]
        data: Json = {
            "filename": name,
            "anon_resource_uri": f"{API_PREFIX}files/?op=get_by_key&key={entry['key']}",
            "resource_uri": f"{API_PREFIX}files/{urllib.parse.quote(name, safe='')}/",
        }
        if content:
            data["owner"] = entry["owner"]
            data["content"] = base64.b64encode(entry["content"]).decode("ascii")
        return data

    def files_read(self, call: Call) -> Reply:
        prefix = (call.query("prefix") or [""])[0]
        entries = [
            self.file_json(e, content=False)
            for n, e in sorted(self.files.items())
            if n.startswith(prefix)
        ]
        return make_reply(200, entries)

    def file_create(self, call: Call) -> Reply:
        name = call.field("filename")
        if not name:
            raise ApiError(400, "Filename not supplied")
        content = call.file("file")
        if content is None:
            raise ApiError(400, "File not supplied")
        self.add_file(name, content, call.user or "admin")
        return make_reply(201, self.file_json(self.files[name], content=False))

    def named_file(self, name: str | None) -> Json:
        entry = self.files.get(name or "")
        if entry is None:
            raise ApiError(404, "File not found")
        return entry

    def files_delete(self, call: Call) -> Reply:
        entry = self.named_file(call.field("filename") or first(call.query("filename")))
        del self.files[entry["filename"]]
        return Reply(204)

    def file_get(self, call: Call) -> Reply:
        entry = self.named_file(first(call.query("filename")))
        return Reply(200, entry["content"], "application/octet-stream")

    def file_get_by_key(self, call: Call) -> Reply:
        key = first(call.query("key"))
        for entry in self.files.values():
            if entry["key"] == key:
                return Reply(200, entry["content"], "application/octet-stream")
        raise ApiError(404, "File not found")

    def file_read(self, call: Call) -> Reply:
        return make_reply(
            200, self.file_json(self.named_file(call.params["filename"]), content=True)
        )

    def file_delete(self, call: Call) -> Reply:
        del self.files[self.named_file(call.params["filename"])["filename"]]
        return Reply(204)


# ---------------------------------------------------------------- timed actions and events
#
# Machine actions with MAAS's rules, that take time and may fail, MAAS's
# event log with its paging, and image imports. Facts from MAAS's source:
# status labels (maasserver/enum.py), transitions and in-progress -> failure
# statuses (maasserver/node_status.py), event types and levels
# (provisioningserver/events.py, maasserver/models/eventtype.py) and
# `events op=query` paging (maasserver/api/events.py).

EVENT_LEVELS = {"AUDIT": 0, "DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
MAX_EVENT_LOG_COUNT = 1000
DEFAULT_EVENT_LOG_LIMIT = 100


# The state rules, from MAAS 3.4's maasserver/node_status.py (which status may
# follow which), maasserver/api/machines.py and nodes.py (what each op checks,
# its permission and its 409 texts) and maasserver/models/node.py (what an
# action does to a machine and which events it logs).

TRANSITIONS: dict[str, frozenset[str]] = {
    status: frozenset(following)
    for status, following in {
        "New": (
            "Commissioning", "Testing", "Missing", "Ready", "Retired", "Broken",
            "Entering rescue mode",
        ),
        "Commissioning": (
            "Failed commissioning", "Ready", "Retired", "Missing", "New", "Broken", "Testing",
        ),
        "Failed commissioning": (
            "Commissioning", "Missing", "Retired", "Broken", "Entering rescue mode", "Testing",
        ),
        "Ready": (
            "Entering rescue mode", "Commissioning", "Allocated", "Reserved", "Retired",
            "Missing", "Broken", "Testing",
        ),
        "Reserved": (
            "Ready", "Allocated", "Retired", "Missing", "Broken", "Disk erasing", "Releasing",
            "Entering rescue mode", "Testing",
        ),
        "Allocated": (
            "Ready", "Retired", "Missing", "Broken", "Deploying", "Disk erasing", "Releasing",
            "Entering rescue mode", "Testing",
        ),
        "Releasing": (
            "New", "Allocated", "Reserved", "Deployed", "Ready", "Broken", "Missing",
            "Failed deployment", "Failed disk erasing", "Releasing failed",
        ),
        "Deploying": (
            "Allocated", "Missing", "Broken", "Failed deployment", "Deployed", "Ready",
            "Disk erasing", "Releasing",
        ),
        "Failed deployment": (
            "Allocated", "Missing", "Broken", "Ready", "Disk erasing", "Releasing",
            "Entering rescue mode", "Testing",
        ),
        "Deployed": (
            "Allocated", "Missing", "Broken", "Ready", "Disk erasing", "Releasing",
            "Entering rescue mode", "Testing",
        ),
        "Missing": (
            "New", "Ready", "Allocated", "Commissioning", "Broken", "Entering rescue mode",
            "Testing",
        ),
        "Retired": ("New", "Ready", "Missing", "Broken", "Entering rescue mode", "Testing"),
        "Broken": (
            "Commissioning", "Ready", "Disk erasing", "Releasing", "Entering rescue mode",
            "Testing", "Deployed",
        ),
        "Releasing failed": ("Releasing", "Disk erasing", "Ready", "Broken", "Testing"),
        "Disk erasing": ("Broken", "Disk erasing", "Failed disk erasing", "Ready", "Releasing"),
        "Failed disk erasing": (
            "Disk erasing", "Releasing", "Broken", "Allocated", "Ready", "Entering rescue mode",
            "Testing",
        ),
        "Entering rescue mode": (
            "Ready", "Broken", "Deployed", "Rescue mode", "Failed to enter rescue mode",
            "Exiting rescue mode",
        ),
        "Failed to enter rescue mode": (
            "Broken", "Entering rescue mode", "Exiting rescue mode", "Testing",
        ),
        "Rescue mode": ("Broken", "Exiting rescue mode", "Testing"),
        "Exiting rescue mode": (
            "New", "Broken", "Failed commissioning", "Ready", "Reserved", "Allocated",
            "Failed deployment", "Deployed", "Missing", "Retired", "Releasing failed",
            "Failed disk erasing", "Rescue mode", "Failed to enter rescue mode",
            "Failed to exit rescue mode", "Failed testing",
        ),
        "Failed to exit rescue mode": ("Broken", "Exiting rescue mode", "Testing"),
        "Testing": (
            "Broken", "New", "Ready", "Reserved", "Allocated", "Deployed", "Commissioning",
            "Failed deployment", "Missing", "Retired", "Releasing failed", "Failed disk erasing",
            "Failed to enter rescue mode", "Failed to exit rescue mode", "Failed testing",
        ),
        "Failed testing": (
            "Commissioning", "Broken", "Missing", "Entering rescue mode", "Testing", "Ready",
            "Deployed",
        ),
    }.items()
}  # fmt: skip
RELEASABLE = frozenset(
    {
        "Allocated",
        "Reserved",
        "Broken",
        "Deploying",
        "Deployed",
        "Failed deployment",
        "Failed disk erasing",
        "Releasing failed",
    }
)
COMMISSIONABLE = frozenset(
    {
        "New",
        "Failed commissioning",
        "Ready",
        "Broken",
    }
)
TESTABLE = frozenset(
    {
        "Failed commissioning",
        "New",
        "Ready",
        "Reserved",
        "Allocated",
        "Failed deployment",
        "Deployed",
        "Missing",
        "Retired",
        "Broken",
        "Rescue mode",
        "Releasing failed",
        "Failed disk erasing",
        "Failed to enter rescue mode",
        "Failed to exit rescue mode",
        "Failed testing",
    }
)
# Statuses a passed test does not go back to (the machine becomes Ready).
TEST_RESETS = frozenset(
    {
        "New",
        "Commissioning",
        "Failed deployment",
        "Missing",
        "Retired",
        "Broken",
        "Releasing failed",
        "Failed disk erasing",
        "Failed to enter rescue mode",
        "Failed to exit rescue mode",
        "Failed testing",
    }
)
# Leaving these does not change a machine's previous status (MAAS's pre-save signal).
KEEPS_PREVIOUS = frozenset(
    {
        "Rescue mode",
        "Entering rescue mode",
        "Failed to enter rescue mode",
        "Exiting rescue mode",
        "Failed to exit rescue mode",
        "Testing",
    }
)
# The event MAAS logs (DEBUG) when a user asks for an action; its description is
# "(username)" or "(username) - comment" (Node._register_request_event).
REQUESTED = {
    "acquire": "User acquiring node",
    "deploy": "User starting deployment",
    "power_on": "User powering up node",
    "power_off": "User powering down node",
    "release": "User releasing node",
    "erase": "User erasing disk",
    "commission": "User starting node commissioning",
    "test": "User starting node testing",
    "rescue_mode": "User starting rescue mode",
    "exit_rescue_mode": "User stopping rescue mode",
    "lock": "User locking node",
    "unlock": "User unlocking node",
    "mark_broken": "User marking node broken",
    "mark_fixed": "User marking node fixed",
}
# abort: status -> (the request event, the status event, where it ends; None:
# the status before, Ready if that was Commissioning)
ABORTS: dict[str, tuple[str, str, str | None]] = {
    "Deploying": ("User aborting deployment", "Aborted deployment", "Allocated"),
    "Commissioning": ("User aborting node commissioning", "Aborted commissioning", "New"),
    "Testing": ("User aborting node testing", "Aborted testing", None),
    "Disk erasing": ("User aborting disk erase", "Aborted disk erasing", "Failed disk erasing"),
}
MACHINE_OPS = (
    "deploy",
    "release",
    "commission",
    "test",
    "rescue_mode",
    "exit_rescue_mode",
    "power_on",
    "power_off",
    "abort",
    "lock",
    "unlock",
    "mark_broken",
    "mark_fixed",
)


@dataclass
class Lifecycle:
    """An action that takes time: its status while running, its end, its events."""

    busy: str | None  # status while it runs (None: the status does not change)
    done: str | None  # status on success (None: back to the previous status)
    failed: str | None  # status on failure (None: the action cannot fail)
    start_event: str | None  # the INFO event as it starts
    progress: tuple[str, str] | None  # a DEBUG (event type, description) half-way
    done_event: tuple[str, str]  # (level, event type) at the end
    fail_event: tuple[str, str] = ("", "")  # an ERROR (event type, description)
    power: str | None = None  # power_state at the end


LIFECYCLES = {
    "deploy": Lifecycle(
        "Deploying",
        "Deployed",
        "Failed deployment",
        "Deploying",
        ("Node installation", "curtin running"),
        ("INFO", "Deployed"),
        ("Node installation failure", "Installation failed (refer to the installation log)"),
        "on",
    ),
    "commission": Lifecycle(
        "Commissioning",
        "Ready",
        "Failed commissioning",
        "Commissioning",
        ("Gathering information", "00-maas-01-cpuinfo"),
        ("INFO", "Ready"),
        ("Node commissioning failure", "Commissioning failed, see the script results"),
        "off",
    ),
    "release": Lifecycle(
        "Releasing",
        "Ready",
        "Releasing failed",
        "Releasing",
        ("Powering off", ""),
        ("INFO", "Released"),
        ("Failed to power off node", "Power off timed out"),
        "off",
    ),
    "erase": Lifecycle(
        "Disk erasing",
        "Ready",
        "Failed disk erasing",
        "Disk erasing",
        ("Erasing disks", ""),
        ("INFO", "Disks erased"),
        ("Failed disk erasing", "wipe-disks failed"),
        "off",
    ),
    "test": Lifecycle(
        "Testing",
        None,
        "Failed testing",
        "Testing",
        ("Running test", "smartctl-validate"),
        ("INFO", "Ready"),
        ("Failed testing", "smartctl-validate failed"),
    ),
    "rescue_mode": Lifecycle(
        "Entering rescue mode",
        "Rescue mode",
        "Failed to enter rescue mode",
        "Entering rescue mode",
        ("Loading ephemeral", ""),
        ("INFO", "Rescue mode"),
        ("Failed to enter rescue mode", "Timed out"),
        "on",
    ),
    "exit_rescue_mode": Lifecycle(
        "Exiting rescue mode",
        None,
        "Failed to exit rescue mode",
        None,
        ("Powering off", ""),
        ("INFO", "Exited rescue mode"),
        ("Failed exiting rescue mode", "Timed out"),
    ),
    "power_on": Lifecycle(None, None, None, None, None, ("DEBUG", "Node powered on"), power="on"),
    "power_off": Lifecycle(
        None, None, None, None, None, ("DEBUG", "Node powered off"), power="off"
    ),
}


def set_node_status(machine: Json, name: str) -> None:
    machine["status"] = NODE_STATUS[name]
    machine["status_name"] = name


def conflict(message: str) -> ApiError:
    """MAAS's NodeStateViolation: a 409 with its text."""
    return ApiError(409, message)


def denied() -> ApiError:
    """Django's PermissionDenied() (and MAASAPIForbidden()): a 403 without text."""
    return ApiError(403, "")


class EventLog:
    """MAAS's event log: numbered events, queried newest first, paged by id."""

    def __init__(self, events: list[Json]) -> None:
        self.events = events  # the simulator's own list, seeded from events.json
        self.next_id = 1000

    def log(
        self,
        machine: Json,
        level: str,
        kind: str,
        description: str = "",
        *,
        user: str | None = None,
        status: bool | None = None,
    ) -> None:
        """Log an event of MACHINE: by USER (None: by MAAS itself, shown as "unknown").

        STATUS says whether it becomes the machine's status_message; by
        default every event but AUDIT ones does. (MAAS takes the newest event
        of level INFO or above; the simulator's DEBUG progress events stand
        for MAAS's INFO ones such as "Loading ephemeral".)
        """
        self.next_id = max([self.next_id, *(int(e["id"]) for e in self.events)]) + 1
        created = time.strftime("%a, %d %b. %Y %H:%M:%S", time.gmtime())
        event = {
            "username": user or "unknown",
            "node": machine["system_id"],
            "hostname": machine["hostname"],
            "id": self.next_id,
            "level": level,
            "created": created,
            "type": kind,
            "description": description,
        }
        self.events.append(event)
        if status if status is not None else level != "AUDIT":
            machine["status_message"] = f"{kind} - {description}" if description else kind

    def query(self, call: Call, machines: list[Json]) -> Reply:
        """GET events/?op=query, with MAAS's filters, ordering and next/prev URIs."""
        after, before = self._int(call, "after"), self._int(call, "before")
        limit = self._int(call, "limit")
        limit = DEFAULT_EVENT_LOG_LIMIT if limit is None else limit
        if limit > MAX_EVENT_LOG_COUNT:
            raise ApiError(
                400,
                f"Requested number of events {limit} is greater than limit: {MAX_EVENT_LOG_COUNT}",
            )
        limit = max(limit, 1)
        level = first(call.query("level")) or "INFO"
        if level not in EVENT_LEVELS:
            raise ApiError(400, f"Unrecognised log level: {level}")
        if after is not None and before is not None:
            raise ApiError(
                400, "There is undetermined behaviour when both `after` and `before` are specified."
            )
        events = [e for e in self.events if self._matches(e, call, level, machines)]
        if after is None and before is None:
            page = sorted(events, key=lambda e: -e["id"])[:limit]
        elif after is None:
            page = sorted((e for e in events if e["id"] < before), key=lambda e: -e["id"])[:limit]
        else:
            page = sorted((e for e in events if e["id"] > after), key=lambda e: e["id"])[:limit]
            page.reverse()
        return make_reply(200, self._page(call, page, after, before))

    @staticmethod
    def _int(call: Call, name: str) -> int | None:
        value = first(call.query(name))
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, {name: ["Please enter an integer value"]}) from None

    @staticmethod
    def _matches(event: Json, call: Call, level: str, machines: list[Json]) -> bool:
        if level == "AUDIT":
            if event["level"] != "AUDIT":
                return False
        elif EVENT_LEVELS[event["level"]] < EVENT_LEVELS[level]:
            return False
        ids, hosts = call.query("id"), call.query("hostname")
        if ids and event["node"] not in ids:
            return False
        if hosts and event["hostname"] not in hosts:
            return False
        owners = call.query("owner")
        return not owners or event["username"] in owners

    @staticmethod
    def _page(call: Call, page: list[Json], after: int | None, before: int | None) -> Json:
        kept = [(k, v) for k, v in call.request.query if k not in ("after", "before")]

        def uri(extra: tuple[str, str | int] | None) -> str:
            pairs: list[tuple[str, str | int]] = [*kept, *([extra] if extra else [])]
            return f"{API_PREFIX}events/?{urllib.parse.urlencode(pairs)}"

        prev_uri: str | None
        if page:
            next_uri, prev_uri = uri(("after", page[0]["id"])), uri(("before", page[-1]["id"]))
        else:
            next_uri = uri(None) if before is None else uri(("after", before - 1))
            prev_uri = None if after is None else uri(("before", after + 1))
        return {"count": len(page), "events": page, "next_uri": next_uri, "prev_uri": prev_uri}


class TimedActions:
    """Machine actions with MAAS's rules; those that take time finish after `seconds`.

    Each op checks what MAAS checks (permission, lock, status) and answers
    MAAS's errors, logs the events MAAS logs, and moves the machine through
    MAAS's statuses. With `seconds` None (the default), busy statuses never
    end, except release, which ends at once, and power changes, which are
    immediate: what the simulator always did. Tests set `seconds`, and
    `fail_share` (0..1, machines picked by a stable hash of their system id)
    or `failing` (system ids) for failures. State advances whenever a request
    arrives, so nothing runs in the background.
    """

    def __init__(
        self, sim: MaasSimulator, seconds: float | None = None, fail_share: float = 0.0
    ) -> None:
        self.sim = sim
        self.log = EventLog(sim.events)
        self.defaults = (seconds, fail_share)
        self.reset()

    def reset(self) -> None:
        """Back to how the simulator was made: its action seconds, no faults, no plans."""
        self.seconds: float | None = self.defaults[0]
        self.fail_share = self.defaults[1]
        self.failing: set[str] = set()
        self.import_seconds = 0.0
        self.import_until = 0.0
        self.vanishing: set[str] = set()  # system ids deleted when their action would end
        self.get_faults: list[list[Any]] = []  # [path, count, reply]: for GETs only
        self.plans: dict[str, list[tuple[float, Callable[[], None]]]] = {}
        self.previous: dict[str, str] = {}  # system id -> its previous status (MAAS keeps one)

    def queue_get(self, path: str, reply: Reply, count: int = 1) -> None:
        """Answer the next COUNT GETs of PATH (not other methods) with REPLY: a poll's trouble."""
        self.get_faults.append([API_PREFIX + path, count, reply])

    def poll_fault(self, request: RecordedRequest) -> Reply | None:
        for fault in self.get_faults:
            if request.method == "GET" and request.path == fault[0]:
                fault[1] -= 1
                if fault[1] <= 0:
                    self.get_faults.remove(fault)
                reply: Reply = fault[2]
                return reply  # a truncated reply drops the connection, as a dying server does
        return None

    def fails(self, system_id: str) -> bool:
        if system_id in self.failing:
            return True
        return random.Random(f"fail:{system_id}").random() < self.fail_share

    def handlers(self) -> dict[tuple[str, str, str | None], Callable[[Call], Reply]]:
        table: dict[tuple[str, str, str | None], Callable[[Call], Reply]] = {
            ("EventsHandler", "GET", "query"): lambda c: self.log.query(c, self.sim.machines),
            ("BootResourcesHandler", "POST", "import"): self.start_import,
            ("BootResourcesHandler", "GET", "is_importing"): lambda c: make_reply(
                200, time.monotonic() < self.import_until
            ),
        }
        for op in MACHINE_OPS:
            table[("MachineHandler", "POST", op)] = partial_action(self, op)
        return table

    def advance(self) -> None:
        """Apply every step that is due (called under the simulator's lock)."""
        now = time.monotonic()
        for system_id, steps in list(self.plans.items()):
            while steps and steps[0][0] <= now:
                steps.pop(0)[1]()
                self.sim._machines_json = None
            if not steps:
                del self.plans[system_id]

    def start_import(self, call: Call) -> Reply:
        self.import_until = time.monotonic() + self.import_seconds
        return make_reply(200, "Import of boot resources started")

    # ---- the pieces every op uses

    def permit(self, machine: Json, user: str | None, perm: str) -> None:
        """MAAS's permission check of an op: view, edit, lock or admin (403 without text).

        A locked machine refuses edit and admin ops, whoever asks; edit and
        lock need the machine free or the caller's (or an admin); admin needs
        an admin.
        """
        admin = self.sim.is_admin(user)
        if perm in ("edit", "admin") and machine.get("locked"):
            raise denied()
        if perm == "admin" and not admin:
            raise denied()
        if not admin and machine["owner"] not in (None, user):
            raise denied()

    def change(self, machine: Json, status: str, *, check: bool = False) -> None:
        """Set a machine's status as Node.update_status and its save do."""
        before = machine["status_name"]
        if check and status != before and status not in TRANSITIONS.get(before, ()):
            raise conflict(f"Invalid transition: {before} -> {status}.")
        if status != before and before not in KEEPS_PREVIOUS:
            self.previous[machine["system_id"]] = before
        set_node_status(machine, status)
        if status in ("New", "Ready") and status != before:
            machine["owner"] = None  # MAAS clears the owner on New and Ready
            machine["osystem"], machine["distro_series"] = "", ""

    def requested(self, machine: Json, call: Call, kind: str) -> None:
        """The DEBUG event MAAS logs for a user's request (no status_message)."""
        comment = call.field("comment")
        who = f"({call.user})"
        description = f"{who} - {comment}" if comment else who
        self.log.log(machine, "DEBUG", kind, description, user=call.user, status=False)

    def acquire(self, machine: Json, call: Call) -> None:
        """Node.acquire: Ready -> Allocated to the caller."""
        self.requested(machine, call, REQUESTED["acquire"])
        self.change(machine, "Allocated")
        machine["owner"] = call.user

    def run(self, machine: Json, op: str, life: Lifecycle) -> None:
        """Start LIFE on MACHINE: its busy status and events now, its end after `seconds`.

        With `seconds` None a power change ends at once and a busy status stays.
        """
        system_id = machine["system_id"]
        key = self.plan_key(machine, op)
        self.plans.pop(key, None)  # a new action replaces what was under way
        if life.busy is not None:
            self.change(machine, life.busy)
        if life.start_event is not None:
            self.log.log(machine, "INFO", life.start_event)
        failing = life.failed is not None and self.fails(system_id)
        manual = machine.get("power_type") == "manual"

        def progress() -> None:
            if life.progress is not None:
                self.log.log(machine, "DEBUG", *life.progress)

        def finish() -> None:
            if system_id in self.vanishing:
                if machine in self.sim.machines:
                    self.sim.machines.remove(machine)
                return
            if failing:
                self.change(machine, life.failed or machine["status_name"])
                self.log.log(machine, "ERROR", *life.fail_event)
                return
            if life.done is not None:
                self.change(machine, life.done)
            elif life.busy is not None:
                self.change(machine, self.back_from(machine, op))
            if life.power is not None and not manual:  # MAAS cannot query a manual one
                machine["power_state"] = life.power
            level, kind = life.done_event
            self.log.log(machine, level, kind)

        if self.seconds is None:
            if life.busy is None:
                finish()  # a power change: at once
            return
        now = time.monotonic()
        self.plans[key] = [(now + self.seconds / 2, progress), (now + self.seconds, finish)]

    @staticmethod
    def plan_key(machine: Json, op: str) -> str:
        """Power changes run beside a status change; a new status change replaces the old."""
        return str(machine["system_id"]) + (":power" if op.startswith("power_") else "")

    def back_from(self, machine: Json, op: str) -> str:
        """Where a test or rescue mode ends: the previous status (test: Ready after some)."""
        previous = self.previous.get(machine["system_id"], "Ready")
        if op == "test" and previous in TEST_RESETS:
            return "Ready"
        return previous

    # ---- the ops

    def act(self, call: Call, op: str) -> Reply:
        machine = self.sim.machine(call)
        answer: Json = getattr(self, op)(call, machine)
        return make_reply(200, answer)

    def deploy(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "edit")
        if machine["status_name"] == "Ready":
            if machine["owner"] not in (None, call.user):
                raise conflict("Can't allocate a machine belonging to another user.")
            self.acquire(machine, call)
        if "Deploying" not in TRANSITIONS.get(machine["status_name"], ()):
            raise conflict(
                f"Can't deploy a machine that is in the '{machine['status_name']}' state"
            )
        machine["osystem"] = call.field("osystem") or "ubuntu"
        machine["distro_series"] = call.field("distro_series") or "jammy"
        return self.power_on(call, machine)

    def power_on(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "edit")
        if machine["owner"] is None:
            raise conflict("Can't start node: it hasn't been allocated.")
        if machine["status_name"] == "Allocated":  # MAAS: this start is a deployment
            self.requested(machine, call, REQUESTED["deploy"])
            self.run(machine, "deploy", LIFECYCLES["deploy"])
            return machine
        self.requested(machine, call, REQUESTED["power_on"])
        if machine.get("power_type") != "manual":  # MAAS cannot power a manual machine
            self.run(machine, "power_on", LIFECYCLES["power_on"])
        return machine

    def power_off(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "edit")
        self.requested(machine, call, REQUESTED["power_off"])
        if machine.get("power_type") == "manual":
            # MAAS cannot stop it and sends no power action: the answer is null
            # (NodeHandler.power_off returns None then).
            return None
        self.run(machine, "power_off", LIFECYCLES["power_off"])
        return machine

    def release(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "edit")
        status = machine["status_name"]
        if status in ("Releasing", "Ready"):
            return machine  # MAAS: nothing to do, and no error
        if status not in RELEASABLE:
            raise conflict(f"Machine cannot be released in its current state ('{status}').")
        erase = is_true(call.field("erase"))
        op = "erase" if erase else "release"
        self.requested(machine, call, REQUESTED[op])
        self.run(machine, op, LIFECYCLES[op])
        # MAAS: a machine that is off, or whose power it cannot query, is Ready at once.
        off = machine.get("power_state") == "off" or machine.get("power_type") == "manual"
        if self.seconds is None or (off and not erase):
            self.run_out(machine, op)
        return machine

    def run_out(self, machine: Json, op: str) -> None:
        """End a release at once: Ready, its power off unless MAAS cannot tell."""
        self.plans.pop(self.plan_key(machine, op), None)
        self.change(machine, "Ready")
        if machine.get("power_type") != "manual":
            machine["power_state"] = "off"
        self.log.log(machine, "INFO", LIFECYCLES[op].done_event[1])

    def commission(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "admin")
        if machine["status_name"] not in COMMISSIONABLE:
            message = "Commission is not available because of the current state of the node."
            raise ApiError(400, {"__all__": [message]})
        self.requested(machine, call, REQUESTED["commission"])
        self.run(machine, "commission", LIFECYCLES["commission"])
        return machine

    def test(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "admin")
        if machine["status_name"] not in TESTABLE:
            message = "Test is not available because of the current state of the node."
            raise ApiError(400, {"__all__": [message]})
        self.requested(machine, call, REQUESTED["test"])
        self.run(machine, "test", LIFECYCLES["test"])
        return machine

    def rescue_mode(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "admin")
        self.change(machine, "Entering rescue mode", check=True)
        self.requested(machine, call, REQUESTED["rescue_mode"])
        self.run(machine, "rescue_mode", LIFECYCLES["rescue_mode"])
        return machine

    def exit_rescue_mode(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "admin")
        self.change(machine, "Exiting rescue mode", check=True)
        self.requested(machine, call, REQUESTED["exit_rescue_mode"])
        self.run(machine, "exit_rescue_mode", LIFECYCLES["exit_rescue_mode"])
        return machine

    def abort(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "edit")
        status = machine["status_name"]
        if status not in ABORTS:
            raise conflict(
                f"Cannot abort in current state: node {machine['system_id']} is in state {status}."
            )
        request, event, ended = ABORTS[status]
        self.plans.pop(machine["system_id"], None)
        self.requested(machine, call, request)
        self.log.log(machine, "INFO", event)
        previous = self.previous.get(machine["system_id"], "Ready")
        # testing ends back where it was (Ready after commissioning)
        end = ended or ("Ready" if previous == "Commissioning" else previous)
        if status == "Commissioning":
            machine["owner"] = None

        def settle() -> None:  # MAAS sets the status once the power-off is done
            self.change(machine, end)

        self.plans[machine["system_id"]] = [(time.monotonic() + (self.seconds or 0.0) / 2, settle)]
        return machine

    def lock(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "lock")
        if machine.get("locked"):
            raise conflict("Machine is already locked")
        if machine["status_name"] not in ("Deployed", "Deploying"):
            raise conflict("Can't lock, node is not deployed or deploying")
        machine["locked"] = True
        self.requested(machine, call, REQUESTED["lock"])
        return machine

    def unlock(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "lock")
        if not machine.get("locked"):
            raise conflict("Machine is not locked")
        machine["locked"] = False
        self.requested(machine, call, REQUESTED["unlock"])
        return machine

    def mark_broken(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "edit")
        if machine["owner"] != call.user:
            raise denied()  # MAAS: only the machine's owner may mark it broken
        before = machine["status_name"]
        # (MAAS releases a releasable machine first, in the same request; the
        # previous status it keeps is the one before, as far as its pre-save
        # signal shows: mark_fixed brings a broken deployed machine back Deployed.)
        self.change(machine, "Broken", check=True)
        self.plans.pop(machine["system_id"], None)
        self.requested(machine, call, REQUESTED["mark_broken"])
        machine["owner"] = None
        if before in RELEASABLE and machine.get("power_type") != "manual":
            machine["power_state"] = "off"  # MAAS releases it first, which powers it off
        return machine

    def mark_fixed(self, call: Call, machine: Json) -> Json:
        self.permit(machine, call.user, "admin")
        if machine["status_name"] != "Broken":
            raise conflict("Can't mark a non-broken node as 'Ready'.")
        self.requested(machine, call, REQUESTED["mark_fixed"])
        deployed = self.previous.get(machine["system_id"]) == "Deployed"
        self.change(machine, "Deployed" if deployed else "Ready")
        machine["osystem"], machine["distro_series"] = "", ""
        return machine


def partial_action(timed: TimedActions, op: str) -> Callable[[Call], Reply]:
    return lambda call: timed.act(call, op)


# ---------------------------------------------------------------- boot images

# Uploads of boot resources, kept apart from the rest so that the simulator's
# other sections change independently. Faithful to MAAS 3.4's
# maasserver/api/boot_resources.py, its forms and LargeFile (and, with
# mode = "3.5", to how 3.5+ reports a file that lives on a region's disk).

UPLOAD_PATH = re.compile(
    "^" + re.escape(API_PREFIX) + r"boot-resources/(?P<id>[^/]+)/upload/(?P<file_id>[^/]+)/$"
)
UPLOAD_FILETYPES = {
    "tgz": "root-tgz",
    "tbz": "root-tbz",
    "txz": "root-txz",
    "ddtgz": "root-dd",
    "ddtar": "root-dd.tar",
    "ddraw": "root-dd.raw",
    "ddtbz": "root-dd.tar.bz2",
    "ddtxz": "root-dd.tar.xz",
    "ddbz2": "root-dd.bz2",
    "ddgz": "root-dd.gz",
    "ddxz": "root-dd.xz",
}
USABLE_ARCHITECTURES = ("amd64/generic", "arm64/generic", "i386/generic", "ppc64el/generic")
SUPPORTED_OSYSTEMS = ("centos", "custom", "esxi", "ol", "rhel", "suse", "ubuntu", "windows")
NO_RESOURCE = "No BootResource matches the given query."
NO_FILE = "No BootResourceFile matches the given query."
COPY_BLOCK = 1024 * 1024


class BootImages:
    """Uploaded boot resources, their files and the hidden chunk-upload handler.

    State is kept in DIRECTORY (state.json, and one data file per stored
    copy), so a simulator started again on the same directory carries on
    where the last one stopped; without a directory, a temporary one is used.
    Chunk bodies are streamed to disk, never held whole in memory.

    Faults: `breaks` chunk PUTs (after `let_through` good ones) are cut off
    midway: half the body read, then the connection closed without an
    answer. `chunk_delay` slows each chunk.
    """

    def __init__(self, sim: MaasSimulator, directory: Path | None) -> None:
        self.sim = sim
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="maas-sim-images-")
            directory = Path(self._tmp.name)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.breaks = 0
        self.let_through = 0  # chunk PUTs served before `breaks` start
        self.chunk_delay = 0.0
        self.mode = "3.4"
        self.resources: dict[str, Json] = {}
        self.stored: dict[str, int] = {}  # copy key -> bytes stored
        self.next_id = 1001  # clear of the fixture's ids
        self.load()

    def close(self) -> None:
        """Remove the images' directory if it was a temporary one of our own."""
        if self._tmp is not None:
            self._tmp.cleanup()

    # ---- state on disk

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def load(self) -> None:
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
            self.mode, self.next_id = state["mode"], state["next_id"]
            self.resources = state["resources"]
            self.stored = {key: self.data_path(key).stat().st_size for key in state["stored"]}

    def save(self) -> None:
        state = {
            "mode": self.mode,
            "next_id": self.next_id,
            "resources": self.resources,
            "stored": self.stored,
        }
        self.state_file.write_text(json.dumps(state))

    def clear(self) -> None:
        with self.sim._lock:
            for key in list(self.stored):
                self.data_path(key).unlink(missing_ok=True)
            self.resources.clear()
            self.stored.clear()
            self.next_id = 1001
            self.breaks, self.let_through, self.chunk_delay, self.mode = 0, 0, 0.0, "3.4"
            self.save()

    def data_path(self, key: str) -> Path:
        return self.directory / (key.replace(":", "-") + ".data")

    def copy_key(self, rfile: Json) -> str:
        # 3.4: one LargeFile per sha256, shared by every resource file with
        # it. 3.5+: each resource file has its own record of what is stored.
        return rfile["sha256"] if self.mode == "3.4" else f"{rfile['sha256']}:{rfile['id']}"

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    # ---- JSON as MAAS writes it

    def file_dict(self, resource: Json, rfile: Json) -> Json:
        size, held = rfile["size"], self.stored.get(self.copy_key(rfile), 0)
        data: Json = {
            "filename": rfile["filename"],
            "filetype": rfile["filetype"],
            "sha256": rfile["sha256"],
        }
        if self.mode != "3.4":
            data["filename_on_disk"] = rfile["sha256"][:7]
        data.update(size=size, complete=held == size)
        if held != size:
            if self.mode == "3.4":  # LargeFile.progress
                data["progress"] = size / float(held) if held > 0 else 0
            else:  # BootResourceFile.sync_progress, with one region
                data["progress"] = 100.0 * held / size
            data["upload_uri"] = (
                f"{API_PREFIX}boot-resources/{resource['id']}/upload/{rfile['id']}/"
            )
        return data

    def resource_dict(self, resource: Json, *, with_sets: bool) -> Json:
        data: Json = {
            "id": resource["id"],
            "type": "Uploaded",
            "name": resource["name"],
            "architecture": resource["architecture"],
            "resource_uri": f"{API_PREFIX}boot-resources/{resource['id']}/",
            "last_deployed": None,
            "subarches": resource["architecture"].split("/")[1],
        }
        if resource.get("title") is not None:
            data["title"] = resource["title"]
        if resource.get("base_image"):
            data["base_image"] = resource["base_image"]
        if with_sets:
            data["sets"] = {}
            for version, files in reversed(resource["sets"].items()):
                dicts = [self.file_dict(resource, f) for f in files]
                data["sets"][version] = {
                    "version": version,
                    "label": "uploaded",
                    "size": sum(f["size"] for f in dicts),
                    "complete": all(f["complete"] for f in dicts),
                    "files": {f["filename"]: f for f in dicts},
                }
        return data

    # ---- the API handlers

    def handlers(self) -> dict[tuple[str, str, str | None], Callable[[Call], Reply]]:
        return {
            ("BootResourcesHandler", "GET", None): self.list,
            ("BootResourcesHandler", "POST", None): self.create,
            ("BootResourceHandler", "GET", None): self.read,
            ("BootResourceHandler", "DELETE", None): self.delete,
        }

    def list(self, call: Call) -> Reply:
        kind = first(call.query("type")) or "all"
        types = {"synced": "Synced", "generated": "Generated", "uploaded": "Uploaded"}
        if kind != "all" and kind not in types:
            raise ApiError(
                400,
                f"'{kind}' is not a valid boot resource type. Available types: {list(types)}",
            )
        listing = self.sim.fixture("boot_resources.json")
        listing += [self.resource_dict(r, with_sets=False) for r in self.resources.values()]
        if kind != "all":
            listing = [r for r in listing if r["type"] == types[kind]]
        return make_reply(200, listing)

    def read(self, call: Call) -> Reply:
        resource = self.resources.get(call.params["id"])
        if resource is not None:
            return make_reply(200, self.resource_dict(resource, with_sets=True))
        for entry in self.sim.fixture("boot_resources.json"):
            if str(entry["id"]) == call.params["id"]:
                return make_reply(200, {**entry, "sets": {}})
        raise ApiError(404, NO_RESOURCE)

    def delete(self, call: Call) -> Reply:
        self.require_admin(call.user)
        if self.resources.pop(call.params["id"], None) is None:
            raise ApiError(404, NO_RESOURCE)
        self.save()
        return Reply(204)

    def require_admin(self, user: str | None) -> None:
        if not self.sim.users.get(user or "", {}).get("is_superuser"):
            raise ApiError(403, "You don't have the permission to access this page.")

    def create(self, call: Call) -> Reply:
        self.require_admin(call.user)
        content = call.file("content")
        name, arch, sha256, size = self.checked_create_fields(call, content)
        resource = next(
            (r for r in self.resources.values() if r["name"] == name and r["architecture"] == arch),
            None,
        )
        if resource is None:
            rid = self.new_id()
            resource = {"id": rid, "name": name, "architecture": arch, "sets": {}}
            self.resources[str(rid)] = resource
        resource["title"] = call.field("title") or ""
        resource["base_image"] = resource.get("base_image") or call.field("base_image") or ""
        filetype = UPLOAD_FILETYPES[call.field("filetype") or "tgz"]
        rfile = {"id": self.new_id(), "filename": filetype, "filetype": filetype}
        rfile.update(sha256=sha256, size=size)
        key = self.copy_key(rfile)
        if content is not None:
            self.data_path(key).write_bytes(content)
            self.stored[key] = len(content)
            self.sim.rack_sync.completed(key)  # MAAS schedules the racks' import
        elif key not in self.stored:
            self.data_path(key).write_bytes(b"")
            self.stored[key] = 0
        # LP:1660418: the files of older sets are deleted (keep_old is off).
        resource["sets"] = {version: [] for version in resource["sets"]}
        resource["sets"][self.next_version(resource)] = [rfile]
        self.save()
        return make_reply(201, self.resource_dict(resource, with_sets=True))

    def checked_create_fields(self, call: Call, content: bytes | None) -> tuple[str, str, str, int]:
        errors: dict[str, list[str]] = {}
        required = "This field is required."
        name, arch = call.field("name") or "", call.field("architecture") or ""
        if not name:
            errors["name"] = [required]
        elif "/" in name:
            osystem, release = name.split("/", 1)
            if osystem == "custom":
                name = release
            elif osystem not in SUPPORTED_OSYSTEMS:
                errors["name"] = [
                    f"Unsupport operating system {osystem}, supported operating "
                    f"systems: {list(SUPPORTED_OSYSTEMS)}"
                ]
        if arch not in USABLE_ARCHITECTURES:
            choices = ", ".join(f"'{a}'" for a in USABLE_ARCHITECTURES)
            errors["architecture"] = [
                f"'{arch}' is not a valid architecture.  It should be one of: {choices}."
            ]
        filetype = call.field("filetype") or "tgz"
        if filetype not in UPLOAD_FILETYPES:
            errors["filetype"] = [
                f"Select a valid choice. {filetype} is not one of the available choices."
            ]
        if content is not None:
            sha256, size = hashlib.sha256(content).hexdigest(), len(content)
        else:
            sha256, size_text = call.field("sha256") or "", call.field("size") or ""
            if len(sha256) != 64:
                errors["sha256"] = [
                    required
                    if not sha256
                    else f"Ensure this value has at least 64 characters (it has {len(sha256)})."
                ]
            size = int(size_text) if size_text.isdigit() else -1
            if size < 0:
                errors["size"] = [required if not size_text else "Enter a whole number."]
        if errors:
            raise ApiError(400, errors)
        for resource in self.resources.values():
            for files in resource["sets"].values():
                if any(f["sha256"] == sha256 and f["size"] != size for f in files):
                    raise ApiError(
                        400, "File already exists with sha256 that is of different size."
                    )
        return name, arch, sha256, size

    def next_version(self, resource: Json) -> str:
        today = time.strftime("%Y%m%d", time.gmtime(self.sim.now()))
        version, n = today, 0
        while version in resource["sets"]:
            n += 1
            version = f"{today}.{n}"
        return version

    # ---- the hidden upload handler: PUT boot-resources/ID/upload/FILE_ID/

    def serve(self, handler: _Handler) -> bool:
        """Serve a chunk PUT with its body streamed to disk; False for any other path."""
        parsed = urllib.parse.urlsplit(handler.path)
        match = UPLOAD_PATH.match(parsed.path)
        if match is None:
            return False
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = RecordedRequest(
            method=handler.command,
            path=parsed.path,
            query=urllib.parse.parse_qsl(parsed.query, keep_blank_values=True),
            headers=headers,
            body=b"",
            form=[],
            files=[],
            content_type=headers.get("content-type", ""),
            oauth=parse_oauth_header(headers.get("authorization", "")),
        )
        with self.sim._lock:
            self.sim.requests.append(request)
            cut = self.breaks > 0 and self.let_through <= 0
            self.breaks -= 1 if cut else 0
            self.let_through -= 1
        length = int(headers.get("content-length") or 0)
        if cut:
            handler.rfile.read(length // 2)
            handler.close_connection = True
            return True
        try:
            reply = self.receive(
                handler, request, match.group("id"), match.group("file_id"), length
            )
        except ApiError as error:
            reply = error.reply
        if reply is not None:
            handler.send(reply)
        return True

    def receive(
        self, handler: _Handler, request: RecordedRequest, rid: str, file_id: str, length: int
    ) -> Reply | None:
        # Like MAAS, look at the request only once all of its body has arrived:
        # the body is written after what is stored, and cut off again if the
        # request is refused (MAAS's transaction is rolled back).
        resource = self.resources.get(rid)
        rfile = next(
            (
                f
                for files in (resource or {}).get("sets", {}).values()
                for f in files
                if str(f["id"]) == file_id
            ),
            None,
        )
        if rfile is None:
            handler.rfile.read(length)
            raise ApiError(404, NO_RESOURCE if resource is None else NO_FILE)
        key = self.copy_key(rfile)
        held = self.stored.get(key, 0)
        path = self.data_path(key)
        received = self.write_at(handler, path, held, length)
        try:
            if received != length:
                handler.close_connection = True
                return None  # the client went away
            return self.accept(request, rfile, key, held, length)
        except BaseException:
            self.truncate(path, held)
            raise

    @staticmethod
    def write_at(handler: _Handler, path: Path, offset: int, length: int) -> int:
        received = 0
        with open(path, "r+b" if path.exists() else "w+b") as stream:
            stream.seek(offset)
            while received < length:
                block = handler.rfile.read(min(COPY_BLOCK, length - received))
                if not block:
                    break
                stream.write(block)
                received += len(block)
        return received

    @staticmethod
    def truncate(path: Path, size: int) -> None:
        with open(path, "r+b") as stream:
            stream.truncate(size)

    def accept(
        self, request: RecordedRequest, rfile: Json, key: str, held: int, length: int
    ) -> Reply:
        params = request.oauth
        if params is None or any(not params.get(name) for name in OAUTH_REQUIRED):
            raise ApiError(401, FORBIDDEN)
        self.require_admin(self.sim.verify_oauth(params))
        fault = self.sim.take_fault(request.path)
        if fault is not None:
            raise ApiError(fault.status, fault.body.decode(), fault.headers)
        if request.method != "PUT":
            raise ApiError(405, "Method Not Allowed")
        if self.chunk_delay:
            time.sleep(self.chunk_delay)
        if length == 0:
            raise ApiError(400, "Missing data.")
        total = rfile["size"]
        if held == total:
            raise ApiError(400, "Cannot upload to a complete file.")
        if held + length > total:
            raise ApiError(400, "Too much data received.")
        if held + length == total and self.digest(key) != rfile["sha256"]:
            raise ApiError(400, "Saved content does not match given SHA256 value.")
        with self.sim._lock:
            # The data file's size is the record of what is stored (load()),
            # so state.json is not rewritten for every chunk.
            self.stored[key] = held + length
            if held + length == total:
                self.sim.rack_sync.completed(key)  # MAAS schedules the racks' import
        return Reply(200, b"OK")

    def digest(self, key: str) -> str:
        sha256 = hashlib.sha256()
        with open(self.data_path(key), "rb") as stream:
            while block := stream.read(COPY_BLOCK):
                sha256.update(block)
        return sha256.hexdigest()


# ------------------------------------------------- rack controllers syncing boot images


class RackSync:
    """`GET rackcontrollers/` and `op=list_boot_images`, as MAAS 3.4 answers them.

    MAAS 3.4 (Node.list_boot_images, get_image_sync_status): a connected rack
    answers {"images": [...], "connected": true, "status": ...}, one image per
    name and architecture (a custom image by its bare name, others as
    os/release; the architecture without subarchitecture, which is listed in
    "subarches"); "synced" once the rack holds every boot resource, "syncing"
    while its import runs, "out-of-sync" when it is behind and not importing
    (as just after an upload, before the import MAAS schedules has started).
    A rack the region cannot reach answers {"images": [], "connected": false,
    "status": "unknown"}.

    Timing: an upload that completes at T is "out-of-sync" until T +
    `start_seconds`, "syncing" until T + `sync_seconds`, then held and
    "synced". Both are 0 by default (synced at once). With the boot images'
    mode "3.5", the answer is MAAS 3.5's: every boot resource, always
    "synced". `disconnected` holds the system ids of racks the region cannot
    reach. State is read when a request arrives: nothing runs in the background.
    """

    def __init__(self, sim: MaasSimulator) -> None:
        self.sim = sim
        self.template: Json = sim.fixture("rack_controllers.json")[0]
        self.reset()

    def reset(self) -> None:
        self.racks: list[Json] = [dict(self.template)]
        self.start_seconds = 0.0
        self.sync_seconds = 0.0
        self.disconnected: set[str] = set()
        self.completed_at: dict[str, float] = {}  # copy key -> when its upload completed

    def set_racks(self, n: int) -> None:
        """N rack controllers (rack-0, rack-1, ...), cloned from the fixture's."""
        self.racks = [
            {**self.template, "system_id": f"rack{i:02d}", "hostname": f"rack-{i}"}
            for i in range(n)
        ]

    def completed(self, key: str) -> None:
        self.completed_at[key] = time.monotonic()

    def handlers(self) -> dict[tuple[str, str, str | None], Callable[[Call], Reply]]:
        return {
            ("RackControllersHandler", "GET", None): lambda c: make_reply(200, self.racks),
            ("RackControllerHandler", "GET", "list_boot_images"): self.list_boot_images,
        }

    def list_boot_images(self, call: Call) -> Reply:
        system_id = call.params.get("system_id")
        if not any(rack["system_id"] == system_id for rack in self.racks):
            raise ApiError(404, "No RackController matches the given query.")
        if system_id in self.disconnected:
            return make_reply(200, {"images": [], "connected": False, "status": "unknown"})
        now, status = time.monotonic(), "synced"
        images: dict[tuple[str, str], set[str]] = {}
        for entry in self.sim.fixture("boot_resources.json"):
            self.add_image(images, entry["name"], entry["architecture"])
        for resource in self.sim.boot_images.resources.values():
            # 3.5+: racks hold no images; the answer lists every resource as synced.
            state = self.state_of(resource, now) if self.sim.boot_images.mode == "3.4" else "synced"
            if state == "synced":
                self.add_image(images, resource["name"], resource["architecture"])
            elif state is not None and status != "syncing":
                status = state
        listed = [
            {"name": name, "architecture": arch, "subarches": sorted(subarches)}
            for (name, arch), subarches in images.items()
        ]
        return make_reply(200, {"images": listed, "connected": True, "status": status})

    def state_of(self, resource: Json, now: float) -> str | None:
        """synced, syncing or out-of-sync for a complete upload; None while incomplete."""
        sets = resource["sets"]
        files = sets[sorted(sets)[-1]] if sets else []
        boot = self.sim.boot_images
        keys = [boot.copy_key(f) for f in files]
        if not files or any(boot.stored.get(k, 0) != f["size"] for k, f in zip(keys, files)):
            return None
        since = max(self.completed_at.get(k, 0.0) for k in keys)
        if now >= since + max(self.sync_seconds, self.start_seconds):
            return "synced"
        return "out-of-sync" if now < since + self.start_seconds else "syncing"

    @staticmethod
    def add_image(images: dict[tuple[str, str], set[str]], name: str, architecture: str) -> None:
        arch, _, subarch = architecture.partition("/")
        images.setdefault((name, arch), set()).add(subarch or "generic")


# ---------------------------------------------------------------- fabrics and VLANs
#
# MAAS 3.4's maasserver/api/fabrics.py and vlans.py: a VLAN is reached by its
# fabric and VID (fabrics/{fabric_id}/vlans/{vid}/, in the description) or by
# its id (vlans/{vlan_id}/, its resource_uri, not in the description). A
# fabric's default VLAN is its first (lowest id) and is always named
# "untagged"; another VLAN without a name is named after its VID. A VLAN's
# description is stored but not shown, as in MAAS.

NO_FABRIC = "No Fabric matches the given query."
NO_VLAN = "No VLAN matches the given query."
NO_VLAN_ID = "VLAN with specified ID does not exist."
VID_RANGE = "VLAN tag (VID) out of range (0-4094; 0 for untagged.)"


class Fabrics:
    """Fabrics and their VLANs, seeded from the fixture of fabrics/."""

    def __init__(self, sim: MaasSimulator) -> None:
        self.sim = sim
        self.fabrics: list[Json] = []
        self.vlans: dict[int, Json] = {}  # id -> the VLAN as stored (raw name, description)
        for fabric in sim.fixture("fabrics.json"):
            vlans = fabric.pop("vlans")
            self.fabrics.append(fabric)
            for vlan in vlans:
                stored = {**vlan, "description": ""}
                if stored["vid"] == 0 or stored["name"] == str(stored["vid"]):
                    stored["name"] = None  # the fixture shows generated names
                self.vlans[vlan["id"]] = stored

    def handlers(self) -> dict[tuple[str, str, str | None], Callable[[Call], Reply]]:
        return {
            ("FabricsHandler", "GET", None): lambda c: make_reply(
                200, [self.fabric_json(f) for f in self.fabrics]
            ),
            ("FabricHandler", "GET", None): lambda c: make_reply(
                200, self.fabric_json(self.fabric(c.params["id"]))
            ),
            ("VlansHandler", "GET", None): self.vlans_read,
            ("VlansHandler", "POST", None): self.vlan_create,
            ("VlanHandler", "GET", None): lambda c: make_reply(200, self.vlan_json(self.vlan(c))),
            ("VlanHandler", "PUT", None): self.vlan_update,
            ("VlanHandler", "DELETE", None): self.vlan_delete,
        }

    # ---- lookups

    def fabric(self, specifier: str) -> Json:
        """A fabric by id or name (MAAS's specifiers, reduced to these two)."""
        for fabric in self.fabrics:
            if specifier in (str(fabric["id"]), fabric["name"]):
                return fabric
        raise ApiError(404, NO_FABRIC)

    def of_fabric(self, fabric: Json) -> list[Json]:
        return sorted(
            (v for v in self.vlans.values() if v["fabric_id"] == fabric["id"]),
            key=lambda v: v["id"],
        )

    def vlan(self, call: Call) -> Json:
        vlan_id = call.params.get("vlan_id")
        if vlan_id is not None:
            # (an id that is not a number fails MAAS's own lookup, most likely a 500)
            vlan = self.vlans.get(int(vlan_id)) if vlan_id.isdigit() else None
            if vlan is None:
                raise ApiError(404, NO_VLAN_ID)
            return vlan
        vlans = self.of_fabric(self.fabric(call.params["fabric_id"]))
        specifier = call.params["vid"]
        if specifier.isdigit() or specifier == "untagged":
            vid = 0 if specifier == "untagged" else int(specifier)
            if vid > 4094:
                raise ApiError(400, VID_RANGE)
            found = [v for v in vlans if v["vid"] == vid]
        else:
            found = [v for v in vlans if self.name_of(v) == specifier]
        if not found:
            raise ApiError(404, NO_VLAN)
        return found[0]

    def is_default(self, vlan: Json) -> bool:
        ids = [v["id"] for v in self.vlans.values() if v["fabric_id"] == vlan["fabric_id"]]
        return bool(vlan["id"] == min(ids))

    def name_of(self, vlan: Json) -> str:
        if self.is_default(vlan):
            return "untagged"
        return str(vlan["name"]) if vlan["name"] is not None else str(vlan["vid"])

    # ---- JSON as MAAS writes it

    def vlan_json(self, vlan: Json) -> Json:
        fabric = next(f for f in self.fabrics if f["id"] == vlan["fabric_id"])
        shown = {k: v for k, v in vlan.items() if k != "description"}
        shown.update(name=self.name_of(vlan), fabric=fabric["name"])
        shown["resource_uri"] = f"{API_PREFIX}vlans/{vlan['id']}/"
        return shown

    def fabric_json(self, fabric: Json) -> Json:
        return {**fabric, "vlans": [self.vlan_json(v) for v in self.of_fabric(fabric)]}

    # ---- handlers

    def vlans_read(self, call: Call) -> Reply:
        fabric = self.fabric(call.params["fabric_id"])
        return make_reply(200, [self.vlan_json(v) for v in self.of_fabric(fabric)])

    def require_admin(self, call: Call) -> None:
        if not self.sim.is_admin(call.user):
            raise ApiError(403, "")  # Django's PermissionDenied(): no text

    def vlan_update(self, call: Call) -> Reply:
        vlan = self.vlan(call)
        self.require_admin(call)
        changes = self.checked(call, vlan)
        vlan.update(changes)
        return make_reply(200, self.vlan_json(vlan))

    def vlan_create(self, call: Call) -> Reply:
        fabric = self.fabric(call.params["fabric_id"])
        self.require_admin(call)
        text = call.field("vid")
        if not text:
            raise ApiError(400, {"vid": ["This field is required."]})
        if not text.lstrip("-").isdigit():
            raise ApiError(400, {"vid": ["Enter a whole number."]})
        vid = int(text)
        if not 0 <= vid <= 4094:
            raise ApiError(400, {"vid": ["VID must be between 0 and 4094."]})
        if any(v["vid"] == vid for v in self.of_fabric(fabric)):
            message = "A VLAN with the specified VID already exists in the destination fabric."
            raise ApiError(400, {"__all__": [message]})
        vlan_id = max(self.vlans, default=5000) + 1
        vlan: Json = {
            "vid": vid,
            "mtu": 1500,
            "dhcp_on": False,
            "external_dhcp": None,
            "relay_vlan": None,
            "fabric": fabric["name"],
            "secondary_rack": None,
            "fabric_id": fabric["id"],
            "name": None,
            "primary_rack": None,
            "id": vlan_id,
            "space": "undefined",
            "description": "",
        }
        vlan.update(self.checked(call, vlan))
        self.vlans[vlan_id] = vlan
        return make_reply(200, self.vlan_json(vlan))

    def checked(self, call: Call, vlan: Json) -> Json:
        """The fields of a VLAN form, checked as MAAS's VLANForm and VLAN.clean do."""
        changes: Json = {}
        errors: dict[str, list[str]] = {}
        for key, value in call.request.form:
            if key == "name":
                changes[key] = value or None
            elif key == "description":
                changes[key] = value
            elif key == "mtu":
                if not value.strip().lstrip("-").isdigit():
                    errors[key] = ["Enter a whole number."]
                elif not 552 <= int(value) <= 65535:
                    errors[key] = ["MTU must be between 552 and 65535."]
                else:
                    changes[key] = int(value)
            elif key == "dhcp_on":
                changes[key] = is_true(value)
            elif key in ("primary_rack", "secondary_rack"):
                changes[key] = value or None
            elif key == "space":
                changes[key] = "undefined" if value in ("", "undefined") else value
        if errors:
            raise ApiError(400, errors)
        return changes

    def vlan_delete(self, call: Call) -> Reply:
        vlan = self.vlan(call)
        self.require_admin(call)
        if self.is_default(vlan):
            raise ApiError(
                400, "This VLAN is the default VLAN in the fabric, it cannot be deleted."
            )
        del self.vlans[vlan["id"]]
        return Reply(204)


# ---------------------------------------------------------------- standalone


def main(argv: list[str] | None = None) -> None:
    """Serve a simulated region until Ctrl-C or SIGTERM; its URL and keys on stdout."""
    parser = argparse.ArgumentParser(description="Serve a simulated MAAS region API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--seed", help="draw the region from this seed (same seed, same data)")
    parser.add_argument(
        "--action-seconds",
        type=float,
        default=STANDALONE_ACTION_SECONDS,
        help="machine actions finish after this long (default %(default)s)",
    )
    parser.add_argument("--fail-share", type=float, default=0.0, help="share of machines failing")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help=f"{DEFAULT_USER}'s password")
    parser.add_argument("--https-cert")
    parser.add_argument("--https-key")
    parser.add_argument("--boot-images-dir", help="keep uploaded boot images here across runs")
    parser.add_argument("--racks", type=int, help="rack controllers (default: the fixture's one)")
    parser.add_argument(
        "--rack-sync-seconds", type=float, default=0.0, help="racks sync an upload after this long"
    )
    parser.add_argument(
        "--v3",
        metavar="VERSION",
        help="serve the v3 API too (3.7.3 or 3.8.0a1; simulator_v3.py)",
    )
    args = parser.parse_args(argv)
    context = None
    if args.https_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.https_cert, args.https_key)
    images = Path(args.boot_images_dir) if args.boot_images_dir else None
    try:
        sim = MaasSimulator(
            machines=args.machines,
            seed=args.seed,
            action_seconds=args.action_seconds,
            fail_share=args.fail_share,
            password=args.password,
            ssl_context=context,
            host=args.host,
            port=args.port,
            boot_images_dir=images,
        )
    except OSError as error:
        parser.exit(1, f"cannot listen on {args.host}:{args.port}: {error.strerror or error}\n")
    sim.timed.import_seconds = args.action_seconds
    if args.racks is not None:
        sim.rack_sync.set_racks(args.racks)
    sim.rack_sync.sync_seconds = args.rack_sync_seconds
    if args.v3:
        from maascurl.sandbox.simulator_v3 import V3Api

        sim.mount_v3(V3Api(args.v3, machines=args.machines, password=args.password))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    sim.start()
    try:
        for line in (
            f"url={sim.url}",
            f"api_key={sim.api_key}",
            f"username={DEFAULT_USER}",
            f"password={sim.password}",
        ):
            print(line, flush=True)
        print(
            f"MAAS simulator at {sim.url} ({len(sim.machines)} machines); "
            "Ctrl-C or SIGTERM stops it",
            file=sys.stderr,
            flush=True,
        )
        stopping.wait()
    except BrokenPipeError:
        pass  # whoever read our stdout has gone: stop as well
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
