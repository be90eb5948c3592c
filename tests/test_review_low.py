"""What the second security review found (issue 20), its low items, each against a hostile
server (tests/hostile.py), a hostile input file or database, or a second local user.

Tests that belong with one feature live beside it (test_profile_import.py,
test_events.py, test_table.py...); these are the ones that cut across.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import Run, values
from hostile import HostileServer, reply
from simulator import MaasSimulator

MB = 1024 * 1024


def peak_of(run: Run, *args: str) -> tuple[Result, int]:
    """RUN's result for ARGS and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        result = run(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


# --- 7: what a profile holds is shown, not obeyed ---------------------------------------


def test_profile_list_and_show_make_a_stored_urls_controls_visible(run: Run, home: Path) -> None:
    """A hand-edited config may hold escape sequences: list and show print them visibly."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        'default = "odd"\n'
        '[profiles.odd]\nurl = "http://127.0.0.1:9/MA\\u001b]0;pwned\\u0007AS\\u009b2J"\n'
        'api_key = "c\\u001b[31m:t:s"\n'
        '[profiles."n\\u001b[2J"]\nurl = "http://127.0.0.1:9/MAAS"\n'
    )
    config.chmod(0o600)
    shown = run("profile", "list").stdout + run("profile", "show", "odd").stdout
    assert not any(c in shown for c in "\x1b\x07\x9b")
    assert "MA\\x1b]0;pwned\\x07AS\\x9b2J" in shown
    assert "n\\x1b[2J" in shown
    assert "api_key: c\\x1b[31m:<redacted>:<redacted>" in shown
    listed, one = run("profile", "list", "--json").stdout, run("profile", "show", "odd", "--json")
    assert not any(c in listed + one.stdout for c in "\x1b\x07\x9b")
    assert json.loads(one.stdout)["url"].endswith("\x9b2J")  # JSON escapes, and keeps, them


# --- 8, 9, 10: a fleet run finishes whatever one line brings ------------------------------


def test_a_nul_filled_into_o_is_a_line_error(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    """Refused while the lines are checked, as other values that cannot name a file are."""
    out = tmp_path / "out"
    out.mkdir()
    lines = "abc001\nabc\x00002\n"
    result = run("get", "machines/{}", "--each", "-", "-o", f"{out}/{{}}.json", input=lines)
    assert result.exit_code == 2
    assert result.stderr == (
        "maascurl: error: line 2: {} = 'abc\\x00002' cannot name a file in -o\n"
    )
    assert hostile.seen == []
    assert list(out.iterdir()) == []


def test_a_failure_saving_a_lines_file_fails_that_line_only(
    hostile: HostileServer, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong writing one line's -o file, its worker goes on: every line and the
    summary are done (before, the worker thread died and the run never ended)."""
    from maascurl.show import output

    save = output.save_body  # -o streams each line's answer to its file

    def save_or_break(response: Any, path: str) -> None:
        if path.endswith("b.json"):
            raise ValueError("embedded null byte")
        save(response, path)

    monkeypatch.setattr(output, "save_body", save_or_break)
    hostile.answer(*[reply(200, b'{"n": 1}') for _ in range(3)])
    out = tmp_path / "out"
    out.mkdir()
    args = ("get", "m/{}", "--each", "-", "-j", "1", "-o", f"{out}/{{}}.json")
    results: list[Result] = []
    # In a thread of its own: a run that never ends fails the test rather than hanging it.
    thread = threading.Thread(target=lambda: results.append(run(*args, input="a\nb\nc\n")))
    thread.daemon = True
    thread.start()
    thread.join(60)
    assert results, "the run never ended"
    [result] = results
    assert result.exit_code == 1
    assert "line 2 (get m/b/): internal error: ValueError: embedded null byte" in result.stderr
    assert "3 request(s): 2 ok, 1 failed" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "c.json"]


def test_one_deeply_nested_answer_fails_its_line_and_the_run_goes_on(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    hostile.answer(reply(200, b'{"n": 1}'), reply(200, deep), reply(200, b'{"n": 3}'))
    report = tmp_path / "report.jsonl"
    result = run(
        "get", "m/{}", "--each", "-", "-j", "1", "--report", str(report), input="a\nb\nc\n"
    )
    assert result.exit_code == 1
    assert result.stdout == '{"n": 1}\n{"n": 3}\n'
    assert result.stderr.splitlines() == [
        "maascurl: error: line 2 (get m/b/): the response's JSON is nested too deeply to write "
        "as one line; -o FILE saves it as it came",
        result.stderr.splitlines()[1],
    ]
    assert "3 request(s): 2 ok, 1 failed" in result.stderr
    outcomes = [json.loads(line)["outcome"] for line in report.read_text().splitlines()]
    assert outcomes == ["ok", "failed", "ok"]


def test_an_overlong_input_line_is_refused_by_number_without_holding_it(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    lines = tmp_path / "lines"
    with lines.open("wb") as stream:
        stream.write(b"abc001\n" + b"x" * MB + b"\n")  # the most a line may hold
        stream.write(b"y" * (64 * MB) + b"\n")
    result, peak = peak_of(run, "get", "machines/{}", "--each", str(lines), "--offline")
    assert result.exit_code == 2
    assert result.stderr == "maascurl: error: line 3: longer than 1 MiB, the most a line may hold\n"
    assert result.stdout == ""
    assert hostile.seen == []
    assert peak < 16 * MB


def test_a_line_as_long_as_the_limit_is_taken(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.jobs import batch

    monkeypatch.setattr(batch, "LINE_LIMIT", 8)
    result = run("get", "m/{}", "--each", "-", "--offline", input="12345678\r\n123456789\n")
    assert result.exit_code == 2
    assert (
        result.stderr == "maascurl: error: line 2: longer than 8 bytes, the most a line may hold\n"
    )


# --- 15: server answers that ended in "internal error" ------------------------------------


def test_sort_orders_numbers_of_thousands_of_digits(hostile: HostileServer, run: Run) -> None:
    """Python's int() refuses more than 4,300 digits; natural order does not need it."""
    names = ["n" + "9" * 5000, "n" + "1" * 5000, "n2", "n0" + "1" * 5000, "n10"]
    hostile.answer(reply(200, json.dumps([{"hostname": n} for n in names]).encode()))
    args = ("get", "machines", "--sort", "hostname", "--format", "tsv", "--fields", "hostname")
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [names[2], names[4], names[1], names[3], names[0]]


@pytest.mark.parametrize("command", [["wait", "machines/abc", "status_name=Deployed"], ["events"]])
def test_a_deeply_nested_answer_to_a_poll_is_one_line(
    hostile: HostileServer, run: Run, command: list[str]
) -> None:
    hostile.answer(reply(200, b"[" * 100_000 + b"]" * 100_000))
    result = run(*command, "--interval", "0.01") if command[0] == "wait" else run(*command)
    assert result.exit_code == 1
    where = "machines/abc" if command[0] == "wait" else "events"
    assert result.stderr.endswith(
        f"maascurl: error: {where}: the answer's JSON is nested too deeply\n"
    ), result.stderr
    assert "internal error" not in result.stderr


# --- 16, 17: files a fleet writes ------------------------------------------------------------


def test_fleet_workers_never_change_the_process_umask(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting the umask to read it, from workers that make files at once, could leave one
    file with mode 0666 (the other's umask of 0). New files take the umask as they are made."""
    calls: list[int] = []
    real_umask = os.umask

    def umask(mask: int) -> int:
        calls.append(mask)
        return real_umask(mask)

    old = real_umask(0o027)
    monkeypatch.setattr(os, "umask", umask)
    out = tmp_path / "out"
    out.mkdir()
    lines = "".join(f"abc00{n}\n" for n in range(3))
    try:
        result = run("get", "machines/{}", "--each", "-", "-o", f"{out}/{{}}.json", input=lines)
    finally:
        real_umask(old)
    assert result.exit_code == 0, result.stderr
    assert calls == []
    modes = {stat.S_IMODE(path.stat().st_mode) for path in out.iterdir()}
    assert modes == {0o640}


def fleet_with_report(run: Run, report: Path) -> Result:
    return run("get", "machines/{}", "--each", "-", "--report", str(report), input="abc000\n")


def test_a_report_replaces_a_planted_link_and_never_follows_it(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA mine\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    report = shared / "report.jsonl"
    report.symlink_to(victim)  # planted by another user who can write the directory
    result = fleet_with_report(run, report)
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "ssh-ed25519 AAAA mine\n"
    assert not report.is_symlink()
    assert json.loads(report.read_text())["outcome"] == "ok"
    assert sorted(p.name for p in shared.iterdir()) == ["report.jsonl"]  # no temporary file


def test_a_report_never_writes_into_a_file_someone_else_made(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """Made beforehand by another user (who keeps it open to read what is written), the
    file at that name is replaced: the report goes to a new file of the user's own."""
    report = tmp_path / "report.jsonl"
    report.write_text("theirs\n")
    report.chmod(0o666)
    if os.geteuid() == 0:
        os.chown(report, 4321, 4321)
    with report.open() as theirs:
        old = os.umask(0o022)
        try:
            result = fleet_with_report(run, report)
        finally:
            os.umask(old)
        assert result.exit_code == 0, result.stderr
        assert theirs.read() == "theirs\n"
    assert json.loads(report.read_text())["outcome"] == "ok"
    info = report.stat()
    assert info.st_uid == os.geteuid()
    # Another user's file passes nothing on: its mode is the umask's. (Without root to give
    # it away, the file is the user's own, which keeps its mode.)
    assert stat.S_IMODE(info.st_mode) == (0o644 if os.geteuid() == 0 else 0o666)


def test_a_report_keeps_the_mode_of_the_users_own_file(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    report.write_text("last run\n")
    report.chmod(0o600)
    assert fleet_with_report(run, report).exit_code == 0
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert json.loads(report.read_text())["line"] == 1


def test_a_report_into_a_fifo_is_written_into_it(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = fleet_with_report(run, fifo)
    reader.join(60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert json.loads(got[0])["outcome"] == "ok"


# --- 18: a cache directory another user made ------------------------------------------------


def give_away(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH as another user's file: given to another uid as root; otherwise this process
    takes another uid for who it is (the cache's check asks os.geteuid)."""
    if os.geteuid() == 0:
        os.chown(path, 4321, 4321)
    else:
        uid = os.getuid()
        monkeypatch.setattr(os, "geteuid", lambda: uid + 4321)


@pytest.mark.parametrize("how", ["owned by another user", "writable by others"])
def test_cache_files_the_user_does_not_own_feed_nothing(
    api: MaasSimulator, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from maascurl.api.apidesc import cache_file
    from maascurl.api.listings import ids_file
    from maascurl.profiles import state

    assert run("get", "machines").exit_code == 0  # the IDs seen are kept for TAB
    root = api.url + "/api/2.0/"
    assert "machines/abc000/" in values("maascurl get machines/")
    assert "op=list_allocated" in values("maascurl get machines op=list_al")
    state.save_clock_offset("sim", 3600)
    assert state.clock_offset("sim") == 3600
    files = [ids_file(root), cache_file(root), state.state_path()]
    for path in files:
        if how == "writable by others":
            path.chmod(0o622)
        else:
            give_away(path, monkeypatch)
    assert "machines/abc000/" not in values("maascurl get machines/")
    assert values("maascurl get machines op=list_al") == []
    assert state.clock_offset("sim") == 0.0
