"""Shared fixtures: a MAAS simulator on 127.0.0.1 and an isolated maascurl home."""

from __future__ import annotations

import copy
import os
import select
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from click.testing import CliRunner, Result
from hypothesis import settings as hypothesis_settings

sys.path.insert(0, str(Path(__file__).parent))

from hostile import API_KEY as HOSTILE_KEY
from hostile import HostileServer
from treecheck import TREE, imported_from

import maascurl

if not imported_from(TREE, maascurl.__file__):
    pytest.exit(
        f"these tests would test the maascurl at {maascurl.__file__}, not this tree's "
        f"({TREE / 'maascurl'}): run pytest with this tree's pyproject.toml (from its root), "
        "whose pythonpath puts the tree first, or install the tree with pip install -e '.[test]'",
        returncode=4,
    )

from maascurl import errors
from maascurl.cli import cli
from maascurl.sandbox import simulator, simulator_v3
from maascurl.sandbox.simulator import MaasSimulator
from maascurl.sandbox.simulator_v3 import DEFAULT_PASSWORD, V3Api

# Property tests draw new examples on every run, which is how they find what nobody thought
# of; under CI ($CI set, as .ci/run and CI services do) they draw the same ones each time, so
# that a red CI is always a change's doing. Set HYPOTHESIS_PROFILE to choose either.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.register_profile("explore")
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "explore")
)

# The MAAS simulator lives in the package (`maascurl sandbox` serves it); the tests
# import it by its old name, `from simulator import MaasSimulator`: one module, two names.
sys.modules.setdefault("simulator", simulator)
sys.modules.setdefault("simulator_v3", simulator_v3)  # MAAS's v3 API, beside it

ENV_VARS = (
    "MAASCURL_CONFIG",
    "MAASCURL_CACHE_DIR",
    "MAASCURL_PROFILE",
    "MAASCURL_PAGER",
    "MAAS_API_URL",
    "MAAS_API_KEY",
    "MAAS_API_CACERT",
    "NO_COLOR",
    "PAGER",
    # The width a table fits: set by the tests that want one. pytest-xdist's workers have
    # COLUMNS=80 and LINES=24 (readline, loaded there, exports them).
    "COLUMNS",
    "LINES",
)


@pytest.fixture(scope="session")
def maas() -> Iterator[MaasSimulator]:
    with MaasSimulator() as simulator:
        yield simulator


@pytest.fixture
def sim(maas: MaasSimulator) -> MaasSimulator:
    """The shared simulator with its recorded requests and queued faults cleared."""
    maas.requests.clear()
    maas.reset_faults()
    maas.clock_offset = 0.0
    return maas


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config file and cache, and no inherited settings."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAASCURL_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("MAASCURL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(errors, "_secrets", set())
    monkeypatch.setattr(errors, "_quiet", False)
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    return tmp_path


@dataclass
class Run:
    """Runs maascurl in-process with Click's CliRunner; stdout and stderr kept apart."""

    runner: CliRunner

    def __call__(self, *args: str, input: str | bytes | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def run() -> Run:
    return Run(CliRunner())


@pytest.fixture
def profile(sim: MaasSimulator, run: Run) -> str:
    """A logged-in default profile named 'sim' (key checked, description cached)."""
    result = run("login", "sim", sim.url, sim.api_key)
    assert result.exit_code == 0, result.stderr
    return "sim"


@pytest.fixture
def v3(sim: MaasSimulator) -> Iterator[V3Api]:
    """MAAS 3.7.3's v3 API mounted on the shared simulator (/MAAS/a/), fresh for the test."""
    api = V3Api("3.7.3", machines=12)
    sim.mount_v3(api)
    yield api
    sim.v3 = None


@pytest.fixture
def v38(sim: MaasSimulator) -> Iterator[V3Api]:
    """The same with MAAS 3.8's v3 API (refresh tokens, the operations API)."""
    api = V3Api("3.8.0a1", machines=12)
    sim.mount_v3(api)
    yield api
    sim.v3 = None


def password_login(run: Run, sim: MaasSimulator, name: str = "sim") -> Result:
    """`login NAME URL --username admin --password -`: the key and, where there is a v3 API,
    its token."""
    return run(
        "login", name, sim.url, "--username", "admin", "--password", "-",
        input=DEFAULT_PASSWORD + "\n",
    )  # fmt: skip


@pytest.fixture
def v3_profile(v3: V3Api, sim: MaasSimulator, run: Run) -> str:
    """A default profile 'sim' logged in with the admin's password: a key and a v3 token."""
    result = password_login(run, sim)
    assert result.exit_code == 0, result.stderr
    v3.requests.clear()
    return "sim"


# Lists and dicts of the shared simulator that tests change, beside machines, events, files.
RESTORED = ("power_parameters", "sshkeys", "tags", "zones", "pools", "devices", "dhcp_snippets")


@pytest.fixture
def restored(sim: MaasSimulator) -> Iterator[MaasSimulator]:
    """The shared simulator, its machines, their power parameters, files, event log and the
    other objects a test may change put back after the test."""
    machines, files = copy.deepcopy(sim.machines), dict(sim.files)
    events = list(sim.events)
    kept = {name: copy.deepcopy(getattr(sim, name)) for name in RESTORED}
    yield sim
    sim.machines[:] = machines
    sim.events[:] = events
    for name, value in kept.items():
        current = getattr(sim, name)
        if isinstance(current, list):
            current[:] = value
        else:
            current.clear()
            current.update(value)
    sim.files.clear()
    sim.files.update(files)
    sim.changed()


@pytest.fixture
def api(restored: MaasSimulator, profile: str) -> MaasSimulator:
    """A logged-in profile with its description cached and no requests recorded yet."""
    restored.requests.clear()
    return restored


@pytest.fixture
def bare(restored: MaasSimulator, monkeypatch: pytest.MonkeyPatch) -> MaasSimulator:
    """Only $MAAS_API_URL and $MAAS_API_KEY: no config, no cached description, no checks."""
    monkeypatch.setenv("MAAS_API_URL", restored.url)
    monkeypatch.setenv("MAAS_API_KEY", restored.api_key)
    return restored


@pytest.fixture
def fleet(api: MaasSimulator) -> Iterator[MaasSimulator]:
    """150 machines, 50 of them Ready; actions take 0.4 s (the fleet waits' tests)."""
    api.set_fleet(150)
    api.timed.reset()
    api.timed.seconds = 0.4
    api.requests.clear()
    yield api
    api.timed.reset()


def ready(sim: MaasSimulator) -> list[str]:
    return [m["system_id"] for m in sim.machines if m["status_name"] == "Ready"]


def on_terminal(argv: list[str], env: dict[str, str]) -> tuple[bytes, str, int]:
    """Run ARGV with stdout on a pseudo-terminal: (what reached it, stderr, exit status)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    shown = read_terminal(master)
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    status = process.wait(timeout=30)
    return shown.replace(b"\r\n", b"\n"), stderr, status


def stderr_on_terminal(argv: list[str], env: dict[str, str]) -> tuple[bytes, bytes, int]:
    """Run ARGV with stderr on a pseudo-terminal: (stdout, what reached the terminal, status)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    assert process.stdout is not None
    out, seen = [], []
    fds = {master: seen, process.stdout.fileno(): out}
    while fds:
        ready, _, _ = select.select(list(fds), [], [], 30)
        assert ready, "nothing happened for 30 s"
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's writers are gone
                data = b""
            if data:
                fds[fd].append(data)
            else:
                del fds[fd]
    os.close(master)
    process.stdout.close()
    status = process.wait(timeout=30)
    return b"".join(out), b"".join(seen), status


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def read_terminal(master: int) -> bytes:
    """Everything written to a pseudo-terminal until its last writer goes; closes MASTER."""
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, "nothing reached the terminal for 30 s"
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return b"".join(chunks)


class _Recorder(BaseHTTPRequestHandler):
    """A server on another origin: answers 200 and records what it was sent."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        entry = {k.lower(): v for k, v in self.headers.items()}
        entry["method"], entry["body"] = self.command, body.decode("latin-1")
        self.server.seen.append(entry)  # type: ignore[attr-defined]
        reply = b'{"other": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_origin() -> Iterator[tuple[str, list[dict[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    seen: list[dict[str, str]] = []
    server.seen = seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/elsewhere/", seen
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


# --- an HTTPS simulator, one per test module, and its CA ------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_maas(ca: trustme.CA) -> Iterator[MaasSimulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with MaasSimulator(ssl_context=context) as simulator:
        yield simulator


@pytest.fixture
def tls(https_maas: MaasSimulator) -> MaasSimulator:
    https_maas.requests.clear()
    https_maas.reset_faults()
    return https_maas


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def complete(line: str, shell: str = "bash") -> list[str]:
    """Candidates for the last word of LINE (after a space: a new word), as Click's protocol
    sends them: bash "type,value" lines, zsh "type", "value", "help" line triples."""
    words = line.split(" ")
    env = {"_MAASCURL_COMPLETE": f"{shell}_complete", "COMP_WORDS": line}
    env["COMP_CWORD"] = words[-1] if shell == "fish" else str(len(words) - 1)
    result = CliRunner().invoke(cli, [], env=env, prog_name="maascurl")
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line]


def values(line: str) -> list[str]:
    return [entry.partition(",")[2] for entry in complete(line)]


Spawn = Callable[..., "subprocess.Popen[Any]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """subprocess.Popen for one test: whatever it started and left running is killed after
    it, so a failed assertion never leaves maascurl behind."""
    started: list[subprocess.Popen[Any]] = []

    def start(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def maascurl_script() -> str:
    """The installed console script under test: beside this Python, else on PATH.

    The script is the installed one (the entry point is what it tests); the maascurl it
    imports is this tree's, through the PYTHONPATH set above."""
    beside = Path(sys.executable).with_name("maascurl")
    found = str(beside) if beside.exists() else shutil.which("maascurl")
    assert found and os.access(found, os.X_OK), (
        "the maascurl console script is not installed; run pip install -e '.[test]'"
    )
    return found


def env_for_subprocess(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["MAASCURL_CONFIG"] = str(home / "config" / "config.toml")
    env["MAASCURL_CACHE_DIR"] = str(home / "cache")
    return env


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A misbehaving server (tests/hostile.py), used through $MAAS_API_URL and $MAAS_API_KEY."""
    with HostileServer() as server:
        monkeypatch.setenv("MAAS_API_URL", server.url)
        monkeypatch.setenv("MAAS_API_KEY", HOSTILE_KEY)
        yield server
