"""The installed `maascurl` console script, run as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import env_for_subprocess, maascurl_script
from simulator import NODE_STATUS, MaasSimulator

from maascurl import __version__


@pytest.fixture
def env(home: Path, sim: MaasSimulator) -> dict[str, str]:
    sim.set_fleet(3)
    environ = env_for_subprocess(home)
    environ["MAAS_API_URL"] = sim.url
    environ["MAAS_API_KEY"] = sim.api_key
    return environ


def maascurl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([maascurl_script(), *args], env=env, capture_output=True, timeout=30)


def test_version(env: dict[str, str]) -> None:
    done = maascurl(env, "--version")
    assert done.returncode == 0
    assert done.stdout.decode() == f"maascurl, version {__version__}\n"


def test_help_lists_commands_and_exit_codes(env: dict[str, str]) -> None:
    done = maascurl(env, "--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    commands = text.split("Commands:", 1)[1]
    for command in ("get", "post", "put", "delete", "login", "logout", "profile", "refresh"):
        assert f"\n  {command} " in commands
    flat = " ".join(text.split())
    assert "Exit status: 0 success (2xx); 1 other error" in flat
    assert "6 connection or TLS failure; 7 timeout; 8 a waited-for action ended" in flat
    assert "state (--wait, wait); 130 interrupted." in flat


def test_help_shows_every_summary_whole() -> None:
    """Issue 22: at 80 columns (a pipe, or a terminal as narrow) `maascurl --help` cut four
    command summaries with "..."; each fits now, and each is its command's own."""
    from click.testing import CliRunner

    from maascurl.cli import COMMANDS, cli

    listed = CliRunner().invoke(cli, ["--help"], terminal_width=80).stdout
    commands = listed.split("Commands:", 1)[1].split("\n\n", 1)[0]
    assert "..." not in commands
    for name, entry in COMMANDS.items():
        assert f"  {name:<12}  {entry.short_help or entry.help}\n" in commands + "\n"


def test_completion_without_a_shell_is_one_readable_line(env: dict[str, str]) -> None:
    """Issue 22: Click's "Choose from:\\n\\tbash,..." reached stderr as literal \\n\\t."""
    done = maascurl(env, "completion")
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "maascurl: error: Missing argument '{bash|zsh|fish}'. Choose from: bash, zsh, fish "
        "(see `maascurl completion --help`)\n"
    )


def test_method_help_explains_items(env: dict[str, str]) -> None:
    done = maascurl(env, "post", "--help")
    assert done.returncode == 0
    assert "name@=FILE" in done.stdout.decode()


def test_get_piped_writes_the_server_bytes(env: dict[str, str], sim: MaasSimulator) -> None:
    done = maascurl(env, "get", "machines", "op=list_allocated")
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    allocated = NODE_STATUS["Allocated"]
    mine = [m for m in sim.machines if m["owner"] == "admin" and m["status"] == allocated]
    assert done.stdout == json.dumps(mine, ensure_ascii=False).encode()
    assert [r.query for r in sim.requests] == [[("op", "list_allocated")]]


def test_http_error_from_the_script(env: dict[str, str]) -> None:
    done = maascurl(env, "get", "machines/none")
    assert done.returncode == 4
    assert done.stdout == b""
    assert done.stderr == b"maascurl: error: 404 Not Found: No Machine matches the given query.\n"


def test_module_entry_point(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "maascurl", "get", "version", "--anonymous"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"]


def test_reader_going_away_ends_quietly(env: dict[str, str], sim: MaasSimulator) -> None:
    sim.add_file("big.bin", bytes(range(256)) * 8192)  # 2 MiB: far more than a pipe holds
    producer = subprocess.Popen(
        [maascurl_script(), "get", "files", "op=get", "filename=big.bin"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.run(["head", "-c", "100"], stdin=producer.stdout, capture_output=True)
    producer.stdout.close()
    stderr = producer.stderr.read()
    producer.stderr.close()
    status = producer.wait(timeout=30)
    assert head.stdout == bytes(range(100))
    assert stderr == b""
    assert status == 0


def test_ctrl_c_while_waiting_for_the_server(env: dict[str, str], sim: MaasSimulator) -> None:
    sim.queue(200, "[]", {"Content-Type": "application/json"}, path="machines/", delay=3)
    process = subprocess.Popen(
        [maascurl_script(), "get", "machines"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while not sim.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.requests, "the request never reached the simulator"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 130
    assert stdout == b""
    assert b"Traceback" not in stderr
    assert stderr.strip().endswith(b"maascurl: error: interrupted")


# --- the group loads a command's module only when it is needed (cli/__init__.py)


def test_every_command_is_where_the_group_says_with_its_own_summary() -> None:
    """COMMANDS lists each command without importing it: its module and summary must agree
    with the command itself, at any width `maascurl --help` or a TAB menu gives it."""
    import click

    from maascurl.cli import COMMANDS, cli

    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for name, entry in COMMANDS.items():
        stand_in = click.Command(name, help=entry.help or None, short_help=entry.short_help or None)
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.callback is not None and command.callback.__module__ == entry.module
        for limit in (20, 45, 80):
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), name


def test_listing_the_commands_imports_none_of_them(env: dict[str, str]) -> None:
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from maascurl.cli import cli\n"
        "listed = CliRunner().invoke(cli, ['--help']).output\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('maascurl.') and\n"
        "                m.split('.')[1] not in ('cli', 'errors', 'termsafe'))\n"
        "commands = sorted(m for m in sys.modules if m.startswith('maascurl.cli.'))\n"
        "print(loaded, commands, 'upload-image  Upload a boot image in' in listed)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "[]",
        "['maascurl.cli.complete',",
        "'maascurl.cli.group',",
        "'maascurl.cli.options']",
        "True",
    ]
