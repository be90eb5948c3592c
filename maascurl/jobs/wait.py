"""Waiting for MAAS: `--wait` after an action, `maascurl wait`, and the polling behind both.

Most MAAS actions only start something: `op=deploy` answers at once with the
machine in Deploying and the install goes on for minutes. Waiting means
reading the object again (each read signed afresh and sent through
`call.Session`, so it gets clock-skew recovery and Retry-After) until a field
settles, telling success from failure.

Facts from MAAS's source (canonical/maas 3.4-3.6 and master) that this rests on:

- `status_name` is the label of NODE_STATUS (src/maasserver/enum.py
  NODE_STATUS_CHOICES; master: src/maascommon/node.py NODE_STATUS_LABELS).
  FAILED_RELEASING is labelled "Releasing failed", not "Failed releasing".
- Each in-progress status has the failure status it ends in on error
  (NODE_FAILURE_STATUS_TRANSITIONS in src/maasserver/node_status.py; master:
  NODE_FAILURE_STATUS_TRANSITION_MAP in src/maascommon/node.py): `BUSY` below.
- MAAS itself fails Commissioning, Deploying, Entering rescue mode and Testing
  after its `node_timeout` setting (default 30 minutes) and Releasing and
  Exiting rescue mode after 5 minutes (NODE_FAILURE_MONITORED_STATUS_TIMEOUTS);
  Disk erasing has no such timeout. The default wait bounds follow from that.
- The actions set the in-progress status before they answer (deploy answers
  with the machine in Deploying), so the POST's own answer is the first
  observation and an action that ended at once needs no further read.
- test and exit_rescue_mode put the machine back in the status it had before
  (any status); abort ends Deploying in Allocated, Commissioning and Testing in
  the previous status and Disk erasing in Failed disk erasing
  (Node.abort_operation), so after abort any settled status is success.
- `power_state` is on, off, unknown or error (src/provisioningserver/enum.py
  POWER_STATE); power_on and power_off answer before the BMC has acted, and
  power_off answers null when MAAS sent no power action (manual power type).
- `POST boot-resources/?op=import` answers text at once; `GET
  boot-resources/?op=is_importing` answers true or false
  (src/maasserver/api/boot_resources.py).
- `GET machines/?id=A&id=B` lists only the machines with those system ids
  (NodesHandler.read's ReadNodesForm: `id` matches any of the system ids, in
  src/maasserver/node_constraint_filter_forms.py), which lets a fleet be
  polled with one listing per round.

Nothing here imports httpx or rich at module level: TAB completion reads the
field names below.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from maascurl.errors import (
    AnswerTooLarge,
    ConnectFailed,
    FailedState,
    HTTPStatusError,
    Interrupted,
    MaascurlError,
    TimedOut,
    UsageError,
    size_text,
)

if TYPE_CHECKING:
    import random

    from maascurl.jobs.call import CallOptions, Session
    from maascurl.show.waitview import View
    from maascurl.wire._httpx import httpx
    from maascurl.wire.request import RequestSpec

MINUTE = 60.0
DEFAULT_INTERVAL = 5.0  # python-libmaas polls every 5 s too
DEFAULT_WAIT_TIMEOUT = 30 * MINUTE  # `maascurl wait`, and MAAS's own node_timeout
BACKOFF = 1.25  # each quiet round waits a quarter longer...
MAX_BACKOFF = 4.0  # ...up to four times --interval; a state change resets it
JITTER = 0.2  # +-20 %, so that many waiting processes do not poll in step
LISTING_CHUNK = 100  # system ids per `GET machines/?id=...`, to keep URLs short
POLL_JOBS = 4  # concurrent polling requests: gentle on the region's API workers
# Answers read whole while waiting, each past its cap a one-line error (AnswerTooLarge):
ANSWER_LIMIT = 16 * 1024 * 1024  # one object: the action's answer, a final read, a listed machine
POLL_LIMIT = 64 * 1024 * 1024  # one poll: LISTING_CHUNK machines, or `maascurl wait PATH`

# In-progress status -> the status MAAS puts the machine in when it fails.
BUSY = {
    "Commissioning": "Failed commissioning",
    "Deploying": "Failed deployment",
    "Releasing": "Releasing failed",
    "Disk erasing": "Failed disk erasing",
    "Entering rescue mode": "Failed to enter rescue mode",
    "Exiting rescue mode": "Failed to exit rescue mode",
    "Testing": "Failed testing",
}
FAILED = frozenset(BUSY.values()) | {"Broken"}

# Every status_name (NODE_STATUS_CHOICES), for TAB after `status_name=`.
STATUS_NAMES = (
    "New",
    "Commissioning",
    "Failed commissioning",
    "Missing",
    "Ready",
    "Reserved",
    "Allocated",
    "Deploying",
    "Deployed",
    "Retired",
    "Broken",
    "Failed deployment",
    "Releasing",
    "Releasing failed",
    "Disk erasing",
    "Failed disk erasing",
    "Rescue mode",
    "Entering rescue mode",
    "Failed to enter rescue mode",
    "Exiting rescue mode",
    "Failed to exit rescue mode",
    "Testing",
    "Failed testing",
)
POWER_STATES = ("on", "off", "unknown", "error")

# Fields worth offering to `maascurl wait` on TAB (MAAS's machine object).
MACHINE_FIELDS = (
    "status_name",
    "status_message",
    "power_state",
    "locked",
    "owner",
    "osystem",
    "distro_series",
    "hostname",
    "zone.name",
    "pool.name",
    "boot_interface.link_connected",  # DISPLAYED_INTERFACE_FIELDS, api/interfaces.py
    "commissioning_status_name",
    "testing_status_name",
    "netboot",
)

WAITING, DONE, FAILURE = "waiting", "done", "failed"


class Condition(NamedTuple):
    """When a waited-for object is done, failed, or still on its way.

    `done`: every FIELD has one of its values (None: any value). `fail`: any
    FIELD with one of its values is a failure. `busy`: while FIELD has one of
    these values, keep waiting; once it has left them, an unmet `done` is a
    failure too (the machine settled somewhere else, e.g. an aborted deploy).
    """

    done: tuple[tuple[str, frozenset[str] | None], ...]
    fail: tuple[tuple[str, frozenset[str]], ...] = ()
    busy: tuple[str, frozenset[str]] | None = None


class Goal(NamedTuple):
    """What to wait for after one kind of request."""

    condition: Condition
    timeout: float
    poll: str | None = None  # the path to read (relative to the API root); None: the object
    final: str | None = None  # the path read for stdout at the end; None: the last poll
    labels: dict[str, str] | None = None  # names for raw values (import: true -> importing)
    # The action's answer may predate its effect (power_state changes when the
    # BMC has acted): a failure value the object already had then is stale,
    # not the action's failure.
    stale_failure: bool = False


def status_goal(done: set[str] | None, timeout: float, fail: frozenset[str] | None = None) -> Goal:
    condition = Condition(
        done=(("status_name", frozenset(done) if done else None),),
        fail=(("status_name", FAILED if fail is None else fail),),
        busy=("status_name", frozenset(BUSY)),
    )
    return Goal(condition, timeout)


def power_goal(state: str) -> Goal:
    condition = Condition(
        done=(("power_state", frozenset({state})),), fail=(("power_state", frozenset({"error"})),)
    )
    return Goal(condition, 5 * MINUTE, stale_failure=True)


# The machine (node) actions that start something, and what ends each.
ACTIONS: dict[str, Goal] = {
    "deploy": status_goal({"Deployed"}, 30 * MINUTE),
    "commission": status_goal({"Ready"}, 30 * MINUTE),
    # A full disk erase on release can take hours: raise --wait-timeout.
    "release": status_goal({"Ready"}, 30 * MINUTE),
    "rescue_mode": status_goal({"Rescue mode"}, 30 * MINUTE),
    "test": status_goal(None, 30 * MINUTE, frozenset({"Failed testing"})),
    "exit_rescue_mode": status_goal(None, 10 * MINUTE, frozenset({"Failed to exit rescue mode"})),
    "abort": status_goal(None, 10 * MINUTE, frozenset()),
    "power_on": power_goal("on"),
    "power_off": power_goal("off"),
}
IMPORT = Goal(
    Condition(done=(("", frozenset({"false"})),)),
    60 * MINUTE,
    poll="boot-resources/?op=is_importing",
    final="boot-resources/",
    labels={"true": "importing", "false": "imported"},
)


def complete_condition(incomplete: str) -> list[str]:
    """TAB candidates for FIELD=VALUE[,VALUE]: machine field names, then their values."""
    name, sep, values = incomplete.partition("=")
    if not sep:
        return [f"{field}=" for field in MACHINE_FIELDS if field.startswith(name)]
    known = {"status_name": STATUS_NAMES, "power_state": POWER_STATES}.get(name, ())
    done, _, last = values.rpartition(",")
    lead = f"{name}={done}," if done else f"{name}="
    return [lead + value for value in known if value.startswith(last)]


# --- durations ---------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([hms]?)")
_UNIT = {"": 1.0, "s": 1.0, "m": MINUTE, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '1.5m', '15m', '1h' or '1h30m'."""
    spec = text.strip().lower()
    total, position = 0.0, 0
    for match in _DURATION.finditer(spec):
        bare = not match.group(2)
        if match.start() != position or (bare and (position or match.end() != len(spec))):
            break  # a number without a unit stands alone: "90", not "1m1"
        total += float(match.group(1)) * _UNIT[match.group(2)]
        position = match.end()
    if not spec or position != len(spec) or total <= 0:
        raise UsageError(f"bad duration {text!r}: use e.g. 90, 90s, 15m or 1h")
    return total


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{seconds:.1f}s" if seconds < 10 and seconds != whole else f"{secs}s"


# --- fields and judging ------------------------------------------------------

_MISSING = object()


def field_value(data: Any, path: str) -> Any:
    """The value at a dotted PATH ('boot_interface.link_connected'; '' is the whole answer)."""
    for part in path.split(".") if path else ():
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def as_text(value: Any) -> str:
    """A JSON value as the user types it on the command line: true, null, 3, Deployed."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def parse_condition(fields: Sequence[str], fail_on: Sequence[str]) -> Condition:
    """`maascurl wait` arguments: FIELD=VALUE[,VALUE...] each."""
    if not fields:
        raise UsageError("wait needs at least one FIELD=VALUE[,VALUE...]")
    return Condition(
        done=tuple((name, frozenset(values)) for name, values in map(_field_values, fields)),
        fail=tuple((name, frozenset(values)) for name, values in map(_field_values, fail_on)),
    )


def _field_values(text: str) -> tuple[str, list[str]]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"expected FIELD=VALUE[,VALUE...], got {text!r}")
    return name.strip(), values.split(",")


class Observation(NamedTuple):
    verdict: str  # WAITING, DONE or FAILURE
    state: str  # what the user is shown: "Deploying", "power_state=off"
    message: str  # MAAS's status_message, when it has one


def judge(goal: Goal, data: Any, where: str) -> Observation:
    condition = goal.condition
    names = [name for name, _ in condition.done]
    for name, _ in condition.fail:
        names += [name] if name not in names else []
    values = {name: _value_of(data, name, where) for name in names}
    state = _state_label(values, goal.labels)
    message = data.get("status_message") if isinstance(data, dict) else None
    message = message if isinstance(message, str) else ""
    if any(values[name] in wanted for name, wanted in condition.fail):
        return Observation(FAILURE, state, message)
    busy = condition.busy
    if busy is not None and as_text(field_value(data, busy[0])) in busy[1]:
        return Observation(WAITING, state, message)
    if all(wanted is None or values[name] in wanted for name, wanted in condition.done):
        return Observation(DONE, state, message)
    return Observation(FAILURE if busy is not None else WAITING, state, message)


def _value_of(data: Any, name: str, where: str) -> str:
    value = field_value(data, name)
    if value is _MISSING:
        raise UsageError(f"{where}: the answer has no field {name!r}")
    return as_text(value)


def _state_label(values: dict[str, str], labels: dict[str, str] | None) -> str:
    if labels is not None:
        return ", ".join(labels.get(value, value) for value in values.values())
    if list(values) == ["status_name"]:
        return values["status_name"]
    return ", ".join(f"{name}={value}" for name, value in values.items())


def expected_text(goal: Goal) -> str:
    wanted = [sorted(values) for _, values in goal.condition.done if values is not None]
    return " or ".join(value for group in wanted for value in group)


# --- what a request starts ---------------------------------------------------


class NothingStarted(MaascurlError):
    """--wait after an action MAAS answered without starting it: nothing to wait for."""


POWER_OPS = ("power_on", "power_off")


def goal_for(spec: RequestSpec, relpath: str, answer: Any) -> Goal | None:
    """The goal a successful SPEC started, or None when it finished at once.

    Raises NothingStarted for a power action MAAS sent no power command for:
    power_off answers null then, and a machine of power type manual is never
    powered by MAAS.
    """
    if spec.method != "POST":
        return None
    op = spec.op
    if op == "import" and relpath.strip("/") == "boot-resources":
        return IMPORT
    goal = ACTIONS.get(op or "")
    if goal is None:
        return None
    where = relpath.rstrip("/")
    if op in POWER_OPS and answer is None:
        raise NothingStarted(
            f"{where}: MAAS started no power action (it answered null, as it does for a machine "
            "whose power it does not control, such as power type manual): nothing to wait for"
        )
    if not isinstance(answer, dict) or "system_id" not in answer:
        return None
    if op in POWER_OPS and answer.get("power_type") == "manual":
        raise NothingStarted(
            f"{where}: MAAS started no power action (power type manual: it powers the machine "
            "neither on nor off): nothing to wait for"
        )
    return goal


# --- pacing ------------------------------------------------------------------


class Pacer:
    """Poll intervals: --interval, backing off gently while nothing changes, with jitter."""

    def __init__(self, interval: float, rng: random.Random | None = None) -> None:
        import random

        self.base = interval
        self.current = interval
        self.rng = rng or random.Random()

    def next(self) -> float:
        delay = self.current * self.rng.uniform(1 - JITTER, 1 + JITTER)
        self.current = min(self.current * BACKOFF, self.base * MAX_BACKOFF)
        return delay

    def reset(self) -> None:
        self.current = self.base


# --- one waited-for object ---------------------------------------------------


@dataclass
class Watch:
    """One object being waited for, and what has been seen of it."""

    where: str  # as the user knows it: machines/abc123
    url: str  # what to GET
    goal: Goal
    started: float
    seen: Observation | None = None
    first: Observation | None = None  # the action's own answer
    moved: bool = False  # seen in another state than `first` since
    data: Any = None
    body: bytes | None = None  # the last answer's bytes, for stdout
    response: httpx.Response | None = None  # the last answer, when read on its own
    error: MaascurlError | None = None  # how it ended, when not in success
    ended: float | None = None
    changed_at: float = 0.0
    key: str | None = None  # the system id, when it can be listed with others
    session: Session | None = None  # the server it lives on, when not the poller's own
    headers: tuple[tuple[str, str], ...] = ()  # -H of `maascurl wait`, sent with every poll
    action: bool = True  # a request of ours started what is waited for (not `maascurl wait`)
    trouble: MaascurlError | None = None  # why the polls since the last answer failed

    @property
    def finished(self) -> bool:
        return self.ended is not None

    @property
    def hostname(self) -> str:
        name = self.data.get("hostname") if isinstance(self.data, dict) else None
        return name if isinstance(name, str) else ""

    def elapsed(self, now: float) -> float:
        return (self.ended or now) - self.started

    def deadline(self) -> float:
        return self.started + self.goal.timeout

    def observe(self, data: Any, body: bytes, now: float) -> bool:
        """Take a fresh answer; True when its state differs from the last one seen."""
        seen = judge(self.goal, data, self.where)
        if self.first is None:
            self.first = seen
        elif seen.state != self.first.state:
            self.moved = True
        if self.goal.stale_failure and seen.verdict == FAILURE and not self.moved:
            seen = seen._replace(verdict=WAITING)
        changed = self.seen is None or seen.state != self.seen.state
        self.seen, self.data, self.body = seen, data, body
        if changed:
            self.changed_at = now
        if seen.verdict == DONE:
            self.ended = now
        elif seen.verdict == FAILURE:
            self.ended = now
            self.error = FailedState(self.failure_text())
        return changed

    def failure_text(self) -> str:
        assert self.seen is not None
        state, message = self.seen.state, self.seen.message
        expected = expected_text(self.goal)
        if self.goal.condition.busy is not None and self.seen.state not in FAILED and expected:
            state = f"{state} (not {expected})"
        return f"{self.where}: {state}: {message}" if message else f"{self.where}: {state}"

    def time_out(self, now: float) -> None:
        """The wait's time is up: say what was last seen, or why nothing was."""
        waited = format_duration(now - self.started)
        self.ended = now
        trouble = self.trouble
        if self.seen is None and trouble is not None:
            # Never answered: the failure itself (a connection failure is exit 6).
            self.error = _reworded(trouble, f"{self.where}: no answer in {waited}: {trouble}")
            return
        state = self.seen.state if self.seen else "not read"
        if trouble is not None:
            why = f"; the polls since failed: {trouble}"
        elif self.action:
            why = "; it goes on in MAAS"
        else:
            why = ""
        self.error = TimedOut(
            f"{self.where}: still {state} after {waited}{why} (--wait-timeout sets how long "
            "to wait)"
        )

    def gone(self, error: MaascurlError) -> None:
        self.ended = time.monotonic()
        self.error = error

    def slim(self, *, finished_too: bool = False) -> None:
        """Forget the object but for its hostname (unless it is finished, when the
        final object is still to be written): a fleet's thousands of watches then
        hold their states, not their machines."""
        if finished_too or not self.finished:
            hostname = self.hostname
            self.data = {"hostname": hostname} if hostname else None
            self.body = self.response = None


# --- polling -----------------------------------------------------------------


def transient(error: MaascurlError) -> bool:
    """A failure one poll may have and the next may not: refused, timed out, 5xx."""
    if isinstance(error, HTTPStatusError):
        return error.status >= 500
    return isinstance(error, (ConnectFailed, TimedOut))


def parse_json(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise MaascurlError(f"{where}: the answer is not JSON") from None
    except RecursionError:  # a hostile server's nesting, not a bug of ours
        raise MaascurlError(f"{where}: the answer's JSON is nested too deeply") from None


def get_spec(url: str, query: list[tuple[str, str]] | None = None) -> RequestSpec:
    from maascurl.wire.request import RequestSpec

    return RequestSpec("GET", url, list(query or ()))


def split_url(api_root: str, relpath: str) -> tuple[str, list[tuple[str, str]]]:
    """API_ROOT + RELPATH as a URL without query, and the query's pairs."""
    from urllib.parse import parse_qsl

    path, _, query = relpath.partition("?")
    return api_root + path, parse_qsl(query)


class Poller:
    """Reads the state of every unfinished watch once per round, as few requests as it can.

    Watches with a key (a fleet's machines) are read with one `GET
    machines/?id=...&id=...` per server and LISTING_CHUNK of them; anything
    else with one GET each. At most POLL_JOBS requests are in flight at once.
    """

    def __init__(self, session: Session | None, view: View) -> None:
        self.session = session  # for watches that do not name their own
        self.view = view
        self.moved = False

    def round(self, watches: list[Watch]) -> bool:
        """Read every watch once; True when any of them changed state."""
        self.moved = False
        by_session: dict[int, list[Watch]] = {}
        for watch in watches:
            by_session.setdefault(id(self._session(watch)), []).append(watch)
        jobs: list[Callable[[], None]] = []
        for group in by_session.values():
            session = self._session(group[0])
            listed = [w for w in group if w.key is not None]
            jobs += [partial(self.read_one, session, w) for w in group if w not in listed]
            for start in range(0, len(listed), LISTING_CHUNK):
                chunk = listed[start : start + LISTING_CHUNK]
                jobs.append(partial(self.read_listing, session, chunk))
        run_jobs(jobs)
        return self.moved

    def _session(self, watch: Watch) -> Session:
        session = watch.session or self.session
        assert session is not None
        return session

    def read_one(self, session: Session, watch: Watch) -> None:
        try:
            spec = get_spec(*split_url("", watch.url))
            spec.headers = list(watch.headers)
            response = session.read(spec, POLL_LIMIT)
        except MaascurlError as error:
            self._failed_read(watch.where, [watch], error)
            return
        self.view.recovered(watch.where)
        watch.trouble = None
        body = response.content
        watch.response = response
        self._observe(watch, parse_json(body, watch.where), body)

    def read_listing(self, session: Session, chunk: list[Watch]) -> None:
        query = [("id", w.key or "") for w in chunk]
        where = "machines"
        try:
            spec = get_spec(session.target.api_root + "machines/", query)
            response = session.read(spec, POLL_LIMIT)
        except MaascurlError as error:
            self._failed_read(where, chunk, error)
            return
        self.view.recovered(where)
        listing = parse_json(response.content, where)
        by_id = {m.get("system_id"): m for m in listing if isinstance(m, dict)}
        for watch in chunk:
            data = by_id.get(watch.key)
            if data is None:  # deleted, or no longer visible to this user
                watch.gone(HTTPStatusError(404, f"{watch.where}: no longer listed by MAAS"))
                self.view.changed(watch)
                continue
            watch.response = None
            watch.trouble = None
            body = json.dumps(data, ensure_ascii=False).encode()
            if len(body) > ANSWER_LIMIT:
                too_large = f"{watch.where}: listed with more than {size_text(ANSWER_LIMIT)}"
                watch.gone(AnswerTooLarge(too_large))
                self.view.changed(watch)
                continue
            self._observe(watch, data, body)
            watch.slim()  # thousands may wait: each keeps only what the view shows

    def _observe(self, watch: Watch, data: Any, body: bytes) -> None:
        try:
            changed = watch.observe(data, body, time.monotonic())
        except MaascurlError as error:  # e.g. the answer lacks the field waited for
            watch.gone(error)
            changed = True
        if changed:
            self.moved = True
            self.view.changed(watch)

    def _failed_read(self, where: str, watches: list[Watch], error: MaascurlError) -> None:
        if not transient(error):
            for watch in watches:
                watch.gone(_prefixed(error, watch.where))
                self.view.changed(watch)
            return
        for watch in watches:
            watch.trouble = error
        self.view.trouble(where, str(error))


def _prefixed(error: MaascurlError, where: str) -> MaascurlError:
    return _reworded(error, f"{where}: {error}")


def _reworded(error: MaascurlError, message: str) -> MaascurlError:
    """ERROR's kind (and exit status) with MESSAGE."""
    if isinstance(error, HTTPStatusError):
        return HTTPStatusError(error.status, message)
    return type(error)(message)


def run_jobs(jobs: Sequence[Callable[[], None]]) -> None:
    if len(jobs) == 1:
        jobs[0]()
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(POLL_JOBS, len(jobs))) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def expire(watches: list[Watch], now: float, view: View) -> list[Watch]:
    """Time out the watches past their deadline; the ones still pending."""
    for watch in watches:
        if not watch.finished and now >= watch.deadline():
            watch.time_out(now)
            view.changed(watch)
    return [w for w in watches if not w.finished]


def wait_all(
    session: Session | None,
    watches: list[Watch],
    interval: float,
    view: View,
    *,
    read_first: bool = False,
) -> None:
    """Poll until every watch has finished (done, failed, gone or timed out).

    READ_FIRST: one round before the first sleep, for watches whose target
    may be there already.
    """
    poller = Poller(session, view)
    if read_first:
        poller.round(watches)
    pacer = Pacer(interval)
    while True:
        now = time.monotonic()
        pending = expire(watches, now, view)
        if not pending:
            return
        deadline = min(w.deadline() for w in pending)
        view.sleep(min(pacer.next(), max(0.0, deadline - now)))
        if poller.round(pending):
            pacer.reset()  # something moves: look again soon


def machine_key(api_root: str, url: str, data: Any) -> str | None:
    """The system id when URL is that machine's own (so that a listing can read it)."""
    system_id = data.get("system_id") if isinstance(data, dict) else None
    if isinstance(system_id, str) and url == f"{api_root}machines/{system_id}/":
        return system_id
    return None


def final_state(watch: Watch) -> str:
    """How a watch ended, in a word or three: Deployed, still Deploying (timed out), gone."""
    state = watch.seen.state if watch.seen else "not read"
    if isinstance(watch.error, TimedOut):
        return f"still {state} (timed out)"
    if watch.error is not None and not isinstance(watch.error, FailedState):
        return "gone" if isinstance(watch.error, HTTPStatusError) else "unknown"
    return state


def fleet_summary(watches: Sequence[Watch], seconds: float) -> str:
    from collections import Counter

    counts = Counter(final_state(w) for w in watches)
    parts = ", ".join(f"{count} {state}" for state, count in counts.most_common())
    return f"waited for {len(watches)} in {format_duration(seconds)}: {parts}"


def json_or_none(body: bytes | None) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None


# --- --wait on a request, and `maascurl wait` ---------------------------------


@dataclass
class WaitOptions:
    timeout: float | None = None  # None: the goal's own default
    interval: float = DEFAULT_INTERVAL


def send_and_wait(
    spec: RequestSpec, session: Session, options: CallOptions, wait: WaitOptions
) -> None:
    """Send SPEC; when it started something, wait for it to end and write the final object.

    A boot-image upload (image_create) is waited for by jobs/racksync.py instead.
    """
    relpath = spec.url[len(session.target.api_root) :]
    answer = session.read(spec, ANSWER_LIMIT)
    data = json_or_none(answer.content)
    try:
        goal = goal_to_wait_for(spec, relpath, data, wait)
    except NothingStarted:
        write_final(answer, options)  # MAAS's answer, as without --wait; then the error
        raise
    if goal is None:
        write_final(answer, options)
        return
    where = relpath.rstrip("/") or "the API root"
    if goal.poll is not None:
        _wait_for_poll(session, goal, where, options, wait)
        return
    watch = Watch(where, spec.url, goal, time.monotonic())
    watch.response = answer
    _wait_and_write(session, watch, options, wait, data)


def goal_to_wait_for(spec: RequestSpec, relpath: str, data: Any, wait: WaitOptions) -> Goal | None:
    """What SPEC's answer DATA is to be waited for with --wait (None: it ended as it
    answered), bounded by --wait-timeout when given."""
    goal = goal_for(spec, relpath, data)
    if goal is not None and wait.timeout is not None:
        goal = goal._replace(timeout=wait.timeout)
    return goal


def read_final(session: Session, goal: Goal) -> httpx.Response:
    """The object a goal read elsewhere ends with (an import: the boot resources)."""
    assert goal.final is not None
    return session.read(get_spec(*split_url(session.target.api_root, goal.final)), ANSWER_LIMIT)


def image_create(spec: RequestSpec, relpath: str) -> bool:
    """`POST boot-resources/` without an op: a boot-image upload."""
    return spec.method == "POST" and not spec.op and relpath.strip("/") == "boot-resources"


def _wait_for_poll(
    session: Session, goal: Goal, where: str, options: CallOptions, wait: WaitOptions
) -> None:
    """A goal read elsewhere (an image import: is_importing), with its own final read."""
    api_root = session.target.api_root
    assert goal.poll is not None
    watch = Watch(where, api_root + goal.poll, goal, time.monotonic())
    with view_for([watch]) as view:
        wait_all(session, [watch], wait.interval, view)
    _finish(watch)
    if one_line(options):
        write_end(watch, None, options)
        return
    final = watch.response
    if goal.final is not None:
        final = read_final(session, goal)
    if final is not None:
        write_final(final, options)


def run_wait(
    path: str,
    fields: Sequence[str],
    fail_on: Sequence[str],
    options: CallOptions,
    wait: WaitOptions,
) -> None:
    """`maascurl wait PATH FIELD=VALUE...`: poll GET PATH until every FIELD has a wanted value."""
    from maascurl.jobs.call import Session
    from maascurl.profiles.target import resolve_target
    from maascurl.wire.request import build_request

    condition = parse_condition(fields, fail_on)
    target = resolve_target(options.profile, path, anonymous=options.anonymous)
    spec = build_request(
        "GET",
        target.api_root,
        path,
        [],
        None,
        headers=options.headers,
        exact=options.no_check,
        v3=target.v3,
    )
    if options.verbose:
        from maascurl.errors import note

        for text in spec.notes:
            note(text)
    goal = Goal(condition, wait.timeout or DEFAULT_WAIT_TIMEOUT)
    where = spec.url[len(target.api_root) :].rstrip("/") or path
    if target.v3:
        where = "v3/" + where  # a 3.8 operation, say: v3/operations/UUID
    if options.offline:
        from maascurl.jobs.call import print_offline

        print_offline(spec, target, options)
        return
    with Session(target, options) as session:
        watch = Watch(
            where,
            _full_url(spec),
            goal,
            time.monotonic(),
            headers=tuple(spec.headers),
            action=False,
        )
        _wait_and_write(session, watch, options, wait)  # a region still starting is waited for


def wait_for(
    session: Session,
    relpath: str,
    condition: Condition,
    *,
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
) -> Any:
    """Poll GET RELPATH until CONDITION holds and return the object (for other commands).

    Raises FailedState (exit 8), TimedOut (exit 7), the 4xx that ended it, or
    Interrupted (exit 130); stderr shows the same view as `maascurl wait`.
    """
    from urllib.parse import urlencode

    where = relpath.split("?", 1)[0].rstrip("/") or relpath
    url, query = split_url(session.target.api_root, relpath)
    watch = Watch(
        where,
        f"{url}?{urlencode(query)}" if query else url,
        Goal(condition, timeout),
        time.monotonic(),
    )
    with view_for([watch]) as view:
        wait_all(session, [watch], interval, view, read_first=True)
    _finish(watch)
    return watch.data


def _full_url(spec: RequestSpec) -> str:
    from urllib.parse import urlencode

    return f"{spec.url}?{urlencode(spec.query)}" if spec.query else spec.url


def _wait_and_write(
    session: Session, watch: Watch, options: CallOptions, wait: WaitOptions, data: Any = _MISSING
) -> None:
    """Judge the first answer (DATA, else a first poll), poll until the end, write the object."""
    with view_for([watch]) as view:
        # A transient failure of that first poll is waited out too.
        first_poll = data is _MISSING
        if not first_poll:
            content = watch.response.content if watch.response else b""
            if watch.observe(data, content, time.monotonic()):
                view.changed(watch)
        wait_all(session, [watch], wait.interval, view, read_first=first_poll)
    # A failure state or a timeout still read the object: it goes to stdout
    # as the last word; a deleted machine (4xx) leaves stdout empty.
    if watch.response is not None and isinstance(watch.error, (type(None), FailedState, TimedOut)):
        write_end(watch, watch.response, options)
    _finish(watch)


def _finish(watch: Watch) -> None:
    if watch.error is not None:
        raise watch.error


def one_line(options: CallOptions) -> bool:
    """Whether a wait ends in one line (at a terminal) rather than with the final object.

    The object goes to a pipe, to -o, and to a terminal that asked for it
    (--format, --fields, --jq, --pretty, -i, --keep-error-body).
    """
    from maascurl.show.terminal import stdout_is_terminal

    out = options.output
    asked = out.output is not None or out.formatted or out.view or out.pretty is not None
    return not (asked or out.include or out.keep_error_body) and stdout_is_terminal()


def write_end(watch: Watch, response: httpx.Response | None, options: CallOptions) -> None:
    """How a wait ends on stdout: one line at a terminal (one_line), else the final object."""
    if not one_line(options):
        if response is not None:
            write_final(response, options)
        return
    from maascurl.errors import note
    from maascurl.termsafe import safe_line

    if options.verbose:
        note("the wait ends in one line at a terminal; --format json shows the final object")
    print(safe_line(end_line(watch)), flush=True)


def end_line(watch: Watch) -> str:
    """`web-01 (abc123): Deployed, power on`; anything but a machine: `where: state`."""
    data = watch.data if isinstance(watch.data, dict) else {}
    texts = {key: data.get(key) for key in ("hostname", "system_id", "status_name", "power_state")}
    name, system_id, status, power = (v if isinstance(v, str) else None for v in texts.values())
    if not (name or system_id):
        return f"{watch.where}: {watch.seen.state if watch.seen else 'not read'}"
    who = f"{name} ({system_id})" if name and system_id else name or system_id
    state = ", ".join(text for text in (status, power and f"power {power}") if text)
    if not state and watch.seen is not None:
        state = watch.seen.state
    return f"{who}: {state}"


def write_final(response: httpx.Response, options: CallOptions) -> None:
    """The final object, written as a plain call writes its answer."""
    from maascurl.show.output import write_response

    write_response(response, options.output)


@contextmanager
def view_for(watches: list[Watch]) -> Iterator[View]:
    """The live view at a terminal, plain lines elsewhere; Ctrl-C says MAAS goes on."""
    from maascurl.show.waitview import open_view

    with open_view(watches) as view:
        try:
            yield view
        except KeyboardInterrupt:
            raise Interrupted(_interrupted_text(watches)) from None


def _interrupted_text(watches: list[Watch]) -> str:
    pending = [w for w in watches if not w.finished]
    if len(pending) == 1:
        watch = pending[0]
        if watch.seen is None:
            return f"interrupted before {watch.where} answered"
        if not watch.action:
            return f"interrupted; {watch.where} was {watch.seen.state}"
        return f"interrupted; {watch.where} ({watch.seen.state}) goes on in MAAS"
    if pending:
        return f"interrupted; {len(pending)} actions go on in MAAS"
    return "interrupted"
