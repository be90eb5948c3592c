"""Guards for maascurl's fast paths: what each command imports and does.

These tests never time anything. They check the choices that keep maascurl
fast: httpx's own command-line module stays out, commands that send nothing
import neither httpx nor oauthlib, nothing imports rich, plain http never
loads a CA bundle, piped bodies are streamed, and the pager is used only when
it should be. benchmarks/run.py measures the resulting speed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import io
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, env_for_subprocess
from conftest import on_terminal as run_on_terminal
from simulator import MaasSimulator

from maascurl.jobs.call import CallOptions, perform
from maascurl.show import terminal
from maascurl.show.terminal import OutputOptions

HEAVY = ("httpx", "httpcore", "oauthlib", "rich", "pygments")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ---------------------------------------------------------------- helpers


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def parse_importtime(stderr: str) -> set[str]:
    """Module names from `python -X importtime` lines ("import time: self | cum | name")."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    } - {"imported package"}


def maascurl_argv(*args: str) -> list[str]:
    return [sys.executable, "-X", "importtime", "-m", "maascurl", *args]


def imports_of(
    env: dict[str, str], *args: str
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run maascurl piped in a fresh interpreter; the modules it imported and the result."""
    done = subprocess.run(maascurl_argv(*args), env=env, capture_output=True, text=True, timeout=60)
    return parse_importtime(done.stderr), done


def pty_env(home: Path, **extra: str) -> dict[str, str]:
    env = env_for_subprocess(home)
    env["TERM"] = "xterm"
    env.update(extra)
    return env


def on_pty(env: dict[str, str], *args: str) -> tuple[bytes, set[str], int, str]:
    """Run maascurl with stdout on a pseudo-terminal.

    Returns what reached the terminal, the modules imported, the exit status
    and stderr without the import-time lines.
    """
    out, stderr, status = run_on_terminal(maascurl_argv(*args), env)
    other = "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))
    return out, parse_importtime(stderr), status, other


# ---------------------------------------------------------------- httpx's own CLI module


def test_httpx_still_falls_back_when_its_cli_module_is_missing() -> None:
    """maascurl.wire._httpx relies on httpx importing `main` from `._main` under
    try/except ImportError; an httpx release that changes this must fail here."""
    spec = importlib.util.find_spec("httpx")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    guarded = False
    for node in tree.body:
        if not isinstance(node, ast.Try):
            continue
        imports_main = any(
            isinstance(stmt, ast.ImportFrom)
            and stmt.module == "_main"
            and stmt.level == 1
            and [alias.name for alias in stmt.names] == ["main"]
            for stmt in node.body
        )
        catches = any(
            isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
            for handler in node.handlers
        )
        guarded = guarded or (imports_main and catches)
    assert guarded, "httpx/__init__.py no longer imports ._main under try/except ImportError"


def test_importing_httpx_through_maascurl_leaves_out_click_rich_and_pygments(
    sim: MaasSimulator,
) -> None:
    script = f"""
import json, sys
import maascurl.wire._httpx
from maascurl.wire._httpx import httpx
with httpx.Client() as client:
    status = client.get({sim.api_root + "version/"!r}).status_code
print(json.dumps({{
    "main_module": sys.modules.get("httpx._main", "absent") is None,
    "main_from": getattr(getattr(httpx.main, "__code__", None), "co_filename", "?"),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("click", "rich", "pygments")),
    "status": status,
}}))
"""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["main_module"] is True  # marked absent, never imported
    assert Path(report["main_from"]).name == "__init__.py"  # httpx fell back to its stub
    assert report["loaded"] == []
    assert report["status"] == 200  # and httpx still works


# ---------------------------------------------------------------- what commands import


@pytest.mark.parametrize(
    "args",
    [("--help",), ("--version",), ("profile", "list"), ("get", "--help")],
    ids=["help", "version", "profile-list", "get-help"],
)
def test_commands_that_send_nothing_import_no_http_stack(
    profile: str, home: Path, args: tuple[str, ...]
) -> None:
    names, done = imports_of(env_for_subprocess(home), *args)
    assert done.returncode == 0, done.stderr
    assert "click" in names  # the measurement itself works
    assert top_level(names).isdisjoint(HEAVY), sorted(top_level(names) & set(HEAVY))


def test_piped_get_imports_the_http_stack_but_no_pretty_printer(
    sim: MaasSimulator, profile: str, home: Path
) -> None:
    names, done = imports_of(env_for_subprocess(home), "get", "users", "op=whoami")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["username"] == "admin"
    assert {"httpx", "oauthlib"} <= top_level(names)
    assert "maascurl.show.jsoncolor" not in names
    assert top_level(names).isdisjoint({"rich", "pygments"})


def test_a_single_call_imports_no_fleet_and_one_command_group(
    sim: MaasSimulator, profile: str, home: Path, tmp_path: Path
) -> None:
    """The fleet's modules come with --each (or batch) only; of the command line's
    modules, only the group that runs (cli/requests.py)."""
    names, done = imports_of(env_for_subprocess(home), "get", "users", "op=whoami")
    assert done.returncode == 0, done.stderr
    assert "maascurl.cli.requests" in names and "maascurl.jobs.call" in names
    assert {"maascurl.jobs.fleet", "maascurl.jobs.batch", "maascurl.jobs.wait"}.isdisjoint(names)
    assert {"maascurl.cli.work", "maascurl.cli.profiles", "maascurl.cli.help"}.isdisjoint(names)
    lines = tmp_path / "users.txt"
    lines.write_text("whoami\n")
    names, done = imports_of(
        env_for_subprocess(home), "get", "users", "op={}", "--each", str(lines)
    )
    assert done.returncode == 0, done.stderr
    assert "maascurl.jobs.fleet" in names


def test_tab_over_command_names_imports_no_command_module(home: Path) -> None:
    env = env_for_subprocess(home)
    env.update(_MAASCURL_COMPLETE="bash_complete", COMP_WORDS="maascurl ", COMP_CWORD="1")
    names, done = imports_of(env)
    assert "plain,upload-image" in done.stdout.splitlines()
    assert "maascurl.cli.shellcomplete" in names  # the measurement itself works
    commands = {"requests", "work", "profiles", "help", "sandbox"}
    assert {f"maascurl.cli.{name}" for name in commands}.isdisjoint(names)
    assert top_level(names).isdisjoint(HEAVY), sorted(top_level(names) & set(HEAVY))


@pytest.mark.parametrize(
    ("args", "tab"),
    [
        (("get", "users", "op=whoami"), None),
        (("--help",), None),
        (("sandbox", "--help"), None),
        ((), "maascurl sandbox --"),
        ((), "maascurl get machines op=list_al"),
    ],
    ids=["get", "help", "sandbox-help", "tab-sandbox", "tab-get"],
)
def test_only_the_sandbox_command_running_imports_the_sandbox(
    sim: MaasSimulator, profile: str, home: Path, args: tuple[str, ...], tab: str | None
) -> None:
    """The simulator is big (email, ssl, http.server): no other command, no help and no
    TAB press pays for it; the sandbox's help and TAB are the command's alone."""
    env = env_for_subprocess(home)
    if tab is not None:
        env.update(_MAASCURL_COMPLETE="bash_complete", COMP_WORDS=tab)
        env["COMP_CWORD"] = str(len(tab.split(" ")) - 1)
    names, done = imports_of(env, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout  # it did its work: an answer, a help text, candidates
    assert "maascurl.cli" in names  # the measurement itself works
    assert not [name for name in names if name.startswith("maascurl.sandbox")]
    if "sandbox" in args or "sandbox" in (tab or ""):
        assert "maascurl.cli.sandbox" in names
    else:
        assert "maascurl.cli.sandbox" not in names


def test_terminal_get_pretty_prints_without_rich(
    sim: MaasSimulator, profile: str, home: Path
) -> None:
    out, names, status, err = on_pty(pty_env(home), "get", "users", "op=whoami", "--no-pager")
    assert status == 0, err
    assert "maascurl.show.jsoncolor" in names
    assert top_level(names).isdisjoint({"rich", "pygments"})
    assert json.loads(ANSI.sub("", out.decode()))["username"] == "admin"


# ---------------------------------------------------------------- exit


def test_exit_after_a_request_skips_the_final_garbage_collections(
    sim: MaasSimulator, profile: str, home: Path
) -> None:
    """Objects alive at exit are frozen (cli.main), so the interpreter's
    exit-time collections do not walk httpx's and click's objects; a cycle
    kept alive until exit is therefore never collected."""
    script = """
import sys
class Cycle:
    def __init__(self):
        self.me = self
    def __del__(self):
        sys.stderr.write("collected at exit\\n")
keep = Cycle()
sys.argv = ["maascurl", "get", "users", "op=whoami"]
from maascurl.cli import main
main()
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env_for_subprocess(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["username"] == "admin"
    assert "collected at exit" not in done.stderr


# ---------------------------------------------------------------- CA bundles


@pytest.fixture
def ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SSLContext method call that loads trusted certificates, recorded."""
    calls: list[str] = []

    def spy(name: str) -> Callable[..., Any]:
        real = getattr(ssl.SSLContext, name)

        def recording(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(self, *args, **kwargs)

        return recording

    for name in ("load_verify_locations", "load_default_certs", "set_default_verify_paths"):
        monkeypatch.setattr(ssl.SSLContext, name, spy(name))
    return calls


def test_plain_http_never_loads_a_ca_bundle(
    sim: MaasSimulator, profile: str, run: Run, ca_loads: list[str]
) -> None:
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert ca_loads == []


def test_https_loads_the_profiles_ca(
    tls: MaasSimulator, ca_file: Path, run: Run, ca_loads: list[str]
) -> None:
    login = run("login", "tls", tls.url, tls.api_key, "--cacert", str(ca_file))
    assert login.exit_code == 0, login.stderr
    ca_loads.clear()
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert "load_verify_locations" in ca_loads


# ---------------------------------------------------------------- streaming


class WriteRecorder(io.RawIOBase):
    """A non-terminal file descriptor that remembers the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sizes.append(len(chunk))
        self.digest.update(chunk)
        return len(chunk)


def test_piped_body_is_streamed_in_chunks(
    sim: MaasSimulator, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = os.urandom(5 * 1024 * 1024)
    sim.add_file("stream.bin", body)
    recorder = WriteRecorder()
    stdout = io.TextIOWrapper(io.BufferedWriter(recorder), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stdout)
    perform("GET", "files", ["op=get", "filename=stream.bin"], CallOptions(output=OutputOptions()))
    assert sum(recorder.sizes) == len(body)
    assert recorder.digest.digest() == hashlib.sha256(body).digest()
    # Written as it arrives: many writes, none anywhere near the whole body.
    assert len(recorder.sizes) >= 20
    assert max(recorder.sizes) <= 1024 * 1024


def test_socket_reads_are_widened_and_httpcore_still_uses_the_setting() -> None:
    """client.py raises httpcore's per-read size; an httpcore release that stops
    reading through READ_NUM_BYTES would silently undo that, and fails here."""
    import httpcore

    import maascurl.wire.client  # noqa: F401

    assert httpcore.HTTP11Connection.READ_NUM_BYTES == 256 * 1024
    readers = [
        name
        for name, member in vars(httpcore.HTTP11Connection).items()
        if inspect.isfunction(member) and "READ_NUM_BYTES" in member.__code__.co_names
    ]
    assert readers, "no HTTP11Connection method reads READ_NUM_BYTES any more"


def pipe_max_size() -> int:
    try:
        return int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        return 0


@pytest.mark.skipif(pipe_max_size() < 1024 * 1024, reason="needs Linux pipes of 1 MB")
def test_piped_output_widens_the_pipe(sim: MaasSimulator, profile: str, home: Path) -> None:
    import fcntl

    read_end, write_end = os.pipe()
    try:
        before = fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ)
        done = subprocess.run(
            [sys.executable, "-m", "maascurl", "get", "users", "op=whoami"],
            env=env_for_subprocess(home),
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert b"username" in os.read(read_end, 65536)
        assert before < 1024 * 1024 <= fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(read_end)
        os.close(write_end)


# ---------------------------------------------------------------- the pager


@pytest.fixture
def recording_pager(tmp_path: Path) -> tuple[str, Path]:
    """A pager command that copies its stdin into a file, and that file."""
    script = tmp_path / "pager.py"
    script.write_text(
        "import shutil, sys\n"
        "with open(sys.argv[1], 'wb') as f:\n"
        "    shutil.copyfileobj(sys.stdin.buffer, f)\n"
    )
    record = tmp_path / "paged.txt"
    command = " ".join(shlex.quote(part) for part in (sys.executable, str(script), str(record)))
    return command, record


def test_terminal_output_goes_through_the_pager(
    sim: MaasSimulator, profile: str, home: Path, recording_pager: tuple[str, Path]
) -> None:
    command, record = recording_pager
    env = pty_env(home, MAASCURL_PAGER=command)
    out, names, status, err = on_pty(env, "get", "users", "op=whoami")
    assert status == 0, err
    assert b"username" not in out  # the terminal saw only the pager
    assert "subprocess" in names  # what the tests below check is not imported
    paged = record.read_text(encoding="utf-8")
    assert "\x1b[" in paged  # coloured for the terminal behind the pager
    assert json.loads(ANSI.sub("", paged))["username"] == "admin"


def test_no_pager_bypasses_the_pager(
    sim: MaasSimulator, profile: str, home: Path, recording_pager: tuple[str, Path]
) -> None:
    command, record = recording_pager
    env = pty_env(home, MAASCURL_PAGER=command)
    out, _, status, err = on_pty(env, "get", "users", "op=whoami", "--no-pager")
    assert status == 0, err
    assert not record.exists()
    assert json.loads(ANSI.sub("", out.decode()))["username"] == "admin"


@pytest.mark.parametrize("pager", ["cat", ""], ids=["cat", "empty"])
def test_pager_cat_or_empty_means_no_pager(
    sim: MaasSimulator,
    profile: str,
    home: Path,
    pager: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAGER", pager)
    assert terminal.pager_command() is None  # written straight to the terminal
    out, _, status, err = on_pty(pty_env(home, PAGER=pager), "get", "users", "op=whoami")
    assert status == 0, err
    assert json.loads(ANSI.sub("", out.decode()))["username"] == "admin"


def test_no_color_on_a_terminal_has_no_escape_codes(
    sim: MaasSimulator, profile: str, home: Path
) -> None:
    env = pty_env(home, NO_COLOR="1")
    out, _, status, err = on_pty(env, "get", "users", "op=whoami", "--no-pager")
    assert status == 0, err
    assert b"\x1b" not in out
    assert out.startswith(b"{\n  ")  # still pretty
    assert json.loads(out)["username"] == "admin"


def test_tab_over_recorded_ids_imports_no_http_stack(
    sim: MaasSimulator, profile: str, home: Path
) -> None:
    """IDs seen in a listing are offered on TAB from the cache: no httpx, no rich."""
    env = env_for_subprocess(home)
    listed = subprocess.run(
        [sys.executable, "-m", "maascurl", "get", "machines"], env=env, capture_output=True
    )
    assert listed.returncode == 0, listed.stderr
    sim.requests.clear()
    env.update(
        _MAASCURL_COMPLETE="bash_complete", COMP_WORDS="maascurl get machines/", COMP_CWORD="2"
    )
    names, done = imports_of(env)
    assert "nospace,machines/abc001/" in done.stdout.splitlines()
    assert "maascurl.api.listings" in names  # the measurement itself works
    assert top_level(names).isdisjoint(HEAVY), sorted(top_level(names) & set(HEAVY))
    assert sim.requests == []


# The v3 API's modules: a call to the 2.0 API (and its TAB) imports none of them.
V3_MODULES = {
    "maascurl.jobs.v3",
    "maascurl.jobs.pages",
    "maascurl.api.openapi",
    "maascurl.api.v3checks",
    "maascurl.api.v3completion",
    "maascurl.api.v3describe",
    "maascurl.profiles.tokens",
    "maascurl.wire.bearer",
    "maascurl.wire.jsonbody",
    "maascurl.show.pages",
}


def test_a_v2_call_imports_no_v3_module_and_a_v3_call_does(
    v3_profile: str, sim: MaasSimulator, home: Path
) -> None:
    """Logged in with a password, so the v3 API's token and description are there."""
    env = env_for_subprocess(home)
    names, done = imports_of(env, "get", "users", "op=whoami")
    assert done.returncode == 0, done.stderr
    assert V3_MODULES.isdisjoint(names), sorted(V3_MODULES & names)
    names, done = imports_of(env, "post", "v3/zones", "name=imported")
    assert done.returncode == 0, done.stderr
    assert {"maascurl.wire.bearer", "maascurl.profiles.tokens", "maascurl.jobs.v3"} <= names


def test_tab_over_v2_paths_imports_no_v3_module(v3_profile: str, home: Path) -> None:
    env = env_for_subprocess(home)
    env.update(
        _MAASCURL_COMPLETE="bash_complete", COMP_WORDS="maascurl get machines op=list_al",
        COMP_CWORD="3",
    )  # fmt: skip
    names, done = imports_of(env)
    assert "plain,op=list_allocated" in done.stdout.splitlines()
    assert V3_MODULES.isdisjoint(names), sorted(V3_MODULES & names)


def test_tab_over_v3_paths_imports_no_http_stack(v3_profile: str, home: Path) -> None:
    env = env_for_subprocess(home)
    env.update(_MAASCURL_COMPLETE="bash_complete", COMP_WORDS="maascurl post v3/zones ",
               COMP_CWORD="3")  # fmt: skip
    names, done = imports_of(env)
    assert "nospace,name=" in done.stdout.splitlines()
    assert "maascurl.api.v3completion" in names  # the measurement itself works
    assert top_level(names).isdisjoint(HEAVY), sorted(top_level(names) & set(HEAVY))
