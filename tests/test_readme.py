"""The README's opening examples, run as written through bash against the simulator.

Only the server's URL, the machine's ID and the home directory are swapped for the
simulator's; the command lines themselves, pipes and jq included, are the README's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import env_for_subprocess
from simulator import MaasSimulator

REPO = Path(__file__).resolve().parent.parent
MACHINE = "abc001"  # allocated in the simulator, so it can be deployed and released


def intro_commands() -> list[str]:
    """The first indented block that runs maascurl, with continued lines joined."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    maascurl login"))
    commands: list[str] = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        text = line[4:].split("      # ")[0].rstrip()
        if commands and commands[-1].endswith("\\"):
            commands[-1] = commands[-1][:-1] + text.strip()
        else:
            commands.append(text)
    return commands


def test_the_intro_block_is_what_this_test_runs() -> None:
    commands = intro_commands()
    assert commands[0].startswith("maascurl login prod http://maas.example:5240/MAAS")
    assert any("--each -" in command for command in commands)
    assert any(command.startswith("maascurl delete") for command in commands)


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_every_intro_example_works(restored: MaasSimulator, home: Path) -> None:
    if not (Path(sys.executable).parent / "maascurl").exists():
        pytest.skip("the maascurl console script is not installed")
    (home / ".ssh").mkdir()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreadme user@laptop\n"
    (home / ".ssh" / "id_ed25519.pub").write_text(key)
    restored.add_file("x", b"hello from the README\n")
    restored.timed.seconds = 0.3  # the deployment takes a moment, as on a real region
    try:
        outputs = run_intro(restored, home)
    finally:
        restored.timed.reset()
    _, hostnames, table, deployed, renamed, sshkey, _, released, _ = outputs
    assert "brisk-otter" in hostnames.split()
    assert table.splitlines()[0].split() == ["hostname", "system_id", "status_name", "zone.name"]
    assert "brisk-otter" in table
    assert json.loads(deployed)["status_name"] == "Deployed"
    assert json.loads(renamed)["hostname"] == "web-01"
    assert json.loads(sshkey)["key"] == key  # MAAS stores the file's bytes, newline too
    assert (home / "out.bin").read_bytes() == b"hello from the README\n"
    assert {json.loads(line)["status_name"] for line in released.splitlines()} == {"Releasing"}
    assert MACHINE not in {machine["system_id"] for machine in restored.machines}


def run_intro(sim: MaasSimulator, home: Path) -> list[str]:
    maascurl = Path(sys.executable).parent / "maascurl"
    env = env_for_subprocess(home)
    env.update(HOME=str(home), PATH=f"{maascurl.parent}{os.pathsep}{env['PATH']}")
    outputs = []
    for command in intro_commands():
        line = command.replace("http://maas.example:5240/MAAS", sim.url)
        line = line.replace("abc123", MACHINE)
        given = sim.api_key + "\n" if line.startswith("maascurl login") else None
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            input=given,
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert "error" not in done.stderr, f"{command}\n{done.stderr}"
        outputs.append(done.stdout)
    return outputs
