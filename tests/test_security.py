"""What a security review found (issue 14), each against a hostile server or local attacker.

The hostile server (tests/hostile.py) answers with raw bytes of the test's
choosing; the MAAS simulator serves where real MAAS behaviour matters (its
bad-signature answer echoes the real token secret, as MAAS 3.4 does).
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import signal
import stat
import subprocess
import threading
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import Result
from conftest import Run, env_for_subprocess, maascurl_script, wait_for
from hostile import API_KEY, HostileServer, endless, gzip_bomb, reply
from simulator import MaasSimulator

from maascurl.api.apidesc import save_cache
from maascurl.show import output
from maascurl.wire import status

SECRET = API_KEY.split(":")[2]
MB = 1024 * 1024
WHOAMI = json.dumps({"username": "admin", "is_superuser": True}).encode()


def peak_of(run: Run, *args: str) -> tuple[Result, int]:
    """RUN's result for ARGS and the most memory Python held while it ran."""
    tracemalloc.start()
    try:
        result = run(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def evil_describe(summary: str) -> bytes:
    """A tiny API description whose one resource says SUMMARY."""
    resource = {
        "name": "EvilHandler",
        "auth": {
            "path": "/MAAS/api/2.0/evil/",
            "params": [],
            "doc": summary,
            "actions": [
                {"doc": summary, "method": "GET", "name": "read", "op": None, "restful": True}
            ],
        },
    }
    return json.dumps({"hash": "h1", "resources": [resource]}).encode()


# --- 1, 6, 16: -o -------------------------------------------------------------------


# As root, a regression here would replace the machine's own /dev/null and
# /dev/stdout; the symlink and /dev/fd tests below cover the same code safely.
not_as_root = pytest.mark.skipif(os.geteuid() == 0, reason="would damage /dev when it fails")


@not_as_root
def test_output_to_dev_null_leaves_it_a_device(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b'{"a": 1}'))
    result = run("get", "machines", "-o", "/dev/null")
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_into_a_fifo_writes_into_it(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    hostile.answer(reply(200, b'{"through": "the fifo"}'))
    result = run("get", "machines", "-o", str(fifo))
    reader.join(10)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got == [b'{"through": "the fifo"}']


def test_output_through_a_symlink_to_a_device_keeps_the_link(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    link = tmp_path / "sink"
    link.symlink_to("/dev/null")
    hostile.answer(reply(200, b"{}"))
    result = run("get", "machines", "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert os.readlink(link) == "/dev/null"


def test_output_through_a_symlink_to_a_file_writes_the_file(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    hostile.answer(reply(200, b'{"new": 1}'))
    assert run("get", "machines", "-o", str(link)).exit_code == 0
    assert link.is_symlink()
    assert real.read_bytes() == b'{"new": 1}'


@pytest.mark.parametrize(
    "target", ["/dev/fd/1", "/proc/self/fd/1", pytest.param("/dev/stdout", marks=not_as_root)]
)
def test_output_to_dev_stdout_reaches_stdout(api: MaasSimulator, home: Path, target: str) -> None:
    done = subprocess.run(
        [maascurl_script(), "get", "users", "op=whoami", "-o", target],
        capture_output=True,
        env=env_for_subprocess(home),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["username"] == "admin"


def test_output_keeps_an_existing_files_mode(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "secret.json"
    target.write_text("old")
    target.chmod(0o600)
    hostile.answer(reply(200, b"{}"))
    assert run("get", "machines", "-o", str(target)).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"{}"


def test_swapping_the_temp_file_for_a_symlink_changes_nothing(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    """Another user who can write the directory swaps the temp file mid-download."""
    victim = tmp_path / "id_ed25519"
    victim.write_text("private key")
    victim.chmod(0o600)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    hostile.answer(reply(200, [b"x" * 100] * 6, delay=0.1))

    def attacker() -> None:
        for _ in range(2000):
            temps = list(downloads.glob(".out.*"))
            if temps:
                temps[0].unlink()
                temps[0].symlink_to(victim)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=attacker)
    thread.start()
    result = run("get", "machines", "-o", str(downloads / "out"))
    thread.join()
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert victim.read_text() == "private key"
    assert result.exit_code == 1
    assert "temporary file was replaced" in result.stderr
    assert not (downloads / "out").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_output_removes_the_temp_file(
    hostile: HostileServer, home: Path, tmp_path: Path, signum: int
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    hostile.answer(reply(200, endless(), delay=0.02))
    env = env_for_subprocess(home)
    env.update(MAAS_API_URL=hostile.url, MAAS_API_KEY=API_KEY)
    process = subprocess.Popen(
        [maascurl_script(), "get", "machines", "-o", str(downloads / "out")],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: bool(list(downloads.iterdir())), "the temporary file")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    assert b"terminated by SIG" in stderr
    assert list(downloads.iterdir()) == []


def test_a_signal_as_the_temp_file_is_created_leaves_nothing_behind(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM between the temp file's creation and the moment its name is known
    (as its open returns) must not leave it behind: the signal is held until then."""
    api.add_file("x", b"content")
    real_create = output._create

    def create_then_signal(name: str, mode: int) -> int:
        made = real_create(name, mode)
        os.kill(os.getpid(), signal.SIGTERM)
        return made

    monkeypatch.setattr(output, "_create", create_then_signal)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = run("get", "files", "op=get", "filename=x", "-o", str(downloads / "out"))
        status, stderr = result.exit_code, result.stderr
        del result  # its exc_info holds the frames, and they the file object
        gc.collect()
    assert status == 128 + signal.SIGTERM
    assert "terminated by SIGTERM" in stderr
    assert list(downloads.iterdir()) == []
    # Nor its descriptor left open.
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


# --- 2, 17: redaction ---------------------------------------------------------------


def test_a_wrong_secret_does_not_print_the_right_one(sim: MaasSimulator, run: Run) -> None:
    consumer, token, secret = sim.api_key.split(":")
    typo = f"{consumer}:{token}:{'x' * len(secret)}"
    result = run("login", "typo", sim.url, "-", input=typo + "\n")
    assert result.exit_code == 4
    assert "Expected signature base string: <redacted>" in result.stderr
    assert secret not in result.stderr


def test_secret_is_redacted_before_a_long_error_is_cut(hostile: HostileServer, run: Run) -> None:
    body = b"a" * (status.ERROR_BODY_LIMIT - 4) + SECRET.encode()
    hostile.answer(reply(400, body, {"Content-Type": "text/plain"}))
    result = run("get", "machines")
    assert result.exit_code == 4
    assert SECRET[:4] not in result.stderr


def test_response_headers_are_redacted_with_v_and_i(hostile: HostileServer, run: Run) -> None:
    echo = {
        "Authorization": 'OAuth oauth_token="hostiletokenkey", oauth_signature="%26x"',
        "X-Debug": f"Expected signature base string: &{'s' * 12}",
    }
    hostile.answer(reply(200, b"{}", echo), reply(200, b"{}", echo))
    shown = run("get", "machines", "-i")
    logged = run("get", "machines", "-v")
    for text in (shown.stdout, logged.stderr):
        assert "hostiletokenkey" not in text
        assert "s" * 12 not in text
        assert "<redacted>" in text


def test_notes_are_redacted(hostile: HostileServer, run: Run) -> None:
    hostile.answer(
        reply(503, b"busy", {"Retry-After": "0"}, reason=f"Busy {SECRET}"),
        reply(200, b"{}"),
    )
    result = run("get", "machines")
    assert result.exit_code == 0
    assert "retrying" in result.stderr
    assert SECRET not in result.stderr


def test_refresh_errors_are_redacted(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(400, f"bad oauth_signature={SECRET}".encode(), reason="Bad"))
    result = run("refresh")
    assert result.exit_code == 1
    assert "400 Bad" in result.stderr
    assert SECRET not in result.stderr


# --- 3: terminal injection ------------------------------------------------------------


def test_json_error_text_cannot_drive_the_terminal(hostile: HostileServer, run: Run) -> None:
    body = json.dumps({"name": ["\u001b]52;c;cHduZWQ=\u0007 taken \u009b31m"]}).encode()
    hostile.answer(reply(400, body))
    result = run("get", "machines")
    assert result.exit_code == 4
    assert "\x1b" not in result.stderr and "\x9b" not in result.stderr
    assert "\\x1b]52;c;" in result.stderr


def test_reason_phrase_and_headers_cannot_drive_the_terminal(
    hostile: HostileServer, run: Run
) -> None:
    evil = "\x9b2J"  # C1 CSI: h11 accepts it as obs-text
    hostile.answer(
        reply(200, b"{}", {"X-Evil": evil}, reason=f"OK{evil}"),
        reply(404, b"gone", {"Content-Type": "text/plain"}, reason=f"Gone{evil}"),
    )
    shown = run("get", "machines", "-i", "-v")
    failed = run("get", "machines")
    for text in (shown.stdout, shown.stderr, failed.stderr):
        assert "\x9b" not in text
    assert "X-Evil: \\x9b2J" in shown.stdout


def test_text_body_on_a_terminal_is_made_visible(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b"hello \x1b]0;owned\x07 world\n", {"Content-Type": "text/plain"}))
    result = run("get", "machines", "--pretty", "--no-pager")
    assert result.stdout == "hello \\x1b]0;owned\\x07 world\n"


def test_piped_body_stays_byte_exact(hostile: HostileServer, run: Run) -> None:
    body = b"hello \x1b]0;owned\x07 \x9b world"
    hostile.answer(reply(200, body, {"Content-Type": "text/plain"}))
    assert run("get", "machines").stdout_bytes == body


def test_login_does_not_print_a_hostile_user_name(hostile: HostileServer, run: Run) -> None:
    name = json.dumps({"username": "\u001b]0;pwned\u0007admin"}).encode()
    hostile.answer(reply(200, name), reply(200, evil_describe("Evil things.")))
    result = run("login", "evil", hostile.url, "-", input=API_KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stderr
    assert "as \\x1b]0;pwned\\x07admin" in result.stderr


def test_describe_shows_markup_and_escapes_as_text(hostile: HostileServer, run: Run) -> None:
    from rich.console import Console

    from maascurl.api.describe import index_data, render_rich, visible

    summary = "[link=https://evil.example]Click[/link] \x1b]52;c;eA==\x07 here."
    desc = save_cache(hostile.api_root, evil_describe(summary))
    console = Console(force_terminal=True, width=200, record=True, color_system="truecolor")
    with console.capture() as captured:
        console.print(render_rich(visible(index_data(desc))))
    text = captured.get()
    assert "\x1b]8;" not in text and "\x1b]52" not in text
    assert "[link=https://evil.example]Click[/link]" in text
    plain = run("describe")
    assert plain.exit_code == 0, plain.stderr
    assert "\x1b" not in plain.stdout and "\\x1b]52;c;" in plain.stdout


def test_completion_candidates_are_made_visible(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from maascurl.cli import cli

    save_cache(hostile.api_root, evil_describe("Evil \x1b]0;x\x07 summary."))
    env = {"_MAASCURL_COMPLETE": "zsh_complete", "COMP_WORDS": "maascurl get ev", "COMP_CWORD": "2"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="maascurl")
    assert result.exit_code == 0
    assert "evil/" in result.stdout
    assert "\x1b" not in result.stdout and "\\x1b]0;x\\x07" in result.stdout


def test_every_completion_candidate_is_made_visible(hostile: HostileServer) -> None:
    """Escaping happens once, where every candidate goes out (shellcomplete), so a
    callback that forgets it (events' filters did) cannot pass server text to the shell."""
    from click.testing import CliRunner

    from maascurl.cli import cli

    doc = "Query events.\n\n:param level: Evil \x1b]0;x\x07 level.\n:type level: String\n"
    action = {"doc": doc, "method": "GET", "name": "query", "op": "query", "restful": False}
    resource = {
        "name": "EventsHandler",
        "auth": {"path": "/MAAS/api/2.0/events/", "params": [], "doc": "", "actions": [action]},
    }
    save_cache(hostile.api_root, json.dumps({"hash": "h2", "resources": [resource]}).encode())
    env = {"_MAASCURL_COMPLETE": "zsh_complete", "COMP_WORDS": "maascurl events le"}
    result = CliRunner().invoke(cli, [], env={**env, "COMP_CWORD": "2"}, prog_name="maascurl")
    assert result.exit_code == 0
    assert "level=" in result.stdout
    assert "\x1b" not in result.stdout and "\\x1b]0;x\\x07" in result.stdout


# --- 4: compression ------------------------------------------------------------------


def test_only_gzip_is_asked_for(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b"{}"))
    assert run("get", "machines").exit_code == 0
    assert hostile.seen[0]["Accept-Encoding"] == "gzip"


@pytest.mark.parametrize("coding", ["gzip, gzip", "deflate", "br", "zstd", "gzip, identity, gzip"])
def test_stacked_or_unexpected_encodings_are_refused(
    hostile: HostileServer, run: Run, coding: str
) -> None:
    hostile.answer(reply(200, gzip_bomb(1000), {"Content-Encoding": coding}))
    result = run("get", "machines")
    assert result.exit_code == 6
    assert "unsupported Content-Encoding" in result.stderr


def test_a_gzip_body_decodes_in_bounded_steps(hostile: HostileServer, run: Run) -> None:
    """A 2 KB raw chunk must never become one multi-megabyte chunk in memory."""
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.config import environment_profile
    from maascurl.profiles.target import Target
    from maascurl.wire.bounded import DECODE_STEP
    from maascurl.wire.request import build_request

    size = 40 * MB
    hostile.answer(reply(200, gzip_bomb(size), {"Content-Encoding": "gzip"}))
    target = Target(hostile.api_root, environment_profile())
    spec = build_request("GET", target.api_root, "machines", [], None)
    with Session(target, CallOptions()) as session:
        response = session.send(spec)
        sizes = [len(chunk) for chunk in response.iter_bytes()]
        response.close()
    assert sum(sizes) == size
    assert max(sizes) <= DECODE_STEP


def test_a_gzip_bomb_saved_keeps_memory_flat(
    hostile: HostileServer, run: Run, tmp_path: Path
) -> None:
    size = 64 * MB
    sink = tmp_path / "sink"  # never /dev/null itself: see not_as_root
    sink.symlink_to(os.devnull)
    hostile.answer(reply(200, gzip_bomb(size), {"Content-Encoding": "gzip"}))
    result, peak = peak_of(run, "get", "machines", "-o", str(sink))
    assert result.exit_code == 0, result.stderr
    assert peak < 16 * MB


def test_a_gzip_bomb_as_an_error_body_is_capped(hostile: HostileServer, run: Run) -> None:
    body = b"{" + b" " * (64 * MB) + b"}"
    hostile.answer(reply(400, gzip.compress(body), {"Content-Encoding": "gzip"}, reason="Bad"))
    result, peak = peak_of(run, "get", "machines")
    assert result.exit_code == 4
    assert peak < 16 * MB


def test_a_huge_description_is_refused_at_login(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.api import fetch

    monkeypatch.setattr(fetch, "DESCRIBE_LIMIT", 1000)
    hostile.answer(reply(200, WHOAMI), reply(200, evil_describe("x" * 2000)))
    result = run("login", "big", hostile.url, "-", input=API_KEY + "\n")
    assert result.exit_code == 0
    assert "could not cache the API description" in result.stderr
    assert "more than" in result.stderr


def test_a_gzip_bomb_in_a_401_is_capped(hostile: HostileServer, run: Run) -> None:
    body = gzip.compress(b" " * (64 * MB))
    hostile.answer(reply(401, body, {"Content-Encoding": "gzip"}, reason="Unauthorized"))
    result, peak = peak_of(run, "get", "machines")
    assert result.exit_code == 4
    assert peak < 16 * MB


# --- 5: the key on the command line ----------------------------------------------------


def test_a_key_in_argv_is_warned_about(sim: MaasSimulator, run: Run) -> None:
    result = run("login", "argv", sim.url, sim.api_key)
    assert result.exit_code == 0, result.stderr
    assert "visible to other local users" in result.stderr


def test_login_reads_the_key_from_a_file(sim: MaasSimulator, run: Run, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(sim.api_key + "\n")
    result = run("login", "filed", sim.url, "--api-key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert "visible to other" not in result.stderr
    assert run("get", "users", "op=whoami", "-p", "filed").exit_code == 0
    both = run("login", "filed", sim.url, "x:y:z", "--api-key-file", str(key_file))
    assert both.exit_code == 2
    # '-' is stdin, as for every other FILE.
    piped = run("login", "piped", sim.url, "--api-key-file", "-", input=sim.api_key + "\n")
    assert piped.exit_code == 0, piped.stderr
    assert run("get", "users", "op=whoami", "-p", "piped").exit_code == 0


def test_login_gives_up_on_a_silent_server(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, WHOAMI, stall=5))
    result = run("login", "slow", hostile.url, "--timeout", "0.3", "-", input=API_KEY + "\n")
    assert result.exit_code == 7
    assert "timed out" in result.stderr


def test_password_login_gives_up_on_a_silent_server_too(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b'{"capabilities": ["authenticate-api"]}', stall=5))
    args = ("login", "slow", hostile.url, "--username", "admin", "--password", "-")
    result = run(*args, "--timeout", "0.3", input="secret\n")
    assert result.exit_code == 7, result.stderr
    assert "timed out" in result.stderr


# --- 7: --max-time ------------------------------------------------------------------------


def test_max_time_bounds_a_trickling_body(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, [b" "] * 100, delay=0.1))
    result = run("get", "machines", "--timeout", "2", "--max-time", "0.5")
    assert result.exit_code == 7
    assert "--max-time" in result.stderr


def test_max_time_bounds_an_endless_body_piped(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, endless()))
    result = run("get", "machines", "--max-time", "0.5")
    assert result.exit_code == 7


def _quiet_until_close(out: BinaryIO) -> None:
    """A body without Content-Length or chunks: it ends where the connection closes.

    After its first byte the server goes quiet, so no byte arrives after the
    --max-time deadline to give the timeout away: only the end is left to tell,
    however late a loaded machine runs the timer.
    """
    out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    out.write(b" ")
    out.flush()
    time.sleep(4)


def test_max_time_cuts_a_body_that_ends_at_the_close_as_a_timeout(
    hostile: HostileServer, run: Run
) -> None:
    """The timer's shutdown looks like the end of such a body: it must not pass for one."""
    hostile.answer(_quiet_until_close)
    result = run("get", "machines", "--timeout", "10", "--max-time", "0.5")
    assert result.exit_code == 7, (result.stdout, result.stderr)
    assert "--max-time" in result.stderr


def test_max_time_bounds_each_request_of_a_run_not_the_run(api: MaasSimulator, run: Run) -> None:
    """A finished request's --max-time timer is cancelled: firing later, it would shut the
    kept-alive connection under whichever request uses it then."""
    api.slow("machines/", 0.1)
    lines = "\n".join(["abc000", "abc001", "abc002"] * 5)
    result = run("get", "machines/{}", "--each", "-", "-j", "1", "--max-time", "1", input=lines)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert len(result.stdout.splitlines()) == 15


def test_max_time_bounds_waiting_for_the_answer(hostile: HostileServer, run: Run) -> None:
    """--max-time, not the read timeout, ends the wait for the headers: maascurl has given
    up before the server answers (the body's own deadline check would only come after)."""
    answered = threading.Event()

    def late(out: BinaryIO) -> None:
        reply(200, b"{}", stall=5)(out)
        answered.set()

    hostile.answer(late)
    result = run("get", "machines", "--timeout", "30", "--max-time", "0.3")
    assert result.exit_code == 7
    assert not answered.is_set()


def test_max_time_leaves_a_quick_answer_alone(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b'{"ok": 1}'))
    result = run("get", "machines", "--max-time", "30")
    assert result.exit_code == 0
    assert result.stdout == '{"ok": 1}'


def test_max_time_stops_retries(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(503, b"busy", {"Retry-After": "10"}))
    result = run("get", "machines", "--max-time", "1")
    assert result.exit_code == 7
    assert len(hostile.seen) == 1


# --- 8, 9: memory and nesting ---------------------------------------------------------


def test_a_body_past_the_terminal_cap_is_shown_unformatted(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "TERMINAL_LIMIT", 1000)
    body = json.dumps([{"n": i, "esc": "\u009b"} for i in range(200)], ensure_ascii=False)
    hostile.answer(reply(200, body.encode()))
    result = run("get", "machines", "--pretty", "--no-pager")
    assert result.exit_code == 0
    assert "not pretty-printed" in result.stderr
    assert result.stdout == body.replace("\u009b", "\\x9b") + "\n"


def test_invalid_json_on_a_terminal_is_made_visible(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b'{"broken": "\x1b[2J'))
    result = run("get", "machines", "--pretty", "--no-pager")
    assert result.stdout == '{"broken": "\\x1b[2J\n'


def test_deeply_nested_error_json_keeps_its_status(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(400, b"[" * 100_000 + b"]" * 100_000, reason="Bad Request"))
    result = run("get", "machines")
    assert result.exit_code == 4
    assert result.stderr.startswith("maascurl: error: 400 Bad Request: [[[")


def test_a_deeply_nested_description_breaks_neither_login_nor_refresh(
    hostile: HostileServer, run: Run
) -> None:
    deep = b'{"hash": "h", "resources": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    hostile.answer(reply(200, WHOAMI), reply(200, deep))
    result = run("login", "deep", hostile.url, "-", input=API_KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert "could not cache the API description" in result.stderr
    assert "saved profile 'deep'" in result.stderr
    hostile.answer(reply(200, deep))
    refreshed = run("refresh", "-p", "deep")
    assert refreshed.exit_code == 1
    assert "nested too deeply" in refreshed.stderr and "internal error" not in refreshed.stderr


# --- 11: TLS ----------------------------------------------------------------------------


def test_a_profile_saved_insecure_warns_on_every_request(run: Run) -> None:
    url = "https://127.0.0.1:1/MAAS"
    assert run("login", "lab", url, "-k", "--no-check", "-", input=API_KEY + "\n").exit_code == 0
    result = run("get", "machines", "--retries", "0")
    assert result.exit_code == 6
    assert "TLS certificate verification is off" in result.stderr


def test_plain_http_from_the_environment_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.target import resolve_target

    monkeypatch.setenv("MAAS_API_URL", "http://maas.example:5240/MAAS")
    monkeypatch.setenv("MAAS_API_KEY", API_KEY)
    Session(resolve_target(None, "machines"), CallOptions()).close()  # sends nothing
    assert "plain http" in capsys.readouterr().err
    monkeypatch.setenv("MAAS_API_URL", "http://127.0.0.1:5240/MAAS")
    Session(resolve_target(None, "machines"), CallOptions()).close()
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def tls_ca() -> object:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture
def tls_maas(tls_ca: object, tmp_path: Path) -> object:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)  # type: ignore[attr-defined]
    simulator = MaasSimulator(ssl_context=context)
    with simulator:
        yield simulator


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_ca_bundles_from_the_environment_are_trusted(
    tls_ca: object,
    tls_maas: MaasSimulator,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    ca_file = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))  # type: ignore[attr-defined]
    monkeypatch.setenv("MAAS_API_URL", tls_maas.url)
    monkeypatch.setenv("MAAS_API_KEY", tls_maas.api_key)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(ca_file))
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr


def test_system_trust_store_is_used() -> None:
    import ssl

    from maascurl.wire.client import _verify
    from maascurl.wire.settings import Transport

    context = _verify(Transport(), "https")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_a_tls_failure_after_follow_any_names_that_host(
    hostile: HostileServer, tls_maas: MaasSimulator, run: Run
) -> None:
    elsewhere = tls_maas.url + "/api/2.0/machines/"
    hostile.answer(reply(302, b"", {"Location": elsewhere}, reason="Found"))
    result = run("get", "machines", "--follow-any")
    assert result.exit_code == 6
    other = tls_maas.url.split("//")[1].split("/")[0]
    assert f"TLS certificate of {other} could not be verified" in result.stderr


# --- 12, 13, 14: local files ------------------------------------------------------------


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    config.chmod(mode)
    return config


def test_a_config_writable_by_others_runs_no_key_command(
    run: Run, home: Path, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    command = f"sh -c 'touch {ran}; echo a:b:c'"
    write_config(
        home,
        f'default = "p"\n[profiles.p]\nurl = "http://127.0.0.1:1/MAAS"\n'
        f"api_key_command = {json.dumps(command)}\n",
        0o666,
    )
    result = run("get", "machines", "--offline")
    assert result.exit_code == 1
    assert "writable by others" in result.stderr
    assert not ran.exists()


def test_login_writes_through_a_symlinked_config(run: Run, home: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "maascurl.toml"
    real.write_text("")
    real.chmod(0o600)
    link = home / "config" / "config.toml"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    url = "http://127.0.0.1:1/MAAS"
    result = run("login", "p", url, "--no-check", "-", input=API_KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert "[profiles.p]" in real.read_text()


@pytest.mark.parametrize("writer", ["state", "describe", "listing"])
def test_cache_dirs_are_private_under_umask_000(
    home: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    from maascurl.api import listings
    from maascurl.profiles import state

    cache = home / "deep" / "cache"
    monkeypatch.setenv("MAASCURL_CACHE_DIR", str(cache))
    root = "http://127.0.0.1:1/MAAS/api/2.0/"
    old = os.umask(0)
    try:
        if writer == "state":
            state.save_clock_offset("p", 12)
        elif writer == "describe":
            save_cache(root, evil_describe("Evil."))
        else:
            listings._store(root, "machines/", [["abc", "web-01"]])
    finally:
        os.umask(old)
    for directory in (cache, cache.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_damaged_clock_offset_is_ignored(api: MaasSimulator, run: Run, home: Path) -> None:
    state_file = home / "cache" / "state.json"
    for bad in ("NaN", "Infinity", "-Infinity", "1e300", "true"):
        state_file.write_text(f'{{"sim@{api.url}/api/2.0/": {{"clock_offset": {bad}}}}}')
        result = run("get", "users", "op=whoami")
        assert result.exit_code == 0, (bad, result.stderr)


def test_a_describe_cache_with_wrong_types_is_refetched(
    api: MaasSimulator, run: Run, home: Path
) -> None:
    from maascurl.api.apidesc import cache_file, load_cached

    path = cache_file(api.url + "/api/2.0/")
    head, _, body = path.read_bytes().partition(b"\n")
    rows = json.loads(body)
    rows[0][3] = 5  # a summary that is not a string
    path.write_bytes(head + b"\n" + json.dumps(rows).encode())
    assert load_cached(api.url + "/api/2.0/") is None
    result = run("describe")
    assert result.exit_code == 0, result.stderr
    assert load_cached(api.url + "/api/2.0/") is not None


# --- 15, 17: redirects and URLs ---------------------------------------------------------


def test_follow_any_sends_no_user_headers_to_the_other_origin(
    api: MaasSimulator, run: Run, other_origin: tuple[str, list[dict[str, str]]]
) -> None:
    target, seen = other_origin
    api.queue(302, "", {"Location": target}, path="machines/")
    args = ("X-Vault-Token:s3cr3t-token", "-H", "X-Other: v", "--follow-any")
    result = run("get", "machines", *args)
    assert result.exit_code == 0, result.stderr
    assert api.requests[0].headers.get("x-vault-token") == "s3cr3t-token"
    assert api.requests[0].headers.get("x-other") == "v"
    [hop] = seen
    assert "x-vault-token" not in hop and "x-other" not in hop


@pytest.mark.parametrize(
    "url",
    [
        "http://maas\x1b]0;x\x07.example/MAAS",
        "http://maas.example/M\x1bAAS",
        "http://maas.example\x07/MAAS",
        "http://caf\udce9.example/MAAS",
        "http://a b/MAAS",
    ],
)
def test_login_refuses_urls_with_control_characters(run: Run, url: str) -> None:
    result = run("login", "p", url, "--no-check", "-", input=API_KEY + "\n")
    assert result.exit_code == 2
    assert "not a valid URL" in result.stderr
    assert "\x1b" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_a_config_owned_by_another_user_runs_no_key_command(
    run: Run, home: Path, tmp_path: Path
) -> None:
    ran = tmp_path / "ran"
    command = f"sh -c 'touch {ran}; echo a:b:c'"
    config = write_config(
        home,
        f'default = "p"\n[profiles.p]\nurl = "http://127.0.0.1:1/MAAS"\n'
        f"api_key_command = {json.dumps(command)}\n",
    )
    os.chown(config, 4321, 4321)
    result = run("get", "machines", "--offline")
    assert result.exit_code == 1
    assert "owned by another user" in result.stderr
    assert not ran.exists()


def test_a_stale_description_refresh_is_capped(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.api import fetch

    monkeypatch.setattr(fetch, "DESCRIBE_LIMIT", MB)
    save_cache(hostile.api_root, evil_describe("Evil."))
    bomb = gzip.compress(b'{"hash": "h2", "resources": []' + b" " * (64 * MB) + b"}")
    hostile.answer(
        reply(200, b"{}", {"X-MAAS-API-Hash": "h2"}),
        reply(200, bomb, {"Content-Encoding": "gzip"}),
    )
    result, peak = peak_of(run, "get", "evil")
    assert result.exit_code == 0, result.stderr
    assert "cached description is stale" in result.stderr
    assert peak < 16 * MB


def test_password_login_refuses_urls_with_control_characters(run: Run) -> None:
    url = "http://maas.example/M\x1bAAS"
    result = run("login", "p", url, "--username", "admin", "--password", "-", input="pw\n")
    assert result.exit_code == 2
    assert "not a valid URL" in result.stderr


def test_a_damaged_describe_cache_is_replaced_by_the_next_request(
    api: MaasSimulator, run: Run
) -> None:
    from maascurl.api.apidesc import cache_file, load_cached

    root = api.url + "/api/2.0/"
    path = cache_file(root)
    head, _, body = path.read_bytes().partition(b"\n")
    rows = json.loads(body)
    rows[0][3] = 5
    path.write_bytes(head + b"\n" + json.dumps(rows).encode())
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert "refreshed its cached description" in result.stderr
    assert load_cached(root) is not None


def test_a_recheck_of_the_description_is_capped(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl.api import fetch
    from maascurl.api.apidesc import cache_file

    monkeypatch.setattr(fetch, "DESCRIBE_LIMIT", MB)
    save_cache(hostile.api_root, evil_describe("Evil."))
    os.utime(cache_file(hostile.api_root), (0, 0))  # old enough to be fetched again
    bomb = gzip.compress(b'{"hash": "h2", "resources": []' + b" " * (64 * MB) + b"}")
    hostile.answer(reply(200, bomb, {"Content-Encoding": "gzip"}))
    result, peak = peak_of(run, "get", "evil", "op=nosuchop")
    assert result.exit_code == 2, result.stderr
    assert hostile.seen[0]["path"].endswith("/describe/")
    assert peak < 16 * MB


def test_an_error_body_kept_with_i_is_capped(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "KEPT_ERROR_LIMIT", 1000)
    hostile.answer(reply(500, [b"e" * 100] * 50, {"Content-Type": "text/plain"}, reason="Oops"))
    result = run("get", "machines", "-i")
    assert result.exit_code == 5
    assert "cut at" in result.stderr
    assert result.stdout.endswith("\n\n" + "e" * 1000)


def test_a_deeply_nested_listing_is_not_recorded_and_breaks_nothing(
    hostile: HostileServer, run: Run
) -> None:
    def resource(path: str, params: list[str]) -> dict[str, object]:
        read = {"doc": "Read.", "method": "GET", "name": "read", "op": None, "restful": True}
        auth = {"path": path, "params": params, "doc": "Evil.", "actions": [read]}
        return {"name": path, "auth": auth}

    rows = [resource("/MAAS/api/2.0/evils/", []), resource("/MAAS/api/2.0/evils/{id}/", ["id"])]
    save_cache(hostile.api_root, json.dumps({"hash": "h1", "resources": rows}).encode())
    deep = b"[" * 100_000 + b"]" * 100_000
    hostile.answer(reply(200, deep, {"X-MAAS-API-Hash": "h1"}))
    result = run("get", "evils")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == deep


def test_a_listing_of_other_objects_feeds_no_ids_to_tab(hostile: HostileServer, run: Run) -> None:
    """One entry without the collection's ID field: the body is not that listing, and
    none of it is offered at TAB (a whole listing is, as the first answer shows)."""
    from maascurl.api.listings import load_ids

    read = {"doc": "Read.", "method": "GET", "name": "read", "op": None, "restful": True}
    rows = [
        {"name": "E", "auth": {"path": path, "params": params, "doc": "E.", "actions": [read]}}
        for path, params in (("/MAAS/api/2.0/evils/", []), ("/MAAS/api/2.0/evils/{id}/", ["id"]))
    ]
    save_cache(hostile.api_root, json.dumps({"hash": "h1", "resources": rows}).encode())
    whole = b'[{"id": "e1", "name": "one"}, {"id": "e2", "name": "two"}]'
    other = b'[{"id": "e3", "name": "three"}, {"name": "four"}]'
    hostile.answer(reply(200, whole, {"X-MAAS-API-Hash": "h1"}))
    assert run("get", "evils").exit_code == 0
    assert load_ids(hostile.api_root, "evils/") == [("e1", "one"), ("e2", "two")]
    hostile.answer(reply(200, other, {"X-MAAS-API-Hash": "h1"}))
    result = run("get", "evils")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == other
    assert load_ids(hostile.api_root, "evils/") == [("e1", "one"), ("e2", "two")]


def test_a_deeply_nested_body_as_a_table_is_a_clean_error(hostile: HostileServer, run: Run) -> None:
    hostile.answer(reply(200, b"[" * 100_000 + b"]" * 100_000))
    result = run("get", "machines", "--format", "tsv", "--fields", "a")
    assert result.exit_code == 1
    assert (
        result.stderr == "maascurl: error: the response's JSON is nested too deeply to tabulate\n"
    )
