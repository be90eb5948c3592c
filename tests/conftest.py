"""Shared fixtures: a MAAS simulator on 127.0.0.1 and an isolated maascurl home."""

from __future__ import annotations

import copy
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent))

from simulator import MaasSimulator

from maascurl import errors
from maascurl.cli import cli

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
def restored(sim: MaasSimulator) -> Iterator[MaasSimulator]:
    """The shared simulator, its machines and files put back after the test."""
    machines, files = copy.deepcopy(sim.machines), dict(sim.files)
    yield sim
    sim.machines[:] = machines
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


def on_terminal(argv: list[str], env: dict[str, str]) -> tuple[bytes, str, int]:
    """Run ARGV with stdout on a pseudo-terminal: (what reached it, stderr, exit status)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
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
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    status = process.wait(timeout=30)
    return b"".join(chunks).replace(b"\r\n", b"\n"), stderr, status


def env_for_subprocess(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["MAASCURL_CONFIG"] = str(home / "config" / "config.toml")
    env["MAASCURL_CACHE_DIR"] = str(home / "cache")
    return env
