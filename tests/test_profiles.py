"""login, logout, profile list/show/default, and which profile a request uses."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from simulator import MaasSimulator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = "/MAAS/api/2.0/"


def config_file(home: Path) -> Path:
    return home / "config" / "config.toml"


def read_config(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(config_file(home).read_text())
    return data


def whoami(run: Run, *args: str) -> str:
    result = run("get", "users", "op=whoami", *args)
    assert result.exit_code == 0, result.stderr
    name: str = json.loads(result.stdout)["username"]
    return name


@pytest.fixture
def bob_key(sim: MaasSimulator) -> str:
    return sim.add_user("bob")


@pytest.fixture
def two(profile: str, sim: MaasSimulator, run: Run, bob_key: str) -> str:
    """A second profile, 'two', logged in as bob; 'sim' (admin) stays the default."""
    result = run("login", "two", sim.url, bob_key)
    assert result.exit_code == 0, result.stderr
    sim.requests.clear()
    return "two"


# ---------------------------------------------------------------- login


def test_login_saves_the_profile(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "prod", sim.url, sim.api_key)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"logged in to {sim.url} as admin (admin)" in result.stderr
    assert "saved profile 'prod' (default)" in result.stderr
    config = read_config(home)
    assert config["default"] == "prod"
    assert config["profiles"]["prod"] == {"url": sim.url, "api_key": sim.api_key}
    assert stat.S_IMODE(config_file(home).stat().st_mode) == 0o600
    whoami_request, describe_request = sim.requests
    assert (whoami_request.path, whoami_request.query) == (ROOT + "users/", [("op", "whoami")])
    assert whoami_request.oauth is not None
    assert describe_request.path == ROOT + "describe/"
    assert any((home / "cache").iterdir())


def test_login_reads_the_key_from_stdin(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "prod", sim.url, "-", input=sim.api_key + "\n")
    assert result.exit_code == 0, result.stderr
    assert read_config(home)["profiles"]["prod"]["api_key"] == sim.api_key
    assert sim.api_key not in result.stdout + result.stderr


def test_login_prompts_for_the_key(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "prod", sim.url, input=sim.api_key + "\n")
    assert result.exit_code == 0, result.stderr
    assert "API key" in result.stderr
    assert sim.api_key not in result.stdout + result.stderr
    assert read_config(home)["profiles"]["prod"]["api_key"] == sim.api_key


def test_login_with_an_empty_key_from_stdin(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "prod", sim.url, "-", input="\n")
    assert result.exit_code == 2
    assert "no API key given" in result.stderr
    assert not config_file(home).exists()
    assert sim.requests == []


@pytest.mark.parametrize("key", ["nocolons", "a:b", "a:b:c:d", "a:b:", "a:b c:d"])
def test_login_refuses_a_malformed_key(sim: MaasSimulator, run: Run, home: Path, key: str) -> None:
    result = run("login", "prod", sim.url, key)
    assert result.exit_code == 2
    assert "consumer_key:token_key:token_secret" in result.stderr
    assert not config_file(home).exists()
    assert sim.requests == []


def test_login_with_a_key_the_server_rejects_saves_nothing(
    sim: MaasSimulator, run: Run, home: Path
) -> None:
    result = run("login", "prod", sim.url, "-", input="unkn0wnc:unkn0wnt:unkn0wns\n")
    assert result.exit_code == 4
    assert result.stderr == (
        "maascurl: error: the server refused the API key (its consumer key, the first part, "
        "is unknown: revoked or mistyped): 401 Unauthorized: Authorization Error: Invalid API "
        "key.\n"
    )
    assert not config_file(home).exists()


def test_login_with_a_revoked_token_saves_nothing(sim: MaasSimulator, run: Run, home: Path) -> None:
    consumer = sim.api_key.split(":")[0]
    result = run("login", "prod", sim.url, f"{consumer}:revoked0tok:revoked0sec")
    assert result.exit_code == 4
    assert "Invalid access token" in result.stderr
    assert not config_file(home).exists()


def test_login_no_check_saves_without_asking(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "prod", sim.url, "notyet:notyet0tok:notyet0sec", "--no-check")
    assert result.exit_code == 0, result.stderr
    assert read_config(home)["profiles"]["prod"]["api_key"] == "notyet:notyet0tok:notyet0sec"
    assert sim.requests == []  # nothing contacted, not even for the API description
    assert "logged in" not in result.stderr
    assert "maascurl refresh" in result.stderr


def test_login_no_check_reports_a_save_only_once_it_is_done(
    sim: MaasSimulator, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    result = run("login", "prod", sim.url, "notyet:notyet0tok:notyet0sec", "--no-check")
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert "saved" not in result.stderr and "not contacted" not in result.stderr


def test_login_to_a_closed_port_saves_nothing(run: Run, home: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("login", "prod", f"http://127.0.0.1:{port}/MAAS", "a:b:c")
    assert result.exit_code == 6
    assert "cannot connect" in result.stderr
    assert not config_file(home).exists()


@pytest.mark.parametrize("suffix", ["", "/", "/api/2.0/", "/api/2.0", "/api/"])
def test_login_normalises_the_url(sim: MaasSimulator, run: Run, home: Path, suffix: str) -> None:
    result = run("login", "prod", sim.url + suffix, sim.api_key)
    assert result.exit_code == 0, result.stderr
    assert read_config(home)["profiles"]["prod"]["url"] == sim.url
    assert sim.requests[0].path == ROOT + "users/"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/MAAS", "127.0.0.1:5240/MAAS", "http:///MAAS"])
def test_login_refuses_a_bad_url(sim: MaasSimulator, run: Run, home: Path, url: str) -> None:
    result = run("login", "prod", url, sim.api_key)
    assert result.exit_code == 2
    assert "is not an http:// or https:// URL" in result.stderr
    assert not config_file(home).exists()


@pytest.mark.parametrize("name", ["a b", "-x", "", "a/b", "x" * 65])
def test_login_refuses_a_bad_profile_name(
    sim: MaasSimulator, run: Run, home: Path, name: str
) -> None:
    result = run("login", name, sim.url, sim.api_key, "--no-check")
    assert result.exit_code == 2
    assert not config_file(home).exists()


def test_first_profile_is_the_default_and_later_ones_are_not(
    profile: str, two: str, run: Run, home: Path
) -> None:
    assert read_config(home)["default"] == "sim"
    assert sorted(read_config(home)["profiles"]) == ["sim", "two"]


def test_second_login_notes_it_is_not_the_default(
    profile: str, sim: MaasSimulator, run: Run, bob_key: str
) -> None:
    result = run("login", "two", sim.url, bob_key)
    assert result.exit_code == 0
    assert "saved profile 'two' in" in result.stderr
    assert "(default)" not in result.stderr


def test_login_again_replaces_the_key(
    profile: str, sim: MaasSimulator, run: Run, home: Path, bob_key: str
) -> None:
    assert run("login", "sim", sim.url, bob_key).exit_code == 0
    assert read_config(home)["profiles"]["sim"]["api_key"] == bob_key
    assert whoami(run) == "bob"


def test_login_stores_insecure_and_cacert(
    sim: MaasSimulator, run: Run, home: Path, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    result = run("login", "lab", sim.url, sim.api_key, "--insecure", "--cacert", str(ca))
    assert result.exit_code == 0, result.stderr
    stored = read_config(home)["profiles"]["lab"]
    assert stored["insecure"] is True
    assert stored["cacert"] == str(ca)
    shown = json.loads(run("profile", "show", "lab", "--json").stdout)
    assert (shown["insecure"], shown["cacert"]) == (True, str(ca))


def test_login_with_a_key_command(sim: MaasSimulator, run: Run, home: Path) -> None:
    command = f"{sys.executable} -c 'print(\"{sim.api_key}\")'"
    result = run("login", "cmd", sim.url, "--api-key-command", command)
    assert result.exit_code == 0, result.stderr
    stored = read_config(home)["profiles"]["cmd"]
    assert stored == {"url": sim.url, "api_key_command": command}
    assert whoami(run, "-p", "cmd") == "admin"


def test_login_refuses_a_key_and_a_key_command(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "cmd", sim.url, sim.api_key, "--api-key-command", "echo x")
    assert result.exit_code == 2
    assert "not both" in result.stderr
    assert not config_file(home).exists()


def test_login_with_a_failing_key_command(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "cmd", sim.url, "--api-key-command", "false")
    assert result.exit_code == 1
    assert result.stderr == "maascurl: error: profile 'cmd': api_key_command exited with status 1\n"
    assert not config_file(home).exists()


def test_login_without_a_path_gets_the_maas_path(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "lab.v2", sim.url.removesuffix("/MAAS"), sim.api_key)
    assert result.exit_code == 0, result.stderr
    assert read_config(home)["profiles"]["lab.v2"]["url"] == sim.url
    assert whoami(run, "-p", "lab.v2") == "admin"
    assert run("profile", "list").stdout == f"* lab.v2  {sim.url}\n"


def test_parallel_logins_keep_every_profile(sim: MaasSimulator, home: Path) -> None:
    from conftest import env_for_subprocess

    env = env_for_subprocess(home)
    import subprocess

    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "maascurl",
                "login",
                f"p{i}",
                sim.url,
                sim.api_key,
                "--no-check",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(6)
    ]
    assert [p.wait(timeout=30) for p in processes] == [0] * 6
    config = read_config(home)
    assert sorted(config["profiles"]) == [f"p{i}" for i in range(6)]
    assert config["default"] in config["profiles"]


# ---------------------------------------------------------------- logout


def test_logout_forgets_the_profile(profile: str, two: str, run: Run, home: Path) -> None:
    result = run("logout", "sim")
    assert result.exit_code == 0, result.stderr
    assert "removed profile 'sim'" in result.stderr
    assert "no default profile now" in result.stderr
    config = read_config(home)
    assert sorted(config["profiles"]) == ["two"]
    assert "default" not in config
    failed = run("get", "users", "op=whoami")
    assert failed.exit_code == 1
    assert "no profile chosen and no default" in failed.stderr


def test_logout_of_an_unknown_profile(profile: str, run: Run, home: Path) -> None:
    before = config_file(home).read_bytes()
    result = run("logout", "nope")
    assert result.exit_code == 1
    assert result.stderr == "maascurl: error: no profile named 'nope' (profiles: sim)\n"
    assert config_file(home).read_bytes() == before


# ---------------------------------------------------------------- profile list/show/default


def test_profile_list(profile: str, two: str, sim: MaasSimulator, run: Run, bob_key: str) -> None:
    result = run("profile", "list")
    assert result.exit_code == 0
    assert result.stdout == f"* sim  {sim.url}\n  two  {sim.url}\n"
    for secret in sim.api_key.split(":") + bob_key.split(":"):
        assert secret not in result.stdout + result.stderr


def test_profile_list_json(profile: str, two: str, sim: MaasSimulator, run: Run) -> None:
    result = run("profile", "list", "--json")
    assert json.loads(result.stdout) == [
        {"name": "sim", "url": sim.url, "default": True},
        {"name": "two", "url": sim.url, "default": False},
    ]
    assert "api_key" not in result.stdout


def test_profile_list_when_there_are_none(run: Run) -> None:
    result = run("profile", "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no profiles" in result.stderr
    assert json.loads(run("profile", "list", "--json").stdout) == []


def test_profile_show_redacts_the_key(
    profile: str, sim: MaasSimulator, run: Run, home: Path
) -> None:
    consumer, token, secret = sim.api_key.split(":")
    result = run("profile", "show", "sim")
    assert result.exit_code == 0
    assert result.stdout == (
        f"name: sim\nurl: {sim.url}\ndefault: true\n"
        f"api_key: {consumer}:<redacted>:<redacted>\ninsecure: false\n"
        f"config: {home / 'config' / 'config.toml'}\n"
    )
    assert token not in result.stdout + result.stderr
    assert secret not in result.stdout + result.stderr


def test_profile_show_without_a_name_shows_the_default_and_the_config_file(
    profile: str, sim: MaasSimulator, run: Run, home: Path
) -> None:
    """Issue 22: `profile show` alone is the default profile, with the file it lives in."""
    config = home / "config" / "config.toml"
    assert run("profile", "show").stdout == run("profile", "show", "sim").stdout
    assert json.loads(run("profile", "show", "--format", "json").stdout)["config"] == str(config)
    run("login", "lab", sim.url, sim.api_key)
    run("profile", "default", "lab")
    assert run("profile", "show").stdout.startswith("name: lab\n")
    run("logout", "lab")  # the default goes with it
    result = run("profile", "show")
    assert result.exit_code == 1
    assert result.stderr == (
        f"maascurl: error: no default profile in {config}; choose one with "
        "`maascurl profile default NAME` (profiles: sim)\n"
    )


def test_profile_show_json_redacts_the_key(
    profile: str, sim: MaasSimulator, run: Run, home: Path
) -> None:
    consumer, token, secret = sim.api_key.split(":")
    result = run("profile", "show", "sim", "--json")
    assert json.loads(result.stdout) == {
        "name": "sim",
        "url": sim.url,
        "default": True,
        "api_key": f"{consumer}:<redacted>:<redacted>",
        "insecure": False,
        "cacert": None,
        "config": str(home / "config" / "config.toml"),
    }
    assert token not in result.stdout + result.stderr
    assert secret not in result.stdout + result.stderr
    assert run("profile", "show", "sim", "--format", "json").stdout == result.stdout


def test_profile_show_unknown(profile: str, run: Run) -> None:
    result = run("profile", "show", "nope")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "maascurl: error: no profile named 'nope' (profiles: sim)\n"


def test_profile_default(profile: str, two: str, run: Run, home: Path) -> None:
    assert whoami(run) == "admin"
    result = run("profile", "default", "two")
    assert result.exit_code == 0
    assert "'two' is now the default profile" in result.stderr
    assert read_config(home)["default"] == "two"
    assert whoami(run) == "bob"
    assert run("profile", "list").stdout.splitlines()[1].startswith("* two")


def test_profile_default_unknown(profile: str, run: Run, home: Path) -> None:
    result = run("profile", "default", "nope")
    assert result.exit_code == 1
    assert read_config(home)["default"] == "sim"


# ---------------------------------------------------------------- choosing a profile


def test_profile_option_picks_the_profile(
    profile: str, two: str, sim: MaasSimulator, run: Run
) -> None:
    assert whoami(run, "-p", "two") == "bob"
    assert whoami(run, "--profile", "sim") == "admin"
    assert whoami(run) == "admin"


def test_environment_profile_variable(
    profile: str, two: str, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAASCURL_PROFILE", "two")
    assert whoami(run) == "bob"
    assert whoami(run, "-p", "sim") == "admin"  # -p wins


def test_url_and_key_from_the_environment_without_a_config(
    sim: MaasSimulator, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_API_URL", sim.url + "/api/2.0/")
    monkeypatch.setenv("MAAS_API_KEY", sim.api_key)
    assert whoami(run) == "admin"
    assert sim.requests[-1].path == ROOT + "users/"
    assert not config_file(home).exists()


def test_environment_url_without_a_key(
    sim: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_API_URL", sim.url)
    result = run("get", "machines")
    assert result.exit_code == 1
    assert result.stderr == (  # issue 22: it names the variable to set
        "maascurl: error: $MAAS_API_URL is set but $MAAS_API_KEY is not: set MAAS_API_KEY to "
        "the API key (consumer_key:token_key:token_secret), or send unsigned with --anonymous\n"
    )
    assert sim.requests == []
    anonymous = run("get", "version", "--anonymous")
    assert anonymous.exit_code == 0, anonymous.stderr


def test_environment_url_beats_the_default_profile(
    profile: str, sim: MaasSimulator, run: Run, bob_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_API_URL", sim.url)
    monkeypatch.setenv("MAAS_API_KEY", bob_key)
    assert whoami(run) == "bob"
    monkeypatch.setenv("MAASCURL_PROFILE", "sim")
    assert whoami(run) == "admin"  # a named profile beats the URL variables


def test_unknown_profile_is_a_clear_error(profile: str, run: Run) -> None:
    result = run("get", "machines", "-p", "staging")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "maascurl: error: no profile named 'staging' (profiles: sim)\n"


def test_unknown_profile_from_the_environment(
    profile: str, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAASCURL_PROFILE", "staging")
    result = run("get", "machines")
    assert result.exit_code == 1
    assert "no profile named 'staging'" in result.stderr


def test_no_profile_at_all(sim: MaasSimulator, run: Run) -> None:
    result = run("get", "machines")
    assert (result.exit_code, result.stdout) == (1, "")
    assert "run `maascurl login NAME URL`" in result.stderr
    assert sim.requests == []


def test_anonymous_request_is_unsigned(profile: str, sim: MaasSimulator, run: Run) -> None:
    sim.requests.clear()
    result = run("get", "version", "--anonymous")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == sim.version
    (request,) = sim.requests
    assert "authorization" not in request.headers
    assert request.oauth is None


def test_anonymous_full_url_needs_no_profile(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("get", sim.api_root + "version/", "--anonymous")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == sim.version
    assert "authorization" not in sim.requests[-1].headers
    assert not config_file(home).exists()


def test_config_readable_by_others_gets_a_warning(profile: str, run: Run, home: Path) -> None:
    os.chmod(config_file(home), 0o644)
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0
    assert "readable by others" in result.stderr
    assert f"chmod 600 {config_file(home)}" in result.stderr


def test_broken_config_file_is_reported(run: Run, home: Path) -> None:
    config_file(home).parent.mkdir(parents=True)
    config_file(home).write_text("default = \n[profiles.x\n")
    os.chmod(config_file(home), 0o600)
    result = run("get", "machines")
    assert result.exit_code == 1
    assert str(config_file(home)) in result.stderr
    assert "fix or remove the file" in result.stderr
