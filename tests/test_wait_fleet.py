"""--each --wait: a fleet's actions waited for at once, with one listing per poll round."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import Run, Spawn, env_for_subprocess, read_terminal, ready, stderr_on_terminal
from simulator import MaasSimulator, make_reply

from maascurl.jobs import wait

FAST = ("--interval", "0.05", "--wait-timeout", "30")


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of machines still waited for at each poll round."""
    counted: list[int] = []
    original = wait.Poller.round

    def round_(poller: wait.Poller, pending: list[wait.Watch]) -> bool:
        counted.append(len(pending))
        return original(poller, pending)

    monkeypatch.setattr(wait.Poller, "round", round_)
    return counted


def test_fifty_machines_deployed_in_one_run(
    fleet: MaasSimulator, run: Run, tmp_path: Path, rounds: list[int]
) -> None:
    fleet.timed.fail_share = 0.2
    ids = ready(fleet)
    failing = [i for i in ids if fleet.timed.fails(i)]
    assert len(ids) == 50 and 0 < len(failing) < 25
    report = tmp_path / "report.jsonl"
    result = run(
        "post", "machines/{}", "op=deploy", "distro_series=noble", "--each", "-", "--wait",
        "--report", str(report), *FAST, input="\n".join(ids) + "\n",
    )  # fmt: skip
    assert result.exit_code == 8, result.stderr
    # stdout: the final object of each success, in input order
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["system_id"] for m in out] == [i for i in ids if i not in failing]
    assert {m["status_name"] for m in out} == {"Deployed"}
    assert {m["distro_series"] for m in out} == {"noble"}
    # the report names each machine's final state
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["line"] for r in records] == list(range(1, 51))
    expected = ["Failed deployment" if i in failing else "Deployed" for i in ids]
    assert [r["final_state"] for r in records] == expected
    assert {r["exit_code"] for r in records if r["final_state"] == "Failed deployment"} == {8}
    # stderr: one error line per failed machine, naming its line, and a summary
    errors = [line for line in result.stderr.splitlines() if line.startswith("maascurl: error:")]
    first = ids.index(failing[0]) + 1
    assert errors[0] == (
        f"maascurl: error: line {first} (post machines/{failing[0]}/ op=deploy): "
        f"machines/{failing[0]}: Failed deployment: "
        "Node installation failure - Installation failed (refer to the installation log)"
    )
    assert len(errors) == len(failing)
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("maascurl: waited for 50 in ")
    assert f"{50 - len(failing)} Deployed" in summary
    assert f"{len(failing)} Failed deployment" in summary
    # polling: one listing per round for every machine still waited for, not one GET per
    # machine per round. (How many that is in a round depends on how far the sending got
    # by then: on a loaded machine the first of the 50 may have finished before the last
    # was sent.)
    gets = [r for r in fleet.requests if r.method == "GET"]
    assert {r.path for r in gets} == {"/MAAS/api/2.0/machines/"}
    assert len(rounds) >= 2 and len(gets) == len(rounds)
    assert [len(r.query) for r in gets] == rounds
    assert {value for r in gets for _, value in r.query} == set(ids)


def test_listings_grow_with_rounds_not_machines(
    fleet: MaasSimulator, run: Run, rounds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wait, "LISTING_CHUNK", 20)  # 50 machines: three listings a round
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", *FAST,
        input="\n".join(ready(fleet)) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    gets = [r for r in fleet.requests if r.method == "GET"]
    assert len(gets) == sum((pending + 19) // 20 for pending in rounds)
    assert len(gets) <= 3 * len(rounds) < 50 * len(rounds)


def test_ops_that_finish_at_once_are_written_as_they_are(fleet: MaasSimulator, run: Run) -> None:
    result = run(
        "post", "machines/{}", "op=lock", "--each", "-", "--wait", *FAST,
        input="abc002\nabc005\n",  # Deployed: MAAS locks no other
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["system_id"] for line in result.stdout.splitlines()] == [
        "abc002",
        "abc005",
    ]
    assert [r.method for r in fleet.requests] == ["POST", "POST"]
    assert result.stderr == ""


def test_an_action_whose_answer_is_already_its_end_is_not_polled(
    fleet: MaasSimulator, run: Run
) -> None:
    """The action's own answer is the first observation: power_off on machines already off."""
    off = [m for m in fleet.machines if m["status_name"] in ("Allocated", "Deployed")][:2]
    for machine in off:
        machine["power_state"] = "off"
    ids = [m["system_id"] for m in off]
    result = run(
        "post", "machines/{}", "op=power_off", "--each", "-", "--wait", *FAST,
        input="\n".join(ids) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["power_state"] for line in result.stdout.splitlines()] == ["off"] * 2
    assert [r.method for r in fleet.requests] == ["POST", "POST"]  # no poll


def test_a_failure_message_from_maas_is_redacted_and_made_safe(
    fleet: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """A machine's status_message is server text: on the line's error, as any other."""
    secret = fleet.api_key.split(":")[2]
    machine_id = ready(fleet)[0]
    machine = next(m for m in fleet.machines if m["system_id"] == machine_id)
    failed = {
        **machine,
        "status_name": "Failed deployment",
        "status_message": f"curtin: token {secret} refused \x1b]0;owned\x07",
    }
    fleet.timed.queue_get("machines/", make_reply(200, [failed]))
    report = tmp_path / "r.jsonl"
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", "--report", str(report),
        *FAST, input=f"{machine_id}\n",
    )  # fmt: skip
    assert result.exit_code == 8, result.stderr
    error = next(line for line in result.stderr.splitlines() if "error" in line)
    assert error.endswith("Failed deployment: curtin: token <redacted> refused \\x1b]0;owned\\x07")
    assert secret not in result.stderr + report.read_text()
    assert "\x1b" not in result.stderr


def test_a_failed_post_and_a_timeout_in_one_run(fleet: MaasSimulator, run: Run) -> None:
    fleet.timed.seconds = 60
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", *FAST,
        "--wait-timeout", "0.3", input="nope\nabc000\n",
    )  # fmt: skip
    assert result.exit_code == 4  # the first failed line's own status
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert lines[0].startswith("maascurl: error: line 1 (post machines/nope/ op=deploy): 404")
    assert lines[1].startswith(
        "maascurl: error: line 2 (post machines/abc000/ op=deploy): "
        "machines/abc000: still Deploying after"
    )
    assert "1 still Deploying (timed out)" in result.stderr.splitlines()[-1]


def test_ctrl_c_twice_stops_waiting_and_says_the_actions_go_on(
    spawn: Spawn, fleet: MaasSimulator, profile: str, home: Path
) -> None:
    fleet.timed.seconds = 60
    ids = ready(fleet)[:6]
    source = home / "ids"
    source.write_text("\n".join(ids) + "\n")
    argv = [sys.executable, "-m", "maascurl", "post", "machines/{}", "op=deploy"]
    process = spawn(
        [*argv, "--each", str(source), "--wait", "--interval", "0.05"],
        env=env_for_subprocess(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while sum(1 for r in list(fleet.requests) if r.path == "/MAAS/api/2.0/machines/") < 2:
        assert time.monotonic() < deadline, "the fleet was never polled"
        time.sleep(0.05)  # every deploy was sent: it is waiting now
    os.kill(process.pid, signal.SIGINT)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    text = stderr.decode()
    assert process.returncode == 130, text
    assert stdout == b""
    assert "Ctrl-C again to stop waiting" in text
    assert "6 action(s) not waited for go on in MAAS" in text
    assert sum(1 for r in fleet.requests if r.method == "POST") == 6


def test_at_a_terminal_the_states_go_under_the_progress_bar(
    fleet: MaasSimulator, profile: str, home: Path
) -> None:
    fleet.timed.seconds = 1.0
    fleet.timed.failing = {"abc003"}
    source = home / "ids"
    source.write_text("\n".join(ready(fleet)[:4]) + "\n")
    argv = [sys.executable, "-m", "maascurl", "post", "machines/{}", "op=deploy"]
    env = {**env_for_subprocess(home), "TERM": "xterm", "COLUMNS": "120"}
    argv += ["--each", str(source), "--wait", "--interval", "0.05"]
    stdout, shown, status = stderr_on_terminal(argv, env)
    screen = shown.decode(errors="replace")
    assert status == 8, screen
    assert len(stdout.splitlines()) == 3
    assert "0/4 finished" in screen and "Deploying: 4" in screen  # the live states
    assert "machines/abc000 (amber-otter)" in screen  # among the slowest
    assert "Failed deployment" in screen
    assert "waited for 4 in" in screen and "3 Deployed, 1 Failed deployment" in screen


def test_with_bodies_to_files_the_states_go_under_the_bar_on_a_shared_terminal(
    spawn: Spawn, fleet: MaasSimulator, profile: str, home: Path, tmp_path: Path
) -> None:
    """stdout and stderr on one terminal, bodies to -o files: the bar is drawn, so the
    states go under it, not as lines across it (both decisions are fleet.shows_bar)."""
    fleet.timed.seconds = 1.0
    source = home / "ids"
    source.write_text("\n".join(ready(fleet)[:4]) + "\n")
    master, slave = os.openpty()
    argv = [sys.executable, "-m", "maascurl", "post", "machines/{}", "op=deploy", "--each"]
    out = str(tmp_path / "{}.json")
    env = {**env_for_subprocess(home), "TERM": "xterm", "COLUMNS": "120"}
    process = spawn(
        [*argv, str(source), "--wait", "--interval", "0.05", "-o", out],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    screen = read_terminal(master).decode(errors="replace")
    assert process.wait(timeout=30) == 0, screen
    assert "0/4 finished" in screen and "Deploying: 4" in screen  # the live states
    assert "waited for 4 in" in screen and "4 Deployed" in screen
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_batch_waits_for_the_lines_that_start_something(
    fleet: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    source = tmp_path / "work.txt"
    source.write_text(
        "# deploy two, lock one, read one\n"
        "post machines/abc000 op=deploy distro_series=noble\n"
        "post machines/abc005 op=lock\n"
        "post machines/abc006 op=commission\n"
        "get machines/abc001\n"
    )
    result = run("batch", str(source), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(m["system_id"], m["status_name"]) for m in out] == [
        ("abc000", "Deployed"),
        ("abc005", "Deployed"),
        ("abc006", "Ready"),
        ("abc001", "Allocated"),
    ]
    assert "waited for 2 in" in result.stderr


def test_batch_waits_for_an_image_import_and_writes_the_resources(
    fleet: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """As a single `post boot-resources op=import --wait`: the line's output is the listing."""
    fleet.timed.import_seconds = 0.3
    source = tmp_path / "work.txt"
    source.write_text("post boot-resources op=import\n")
    result = run("batch", str(source), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 1 and isinstance(out[0], list) and out[0]  # not the poll's `false`
    assert {"name", "architecture"} <= set(out[0][0])
    assert fleet.requests[-1].path.endswith("/boot-resources/")


def test_a_machine_whose_answer_lacks_the_field_fails_alone(fleet: MaasSimulator, run: Run) -> None:
    """The poller ends that machine's wait (exit 2), and goes on with the others."""
    fleet.timed.seconds = 0.6
    broken = next(m for m in fleet.machines if m["system_id"] == "abc003")

    def drop_the_field() -> None:  # while the machines deploy, and are being polled
        time.sleep(0.3)
        with fleet._lock:
            broken.pop("status_name", None)
            fleet.changed()

    thread = threading.Thread(target=drop_the_field)
    thread.start()
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", *FAST,
        input="abc000\nabc003\nabc006\n",
    )  # fmt: skip
    thread.join()
    assert result.exit_code == 2, result.stderr
    assert [json.loads(line)["system_id"] for line in result.stdout.splitlines()] == [
        "abc000",
        "abc006",
    ]
    assert (
        "line 2 (post machines/abc003/ op=deploy): machines/abc003: "
        "the answer has no field 'status_name'"
    ) in result.stderr


def test_quiet_fleet_wait_says_only_what_failed(fleet: MaasSimulator, run: Run) -> None:
    fleet.timed.failing = {"abc003"}
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", "-q", *FAST,
        input="abc000\nabc003\n",
    )  # fmt: skip
    assert result.exit_code == 8
    assert len(result.stdout.splitlines()) == 1
    assert "error: line 2 (post machines/abc003/ op=deploy)" in result.stderr
    assert "Deploying [" not in result.stderr  # no state lines
    assert "waited for" not in result.stderr  # no summary of the waits


def test_a_fleet_line_maas_started_no_power_action_for_fails(
    fleet: MaasSimulator, run: Run
) -> None:
    """power_off of a manual machine answers null: that line fails, the others are waited for."""
    manual, other = "abc002", "abc005"  # both Deployed, powered on
    next(m for m in fleet.machines if m["system_id"] == manual)["power_type"] = "manual"
    result = run(
        "post", "machines/{}", "op=power_off", "--each", "-", "--wait", *FAST,
        input=f"{manual}\n{other}\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert (
        f"maascurl: error: line 1 (post machines/{manual}/ op=power_off): machines/{manual}: "
        "MAAS started no power action"
    ) in result.stderr
    assert [json.loads(line)["system_id"] for line in result.stdout.splitlines()] == [other]
