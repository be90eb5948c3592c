"""A fake MAAS API v3 (maasapiserver) for tests, benchmarks and the sandbox.

What it serves
--------------
The FastAPI service a MAAS 3.5+ region runs behind ``/MAAS/a/``, answering from
in-memory state and driven by the OpenAPI documents in ``data/v3/``
(``openapi-3.7.3.json``, ``openapi-3.8.0a1.json``, made by
``scripts/make_v3_fixtures.py``):

- ``GET /MAAS/a/openapi.json``: the fixture document of the configured version.
- ``POST /MAAS/a/v3/auth/login`` with a form body (``username``, ``password``)
  returns ``{"token_type": "bearer", "access_token": JWT, "kind": "AccessToken"}``
  (3.7.3) or ``{"kind": "Tokens", "token_type": "bearer", "access_token": JWT,
  "refresh_token": HEX}`` (3.8).  The JWT is HS256, signed by the simulator,
  ``iss`` "MAAS", ``aud`` "api", ``sub`` the username, ``user_id``, ``iat``,
  ``exp`` (3.7.3 adds ``roles``) and lasts ``token_lifetime`` (600 s).
- ``GET /MAAS/a/v3/auth/access_token`` with a valid token returns a fresh one.
  3.8: a request whose bearer token no longer verifies is still served when it
  carries the cookie ``maas.local_refresh_token_cookie=REFRESH``; the answer
  then sets ``maas.local_jwt_token_cookie`` to a new JWT (that is MAAS 3.8's
  only use of the refresh token).  ``POST /auth/logout`` revokes the cookie's
  refresh token.
- Every operation the document marks as secured needs ``Authorization: Bearer
  JWT``: none gives 401 ``NotAuthenticatedViolation``, a token that does not
  verify (signature, ``exp``, ``aud``) 401 ``InvalidTokenViolation``, one that
  does not decode or names another issuer 400.  Writes (and listing users)
  need an admin, else 403 ``MissingPermissionViolation``; ``/users/me...``,
  ``/auth/...``, operations and ``:dismiss`` are for every user.
- Collections, found in the document by shape (a GET answering a page, POST
  beside it, GET/PUT/PATCH/DELETE on ``.../{id}``): pages ``?page=N&size=M``
  (size 1-1000, default 20; newest id first) answer ``{items, total, next,
  kind}`` with ``next`` = ``/MAAS/a/v3/PATH?page=N+1&size=M`` plus the
  operation's filters, absent on the last page (a page below 1 is MAAS's 500:
  PostgreSQL refuses a negative OFFSET).  POST/PUT bodies must be JSON
  and are validated against the request schema (required fields, types,
  enums, bounds, formats) -> 422.  Single objects carry an ``ETag`` (bare
  sha256 hex); DELETE (and a PUT whose operation declares it) honours
  ``If-Match`` -> 412 ``EtagPreconditionViolation``; unknown ids -> 404; a
  second object with the same name (username, vid, cidr, key) -> 409; the
  default zone, fabric, VLANs, domain, pool and package repositories -> 400;
  creating under a parent that does not exist -> 404.
  Seeded: zones, resource pools, fabrics with VLANs, a subnet, spaces, tags,
  domains, package repositories, users, notifications (``only_active``,
  ``:dismiss``), SSH keys of the admin, events (``system_id`` filter) and
  machines (read-only list).  Any other collection in the document starts
  empty and works the same way; ``fill()`` adds generated objects to any.
  ``..._with_summary`` and ``...:statistics`` lists show their base
  collection.  ``GET /users/me`` answers the caller.
- 3.8: the operations API: ``GET /operations`` (``status``, ``op_type``,
  ``is_bulk`` filters), ``GET /operations/{uuid}``, ``.../tasks``, and
  ``DELETE /operations/{uuid}`` (202, CANCELLING; 409 once finished).
  ``add_operation()`` makes one (e.g. the v2 deploy the sandbox runs).
- Errors are MAAS's envelope ``{code, message, details, kind: "Error"}``
  (3.7.3 key order; 3.8 puts ``kind`` first), details ``[{type, message,
  field, location}]`` or null.  3.7.3 validation details name no field
  (``field``/``location`` null, pydantic 1 types such as
  ``value_error.missing``); 3.8 gives ``location`` ("body", "query", ...) and
  ``field`` (pydantic 2 types such as ``missing``).  An unknown route answers
  FastAPI's ``{"detail": "Not Found"}``, a known route with another method
  405 ``{"detail": "Method Not Allowed"}``; a path with a trailing slash is
  redirected (307) to the one without.
- Operations of the document the simulator does not model answer 501 with the
  envelope, so a test never mistakes them for MAAS's behaviour.

Public API
----------
``V3Api(version="3.7.3", *, seed=0, machines=50, events=120, zones=5,
token_lifetime=600.0, refresh_lifetime=2592000.0, username="admin",
password=DEFAULT_PASSWORD)`` is the dispatcher, with no sockets:
``api.handle(method, target, headers, body) -> V3Reply`` (``target`` is the
path with its query string, ``headers`` any mapping, ``body`` bytes;
``V3Reply`` has ``status``, ``body``, ``content_type``, ``headers``,
``cookies`` (Set-Cookie values), ``delay``, ``truncate``, ``json()``).
Attributes and helpers:

- ``requests``: a ``V3Request`` per request (method, path, query, headers,
  body, received, user); ``crashes``: tracebacks of requests the simulator
  failed on (answered 500 with the envelope, as MAAS does).
- Clock: ``now()`` = ``base_clock()`` + ``clock_offset``; ``advance(s)``.
  Tokens expire ``token_lifetime`` seconds after issue by that clock.
- Users and tokens: ``add_user(name, password, admin=False) -> id``,
  ``set_active(name, bool)``, ``issue_token(name) -> JWT``,
  ``add_session(key, name)`` (3.7.3 authenticates a ``sessionid`` cookie
  before any bearer token: an unknown one is 401 even beside a good token),
  ``issue_refresh_token(name) -> str`` (3.8), ``rotate_key()`` (every token
  stops verifying), ``decode(jwt) -> claims``.
- Data: ``objects(path) -> list`` (rendered, id order; ``path`` as in the
  document without the prefix, e.g. ``"/zones"``, or concrete
  ``"/fabrics/0/vlans"``), ``fill(path, n, **parents) -> ids``,
  ``etag(path, id)``, ``add_operation(...) -> uuid`` (3.8).
- Faults: ``queue(status, body=None, headers=None, *, path=None, count=1,
  delay=0.0, truncate=None)`` answers the next COUNT requests under PATH
  (absolute, or relative to ``/MAAS/a/v3/``) with that status (body: the
  envelope for it) before anything else; ``slow(path, seconds)``;
  ``reset_faults()``.

``V3Simulator(api=None, *, host="127.0.0.1", port=0, ssl_context=None,
**V3Api options)`` serves one ``V3Api`` over HTTP/1.1 (keep-alive, chunked
bodies): a context manager (or ``start()``/``stop()``) with ``url``
(``http://127.0.0.1:PORT/MAAS``), ``v3_url`` (``.../MAAS/a/v3/``),
``openapi_url`` and ``api``.

Mounting beside the v2 simulator: ``MaasSimulator(v3=V3Api(...))`` (or
``sim.mount_v3(api)``) routes every ``/MAAS/a/...`` request to ``api.handle``
and shares the v2 simulator's clock (``api.base_clock = sim.now``).  Without
it, the v2 simulator answers 404 under ``/MAAS/a/``, as a 3.4 region (no v3)
does.  ``python3 -m maascurl.sandbox.simulator --v3 3.7.3`` runs the pair
standalone, and ``maascurl sandbox`` serves the pair (3.7.3).

Standard library only (no other maascurl module).  Run it standalone with:

    python3 -m maascurl.sandbox.simulator_v3 [--port N] [--version 3.8.0a1] [--machines N]
"""

from __future__ import annotations

import argparse
import base64
import email.message
import email.utils
import hashlib
import hmac
import ipaddress
import json
import random
import re
import ssl
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from maascurl.sandbox.served import REASONS, QuietServer, Served

FIXTURES = Path(__file__).resolve().parent / "data" / "v3"
VERSIONS = ("3.7.3", "3.8.0a1")
MOUNT = "/MAAS/a/"  # everything maasapiserver answers
OPENAPI_PATH = "/MAAS/a/openapi.json"
V3_PREFIX = "/MAAS/a/v3"
JSON_TYPE = "application/json"

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "correct horse battery staple"  # the v2 simulator's too
TOKEN_LIFETIME = 600.0  # JWT.TOKEN_DURATION: 10 minutes
REFRESH_LIFETIME = 30 * 86400.0  # refresh_token_duration's default (3.8)
JWT_ISSUER, JWT_AUDIENCE = "MAAS", "api"
REFRESH_COOKIE = "maas.local_refresh_token_cookie"
JWT_COOKIE = "maas.local_jwt_token_cookie"
SESSION_COOKIE = "sessionid"
BASE_TIME = 1735689600.0  # 2025-01-01T00:00:00Z: seeded objects date from here
PAGE_DEFAULT, SIZE_DEFAULT, SIZE_MAX = 1, 20, 1000

# Violation types (maasservicelayer.exceptions.constants).
INVALID_CREDENTIALS = "UnexistingUserOrInvalidCredentialsViolation"
INVALID_TOKEN = "InvalidTokenViolation"
MISSING_PERMISSIONS = "MissingPermissionViolation"
NOT_AUTHENTICATED = "NotAuthenticatedViolation"
UNIQUE_CONSTRAINT = "UniqueConstraintViolation"
ETAG_PRECONDITION = "EtagPreconditionViolation"
CONFLICT_VIOLATION = "ConflictViolation"
NOT_SIMULATED = "NotSimulated"  # the simulator's own, for operations it does not model

# Default messages of MAAS's error bodies (maasapiserver's responses/errors.py).
ERROR_MESSAGES = {
    400: "Bad request.",
    401: "Unauthorized.",
    403: "Forbidden.",
    404: "Entity not found.",
    409: "The request could not be completed due to a conflict with an existing resource.",
    412: "A precondition has failed.",
    422: "Failed to validate the request.",
    500: "Unexpected internal server error. Please check the server logs for more details.",
    501: "Not implemented by the simulator.",
    503: "The service is not available. Please check the server logs for more details.",
}

# Objects MAAS refuses to delete: collection -> id -> (violation type, message).
PROTECTED: dict[str, dict[int, tuple[str, str]]] = {
    "/zones": {1: ("CannotDeleteDefaultZoneViolation", "The default zone can not be deleted.")},
    "/fabrics": {
        0: ("CannotDeleteDefaultFabricViolation", "The default Fabric (id=0) cannot be deleted.")
    },
    "/domains": {
        0: ("CannotDeleteDefaultDomainViolation", "The default domain cannot be deleted.")
    },
    "/resource_pools": {
        0: (
            "CannotDeleteDefaultResourcePoolViolation",
            "The default resource pool cannot be deleted.",
        )
    },
    "/package_repositories": {
        i: (
            "CannotDeleteDefaultPackageRepositoryViolation",
            "Default package repositories cannot be deleted.",
        )
        for i in (1, 2)
    },
}
VLANS = "/fabrics/{fabric_id}/vlans"
SUBNETS = "/fabrics/{fabric_id}/vlans/{vlan_id}/subnets"
# Fields that must be unique (within the parent) where the name is not "name".
UNIQUE: dict[str, tuple[str, ...]] = {
    "/users": ("username",),
    VLANS: ("vid",),
    SUBNETS: ("cidr",),
    "/users/me/sshkeys": ("key",),
}
# Request field -> response field, where MAAS renames.
RENAMES: dict[str, dict[str, str]] = {
    VLANS: {
        "primary_rack_id": "primary_rack",
        "secondary_rack_id": "secondary_rack",
    },
    "/notifications": {"for_users": "users", "for_admins": "admins"},
}
# Who may call what: reads need a user, writes an admin, except these.
ADMIN_READS = {
    "list_users",
    "list_users_with_summary",
    "list_users_statistics",
    "get_machine_power_parameters",
}
USER_WRITABLE = ("/users/me", "/auth/", "/operations")
USER_WRITES = {"dismiss_notification"}
# Query filters MAAS does not repeat in `next` (operationId -> names).
NOT_CARRIED = {"list_notifications": {"only_active"}}
VIEW_SUFFIXES = ("_with_summary", ":statistics")

ADJECTIVES = ("amber", "brisk", "calm", "deft", "eager", "fair", "glad", "hale")
ANIMALS = ("otter", "heron", "lynx", "stoat", "finch", "koala", "moose", "quail")
EVENT_TYPES = (
    ("NODE_POWERED_ON", "Node powered on", "DEBUG"),
    ("NODE_POWERED_OFF", "Node powered off", "DEBUG"),
    ("DEPLOYING", "Deploying", "INFO"),
    ("DEPLOYED", "Deployed", "INFO"),
    ("NODE_FAILED", "Failed", "ERROR"),
    ("REQUEST_NODE_START_DEPLOYMENT", "Start deployment", "AUDIT"),
)

Json = Any
_MISSING = object()


def iso(timestamp: float) -> str:
    """A timestamp as pydantic writes an aware datetime."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact(data: Json) -> bytes:
    """JSON as Starlette's JSONResponse renders it."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def machine_hostname(i: int) -> str:
    """The v2 simulator's naming, so that a mounted pair agrees."""
    name = f"{ADJECTIVES[i % 8]}-{ANIMALS[(i // 8) % 8]}"
    return name if i < 64 else f"{name}-{i // 64}"


def template_regex(template: str) -> re.Pattern[str]:
    pieces = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(piece) if i % 2 == 0 else f"(?P<{piece}>[^/]+)" for i, piece in enumerate(pieces)
    )
    return re.compile(pattern + r"\Z")


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# ---------------------------------------------------------------- requests and replies


@dataclass
class V3Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    received: float = 0.0  # time.monotonic() when it was handled
    user: str | None = None  # who the bearer token (or session) says


@dataclass
class V3Reply:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the server waits before answering
    truncate: int | None = None  # send only this many body bytes, then close
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values

    def json(self) -> Json:
        return json.loads(self.body)


class V3Error(Exception):
    """An answer other than success, raised from anywhere in a request's handling."""

    def __init__(self, reply: V3Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class Fault:
    status: int
    body: bytes | None
    headers: dict[str, str]
    path: str | None
    count: int
    delay: float
    truncate: int | None


@dataclass
class Caller:
    user_id: int
    username: str
    admin: bool


@dataclass
class Problem:
    """One validation error, before it is worded the way a pydantic version words it."""

    kind: str
    loc: tuple[str | int, ...]
    limit: Json = None
    words: tuple[str, str] | None = None  # (type, message) when not from the tables


# pydantic 1 (MAAS 3.7, FastAPI 0.101) and pydantic 2 (MAAS 3.8) wording.
V1_WORDS: dict[str, tuple[str, str]] = {
    "missing": ("value_error.missing", "field required"),
    "model": ("type_error.dict", "value is not a valid dict"),
    "dict": ("type_error.dict", "value is not a valid dict"),
    "list": ("type_error.list", "value is not a valid list"),
    "str": ("type_error.str", "str type expected"),
    "int": ("type_error.integer", "value is not a valid integer"),
    "int_parsing": ("type_error.integer", "value is not a valid integer"),
    "int_from_float": ("type_error.integer", "value is not a valid integer"),
    "float": ("type_error.float", "value is not a valid float"),
    "bool": ("type_error.bool", "value could not be parsed to a boolean"),
    "bool_parsing": ("type_error.bool", "value could not be parsed to a boolean"),
    "none": ("type_error.none.not_allowed", "none is not an allowed value"),
    "ge": ("value_error.number.not_ge", "ensure this value is greater than or equal to {}"),
    "le": ("value_error.number.not_le", "ensure this value is less than or equal to {}"),
    "min_length": (
        "value_error.any_str.min_length",
        "ensure this value has at least {} characters",
    ),
    "max_length": ("value_error.any_str.max_length", "ensure this value has at most {} characters"),
    "pattern": ("value_error.str.regex", 'string does not match regex "{}"'),
    "ip_address": ("value_error.ipvanyaddress", "value is not a valid IPv4 or IPv6 address"),
    "ip_network": ("value_error.ipvanynetwork", "value is not a valid IPv4 or IPv6 network"),
}
V2_WORDS: dict[str, tuple[str, str]] = {
    "missing": ("missing", "Field required"),
    "model": (
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    ),
    "dict": ("dict_type", "Input should be a valid dictionary"),
    "list": ("list_type", "Input should be a valid list"),
    "str": ("string_type", "Input should be a valid string"),
    "int": ("int_type", "Input should be a valid integer"),
    "int_parsing": (
        "int_parsing",
        "Input should be a valid integer, unable to parse string as an integer",
    ),
    "int_from_float": (
        "int_from_float",
        "Input should be a valid integer, got a number with a fractional part",
    ),
    "float": ("float_type", "Input should be a valid number"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "bool_parsing": ("bool_parsing", "Input should be a valid boolean, unable to interpret input"),
    "none": ("none_required", "Input should be None"),
    "ge": ("greater_than_equal", "Input should be greater than or equal to {}"),
    "le": ("less_than_equal", "Input should be less than or equal to {}"),
    "min_length": ("string_too_short", "String should have at least {}"),
    "max_length": ("string_too_long", "String should have at most {}"),
    "pattern": ("string_pattern_mismatch", "String should match pattern '{}'"),
    "ip_address": ("ip_any_address", "value is not a valid IPv4 or IPv6 address"),
    "ip_network": ("ip_any_network", "value is not a valid IPv4 or IPv6 network"),
}
TRUE_WORDS = {"1", "on", "t", "true", "y", "yes"}
FALSE_WORDS = {"0", "off", "f", "false", "n", "no"}


# ---------------------------------------------------------------- the document


@dataclass
class Operation:
    method: str
    template: str  # as in the document, with the /MAAS/a/v3 prefix
    regex: re.Pattern[str]
    spec: Json
    op_id: str
    secured: bool
    success: int
    body_schema: Json | None  # the requestBody schema (a $ref) or None
    body_media: str | None
    action: str | None = None  # list, create, get, update, delete (generic engine)
    collection: Collection | None = None
    view: str | None = None  # item schema of a *_with_summary / :statistics list


@dataclass
class Entry:
    id: Any
    parents: tuple[Any, ...]
    data: dict[str, Json]
    owner: str | None = None  # for collections under /users/me
    etag: str = ""


@dataclass
class Collection:
    """One kind of object, e.g. "/fabrics/{fabric_id}/vlans" (paths without the prefix)."""

    path: str
    schema: str  # the item response schema's name
    params: tuple[str, ...]  # parent path parameters
    unique: tuple[str, ...]
    entries: dict[tuple[Any, ...], Entry] = field(default_factory=dict)
    next_id: int = 1

    @property
    def scoped(self) -> bool:
        return self.path.startswith("/users/me/")

    def concrete(self, parents: tuple[Any, ...]) -> str:
        path = self.path
        for name, value in zip(self.params, parents):
            path = path.replace("{" + name + "}", str(value))
        return path

    def select(self, parents: tuple[Any, ...], owner: str | None) -> list[Entry]:
        return [
            e
            for e in self.entries.values()
            if e.parents == parents and (not self.scoped or e.owner == owner)
        ]


# ---------------------------------------------------------------- the dispatcher


class V3Api:
    """MAAS's API v3 from in-memory state; see the module docstring."""

    def __init__(
        self,
        version: str = "3.7.3",
        *,
        seed: int = 0,
        machines: int = 50,
        events: int = 120,
        zones: int = 5,
        token_lifetime: float = TOKEN_LIFETIME,
        refresh_lifetime: float = REFRESH_LIFETIME,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, not {version!r}")
        self.version = version
        self.v38 = version != "3.7.3"
        self.words = V2_WORDS if self.v38 else V1_WORDS
        self.openapi_bytes = (FIXTURES / f"openapi-{version}.json").read_bytes()
        self.doc: Json = json.loads(self.openapi_bytes)
        self.schemas: dict[str, Json] = self.doc["components"]["schemas"]
        self.token_lifetime = token_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.base_clock: Callable[[], float] = time.time
        self.clock_offset = 0.0
        self.requests: list[V3Request] = []
        self.crashes: list[str] = []  # tracebacks of requests that raised (answered 500)
        self.rng = random.Random(seed)
        self.key = hashlib.sha256(f"maas-v3-simulator:{seed}".encode()).hexdigest()
        self._key_generation = 0
        self._revision = 0
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._delays: dict[str, float] = {}
        self.refresh_tokens: dict[str, tuple[int, float]] = {}  # sha256 -> (user id, expiry)
        self.sessions: dict[str, int] = {}  # Django session key -> user id (3.7.3)
        self.dismissed: set[tuple[int, int]] = set()  # (notification id, user id)
        self.operations: dict[str, dict[str, Json]] = {}
        self.tasks: dict[str, list[dict[str, Json]]] = {}
        self.operations_list: list[Operation] = []
        self.collections: dict[str, Collection] = {}
        self._load_operations()
        self._special: dict[str, Callable[[Operation, Call], V3Reply]] = {
            "login": self._login,
            "access_token": self._access_token,
            "get_access_token": self._access_token,
            "logout": self._logout,
            "pre_login": self._pre_login,
            "get_user_info": self._me,
            "list_notifications": self._list_notifications,
            "dismiss_notification": self._dismiss_notification,
            "list_operations": self._list_operations,
            "get_operation": self._get_operation,
            "get_operation_tasks": self._operation_tasks,
            "cancel_operation": self._cancel_operation,
        }
        self._seed(username, password, machines=machines, events=events, zones=zones)

    # ---- the document

    def _load_operations(self) -> None:
        for template, item in self.doc["paths"].items():
            for method, spec in item.items():
                if method == "parameters":
                    continue
                body = spec.get("requestBody", {}).get("content", {})
                media = next(iter(body), None)
                statuses = [int(s) for s in spec.get("responses", {}) if s.isdigit()]
                success = next((s for s in statuses if 200 <= s < 300), 200)
                self.operations_list.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        regex=template_regex(template),
                        spec=spec,
                        op_id=spec.get("operationId", ""),
                        secured=bool(spec.get("security")),
                        success=201 if 201 in statuses else success,
                        body_schema=body[media].get("schema") if media else None,
                        body_media=media,
                    )
                )
        v3 = [op for op in self.operations_list if op.template.startswith(V3_PREFIX + "/")]
        for op in v3:  # lists first: they define the collections
            rel = op.template[len(V3_PREFIX) :]
            item = self._page_item_schema(op) if op.method == "GET" else None
            if item is None:
                continue
            view = next((s for s in VIEW_SUFFIXES if rel.endswith(s)), None)
            if view is not None:
                op.action, op.view = "list", item
                op.collection = self._collection(rel[: -len(view)], None)
            else:
                op.action, op.collection = "list", self._collection(rel, item)
        for op in v3:
            rel = op.template[len(V3_PREFIX) :]
            if op.action is not None:
                continue
            if op.method == "POST" and rel in self.collections:
                op.action, op.collection = "create", self.collections[rel]
                self._learn_unique(op.collection, op)
            elif m := re.fullmatch(r"(.*)/\{\w+\}", rel):
                coll = self.collections.get(m.group(1))
                actions = {"GET": "get", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
                if coll is not None and op.method in actions:
                    op.action, op.collection = actions[op.method], coll
        # A view whose base has no list of its own is not modelled; operations
        # (3.8) have handlers of their own.
        for op in v3:
            coll = op.collection
            if coll is not None and (coll.schema == "" or coll.path.startswith("/operations")):
                op.action = op.collection = op.view = None
        self.collections = {
            k: c
            for k, c in self.collections.items()
            if c.schema and not k.startswith("/operations")
        }

    def _page_item_schema(self, op: Operation) -> str | None:
        schema = op.spec.get("responses", {}).get("200", {}).get("content", {})
        ref = schema.get(JSON_TYPE, {}).get("schema", {}).get("$ref", "")
        props = self.schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
        if "items" not in props or "total" not in props:
            return None
        item_ref: str = props["items"].get("items", {}).get("$ref", "")
        return item_ref.rsplit("/", 1)[-1] or None

    def _collection(self, rel: str, schema: str | None) -> Collection:
        coll = self.collections.get(rel)
        if coll is None:
            params = tuple(re.findall(r"\{(\w+)\}", rel))
            coll = Collection(rel, schema or "", params, UNIQUE.get(rel, ()))
            self.collections[rel] = coll
        elif schema and not coll.schema:
            coll.schema = schema
        return coll

    def _learn_unique(self, coll: Collection, create: Operation) -> None:
        if coll.unique:
            return
        request = self.resolve(create.body_schema or {})
        if "name" in request.get("required", []):
            coll.unique = ("name",)

    def resolve(self, schema: Json) -> Json:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    # ---- public helpers

    def now(self) -> float:
        return self.base_clock() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (tokens expire, operations finish)."""
        with self._lock:
            self.clock_offset += seconds

    def add_user(self, username: str, password: str, *, admin: bool = False) -> int:
        """Create a user who can log in; return its id."""
        with self._lock:
            entry = self._insert(
                self.collections["/users"],
                (),
                self._user_data(username, admin),
                owner=None,
            )
            entry.data["@password"] = password
            return int(entry.id)

    def set_active(self, username: str, active: bool) -> None:
        with self._lock:
            self._user_entry(username).data["@active"] = active

    def add_session(self, session_key: str, username: str = DEFAULT_USERNAME) -> None:
        """3.7.3: a Django session (cookie sessionid) that authenticates USERNAME."""
        with self._lock:
            self.sessions[session_key] = int(self._user_entry(username).id)

    def issue_token(self, username: str = DEFAULT_USERNAME) -> str:
        """A valid access token for USERNAME, as a login would give."""
        with self._lock:
            return self._jwt(self._caller_of(self._user_entry(username)))

    def issue_refresh_token(self, username: str = DEFAULT_USERNAME) -> str:
        with self._lock:
            token = self.rng.getrandbits(256).to_bytes(32, "big").hex()
            user_id = int(self._user_entry(username).id)
            digest = hashlib.sha256(token.encode()).hexdigest()
            self.refresh_tokens[digest] = (user_id, self.now() + self.refresh_lifetime)
            return token

    def rotate_key(self) -> None:
        """A new signing key: every token issued so far stops verifying."""
        with self._lock:
            self._key_generation += 1
            self.key = hashlib.sha256(f"{self.key}:{self._key_generation}".encode()).hexdigest()

    def decode(self, token: str) -> dict[str, Json]:
        """The claims of a JWT, unverified."""
        claims: dict[str, Json] = json.loads(unb64url(token.split(".")[1]))
        return claims

    def objects(self, path: str) -> list[Json]:
        """Every object of a collection (all parents, all owners), rendered, in id order."""
        with self._lock:
            coll, parents = self._find_collection(path)
            entries = [e for e in coll.entries.values() if parents is None or e.parents == parents]
            return [self._render(coll, e) for e in sorted(entries, key=lambda e: e.id)]

    def etag(self, path: str, object_id: Any) -> str:
        with self._lock:
            coll, parents = self._find_collection(path)
            for entry in coll.entries.values():
                if entry.id == object_id and (parents is None or entry.parents == parents):
                    return entry.etag
        raise KeyError(object_id)

    def fill(self, path: str, n: int, *, owner: str | None = None, **parents: Any) -> list[Any]:
        """Add N generated objects to the collection PATH; return their ids."""
        with self._lock:
            coll, concrete = self._find_collection(path)
            key = concrete if concrete is not None else tuple(parents[p] for p in coll.params)
            if coll.scoped and owner is None:
                owner = DEFAULT_USERNAME
            stem = re.sub(r"ies$", "y", coll.path.rsplit("/", 1)[-1]).rstrip("s").replace("_", "-")
            ids = []
            for _ in range(n):
                if coll.path == "/machines":
                    data = self._machine_data(coll.next_id - 1)
                else:
                    data = self._generate(coll.schema, f"{stem}-{coll.next_id}")
                ids.append(self._insert(coll, key, data, owner=owner).id)
            return ids

    def add_operation(
        self,
        op_type: str = "machine.deploy",
        *,
        resource_id: int | None = None,
        username: str = DEFAULT_USERNAME,
        seconds: float = 0.0,
        status: str | None = None,
        parent: str | None = None,
        is_bulk: bool = False,
        tasks: Iterable[str] = ("power-on", "deploy"),
    ) -> str:
        """A 3.8 operation, RUNNING for SECONDS of simulated time then COMPLETED."""
        with self._lock:
            now = self.now()
            op_uuid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            operation: dict[str, Json] = {
                "uuid": op_uuid,
                "op_type": op_type,
                "resource_id": resource_id,
                "resource_type": "machine" if op_type.startswith("machine.") else "selection",
                "status": status or ("RUNNING" if seconds > 0 else "COMPLETED"),
                "created": iso(now),
                "updated": iso(now),
                "started": iso(now),
                "finished": None if seconds > 0 else iso(now),
                "current_task": None,
                "parameters": {},
                "result": None,
                "is_bulk": is_bulk,
                "parent_id": parent,
                "user_id": int(self._user_entry(username).id),
                "@finish_at": now + seconds,
            }
            self.operations[op_uuid] = operation
            task_status = "COMPLETED" if operation["status"] == "COMPLETED" else "RUNNING"
            self.tasks[op_uuid] = [
                {
                    "id": len(self.tasks) * 10 + n + 1,
                    "started_at": iso(now),
                    "finished_at": iso(now) if task_status == "COMPLETED" else None,
                    "name": name,
                    "status": task_status,
                    "result": None,
                    "task_number": n + 1,
                    "operation_uuid": op_uuid,
                }
                for n, name in enumerate(tasks)
            ]
            return op_uuid

    def queue(
        self,
        status: int,
        body: bytes | str | Json | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        path: str | None = None,
        count: int = 1,
        delay: float = 0.0,
        truncate: int | None = None,
    ) -> None:
        """Answer the next COUNT requests under PATH with STATUS (default body: the envelope)."""
        if path is not None and not path.startswith("/"):
            path = f"{V3_PREFIX}/{path}"
        data: bytes | None
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = compact(body)
        fault = Fault(status, data, dict(headers or {}), path, count, delay, truncate)
        with self._lock:
            self._faults.append(fault)

    def slow(self, path: str, seconds: float) -> None:
        """Answer requests under PATH only after SECONDS."""
        if not path.startswith("/"):
            path = f"{V3_PREFIX}/{path}"
        with self._lock:
            self._delays[path] = seconds

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    # ---- seed data

    def _seed(
        self, username: str, password: str, *, machines: int, events: int, zones: int
    ) -> None:
        users = self.collections["/users"]
        users.next_id = 1
        self.add_user(username, password, admin=True)
        self.add_user("user2", "user2 password")
        self._seed_simple(
            "/zones", [("default", "")] + [(f"zone-{i}", "") for i in range(1, zones)], 1
        )
        self._seed_simple("/resource_pools", [("default", "Default pool")], 0)
        self._seed_simple("/spaces", [("dmz", ""), ("internal", "")], 1)
        tags = self.collections["/tags"]
        for name in ("virtual", "gpu", "storage"):
            self._insert(tags, (), self._generate(tags.schema, name), owner=None)
        domains = self.collections["/domains"]
        domains.next_id = 0
        self._insert(
            domains,
            (),
            {**self._generate(domains.schema, "maas"), "authoritative": True},
            owner=None,
        )
        self._seed_network()
        self._seed_repositories()
        self._seed_notifications()
        keys = self.collections["/users/me/sshkeys"]
        for n in range(2):
            key = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{'AB'[n]}{n:043d} {username}@example"
            self._insert(keys, (), {"key": key}, owner=username)
        self._seed_machines(machines)
        self._seed_events(events, machines)
        if self.v38:
            self._seed_operations(machines)

    def _seed_simple(self, path: str, rows: list[tuple[str, str]], first_id: int) -> None:
        coll = self.collections[path]
        coll.next_id = first_id
        for name, description in rows:
            data = {**self._generate(coll.schema, name), "description": description}
            self._insert(coll, (), data, owner=None)

    def _seed_network(self) -> None:
        fabrics, vlans, subnets = (self.collections[p] for p in ("/fabrics", VLANS, SUBNETS))
        fabrics.next_id, vlans.next_id = 0, 5001
        for f in range(3):
            fabric = self._insert(
                fabrics, (), self._generate(fabrics.schema, f"fabric-{f}"), owner=None
            )
            for vid in (0, 10, 20) if f == 0 else (0,):
                data = {
                    **self._generate(vlans.schema, "untagged" if vid == 0 else f"vlan-{vid}"),
                    "vid": vid,
                    "mtu": 1500,
                    "dhcp_on": vid == 0 and f == 0,
                    "space_id": 1 if vid == 10 else None,
                }
                vlan = self._insert(vlans, (fabric.id,), data, owner=None)
                if f == 0 and vid == 0:
                    subnet = self._generate(subnets.schema, "10.0.0.0/24")
                    subnet.update(
                        cidr="10.0.0.0/24",
                        gateway_ip="10.0.0.1",
                        rdns_mode=2,
                        allow_dns=True,
                        allow_proxy=True,
                        active_discovery=False,
                        managed=True,
                    )
                    self._insert(subnets, (fabric.id, vlan.id), subnet, owner=None)

    def _seed_repositories(self) -> None:
        repos = self.collections["/package_repositories"]
        for name, url, arches in (
            ("main_archive", "http://archive.ubuntu.com/ubuntu", ["amd64", "i386"]),
            (
                "ports_archive",
                "http://ports.ubuntu.com/ubuntu-ports",
                ["arm64", "armhf", "ppc64el", "riscv64", "s390x"],
            ),
        ):
            data = self._generate(repos.schema, name)
            data.update(url=url, arches=arches, enabled=True, disable_sources=True, key="")
            self._insert(repos, (), data, owner=None)

    def _seed_notifications(self) -> None:
        notes = self.collections["/notifications"]
        rows = (
            ("upgrade", True, True, None, "warning", "A newer release is available."),
            ("images", False, True, None, "error", "Boot image import failed."),
            ("welcome", False, False, 1, "info", "Welcome to the simulator."),
        )
        for ident, users, admins, user_id, category, message in rows:
            data = self._generate(notes.schema, ident)
            data.update(
                ident=ident,
                users=users,
                admins=admins,
                user_id=user_id,
                category=category,
                message=message,
                context={},
                dismissable=True,
            )
            self._insert(notes, (), data, owner=None)

    def _seed_machines(self, n: int) -> None:
        coll = self.collections["/machines"]
        for i in range(n):
            self._insert(coll, (), self._machine_data(i), owner=None)

    @staticmethod
    def _machine_data(i: int) -> dict[str, Json]:
        """Machine number I (id I + 1), named and owned as in the v2 simulator."""
        status = (4, 10, 6)[i % 3]
        hostname = machine_hostname(i)
        return {
            "system_id": f"abc{i:03x}",
            "description": "",
            "owner": None if status == 4 else ("admin" if i % 3 == 1 else "user2"),
            "cpu_speed_MHz": 2000 + 100 * (i % 8),
            "memory_MiB": 4096 * (1 + i % 4),
            "osystem": "ubuntu" if status == 6 else "",
            "architecture": "amd64/generic",
            "distro_series": "jammy" if status == 6 else "",
            "hwe_kernel": None,
            "locked": False,
            "cpu_count": 2 * (1 + i % 4),
            "status": status,
            "power_type": "virsh",
            "fqdn": f"{hostname}.maas",
            "@hostname": hostname,
        }

    def _seed_events(self, n: int, machines: int) -> None:
        coll = self.collections["/events"]
        machine_rows = list(self.collections["/machines"].entries.values())
        for i in range(n):
            name, description, level = EVENT_TYPES[i % len(EVENT_TYPES)]
            machine = machine_rows[i % len(machine_rows)].data if machine_rows else None
            stamp = iso(BASE_TIME + 60 * i)
            data = {
                "created": stamp,
                "updated": stamp,
                "type": {"name": name, "description": description, "level": level},
                "node_system_id": machine["system_id"] if machine else None,
                "node_hostname": machine["@hostname"] if machine else "",
                "user_id": 1 if level == "AUDIT" else None,
                "owner": "admin" if level == "AUDIT" else "",
                "ip_address": None,
                "user_agent": "",
                "description": "" if level != "ERROR" else "Power driver failure",
                "action": "",
            }
            self._insert(coll, (), data, owner=None)

    def _seed_operations(self, machines: int) -> None:
        for i in range(min(3, machines)):
            self.add_operation("machine.deploy", resource_id=i + 1)
        parent = self.add_operation("machine.bulkdeploy", is_bulk=True, tasks=())
        for i in range(3, min(5, machines)):
            self.add_operation("machine.deploy", resource_id=i + 1, parent=parent)

    def _user_data(self, username: str, admin: bool) -> dict[str, Json]:
        return {
            **self._generate(self.collections["/users"].schema, username),
            "username": username,
            "is_superuser": admin,
            "first_name": "",
            "last_name": "",
            "email": f"{username}@example.com",
            "date_joined": iso(BASE_TIME),
            "@admin": admin,
            "@active": True,
        }

    # ---- objects

    def _generate(self, schema_name: str, name: str) -> dict[str, Json]:
        """Values for the required fields of SCHEMA_NAME (plus name-like ones)."""
        schema = self.schemas.get(schema_name, {})
        required = set(schema.get("required", []))
        data: dict[str, Json] = {}
        for prop, sub in schema.get("properties", {}).items():
            if prop in ("_links", "_embedded", "kind", "id"):
                continue
            if prop in ("name", "username", "hostname", "ident"):
                data[prop] = name
            elif prop in required:
                data[prop] = self._example(sub, prop)
        return data

    def _example(self, schema: Json, prop: str) -> Json:
        if "anyOf" in schema:
            choices = [s for s in schema["anyOf"] if s.get("type") != "null"]
            return self._example(choices[0], prop) if choices else None
        if "allOf" in schema:
            return self._example(schema["allOf"][0], prop)
        if "default" in schema:
            return schema["default"]
        ref = schema.get("$ref", "")
        if ref.endswith("/BaseHref"):
            return None  # see _link()
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][0]
        kind, fmt = schema.get("type"), schema.get("format")
        if fmt == "date-time":
            return iso(BASE_TIME)
        if fmt == "ipvanyaddress":
            return "10.0.0.1"
        if fmt == "ipvanynetwork":
            return "10.0.0.0/24"
        return {
            "string": "",
            "integer": 0,
            "number": 0,
            "boolean": False,
            "array": [],
            "object": {},
        }.get(kind)

    def _etag(self, entry: Entry) -> str:
        """A new ETag for ENTRY: changes with every write, like MAAS's."""
        self._revision += 1
        text = json.dumps([entry.id, entry.parents, entry.data], sort_keys=True, default=str)
        return hashlib.sha256(f"{text}:{self._revision}".encode()).hexdigest()

    def _insert(
        self,
        coll: Collection,
        parents: tuple[Any, ...],
        data: dict[str, Json],
        *,
        owner: str | None,
    ) -> Entry:
        entry = Entry(coll.next_id, parents, data, owner)
        coll.next_id += 1
        entry.etag = self._etag(entry)
        key = (*parents, entry.id)
        coll.entries[key] = entry
        return entry

    def _render(self, coll: Collection, entry: Entry, schema_name: str | None = None) -> Json:
        schema = self.schemas[schema_name or coll.schema]
        base = V3_PREFIX + coll.concrete(entry.parents)
        out: dict[str, Json] = {}
        for prop, sub in schema.get("properties", {}).items():
            if prop == "_links":
                out[prop] = {"self": {"href": f"{base}/{entry.id}"}}
            elif prop == "kind":
                out[prop] = sub.get("default")
            elif prop == "id":
                out[prop] = entry.id
            elif (href := self._link(coll, prop, entry)) is not None:
                out[prop] = {"href": href}
            elif entry.data.get(prop) is not None:
                out[prop] = entry.data[prop]
            elif prop in schema.get("required", []):
                value = self._example(sub, prop)
                if value is not None:
                    out[prop] = value
        return out

    @staticmethod
    def _link(coll: Collection, prop: str, entry: Entry) -> str | None:
        """The href of a BaseHref field, as MAAS builds it."""
        if coll.path == "/fabrics" and prop == "vlans":
            return f"{V3_PREFIX}/fabrics/{entry.id}/vlans"
        if coll.path == "/spaces" and prop in ("vlans", "subnets"):
            return f"{V3_PREFIX}/{prop}?filter=space_id eq {entry.id}"
        if coll.path == VLANS and prop == "space" and entry.data.get("space_id") is not None:
            return f"{V3_PREFIX}/spaces/{entry.data['space_id']}"
        return None

    def _find_collection(self, path: str) -> tuple[Collection, tuple[Any, ...] | None]:
        if path.startswith(V3_PREFIX):
            path = path[len(V3_PREFIX) :]
        if path in self.collections:
            return self.collections[path], None
        for coll in self.collections.values():
            if m := template_regex(coll.path).match(path):
                return coll, tuple(int(v) if v.isdigit() else v for v in m.groups())
        raise KeyError(path)

    def _user_entry(self, username: str) -> Entry:
        for entry in self.collections["/users"].entries.values():
            if entry.data.get("username") == username:
                return entry
        raise KeyError(username)

    def _user_by_id(self, user_id: int) -> Entry | None:
        return self.collections["/users"].entries.get((user_id,))

    @staticmethod
    def _caller_of(entry: Entry) -> Caller:
        return Caller(int(entry.id), str(entry.data["username"]), bool(entry.data.get("@admin")))

    # ---- replies

    def envelope(
        self, status: int, details: list[dict[str, Json]] | None = None, message: str | None = None
    ) -> Json:
        body = {
            "code": status,
            "message": message or ERROR_MESSAGES.get(status, "Error."),
            "details": details,
        }
        return {"kind": "Error", **body} if self.v38 else {**body, "kind": "Error"}

    def error(
        self,
        status: int,
        violation: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> V3Error:
        details = None
        if violation is not None:
            details = [
                {"type": violation, "message": message or "", "field": None, "location": None}
            ]
        return V3Error(
            V3Reply(status, compact(self.envelope(status, details)), JSON_TYPE, dict(headers or {}))
        )

    def validation_error(self, problems: list[Problem]) -> V3Error:
        details = []
        for problem in problems:
            kind, text = problem.words or self.words[problem.kind]
            if problem.limit is not None:
                text = text.format(problem.limit)
            if self.v38:
                location = str(problem.loc[0]) if problem.loc else None
                path: list[str] = []
                for part in problem.loc[1:]:
                    if isinstance(part, int) and path:
                        path[-1] = f"{path[-1]}[{part}]"
                    else:
                        path.append(str(part))
                details.append(
                    {"type": kind, "message": text, "field": ".".join(path), "location": location}
                )
            else:
                details.append({"type": kind, "message": text, "field": None, "location": None})
        return V3Error(V3Reply(422, compact(self.envelope(422, details))))

    @staticmethod
    def ok(status: int, data: Json, headers: dict[str, str] | None = None) -> V3Reply:
        return V3Reply(status, compact(data), JSON_TYPE, dict(headers or {}))

    # ---- request handling

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> V3Reply:
        """Answer one request (TARGET: path and query) as maasapiserver would."""
        parsed = urllib.parse.urlsplit(target)
        request = V3Request(
            method=method.upper(),
            path=parsed.path,
            query=urllib.parse.parse_qsl(parsed.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            received=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
            self._advance_operations()
            delay = max(
                (d for p, d in self._delays.items() if request.path.startswith(p)), default=0.0
            )
            canned = self._take_fault(request.path)
            if canned is not None:
                canned.delay += delay
                return canned
            try:
                reply = self._respond(request)
            except V3Error as error:
                reply = error.reply
            except Exception:  # a simulator bug: MAAS's answer to its own, noted
                self.crashes.append(traceback.format_exc())
                reply = V3Reply(500, compact(self.envelope(500)))
        reply.delay += delay
        return reply

    def _take_fault(self, path: str) -> V3Reply | None:
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
            (v for k, v in fault.headers.items() if k.lower() == "content-type"), JSON_TYPE
        )
        body = fault.body if fault.body is not None else compact(self.envelope(fault.status))
        return V3Reply(fault.status, body, content_type, headers, fault.delay, fault.truncate)

    def _respond(self, request: V3Request) -> V3Reply:
        if request.path == OPENAPI_PATH:
            if request.method in ("GET", "HEAD"):
                return V3Reply(200, self.openapi_bytes, JSON_TYPE)
            allow = {"Allow": "GET, HEAD"}
            return V3Reply(405, compact({"detail": "Method Not Allowed"}), JSON_TYPE, allow)
        cookies = parse_cookies(request.headers.get("cookie", ""))
        call = Call(request, cookies)
        if request.path.startswith(V3_PREFIX):
            self._authenticate(call)  # MAAS's middleware runs before routing
        op, params = self._route(request)
        call.params = params
        call.json = self._parse_body(op, request)  # FastAPI reads the body first
        if op.secured:
            self._authorize(op, call)
        handler = self._special.get(op.op_id)
        if handler is not None:
            reply = handler(op, call)
        elif op.action is not None:
            reply = self._generic(op, call)
        else:
            raise self.error(501, NOT_SIMULATED, f"{op.method} {op.template} is not simulated.")
        reply.cookies.extend(
            f"{name}={value}; Path=/; SameSite=lax" for name, value in call.set_cookies
        )
        return reply

    def _route(self, request: V3Request) -> tuple[Operation, dict[str, str]]:
        allowed: list[str] = []
        first: str | None = None  # the first route whose path matched (Starlette's 405)
        for op in self.operations_list:
            m = op.regex.match(request.path)
            if m is None:
                continue
            if op.method == request.method:
                return op, m.groupdict()
            first = first or op.template
            if op.template == first:
                allowed.append(op.method)
        if allowed:
            raise V3Error(
                V3Reply(
                    405,
                    compact({"detail": "Method Not Allowed"}),
                    JSON_TYPE,
                    {"Allow": ", ".join(allowed)},
                )
            )
        other = request.path[:-1] if request.path.endswith("/") else request.path + "/"
        if other != "/" and any(op.regex.match(other) for op in self.operations_list):
            host = request.headers.get("host", "127.0.0.1")
            query = urllib.parse.urlencode(request.query)
            location = f"http://{host}{other}" + (f"?{query}" if query else "")
            raise V3Error(V3Reply(307, b"", None, {"Location": location}))
        raise V3Error(V3Reply(404, compact({"detail": "Not Found"}), JSON_TYPE))

    # ---- authentication

    def _authenticate(self, call: Call) -> None:
        request = call.request
        auth = request.headers.get("authorization", "")
        if not self.v38 and SESSION_COOKIE in call.cookies:
            user_id = self.sessions.get(call.cookies[SESSION_COOKIE])
            entry = self._user_by_id(user_id) if user_id is not None else None
            if entry is None:
                raise self.error(401, INVALID_TOKEN, "The sessionid is not valid.")
            call.caller = self._caller_of(entry)
        elif auth.lower().startswith("bearer "):
            token = auth.split(" ")[1] if len(auth.split(" ")) > 1 else ""
            call.caller = self._verify(token, call)
        if call.caller is not None:
            request.user = call.caller.username

    def _verify(self, token: str, call: Call) -> Caller:
        try:
            header_part, payload_part, signature_part = token.split(".")
            header = json.loads(unb64url(header_part))
            claims = json.loads(unb64url(payload_part))
            if not isinstance(header, dict) or not isinstance(claims, dict):
                raise ValueError(token)
        except ValueError:
            raise self.error(400, INVALID_TOKEN, "Could not decode the token.") from None
        issuer = claims.get("iss")
        if issuer != JWT_ISSUER:
            raise self.error(
                400,
                INVALID_TOKEN,
                f"The authorization token comes from an unknown issuer '{issuer}'",
            )
        expected = b64url(
            hmac.new(
                self.key.encode(), f"{header_part}.{payload_part}".encode(), hashlib.sha256
            ).digest()
        )
        valid = (
            header.get("alg") == "HS256"
            and hmac.compare_digest(expected, signature_part)
            and claims.get("aud") == JWT_AUDIENCE
            and all(k in claims for k in ("aud", "iat", "iss", "exp", "sub"))
            and isinstance(claims.get("exp"), (int, float))
            and self.now() <= claims["exp"]
        )
        if valid:
            if self.v38:
                entry = self._user_by_id(claims.get("user_id", -1))
                if entry is None:
                    raise self.error(401, INVALID_TOKEN, "The token is not valid.")
                return self._caller_of(entry)
            roles = claims.get("roles", [])
            return Caller(int(claims.get("user_id", 0)), str(claims["sub"]), "admin" in roles)
        if not self.v38:
            raise self.error(401, INVALID_TOKEN, "The token is not valid.")
        refresh = call.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise self.error(
                401, INVALID_TOKEN, "The token is not valid, and no refresh token is present."
            )
        found = self.refresh_tokens.get(hashlib.sha256(refresh.strip().encode()).hexdigest())
        entry = self._user_by_id(found[0]) if found and found[1] > self.now() else None
        if entry is None:
            raise self.error(
                401, INVALID_TOKEN, "Failed to refresh JWT token - the refresh token is invalid."
            )
        caller = self._caller_of(entry)
        call.set_cookies.append((JWT_COOKIE, self._jwt(caller)))
        return caller

    def _jwt(self, caller: Caller) -> str:
        now = self.now()
        claims: dict[str, Json] = {
            "sub": caller.username,
            "iss": JWT_ISSUER,
            "iat": int(now) if self.v38 else now,
            "exp": int(now + self.token_lifetime) if self.v38 else now + self.token_lifetime,
            "aud": JWT_AUDIENCE,
            "user_id": caller.user_id,
        }
        if not self.v38:
            claims["roles"] = ["user", "admin"] if caller.admin else ["user"]
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(
            self.key.encode(), f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        return f"{header}.{payload}.{b64url(signature)}"

    def _authorize(self, op: Operation, call: Call) -> None:
        if call.caller is None:
            raise self.error(401, NOT_AUTHENTICATED, "The endpoint requires authentication.")
        rel = op.template[len(V3_PREFIX) :]
        own = rel.startswith(USER_WRITABLE) or op.op_id in USER_WRITES
        needs_admin = (op.method != "GET" and not own) or op.op_id in ADMIN_READS
        if needs_admin and not call.caller.admin:
            raise self.error(
                403,
                MISSING_PERMISSIONS,
                "The user does not have the role 'admin' to access this endpoint.",
            )

    # ---- parameters and bodies

    def _parse_body(self, op: Operation, request: V3Request) -> Json:
        """The request body as FastAPI hands it to validation (_MISSING when there is none)."""
        if op.body_media is None:
            return _MISSING
        if op.body_media == "application/x-www-form-urlencoded":
            kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
                text = request.body.decode("utf-8", errors="replace")
                return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
            return {}
        if not request.body:
            return _MISSING
        content_type = request.headers.get("content-type")
        is_json = content_type is None
        if content_type is not None:
            message = email.message.Message()
            message["content-type"] = content_type
            subtype = message.get_content_subtype()
            is_json = message.get_content_maintype() == "application" and (
                subtype == "json" or subtype.endswith("+json")
            )
        if not is_json:
            return request.body  # validated as bytes: not an object
        try:
            return json.loads(request.body)
        except ValueError as error:
            position = getattr(error, "pos", 0)
            kind, text = (
                ("json_invalid", "JSON decode error")
                if self.v38
                else ("value_error.jsondecode", str(error))
            )
            detail: dict[str, Json] = {
                "type": kind,
                "message": text,
                "field": None,
                "location": None,
            }
            if self.v38:
                detail.update(field=str(position), location="body")
            raise V3Error(V3Reply(422, compact(self.envelope(422, [detail])))) from None

    def _validate_params(self, op: Operation, call: Call) -> dict[str, Json]:
        """Path, query and header parameters, coerced; raise 422 on a bad one."""
        problems: list[Problem] = []
        values: dict[str, Json] = {}
        for param in op.spec.get("parameters", []):
            name, where = param["name"], param["in"]
            schema = param.get("schema", {})
            raw: Json
            if where == "path":
                raw = call.params.get(name, _MISSING)
            elif where == "query":
                given = [v for k, v in call.request.query if k == name]
                is_array = self._is_array(schema)
                raw = given if is_array and given else (given[-1] if given else _MISSING)
            elif where == "header":
                raw = call.request.headers.get(name.lower(), _MISSING)
            else:
                raw = call.cookies.get(name, _MISSING)
            if raw is _MISSING:
                if param.get("required"):
                    problems.append(Problem("missing", (where, name)))
                else:
                    values[name] = schema.get("default")
                continue
            value = self._check(schema, raw, (where, name), problems)
            values[name] = value
        if problems:
            raise self.validation_error(problems)
        return values

    def _validate_body(self, op: Operation, call: Call) -> dict[str, Json]:
        problems: list[Problem] = []
        body = call.json
        if body is _MISSING:
            if op.body_media == "application/x-www-form-urlencoded":
                body = {}
            else:
                raise self.validation_error([Problem("missing", ("body",))])
        value = self._check(op.body_schema or {}, body, ("body",), problems)
        if problems:
            raise self.validation_error(problems)
        return value if isinstance(value, dict) else {}

    def _is_array(self, schema: Json) -> bool:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            return any(self.resolve(s).get("type") == "array" for s in schema["anyOf"])
        return bool(schema.get("type") == "array")

    def _check(
        self, schema: Json, value: Json, loc: tuple[str | int, ...], problems: list[Problem]
    ) -> Json:
        """Validate and coerce VALUE as pydantic would; add to PROBLEMS what fails."""
        if "$ref" in schema:
            is_model = "properties" in self.resolve(schema)
            schema = self.resolve(schema)
            if is_model and not isinstance(value, dict):
                problems.append(Problem("model", loc))
                return _MISSING
        if "allOf" in schema:
            return self._check(schema["allOf"][0], value, loc, problems)
        if "anyOf" in schema:
            if value is None and any(s.get("type") == "null" for s in schema["anyOf"]):
                return None
            choices = [s for s in schema["anyOf"] if s.get("type") != "null"]
            return self._check(choices[0], value, loc, problems) if choices else value
        if value is None:
            # pydantic 1 lets None through for optional fields; the caller decides.
            problems.append(Problem("none" if not self.v38 else self._type_kind(schema), loc))
            return _MISSING
        if "enum" in schema:
            return self._check_enum(schema, value, loc, problems)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self._check_object(schema, value, loc, problems)
        if kind == "array":
            if isinstance(value, str) or not isinstance(value, list):
                problems.append(Problem("list", loc))
                return _MISSING
            item = schema.get("items", {})
            return [self._check(item, v, (*loc, i), problems) for i, v in enumerate(value)]
        if kind == "integer":
            return self._check_number(schema, self._to_int(value, loc, problems), loc, problems)
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                problems.append(Problem("float", loc))
                return _MISSING
            try:
                return self._check_number(schema, float(value), loc, problems)
            except ValueError:
                problems.append(Problem("float", loc))
                return _MISSING
        if kind == "boolean":
            return self._to_bool(value, loc, problems)
        if kind == "string":
            return self._check_string(schema, value, loc, problems)
        return value

    def _type_kind(self, schema: Json) -> str:
        kind = schema.get("type")
        return {
            "string": "str",
            "integer": "int",
            "boolean": "bool",
            "array": "list",
            "number": "float",
        }.get(kind or "", "model" if "properties" in schema else "dict")

    def _check_object(
        self, schema: Json, value: Json, loc: tuple[str | int, ...], problems: list[Problem]
    ) -> Json:
        if not isinstance(value, dict):
            problems.append(Problem("model" if "properties" in schema else "dict", loc))
            return _MISSING
        props = schema.get("properties")
        if props is None:
            return value
        required = set(schema.get("required", []))
        out: dict[str, Json] = {}
        for name, sub in props.items():
            if name not in value:
                if name in required:
                    problems.append(Problem("missing", (*loc, name)))
                elif "default" in sub:
                    out[name] = sub["default"]
                continue
            raw = value[name]
            if raw is None and not self.v38 and name not in required:
                out[name] = None  # pydantic 1: Optional fields take None
                continue
            checked = self._check(sub, raw, (*loc, name), problems)
            if checked is not _MISSING:
                out[name] = checked
        return out

    def _check_enum(
        self, schema: Json, value: Json, loc: tuple[str | int, ...], problems: list[Problem]
    ) -> Json:
        choices = schema["enum"]
        for choice in choices:
            if value == choice and type(value) is type(choice):
                return choice
            if isinstance(value, str) and isinstance(choice, int) and value.strip() == str(choice):
                return choice
        shown = [repr(c) for c in choices]
        if self.v38:
            listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
            kind, text = "enum", f"Input should be {listed}"
        else:
            kind = "type_error.enum"
            text = "value is not a valid enumeration member; permitted: " + ", ".join(shown)
        problems.append(Problem("enum", loc, words=(kind, text)))
        return _MISSING

    def _to_int(self, value: Json, loc: tuple[str | int, ...], problems: list[Problem]) -> Json:
        if isinstance(value, bool):
            if self.v38:
                problems.append(Problem("int", loc))
                return _MISSING
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer() or not self.v38:
                return int(value)
            problems.append(Problem("int_from_float", loc))
            return _MISSING
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                problems.append(Problem("int_parsing", loc))
                return _MISSING
        problems.append(Problem("int", loc))
        return _MISSING

    def _to_bool(self, value: Json, loc: tuple[str | int, ...], problems: list[Problem]) -> Json:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            problems.append(Problem("bool_parsing", loc))
            return _MISSING
        problems.append(Problem("bool", loc))
        return _MISSING

    def _check_number(
        self, schema: Json, value: Json, loc: tuple[str | int, ...], problems: list[Problem]
    ) -> Json:
        if value is _MISSING:
            return value
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(Problem("ge", loc, number(schema["minimum"])))
            return _MISSING
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(Problem("le", loc, number(schema["maximum"])))
            return _MISSING
        return value

    def _check_string(
        self, schema: Json, value: Json, loc: tuple[str | int, ...], problems: list[Problem]
    ) -> Json:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not self.v38:
            value = str(value)  # pydantic 1 coerces numbers to str
        if not isinstance(value, str):
            problems.append(Problem("str", loc))
            return _MISSING
        if "minLength" in schema and len(value) < schema["minLength"]:
            n = schema["minLength"]
            limit = str(n) if not self.v38 else f"{n} character{'s' if n != 1 else ''}"
            problems.append(Problem("min_length", loc, limit))
            return _MISSING
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            n = schema["maxLength"]
            limit = str(n) if not self.v38 else f"{n} character{'s' if n != 1 else ''}"
            problems.append(Problem("max_length", loc, limit))
            return _MISSING
        if "pattern" in schema and not re.match(schema["pattern"], value):
            problems.append(Problem("pattern", loc, schema["pattern"]))
            return _MISSING
        fmt = schema.get("format")
        try:
            if fmt == "ipvanyaddress":
                ipaddress.ip_address(value)
            elif fmt == "ipvanynetwork":
                ipaddress.ip_network(value)
        except ValueError:
            problems.append(Problem("ip_address" if fmt == "ipvanyaddress" else "ip_network", loc))
            return _MISSING
        return value

    # ---- the generic engine

    def _generic(self, op: Operation, call: Call) -> V3Reply:
        assert op.collection is not None and op.action is not None
        params = self._validate_params(op, call)
        coll = op.collection
        parents = tuple(params[p] for p in coll.params)
        owner = call.caller.username if call.caller is not None and coll.scoped else None
        if op.action == "list":
            return self._list(op, coll, parents, owner, params)
        if op.action == "create":
            body = self._validate_body(op, call)
            return self._create(op, coll, parents, owner, body)
        item_param = re.findall(r"\{(\w+)\}", op.template)[-1]
        entry = coll.entries.get((*parents, params[item_param]))
        if entry is None or (coll.scoped and entry.owner != owner):
            if op.action == "update" and op.body_schema is not None:
                self._validate_body(op, call)  # FastAPI validates before the handler looks
            raise self.error(404)
        if op.action == "get":
            return self.ok(200, self._render(coll, entry), {"ETag": entry.etag})
        if op.action == "update":
            body = self._validate_body(op, call)
            self._check_etag(entry, params.get("if-match"))
            return self._update(op, coll, entry, body)
        self._check_etag(entry, params.get("if-match"))
        self._check_protected(coll, entry)
        key = (*parents, entry.id)
        del coll.entries[key]
        return V3Reply(204, b"", None)

    def _page(self, page: int, size: int) -> tuple[int, int]:
        if page < 1:
            # A negative OFFSET: PostgreSQL refuses it and MAAS answers 500.
            raise self.error(500)
        return (page - 1) * size, page * size

    def _next(
        self,
        op: Operation,
        concrete: str,
        params: dict[str, Json],
        page: int,
        size: int,
        total: int,
    ) -> str | None:
        if not (total and page * size < total):
            return None
        link = f"{V3_PREFIX}{concrete}?page={page + 1}&size={size}"
        skipped = NOT_CARRIED.get(op.op_id, set())
        for param in op.spec.get("parameters", []):
            name = param["name"]
            if param["in"] != "query" or name in ("page", "size") or name in skipped:
                continue
            value = params.get(name)
            if value is None or value == []:
                continue
            for item in value if isinstance(value, list) else [value]:
                shown = str(item).lower() if isinstance(item, bool) else str(item)
                link += f"&{name}={shown}"
        return link

    def _paged(
        self, op: Operation, concrete: str, params: dict[str, Json], rows: list[Json], total: int
    ) -> V3Reply:
        page, size = params.get("page", PAGE_DEFAULT), params.get("size", SIZE_DEFAULT)
        list_schema = self.schemas[self._list_schema(op)]
        out: dict[str, Json] = {}
        for prop, sub in list_schema["properties"].items():
            if prop == "items":
                out[prop] = rows
            elif prop == "total":
                out[prop] = total
            elif prop == "next":
                link = self._next(op, concrete, params, page, size, total)
                if link is not None:
                    out[prop] = link
            elif prop == "kind":
                out[prop] = sub.get("default")
        return self.ok(200, out)

    def _list_schema(self, op: Operation) -> str:
        content = op.spec["responses"]["200"]["content"][JSON_TYPE]["schema"]
        return str(content["$ref"].rsplit("/", 1)[-1])

    def _list(
        self,
        op: Operation,
        coll: Collection,
        parents: tuple[Any, ...],
        owner: str | None,
        params: dict[str, Json],
    ) -> V3Reply:
        page, size = params.get("page", PAGE_DEFAULT), params.get("size", SIZE_DEFAULT)
        entries = coll.select(parents, owner)
        entries = [e for e in entries if self._matches(op, e, params)]
        start, stop = self._page(page, size)
        entries.sort(key=lambda e: e.id, reverse=True)
        rows = [self._render(coll, e, op.view) for e in entries[start:stop]]
        rel = op.template[len(V3_PREFIX) :]
        for name, value in zip(coll.params, parents):
            rel = rel.replace("{" + name + "}", str(value))
        return self._paged(op, rel, params, rows, len(entries))

    @staticmethod
    def _matches(op: Operation, entry: Entry, params: dict[str, Json]) -> bool:
        for param in op.spec.get("parameters", []):
            name = param["name"]
            if param["in"] != "query" or name in ("page", "size"):
                continue
            wanted = params.get(name)
            if wanted is None or wanted == []:
                continue
            field_name = {"system_id": "node_system_id"}.get(name, name)
            have = entry.id if name == "id" else entry.data.get(field_name, _MISSING)
            if have is _MISSING:
                continue  # a filter the simulator does not model
            if have not in (wanted if isinstance(wanted, list) else [wanted]):
                return False
        return True

    def _apply(self, coll: Collection, data: dict[str, Json], body: dict[str, Json]) -> None:
        renames = RENAMES.get(coll.path, {})
        for name, value in body.items():
            if name == "password":
                data["@password"] = value
                continue
            data[renames.get(name, name)] = value
        if coll.path == "/users" and "is_superuser" in body:
            data["@admin"] = bool(body["is_superuser"])

    def _conflict(
        self,
        coll: Collection,
        parents: tuple[Any, ...],
        owner: str | None,
        data: dict[str, Json],
        skip: Any = None,
    ) -> None:
        for name in coll.unique:
            value = data.get(name)
            if value is None:
                continue
            for other in coll.select(parents, owner):
                if other.id != skip and other.data.get(name) == value:
                    raise self.error(
                        409, UNIQUE_CONSTRAINT, "A resource with such identifiers already exist."
                    )

    def _create(
        self,
        op: Operation,
        coll: Collection,
        parents: tuple[Any, ...],
        owner: str | None,
        body: dict[str, Json],
    ) -> V3Reply:
        for i, name in enumerate(coll.params):
            parent_coll = self.collections.get(coll.path.split("/{" + name + "}")[0])
            if parent_coll is not None and parents[: i + 1] not in parent_coll.entries:
                raise self.error(404)
        data = self._generate(coll.schema, body.get("name") or "")
        if coll.path == "/users":
            data.update(date_joined=iso(self.now()), **{"@admin": False, "@active": True})
        self._apply(coll, data, body)
        self._conflict(coll, parents, owner, data)
        entry = self._insert(coll, parents, data, owner=owner)
        return self.ok(op.success, self._render(coll, entry), {"ETag": entry.etag})

    def _update(
        self, op: Operation, coll: Collection, entry: Entry, body: dict[str, Json]
    ) -> V3Reply:
        data = dict(entry.data)
        self._apply(coll, data, body)
        self._conflict(coll, entry.parents, entry.owner, data, skip=entry.id)
        entry.data = data
        entry.etag = self._etag(entry)
        return self.ok(200, self._render(coll, entry), {"ETag": entry.etag})

    def _check_etag(self, entry: Entry, if_match: Json) -> None:
        if if_match is not None and if_match != entry.etag:
            raise self.error(
                412,
                ETAG_PRECONDITION,
                f"The resource etag '{entry.etag}' did not match '{if_match}'.",
            )

    def _check_protected(self, coll: Collection, entry: Entry) -> None:
        if coll.path == VLANS and entry.data.get("vid") == 0:
            raise self.error(
                400,
                "CannotDeleteDefaultFabricVlanViolation",
                f"The VLAN {entry.id} is the default VLAN for the fabric {entry.parents[0]} "
                "and can't be deleted.",
            )
        protected = PROTECTED.get(coll.path, {}).get(entry.id)
        if protected is not None:
            raise self.error(400, *protected)

    # ---- special operations

    def _login(self, op: Operation, call: Call) -> V3Reply:
        form = self._validate_body(op, call)
        try:
            entry = self._user_entry(str(form.get("username")))
        except KeyError:
            entry = None
        if (
            entry is None
            or not entry.data.get("@active", True)
            or entry.data.get("@password") != form.get("password")
        ):
            raise self.error(
                401,
                INVALID_CREDENTIALS,
                "The credentials are not matching or the user does not exist",
            )
        caller = self._caller_of(entry)
        entry.data["last_login"] = iso(self.now())
        token = self._jwt(caller)
        if self.v38:
            refresh = self.issue_refresh_token(caller.username)
            return self.ok(
                200,
                {
                    "kind": "Tokens",
                    "token_type": "bearer",
                    "access_token": token,
                    "refresh_token": refresh,
                },
            )
        return self.ok(200, {"token_type": "bearer", "access_token": token, "kind": "AccessToken"})

    def _access_token(self, op: Operation, call: Call) -> V3Reply:
        assert call.caller is not None
        token = self._jwt(call.caller)
        if self.v38:
            return self.ok(200, {"kind": "Tokens", "token_type": "bearer", "access_token": token})
        return self.ok(200, {"token_type": "bearer", "access_token": token, "kind": "AccessToken"})

    def _logout(self, op: Operation, call: Call) -> V3Reply:
        refresh = call.cookies.get(REFRESH_COOKIE)
        if refresh:
            self.refresh_tokens.pop(hashlib.sha256(refresh.encode()).hexdigest(), None)
        gone = "expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=lax"
        cookies = [f'{name}=""; {gone}' for name in (JWT_COOKIE, REFRESH_COOKIE)]
        return V3Reply(204, b"", None, cookies=cookies)

    def _pre_login(self, op: Operation, call: Call) -> V3Reply:
        return self.ok(
            200,
            {
                "kind": "PreLoginInfo",
                "is_authenticated": call.caller is not None,
                "no_users": False,
            },
        )

    def _me(self, op: Operation, call: Call) -> V3Reply:
        assert call.caller is not None
        entry = self._user_by_id(call.caller.user_id)
        if entry is None:
            raise self.error(401, NOT_AUTHENTICATED, "The user does not exist.")
        ref = op.spec["responses"]["200"]["content"][JSON_TYPE]["schema"]["$ref"]
        data = self._render(self.collections["/users"], entry, ref.rsplit("/", 1)[-1])
        if "is_superuser" in data:
            data["is_superuser"] = bool(entry.data.get("@admin"))
        return self.ok(200, data)

    def _visible(self, entry: Entry, caller: Caller) -> bool:
        data = entry.data
        return bool(
            data.get("users")
            or (data.get("admins") and caller.admin)
            or data.get("user_id") == caller.user_id
        )

    def _list_notifications(self, op: Operation, call: Call) -> V3Reply:
        assert call.caller is not None and op.collection is not None
        params = self._validate_params(op, call)
        coll, caller = op.collection, call.caller
        entries = [e for e in coll.entries.values() if self._visible(e, caller)]
        if params.get("only_active"):
            entries = [e for e in entries if (e.id, caller.user_id) not in self.dismissed]
        entries.sort(key=lambda e: e.id, reverse=True)
        page, size = params["page"], params["size"]
        start, stop = self._page(page, size)
        rows = [self._render(coll, e) for e in entries[start:stop]]
        return self._paged(op, coll.path, params, rows, len(entries))

    def _dismiss_notification(self, op: Operation, call: Call) -> V3Reply:
        assert call.caller is not None
        params = self._validate_params(op, call)
        entry = self.collections["/notifications"].entries.get((params["notification_id"],))
        if entry is None or not self._visible(entry, call.caller):
            raise self.error(404)
        self.dismissed.add((entry.id, call.caller.user_id))
        return V3Reply(204, b"", None)

    # ---- operations (3.8)

    def _advance_operations(self) -> None:
        now = self.now()
        for op_uuid, operation in self.operations.items():
            status = operation["status"]
            finished = status == "CANCELLING" or (
                status == "RUNNING" and now >= operation["@finish_at"]
            )
            if not finished:
                continue
            operation["status"] = "CANCELLED" if status == "CANCELLING" else "COMPLETED"
            operation["finished"] = operation["updated"] = iso(now)
            for task in self.tasks.get(op_uuid, []):
                if task["status"] in ("WAITING", "RUNNING"):
                    task["status"] = "CANCELLED" if status == "CANCELLING" else "COMPLETED"
                    task["finished_at"] = iso(now)

    def _render_operation(self, operation: dict[str, Json]) -> Json:
        schema = self.schemas["OperationResponse"]
        out: dict[str, Json] = {}
        for prop, sub in schema["properties"].items():
            if prop == "_links":
                out[prop] = {"self": {"href": f"{V3_PREFIX}/operations/{operation['uuid']}"}}
            elif prop == "kind":
                out[prop] = sub.get("default")
            elif operation.get(prop) is not None:
                out[prop] = operation[prop]
        return out

    def _operation(self, op: Operation, call: Call) -> tuple[dict[str, Json], dict[str, Json]]:
        params = self._validate_params(op, call)
        operation = self.operations.get(params["operation_uuid"])
        assert call.caller is not None
        if operation is None or (
            not call.caller.admin and operation["user_id"] != call.caller.user_id
        ):
            raise self.error(404)
        return operation, params

    def _list_operations(self, op: Operation, call: Call) -> V3Reply:
        assert call.caller is not None
        params = self._validate_params(op, call)
        rows = [
            o
            for o in reversed(self.operations.values())
            if (call.caller.admin or o["user_id"] == call.caller.user_id)
            and all(
                params.get(k) is None or o[k] == params[k] for k in ("status", "op_type", "is_bulk")
            )
        ]
        start, stop = self._page(params["page"], params["size"])
        items = [self._render_operation(o) for o in rows[start:stop]]
        return self._paged(op, "/operations", params, items, len(rows))

    def _get_operation(self, op: Operation, call: Call) -> V3Reply:
        operation, _ = self._operation(op, call)
        return self.ok(200, self._render_operation(operation))

    def _operation_tasks(self, op: Operation, call: Call) -> V3Reply:
        operation, params = self._operation(op, call)
        tasks = self.tasks.get(operation["uuid"], [])
        start, stop = self._page(params["page"], params["size"])
        items = [
            {"kind": "OperationTask", **{k: v for k, v in t.items() if v is not None}}
            for t in tasks[start:stop]
        ]
        return self._paged(op, f"/operations/{operation['uuid']}/tasks", params, items, len(tasks))

    def _cancel_operation(self, op: Operation, call: Call) -> V3Reply:
        operation, _ = self._operation(op, call)
        status = operation["status"]
        if status in ("CANCELLING", "CANCELLED", "COMPLETED", "FAILED"):
            raise self.error(
                409,
                CONFLICT_VIOLATION,
                f"Operation '{operation['uuid']}' cannot be cancelled because it is in the "
                f"{status} status.",
            )
        operation["status"] = "CANCELLING"
        operation["updated"] = iso(self.now())
        return self.ok(202, self._render_operation(operation))


@dataclass
class Call:
    """One request on its way through V3Api: what was sent and what was learnt."""

    request: V3Request
    cookies: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    json: Json = None
    caller: Caller | None = None
    set_cookies: list[tuple[str, str]] = field(default_factory=list)


def parse_cookies(header: str) -> dict[str, str]:
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


# ---------------------------------------------------------------- HTTP


class _Server(QuietServer):
    sim: V3Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "uvicorn"

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(self.server.sim.api.now(), usegmt=True)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def serve(self) -> None:
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.sim.api.handle(self.command, self.path, headers, body)
        if reply.delay:
            time.sleep(reply.delay)
        self.send_response(reply.status, REASONS.get(reply.status))
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        for cookie in reply.cookies:
            self.send_header("Set-Cookie", cookie)
        if reply.status not in (204, 304):
            self.send_header("Content-Length", str(len(reply.body)))
        if reply.truncate is not None:
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


class V3Simulator(Served):
    """A V3Api on its own HTTP server, as maasapiserver answers behind /MAAS/a/."""

    THREAD_NAME = "maas-v3-simulator"

    def __init__(
        self,
        api: V3Api | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        **options: Any,
    ) -> None:
        self.api = api if api is not None else V3Api(**options)
        self._server = _Server((host, port), _Handler, bind_and_activate=True)
        self._server.sim = self
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{self._server.server_address[1]}/MAAS"
        self.v3_url = self.url + "/a/v3/"
        self.openapi_url = self.url + "/a/openapi.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake MAAS API v3.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--version", choices=VERSIONS, default="3.7.3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--events", type=int, default=120)
    parser.add_argument("--token-lifetime", type=float, default=TOKEN_LIFETIME)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    args = parser.parse_args(argv)
    api = V3Api(
        args.version,
        seed=args.seed,
        machines=args.machines,
        events=args.events,
        token_lifetime=args.token_lifetime,
        username=args.username,
        password=args.password,
    )
    with V3Simulator(api, host=args.host, port=args.port) as sim:
        print(f"url={sim.url}", flush=True)
        print(f"username={args.username}", flush=True)
        print(f"password={args.password}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
