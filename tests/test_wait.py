"""--wait, `maascurl wait` and their polling, against the simulator's timed actions."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run, Spawn, complete, env_for_subprocess, stderr_on_terminal, values
from simulator import MaasSimulator, Reply
from test_completion import PROBE, cached  # noqa: F401 (a fixture)

from maascurl.errors import UsageError
from maascurl.jobs import wait

FAST = ("--interval", "0.02", "--wait-timeout", "20")  # a bug must not hang the suite


@pytest.fixture
def timed(api: MaasSimulator) -> Iterator[MaasSimulator]:
    """Machine actions that take 0.3 s; nothing fails unless a test says so."""
    api.timed.reset()
    api.timed.seconds = 0.3
    saved = list(api.events)
    api.timed.log.events.clear()
    yield api
    api.timed.reset()
    api.events[:] = saved


def polls(sim: MaasSimulator, path: str) -> list[str]:
    return [r.path for r in sim.requests if r.method == "GET" and r.path.endswith(path)]


# ---------------------------------------------------------------- --wait


def test_deploy_waits_until_deployed(timed: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=deploy", "distro_series=noble", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    machine = json.loads(result.stdout)
    assert (machine["status_name"], machine["power_state"]) == ("Deployed", "on")
    assert machine["distro_series"] == "noble"
    lines = result.stderr.splitlines()
    assert lines[0].startswith("maascurl: machines/abc000 (amber-otter): Deploying [")
    assert lines[-1].startswith("maascurl: machines/abc000 (amber-otter): Deployed [")
    assert len(lines) == 2  # one line per state change, nothing else
    assert len(polls(timed, "machines/abc000/")) >= 2


def test_failed_deployment_exits_8_naming_state_and_message(timed: MaasSimulator, run: Run) -> None:
    timed.timed.failing = {"abc000"}
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST)
    assert result.exit_code == 8
    assert result.stderr.splitlines()[-1] == (
        "maascurl: error: machines/abc000: Failed deployment: "
        "Node installation failure - Installation failed (refer to the installation log)"
    )
    assert json.loads(result.stdout)["status_name"] == "Failed deployment"


def test_timeout_exits_7_naming_the_state(timed: MaasSimulator, run: Run) -> None:
    timed.timed.seconds = 60
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST, "--wait-timeout", "0.2")
    assert result.exit_code == 7
    error = result.stderr.splitlines()[-1]
    assert error.startswith("maascurl: error: machines/abc000: still Deploying after ")
    assert "goes on in MAAS" in error
    assert json.loads(result.stdout)["status_name"] == "Deploying"


def test_a_wait_for_a_server_that_is_down_is_a_connection_failure(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was ever read and nothing goes on in MAAS: exit 6, not 'still not read yet'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MAAS_API_URL", f"http://127.0.0.1:{port}/MAAS")
    monkeypatch.setenv("MAAS_API_KEY", "a:b:c")
    result = run(
        "wait",
        "machines/abc000",
        "status_name=Deployed",
        "--interval",
        "0.05",
        "--wait-timeout",
        "0.5",
    )
    assert result.exit_code == 6
    error = result.stderr.splitlines()[-1]
    assert error.startswith("maascurl: error: machines/abc000: no answer in ")
    assert "refused" in error or "connect" in error
    assert "goes on in MAAS" not in error and "not read" not in error


def test_a_wait_whose_polls_fail_at_the_end_says_so(timed: MaasSimulator, run: Run) -> None:
    timed.timed.seconds = 60
    timed.timed.queue_get("machines/abc000/", Reply(503, b"busy"), count=1000)
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST, "--wait-timeout", "0.3")
    assert result.exit_code == 7
    error = result.stderr.splitlines()[-1]
    assert error.startswith("maascurl: error: machines/abc000: still Deploying after ")
    assert "the polls since failed: 503 Service Unavailable: busy" in error
    assert "goes on in MAAS" not in error


def test_maascurl_wait_times_out_without_claiming_an_action(api: MaasSimulator, run: Run) -> None:
    result = run(
        "wait",
        "machines/abc000",
        "status_name=Deployed",
        "--interval",
        "0.05",
        "--wait-timeout",
        "0.2",
    )
    assert result.exit_code == 7
    error = result.stderr.splitlines()[-1]
    assert error.startswith("maascurl: error: machines/abc000: still Ready after ")
    assert "goes on in MAAS" not in error  # maascurl started nothing


def test_transient_503_during_polling_is_tolerated(timed: MaasSimulator, run: Run) -> None:
    timed.timed.queue_get("machines/abc000/", Reply(503, b"busy"), count=3)
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Deployed"
    # One note for the whole outage, not one per failed poll.
    notes = [line for line in result.stderr.splitlines() if "still waiting" in line]
    assert notes == ["maascurl: machines/abc000: 503 Service Unavailable: busy; still waiting"]


def test_retry_after_during_polling_is_honoured(timed: MaasSimulator, run: Run) -> None:
    busy = Reply(503, b"busy", headers={"Retry-After": "0"})
    timed.timed.queue_get("machines/abc000/", busy, count=1)
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert "retrying in 0 s (1/3)" in result.stderr  # the single call's own retry
    assert "still waiting" not in result.stderr


def test_deleted_machine_ends_the_wait_with_the_4xx(timed: MaasSimulator, run: Run) -> None:
    timed.timed.vanishing = {"abc000"}
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST)
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1] == (
        "maascurl: error: machines/abc000: 404 Not Found: No Machine matches the given query."
    )
    assert result.stdout == ""


def test_every_poll_is_signed_afresh(timed: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=commission", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Ready"
    nonces = [r.oauth["oauth_nonce"] for r in timed.requests if r.oauth]
    assert len(nonces) >= 3 and len(set(nonces)) == len(nonces)


def test_clock_skew_is_recovered_while_polling(timed: MaasSimulator, run: Run) -> None:
    timed.timed.seconds = 0.5
    timed.clock_offset = 1000.0  # the server's clock is ahead: every request must adapt
    result = run("post", "machines/abc000", "op=deploy", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Deployed"
    assert result.stderr.count("clock is") == 1


def test_an_op_that_finishes_at_once_just_returns(timed: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc002", "op=lock", "--wait", *FAST)  # abc002 is Deployed
    assert result.exit_code == 0
    assert json.loads(result.stdout)["system_id"] == "abc002"
    assert result.stderr == ""
    assert [r.method for r in timed.requests] == ["POST"]


def test_release_waits_for_ready_through_disk_erasing(timed: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc001", "op=release", "erase=true", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Ready"
    assert "Disk erasing [" in result.stderr


def test_test_returns_to_the_previous_status(timed: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc002", "op=test", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Deployed"


def test_power_off_answered_null_says_maas_started_nothing(timed: MaasSimulator, run: Run) -> None:
    """A manual power type: MAAS sends no power action and answers null. That is no
    success to wait for: once it exited 0 at once, as if the machine were off."""
    machine = next(m for m in timed.machines if m["system_id"] == "abc001")
    machine["power_type"] = "manual"
    result = run("post", "machines/abc001", "op=power_off", "--wait", *FAST)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "maascurl: error: machines/abc001: MAAS started no power action (it answered null"
    )
    assert json.loads(result.stdout) is None  # MAAS's answer, as without --wait
    assert [r.method for r in timed.requests] == ["POST"]


def test_power_on_of_a_manual_machine_is_not_waited_for(timed: MaasSimulator, run: Run) -> None:
    """MAAS answers with the machine but never powers it: power_state would never change."""
    machine = next(m for m in timed.machines if m["system_id"] == "abc002")
    machine["power_type"], machine["power_state"] = "manual", "unknown"
    result = run("post", "machines/abc002", "op=power_on", "--wait", *FAST)
    assert result.exit_code == 1
    assert "MAAS started no power action (power type manual" in result.stderr
    assert json.loads(result.stdout)["system_id"] == "abc002"
    assert [r.method for r in timed.requests] == ["POST"]


def test_abort_of_a_deployment_ends_in_allocated(timed: MaasSimulator, run: Run) -> None:
    timed.timed.seconds = 30
    assert run("post", "machines/abc000", "op=deploy").exit_code == 0
    result = run("post", "machines/abc000", "op=abort", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Allocated"


def test_abort_of_a_disk_erase_ending_in_failed_disk_erasing_is_success(
    timed: MaasSimulator, run: Run
) -> None:
    """MAAS ends an aborted erase in Failed disk erasing: where abort goes, not its failure."""
    timed.timed.seconds = 30
    assert run("post", "machines/abc002", "op=release", "erase=true").exit_code == 0
    result = run("post", "machines/abc002", "op=abort", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Failed disk erasing"


def test_an_aborted_deploy_is_a_failure_of_the_deploy_wait(timed: MaasSimulator) -> None:
    goal = wait.ACTIONS["deploy"]
    seen = wait.judge(goal, {"status_name": "Allocated", "status_message": ""}, "m")
    assert seen.verdict == wait.FAILURE
    watch = wait.Watch("machines/x", "u", goal, 0.0)
    watch.observe({"status_name": "Allocated"}, b"", 1.0)
    assert str(watch.error) == "machines/x: Allocated (not Deployed)"
    assert watch.error is not None and watch.error.exit_code == 8


def test_power_on_waits_for_power_state(timed: MaasSimulator, run: Run) -> None:
    # abc001 is allocated; its power_state starts as "error", which must not
    # count as the failure of a power action that has not happened yet.
    result = run("post", "machines/abc001", "op=power_on", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["power_state"] == "on"


def test_image_import_waits_until_not_importing(timed: MaasSimulator, run: Run) -> None:
    timed.timed.import_seconds = 0.3
    result = run("post", "boot-resources", "op=import", "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)  # the resources, as read at the end
    assert isinstance(listing, list) and listing
    assert "boot-resources: importing [" in result.stderr
    assert "boot-resources: imported [" in result.stderr
    assert timed.requests[-1].path.endswith("/boot-resources/")


def test_wait_is_only_offered_on_post(run: Run) -> None:
    assert "--wait" in run("post", "--help").stdout
    result = run("get", "machines", "--wait")
    assert result.exit_code == 2
    assert "No such option '--wait'" in result.stderr


def test_http_error_of_the_action_itself_is_reported_as_usual(
    timed: MaasSimulator, run: Run
) -> None:
    result = run("post", "machines/nope", "op=deploy", "--wait", *FAST)
    assert result.exit_code == 4
    assert "404 Not Found" in result.stderr


# ---------------------------------------------------------------- maascurl wait


def test_wait_command_on_a_field(timed: MaasSimulator, run: Run) -> None:
    assert run("post", "machines/abc001", "op=power_on").exit_code == 0
    result = run("wait", "machines/abc001", "power_state=on", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["power_state"] == "on"
    assert "power_state=on" in result.stderr


def test_wait_command_dotted_field_and_several_values(timed: MaasSimulator, run: Run) -> None:
    result = run(
        "wait", "machines/abc000", "zone.name=nowhere,zone-north", "status_name=Ready", *FAST
    )
    assert result.exit_code == 0, result.stderr
    assert len(timed.requests) == 1  # already there: no polling


def test_wait_command_fail_on(timed: MaasSimulator, run: Run) -> None:
    timed.timed.failing = {"abc000"}
    assert run("post", "machines/abc000", "op=commission").exit_code == 0
    result = run(
        "wait",
        "machines/abc000",
        "status_name=Ready",
        "--fail-on",
        "status_name=Failed commissioning,Broken",
        *FAST,
    )
    assert result.exit_code == 8
    assert result.stderr.splitlines()[-1] == (
        "maascurl: error: machines/abc000: Failed commissioning: "
        "Node commissioning failure - Commissioning failed, see the script results"
    )


def test_wait_command_unknown_field_is_a_usage_error(timed: MaasSimulator, run: Run) -> None:
    result = run("wait", "machines/abc000", "stauts_name=Ready")
    assert result.exit_code == 2
    assert "machines/abc000: the answer has no field 'stauts_name'" in result.stderr


def test_wait_command_needs_a_condition(run: Run) -> None:
    assert run("wait", "machines/abc000").exit_code == 2
    assert run("wait", "machines/abc000", "nonsense").exit_code == 2


def test_bad_duration_is_a_usage_error(run: Run) -> None:
    result = run("wait", "machines/abc000", "status_name=Ready", "--interval", "soon")
    assert result.exit_code == 2
    assert "'soon' is not a duration" in result.stderr


# ---------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("1h30m", 5400.0), ("0.5", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert wait.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "-5", "0", "5 m", "1m1", "1..5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        wait.parse_duration(text)


def test_pacer_backs_off_gently_with_jitter_and_resets() -> None:
    pacer = wait.Pacer(2.0, random.Random(1))
    delays = [pacer.next() for _ in range(20)]
    assert all(2.0 * 0.8 <= d <= 8.0 * 1.2 for d in delays)
    assert max(delays) > 6.0 and delays[0] < 2.5
    assert len({round(d, 6) for d in delays[-5:]}) == 5  # jitter: never in step
    pacer.reset()
    assert pacer.next() <= 2.0 * 1.2


def test_field_values() -> None:
    data = {"a": {"b": [{"c": True}]}, "n": None}
    assert wait.as_text(wait.field_value(data, "a.b.0.c")) == "true"
    assert wait.as_text(wait.field_value(data, "n")) == "null"
    assert wait.field_value(data, "a.x") is wait._MISSING


def test_release_failure_label_is_maas_own() -> None:
    # MAAS labels FAILED_RELEASING "Releasing failed" (maasserver/enum.py).
    assert wait.BUSY["Releasing"] == "Releasing failed"
    seen = wait.judge(wait.ACTIONS["release"], {"status_name": "Releasing failed"}, "m")
    assert seen.verdict == wait.FAILURE


def test_condition_completion() -> None:
    assert "status_name=" in wait.complete_condition("stat")
    assert wait.complete_condition("status_name=Dep") == [
        "status_name=Deploying",
        "status_name=Deployed",
    ]
    assert wait.complete_condition("power_state=on,o") == [
        "power_state=on,on",
        "power_state=on,off",
    ]


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_exits_130_saying_the_action_goes_on(
    spawn: Spawn, timed: MaasSimulator, profile: str, home: Path
) -> None:
    timed.timed.seconds = 60
    env = env_for_subprocess(home)
    argv = [sys.executable, "-m", "maascurl", "post", "machines/abc000", "op=deploy", "--wait"]
    process = spawn(
        [*argv, "--interval", "0.05"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # the first state line: it is waiting now
    assert "Deploying" in first
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stdout == ""
    assert stderr.strip() == (
        "maascurl: error: interrupted; machines/abc000 (Deploying) goes on in MAAS"
    )


# ---------------------------------------------------------------- TAB


@pytest.mark.usefixtures("cached")
def test_tab_offers_wait_options_on_post_only() -> None:
    assert values("maascurl post machines/abc op=deploy --wa") == ["--wait", "--wait-timeout"]
    assert values("maascurl get machines/abc --wa") == []


@pytest.mark.usefixtures("cached")
def test_tab_completes_wait_fields_and_values() -> None:
    assert values("maascurl wait machines/abc power_s") == ["power_state="]
    assert complete("maascurl wait machines/abc status_name=Fai")[0] == (
        "plain,status_name=Failed commissioning"
    )
    assert values("maascurl wait machines/abc status_name=Ready --fail-on status_name=Br") == [
        "status_name=Broken"
    ]


@pytest.mark.usefixtures("cached")
def test_tab_completes_event_filters_from_the_description() -> None:
    found = values("maascurl events ")
    assert {"hostname=", "id=", "level=", "owner="} <= set(found)
    assert "limit=" not in found and "after=" not in found


@pytest.mark.parametrize(
    "line",
    ["maascurl wait machines/abc status_name=Dep", "maascurl events lev"],
)
@pytest.mark.usefixtures("cached")
def test_tab_for_wait_and_events_stays_light(home: Path, line: str) -> None:
    env = env_for_subprocess(home)
    env.update(
        _MAASCURL_COMPLETE="bash_complete", COMP_WORDS=line, COMP_CWORD=str(len(line.split()) - 1)
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("plain,") or proc.stdout.startswith("nospace,")
    assert json.loads(proc.stderr.splitlines()[-1]) == {"modules": [], "socket": []}


# ---------------------------------------------------------------- the view


def render(renderable: object) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return str(output)


def test_state_lines_show_server_text_escaped_and_once(timed: MaasSimulator, run: Run) -> None:
    """On stderr without a terminal: one line per state seen, its server text made visible."""
    machine = next(m for m in timed.machines if m["system_id"] == "abc001")
    machine["hostname"] = "web\x1b[2J01"
    machine["osystem"] = "ubu\x1b]0;x\x07ntu"
    args = ("--interval", "0.02", "--wait-timeout", "0.3")
    result = run("wait", "machines/abc001", "osystem=ubuntu", *args)
    assert result.exit_code == 7, result.stderr
    assert "\x1b" not in result.stderr
    states = [line for line in result.stderr.splitlines() if "[0:00]" in line]
    assert states == [
        "maascurl: machines/abc001 (web\\x1b[2J01): osystem=ubu\\x1b]0;x\\x07ntu [0:00]"
    ]


def test_live_view_of_one_machine_shows_host_state_time_and_event() -> None:
    from maascurl.show.waitview import render_one

    watch = wait.Watch("machines/abc", "u", wait.ACTIONS["deploy"], 0.0)
    hostile = {"hostname": "web\x1b[2J01", "status_name": "Deploying"}
    watch.observe({**hostile, "status_message": "Node installation - curtin running"}, b"", 0.0)
    text = render(render_one(watch, "", 75.0))
    assert "web\\x1b[2J01" in text and "\x1b[2J" not in text
    assert "Deploying" in text and "1:15" in text
    assert "Node installation - curtin running" in text


def test_live_view_of_a_fleet_counts_states_and_names_the_slowest() -> None:
    from maascurl.show.waitview import render_fleet

    watches = []
    for i, state in enumerate(["Deployed", "Deploying", "Deploying", "Failed deployment"]):
        watch = wait.Watch(f"machines/m{i}", "u", wait.ACTIONS["deploy"], 0.0)
        watch.observe({"hostname": f"h{i}", "status_name": state}, b"", float(i))
        watches.append(watch)
    text = render(render_fleet(watches, "machines: 503; still waiting", 100.0))
    assert "2/4 finished" in text
    assert "Deploying: 2" in text and "Deployed: 1" in text and "Failed deployment: 1" in text
    assert "machines/m1 (h1)" in text and "machines/m0" not in text  # only unfinished ones
    assert "503; still waiting" in text


def test_live_view_of_a_fleet_names_the_machines_longest_in_their_state() -> None:
    from maascurl.show.waitview import SLOWEST, render_fleet

    watches = []
    for i in range(SLOWEST + 3):  # m0 has been Deploying longest, m7 the least
        watch = wait.Watch(f"machines/m{i}", "u", wait.ACTIONS["deploy"], 0.0)
        watch.observe({"hostname": f"h{i}", "status_name": "Deploying"}, b"", float(i))
        watches.append(watch)
    text = render(render_fleet(list(reversed(watches)), "", 100.0))
    shown = [f"machines/m{i} " for i in range(SLOWEST + 3) if f"machines/m{i} " in text]
    assert shown == [f"machines/m{i} " for i in range(SLOWEST)]
    assert text.index("machines/m0 ") < text.index(f"machines/m{SLOWEST - 1} ")


def maascurl_on_terminal(home: Path, *args: str) -> tuple[int, bytes, str]:
    """Run maascurl with stderr on a pseudo-terminal: (status, stdout, what the terminal got)."""
    env = {**env_for_subprocess(home), "TERM": "xterm", "COLUMNS": "100"}
    argv = [sys.executable, "-m", "maascurl", *args]
    stdout, screen, status = stderr_on_terminal(argv, env)
    return status, stdout, screen.decode(errors="replace")


def test_live_view_at_a_terminal(timed: MaasSimulator, profile: str, home: Path) -> None:
    """stderr on a terminal: a live view, then the final state; stdout stays the JSON."""
    timed.timed.seconds = 1.2  # the half-way event shows for 0.6 s: a few redraws
    args = ("post", "machines/abc000", "op=deploy", "--wait", "--interval", "0.05")
    status, stdout, screen = maascurl_on_terminal(home, *args)
    assert status == 0, screen
    assert json.loads(stdout)["status_name"] == "Deployed"
    assert "amber-otter" in screen and "Deploying" in screen
    assert "Node installation - curtin running" in screen  # the newest event, live
    assert "maascurl: machines/abc000 (amber-otter): Deployed [" in screen


def test_no_progress_at_a_terminal_gives_plain_lines(
    timed: MaasSimulator, profile: str, home: Path
) -> None:
    args = ("post", "machines/abc000", "op=deploy", "--wait", "--interval", "0.05")
    status, _, screen = maascurl_on_terminal(home, *args, "--no-progress")
    assert status == 0, screen
    lines = screen.replace("\r", "").splitlines()
    assert lines[0].startswith("maascurl: machines/abc000 (amber-otter): Deploying [")
    assert lines[-1].startswith("maascurl: machines/abc000 (amber-otter): Deployed [")
    assert "curtin running" not in screen  # no live view


def test_quiet_keeps_only_the_error(timed: MaasSimulator, run: Run) -> None:
    timed.timed.failing = {"abc000"}
    result = run("post", "machines/abc000", "op=deploy", "--wait", "-q", *FAST)
    assert result.exit_code == 8
    assert result.stderr.splitlines() == [
        "maascurl: error: machines/abc000: Failed deployment: "
        "Node installation failure - Installation failed (refer to the installation log)"
    ]


# ---------------------------------------------------------------- many at once


def start_fleet(sim: MaasSimulator, count: int, session: object) -> list[wait.Watch]:
    """Deploy COUNT machines (signed POSTs through SESSION); a Watch for each answer."""
    from maascurl.jobs.call import Session
    from maascurl.wire.request import RequestSpec

    assert isinstance(session, Session)
    sim.set_fleet(count)
    watches = []
    for machine in list(sim.machines):
        if machine["status_name"] != "Ready":
            continue
        url = f"{sim.api_root}machines/{machine['system_id']}/"
        answer = session.read(RequestSpec("POST", url, [("op", "deploy")]), 2**20)
        data = json.loads(answer.content)
        now = time.monotonic()
        watch = wait.Watch(f"machines/{data['system_id']}", url, wait.ACTIONS["deploy"], now)
        watch.key = wait.machine_key(sim.api_root, url, data)
        watch.observe(data, answer.content, now)
        watches.append(watch)
    return watches


def test_a_fleet_is_polled_with_one_listing_per_round(
    timed: MaasSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.target import resolve_target
    from maascurl.show.waitview import PlainView

    monkeypatch.setattr(wait, "LISTING_CHUNK", 10)  # 25 machines: 3 listings a round
    rounds = []
    original = wait.Poller.round

    def counted(poller: wait.Poller, pending: list[wait.Watch]) -> bool:
        rounds.append(len(pending))
        return original(poller, pending)

    monkeypatch.setattr(wait.Poller, "round", counted)
    timed.timed.fail_share = 0.3
    options = CallOptions()
    with Session(resolve_target(options.profile, "machines"), options) as session:
        watches = start_fleet(timed, 75, session)
        assert len(watches) == 25
        timed.requests.clear()
        wait.wait_all(session, watches, 0.02, PlainView())
    gets = [r for r in timed.requests if r.method == "GET"]
    assert {r.path for r in gets} == {"/MAAS/api/2.0/machines/"}
    assert all(len(r.query) <= 10 for r in gets)
    rounds = len(gets) / 3
    assert len(gets) < len(watches) * rounds  # grows with rounds, not machines x rounds
    failing = {w.key for w in watches if timed.timed.fails(w.key or "")}
    assert 0 < len(failing) < 25
    for watch in watches:
        expected = "Failed deployment" if watch.key in failing else "Deployed"
        assert watch.seen is not None and watch.seen.state == expected
        assert (watch.error is not None) == (watch.key in failing)
    summary = wait.fleet_summary(watches, 2.0)
    assert f"{25 - len(failing)} Deployed" in summary
    assert f"{len(failing)} Failed deployment" in summary


def test_a_state_change_brings_the_poll_interval_back_to_interval(timed: MaasSimulator) -> None:
    """Backing off while nothing moves, then --interval again once something does."""
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.target import resolve_target
    from maascurl.show.waitview import PlainView

    machine = next(m for m in timed.machines if m["system_id"] == "abc001")
    machine["power_state"] = "unknown"
    sleeps: list[float] = []

    class Recorder(PlainView):
        def sleep(self, seconds: float) -> None:  # the rounds run at once; MAAS moves here
            sleeps.append(seconds)
            if len(sleeps) == 4:
                machine["power_state"] = "off"  # a change, still not the goal
            elif len(sleeps) == 5:
                machine["power_state"] = "on"

    options = CallOptions()
    with Session(resolve_target(options.profile, "machines"), options) as session:
        url = f"{timed.api_root}machines/abc001/"
        watch = wait.Watch("machines/abc001", url, wait.power_goal("on"), time.monotonic())
        wait.wait_all(session, [watch], 1.0, Recorder())
    assert watch.seen is not None and watch.seen.state == "power_state=on"
    assert watch.error is None
    # The first answer is a change too; then two quiet rounds back off, 1.25 then 1.5625 s.
    assert len(sleeps) == 5
    assert sleeps[3] >= 1.5625 * (1 - wait.JITTER) > 1.0 * (1 + wait.JITTER)
    assert sleeps[4] <= 1.0 * (1 + wait.JITTER)  # back to --interval after the change


def test_a_machine_gone_from_the_listing_ends_its_wait(timed: MaasSimulator) -> None:
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.target import resolve_target
    from maascurl.show.waitview import PlainView

    options = CallOptions()
    with Session(resolve_target(options.profile, "machines"), options) as session:
        watches = start_fleet(timed, 9, session)
        timed.timed.vanishing = {watches[0].key or ""}
        wait.wait_all(session, watches, 0.02, PlainView())
    assert str(watches[0].error) == f"{watches[0].where}: no longer listed by MAAS"
    assert watches[0].error is not None and watches[0].error.exit_code == 4
    assert [wait.final_state(w) for w in watches[1:]] == ["Deployed", "Deployed"]


def test_wait_with_output_file_saves_the_final_object(
    timed: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "m.json"
    result = run("post", "machines/abc000", "op=deploy", "--wait", "-o", str(target), *FAST)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(target.read_text())["status_name"] == "Deployed"


def test_wait_for_is_there_for_other_commands(timed: MaasSimulator) -> None:
    """What an image upload uses to wait for the image to sync: a Condition on any path."""
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.target import resolve_target
    from maascurl.wire.request import RequestSpec

    timed.timed.import_seconds = 0.2
    options = CallOptions()
    with Session(resolve_target(options.profile, "boot-resources"), options) as session:
        start = RequestSpec("POST", f"{timed.api_root}boot-resources/", [("op", "import")])
        session.read(start, 2**20)
        done = wait.Condition(done=(("", frozenset({"false"})),))
        assert (
            wait.wait_for(session, "boot-resources/?op=is_importing", done, interval=0.02) is False
        )
        ready = wait.Condition(done=(("status_name", frozenset({"Ready"})),))
        machine = wait.wait_for(session, "machines/abc000/", ready, interval=0.02)
        assert machine["system_id"] == "abc000"
        with pytest.raises(wait.TimedOut):
            never = wait.Condition(done=(("status_name", frozenset({"Retired"})),))
            wait.wait_for(session, "machines/abc000/", never, timeout=0.1, interval=0.02)


# ---------------------------------------------------------------- what it imports


@pytest.mark.parametrize(
    "args",
    [
        ("post", "machines/abc000", "op=deploy", "--wait", "--interval", "0.02"),
        ("wait", "machines/abc000", "status_name=Ready"),
        ("events", "-n", "3"),
    ],
)
def test_piped_waits_and_events_never_import_rich(
    timed: MaasSimulator, profile: str, home: Path, args: tuple[str, ...]
) -> None:
    from test_fast_paths import imports_of, top_level

    names, done = imports_of(env_for_subprocess(home), *args)
    assert done.returncode == 0, done.stderr
    assert top_level(names).isdisjoint({"rich", "pygments"})


def test_a_dropped_connection_during_polling_is_tolerated(timed: MaasSimulator, run: Run) -> None:
    body = json.dumps({"system_id": "abc000"}).encode()
    dropped = Reply(200, body, "application/json", truncate=5)  # the server dies mid-answer
    timed.timed.queue_get("machines/abc000/", dropped, count=2)
    result = run("post", "machines/abc000", "op=deploy", "--wait", "--retries", "0", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Deployed"
    notes = [line for line in result.stderr.splitlines() if "still waiting" in line]
    assert len(notes) == 1 and "connection to 127.0.0.1" in notes[0]


def test_wait_command_sends_its_headers_with_every_poll(timed: MaasSimulator, run: Run) -> None:
    timed.timed.seconds = 0.3
    assert run("post", "machines/abc001", "op=power_on").exit_code == 0
    result = run("wait", "machines/abc001", "power_state=on", "-H", "X-Trace: w1", *FAST)
    assert result.exit_code == 0, result.stderr
    gets = [r for r in timed.requests if r.method == "GET"]
    assert len(gets) >= 2
    assert {r.headers.get("x-trace") for r in gets} == {"w1"}
    assert run("wait", "machines/abc001", "power_state=on", "--body", "-").exit_code == 2


def test_wait_timing_options_need_wait(run: Run) -> None:
    for option in ("--wait-timeout", "--interval"):
        result = run("post", "machines/abc000", "op=deploy", option, "5")
        assert result.exit_code == 2
        assert "--wait-timeout and --interval need --wait" in result.stderr


def test_wait_command_waits_out_a_region_that_is_not_up_yet(timed: MaasSimulator, run: Run) -> None:
    timed.timed.queue_get("machines/abc000/", Reply(503, b"starting"), count=2)
    result = run("wait", "machines/abc000", "status_name=Ready", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status_name"] == "Ready"
    assert "503 Service Unavailable: starting; still waiting" in result.stderr


def test_maascurl_wait_says_how_it_changed_the_path_and_no_check_keeps_it(
    api: MaasSimulator, run: Run
) -> None:
    shown = run("wait", "machines/abc000", "status_name=Ready", "-v", *FAST)
    assert shown.exit_code == 0, shown.stderr
    assert "maascurl: note: machines/abc000 is sent as machines/abc000/" in shown.stderr
    exact = run("wait", "machines/abc000/", "status_name=Ready", "--no-check", *FAST)
    assert exact.exit_code == 0, exact.stderr
    assert {r.path for r in api.requests} == {"/MAAS/api/2.0/machines/abc000/"}
