"""Resilience against real failures: clock skew, busy servers, redirects, broken
downloads, concurrent config writes, leaked secrets, timeouts and Ctrl-C.

Everything runs against the MAAS simulator (or small servers of its own) on
127.0.0.1; each test would fail without the code it names in its docstring.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess, maascurl_script, wait_for
from simulator import MaasSimulator, RecordedRequest

from maascurl.profiles import target as target_module
from maascurl.wire.auth import MaasAuth

SKEW_WARNING = re.compile(
    r"^maascurl: warning: this machine's clock is (\d+) s behind the MAAS server; corrected$"
)
LOCK_CONFLICT = "Can't lock, node is not deployed or deploying"
FAST = ("--retry-max-wait", "0.05")


def nonces(requests: list[RecordedRequest]) -> list[str]:
    return [r.oauth["oauth_nonce"] for r in requests if r.oauth]


def signed(request: RecordedRequest) -> bool:
    return request.oauth is not None and bool(request.oauth.get("oauth_signature"))


def config_file(home: Path) -> Path:
    return home / "config" / "config.toml"


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = config_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- 1. clock skew -----------------------------------------------------------


def test_clock_skew_is_corrected_once_and_remembered(api: MaasSimulator, run: Run) -> None:
    """auth.MaasAuth.auth_flow + Clock.learn re-sign; state.save_clock_offset keeps it."""
    api.clock_offset = 1000
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "admin"
    warnings = [line for line in result.stderr.splitlines() if "clock" in line]
    assert len(warnings) == 1, result.stderr
    match = SKEW_WARNING.match(warnings[0])
    assert match and abs(int(match.group(1)) - 1000) <= 2, warnings[0]
    first, second = api.requests
    assert first.oauth and second.oauth
    assert first.oauth["oauth_nonce"] != second.oauth["oauth_nonce"]
    assert int(second.oauth["oauth_timestamp"]) - int(first.oauth["oauth_timestamp"]) >= 998

    state = json.loads(Path(os.environ["MAASCURL_CACHE_DIR"], "state.json").read_text())
    offsets = [entry["clock_offset"] for entry in state.values()]
    assert len(offsets) == 1 and abs(offsets[0] - 1000) <= 2

    api.requests.clear()
    again = run("get", "users", "op=whoami")
    assert again.exit_code == 0, again.stderr
    assert "clock" not in again.stderr
    assert len(api.requests) == 1


def test_login_corrects_and_remembers_clock_skew(sim: MaasSimulator, run: Run) -> None:
    """login.whoami signs through target.make_auth, so login learns the offset too."""
    sim.clock_offset = 1000
    result = run("login", "skewed", sim.url, sim.api_key)
    assert result.exit_code == 0, result.stderr
    assert len([line for line in result.stderr.splitlines() if "clock" in line]) == 1
    sim.requests.clear()
    again = run("get", "users", "op=whoami", "-p", "skewed")
    assert again.exit_code == 0 and "clock" not in again.stderr
    assert len(sim.requests) == 1


def test_multipart_post_is_resent_intact_after_the_clock_correction(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """The body (multipart.MultipartBody) is iterated again when auth_flow re-signs."""
    api.clock_offset = 1000
    payload = bytes(range(256)) * 64
    (tmp_path / "blob").write_bytes(payload)
    result = run("post", "files", "filename=skewed.bin", f"file@={tmp_path / 'blob'}")
    assert result.exit_code == 0, result.stderr
    first, second = api.requests
    assert first.body == second.body
    assert second.form == [("filename", "skewed.bin")]
    assert second.files == [("file", "file", payload)]
    assert api.files["skewed.bin"]["content"] == payload


def test_a_corrupt_state_file_does_not_break_the_correction(api: MaasSimulator, run: Run) -> None:
    """state.save_clock_offset must tolerate an entry that is not a table."""
    cache = Path(os.environ["MAASCURL_CACHE_DIR"])
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "state.json").write_text(json.dumps({f"sim@{api.api_root}": 7, "other": [1]}))
    api.clock_offset = 1000
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert len(api.requests) == 2
    api.requests.clear()
    assert run("get", "users", "op=whoami").exit_code == 0
    assert len(api.requests) == 1


# --- 2. retries ----------------------------------------------------------------


def test_503_with_retry_after_is_retried_with_a_fresh_nonce(api: MaasSimulator, run: Run) -> None:
    """client._send_with_retries and _retry_after (capped by --retry-max-wait)."""
    api.queue(503, "busy", {"Retry-After": "10"}, path="users/")
    result = run("get", "users", "op=whoami", *FAST)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "admin"
    assert "503" in result.stderr and "retrying in 0.05 s (1/3)" in result.stderr
    assert len(api.requests) == 2
    assert len(set(nonces(api.requests))) == 2


def test_409_with_retry_after_is_retried_even_for_post(api: MaasSimulator, run: Run) -> None:
    """RETRY_STATUSES has 409: MAAS asks for a retry after a rolled-back transaction."""
    api.queue(409, "conflict", {"Retry-After": "1"}, path="machines/abc000/")
    args = ("post", "machines/abc000", "op=deploy", "distro_series=noble")
    result = run(*args, *FAST)
    assert result.exit_code == 0, result.stderr
    first, second = api.requests
    assert first.method == second.method == "POST"
    assert first.body == second.body
    assert ("distro_series", "noble") in second.form
    assert len(set(nonces(api.requests))) == 2
    assert api.machines[0]["status_name"] == "Deploying"


def test_409_without_retry_after_is_never_retried(api: MaasSimulator, run: Run) -> None:
    """_retry_after returns None without the header: a real conflict is final."""
    api.queue(409, LOCK_CONFLICT, path="machines/abc000/")
    result = run("post", "machines/abc000", "op=lock", *FAST)
    assert result.exit_code == 4
    assert LOCK_CONFLICT in result.stderr
    assert "retrying" not in result.stderr
    assert len(api.requests) == 1


@pytest.mark.parametrize("when", ["0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_retry_after_in_the_past_or_as_a_date(api: MaasSimulator, run: Run, when: str) -> None:
    """_retry_after reads seconds or an HTTP date, never waits a negative time."""
    api.queue(503, "busy", {"Retry-After": when}, path="users/")
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert "retrying in 0 s (1/3)" in result.stderr
    assert len(api.requests) == 2


def test_retry_after_that_is_not_a_time_is_not_retried(api: MaasSimulator, run: Run) -> None:
    api.queue(503, "busy", {"Retry-After": "soon"}, path="users/")
    result = run("get", "users", "op=whoami", *FAST)
    assert result.exit_code == 5
    assert len(api.requests) == 1


def test_retries_zero_means_none(api: MaasSimulator, run: Run) -> None:
    api.queue(503, "busy", {"Retry-After": "0"}, path="users/")
    result = run("get", "users", "op=whoami", "--retries", "0")
    assert result.exit_code == 5
    assert "retrying" not in result.stderr
    assert len(api.requests) == 1


def test_retries_are_bounded(api: MaasSimulator, run: Run) -> None:
    api.queue(503, "still busy", {"Retry-After": "0"}, path="users/", count=10)
    result = run("get", "users", "op=whoami", "--retries", "2", *FAST)
    assert result.exit_code == 5
    assert result.stderr.strip().endswith("503 Service Unavailable: still busy")
    assert result.stderr.count("retrying") == 2
    assert len(api.requests) == 3


def _dead_profile(home: Path) -> None:
    write_config(
        home,
        f'default = "dead"\n[profiles.dead]\nurl = "http://127.0.0.1:{free_port()}/MAAS"\n'
        'api_key = "aaaa:bbbbbbbb:cccccccc"\n',
    )


def test_connection_refused_get_is_retried_then_exit_6(home: Path, run: Run) -> None:
    """A refused connect never reached the server: GET and DELETE are retried."""
    _dead_profile(home)
    result = run("get", "version", "--retries", "2", *FAST)
    assert result.exit_code == 6
    assert result.stderr.count("cannot connect; retrying") == 2
    assert "maascurl: error: cannot connect to 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_connection_refused_post_is_not_retried(home: Path, run: Run) -> None:
    """POST is not idempotent: client.IDEMPOTENT keeps it to a single attempt."""
    _dead_profile(home)
    result = run("post", "machines", "op=allocate", "--retries", "2", *FAST)
    assert result.exit_code == 6
    assert "retrying" not in result.stderr
    assert "maascurl: error: cannot connect to 127.0.0.1:" in result.stderr


# --- 3. redirects --------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_same_origin_redirect_is_followed_and_signed_afresh(
    api: MaasSimulator, run: Run, status: int
) -> None:
    """client.send follows a same-origin hop; the auth flow signs it with a new nonce."""
    api.queue(status, "", {"Location": "/MAAS/api/2.0/users/?op=whoami"}, path="machines/")
    result = run("get", "machines")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "admin"
    first, second = api.requests
    assert second.path == "/MAAS/api/2.0/users/" and second.query == [("op", "whoami")]
    assert signed(first) and signed(second)
    assert len(set(nonces(api.requests))) == 2


def test_cookies_are_never_sent_back(api: MaasSimulator, run: Run) -> None:
    """client.open_client's cookie policy accepts no domain: a MAAS session cookie
    would switch on Django's CSRF check for the signed requests that follow."""
    cookie = {"Set-Cookie": "sessionid=abc123; Path=/MAAS/", "Retry-After": "0"}
    api.queue(503, "busy", cookie, path="machines/")
    api.queue(302, "", {**cookie, "Location": "/MAAS/api/2.0/users/?op=whoami"}, path="machines/")
    result = run("get", "machines", *FAST)
    assert result.exit_code == 0, result.stderr
    assert len(api.requests) == 3
    assert all("cookie" not in request.headers for request in api.requests)


def test_redirect_to_a_query_oauthlib_would_refuse(api: MaasSimulator, run: Run) -> None:
    """auth.MaasAuth.sign leaves the query out: PLAINTEXT does not cover it, and
    oauthlib raises ValueError on characters such as '|', '[' or a bad %-escape."""
    location = "/MAAS/api/2.0/users/?op=whoami&x=a|b[1]^{c}`&y=%zz"
    api.queue(302, "", {"Location": location}, path="machines/")
    result = run("get", "machines")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "admin"
    assert signed(api.requests[1]) and ("op", "whoami") in api.requests[1].query


def test_a_redirect_loop_is_bounded(api: MaasSimulator, run: Run) -> None:
    """client.MAX_REDIRECTS: a loop ends with the last 3xx (exit 3)."""
    api.queue(302, "", {"Location": "/MAAS/api/2.0/machines/"}, path="machines/", count=100)
    result = run("get", "machines")
    assert result.exit_code == 3
    assert "more than 10 redirects, the last to http://" in result.stderr
    assert "--follow-any" not in result.stderr
    assert len(api.requests) == 11
    assert len(set(nonces(api.requests))) == 11


def test_307_keeps_a_posts_method_and_body(api: MaasSimulator, run: Run) -> None:
    api.queue(307, "", {"Location": "/MAAS/api/2.0/machines/abc000/?op=deploy"}, path="machines/")
    result = run("post", "machines", "op=allocate", "distro_series=noble")
    assert result.exit_code == 0, result.stderr
    first, second = api.requests
    assert second.method == "POST" and second.path == "/MAAS/api/2.0/machines/abc000/"
    assert second.body == first.body and ("distro_series", "noble") in second.form
    assert len(set(nonces(api.requests))) == 2
    assert api.machines[0]["status_name"] == "Deploying"


def test_303_turns_a_post_into_a_get(api: MaasSimulator, run: Run) -> None:
    api.queue(303, "", {"Location": "/MAAS/api/2.0/users/?op=whoami"}, path="machines/")
    result = run("post", "machines", "op=allocate", "zone=nowhere")
    assert result.exit_code == 0, result.stderr
    second = api.requests[1]
    assert second.method == "GET" and second.body == b""
    assert "content-type" not in second.headers and "content-length" not in second.headers
    assert signed(second)


def test_redirect_to_another_origin_is_not_followed(
    api: MaasSimulator, run: Run, other_origin: tuple[str, list[dict[str, str]]]
) -> None:
    """client._same_origin + _cross_origin: credentials never leave the profile's origin."""
    target, seen = other_origin
    api.queue(302, "", {"Location": target}, path="machines/")
    result = run("get", "machines")
    assert result.exit_code == 3
    assert target in result.stderr and "--follow-any" in result.stderr
    assert result.stdout == ""
    assert seen == []


def test_follow_any_follows_another_origin_without_credentials(
    api: MaasSimulator, run: Run, other_origin: tuple[str, list[dict[str, str]]]
) -> None:
    target, seen = other_origin
    api.queue(307, "", {"Location": target}, path="machines/")
    result = run("post", "machines", "op=allocate", "zone=z1", "--follow-any")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"other": True}
    assert f"following redirect to {target} without credentials" in result.stderr
    [hop] = seen
    assert "authorization" not in hop and "cookie" not in hop
    assert hop["method"] == "POST" and "zone" in hop["body"]
    assert hop["body"].encode("latin-1") == api.requests[0].body


def test_follow_any_closes_its_connection_to_the_other_origin(
    api: MaasSimulator, run: Run, other_origin: tuple[str, list[dict[str, str]]]
) -> None:
    """The client opened for the other origin is closed with its answer, not left to the GC.

    A fleet run follows such redirects line after line in one process.
    """
    target, seen = other_origin
    api.queue(307, "", {"Location": target}, path="machines/")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = run("get", "machines", "--follow-any")
        gc.collect()
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 1
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


# --- 4. downloads ----------------------------------------------------------------


def _old_file(path: Path) -> os.stat_result:
    path.write_bytes(b"previous contents\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path.stat()


def test_truncated_download_leaves_the_old_file_untouched(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """output.save_body writes to a temp file and renames only a complete body."""
    out = tmp_path / "dl" / "image.bin"
    out.parent.mkdir()
    before = _old_file(out)
    binary = {"Content-Type": "application/octet-stream"}
    api.queue(200, b"x" * 100_000, binary, path="files/", truncate=5_000)
    result = run("get", "files", "op=get", "filename=image.bin", "-o", str(out), "--retries", "0")
    assert result.exit_code == 6, result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_bytes() == b"previous contents\n"
    assert out.stat().st_mtime == before.st_mtime and out.stat().st_ino == before.st_ino
    assert os.listdir(out.parent) == ["image.bin"]


def test_complete_download_replaces_the_file_atomically(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """A new inode is renamed into place: a hard link to the old file keeps the old bytes."""
    data = bytes(range(256)) * 1000
    api.add_file("image.bin", data)
    out = tmp_path / "dl" / "image.bin"
    out.parent.mkdir()
    _old_file(out)
    os.link(out, tmp_path / "old-link")
    result = run("get", "files", "op=get", "filename=image.bin", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == data
    assert (tmp_path / "old-link").read_bytes() == b"previous contents\n"
    assert sorted(os.listdir(out.parent)) == ["image.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


# --- 5. config -------------------------------------------------------------------


def test_concurrent_logins_lose_no_profile(sim: MaasSimulator, home: Path) -> None:
    """config.update_config: a locked read-modify-write and an atomic replace."""
    script, env = maascurl_script(), env_for_subprocess(home)
    procs = [
        subprocess.Popen(
            [script, "login", f"p{i}", sim.url, sim.api_key, "--no-check"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(10)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    listed = subprocess.run(
        [script, "profile", "list", "--json"], env=env, capture_output=True, check=True
    )
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert names == {f"p{i}" for i in range(10)}
    assert stat.S_IMODE(config_file(home).stat().st_mode) == 0o600
    assert [p.name for p in config_file(home).parent.iterdir() if p.suffix == ".tmp"] == []


def test_a_broken_config_is_reported_and_never_rewritten(
    sim: MaasSimulator, home: Path, run: Run
) -> None:
    text = 'default = "a"\n\n[profiles.a]\nurl = "http://127.0.0.1:1/MAAS"\napi_key = \n'
    path = write_config(home, text)
    result = run("get", "machines")
    assert result.exit_code == 1
    assert str(path) in result.stderr and "line 5" in result.stderr
    login = run("login", "b", sim.url, sim.api_key, "--no-check")
    assert login.exit_code == 1
    assert str(path) in login.stderr
    assert path.read_bytes() == text.encode()


def test_a_config_readable_by_others_gets_a_warning(
    sim: MaasSimulator, home: Path, run: Run
) -> None:
    path = write_config(home, "", mode=0o644)
    result = run("profile", "list")
    assert result.exit_code == 0
    assert f"chmod 600 {path}" in result.stderr


def test_a_new_config_file_has_mode_0600(sim: MaasSimulator, home: Path, run: Run) -> None:
    result = run("login", "fresh", sim.url, sim.api_key, "--no-check")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(config_file(home).stat().st_mode) == 0o600
    assert "chmod" not in result.stderr


# --- 6. keys ---------------------------------------------------------------------


def _secrets(api_key: str) -> tuple[str, str]:
    _, token_key, token_secret = api_key.split(":")
    return token_key, token_secret


def _assert_hidden(api_key: str, *texts: str) -> None:
    for secret in _secrets(api_key):
        for text in texts:
            assert secret not in text


@pytest.mark.parametrize(
    "args",
    [
        ("get", "machines", "-v"),
        ("get", "machines", "-v", "-i"),
        ("post", "machines", "op=allocate", "--offline"),
        ("profile", "show", "sim"),
        ("profile", "show", "sim", "--json"),
    ],
)
def test_keys_never_shown(api: MaasSimulator, run: Run, args: tuple[str, ...]) -> None:
    """auth.redact_authorization (-v, --offline) and login.redact_key (profile show)."""
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert "<redacted>" in result.stdout + result.stderr
    _assert_hidden(api.api_key, result.stdout, result.stderr)


def test_key_never_shown_in_a_401(sim: MaasSimulator, run: Run) -> None:
    """The server echoes the token key it refuses; errors.redact_secrets hides it."""
    consumer = sim.api_key.split(":")[0]
    bogus = f"{consumer}:NotAToken1234567:NotASecret1234567890"
    assert run("login", "bad", sim.url, bogus, "--no-check").exit_code == 0
    result = run("get", "machines", "-v")
    assert result.exit_code == 4
    assert "Invalid access token" in result.stderr
    _assert_hidden(bogus, result.stdout, result.stderr)
    checked = run("login", "bad2", sim.url, bogus)
    assert checked.exit_code == 4 and "refused the API key" in checked.stderr
    _assert_hidden(bogus, checked.stdout, checked.stderr)


def test_key_never_shown_in_an_internal_error_traceback(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cli/group.py's _internal_error redacts even MAASCURL_DEBUG's traceback."""

    def broken(self: MaasAuth, request: object) -> None:
        raise RuntimeError(f"bug while signing with {self.key!r}")

    monkeypatch.setattr(MaasAuth, "sign", broken)
    monkeypatch.setenv("MAASCURL_DEBUG", "1")
    result = run("get", "machines")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "internal error: RuntimeError" in result.stderr
    _assert_hidden(api.api_key, result.stdout, result.stderr)


def test_api_key_command_is_run_at_use_time(
    sim: MaasSimulator, home: Path, run: Run, tmp_path: Path
) -> None:
    keyfile = tmp_path / "key"
    write_config(
        home,
        f'default = "cmd"\n[profiles.cmd]\nurl = "{sim.url}"\napi_key_command = "cat {keyfile}"\n',
    )
    missing = run("get", "users", "op=whoami")
    assert missing.exit_code == 1
    assert "api_key_command exited with status 1" in missing.stderr
    keyfile.write_text(sim.api_key + "\n")
    result = run("get", "users", "op=whoami", "-v")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "admin"
    _assert_hidden(sim.api_key, result.stdout, result.stderr)
    assert sim.api_key not in config_file(home).read_text()


def test_a_failing_api_key_command_is_a_clear_error(
    sim: MaasSimulator, home: Path, run: Run
) -> None:
    write_config(
        home,
        f'default = "cmd"\n[profiles.cmd]\nurl = "{sim.url}"\n'
        f"api_key_command = \"{sys.executable} -c 'import sys; sys.exit(3)'\"\n",
    )
    sim.requests.clear()
    result = run("get", "machines")
    assert result.exit_code == 1
    assert result.stderr == "maascurl: error: profile 'cmd': api_key_command exited with status 3\n"
    assert sim.requests == []
    write_config(
        home,
        f'default = "c"\n[profiles.c]\nurl = "{sim.url}"\napi_key_command = "/nonexistent/x"\n',
    )
    result = run("get", "machines")
    assert result.exit_code == 1
    assert result.stderr.startswith("maascurl: error: profile 'c': api_key_command failed: ")
    assert "Traceback" not in result.stderr and sim.requests == []


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://maas.example:5240/MAAS", True),
        ("http://10.0.0.2:5240/MAAS", True),
        ("http://127.0.0.1:5240/MAAS", False),
        ("http://localhost:5240/MAAS", False),
        ("http://[::1]:5240/MAAS", False),
        ("https://maas.example:5443/MAAS", False),
    ],
)
def test_cleartext_warning(url: str, warned: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """target.warn_cleartext on its own, for hosts that tests must never contact."""
    target_module.warn_cleartext(url)
    err = capsys.readouterr().err
    assert ("clear text" in err) is warned


def test_login_to_a_remote_http_server_warns_once(run: Run) -> None:
    """With --no-check login contacts nothing, so a remote name is safe to use here."""
    result = run(
        "login",
        "remote",
        "http://maas.example:5240/MAAS",
        "c:tokentoken:secretsecret",
        "--no-check",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("clear text") == 1
    assert "use https" in result.stderr


def test_login_to_loopback_http_has_no_cleartext_warning(sim: MaasSimulator, run: Run) -> None:
    result = run("login", "local", sim.url, sim.api_key)
    assert result.exit_code == 0, result.stderr
    assert "clear text" not in result.stderr


# --- 7. timeouts and interrupts --------------------------------------------------


def test_timeout_on_a_slow_answer(api: MaasSimulator, run: Run) -> None:
    """client.transport_errors maps httpx's read timeout to exit 7; it is not retried."""
    api.queue(200, "late", path="machines/", delay=3)
    result = run("get", "machines", "--timeout", "0.3")
    assert result.exit_code == 7
    assert result.stderr == f"maascurl: error: timed out waiting for 127.0.0.1:{_port(api)}\n"
    assert len(api.requests) == 1


def _port(sim: MaasSimulator) -> int:
    return int(sim.url.split(":")[2].split("/")[0])


class _Stalling(BaseHTTPRequestHandler):
    """Sends the headers and the first part of a big body, then stalls."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(10_000_000))
        self.end_headers()
        self.wfile.write(b"y" * 200_000)
        self.wfile.flush()
        self.server.stop.wait(10)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stalling() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stalling)
    server.daemon_threads = True
    server.block_on_close = False
    stop = threading.Event()
    server.stop = stop  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/MAAS/api/2.0/files/?op=get"
    finally:
        stop.set()
        server.shutdown()
        thread.join()
        server.server_close()


def test_timeout_in_the_middle_of_a_download_leaves_no_file(
    stalling: str, run: Run, tmp_path: Path
) -> None:
    out = tmp_path / "dl" / "big.bin"
    out.parent.mkdir()
    result = run("get", stalling, "--anonymous", "-o", str(out), "--timeout", "0.3")
    assert result.exit_code == 7, result.stderr
    assert "timed out waiting for" in result.stderr
    assert os.listdir(out.parent) == []


def test_ctrl_c_in_the_middle_of_a_download(stalling: str, home: Path, tmp_path: Path) -> None:
    """cli.MaascurlGroup.main maps KeyboardInterrupt to 130; save_body drops the temp file."""
    out = tmp_path / "dl" / "big.bin"
    out.parent.mkdir()
    proc = subprocess.Popen(
        [maascurl_script(), "get", stalling, "--anonymous", "-o", str(out)],
        env=env_for_subprocess(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: bool(os.listdir(out.parent)), "the temporary file")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode().strip() == "maascurl: error: interrupted"
    assert stdout == b""
    assert os.listdir(out.parent) == []


def test_ctrl_c_while_waiting_for_the_server(
    api: MaasSimulator, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "machines.json"
    api.queue(200, "[]", path="machines/", delay=3)
    proc = subprocess.Popen(
        [maascurl_script(), "get", "machines", "-o", str(out)],
        env=env_for_subprocess(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: any(r.path.endswith("/machines/") for r in api.requests), "the request")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stderr.decode().strip() == "maascurl: error: interrupted"
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if "machines" in p.name] == []
