"""TAB completion: Click's protocol, the shipped scripts, and real bash, zsh and fish."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from click.testing import CliRunner
from conftest import complete, env_for_subprocess, values
from simulator import FIXTURES

from maascurl.api.apidesc import save_cache
from maascurl.cli import cli

REPO = Path(__file__).resolve().parent.parent
FIXTURE = FIXTURES / "describe.json"
SHIPPED = {"bash": "maascurl.bash", "zsh": "_maascurl", "fish": "maascurl.fish"}
API_ROOT = "http://127.0.0.1:9/MAAS/api/2.0/"  # never contacted: completion reads the cache
CONFIG = """\
default = "lab"

[profiles.lab]
url = "http://127.0.0.1:9/MAAS"
api_key = "consumer:token:secret"

[profiles.prod]
url = "http://127.0.0.1:9/MAAS"
api_key = "consumer:token:secret"
"""


@pytest.fixture
def cached(home: Path) -> Path:
    """Profiles 'lab' (the default) and 'prod', with the API description cached."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(CONFIG)
    config.chmod(0o600)
    save_cache(API_ROOT, FIXTURE.read_bytes())
    return home


# --- Click's protocol -----------------------------------------------------------------


def test_commands(cached: Path) -> None:
    assert set(values("maascurl ")) >= {
        "get", "post", "put", "delete", "login", "logout",
        "profile", "refresh", "describe", "completion",
    }  # fmt: skip
    assert values("maascurl pro") == ["profile"]
    assert values("maascurl profile ") == ["default", "import", "list", "show"]


def test_options(cached: Path) -> None:
    assert values("maascurl get machines --ret") == ["--retries", "--retry-max-wait"]
    assert values("maascurl get machines --hea") == ["--header", "--header-row"]
    assert "--insecure" in values("maascurl login --")


def test_profile_names(cached: Path) -> None:
    assert values("maascurl get -p ") == ["lab", "prod"]
    assert values("maascurl get machines --profile p") == ["prod"]
    assert values("maascurl profile show l") == ["lab"]
    # Bash hands over "--profile=p" as one word; the answer keeps the option part.
    assert values("maascurl get --profile=p") == ["--profile=prod"]


def test_profile_names_before_the_method(cached: Path) -> None:
    """Options may come before the method (`maascurl -p prod get ...`); so may their TAB."""
    assert values("maascurl -p ") == ["lab", "prod"]
    assert values("maascurl --profile p") == ["prod"]
    assert "get" in values("maascurl -p prod ")  # after the value: the commands again
    assert "get" in values("maascurl -k ")  # a flag takes no value


def test_profile_names_without_config(home: Path) -> None:
    assert values("maascurl get -p ") == []


def test_paths(cached: Path) -> None:
    assert complete("maascurl get mach") == ["nospace,machines/"]
    assert "machines/{system_id}/" in values("maascurl get machines/")
    assert values("maascurl describe mach") == ["machines/"]


def test_ops_depend_on_path_and_method(cached: Path) -> None:
    get_ops = values("maascurl get machines op=")
    assert "op=list_allocated" in get_ops
    assert "op=deploy" not in get_ops
    assert complete("maascurl get machines op=list_al") == ["plain,op=list_allocated"]
    post_ops = values("maascurl post machines/abc op=")
    assert "op=deploy" in post_ops
    assert "op=list_allocated" not in post_ops
    assert complete("maascurl post machines/abc op=dep") == ["plain,op=deploy"]


def test_fields_of_the_chosen_op(cached: Path) -> None:
    assert complete("maascurl post machines/abc op=deploy distro") == ["nospace,distro_series="]
    assert "op=" in values("maascurl get machines ")
    # A value being typed is free text: nothing is offered.
    assert complete("maascurl post machines/abc op=deploy distro_series=n") == []


def test_without_cached_description(home: Path) -> None:
    assert complete("maascurl get mach") == []
    assert complete("maascurl get machines op=list_al") == []


def test_after_login(profile: str) -> None:
    # The description cached by `maascurl login` against the simulator.
    assert values("maascurl get machines op=list_al") == ["op=list_allocated"]


def test_zsh_protocol(cached: Path) -> None:
    assert complete("maascurl post machines/abc op=deploy distro", "zsh") == [
        "nospace",
        "distro_series=",
        "Value for distro_series.",
    ]
    assert complete("maascurl get -p l", "zsh") == ["plain", "lab", "_"]


def test_fish_protocol(cached: Path) -> None:
    assert complete("maascurl get machines op=list_al", "fish") == [
        "plain,op=list_allocated\tList allocated"
    ]
    assert complete("maascurl get -p ", "fish") == ["plain,lab", "plain,prod"]


# --- the scripts ----------------------------------------------------------------------


@pytest.mark.parametrize("shell", sorted(SHIPPED))
def test_shipped_scripts_are_current(shell: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    shipped = (REPO / "completions" / SHIPPED[shell]).read_text(encoding="utf-8")
    assert shipped == result.stdout, "run: python scripts/make_completions.py"


def _install_lines(text: str) -> list[tuple[str, str]]:
    """(the mkdir before it or "", the file) of each `maascurl completion SHELL > FILE`;
    lines continued after `&&` (in help or a comment) are read as one."""
    import re

    joined = re.sub(r"&&\s*\n[#\s]*", "&& ", text)
    found = re.finditer(r"(?:mkdir -p (\S+) && )?maascurl completion \w+ > (\S+)", joined)
    return [(match.group(1) or "", match.group(2)) for match in found]


def test_every_install_line_makes_its_directory() -> None:
    """A fresh account has no ~/.zfunc nor ~/.config/fish/completions: `> FILE` alone fails."""
    texts = {"completion --help": CliRunner().invoke(cli, ["completion", "--help"]).stdout}
    for shell in SHIPPED:
        texts[shell] = (REPO / "completions" / SHIPPED[shell]).read_text(encoding="utf-8")
    for where, text in texts.items():
        lines = _install_lines(text)
        assert lines, where
        for directory, file in lines:
            assert directory and file.startswith(directory + "/"), (where, file)
    assert "echo 'source ~/.local/share/bash-completion/completions/maascurl' >> ~/.bashrc" in (
        " ".join(texts["completion --help"].split())
    )


def test_completion_rejects_other_shells() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 2


# A completion call in a fresh interpreter: it records what it imported and
# every socket operation (audit events), and prints both at exit as JSON.
PROBE = """
import atexit, json, sys
events = []
sys.addaudithook(lambda event, args: event.startswith("socket.") and events.append(event))
def report():
    heavy = sorted(m for m in ("httpx", "httpcore", "rich", "oauthlib") if m in sys.modules)
    print(json.dumps({"modules": heavy, "socket": events}), file=sys.stderr)
atexit.register(report)
from maascurl.cli import main
main()
"""


def test_completion_is_light_and_offline(cached: Path) -> None:
    env = env_for_subprocess(cached)
    env.update(
        _MAASCURL_COMPLETE="bash_complete",
        COMP_WORDS="maascurl get machines op=list_al",
        COMP_CWORD="3",
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "plain,op=list_allocated\n"
    assert json.loads(proc.stderr.splitlines()[-1]) == {"modules": [], "socket": []}


def test_source_instruction_uses_the_shipped_script(cached: Path) -> None:
    # Click's own `_MAASCURL_COMPLETE=bash_source` gives maascurl's script too.
    env = env_for_subprocess(cached)
    env["_MAASCURL_COMPLETE"] = "bash_source"
    proc = subprocess.run(
        [sys.executable, "-m", "maascurl"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout == (REPO / "completions" / "maascurl.bash").read_text(encoding="utf-8")


# --- real interactive shells ------------------------------------------------------------

PROMPT = "PROMPT> "
# Ctrl-X l: each shell is set up to print its edit buffer, then empty it for the next line.
SHOW_LINE_KEY = "\x18l"
ECHO_READY = 'echo "REA""DY"'  # prints READY; the echoed command line does not show it


def _console_script() -> Path:
    beside = Path(sys.executable).parent / "maascurl"
    found = beside if beside.exists() else shutil.which("maascurl")
    if found is None:
        pytest.skip("the maascurl console script is not installed")
    return Path(found)


class Shell:
    """An interactive shell on a pseudo-terminal, with maascurl's completion loaded."""

    def __init__(self, argv: list[str], env: dict[str, str], setup: str) -> None:
        self.child = pexpect.spawn(
            argv[0], argv[1:], env=env, cwd=str(REPO), encoding="utf-8", timeout=60,
            dimensions=(40, 250),
        )  # fmt: skip
        self.child.sendline(setup)
        self.child.expect_exact("READY")
        self.child.expect_exact(PROMPT)

    def tab(self, text: str) -> str:
        """Type TEXT and TAB; return the edit buffer after the shell completed it.

        The key binding that prints the buffer also empties it, so what is typed next
        starts a new line in order, whenever the shell reads it. (A Ctrl-C sent once the
        buffer is seen could land while the binding still runs, on a loaded machine: it
        then interrupts the binding, not the line, and the next text is appended to the
        old line or the shell waits on.)
        """
        self.child.send(text + "\t" + SHOW_LINE_KEY)
        self.child.expect(r"LINE<(.*?)>\r?\n")
        line: str = self.child.match.group(1)
        return line

    def tab_and_enter(self, text: str) -> str:
        """Type TEXT and TAB, then Enter: run what the shell completed; return that line."""
        self.child.send(text + "\t" + SHOW_LINE_KEY)
        self.child.expect(r"LINE<(.*?)>\r?\n")
        line: str = self.child.match.group(1)
        self.child.send("\r")
        self.child.sendline(ECHO_READY)  # typed ahead: runs once TEXT's command has ended
        self.child.expect_exact("READY")
        self.child.expect_exact(PROMPT)
        return line

    def cd(self, folder: Path) -> None:
        self.child.sendline(f"cd '{folder}'")
        self.child.expect_exact(PROMPT)

    def close(self) -> None:
        self.child.close(force=True)


def _shell_env(home: Path, tmp: Path) -> dict[str, str]:
    env = env_for_subprocess(home)
    env["PATH"] = f"{_console_script().parent}{os.pathsep}{env.get('PATH', '')}"
    # No user files: readline, zsh and fish settings and history stay out of the way.
    env.update(TERM="dumb", INPUTRC=os.devnull, HOME=str(tmp), HISTFILE=os.devnull)
    env.update(XDG_CONFIG_HOME=str(tmp / "xdg-config"), XDG_DATA_HOME=str(tmp / "xdg-data"))
    env.pop("_MAASCURL_COMPLETE", None)
    return env


BASH_SETUP = (
    "source completions/maascurl.bash; "
    r"""bind -x '"\C-xl": printf "\nLINE<%s>\n" "$READLINE_LINE"; READLINE_LINE=""'; """
    f"PS1='{PROMPT}'; {ECHO_READY}"
)
ZSH_SETUP = (
    "fpath=($PWD/completions $fpath); autoload -U compinit; compinit -u; "
    """show-line() { print -r -- $'\\n'"LINE<$BUFFER>"; BUFFER= }; zle -N show-line; """
    f"bindkey '^Xl' show-line; PS1='{PROMPT}'; {ECHO_READY}"
)
FISH_SETUP = (
    "source completions/maascurl.fish; "
    """bind \\cxl 'echo; echo "LINE<"(commandline)">"; commandline ""'; """
    f"function fish_prompt; echo -n '{PROMPT}'; end; {ECHO_READY}"
)
SHELLS = {
    "bash": (["bash", "--norc", "--noprofile", "-i"], BASH_SETUP),
    "zsh": (["zsh", "-f", "-i"], ZSH_SETUP),
    "fish": (["fish", "--no-config", "-i"], FISH_SETUP),
}


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest, cached: Path, tmp_path: Path) -> Iterator[Shell]:
    argv, setup = SHELLS[request.param]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    sh = Shell(argv, _shell_env(cached, tmp_path), setup)
    yield sh
    sh.close()


def test_shell_completes_ops(shell: Shell) -> None:
    line = shell.tab("maascurl get machines op=list_al")
    assert line == "maascurl get machines op=list_allocated "
    line = shell.tab("maascurl post machines/abc op=dep")
    assert line == "maascurl post machines/abc op=deploy "


def test_shell_completes_field_without_space(shell: Shell) -> None:
    line = shell.tab("maascurl post machines/abc op=deploy distro")
    assert line == "maascurl post machines/abc op=deploy distro_series="


def test_shell_completes_profiles_and_paths(shell: Shell) -> None:
    assert shell.tab("maascurl get -p pr") == "maascurl get -p prod "
    assert shell.tab("maascurl get --profile=pr") == "maascurl get --profile=prod "
    assert shell.tab("maascurl get machines/abc op=deploy -p l") == (
        "maascurl get machines/abc op=deploy -p lab "
    )
    assert shell.tab("maascurl get mach") == "maascurl get machines/"


def test_shell_completes_files_after_at(shell: Shell, tmp_path: Path) -> None:
    key = tmp_path / "id_test.pub"
    key.write_text("ssh-ed25519 AAAA test\n")
    line = shell.tab(f"maascurl post account/prefs/sshkeys key@={tmp_path}/id_te")
    assert line == f"maascurl post account/prefs/sshkeys key@={key} "


def test_shell_completes_files_after_equals_at(shell: Shell, tmp_path: Path) -> None:
    key = tmp_path / "id_test.pub"
    key.write_text("ssh-ed25519 AAAA test\n")
    line = shell.tab(f"maascurl post account/prefs/sshkeys key=@{tmp_path}/id_te")
    assert line == f"maascurl post account/prefs/sshkeys key=@{key} "


# --- candidates that would run something if typed raw ---------------------------------

# Run by a shell, it creates the file PWNED in the current directory.
PAYLOAD = "x$(touch${IFS}PWNED)"


def test_a_hostile_file_name_is_typed_as_text(shell: Shell, tmp_path: Path) -> None:
    """A file another user planted beside yours, completed after name=@ and run with Enter."""
    bait = tmp_path / "bait"
    bait.mkdir()
    (bait / PAYLOAD).write_text("ssh-ed25519 AAAA planted\n")
    shell.cd(bait)
    line = shell.tab_and_enter("maascurl post account/prefs/sshkeys key=@x")
    assert "PWNED" in line  # the name was completed...
    assert not (bait / "PWNED").exists()  # ...and nothing ran


def test_bash_quotes_every_candidate(cached: Path, tmp_path: Path) -> None:
    (tmp_path / PAYLOAD).write_text("")
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    sh = Shell(SHELLS["bash"][0], _shell_env(cached, tmp_path), BASH_SETUP)
    try:
        sh.cd(tmp_path)
        line = sh.tab("maascurl post account/prefs/sshkeys key=@x")
    finally:
        sh.close()
    assert line == r"maascurl post account/prefs/sshkeys key=@x\$\(touch\$\{IFS\}PWNED\) "


def test_a_hostile_id_in_the_cache_is_never_offered(shell: Shell, tmp_path: Path) -> None:
    """IDs kept from an earlier listing (by an older maascurl, say): one that is shell
    syntax is not offered, the others are."""
    from maascurl.api.listings import _store, load_ids

    _store(API_ROOT, "machines/", [[PAYLOAD, "evil"], ["abc123", "node-1"]])
    assert load_ids(API_ROOT, "machines/") == [("abc123", "node-1")]
    empty = tmp_path / "empty"
    empty.mkdir()
    shell.cd(empty)
    assert shell.tab("maascurl get machines/a") == "maascurl get machines/abc123/"
    shell.tab_and_enter("maascurl get machines/x")
    assert not (empty / "PWNED").exists()
