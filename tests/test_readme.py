"""The README, run as written: its first line, and every example against the sandbox.

The first line installs maascurl and runs `maascurl sandbox --run 'get machines -t'`:
test_the_first_line_ends_with_a_real_answer runs that command from the installed
entry point (this venv's console script). CI (.ci/run) runs the install and test
commands of the first two lines verbatim.

test_every_example_runs_against_the_sandbox does what the README tells a reader:
it starts `maascurl sandbox` (the "Try it without a MAAS" line; on a free port
through MAASCURL_SANDBOX_PORT, so that test runs side by side never meet),
exports MAASCURL_PROFILE=sandbox, and runs every example in README order through
`bash -o pipefail -c`, each line exactly as written (continued lines joined).

An example is a line of an indented code block that runs maascurl: it starts with
`maascurl ` (or `$ maascurl `, whose next lines are the output it must give), or
runs it after `&&` or in `source <(...)`. Not run:

- synopses: lines with a placeholder in capitals (PLACEHOLDERS) or [optional]
  words, syntax rather than examples;
- SKIPPED, each with its reason: what cannot run offline.

Examples that follow until Ctrl-C (`-f`) get Ctrl-C once they have had a moment.
The reader's own files that examples name (~/.ssh/id_ed25519.pub, snippet.conf,
rhel9.tar.gz, ...) are written first, small (READERS_FILES).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Spawn, env_for_subprocess, maascurl_script

from maascurl.sandbox import serve
from maascurl.sandbox.simulator import MaasSimulator

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

# Lines that are examples but cannot run offline, and why.
SKIPPED = {
    "maascurl login prod http://maas.example:5240/MAAS": "maas.example is no server",
    "maascurl login prod http://maas.example:5240/MAAS --username alice": "the same, for v3",
    "maascurl batch weekend.txt --report weekend.jsonl": "its lines name west, another region",
}
# Placeholders of the synopses (`maascurl login PROFILE URL`): syntax, not examples.
PLACEHOLDERS = ("METHOD", "PATH", "ITEM", "OPTIONS", "PROFILE", "URL", "FILE", "NAME")
SERVE = "maascurl sandbox"  # the line that starts the sandbox the examples run against

# The reader's own files, which examples name: path (from the working directory, or ~/...)
# -> content.
READERS_FILES = {
    "~/.ssh/id_ed25519.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreadme user@laptop\n",
    "snippet.conf": 'option domain-search "lab.example";\n',
    "notes.txt": "web servers, rack 2\n",
    "new-rack.tsv": "hqce7q\taz2\nwy8c6t\taz2\n",
    "rhel9.tar.gz": "not really a tarball\n" * 100,
    "win2022.dd.gz": "not really a disk image\n" * 100,
    "release-idle.sh": (
        "#!/bin/sh\n"
        "# Release the machines allocated to me that nobody deployed, and wait.\n"
        "maascurl get machines op=list_allocated | jq -r '.[].system_id' \\\n"
        "  | maascurl post 'machines/{}' op=release comment='idle' --each - --wait\n"
    ),
}


@dataclass
class Example:
    line: int  # in README.md
    command: str  # continued lines joined
    output: list[str] = field(default_factory=list)  # what a `$ ` example must print

    @property
    def follows(self) -> bool:
        """It runs until Ctrl-C."""
        return "-f" in self.command.split()


def code_lines() -> Iterator[tuple[int, str]]:
    """(line number, text) of the indented code lines, continued lines joined."""
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(README.read_text().splitlines(), 1):
        text = raw.strip()
        if not raw.startswith("    ") or not text:
            if pending is not None:
                yield pending
                pending = None
            continue
        if pending is not None:
            start, joined = pending
            pending = (start, joined.removesuffix("\\").rstrip() + " " + text)
        else:
            pending = (number, text)
        if not text.endswith(("\\", "|")):
            yield pending
            pending = None
    if pending is not None:
        yield pending


RUNS_MAASCURL = re.compile(r"^(\$ )?maascurl |&& maascurl |source <\(maascurl ")


def examples() -> list[Example]:
    found: list[Example] = []
    expecting: Example | None = None
    previous = 0
    for number, text in code_lines():
        if expecting is not None and number == previous + 1 and not RUNS_MAASCURL.search(text):
            expecting.output.append(text)  # the output shown under a `$ ` example
            previous = number
            continue
        expecting = None
        if not RUNS_MAASCURL.search(text):
            continue
        command = re.sub(r"\s{2,}# .*$", "", text.removeprefix("$ "))  # a trailing comment
        example = Example(number, command)
        found.append(example)
        if text.startswith("$ "):
            expecting, previous = example, number
    return found


def is_synopsis(command: str) -> bool:
    """A placeholder in capitals, or [optional] words: `maascurl profile list [--json]`."""
    placeholder = any(re.search(rf"(?<![=\w]){word}\b", command) for word in PLACEHOLDERS)
    return placeholder or re.search(r"\s\[", command) is not None


def test_the_examples_are_found_as_this_test_expects() -> None:
    found = examples()
    commands = [example.command for example in found]
    assert commands[0] == "maascurl login prod http://maas.example:5240/MAAS"  # the intro
    assert commands.count(SERVE) == 1
    assert set(SKIPPED) <= set(commands)
    assert sum(map(is_synopsis, commands)) == 11  # `maascurl METHOD PATH`, the profile commands
    assert any(example.output for example in found)  # `$ maascurl ...` and its output
    assert any("--each -" in command for command in commands)
    assert any(command.startswith("source <(maascurl completion bash)") for command in commands)
    assert len(found) - len(SKIPPED) - sum(map(is_synopsis, commands)) > 40


# ---------------------------------------------------------------- the first two lines


def first_lines() -> list[str]:
    lines = README.read_text().splitlines()
    return [line.strip() for line in lines[2:4]]


def test_the_first_line_ends_with_a_real_answer(home: Path) -> None:
    install, answer = first_lines()[0].rsplit(" && ", 1)
    assert install == "python3 -m venv .venv && .venv/bin/pip install ."
    assert answer == ".venv/bin/maascurl sandbox --run 'get machines -t'"
    env = env_for_subprocess(home)  # nothing configured: a fresh clone's reader
    env.pop("MAASCURL_SANDBOX_PORT", None)
    done = subprocess.run(
        ["bash", "-c", answer.replace(".venv/bin/maascurl", maascurl_script(), 1)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["hostname", "system_id", "status"]
    with MaasSimulator(seed=serve.DEFAULT_SEED, machines=serve.DEFAULT_MACHINES) as same:
        last = same.machines[-1]
        assert len(lines) == 2 + len(same.machines)
    assert lines[-1].split()[:3] == [last["hostname"], last["system_id"], last["status_name"]]


def test_ci_runs_the_readme_install_and_test_commands_verbatim() -> None:
    script = REPO / ".ci" / "run"
    if not script.exists():
        pytest.skip("no .ci/run here: an unpacked sdist carries no CI script")
    ci = script.read_text().splitlines()
    first, second = first_lines()
    assert first.startswith("python3 -m venv .venv && ") and "python3 -m venv .venv" in ci
    install, test = second.split(" && ")
    assert (install, test) == (".venv/bin/pip install '.[test]'", ".venv/bin/pytest -n auto")
    assert install in ci and test in ci


# ---------------------------------------------------------------- every example


def write_readers_files(home: Path, work: Path) -> None:
    for name, content in READERS_FILES.items():
        path = home / name[2:] if name.startswith("~/") else work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        if name.endswith(".sh"):
            path.chmod(0o755)


def run_line(example: Example, env: dict[str, str], work: Path) -> subprocess.CompletedProcess[str]:
    """Run one example through bash; one that follows (-f) gets Ctrl-C after a moment."""
    argv = ["bash", "-o", "pipefail", "-c", example.command]
    if not example.follows:
        return subprocess.run(argv, env=env, cwd=work, capture_output=True, text=True, timeout=180)
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=3)  # it never ends by itself
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, to the whole pipeline
        out, err = process.communicate(timeout=60)
    status = process.returncode
    # A pipeline's other end (jq) dies of the Ctrl-C too, and pipefail reports it.
    return subprocess.CompletedProcess(argv, 0 if status == 130 else status, out, err)


# What some examples must print (beyond exit 0 and no error), by their README line's command.
Check = Callable[[str, Path], None]


def _lines(out: str) -> list[str]:
    return out.splitlines()


CHECKS: dict[str, Check] = {
    "maascurl get machines op=list_allocated | jq -r '.[].hostname'": lambda out, _: _check(
        _lines(out) == ["hale-otter", "lush-lemur"], out
    ),
    "maascurl post machines/yrqtws op=deploy distro_series=noble --wait": lambda out, _: _check(
        json.loads(out)["status_name"] == "Deployed", out
    ),
    "maascurl put machines/yrqtws hostname=web-01": lambda out, _: _check(
        json.loads(out)["hostname"] == "web-01", out
    ),
    "maascurl get files op=get filename=hosts -o hosts.copy": lambda _, work: _check(
        (work / "hosts.copy").read_bytes() == Path("/etc/hosts").read_bytes(), ""
    ),
    (
        "maascurl get machines owner=admin status=deployed | jq -r '.[].system_id' | "
        "maascurl post 'machines/{}' op=release comment='end of run' --each -"
    ): lambda out, _: _check(
        {json.loads(line)["system_id"] for line in _lines(out)} == {"yrqtws", "y6hxgc"}, out
    ),
    "maascurl sandbox --run 'get machines status=ready -t'": lambda out, _: _check(
        len(_lines(out)) == 2 + 4, out
    ),  # a header, a rule, seed 1's Ready machines
    "maascurl post machines/wy8c6t op=release erase=true --wait --wait-timeout 2h": (
        lambda out, _: _check(json.loads(out)["status_name"] == "Ready", out)
    ),
    "maascurl post account/prefs/sshkeys key=@~/.ssh/id_ed25519.pub": lambda out, _: _check(
        json.loads(out)["key"] == READERS_FILES["~/.ssh/id_ed25519.pub"], out
    ),
}


def _check(condition: bool, shown: str) -> None:
    assert condition, shown


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
@pytest.mark.timeout(900)  # some fifty commands, a dozen of them waiting on 2-second actions
def test_every_example_runs_against_the_sandbox(spawn: Spawn, home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    write_readers_files(home, work)
    env = env_for_subprocess(home)
    env["HOME"] = str(home)
    bin_dir = str(Path(maascurl_script()).parent)  # `source .venv/bin/activate`
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("MAASCURL_SANDBOX_PORT", None)

    # Terminal 1: `maascurl sandbox`, serving until Ctrl-C (here on a free port).
    sandbox = spawn(
        ["bash", "-c", SERVE],
        env={**env, "MAASCURL_SANDBOX_PORT": "0"},
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert sandbox.stdout is not None
    assert sandbox.stdout.readline().startswith("maascurl sandbox: a MAAS stand-in at ")
    # Terminal 2: `export MAASCURL_PROFILE=sandbox`, then the examples, in order.
    env["MAASCURL_PROFILE"] = "sandbox"
    ran: list[str] = []
    for example in examples():
        command = example.command
        if command == SERVE or command in SKIPPED or is_synopsis(command):
            continue
        done = run_line(example, env, work)
        where = f"README.md:{example.line}: {command}"
        if example.output:  # `$ maascurl ...` and what it prints
            assert done.stdout + done.stderr == "\n".join(example.output) + "\n", where
            assert done.returncode == 2, where  # the one such example: a usage error
        else:
            assert done.returncode == 0, f"{where}\n{done.stderr}"
            assert "error" not in done.stderr, f"{where}\n{done.stderr}"
        if command in CHECKS:
            CHECKS[command](done.stdout, work)
        ran.append(command)
    assert set(CHECKS) <= set(ran)
    assert "yrqtws" not in {m for m in _sandbox_ids(env, work)}  # the intro deleted it

    sandbox.send_signal(signal.SIGINT)  # Ctrl-C in terminal 1
    assert sandbox.wait(timeout=30) == 0
    assert sandbox.stderr is not None
    assert sandbox.stderr.read() == "maascurl: sandbox stopped\n"


def _sandbox_ids(env: dict[str, str], work: Path) -> list[str]:
    done = subprocess.run(
        ["maascurl", "get", "machines"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [machine["system_id"] for machine in json.loads(done.stdout)]


def test_skipped_and_checked_examples_are_in_the_readme() -> None:
    """The lists above follow the README: an example renamed there must be renamed here."""
    commands = {example.command for example in examples()}
    assert set(SKIPPED) <= commands
    assert set(CHECKS) <= commands
    assert SERVE in commands


def test_the_readers_files_are_named_by_examples() -> None:
    text = README.read_text()
    for name in READERS_FILES:
        assert name in text, name
