"""What the second security review found (issue 20, items 2 to 6), each against a hostile
server (tests/hostile.py), a hostile input file or a hostile SQLite file.

Item 2 (PATH placeholders) is tested in tests/test_each_data.py, and bash's quoting of
TAB candidates (item 3) with real shells in tests/test_completion.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tracemalloc
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import Run, complete, env_for_subprocess, on_terminal
from hostile import API_KEY, HostileServer, endless, gzip_bomb, reply
from simulator import MaasSimulator

from maascurl.api.apidesc import save_cache
from maascurl.api.listings import load_ids

MB = 1024 * 1024
# Typed on a command line by TAB and run with Enter, it creates /tmp/PWNED.
PAYLOAD = "x$(touch${IFS}/tmp/PWNED)"


def peak_of(run: Run, *args: str, input: str | None = None) -> tuple[Result, int]:
    """RUN's result for ARGS and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        result = run(*args, input=input)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def bomb(size: int = 64 * MB) -> Any:
    """An answer of SIZE zero bytes that travels as about a thousandth of that (gzip)."""
    return reply(200, gzip_bomb(size), {"Content-Encoding": "gzip"})


def describe(*resources: tuple[str, list[dict[str, Any]]]) -> bytes:
    """An API description with RESOURCES: (path under /MAAS/api/2.0/, actions) pairs."""
    rows = []
    for path, actions in resources:
        params = [p[1:-1] for p in path.split("/") if p.startswith("{")]
        auth = {"path": f"/MAAS/api/2.0/{path}", "params": params, "doc": "E.", "actions": actions}
        rows.append({"name": path, "auth": auth})
    return json.dumps({"hash": "h1", "resources": rows}).encode()


def action(method: str, op: str | None, doc: str = "Do it.") -> dict[str, Any]:
    name = op or {"GET": "read", "POST": "create", "PUT": "update", "DELETE": "delete"}[method]
    return {"doc": doc, "method": method, "name": name, "op": op, "restful": op is None}


# --- 3: TAB candidates from the server ----------------------------------------------------


def test_a_listed_id_that_is_shell_syntax_is_not_kept(hostile: HostileServer, run: Run) -> None:
    save_cache(
        hostile.api_root,
        describe(("evils/", [action("GET", None)]), ("evils/{id}/", [action("GET", None)])),
    )
    listing = json.dumps(
        [{"id": PAYLOAD, "name": "evil"}, {"id": "e1", "name": "one"}, {"id": "a b", "name": "x"}]
    ).encode()
    hostile.answer(reply(200, listing, {"X-MAAS-API-Hash": "h1"}))
    result = run("get", "evils")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == listing  # the answer itself is shown as it came
    assert load_ids(hostile.api_root, "evils/") == [("e1", "one")]
    assert complete("maascurl get evils/") == ["nospace,evils/", "nospace,evils/e1/"]


def test_ops_fields_and_paths_that_are_shell_syntax_are_not_offered(
    hostile: HostileServer,
) -> None:
    field_doc = "Do it.\n\n:param name: A name.\n:param x$(touch${IFS}/tmp/PWNED): Evil.\n"
    save_cache(
        hostile.api_root,
        describe(
            ("evils/", [action("GET", None), action("GET", PAYLOAD), action("GET", "list")]),
            ("evils/{id}/", [action("POST", "fix", field_doc)]),
            ("$(touch${IFS}PWNED)/", [action("GET", None)]),
        ),
    )
    assert complete("maascurl get evils op=") == ["plain,op=list"]
    assert complete("maascurl get evils/op-") == ["plain,evils/op-list"]
    assert complete("maascurl post evils/e1 op=fix ") == ["nospace,name="]
    assert not any("PWNED" in c for c in complete("maascurl get "))
    assert complete("maascurl describe evils ") == ["plain,list", "plain,read"]


# --- 4: answers held whole are read within a cap of their own ----------------------------


def test_an_each_answer_past_its_cap_fails_its_line_only(hostile: HostileServer, run: Run) -> None:
    """A 64 MB gzip bomb for line 1: one line on stderr, line 2 still written, flat memory."""
    from maascurl.jobs.fleet import LINE_BODY_LIMIT

    hostile.answer(bomb(4 * LINE_BODY_LIMIT), reply(200, b'{"system_id": "b"}'))
    result, peak = peak_of(run, "get", "machines/{}", "--each", "-", "-j", "1", input="a\nb\n")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"maascurl: error: line 1 (get machines/a/): {hostile.api_root}machines/a/ "
        "answered with more than 16 MB"
    )
    assert result.stdout == '{"system_id": "b"}\n'
    assert peak < 3 * LINE_BODY_LIMIT


def test_an_endless_each_answer_fails_its_line(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, endless(b"x" * 65536)))
    result = run("get", "machines/{}", "--each", "-", "--max-time", "20", input="a\n")
    assert result.exit_code == 1
    assert "answered with more than 16 MB" in result.stderr


def test_each_with_o_streams_each_answer_to_its_file(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    hostile.answer(bomb(64 * MB))
    out = tmp_path / "out"
    out.mkdir()
    result, peak = peak_of(
        run, "get", "machines/{}", "--each", "-", "-o", f"{out}/{{}}", input="a\n"
    )
    assert result.exit_code == 0, result.stderr
    assert (out / "a").stat().st_size == 64 * MB
    assert peak < 16 * MB


# maascurl in a fresh interpreter, its stdout thrown away (CliRunner would keep it in
# memory): SETUP runs first, and the most memory Python held is printed at exit.
PROBE = """
import atexit, sys, tracemalloc
tracemalloc.start()
atexit.register(lambda: print("PEAK", tracemalloc.get_traced_memory()[1], file=sys.stderr))
{setup}
from maascurl.cli import main
sys.argv[0] = "maascurl"
main()
"""


def peak_in_subprocess(
    args: list[str], env: dict[str, str], stdin: bytes, setup: str = ""
) -> tuple[int, str, int]:
    """maascurl ARGS on STDIN: its exit status, its stderr, and Python's peak memory."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup), *args],
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
    )
    stderr = proc.stderr.decode()
    *lines, last = stderr.splitlines()
    assert last.startswith("PEAK "), stderr
    return proc.returncode, "\n".join(lines), int(last.split()[1])


def test_answers_waiting_for_a_slow_line_wait_on_disk(hostile: HostileServer, home: Path) -> None:
    """The first answer is slow; the 4 MB answers of the other 39 lines wait for it (the
    lines go out in input order): past HELD_MEMORY on disk, not in memory."""
    answer = json.dumps({"description": "d" * (4 * MB)}).encode()
    hostile.answer(reply(200, answer, stall=3), *(reply(200, answer) for _ in range(39)))
    env = env_for_subprocess(home)
    env.update(MAAS_API_URL=hostile.url, MAAS_API_KEY=API_KEY)
    lines = "".join(f"m{n}\n" for n in range(40)).encode()
    setup = f"import maascurl.jobs.fleet as fleet; fleet.HELD_MEMORY = {4 * MB}"
    args = ["get", "machines/{}", "--each", "-", "-j", "2"]
    code, stderr, peak = peak_in_subprocess(args, env, lines, setup)
    assert code == 0, stderr
    assert len(hostile.seen) == 40
    # In memory, the 38 or more answers held would make it 150 MB and more.
    assert peak < 64 * MB, peak // MB


def test_held_answers_come_back_whole_and_in_order() -> None:
    from maascurl.jobs.fleet import Held, Result

    held = Held(memory=10)
    results = [Result(None, "ok", body=bytes([n]) * (n + 4)) for n in range(5)]  # type: ignore[arg-type]
    kept = [held.keep(r) for r in results]
    assert [k.held is not None for k in kept] == [False, False, True, True, True]
    assert [held.take(k) for k in kept] == [r.body for r in results]
    assert held.on_disk == 0 and held.in_memory == 0
    again = held.keep(Result(None, "ok", body=b"x" * 11))  # type: ignore[arg-type]
    assert again.held == (0, 11)  # the file was emptied once all of it was taken
    held.close()


@pytest.mark.parametrize(
    ("module", "cap", "args"),
    [
        ("maascurl.jobs.wait", "POLL_LIMIT", ["wait", "machines/abc", "status_name=Deployed"]),
        ("maascurl.jobs.events", "PAGE_LIMIT", ["events"]),
        ("maascurl.show.table", "TABLE_LIMIT", ["get", "machines", "--format", "tsv"]),
        ("maascurl.show.table", "TABLE_LIMIT", ["get", "machines", "-t"]),
        ("maascurl.show.table", "TABLE_LIMIT", ["get", "machines", "--fields", "a"]),
        ("maascurl.show.table", "TABLE_LIMIT", ["get", "machines", "--sort", "a"]),
        ("maascurl.jobs.wait", "ANSWER_LIMIT", ["post", "machines/abc", "op=deploy", "--wait"]),
    ],
)
def test_an_answer_held_whole_stops_at_its_cap(
    hostile: HostileServer,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    cap: str,
    args: list[str],
) -> None:
    import importlib

    monkeypatch.setattr(importlib.import_module(module), cap, MB)
    hostile.answer(bomb(64 * MB))
    result, peak = peak_of(run, *args)
    assert result.exit_code == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("maascurl: error: ") and "answered with more than 1 MB" in line
    assert peak < 16 * MB


def test_a_wait_poll_past_its_cap_ends_the_wait(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.jobs import wait

    monkeypatch.setattr(wait, "POLL_LIMIT", MB)
    machine = {"system_id": "abc", "hostname": "h", "status_name": "Deploying"}
    hostile.answer(reply(200, json.dumps(machine).encode()), bomb(64 * MB))
    result, peak = peak_of(run, "post", "machines/abc", "op=deploy", "--wait", "--interval", "0.1")
    assert result.exit_code == 1, result.stderr
    assert "machines/abc: " in result.stderr and "answered with more than 1 MB" in result.stderr
    assert peak < 16 * MB


def test_an_upload_answer_past_its_cap_ends_the_upload(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from maascurl.jobs import upload

    monkeypatch.setattr(upload, "ANSWER_LIMIT", MB)
    image = tmp_path / "root.tgz"
    image.write_bytes(b"image" * 1000)
    hostile.answer(bomb(64 * MB))
    result, peak = peak_of(run, "upload-image", "custom/x", "amd64/generic", str(image))
    assert result.exit_code == 1, result.stderr
    assert "answered with more than 1 MB" in result.stderr
    assert peak < 16 * MB


def test_a_fleet_waited_for_holds_states_and_final_objects_on_disk(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--each --wait: the machines still waited for keep their states, not their objects,
    and the final objects that wait for their turn go to disk (HELD_MEMORY 0 here)."""
    from maascurl.jobs import fleet, wait

    monkeypatch.setattr(fleet, "HELD_MEMORY", 0)
    held: list[Any] = []
    original = wait.Poller.round

    def round_(poller: wait.Poller, pending: list[wait.Watch]) -> bool:
        held.extend((w.data, w.body) for w in pending)
        return original(poller, pending)

    monkeypatch.setattr(wait.Poller, "round", round_)
    api.set_fleet(20)
    api.timed.reset()
    api.timed.seconds = 0.3
    ids = [m["system_id"] for m in api.machines if m["status_name"] == "Ready"]
    try:
        result = run(
            "post", "machines/{}", "op=deploy", "--each", "-", "--wait", "--interval", "0.05",
            input="\n".join(ids) + "\n",
        )  # fmt: skip
    finally:
        api.timed.reset()
    assert result.exit_code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["system_id"] for m in out] == ids
    assert {m["status_name"] for m in out} == {"Deployed"}
    assert held and all(body is None for _, body in held)
    assert all(data is None or set(data) == {"hostname"} for data, _ in held)


# --- 5: the server's text on the terminal ------------------------------------------------

# A name shown reversed after U+202E, an isolate, a C1 CSI (colour red), and DEL.
EVIL = "evil\u202etxt.exe\u2066\x9b31mred\x7f"
# How each is shown: as termsafe does, or (in JSON) as a JSON escape.
SHOWN = (("\\u202e",), ("\\u2066",), ("\\x9b31m", "\\u009b31m"), ("\\x7f", "\\u007f"))


def hostile_env(hostile: HostileServer, home: Path) -> dict[str, str]:
    env = {**env_for_subprocess(home), "TERM": "xterm", "NO_COLOR": "1"}
    env.update(MAAS_API_URL=hostile.url, MAAS_API_KEY=API_KEY)
    return env


def assert_made_visible(text: str) -> None:
    assert not any(c in text for c in "\u202e\u2066\x9b\x7f\x1b"), ascii(text)
    assert all(any(form in text for form in forms) for forms in SHOWN), text


@pytest.mark.parametrize(
    "view",
    [
        ["--format", "tsv"],
        ["--format", "csv"],
        ["--format", "jsonl"],
        ["-t"],
        ["--fields", "a"],
        [],
    ],
)
def test_bidi_and_c1_controls_are_made_visible_on_a_terminal(
    hostile: HostileServer, home: Path, view: list[str]
) -> None:
    listing = [{"hostname": EVIL, "system_id": "abc", "a": EVIL}]
    hostile.answer(reply(200, json.dumps(listing, ensure_ascii=False).encode()))
    argv = [sys.executable, "-m", "maascurl", "get", "machines", *view, "--no-pager"]
    out, err, status = on_terminal(argv, hostile_env(hostile, home))
    assert status == 0, err
    assert_made_visible(out.decode())


def test_each_json_lines_on_a_terminal_are_made_visible(
    hostile: HostileServer, home: Path, tmp_path: Path
) -> None:
    machine = {"system_id": "abc", "hostname": EVIL}
    hostile.answer(reply(200, json.dumps(machine, ensure_ascii=False).encode()))
    lines = tmp_path / "ids.txt"
    lines.write_text("abc\n")
    argv = [sys.executable, "-m", "maascurl", "get", "machines/{}", "--each", str(lines)]
    out, err, status = on_terminal(argv, hostile_env(hostile, home))
    assert status == 0, err
    assert_made_visible(out.decode())


def test_each_json_lines_piped_stay_exact(hostile: HostileServer, run: Run) -> None:
    body = json.dumps({"system_id": "abc", "hostname": EVIL}, ensure_ascii=False).encode()
    hostile.answer(reply(200, body))
    result = run("get", "machines/{}", "--each", "-", input="abc\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == body + b"\n"


def test_a_fleet_wait_summary_shows_no_escape_sequence(hostile: HostileServer, run: Run) -> None:
    """A status_name with OSC 52 (write the clipboard), a title and a CSI colour."""
    evil = "\x1b]52;c;ZXZpbA==\x07\x1b]0;title\x07\x1b[31mDeployed\u202e"
    machine = {"system_id": "abc", "hostname": "h", "status_name": evil}
    hostile.answer(reply(200, json.dumps(machine).encode()))
    result = run("post", "machines/{}", "op=deploy", "--each", "-", "--wait", input="abc\n")
    assert result.exit_code == 8, result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\u202e" not in result.stderr
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("maascurl: waited for 1 in ") and "\\x1b]52;c;" in summary


def test_a_racks_name_from_its_system_id_is_made_visible(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    """A rack without hostname is named by its system_id: C1 controls in it are made
    visible, and a `?` in it stays in its one segment of the URL polled."""
    rfile = {"complete": True, "size": 5, "sha256": "x"}
    resource = {
        "id": 7,
        "name": "custom/img",
        "architecture": "amd64/generic",
        "sets": {"20260101": {"files": {"root-tgz": rfile}}},
    }
    rack = {"system_id": "r\x9b31m\x9d0;t\x9c?op=evil", "hostname": ""}
    disconnected = {"images": [], "connected": False, "status": "unknown"}
    hostile.answer(
        reply(200, json.dumps(resource).encode()),
        reply(200, json.dumps([rack]).encode()),
        reply(200, json.dumps(disconnected).encode()),
    )
    image = tmp_path / "root.tgz"
    image.write_bytes(b"image")
    result = run(
        "post", "boot-resources", "name=custom/img", "architecture=amd64/generic",
        f"content@={image}", "--wait",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert not any(c in result.stderr for c in "\x9b\x9c\x9d"), ascii(result.stderr)
    assert "rackcontrollers/r" in result.stderr
    assert hostile.seen[2]["path"] == (
        "/MAAS/api/2.0/rackcontrollers/r%C2%9B31m%C2%9D0%3Bt%C2%9C%3Fop%3Devil/?op=list_boot_images"
    )


# --- 6: profile import of a hostile SQLite file -------------------------------------------


def database(path: Path, *statements: str) -> Path:
    with closing(sqlite3.connect(path)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()
    return path


PROFILE = json.dumps({"url": "http://127.0.0.1:9/MAAS/api/2.0/", "credentials": None})
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
HOSTILE_SCHEMAS = {
    # SQLite's sorter wrote 15 GB in 20 s for ORDER BY over this
    "endless-view": f"CREATE VIEW profiles AS {ENDLESS} SELECT x AS id, 'p' || x AS name, "
    "'{}' AS data FROM c",
    # 1.8 GB of RSS when read
    "zeroblob-view": "CREATE VIEW profiles AS SELECT 1 AS id, 'a' AS name, "
    "zeroblob(900000000) AS data UNION ALL SELECT 2, 'b', zeroblob(900000000)",
    "generated-column": "CREATE TABLE profiles (id INTEGER PRIMARY KEY, name TEXT, "
    "data BLOB AS (zeroblob(1000000000)))",
    "virtual-table": "CREATE VIRTUAL TABLE profiles USING fts5(id, name, data)",
}


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["import", "dry-run"])
@pytest.mark.parametrize("schema", sorted(HOSTILE_SCHEMAS))
def test_a_profiles_view_or_computed_table_is_refused(
    run: Run, home: Path, tmp_path: Path, schema: str, dry_run: list[str]
) -> None:
    path = database(tmp_path / "hostile.db", HOSTILE_SCHEMAS[schema])
    assert path.stat().st_size <= 32 * 1024
    result = run("profile", "import", str(path), *dry_run)
    assert result.exit_code == 1
    assert result.stderr == (
        f"maascurl: error: {path} is not a MAAS CLI or python-libmaas profile database "
        "(no table profiles(id, name, data))\n"
    )
    assert not (home / "config").exists()


def test_a_4_kb_zeroblob_view_costs_no_memory(home: Path, tmp_path: Path) -> None:
    """The view asks for 1.8 GB of values: never computed, so the process stays small."""
    path = database(tmp_path / "hostile.db", HOSTILE_SCHEMAS["zeroblob-view"])
    argv = [sys.executable, "-m", "maascurl", "profile", "import", str(path), "--dry-run"]
    # Measured from a small Python in between: a child forked straight from this (large)
    # test process would count this process's pages in its peak until it execs.
    probe = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE); "
        "sys.stderr.buffer.write(done.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.exit(done.returncode)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        env=env_for_subprocess(home),
        capture_output=True,
        timeout=60,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, stderr
    assert stderr.count("\n") == 1 and "no table profiles" in stderr
    assert int(proc.stdout) * 1024 < 200 * MB


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["import", "dry-run"])
def test_a_value_past_the_cap_is_one_line(
    run: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: list[str]
) -> None:
    from maascurl.profiles import profile_import

    monkeypatch.setattr(profile_import, "ROW_LIMIT", MB)
    path = database(
        tmp_path / "big.db",
        "CREATE TABLE profiles (id INTEGER PRIMARY KEY, name TEXT, data BLOB)",
        f"INSERT INTO profiles (name, data) VALUES ('big', zeroblob({2 * MB}))",
    )
    result = run("profile", "import", str(path), *dry_run)
    assert result.exit_code == 1
    assert (
        result.stderr == f"maascurl: error: {path}: profile 'big': its data is larger than 1 MB\n"
    )


def test_rows_and_their_total_are_bounded(
    run: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.profiles import profile_import

    rows = ", ".join(f"('p{n}', '{PROFILE}')" for n in range(4))
    path = database(
        tmp_path / "many.db",
        "CREATE TABLE profiles (id INTEGER PRIMARY KEY, name TEXT, data BLOB)",
        f"INSERT INTO profiles (name, data) VALUES {rows}",
    )
    assert run("profile", "import", str(path), "--dry-run").exit_code == 0
    monkeypatch.setattr(profile_import, "MAX_ROWS", 3)
    result = run("profile", "import", str(path), "--dry-run")
    assert result.stderr == f"maascurl: error: {path}: more than 3 profiles\n"
    monkeypatch.setattr(profile_import, "MAX_ROWS", 1000)
    monkeypatch.setattr(profile_import, "TOTAL_LIMIT", 3 * len(PROFILE))
    result = run("profile", "import", str(path), "--dry-run")
    assert result.stderr.startswith(f"maascurl: error: {path}: its profiles hold more than ")
    assert result.stderr.count("\n") == 1


def test_reading_stops_after_its_step_budget(
    run: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5,000 rows sorted by an id that is not the row id: far past 20,000 steps."""
    from maascurl.profiles import profile_import

    monkeypatch.setattr(profile_import, "READ_STEPS", 20_000)
    path = database(
        tmp_path / "long.db",
        "CREATE TABLE profiles (id, name, data)",
        f"INSERT INTO profiles {ENDLESS.replace('FROM c)', 'FROM c WHERE x < 5000)')} "
        "SELECT -x, 'p' || x, '{}' FROM c",
    )
    result = run("profile", "import", str(path), "--dry-run")
    assert result.exit_code == 1
    assert result.stderr == (
        f"maascurl: error: {path} is not a MAAS CLI or python-libmaas profile database "
        "(reading it takes too long)\n"
    )
