"""What a security review found (issue 14), each against a hostile server or local attacker.

The hostile server (tests/hostile.py) answers with raw bytes of the test's
choosing; the MAAS simulator serves where real MAAS behaviour matters (its
bad-signature answer echoes the real token secret, as MAAS 3.4 does).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess
from hostile import API_KEY, HostileServer, endless, gzip_bomb, reply
from simulator import MaasSimulator

from maascurl import output
from maascurl.apidesc import save_cache

SECRET = API_KEY.split(":")[2]
MB = 1024 * 1024
WHOAMI = json.dumps({"username": "admin", "is_superuser": True}).encode()


def maascurl_script() -> str:
    return shutil.which("maascurl") or str(Path(sys.executable).with_name("maascurl"))


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
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
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


def test_output_to_dev_stdout_reaches_stdout(api: MaasSimulator, home: Path) -> None:
    done = subprocess.run(
        [maascurl_script(), "get", "users", "op=whoami", "-o", "/dev/stdout"],
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
        for _ in range(400):
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
    for _ in range(1000):
        if list(downloads.iterdir()):
            break
        time.sleep(0.01)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signum
    assert b"terminated by SIG" in stderr
    assert list(downloads.iterdir()) == []


# --- 2, 17: redaction ---------------------------------------------------------------


def test_a_wrong_secret_does_not_print_the_right_one(sim: MaasSimulator, run: Run) -> None:
    consumer, token, secret = sim.api_key.split(":")
    typo = f"{consumer}:{token}:{'x' * len(secret)}"
    result = run("login", "typo", sim.url, "-", input=typo + "\n")
    assert result.exit_code == 4
    assert "Expected signature base string: <redacted>" in result.stderr
    assert secret not in result.stderr


def test_secret_is_redacted_before_a_long_error_is_cut(hostile: HostileServer, run: Run) -> None:
    body = b"a" * (output.ERROR_BODY_LIMIT - 4) + SECRET.encode()
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
    assert "x-evil: \\x9b2J" in shown.stdout


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

    from maascurl.describe import index_data, render_rich, visible

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
    from maascurl.bounded import DECODE_STEP
    from maascurl.call import CallOptions, Session, Target
    from maascurl.config import environment_profile
    from maascurl.request import build_request

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


def test_a_gzip_bomb_piped_keeps_memory_flat(hostile: HostileServer, run: Run) -> None:
    size = 64 * MB
    hostile.answer(reply(200, gzip_bomb(size), {"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        result = run("get", "machines", "-o", os.devnull)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    assert peak < 16 * MB


def test_a_gzip_bomb_as_an_error_body_is_capped(hostile: HostileServer, run: Run) -> None:
    body = b"{" + b" " * (64 * MB) + b"}"
    hostile.answer(reply(400, gzip.compress(body), {"Content-Encoding": "gzip"}, reason="Bad"))
    tracemalloc.start()
    try:
        result = run("get", "machines")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 4
    assert peak < 16 * MB


def test_a_huge_description_is_refused_at_login(
    hostile: HostileServer, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from maascurl import login

    monkeypatch.setattr(login, "DESCRIBE_LIMIT", 1000)
    hostile.answer(reply(200, WHOAMI), reply(200, evil_describe("x" * 2000)))
    result = run("login", "big", hostile.url, "-", input=API_KEY + "\n")
    assert result.exit_code == 0
    assert "could not cache the API description" in result.stderr
    assert "more than" in result.stderr
