"""Fleet runs (--each, maascurl batch) end to end over real HTTP against the simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Run, complete, env_for_subprocess, maascurl_script, read_terminal, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st
from simulator import MaasSimulator, set_status

from maascurl.errors import MaascurlError
from maascurl.jobs import fleet
from maascurl.jobs.batch import EachTemplate, LineError, batch_request
from maascurl.jobs.call import CallOptions, Session
from maascurl.show.terminal import OutputOptions

ROOT = "/MAAS/api/2.0/"


@pytest.fixture
def api(api: MaasSimulator) -> MaasSimulator:
    """The logged-in simulator with a fleet of 48 machines (put back after the test)."""
    api.set_fleet(48)
    return api


def ids(n: int) -> list[str]:
    return [f"abc{i:03x}" for i in range(n)]


def lines_of(result_stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in result_stdout.splitlines()]


def report_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def machine_paths(sim: MaasSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.path.startswith(ROOT + "machines/abc")]


def make_new(sim: MaasSimulator, system_id: str) -> None:
    """Put a machine in status New, which MAAS will not release (409)."""
    for machine in sim.machines:
        if machine["system_id"] == system_id:
            set_status(machine, 0, None)
    sim.changed()


# ---------------------------------------------------------------- --each


def test_each_keeps_input_order_under_concurrency(api: MaasSimulator, run: Run) -> None:
    """Answers come back out of order (slow first lines); stdout follows the input."""
    wanted = ids(8)
    api.slow("machines/abc000/", 0.4)
    api.slow("machines/abc001/", 0.2)
    api.slow("machines/abc004/", 0.1)
    result = run("get", "machines/{}", "--each", "-", "-j", "4", input="\n".join(wanted) + "\n")
    assert result.exit_code == 0, result.stderr
    assert [m["system_id"] for m in lines_of(result.stdout)] == wanted
    assert api.max_in_flight > 1  # they really were in flight together
    answered = [p.split("/")[-2] for p in machine_paths(api)]
    assert sorted(answered) == wanted
    assert result.stderr == ""  # not a terminal, nothing failed: no summary


def test_each_uses_kept_alive_connections(api: MaasSimulator, run: Run) -> None:
    """12 requests over at most 2 connections (-j 2), each signed afresh."""
    result = run("get", "machines/{}", "--each", "-", "-j", "2", input="\n".join(ids(12)))
    assert result.exit_code == 0, result.stderr
    assert len(api.requests) == 12
    assert len({r.client_port for r in api.requests}) <= 2
    nonces = {r.oauth["oauth_nonce"] for r in api.requests if r.oauth}
    assert len(nonces) == 12


def test_each_fills_tab_separated_fields(api: MaasSimulator, run: Run) -> None:
    data = "abc001\tweb-01\tfirst rack\nabc002\tweb-02\tsecond rack\n"
    result = run(
        "put",
        "machines/{1}",
        "hostname={2}",
        "description={3}",
        "--each",
        "-",
        "-j",
        "1",
        input=data,
    )
    assert result.exit_code == 0, result.stderr
    forms = [dict(r.form) for r in api.requests]
    assert forms == [
        {"hostname": "web-01", "description": "first rack"},
        {"hostname": "web-02", "description": "second rack"},
    ]
    assert [m["hostname"] for m in lines_of(result.stdout)] == ["web-01", "web-02"]


def test_each_fills_keys_of_json_object_lines(api: MaasSimulator, run: Run) -> None:
    """What `jq -c '.[] | {system_id, hostname}'` prints, nested keys with dots."""
    data = (
        '{"system_id": "abc001", "hostname": "brisk-otter", "zone": {"name": "rack-1"}}\n'
        '{"system_id": "abc002", "hostname": "calm-otter", "zone": {"name": "rack-2"}, "n": 3}\n'
    )
    result = run(
        "put",
        "machines/{system_id}",
        "description=host {hostname} in {zone.name}",
        "-j",
        "1",
        "--each",
        "-",
        input=data,
    )
    assert result.exit_code == 0, result.stderr
    assert [r.path for r in api.requests] == [ROOT + "machines/abc001/", ROOT + "machines/abc002/"]
    assert [dict(r.form)["description"] for r in api.requests] == [
        "host brisk-otter in rack-1",
        "host calm-otter in rack-2",
    ]


def test_each_reads_a_file_and_skips_blank_lines(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("abc001\n\n   \nabc002\r\n")
    result = run("get", "machines/{}", "--each", str(source))
    assert result.exit_code == 0, result.stderr
    assert [m["system_id"] for m in lines_of(result.stdout)] == ["abc001", "abc002"]


def test_literal_braces_are_not_placeholders(api: MaasSimulator, run: Run) -> None:
    result = run(
        "put",
        "machines/{}",
        'description={"a": 1} \\{x}',
        "--each",
        "-",
        input="abc001\n",
    )
    assert result.exit_code == 0, result.stderr
    assert dict(api.requests[0].form)["description"] == '{"a": 1} {x}'


@pytest.mark.parametrize(
    ("template", "data", "message"),
    [
        ("description={2}", "abc001\tx\nabc002\n", "line 2: cannot fill {2}: the line has 1"),
        ("description={name}", "abc001\n", "line 1: {name} needs a line that is a JSON object"),
        ("description={h}", '{"s": "abc001"}\n', "line 1: cannot fill {h}: the line's JSON"),
        ("description={h}", '{"h": null}\n', "line 1: cannot fill {h}: its value is null"),
        ("description={0}", "abc001\tx\n", "line 1: {0}: fields count from 1"),
    ],
)
def test_an_unfillable_placeholder_sends_nothing(
    api: MaasSimulator, run: Run, template: str, data: str, message: str
) -> None:
    result = run("put", "machines/abc001", template, "--each", "-", input=data)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"maascurl: error: {message}")
    assert len(result.stderr.splitlines()) == 1
    assert api.requests == []


@pytest.mark.parametrize("value", ["", "a/b"])
def test_a_path_placeholder_must_be_one_segment(api: MaasSimulator, run: Run, value: str) -> None:
    """An empty id must not turn `machines/{}` into the whole collection."""
    result = run("delete", "machines/{1}", "--each", "-", input=f"abc001\tx\n{value}\tx\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("maascurl: error: line 2: {1}")
    assert api.requests == []


def test_the_whole_path_may_come_from_the_line(api: MaasSimulator, run: Run) -> None:
    result = run("get", "{}", "--each", "-", "-j", "1", input="machines/abc001\nversion\n")
    assert result.exit_code == 0, result.stderr
    assert [r.path for r in api.requests] == [ROOT + "machines/abc001/", ROOT + "version/"]


def test_every_line_is_checked_before_the_first_request(api: MaasSimulator, run: Run) -> None:
    """Line 3 names an op machines/ID does not have: nothing at all is sent."""
    data = "abc001\trelease\nabc002\trelease\nabc003\trelase\nabc004\trelease\n"
    result = run("post", "machines/{1}", "op={2}", "--each", "-", input=data)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "maascurl: error: line 3: machines/{1} has no POST op 'relase'; did you mean 'release'?"
    )
    assert len(result.stderr.splitlines()) == 1
    assert api.requests == []


def test_a_misspelt_field_of_the_template_is_named_once(api: MaasSimulator, run: Run) -> None:
    """The template's own mistake is every line's: one stderr line names them all."""
    result = run(
        "post", "machines/{}", "op=release", "commnet=x", "--each", "-", input="\n".join(ids(5))
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "maascurl: error: lines 1-5: machines/{} op=release has no field 'commnet'; "
        "did you mean 'comment'?"
    )
    assert len(result.stderr.splitlines()) == 1
    assert api.requests == []


def test_a_batch_file_names_every_bad_line_in_one_run(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    source = tmp_path / "work.txt"
    source.write_bytes(
        b"get version\n"
        b"post machines/abc001 op=relase\n"  # 2: a misspelt op
        b"get machines\n"
        b"gett machines\n"  # 4: no such method
        b"put machines/abc002 hostnme=web-01\n"  # 5: a misspelt field
        b"get machines/\xff\n"  # 6: not UTF-8
        b"get machines -p nosuch\n"  # 7: no such profile
        b"post machines/abc003 op=relase\n"  # 8: as line 2, its own path
    )
    result = run("batch", str(source))
    assert result.exit_code == 2  # the first bad line's
    errors = result.stderr.splitlines()
    assert [line.split(":")[2].strip() for line in errors[:-1]] == [
        "line 2",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert all(line.startswith("maascurl: error: line ") for line in errors[:-1])
    assert "did you mean 'hostname'" in errors[2]
    assert errors[-1] == (
        "maascurl: error: 6 lines cannot be sent (first: line 2); nothing was sent"
    )
    assert api.requests == []


def test_lines_refused_for_one_reason_share_a_line() -> None:
    bad = fleet.BadLines()
    for line in (1, 2, 3, 5, 9, 10):
        bad.add(LineError(line, MaascurlError("same")))
    with pytest.raises(MaascurlError, match=r"^lines 1-3, 5, 9-10: same$"):
        bad.stop_the_run()


# ---------------------------------------------------------------- order


DEPLOYED = ["abc002", "abc005", "abc008", "abc00b", "abc00e", "abc011"]  # in the fleet of 48


def locked(sim: MaasSimulator, system_id: str) -> bool:
    return bool(next(m for m in sim.machines if m["system_id"] == system_id).get("locked"))


@pytest.mark.parametrize("attempt", range(5))
def test_lines_on_one_machine_run_in_input_order(
    api: MaasSimulator, run: Run, attempt: int
) -> None:
    """A lock the region picks up late once let the unlock sent after it in first (409)."""
    api.hold("machines/abc002/", 0.3, op="lock")
    data = "post machines/abc002 op=lock\npost machines/abc002 op=unlock\n"
    result = run("batch", input=data)
    assert result.exit_code == 0, result.stderr
    assert not locked(api, "abc002")
    assert [r.query for r in api.requests] == [[("op", "lock")], [("op", "unlock")]]


def test_each_keeps_lines_on_one_machine_in_order(api: MaasSimulator, run: Run) -> None:
    api.hold("machines/abc002/", 0.3, op="lock")
    data = "abc002\tlock\nabc005\tlock\nabc002\tunlock\n"
    result = run("post", "machines/{1}", "op={2}", "--each", "-", "-v", input=data)
    assert result.exit_code == 0, result.stderr
    assert not locked(api, "abc002") and locked(api, "abc005")
    assert (
        "maascurl: note: line 3 (post machines/abc002/ op=unlock) waits for line 1: "
        "the same object, kept in input order"
    ) in result.stderr
    assert "line 2 (post machines/abc005/ op=lock) waits" not in result.stderr


def test_independent_lines_still_overlap(api: MaasSimulator, run: Run) -> None:
    api.slow("machines/", 0.2)
    data = "".join(f"post machines/{system_id} op=lock\n" for system_id in DEPLOYED)
    result = run("batch", "-j", "4", input=data)
    assert result.exit_code == 0, result.stderr
    assert all(locked(api, system_id) for system_id in DEPLOYED)
    assert api.max_in_flight == 4  # as many in flight as -j allows, as before


def test_no_check_sends_lines_in_any_order(api: MaasSimulator, run: Run) -> None:
    """The order is a help, so --no-check turns it off: the late lock loses the race."""
    api.hold("machines/abc002/", 0.3, op="lock")
    data = "post machines/abc002/ op=lock\npost machines/abc002/ op=unlock\n"
    result = run("batch", "--no-check", input=data)
    assert result.exit_code == 4
    assert "line 2 (post machines/abc002/ op=unlock): 409 Conflict: Machine is not locked" in (
        result.stderr
    )


def test_no_check_sends_each_lines_path_exactly_as_typed(api: MaasSimulator, run: Run) -> None:
    """As for one request: --no-check adds no slash and maps no official CLI name."""
    result = run("get", "{}", "--each", "-", "--no-check", input="machines\nresource-pools/\n")
    assert result.exit_code == 4
    assert sorted(r.path for r in api.requests) == [ROOT + "machines", ROOT + "resource-pools/"]
    checked = run("get", "{}", "--each", "-", input="machines\nresource-pools/\n")
    assert checked.exit_code == 0, checked.stderr


def _job(line: int, path: str, profile: str = "sim") -> fleet.Job:
    from maascurl.profiles.config import Profile
    from maascurl.profiles.target import Target
    from maascurl.wire.request import RequestSpec

    root = "http://127.0.0.1:9/MAAS/api/2.0/"
    target = Target(root, Profile(profile, "http://127.0.0.1:9/MAAS", api_key="a:b:c"))
    return fleet.Job(line, RequestSpec("GET", root + path), target)


def test_a_line_waits_for_the_lines_above_and_below_its_path() -> None:
    sent: list[int] = []
    order = fleet.Order(lambda slot: sent.append(slot.job.line))
    paths = ["machines/a/", "machines/b/", "machines/", "machines/a/interfaces/", "zones/"]
    slots = [fleet._Slot(_job(n, path), None) for n, path in enumerate(paths, 1)]
    waits = [[other.job.line for other in order.admit(slot)] for slot in slots]
    assert waits == [[], [], [1, 2], [1, 3], []]
    assert sent == [1, 2, 5]
    other_server = fleet._Slot(_job(6, "machines/a/", profile="west"), None)
    assert order.admit(other_server) == []
    slots[0].finish(fleet.Result(slots[0].job))
    assert sent == [1, 2, 5, 6]  # line 3 still waits for line 2
    slots[1].settle()
    slots[2].finish(fleet.Result(slots[2].job))
    assert sent == [1, 2, 5, 6, 3, 4]


# ---------------------------------------------------------------- failures


def test_a_failing_line_in_the_middle(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    make_new(api, "abc003")
    report = tmp_path / "report.jsonl"
    result = run(
        "post",
        "machines/{}",
        "op=release",
        "--each",
        "-",
        "--report",
        str(report),
        input="abc001\nabc002\nabc003\nabc004\nabc005\n",
    )
    assert result.exit_code == 4
    assert result.stderr.splitlines() == [
        "maascurl: error: line 3 (post machines/abc003/ op=release): 409 Conflict: "
        "Machine cannot be released in its current state ('New').",
        result.stderr.splitlines()[1],
    ]
    assert result.stderr.splitlines()[1].startswith("maascurl: 5 request(s): 4 ok, 1 failed in ")
    assert [m["system_id"] for m in lines_of(result.stdout)] == [
        "abc001",
        "abc002",
        "abc004",
        "abc005",
    ]
    records = report_of(report)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["outcome"] for r in records] == ["ok", "ok", "failed", "ok", "ok"]
    failed = records[2]
    assert failed["method"] == "POST"
    assert failed["url"] == api.api_root + "machines/abc003/?op=release"
    assert failed["status"] == 409
    assert failed["exit_code"] == 4
    assert "cannot be released" in str(failed["error"])
    assert all(isinstance(r["seconds"], float) for r in records)
    assert records[0]["status"] == 200 and records[0]["error"] is None


def test_exit_status_is_that_of_the_first_failed_line_in_input_order(
    api: MaasSimulator, run: Run
) -> None:
    """Line 2 (404, exit 4) fails after line 3 (500, exit 5), but comes first in the input."""
    api.slow("machines/nosuch/", 0.3)
    api.queue(500, "boom", path="machines/abc002/")
    result = run("get", "machines/{}", "--each", "-", "-j", "4", input="abc001\nnosuch\nabc002\n")
    assert result.exit_code == 4
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors[0].startswith("maascurl: error: line 2 (get machines/nosuch/): 404 Not Found")
    assert (
        errors[1]
        == "maascurl: error: line 3 (get machines/abc002/): 500 Internal Server Error: boom"
    )


def test_fail_fast_sends_nothing_after_a_failure(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    report = tmp_path / "r.jsonl"
    data = "nosuch\n" + "\n".join(ids(6))
    result = run(
        "get",
        "machines/{}",
        "--each",
        "-",
        "-j",
        "1",
        "--fail-fast",
        "--report",
        str(report),
        input=data,
    )
    assert result.exit_code == 4
    assert len(api.requests) == 1
    assert [r["outcome"] for r in report_of(report)] == ["failed"] + ["not sent"] * 6
    assert "6 not sent" in result.stderr


def test_a_connection_failure_has_its_own_exit_code(home: Path, run: Run) -> None:
    """A profile on a closed port: every line fails with exit 6, and says which line."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = "aaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbb:cccccccccccccccccccccccccccccccc"
    assert run("login", "dead", f"http://127.0.0.1:{port}/MAAS", key, "--no-check").exit_code == 0
    result = run("get", "machines/{}", "--each", "-", "--retries", "0", input="abc001\n")
    assert result.exit_code == 6
    assert result.stderr.startswith(
        f"maascurl: error: line 1 (get machines/abc001/): cannot connect to 127.0.0.1:{port}"
    )


def test_secrets_never_reach_the_report(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    """Even when the server echoes the key back in its error text."""
    consumer, token, secret = api.api_key.split(":")
    api.queue(400, f"bad key {consumer}:{token}:{secret}", path="machines/abc001/")
    report = tmp_path / "r.jsonl"
    result = run(
        "get",
        "machines/{}",
        "--each",
        "-",
        "--report",
        str(report),
        "-v",
        input="abc001\nabc002\n",
    )
    assert result.exit_code == 4
    text = report.read_text()
    for part in (token, secret):  # the consumer key alone is no credential
        assert part not in text
        assert part not in result.stderr
    assert "<redacted>" in text
    assert "oauth_signature" not in text
    assert report_of(report)[1]["outcome"] == "ok"


# ---------------------------------------------------------------- back-pressure


def test_retry_after_slows_the_whole_run(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    """A 503 with Retry-After holds back every request to that server, not only its own.

    Only requests already on their way when the 503 came back may reach the
    server during the pause; without the shared pace the other workers would
    go on sending at full speed.
    """
    api.slow("machines/", 0.1)
    api.queue(503, "busy", {"Retry-After": "1"}, path="machines/abc000/")
    report = tmp_path / "r.jsonl"
    result = run(
        "get",
        "machines/{}",
        "--each",
        "-",
        "-j",
        "3",
        "--report",
        str(report),
        input="\n".join(ids(12)),
    )
    assert result.exit_code == 0, result.stderr
    # Four workers share stderr: the note names its line.
    note = "note: line 1 (get machines/abc000/): 503 Service Unavailable; retrying in 1 s (1/3)"
    assert note in result.stderr
    requests = [r for r in api.requests if r.path.startswith(ROOT + "machines/")]
    refused = next(r for r in requests if r.path.endswith("abc000/"))
    during_pause = [r for r in requests if refused.received < r.received < refused.received + 0.9]
    # The other two workers' requests in flight, and at most one more each
    # that left in the moment before the 503 was read.
    assert len(during_pause) <= 4
    assert len(requests) == 13
    assert report_of(report)[0]["status"] == 200


# ---------------------------------------------------------------- output


def test_dash_o_writes_one_file_per_line(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        "get", "machines/{}", "--each", "-", "-o", str(out / "{}.json"), input="abc001\nabc002\n"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["abc001.json", "abc002.json"]
    assert json.loads((out / "abc002.json").read_text())["system_id"] == "abc002"


def test_dash_o_refuses_two_lines_writing_one_file(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    target = str(tmp_path / "{1}.json")
    result = run("get", "machines/{2}", "--each", "-", "-o", target, input="a\tabc001\na\tabc002\n")
    assert result.exit_code == 2
    assert "line 2: -o" in result.stderr and "another line writes it too" in result.stderr
    assert api.requests == []


@pytest.mark.parametrize("value", ["../escaped", "a/b", ".."])
def test_an_output_placeholder_must_name_a_file_in_its_directory(
    api: MaasSimulator, run: Run, tmp_path: Path, value: str
) -> None:
    """A line must not make -o DIR/{1} write outside DIR."""
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    data = f"x\tabc001\n{value}\tabc002\n"
    result = run("get", "machines/{2}", "--each", "-", "-o", str(out / "{1}"), input=data)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(
        f"maascurl: error: line 2: {{1}} = {value!r} cannot name a file"
    )
    assert api.requests == []
    assert not (tmp_path / "escaped").exists()


def test_dash_o_makes_the_directories_it_writes_into(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """Issue 22: --each -o 'out/{}.json' makes out/ (as mkdir -p) rather than failing;
    -v says so."""
    target = str(tmp_path / "out" / "{1}" / "{2}.json")
    result = run(
        "get", "machines/{2}", "--each", "-", "-o", target, "-v", input="a\tabc001\nb\tabc002\n"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "out" / "a" / "abc001.json").read_text())["system_id"] == "abc001"
    assert (tmp_path / "out" / "b" / "abc002.json").exists()
    assert f"made the directory {tmp_path / 'out' / 'a'} for -o\n" in result.stderr


def test_dash_o_under_a_file_sends_nothing(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    target = str(tmp_path / "plain" / "sub" / "{}.json")
    result = run("get", "machines/{}", "--each", "-", "-o", target, input="abc001\n")
    assert result.exit_code == 1
    assert result.stderr == (
        f"maascurl: error: line 1: -o {target.replace('{}', 'abc001')}: "
        f"{tmp_path / 'plain'} is not a directory\n"
    )
    assert api.requests == []


def test_a_body_that_is_not_json_becomes_a_json_string(api: MaasSimulator, run: Run) -> None:
    api.add_file("notes.txt", b"first line\nsecond line\n")
    api.add_file("blob.bin", b"\xff\xfe\x00")
    result = run(
        "get", "files", "op=get", "filename={}", "--each", "-", input="notes.txt\nblob.bin\n"
    )
    assert result.exit_code == 0, result.stderr
    assert lines_of(result.stdout) == ["first line\nsecond line\n", "\ufffd\ufffd\x00"]


def test_json_line_makes_pretty_json_compact() -> None:
    assert fleet.json_line(b'{\n  "a": [1,\n 2]\n}\n') == b'{"a":[1,2]}'
    assert fleet.json_line(b'{"a": 1}\n') == b'{"a": 1}'
    assert fleet.json_line(b"") == b'""'
    assert fleet.json_line(b"plain") == b'"plain"'


def test_offline_each_prints_every_request_and_sends_none(api: MaasSimulator, run: Run) -> None:
    result = run(
        "post", "machines/{}", "op=release", "--each", "-", "--offline", input="abc001\nabc002\n"
    )
    assert result.exit_code == 0, result.stderr
    assert api.requests == []
    assert result.stdout.count("POST /MAAS/api/2.0/machines/") == 2
    assert "# line 1\nPOST /MAAS/api/2.0/machines/abc001/?op=release HTTP/1.1" in result.stdout
    assert "# line 2\nPOST /MAAS/api/2.0/machines/abc002/?op=release HTTP/1.1" in result.stdout
    assert 'oauth_signature="<redacted>"' in result.stdout
    assert api.api_key.split(":")[2] not in result.stdout


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-j", "2"), "-j/--jobs needs --each"),
        (("--report", "r.json"), "--report needs --each"),
        (("--fail-fast",), "--fail-fast needs --each"),
    ],
)
def test_fleet_options_need_each(
    api: MaasSimulator, run: Run, args: tuple[str, ...], message: str
) -> None:
    result = run("get", "machines", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert api.requests == []


@pytest.mark.parametrize(
    "args",
    [
        ("-i",),
        ("--pretty",),
        ("--pager",),
        ("-o", "-"),
        ("--sort", "hostname"),
        ("--keep-error-body",),
        ("--body", "-"),
    ],
)
def test_single_answer_options_are_refused_with_each(
    api: MaasSimulator, run: Run, args: tuple[str, ...]
) -> None:
    result = run("get", "machines/{}", "--each", "-", *args, input="abc001\n")
    assert result.exit_code == 2
    assert "cannot be used with" in result.stderr
    assert api.requests == []


def test_a_file_part_cannot_read_stdin_per_line(api: MaasSimulator, run: Run) -> None:
    result = run("post", "account/prefs/sshkeys", "key@-", "--each", "-", input="x\n")
    assert result.exit_code == 2
    assert "cannot read stdin" in result.stderr


@pytest.mark.parametrize(
    "item", ["key@-", "key@=-", "key=@-", "key=@/dev/stdin", "key@/proc/self/fd/0"]
)
def test_a_batch_line_cannot_read_stdin(
    api: MaasSimulator, run: Run, tmp_path: Path, item: str
) -> None:
    """stdin is not the batch file's to give to one line: refused before anything is sent."""
    source = tmp_path / "work.txt"
    source.write_text(f"get machines\npost account/prefs/sshkeys {item}\n")
    result = run("batch", str(source), input="ssh-ed25519 AAAA x\n")
    assert result.exit_code == 2, result.stderr
    assert f"line 2: {item}: a batch line cannot read stdin" in result.stderr
    assert api.requests == []


def test_a_redirect_fails_its_line_with_exit_3(api: MaasSimulator, run: Run) -> None:
    """As for a single call: a 3xx not followed is no success, and its body is not written."""
    elsewhere = {"Location": "http://192.0.2.1/MAAS/api/2.0/machines/abc001/"}
    api.queue(302, "", elsewhere, path="machines/abc001/")
    result = run("get", "machines/{}", "--each", "-", "-j", "1", input="abc001\nabc002\n")
    assert result.exit_code == 3, result.stderr
    assert [json.loads(line)["system_id"] for line in result.stdout.splitlines()] == ["abc002"]
    assert "line 1 (get machines/abc001/): 302 Found: redirected to" in result.stderr


def test_a_line_filled_with_control_characters_is_shown_escaped(
    api: MaasSimulator, run: Run
) -> None:
    """The line's request is named in its error with its control characters made visible."""
    result = run(
        "post", "machines/abc001/", "op={}", "--each", "-", "--no-check", input="rel\x1b]0;x\x07\n"
    )
    assert result.exit_code == 4, result.stderr
    assert "(post machines/abc001/ op=rel\\x1b]0;x\\x07): 400" in result.stderr
    assert "\x1b" not in result.stderr


def test_a_batch_line_names_a_profile_with_dash_p_attached(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """`-pNAME` as `-p NAME`, a one-letter NAME too."""
    assert run("login", "w", api.url, api.api_key).exit_code == 0
    source, report = tmp_path / "work.txt", tmp_path / "r.jsonl"
    source.write_text("get machines/abc001 -pw\nget machines/abc002\n")
    result = run("batch", str(source), "--report", str(report))
    assert result.exit_code == 0, result.stderr
    assert [r["profile"] for r in report_of(report)] == ["w", "sim"]


def test_help_explains_each_and_the_default_jobs(run: Run) -> None:
    text = run("post", "--help").stdout
    assert "--each FILE" in text and "{1}, {2}" in text
    assert "4 by default" in " ".join(text.split())
    batch = run("batch", "--help").stdout
    assert "METHOD PATH [ITEM...] [-p PROFILE]" in batch


# ---------------------------------------------------------------- batch


def test_batch_runs_mixed_requests_with_comments_and_quotes(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    batch = tmp_path / "work.txt"
    batch.write_text(
        "# end of the test run\n"
        "post machines/abc001 op=release comment='end of run'   # first\n"
        "\n"
        'PUT machines/abc002 description="rack 4, slot 2"\n'
        "get version\n"
    )
    result = run("batch", str(batch), "-j", "1")
    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path) for r in api.requests] == [
        ("POST", ROOT + "machines/abc001/"),
        ("PUT", ROOT + "machines/abc002/"),
        ("GET", ROOT + "version/"),
    ]
    assert dict(api.requests[0].form) == {"comment": "end of run"}
    assert dict(api.requests[1].form) == {"description": "rack 4, slot 2"}
    assert len(result.stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("fetch machines", "line 3: unknown method 'fetch'"),
        ("get", "line 3: get needs a PATH"),
        ("get machines -x", "line 3: unknown option '-x'"),
        ("get 'machines", "line 3: cannot split the line"),
        ("get machines -p nosuch", "line 3: no profile named 'nosuch'"),
        ("post machines/abc001 op=relase", "line 3: machines/abc001 has no POST op 'relase'"),
    ],
)
def test_one_bad_batch_line_sends_nothing(
    api: MaasSimulator, run: Run, line: str, message: str
) -> None:
    data = f"get version\n# ok so far\n{line}\nget machines\n"
    result = run("batch", "-", input=data)
    assert result.exit_code in (1, 2)
    assert result.stderr.startswith(f"maascurl: error: {message}")
    assert api.requests == []


@pytest.fixture
def second_region(run: Run) -> Iterator[MaasSimulator]:
    """Another MAAS region on its own port, logged in as profile 'west'."""
    with MaasSimulator(machines=2) as west:
        assert run("login", "west", west.url, west.api_key).exit_code == 0
        west.requests.clear()
        yield west


def test_batch_addresses_several_regions(
    api: MaasSimulator, second_region: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    report = tmp_path / "r.jsonl"
    data = (
        "get machines/abc001\n"
        "get machines/abc001 -p west\n"
        "post machines/abc001 op=release --profile=west\n"
        "get version -p sim\n"
    )
    result = run("batch", "--report", str(report), input=data)
    assert result.exit_code == 0, result.stderr
    assert sorted(r.path for r in api.requests) == [ROOT + "machines/abc001/", ROOT + "version/"]
    assert [r.path for r in second_region.requests] == [ROOT + "machines/abc001/"] * 2
    assert [r["profile"] for r in report_of(report)] == ["sim", "west", "west", "sim"]
    west_url = second_region.api_root + "machines/abc001/"
    assert report_of(report)[1]["url"] == west_url


def test_anonymous_batch_lines_go_to_the_servers_they_name(
    restored: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """Without a profile, each line's URL is its own target: not the first line's server."""
    with MaasSimulator(machines=2) as west:
        restored.requests.clear()
        source = tmp_path / "work.txt"
        source.write_text(f"get {restored.api_root}version/\nget {west.api_root}version/\n")
        result = run("batch", str(source), "--anonymous")
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.splitlines()) == 2
        assert [r.path for r in restored.requests] == ["/MAAS/api/2.0/version/"]
        assert [r.path for r in west.requests] == ["/MAAS/api/2.0/version/"]


def test_a_secret_in_a_lines_url_never_reaches_the_report(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """An input file that carries the token secret by mistake: the report's URL hides it."""
    secret = api.api_key.split(":")[2]
    report = tmp_path / "r.jsonl"
    result = run(
        "get", "machines", "hostname=={}", "--each", "-", "--report", str(report),
        input=f"{secret}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert secret not in report.read_text()
    assert report_of(report)[0]["url"] == api.api_root + "machines/?hostname=<redacted>"


def test_batch_refuses_output_options(api: MaasSimulator, run: Run) -> None:
    result = run("batch", "-o", "x.json", input="get version\n")
    assert result.exit_code == 2
    assert api.requests == []


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_in_the_middle(api: MaasSimulator, home: Path, tmp_path: Path) -> None:
    """The first Ctrl-C sends nothing more, the requests in flight finish, exit 130."""
    api.slow("machines/", 0.3)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids(40)) + "\n")
    report = tmp_path / "r.jsonl"
    argv = [maascurl_script(), "get", "machines/{}", "--each", str(source), "-j", "2"]
    proc = subprocess.Popen(
        [*argv, "--report", str(report)],
        env=env_for_subprocess(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(machine_paths(api)) >= 3, "the first requests")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = stderr.decode()
    assert proc.returncode == 130, text
    assert "interrupted: sending nothing more" in text
    assert "Traceback" not in text
    sent = len(machine_paths(api))
    assert sent < 40
    bodies = [json.loads(line) for line in stdout.decode().splitlines()]  # every line whole
    records = report_of(report)
    assert [r["line"] for r in records] == list(range(1, 41))
    ok = [r for r in records if r["outcome"] == "ok"]
    assert len(ok) == len(bodies) == sent
    assert all(r["outcome"] == "not sent" for r in records[sent:])
    assert [b["system_id"] for b in bodies] == ids(sent)
    assert f"interrupted: 40 request(s): {sent} ok, 0 failed, {40 - sent} not sent" in text


def test_each_line_is_planned_and_matched_once(
    api: MaasSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checking pass builds and checks each line's request; the sending pass sends
    those same requests (fleet.Plans) without building them again, and the description
    is searched once per line although the path is matched three times."""
    from maascurl.api.apidesc import ApiDescription
    from maascurl.wire import request

    built: list[str] = []
    searched: list[tuple[str, ...]] = []
    real_build, real_placed = fleet.build_request, ApiDescription._placed

    def build(*args: object, **kwargs: object) -> request.RequestSpec:
        built.append(str(args[2]))
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    def placed(self: ApiDescription, segments: tuple[str, ...]) -> object:
        searched.append(segments)
        return real_placed(self, segments)

    monkeypatch.setattr(fleet, "build_request", build)
    monkeypatch.setattr(ApiDescription, "_placed", placed)
    source = tmp_path / "ids"
    source.write_text("".join(f"{i}\n" for i in ids(5)))
    options = CallOptions(output=OutputOptions(output=str(tmp_path / "{}.json")))
    code = fleet.run_each("GET", "machines/{}", [], str(source), options, fleet.FleetOptions())
    assert code == 0
    assert built == [f"machines/{i}" for i in ids(5)]
    assert searched == [("machines", i) for i in ids(5)]
    assert sorted(machine_paths(api)) == [f"{ROOT}machines/{i}/" for i in ids(5)]
    assert sorted(path.name for path in tmp_path.glob("*.json")) == [f"{i}.json" for i in ids(5)]


# ---------------------------------------------------------------- the hook


def test_a_hook_replaces_results_after_a_2xx(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    """fleet.Hook, the extension point for waiting: new body, final state, own failure."""
    seen: list[int] = []

    def hook(job: fleet.Job, session: Session, result: fleet.Result) -> fleet.Result:
        seen.append(job.line)
        if job.line == 2:
            return result.failed(MaascurlError("Failed deployment: no disk"))
        return replace(result, body=b'{"final": true}', final_state="Deployed")

    report = tmp_path / "r.jsonl"
    source = tmp_path / "ids"
    source.write_text("abc001\nabc002\nnosuch\n")
    code = fleet.run_each(
        "GET",
        "machines/{}",
        [],
        str(source),
        CallOptions(),
        fleet.FleetOptions(report=str(report)),
        hook=hook,
    )
    assert code == 1
    assert sorted(seen) == [1, 2]  # never after the 404
    records = report_of(report)
    assert [r["final_state"] for r in records] == ["Deployed", None, None]
    assert [r["exit_code"] for r in records] == [0, 1, 4]
    assert records[1]["error"] == "Failed deployment: no disk"


# ---------------------------------------------------------------- terminal


def stderr_on_terminal(
    argv: list[str], env: dict[str, str], stdout: Path | None
) -> tuple[str, int]:
    """Run ARGV with stderr on a pseudo-terminal and stdout to a file (or that terminal too)."""
    master, slave = os.openpty()
    with stdout.open("wb") if stdout else open(os.devnull, "wb") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out if stdout else slave, stderr=slave, env=env
        )
    os.close(slave)
    return read_terminal(master).decode(), process.wait(timeout=30)


def test_progress_and_summary_on_a_terminal(api: MaasSimulator, home: Path, tmp_path: Path) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join([*ids(5), "nosuch", "abc005"]) + "\n")
    out = tmp_path / "out.jsonl"
    argv = [maascurl_script(), "get", "machines/{}", "--each", str(source)]
    env = {**env_for_subprocess(home), "COLUMNS": "60", "NO_COLOR": "1"}
    text, status = stderr_on_terminal(argv, env, out)
    assert status == 4
    assert "7/7" in text and "6 ok" in text and "1 failed" in text  # the bar's last state
    # The error stays one line even on a narrow terminal, and the summary follows.
    assert (
        "maascurl: error: line 6 (get machines/nosuch/): 404 Not Found: "
        "No Machine matches the given query.\r\n" in text
    )
    assert "maascurl: 7 request(s): 6 ok, 1 failed in " in text
    assert len(out.read_text().splitlines()) == 6


def test_a_second_ctrl_c_abandons_the_requests_in_flight(
    api: MaasSimulator, home: Path, tmp_path: Path
) -> None:
    api.slow("machines/", 5)  # answers that would take far longer than the test waits
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids(10)) + "\n")
    report = tmp_path / "r.jsonl"
    argv = [maascurl_script(), "get", "machines/{}", "--each", str(source), "-j", "2"]
    proc = subprocess.Popen(
        [*argv, "--report", str(report)],
        env=env_for_subprocess(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(machine_paths(api)) >= 2, "the first requests")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert stdout == b""
    outcomes = [r["outcome"] for r in report_of(report)]
    assert outcomes == ["abandoned"] * 2 + ["not sent"] * 8
    assert "2 abandoned (sent, outcome unknown)" in stderr.decode()


# ---------------------------------------------------------------- TAB completion


def test_tab_completes_the_fleet_options_and_their_files(home: Path) -> None:
    assert {"plain,--each", "plain,--jobs", "plain,--report", "plain,--fail-fast"} <= set(
        complete("maascurl post machines/abc op=release --")
    )
    assert complete("maascurl get machines/{} --each ") == ["file,"]
    assert complete("maascurl get machines/{} --each ids --report ") == ["file,"]
    assert complete("maascurl batch ") == ["file,"]
    assert "plain,batch" in complete("maascurl ba")


def test_a_changed_api_hash_refreshes_the_cache_once(api: MaasSimulator, run: Run) -> None:
    from maascurl.api.apidesc import cache_file, cached_hash

    path = cache_file(api.api_root)
    head, _, body = path.read_bytes().partition(b"\n")
    path.write_bytes(json.dumps(json.loads(head) | {"hash": "0" * 40}).encode() + b"\n" + body)
    result = run("get", "machines/{}", "--each", "-", input="\n".join(ids(6)))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("refreshed its cached description") == 1
    assert cached_hash(api.api_root) == api.api_hash
    assert [r.path for r in api.requests].count(ROOT + "describe/") == 1


def test_a_hook_may_finish_later_without_holding_a_worker(
    api: MaasSimulator, tmp_path: Path
) -> None:
    """A Future from the hook frees the worker: with -j 1 every line is sent before any
    Future is completed (by one 'poller' thread, in reverse order), and the results
    still come out in input order with what the poller said."""
    import threading
    from concurrent.futures import Future

    futures: list[tuple[int, Future[fleet.Result], fleet.Result]] = []
    all_sent_first: list[bool] = []

    def hook(job: fleet.Job, session: Session, result: fleet.Result) -> Future[fleet.Result]:
        future: Future[fleet.Result] = Future()
        futures.append((job.line, future, result))
        return future

    def poller() -> None:
        deadline = time.monotonic() + 10
        while len(futures) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        all_sent_first.append(len(machine_paths(api)) == 4)
        for line, future, result in reversed(list(futures)):
            if line == 3:
                future.set_exception(MaascurlError("Failed deployment"))
            else:
                future.set_result(replace(result, final_state=f"Deployed {line}"))

    report = tmp_path / "r.jsonl"
    source = tmp_path / "ids"
    source.write_text("\n".join(ids(4)) + "\n")
    thread = threading.Thread(target=poller)
    thread.start()
    code = fleet.run_each(
        "GET",
        "machines/{}",
        [],
        str(source),
        CallOptions(),
        fleet.FleetOptions(jobs=1, report=str(report)),
        hook=hook,
    )
    thread.join()
    assert all_sent_first == [True]
    assert code == 1
    records = report_of(report)
    assert [r["line"] for r in records] == [1, 2, 3, 4]
    assert [r["final_state"] for r in records] == ["Deployed 1", "Deployed 2", None, "Deployed 4"]
    assert records[2]["error"] == "Failed deployment"


def test_clock_skew_is_corrected_for_every_request_in_flight(api: MaasSimulator, run: Run) -> None:
    """Several requests meet 'Expired timestamp' at once; one learns the offset, all re-sign."""
    api.clock_offset = 1000
    api.slow("machines/", 0.05)
    result = run("get", "machines/{}", "--each", "-", "-j", "4", input="\n".join(ids(8)))
    assert result.exit_code == 0, result.stderr
    assert len(lines_of(result.stdout)) == 8
    assert result.stderr.count("clock is") == 1


def test_header_values_are_filled_too(api: MaasSimulator, run: Run) -> None:
    result = run(
        "get",
        "machines/{}",
        "-H",
        "X-Trace: fleet {}",
        "--each",
        "-",
        "-j",
        "1",
        input="abc001\nabc002\n",
    )
    assert result.exit_code == 0, result.stderr
    assert [r.headers["x-trace"] for r in api.requests] == ["fleet abc001", "fleet abc002"]


def test_batch_refuses_a_body(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text("{}")
    result = run("batch", "--body", str(body), input="post machines/abc001 op=release\n")
    assert result.exit_code == 2
    assert "No such option '--body'" in result.stderr
    assert api.requests == []


# ---------------------------------------------------------------- the installed command


def test_each_reads_a_pipe_through_the_installed_command(api: MaasSimulator, home: Path) -> None:
    data = "".join(f'{{"system_id": "{i}", "hostname": "h-{i}"}}\n' for i in ids(20))
    proc = subprocess.run(
        [
            maascurl_script(),
            "put",
            "machines/{system_id}",
            "description=host {hostname}",
            "--each",
            "-",
        ],
        input=data.encode(),
        env=env_for_subprocess(home),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    bodies = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [b["description"] for b in bodies] == [f"host h-{i}" for i in ids(20)]
    assert proc.stderr == b""


def test_a_reader_that_goes_away_ends_the_run_quietly(api: MaasSimulator, home: Path) -> None:
    """`... --each ids | head -c 100`: status 0, sending stops, the report is whole."""
    api.slow("machines/", 0.01)
    report = home / "r.jsonl"
    script = f'"$1" get "machines/{{}}" --each "$2" --report {report}; echo "status=$?" >&2'
    source = home / "ids.txt"
    source.write_text("\n".join(ids(48)) + "\n")
    runs = [maascurl_script(), str(source)]
    proc = subprocess.run(
        ["/bin/bash", "-c", f"({script}) | head -c 100 > /dev/null", "bash", *runs],
        env=env_for_subprocess(home),
        capture_output=True,
        timeout=60,
    )
    assert proc.stderr.decode() == "status=0\n"
    sent = len(machine_paths(api))
    assert sent < 48
    records = report_of(report)
    assert [r["line"] for r in records] == list(range(1, 49))
    assert len([r for r in records if r["outcome"] == "not sent"]) == 48 - sent


def test_no_bar_when_the_bodies_go_to_the_same_terminal(
    api: MaasSimulator, home: Path, tmp_path: Path
) -> None:
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids(6)) + "\n")
    argv = [maascurl_script(), "get", "machines/{}", "--each", str(source)]
    env = {**env_for_subprocess(home), "NO_COLOR": "1"}
    text, status = stderr_on_terminal(argv, env, None)
    assert status == 0
    lines = text.replace("\r\n", "\n").splitlines()
    assert [json.loads(line)["system_id"] for line in lines[:6]] == ids(6)  # whole lines
    assert lines[6].startswith("maascurl: 6 request(s): 6 ok, 0 failed in ")
    assert "━" not in text


def test_max_time_bounds_each_request_not_the_run(api: MaasSimulator, run: Run) -> None:
    api.slow("machines/abc002/", 2)
    api.slow("machines/abc001/", 0.3)
    api.slow("machines/abc003/", 0.3)
    result = run(
        "get",
        "machines/{}",
        "--each",
        "-",
        "-j",
        "1",
        "--max-time",
        "1",
        input="\n".join(ids(4)),
    )
    assert result.exit_code == 7
    assert [m["system_id"] for m in lines_of(result.stdout)] == ["abc000", "abc001", "abc003"]
    assert "line 3 (get machines/abc002/):" in result.stderr


# ---------------------------------------------------------------- hostile input


_templates = st.sampled_from(
    ["machines/{}", "machines/{1}", "{}", "machines/{a.b}", "machines/{system_id}/x{2}"]
)


@settings(max_examples=300, deadline=None)
# The template's own text after {1} has no braces: a placeholder there would be filled too.
@given(_templates, st.text(max_size=60).filter(lambda text: "{" not in text), st.text(max_size=60))
def test_any_line_fills_a_template_or_is_a_usage_error(
    path: str, item_value: str, line: str
) -> None:
    """Whatever a line holds, filling gives strings or a LineError naming the line."""
    template = EachTemplate("POST", path, [f"description={{1}} {item_value}"], "o/{}.json", None)
    try:
        request = template.request(7, line)
    except LineError as exc:
        assert str(exc).startswith("line 7: ")
        assert exc.exit_code == 2
        return
    assert request.line == 7
    # Filled items are already split: the line's text is a value, never syntax.
    assert [(item.name, item.separator) for item in request.items] == [("description", "=")]
    assert request.items[0].value.endswith(f" {item_value}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_batch_line_is_a_request_a_comment_or_a_usage_error(line: str) -> None:
    try:
        request = batch_request(3, line)
    except LineError as exc:
        assert str(exc).startswith("line 3: ")
        assert exc.exit_code == 2
        return
    assert request is None or request.method in ("GET", "POST", "PUT", "DELETE")


def test_the_window_bounds_the_lines_outstanding(api: MaasSimulator, tmp_path: Path) -> None:
    """With Futures nobody completes yet, no more than `window` lines are sent."""
    import threading
    from concurrent.futures import Future

    pending: list[Future[fleet.Result]] = []

    def hook(job: fleet.Job, session: Session, result: fleet.Result) -> Future[fleet.Result]:
        future: Future[fleet.Result] = Future()
        future.result_to_give = result  # type: ignore[attr-defined]
        pending.append(future)
        return future

    def release_later() -> None:
        wait_for(lambda: len(pending) >= 5, "five lines outstanding")
        time.sleep(0.2)  # long enough for a sixth to go out if the window let it
        sent_while_held.append(len(machine_paths(api)))
        while len(pending) < 12:
            for future in list(pending):
                if not future.done():
                    future.set_result(future.result_to_give)  # type: ignore[attr-defined]
            time.sleep(0.01)
        for future in pending:
            if not future.done():
                future.set_result(future.result_to_give)  # type: ignore[attr-defined]

    sent_while_held: list[int] = []
    source = tmp_path / "ids"
    source.write_text("\n".join(ids(12)) + "\n")
    thread = threading.Thread(target=release_later)
    thread.start()
    code = fleet.run_each(
        "GET",
        "machines/{}",
        [],
        str(source),
        CallOptions(),
        fleet.FleetOptions(jobs=2, window=5),
        hook=hook,
    )
    thread.join()
    assert code == 0
    assert sent_while_held == [5]
