"""`maascurl events`: MAAS's event log, its paging, and following it like tail -f."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run, Spawn, env_for_subprocess, on_terminal
from hostile import HostileServer, reply
from simulator import MaasSimulator

from maascurl.jobs import events


@pytest.fixture
def log(api: MaasSimulator) -> Iterator[MaasSimulator]:
    """Five events on two machines: INFO, DEBUG, AUDIT, ERROR and INFO."""
    api.timed.reset()
    entries = api.timed.log
    saved = list(entries.events)
    entries.events.clear()
    first, second = api.machines[0], api.machines[1]
    entries.log(first, "INFO", "Deploying")
    entries.log(first, "DEBUG", "Node installation", "curtin running")
    entries.log(second, "AUDIT", "Node", "Started deploying 'x'.")
    entries.log(first, "ERROR", "Node installation failure", "Installation failed")
    entries.log(second, "INFO", "Ready")
    yield api
    entries.events[:] = saved


def lines_of(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_piped_events_are_json_lines_oldest_first(log: MaasSimulator, run: Run) -> None:
    result = run("events")
    assert result.exit_code == 0, result.stderr
    got = lines_of(result.stdout)
    # level defaults to INFO: DEBUG and AUDIT events are MAAS's to leave out.
    assert [e["type"] for e in got] == ["Deploying", "Node installation failure", "Ready"]
    assert [e["id"] for e in got] == sorted(e["id"] for e in got)


def test_filters_are_those_of_events_query(log: MaasSimulator, run: Run) -> None:
    audit = lines_of(run("events", "level=AUDIT").stdout)
    assert [e["description"] for e in audit] == ["Started deploying 'x'."]
    mine = lines_of(run("events", "id=abc000", "level=DEBUG").stdout)
    assert [e["type"] for e in mine] == [
        "Deploying",
        "Node installation",
        "Node installation failure",
    ]
    query = log.requests[-1].query
    assert query == [("op", "query"), ("id", "abc000"), ("level", "DEBUG"), ("limit", "10")]


def test_lines_limits_the_backlog(log: MaasSimulator, run: Run) -> None:
    got = lines_of(run("events", "-n", "2").stdout)
    assert [e["type"] for e in got] == ["Node installation failure", "Ready"]
    assert run("events", "-n", "0").stdout == ""


def test_paging_arguments_are_the_commands_own(log: MaasSimulator, run: Run) -> None:
    result = run("events", "after=3")
    assert result.exit_code == 2
    assert "are set by events" in result.stderr


def test_simulator_pages_like_maas(log: MaasSimulator, run: Run) -> None:
    ids = [e["id"] for e in log.timed.log.events]
    result = run("get", "events", "op=query", "level=DEBUG", f"after={ids[0]}", "limit=2")
    page = json.loads(result.stdout)
    # the OLDEST two after `after`, returned newest first
    assert [e["id"] for e in page["events"]] == [ids[3], ids[1]]
    assert page["next_uri"].endswith(f"after={ids[3]}")
    newest = json.loads(run("get", "events", "op=query", "limit=1").stdout)
    assert [e["id"] for e in newest["events"]] == [ids[4]]


def test_follow_prints_each_new_event_once_in_order(
    log: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging through a burst bigger than a page, with new events between polls."""
    monkeypatch.setattr(events, "PAGE", 2)
    machine = log.machines[0]
    rounds = iter([5, 0, 1])  # new events before each poll

    def pause(seconds: float) -> None:
        count = next(rounds, None)
        if count is None:
            raise KeyboardInterrupt
        for i in range(count):
            log.timed.log.log(machine, "INFO", f"new {i}")

    monkeypatch.setattr(events.time, "sleep", pause)
    result = run("events", "-f", "-n", "1", "id=abc000")
    assert result.exit_code == 0, result.stderr
    got = [e["type"] for e in lines_of(result.stdout)]
    assert got == [
        "Node installation failure",
        "new 0",
        "new 1",
        "new 2",
        "new 3",
        "new 4",
        "new 0",
    ]
    ids = [e["id"] for e in lines_of(result.stdout)]
    assert ids == sorted(set(ids))


def test_follow_survives_a_503_and_ctrl_c_exits_0(
    spawn: Spawn, log: MaasSimulator, profile: str, home: Path
) -> None:
    env = env_for_subprocess(home)
    argv = [sys.executable, "-m", "maascurl", "events", "-f", "-n", "0", "--interval", "0.05"]
    process = spawn(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    machine = log.machines[0]
    newest = log.timed.log.next_id
    deadline = time.monotonic() + 30
    while not any(("after", str(newest)) in r.query for r in list(log.requests)):
        assert time.monotonic() < deadline, "maascurl events never followed"
        time.sleep(0.02)  # it follows from the newest id: what is logged now is new
    log.queue(503, "busy", path="events/", count=2)
    with log._lock:
        for i in range(3):
            log.timed.log.log(machine, "INFO", f"step {i}")
    seen = [json.loads(process.stdout.readline()) for _ in range(3)]
    os.kill(process.pid, signal.SIGINT)
    rest, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert [e["type"] for e in seen] == ["step 0", "step 1", "step 2"]
    assert rest == b""
    assert stderr.decode().count("still following") <= 1


def test_a_terminal_gets_readable_lines(log: MaasSimulator, profile: str, home: Path) -> None:
    log.timed.log.log(log.machines[0], "INFO", "Evil \x1b]0;title\x07", "x")
    out, stderr, status = on_terminal(
        [sys.executable, "-m", "maascurl", "events", "-n", "2"], env_for_subprocess(home)
    )
    assert status == 0, stderr
    text = out.decode()
    assert "amber-otter  Evil \\x1b]0;title\\x07: x" in text
    assert "\x1b]0" not in text
    assert "Ready" in text and "{" not in text


def test_follow_reads_a_burst_page_after_page_without_sleeping(
    log: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full page means more are waiting: the next page is asked for at once, not a poll later."""
    monkeypatch.setattr(events, "PAGE", 2)
    machine = log.machines[0]
    sleeps = 0

    def pause(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps > 1:
            raise KeyboardInterrupt  # only one wake-up: the whole burst must be read in it
        for i in range(5):
            log.timed.log.log(machine, "INFO", f"burst {i}")

    monkeypatch.setattr(events.time, "sleep", pause)
    result = run("events", "-f", "-n", "0", "id=abc000")
    assert result.exit_code == 0, result.stderr
    assert [e["type"] for e in lines_of(result.stdout)] == [f"burst {i}" for i in range(5)]


def test_follow_ends_on_a_4xx(
    log: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only refused connections, timeouts and 5xx are waited out; a 4xx ends following."""
    sleeps = 0

    def pause(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps > 1:
            raise KeyboardInterrupt  # following on would end here with status 0
        log.queue(403, "You do not have permission", path="events/")

    monkeypatch.setattr(events.time, "sleep", pause)
    result = run("events", "-f", "-n", "0")
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith("maascurl: error: ")
    assert "403" in result.stderr and "still following" not in result.stderr
    assert sleeps == 1


# ---------------------------------------------------------------- a hostile server


def event_page(*ids: object) -> bytes:
    entries = [{"id": i, "type": f"event {i}", "level": "INFO"} for i in ids]
    return json.dumps({"count": len(entries), "events": entries}).encode()


def test_full_pages_of_old_events_wait_for_the_next_poll(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that answers full pages with nothing newer (it ignores `after`) gets one
    request per --interval, not a busy loop."""
    monkeypatch.setattr(events, "PAGE", 2)
    hostile.answer(*[reply(200, event_page(5, 4)) for _ in range(20)])
    requests_per_wake: list[int] = []

    def pause(seconds: float) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # the server's own threads
        requests_per_wake.append(len(hostile.seen))
        if len(requests_per_wake) > 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(events.time, "sleep", pause)
    result = run("events", "-f", "-n", "2")
    assert result.exit_code == 0, result.stderr
    assert [e["id"] for e in lines_of(result.stdout)] == [4, 5]
    assert requests_per_wake == [1, 2, 3, 4]  # the first read, then one per poll


@pytest.mark.parametrize(
    ("found", "shown"),
    [
        ('"abc"', "'abc'"),
        ("1.5", "1.5"),
        ('{"a": 1}', "dict"),
        ("true", "bool"),
        ("null", "NoneType"),
    ],
)
def test_an_event_id_that_is_not_a_number_is_one_line(
    hostile: HostileServer, run: Run, found: str, shown: str
) -> None:
    page = b'{"events": [{"id": 7, "type": "ok"}, {"id": %s, "type": "odd"}]}' % found.encode()
    hostile.answer(reply(200, page))
    result = run("events")
    assert result.exit_code == 1
    assert result.stderr == f"maascurl: error: events: an event's id is not a number: {shown}\n"
