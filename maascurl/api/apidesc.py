"""The MAAS API description: parsing, caching and path/op resolution.

MAAS publishes its API at ``GET /MAAS/api/2.0/describe/``.  This module turns
that document into a small set of immutable objects, stores the facts needed
later (paths, ops, parameters, docs) in a compact cache file per server, and
resolves user-typed paths against the described URL templates.

Shell completion loads the cache on every TAB keypress, so module import and
``load_cached`` stay cheap: only light stdlib modules are imported at the top;
everything else (platformdirs, difflib, tempfile) is imported where it is used.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import IO, Any

API_PREFIX = "/MAAS/api/2.0/"

# Bump whenever the cache layout or the parsing rules change: older files are
# then ignored and refetched.
CACHE_FORMAT = 1

# Patterns stay strings (compiled and cached by re on first use) so that
# loading a cache, which needs none of them, does not pay for compiling them.
_PARAM_RE = r"^\s*:param\s+([^:\s]+)\s*:(.*)$"
_TYPE_RE = r"^\s*:type\s+([^:\s]+)\s*:(.*)$"
_FLAG_RE = r"^(Required|Optional)\.\s*"
# A sentence ends at ".", "!" or "?" before a capital, but not after "e.g." or "i.e.".
_SENTENCE_END_RE = r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?])\s+(?=[A-Z])"
# The words of a handler's CamelCase name (ResourcePoolsHandler: Resource, Pools, Handler).
_CAMELCASE = r"([A-Z]*[a-z0-9]+|[A-Z]+)(?:(?=[^a-z0-9])|\Z)"
# Wording MAAS uses for parameters that may be given several times.
_REPEAT_RE = (
    r"(?i)specified (multiple times|twice)|must be repeated|provide multiple|more than once"
)


class Param(NamedTuple):
    name: str
    required: bool | None  # None when the doc does not say
    type: str
    summary: str
    repeatable: bool = False


class Action(NamedTuple):
    name: str
    method: str
    op: str | None  # None for restful actions (read, create, update, delete)
    restful: bool
    anonymous: bool  # also offered without credentials
    summary: str
    doc: str
    params: tuple[Param, ...]

    @property
    def label(self) -> str:
        """What a user types to pick this action: the op, else the restful name."""
        return self.op if self.op is not None else self.name


class Resource(NamedTuple):
    name: str
    template: str  # relative to the API root, e.g. "machines/{system_id}/"
    params: tuple[str, ...]
    summary: str
    actions: tuple[Action, ...]

    def actions_for(self, method: str) -> list[Action]:
        method = method.upper()
        return [a for a in self.actions if a.method == method]

    def ops_for(self, method: str) -> list[str]:
        return [a.op for a in self.actions_for(method) if a.op is not None]

    def find_op(self, method: str, op: str | None) -> Action | None:
        """The action for METHOD and OP; with OP None, the restful action."""
        for action in self.actions_for(method):
            if action.op == op:
                return action
        return None


# Paths MAAS serves that its API description lacks, each with the handler MAAS
# routes it to and the methods it answers: the shapes it hands out itself as a
# VLAN's resource_uri and a boot-resource file's upload_uri, and the other
# routes of MAAS 3.4's URL table (maasserver/urls_api.py) that describe/
# leaves out. A typed path of one of these shapes is sent as typed, never
# taken for the official CLI's name of another resource; checks and TAB know
# them with the actions of the described resource of the same handler.
UNDESCRIBED: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("vlans/{vlan_id}/", "VlanHandler", ("GET", "PUT", "DELETE"), "A VLAN by its id"),
    (
        "boot-resources/{id}/upload/{file_id}/",
        "BootResourceFileUploadHandler",
        ("PUT",),
        "Upload a boot resource file's content in chunks",
    ),
    (
        "nodes/{system_id}/volume-groups/{id}/",
        "VolumeGroupHandler",
        ("GET", "PUT", "DELETE"),
        "A volume group (also nodes/{system_id}/volume-group/{id}/)",
    ),
    (
        "commissioning-results/",
        "NodeResultsHandler",
        ("GET",),
        "The older name of installation-results/",
    ),
    ("virtual-machines/", "VirtualMachinesHandler", ("GET",), "Virtual machines"),
    ("virtual-machines/{id}", "VirtualMachineHandler", ("GET",), "A virtual machine"),
)
UNDESCRIBED_NOTE = " (served by MAAS; not in its API description)"
# What a restful action is called, by method, where no described twin names it.
_RESTFUL = {"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}


def _undescribed(described: tuple[Resource, ...]) -> list[Resource]:
    """UNDESCRIBED's paths that the description does not have after all, as resources."""
    templates = {res.template for res in described}
    by_name = {res.name: res for res in described}
    found = []
    for template, handler, methods, summary in UNDESCRIBED:
        if template in templates:
            continue  # a description that has it (a newer MAAS) describes it best
        twin = by_name.get(handler)
        if twin is not None:
            actions = tuple(a for a in twin.actions if a.method in methods)
        else:
            actions = tuple(
                Action(_RESTFUL[m], m, None, True, False, summary, "", ()) for m in methods
            )
        params = tuple(s[1:-1] for s in template.split("/") if s.startswith("{"))
        found.append(Resource(handler, template, params, summary + UNDESCRIBED_NOTE, actions))
    return found


class Match(NamedTuple):
    resource: Resource
    values: dict[str, str]
    op: str | None  # from an "/op-NAME" path suffix


# A matched resource and its placeholders' values (ApiDescription.match).
_Placed = tuple[Resource, tuple[tuple[str, str], ...]]


def _split_path(relpath: str, op_suffix: bool = True) -> tuple[tuple[str, ...], str | None]:
    """Segments of a user path relative to the API root, minus an op-NAME suffix.

    A "?query" part is not part of the path and is ignored here. Without
    OP_SUFFIX a last segment `op-NAME` is a segment like any other: a request's
    URL, whose op suffix was taken off as it was built (wire/request.py), ends
    in one only when it was filled in from data (`machines/{}` with `op-x`).
    """
    path = relpath.partition("?")[0].lstrip("/")
    prefix = API_PREFIX.lstrip("/")
    if path.startswith(prefix):
        path = path[len(prefix) :]
    segments = [s for s in path.split("/") if s]
    op = None
    if op_suffix and segments and segments[-1].startswith("op-") and len(segments[-1]) > 3:
        op = segments.pop()[3:]
    return tuple(segments), op


def _template_segments(template: str) -> tuple[str | None, ...]:
    """Literal segments as strings, placeholders as None."""
    return tuple(
        None if s.startswith("{") and s.endswith("}") else s for s in template.split("/") if s
    )


# MAAS's own top-level doc of its description; any other is shown by `describe`
# (the sandbox's says that its texts are generated, not MAAS's documentation).
MAAS_DOC = "MAAS API"
ABOUT_LIMIT = 300


class ApiDescription:
    """All resources of one MAAS server's API.

    ABOUT is the document's own top-level doc when it says more than MAAS's
    ("MAAS API"): one line, at most ABOUT_LIMIT characters.
    """

    def __init__(self, hash: str, resources: Iterable[Resource], about: str = "") -> None:
        self.hash = hash
        self.about = about
        # What the server's describe/ lists; `served` adds the paths it lacks (UNDESCRIBED).
        self.resources: tuple[Resource, ...] = tuple(resources)
        self.served: tuple[Resource, ...] = (*self.resources, *_undescribed(self.resources))
        # Resources grouped by segment count: matching only scans same-length templates.
        self._by_len: dict[int, list[tuple[tuple[str | None, ...], Resource]]] = {}
        for res in self.served:
            segs = _template_segments(res.template)
            self._by_len.setdefault(len(segs), []).append((segs, res))
        self._last: tuple[tuple[str, ...], _Placed | None] | None = None  # see match()

    @classmethod
    def from_describe(cls, doc: Mapping[str, Any]) -> ApiDescription:
        return cls(str(doc.get("hash", "")), _resources_from_describe(doc), _about(doc))

    def resource(self, template: str) -> Resource | None:
        """The resource with exactly this template (relative, as in ``Resource.template``)."""
        for res in self.resources:
            if res.template == template:
                return res
        return None

    def match(self, relpath: str, *, op_suffix: bool = True) -> Match | None:
        """The resource at RELPATH; OP_SUFFIX False for a URL built already (see _split_path)."""
        segments, op = _split_path(relpath, op_suffix)
        # A request's path is matched as it is built (wire/request.py asks twice)
        # and again when it is checked (checks.py): the last answer is kept, so a
        # fleet's line is matched once. One tuple, replaced whole: thread-safe.
        last = self._last
        if last is None or last[0] != segments:
            last = self._last = (segments, self._placed(segments))
        placed = last[1]
        if placed is None:
            return None
        resource, values = placed
        return Match(resource, dict(values), op)

    def _placed(self, segments: tuple[str, ...]) -> _Placed | None:
        """The resource whose template best fits SEGMENTS, and its placeholders' values."""
        best: tuple[int, tuple[str | None, ...], Resource] | None = None
        for segs, res in self._by_len.get(len(segments), ()):
            score = _score(segs, segments)
            if score is not None and (best is None or score > best[0]):
                best = (score, segs, res)
        if best is None:
            return None
        _, segs, res = best
        names = [s[1:-1] for s in res.template.split("/") if s.startswith("{")]
        values = [v for t, v in zip(segs, segments, strict=True) if t is None]
        return res, tuple(zip(names, values, strict=True))

    def canonical(self, relpath: str, *, op_suffix: bool = True) -> str | None:
        """The relative path to send: trailing slash as in the template, no op-NAME suffix.

        Segments are kept as typed; a "?query" part is kept as given. OP_SUFFIX:
        as for match().
        """
        m = self.match(relpath, op_suffix=op_suffix)
        if m is None:
            return None
        path = "/".join(_split_path(relpath, op_suffix)[0])
        if m.resource.template.endswith("/"):
            path += "/"
        _, mark, query = relpath.partition("?")
        return path + mark + query

    def suggest_op(self, resource: Resource, method: str, op: str) -> str | None:
        import difflib

        found = difflib.get_close_matches(op, resource.ops_for(method), n=1)
        return found[0] if found else None

    def suggest_path(self, relpath: str) -> str | None:
        """The path a user who typed RELPATH most likely meant, for did-you-mean messages.

        Only a close spelling of the whole path (each literal segment alike,
        `machinez` -> machines/) or a name of the official CLI (`vlans` ->
        fabrics/{fabric_id}/vlans/, `resource-pool` -> resourcepools/); never
        a path that merely shares a few letters.
        """
        typed = _split_path(relpath)[0]
        if not typed:
            return None
        best: tuple[float, str] | None = None
        for rank, template in self._suggestions(typed):
            if best is None or rank > best[0]:
                best = (rank, template)
        return best[1] if best is not None else None

    def _suggestions(self, typed: tuple[str, ...]) -> Iterator[tuple[float, str]]:
        """(rank, template) of every plausible meaning of TYPED; higher ranks are likelier."""
        for index, res in enumerate(self.served):
            literal = _template_segments(res.template)
            if len(literal) == len(typed):
                alike = [_likeness(t, s) for t, s in zip(literal, typed, strict=True) if t]
                if alike and min(alike) >= CLOSE:
                    yield 2 + min(alike), res.template  # the same path, spelt a little apart
            if index < len(self.resources) and len(typed) <= len(literal):
                # Described (the official CLI knows it), and TYPED could be the start of it:
                # the CLI's name itself (likeness 1.0: another shape), or a close spelling.
                alike_name = _likeness(cli_name(res.name), typed[0])
                if alike_name >= CLOSE:
                    yield alike_name, res.template

    def from_cli_name(self, segments: list[str]) -> list[str] | None:
        """The official `maas` CLI's names for a path: `resource-pools` -> resourcepools,
        `machine/ID` -> machines/ID, when unambiguous."""
        if not segments:
            return None
        found: list[list[str]] = []
        for resource in self.resources:
            template = [s for s in resource.template.split("/") if s]
            holes = [i for i, s in enumerate(template) if s.startswith("{")]
            if len(segments) != 1 + len(holes) or cli_name(resource.name) != segments[0]:
                continue
            filled = list(template)
            for index, value in zip(holes, segments[1:], strict=True):
                filled[index] = value
            if filled not in found:
                found.append(filled)
        return found[0] if len(found) == 1 else None

    # Cache (de)serialisation: nested lists, far cheaper to load than the describe doc.
    def to_data(self) -> list[Any]:
        return [
            [r.name, r.template, list(r.params), r.summary, [_action_row(a) for a in r.actions]]
            for r in self.resources
        ]

    @classmethod
    def from_data(cls, hash: str, rows: list[Any], about: str = "") -> ApiDescription:
        return cls(hash, (_resource_from_row(row) for row in rows), about)


def _about(doc: Mapping[str, Any]) -> str:
    """The document's top-level doc, if it is not MAAS's own: its first line, capped."""
    text = doc.get("doc")
    if not isinstance(text, str) or text.strip() in ("", MAAS_DOC):
        return ""
    return text.strip().splitlines()[0][:ABOUT_LIMIT]


# How alike two names must be to be offered as a did-you-mean (difflib's ratio):
# machinez/machines 0.88, subnet/subnets 0.92, vlans/events 0.36.
CLOSE = 0.8


def _likeness(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio()


def cli_name(handler: str) -> str:
    """The official `maas` CLI's name for a handler: ResourcePoolsHandler -> resource-pools."""
    parts = (part.lower() for part in re.findall(_CAMELCASE, handler))
    return "-".join(part for part in parts if part != "handler")


def _score(template: tuple[str | None, ...], segments: tuple[str, ...]) -> int | None:
    """Number of literal segments matched, or None on a mismatch."""
    score = 0
    for t, s in zip(template, segments, strict=True):
        if t is None:
            continue
        if t != s:
            return None
        score += 1
    return score


def _action_row(a: Action) -> list[Any]:
    params = [[p.name, p.required, p.type, p.summary, p.repeatable] for p in a.params]
    return [a.name, a.method, a.op, a.restful, a.anonymous, a.summary, a.doc, params]


def _resource_from_row(row: list[Any]) -> Resource:
    # Checked as it is read: a damaged cache (valid JSON, wrong types) must
    # make load_cached give up and the description be fetched again.
    name, template, params, summary, actions = row
    if not (_all_str(name, template, summary) and _all_str(*params)):
        raise ValueError("damaged resource in the cached description")
    return Resource(
        name,
        template,
        tuple(params),
        summary,
        tuple(_action_from_row(*a) for a in actions),
    )


def _action_from_row(
    n: str, m: str, op: str | None, rf: bool, an: bool, s: str, d: str, ps: list[Any]
) -> Action:
    if not (_all_str(n, m, s, d) and (op is None or type(op) is str)):
        raise ValueError("damaged action in the cached description")
    params = tuple(Param(*p) for p in ps)
    for p in params:
        if not (_all_str(p.name, p.type, p.summary) and p.required in (True, False, None)):
            raise ValueError("damaged parameter in the cached description")
    return Action(n, m, op, rf is True, an is True, s, d, params)


def _all_str(*values: object) -> bool:
    return all(type(v) is str for v in values)


# Parsing the describe document.


def first_sentence(text: str) -> str:
    return re.split(_SENTENCE_END_RE, text.strip(), maxsplit=1)[0]


def summary_of(doc: str) -> str:
    """First non-empty line of a doc, cut to its first sentence."""
    for line in doc.splitlines():
        if line.strip():
            return first_sentence(line)
    return ""


def _param_blocks(doc: str) -> list[tuple[str, list[str]]]:
    """(name, body lines) for each ``:param NAME:`` entry, in order."""
    blocks: list[tuple[str, list[str]]] = []
    body: list[str] | None = None
    for line in doc.splitlines():
        m = re.match(_PARAM_RE, line)
        if m:
            body = [m.group(2)]
            blocks.append((m.group(1), body))
        elif re.match(_TYPE_RE, line):
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def _first_paragraph(lines: list[str]) -> str:
    words: list[str] = []
    for line in lines:
        if not line.strip():
            if words:
                break
            continue
        words.extend(line.split())
    return " ".join(words)


def parse_params(doc: str) -> tuple[Param, ...]:
    """Parameters documented with ``:param NAME:`` and ``:type NAME:`` lines."""
    types: dict[str, str] = {}
    for line in doc.splitlines():
        m = re.match(_TYPE_RE, line)
        if m:
            types[m.group(1)] = m.group(2).strip()  # a later line corrects an earlier one
    params: dict[str, Param] = {}
    for name, body in _param_blocks(doc):
        if name in params:
            continue
        text = _first_paragraph(body)
        flag = re.match(_FLAG_RE, text)
        required = None if flag is None else flag.group(1) == "Required"
        summary = text[flag.end() :] if flag else text
        repeatable = bool(re.search(_REPEAT_RE, " ".join(body)))
        params[name] = Param(name, required, types.get(name, ""), summary, repeatable)
    return tuple(params.values())


def _relative(path: str) -> str:
    return path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path.lstrip("/")


def _parse_action(raw: Mapping[str, Any], anonymous: bool) -> Action:
    doc = str(raw.get("doc") or "").strip()
    op = raw.get("op")
    return Action(
        name=str(raw["name"]),
        method=str(raw["method"]).upper(),
        op=None if op is None else str(op),
        restful=bool(raw.get("restful")),
        anonymous=anonymous,
        summary=summary_of(doc),
        doc=doc,
        params=parse_params(doc),
    )


class _Draft:
    """A resource being assembled from the auth and anon parts at one path."""

    def __init__(self, name: str, params: tuple[str, ...], summary: str) -> None:
        self.name = name
        self.params = params
        self.summary = summary
        self.auth: list[Action] = []
        self.anon: list[Action] = []


def _resources_from_describe(doc: Mapping[str, Any]) -> list[Resource]:
    drafts: dict[str, _Draft] = {}
    for raw in doc.get("resources", ()):
        for kind in ("auth", "anon"):
            part = raw.get(kind)
            if not part:
                continue
            template = _relative(str(part["path"]))
            draft = drafts.get(template)
            if draft is None:
                draft = _Draft(
                    str(raw.get("name") or part.get("name") or template),
                    tuple(str(p) for p in part.get("params") or ()),
                    summary_of(str(part.get("doc") or "")),
                )
                drafts[template] = draft
            elif kind == "auth" and not draft.auth:
                # An auth part names and describes the resource better than an anon one.
                draft.name = str(raw.get("name") or draft.name)
                draft.summary = summary_of(str(part.get("doc") or "")) or draft.summary
            anonymous = kind == "anon"
            target = draft.anon if anonymous else draft.auth
            target.extend(_parse_action(a, anonymous) for a in part.get("actions") or ())
    return [_merge(template, drafts[template]) for template in sorted(drafts)]


def _merge(template: str, draft: _Draft) -> Resource:
    """Authenticated actions, plus anonymous-only ones; both kinds flagged anonymous."""
    anon_keys = {(a.method, a.label) for a in draft.anon}
    actions: dict[tuple[str, str], Action] = {}
    for a in draft.auth:
        key = (a.method, a.label)
        if key not in actions:
            actions[key] = _with_anonymous(a, key in anon_keys)
    for a in draft.anon:
        actions.setdefault((a.method, a.label), a)
    ordered = sorted(actions.values(), key=lambda a: (a.op is not None, a.label, a.method))
    return Resource(draft.name, template, draft.params, draft.summary, tuple(ordered))


def _with_anonymous(a: Action, anonymous: bool) -> Action:
    if a.anonymous == anonymous:
        return a
    return Action(a.name, a.method, a.op, a.restful, anonymous, a.summary, a.doc, a.params)


# The cache: one file per server API root.


def cache_dir() -> Path:
    env = os.environ.get("MAASCURL_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("maascurl"))


def open_cached(path: Path) -> IO[bytes]:
    """PATH in the cache, opened for reading, when it is this user's (or root's) own.

    A cache directory someone else made (a shared $MAASCURL_CACHE_DIR, say)
    may hold their files, which would feed TAB, `describe` and the checks: a
    file another user owns or can write, or a link, is refused (an OSError, as
    if it were missing), as config.toml refuses to run their api_key_command.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if info.st_uid not in (os.geteuid(), 0) or info.st_mode & 0o022:
            raise PermissionError(f"{path} is not this user's own file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def cache_file(api_root: str, directory: Path | None = None, *, kind: str = "describe") -> Path:
    """The cache path for an API root URL: a readable slug plus a short checksum.

    In DIRECTORY, else in cache_dir(). KIND names the document: "describe" (the
    2.0 API's), "openapi" (the v3 API's, api/openapi.py; its root is the v3 root).
    """
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", re.sub(r"^[a-z]+://", "", api_root)).strip("_")
    digest = zlib.crc32(api_root.encode()) & 0xFFFFFFFF
    return (directory or cache_dir()) / f"{kind}-{slug[:80]}-{digest:08x}.json"


def _header(raw: bytes) -> dict[str, Any] | None:
    head = json.loads(raw)
    if not isinstance(head, dict) or head.get("format") != CACHE_FORMAT:
        return None
    return head


def load_cached(api_root: str) -> ApiDescription | None:
    """The cached description, or None when missing, stale in format, or damaged."""
    try:
        with open_cached(cache_file(api_root)) as f:
            head = _header(f.readline())
            if head is None:
                return None
            rows = json.loads(f.read())
        about = head.get("about", "")
        return ApiDescription.from_data(
            str(head["hash"]), rows, about if type(about) is str else ""
        )
    except Exception:  # a bad cache only costs a refetch; never break the command
        return None


def cached_hash(api_root: str) -> str | None:
    """The API hash of the cached description (reads only the header line)."""
    try:
        with open_cached(cache_file(api_root)) as f:
            head = _header(f.readline())
        return None if head is None else str(head["hash"])
    except Exception:  # same reasoning as load_cached
        return None


def save_cache(
    api_root: str, describe_body: bytes, directory: Path | None = None
) -> ApiDescription:
    """Parse a describe response body, store its compact form atomically, return it.

    In DIRECTORY (the sandbox's private one for its commands), else in cache_dir().
    """
    try:
        doc = json.loads(describe_body)
    except RecursionError:  # a hostile server's nesting, not a bug of ours
        raise ValueError("the API description is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError("the API description is not a JSON object")
    try:
        desc = ApiDescription.from_describe(doc)
    except (AttributeError, KeyError, TypeError, RecursionError) as exc:
        raise ValueError(f"the API description is malformed ({type(exc).__name__})") from None
    from maascurl.dirs import make_private_dirs

    target = cache_file(api_root, directory)
    make_private_dirs(target.parent)
    facts = {"format": CACHE_FORMAT, "hash": desc.hash, "root": api_root}
    head = json.dumps({**facts, "about": desc.about} if desc.about else facts)
    body = json.dumps(desc.to_data(), separators=(",", ":"))
    write_atomic(target, (head + "\n" + body).encode())
    return desc


def write_atomic(target: Path, data: bytes) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".describe-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
