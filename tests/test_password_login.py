"""login --username: a password traded for the user's API key at MAAS's accounts/authenticate/."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
import trustme
from click.testing import Result
from conftest import Run, env_for_subprocess, maascurl_script
from simulator import ACCOUNTS_AUTHENTICATE, CSRF_FAILURE, MaasSimulator

from maascurl.profiles.password import REFUSED

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONSUMER = f"maascurl@{socket.gethostname()}"
MAASCURL = maascurl_script()


def config_file(home: Path) -> Path:
    return home / "config" / "config.toml"


def stored_key(home: Path, name: str) -> str:
    key: str = tomllib.loads(config_file(home).read_text())["profiles"][name]["api_key"]
    return key


def authenticate_requests(sim: MaasSimulator) -> list[dict[str, str]]:
    return [
        {**dict(r.form), "_cookie": r.headers.get("cookie", ""), "_type": r.content_type}
        for r in sim.requests
        if r.path == ACCOUNTS_AUTHENTICATE
    ]


def password_login(run: Run, sim: MaasSimulator, password: str, name: str = "pw") -> Result:
    return run("login", name, sim.url, "--username", "admin", "--password", "-", input=password)


# ---------------------------------------------------------------- the login


def test_password_login_makes_a_working_profile(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "pw", sim.url, "--username", "admin", "--password", "-",
                 input=sim.password + "\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"logged in to {sim.url} as admin (admin)" in result.stderr
    assert "saved profile 'pw' (default)" in result.stderr
    key = stored_key(home, "pw")
    _, token, secret = key.split(":")
    # Exactly the token MAAS hands out for this consumer name.
    form = {"username": "admin", "password": sim.password, "consumer": CONSUMER}
    answer = httpx.post(sim.url + "/accounts/authenticate/", data=form).json()
    assert key == f"{answer['consumer_key']}:{answer['token_key']}:{answer['token_secret']}"
    del sim.requests[-1]
    # The capability check, the password POST, whether there is a v3 API (no: this is a
    # 3.4 region, so the password goes nowhere else), then the key check and description.
    paths = [(r.method, r.path) for r in sim.requests]
    assert paths == [
        ("GET", "/MAAS/api/2.0/version/"),
        ("POST", ACCOUNTS_AUTHENTICATE),
        ("GET", "/MAAS/a/openapi.json"),
        ("GET", "/MAAS/api/2.0/users/"),
        ("GET", "/MAAS/api/2.0/describe/"),
    ]
    [post] = authenticate_requests(sim)
    assert post == {
        "username": "admin",
        "password": sim.password,
        "consumer": CONSUMER,
        "_cookie": "",
        "_type": "application/x-www-form-urlencoded",
    }
    assert sim.requests[1].oauth is None and sim.requests[0].oauth is None
    for text in (sim.password, token, secret):
        assert text not in result.stdout + result.stderr
    sim.requests.clear()
    whoami = run("get", "users", "op=whoami", "-p", "pw")
    assert whoami.exit_code == 0, whoami.stderr
    assert json.loads(whoami.stdout)["username"] == "admin"
    assert sim.requests[0].oauth is not None
    assert sim.requests[0].oauth["oauth_token"] == token


def test_password_from_the_hidden_prompt(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "pw", sim.url, "--username", "admin", input=sim.password + "\n")
    assert result.exit_code == 0, result.stderr
    assert "Password for admin:" in result.stderr
    assert sim.password not in result.stdout + result.stderr
    assert stored_key(home, "pw").count(":") == 2


def test_a_password_with_spaces_is_sent_whole(sim: MaasSimulator, run: Run, home: Path) -> None:
    assert " " in sim.password
    result = password_login(run, sim, sim.password + "\r\n")
    assert result.exit_code == 0, result.stderr
    assert authenticate_requests(sim)[0]["password"] == sim.password


def test_logging_in_again_gets_the_same_key(sim: MaasSimulator, run: Run, home: Path) -> None:
    assert password_login(run, sim, sim.password).exit_code == 0
    first = stored_key(home, "pw")
    tokens = sim.tokens_of("admin")
    assert password_login(run, sim, sim.password, "pw2").exit_code == 0
    assert stored_key(home, "pw2") == first
    assert sim.tokens_of("admin") == tokens  # MAAS reused the consumer's token


@pytest.mark.parametrize("username", ["admin", "nobody"])
def test_wrong_credentials_are_exit_4_and_write_nothing(
    sim: MaasSimulator, run: Run, home: Path, username: str
) -> None:
    result = run("login", "pw", sim.url, "--username", username, "--password", "-",
                 input="not-the-password\n")  # fmt: skip
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == f"maascurl: error: {REFUSED}\n"
    assert not config_file(home).exists()
    assert not (home / "cache").exists()


def test_server_without_the_capability(
    sim: MaasSimulator, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capabilities = [c for c in sim.version["capabilities"] if c != "authenticate-api"]
    monkeypatch.setitem(sim.version, "capabilities", capabilities)
    result = password_login(run, sim, sim.password)
    assert result.exit_code == 1
    stderr = result.stderr
    assert stderr.count("\n") == 1 and stderr.startswith("maascurl: error: ")
    assert "'authenticate-api'" in stderr
    assert "web UI" in stderr and "maas apikey" in stderr
    assert authenticate_requests(sim) == []  # the password was never sent
    assert not config_file(home).exists()


def test_password_is_never_taken_from_argv(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = run("login", "pw", sim.url, "--username", "admin", "--password", "hunter2-secret")
    assert result.exit_code == 2
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "--password -" in result.stderr
    assert sim.requests == []
    assert not config_file(home).exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--password", "-"],
        ["--username", "admin", "consumer:token:secret"],
        ["--username", "admin", "--api-key-command", "echo a:b:c"],
        ["--username", "admin", "--no-check"],
    ],
)
def test_password_login_refuses_other_key_sources(
    sim: MaasSimulator, run: Run, home: Path, args: list[str]
) -> None:
    result = run("login", "pw", sim.url, *args, input=sim.password + "\n")
    assert result.exit_code == 2
    assert "token:secret" not in result.stderr
    assert sim.requests == []
    assert not config_file(home).exists()


def test_an_empty_password_is_refused(sim: MaasSimulator, run: Run, home: Path) -> None:
    result = password_login(run, sim, "\n")
    assert result.exit_code == 2
    assert authenticate_requests(sim) == []


def test_an_answer_that_is_not_a_token(sim: MaasSimulator, run: Run, home: Path) -> None:
    sim.queue(200, '{"hello": 1}', {"Content-Type": "application/json"}, path=ACCOUNTS_AUTHENTICATE)
    result = password_login(run, sim, sim.password)
    assert result.exit_code == 1
    assert "did not answer like a MAAS server" in result.stderr
    assert not config_file(home).exists()


# ---------------------------------------------------------------- the simulator's view


def test_simulator_authenticate_is_post_only(sim: MaasSimulator) -> None:
    answer = httpx.get(sim.url + "/accounts/authenticate/")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_simulator_authenticate_refuses_with_403(sim: MaasSimulator) -> None:
    answer = httpx.post(
        sim.url + "/accounts/authenticate/", data={"username": "admin", "password": "x"}
    )
    assert (answer.status_code, answer.content) == (403, b"")


def test_simulator_authenticate_reuses_a_consumers_token(sim: MaasSimulator) -> None:
    url = sim.url + "/accounts/authenticate/"
    form = {"username": "admin", "password": sim.password}
    first_token = httpx.post(url, data=form).json()  # no consumer: the user's first token
    assert ":".join(first_token[k] for k in ("consumer_key", "token_key", "token_secret")) == (
        sim.api_key
    )
    named = httpx.post(url, data={**form, "consumer": "tool@host"}).json()
    assert named["name"] == "tool@host" and named["token_key"] != first_token["token_key"]
    again = httpx.post(url, data={**form, "consumer": "tool@host"}).json()
    assert again == named


def test_simulator_applies_csrf_with_a_session_cookie(sim: MaasSimulator) -> None:
    url = sim.url + "/accounts/authenticate/"
    form = {"username": "admin", "password": sim.password}
    refused = httpx.post(url, data=form, headers={"Cookie": "sessionid=abc"})
    assert refused.status_code == 403 and refused.text == CSRF_FAILURE
    cookie = "sessionid=abc; csrftoken=tok"
    allowed = httpx.post(url, data=form, headers={"Cookie": cookie, "X-CSRFToken": "tok"})
    assert allowed.status_code == 200


def test_version_offers_the_capability(sim: MaasSimulator) -> None:
    assert "authenticate-api" in httpx.get(sim.api_root + "version/").json()["capabilities"]


# ---------------------------------------------------------------- secrets, end to end


def test_password_never_reaches_argv_output_or_files(sim: MaasSimulator, home: Path) -> None:
    """The installed command, its password on stdin: not in /proc/PID/cmdline while it
    waits for it, nor in its output, nor in any file beside the config or in the cache."""
    process = subprocess.Popen(
        [MAASCURL, "login", "pw", sim.url, "--username", "admin", "--password", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for_subprocess(home),
    )
    assert process.stdin is not None
    try:
        # It asks MAAS for the capability first, then reads the password: wait for that.
        for _ in range(600):
            if any(r.path.endswith("/version/") for r in sim.requests):
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert b"--username" in cmdline
        assert sim.password.encode() not in cmdline
        stdout, stderr = process.communicate(sim.password.encode() + b"\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    _, token, secret = stored_key(home, "pw").split(":")
    for secret_text in (sim.password, token, secret):
        assert secret_text.encode() not in stdout + stderr
    config = config_file(home)
    others = [p for p in home.rglob("*") if p.is_file() and p != config]
    assert others, "the cache and the lock file should be there"
    for path in others:
        data = path.read_bytes()
        for secret_text in (sim.password, token, secret):
            assert secret_text.encode() not in data, path
        assert urllib.parse.quote(sim.password).encode() not in data
    assert sim.password not in config.read_text()


def test_a_session_cookie_from_the_server_is_not_sent_back(
    sim: MaasSimulator, run: Run, home: Path
) -> None:
    """Sent back, a session cookie would switch on MAAS's CSRF check and the POST would fail."""
    sim.queue(
        200,
        json.dumps(sim.version),
        {"Content-Type": "application/json", "Set-Cookie": "sessionid=abc123; Path=/"},
        path="version/",
    )
    result = password_login(run, sim, sim.password)
    assert result.exit_code == 0, result.stderr
    assert [post["_cookie"] for post in authenticate_requests(sim)] == [""]


def test_password_login_over_https_uses_the_ca(
    https_maas: MaasSimulator, ca: trustme.CA, run: Run, home: Path, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    https_maas.requests.clear()
    # Without the CA nothing is trusted, and the password is not even read.
    refused = run("login", "tls", https_maas.url, "--username", "admin", "--password", "-",
                  input=https_maas.password + "\n")  # fmt: skip
    assert refused.exit_code == 6
    assert https_maas.requests == []
    result = run("login", "tls", https_maas.url, "--username", "admin", "--password", "-",
                 "--cacert", str(ca_file), input=https_maas.password + "\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert stored_key(home, "tls").count(":") == 2
    whoami = run("get", "users", "op=whoami", "-p", "tls")
    assert json.loads(whoami.stdout)["username"] == "admin"


def test_an_endless_answer_is_refused(sim: MaasSimulator, run: Run, home: Path) -> None:
    sim.queue(200, "x" * (2 * 1024 * 1024), {"Content-Type": "application/json"}, path="version/")
    result = password_login(run, sim, sim.password)
    assert result.exit_code == 1
    assert "answered with more than 1 MB" in result.stderr
    assert authenticate_requests(sim) == []


def test_the_servers_user_name_is_made_visible(sim: MaasSimulator, run: Run, home: Path) -> None:
    sim.add_user("mallory")
    sim.users["mallory"]["username"] = "mal\x1b]0;owned\x07lory"
    sim.passwords["mallory"] = "mallory's password"
    result = run("login", "m", sim.url, "--username", "mallory", "--password", "-",
                 input="mallory's password\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stderr and "as mal\\x1b]0;owned\\x07lory" in result.stderr


def test_simulator_authenticate_refuses_an_inactive_user(sim: MaasSimulator) -> None:
    sim.add_user("gone")
    sim.passwords["gone"] = "gone's password"
    sim.users["gone"]["is_active"] = False
    form = {"username": "gone", "password": "gone's password"}
    assert httpx.post(sim.url + "/accounts/authenticate/", data=form).status_code == 403


def test_spaces_at_the_ends_of_a_password_are_kept(
    sim: MaasSimulator, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django keeps a password's spaces (its password fields do not strip): only the line
    end read from stdin is dropped."""
    padded = "  padded password \t"
    monkeypatch.setitem(sim.passwords, "admin", padded)
    result = password_login(run, sim, padded + "\n")
    assert result.exit_code == 0, result.stderr
    assert authenticate_requests(sim)[0]["password"] == padded


def test_a_password_echoed_in_an_error_is_redacted(
    sim: MaasSimulator, run: Run, home: Path
) -> None:
    """An error page that repeats the form (a proxy's, a debug page) never shows the password."""
    echo = f"bad request: username=admin password={sim.password}"
    sim.queue(400, echo, {"Content-Type": "text/plain"}, path=ACCOUNTS_AUTHENTICATE)
    result = password_login(run, sim, sim.password + "\n")
    assert result.exit_code == 4
    assert "bad request: username=admin password=" in result.stderr
    assert sim.password not in result.stdout + result.stderr
    assert not config_file(home).exists()


def test_a_relative_cacert_works_from_any_directory(
    https_maas: MaasSimulator,
    ca: trustme.CA,
    run: Run,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--cacert ca.pem is stored as an absolute path: the profile is used from elsewhere."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.chdir(tmp_path)
    result = run("login", "tls", https_maas.url, "--username", "admin", "--password", "-",
                 "--cacert", "ca.pem", input=https_maas.password + "\n")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    whoami = run("get", "users", "op=whoami", "-p", "tls")
    assert whoami.exit_code == 0, whoami.stderr
    assert json.loads(whoami.stdout)["username"] == "admin"


@pytest.mark.parametrize("password", ["pw", "p@ss w0rd+%é"], ids=["short", "encoded"])
def test_a_password_echoed_short_or_encoded_is_redacted(
    sim: MaasSimulator, run: Run, home: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """Whatever its length, and as the form sent it (+ for a space) or percent-encoded."""
    monkeypatch.setitem(sim.passwords, "admin", password)
    percent = urllib.parse.quote(password, safe="")
    forms = [password, urllib.parse.quote_plus(password), percent, percent.lower()]
    echo = "bad request: " + " ".join(f"[{form}]" for form in forms)
    sim.queue(400, echo, {"Content-Type": "text/plain"}, path=ACCOUNTS_AUTHENTICATE)
    result = password_login(run, sim, password + "\n")
    assert result.exit_code == 4
    assert "bad request: [<redacted>] [<redacted>] [<redacted>] [<redacted>]" in result.stderr
    assert not any(form in result.stdout + result.stderr for form in forms)
