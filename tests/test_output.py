"""What the user sees: raw bytes on pipes, -i, -v, --offline, pretty output, error lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess
from conftest import on_terminal as run_on_terminal
from simulator import MaasSimulator

ROOT = "/MAAS/api/2.0/"
ESC = "\x1b["


def secrets_of(sim: MaasSimulator) -> tuple[str, str]:
    _, token, secret = sim.api_key.split(":")
    return token, secret


def assert_no_secrets(sim: MaasSimulator, *texts: str) -> None:
    for secret in secrets_of(sim):
        for text in texts:
            assert secret not in text


def on_terminal(home: Path, sim: MaasSimulator, *args: str, **env: str) -> tuple[str, str, int]:
    """Run maascurl with stdout on a pseudo-terminal; return (terminal text, stderr, status)."""
    environ = env_for_subprocess(home)
    environ.update(MAAS_API_URL=sim.url, MAAS_API_KEY=sim.api_key, TERM="xterm", **env)
    for name in ("MAASCURL_PAGER", "PAGER", "NO_COLOR"):
        if name not in env:
            environ.pop(name, None)
    out, stderr, status = run_on_terminal([sys.executable, "-m", "maascurl", *args], environ)
    return out.decode(), stderr, status


# ---------------------------------------------------------------- piped output


def test_piped_output_is_the_raw_body(api: MaasSimulator, run: Run) -> None:
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0
    assert result.stdout_bytes == json.dumps(api.users["admin"], ensure_ascii=False).encode()
    assert result.stderr == ""


def test_pretty_when_piped(api: MaasSimulator, run: Run) -> None:
    raw = run("get", "machines", "op=list_allocated").stdout
    result = run("get", "machines", "op=list_allocated", "--pretty")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("[\n  {\n")
    assert result.stdout.endswith("]\n")
    assert json.loads(result.stdout) == json.loads(raw)
    assert ESC not in result.stdout


def test_no_pretty_is_the_raw_body(api: MaasSimulator, run: Run) -> None:
    raw = run("get", "machines").stdout_bytes
    result = run("get", "machines", "--no-pretty")
    assert result.stdout_bytes == raw
    assert b"\n" not in raw.strip()


def test_pretty_text_body_is_printed_as_text(api: MaasSimulator, run: Run) -> None:
    api.queue(200, "plain words", {"Content-Type": "text/plain"})
    result = run("get", "machines", "--pretty")
    assert result.stdout == "plain words\n"


def test_pretty_binary_body_is_not_dumped(api: MaasSimulator, run: Run) -> None:
    api.add_file("bin", b"\x00\x01\x02binary")
    result = run("get", "files", "op=get", "filename=bin", "--pretty")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "binary body (9 bytes) not shown" in result.stderr


# ---------------------------------------------------------------- -i


def test_include_prints_status_and_headers_then_the_body(api: MaasSimulator, run: Run) -> None:
    result = run("get", "version", "-i")
    assert result.exit_code == 0
    head, _, body = result.stdout.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    # Names as they came in on the wire, not httpx's lower-cased view.
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body.encode()))
    assert headers["X-MAAS-API-Hash"] == api.api_hash
    assert json.loads(body) == api.version


def test_include_with_output_file(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    api.add_file("f.bin", b"\xffdata")
    target = tmp_path / "f.bin"
    result = run("get", "files", "op=get", "filename=f.bin", "-i", "-o", str(target))
    assert result.stdout.startswith("HTTP/1.1 200 OK\n")
    assert result.stdout.endswith("\n\n")
    assert target.read_bytes() == b"\xffdata"


# ---------------------------------------------------------------- -v


def test_verbose_shows_request_and_response_with_secrets_redacted(
    api: MaasSimulator, run: Run
) -> None:
    result = run("get", "machines", "op=list_allocated", "-v")
    assert result.exit_code == 0
    err = result.stderr
    assert "> GET /MAAS/api/2.0/machines/?op=list_allocated HTTP/1.1" in err
    assert "< HTTP/1.1 200 OK" in err
    # Header names as they go out and come in on the wire.
    assert "< Content-Type: application/json" in err
    assert "> User-Agent: maascurl/" in err
    auth = next(line for line in err.splitlines() if line.startswith("> Authorization:"))
    assert 'oauth_token="<redacted>"' in auth
    assert 'oauth_signature="<redacted>"' in auth
    assert 'oauth_signature_method="PLAINTEXT"' in auth
    assert_no_secrets(api, result.stdout, err)
    assert json.loads(result.stdout)[0]["system_id"] == "abc001"
    assert api.requests[0].oauth is not None  # the real request was still signed
    assert api.requests[0].oauth["oauth_signature"] == "&" + secrets_of(api)[1]


def test_verbose_post_with_a_body(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/abc000", "op=deploy", "distro_series=noble", "-v")
    assert result.exit_code == 0
    assert "> POST /MAAS/api/2.0/machines/abc000/?op=deploy HTTP/1.1" in result.stderr
    assert "> Content-Type: multipart/form-data; boundary=" in result.stderr
    assert_no_secrets(api, result.stdout, result.stderr)
    assert api.requests[0].form == [("distro_series", "noble")]


# ---------------------------------------------------------------- --offline


def test_offline_prints_the_request_and_sends_nothing(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    (tmp_path / "up.bin").write_bytes(b"12345")
    result = run("post", "files", "filename=up", f"file@={tmp_path / 'up.bin'}", "--offline")
    assert result.exit_code == 0, result.stderr
    assert api.requests == []
    out = result.stdout
    port = api.url.split(":")[2].split("/")[0]
    assert out.startswith(f"POST /MAAS/api/2.0/files/ HTTP/1.1\nHost: 127.0.0.1:{port}\n")
    assert "Content-Type: multipart/form-data; boundary=" in out  # named as on the wire
    assert 'oauth_token="<redacted>"' in out
    assert 'oauth_signature="<redacted>"' in out
    assert "\nfilename=up\n" in out
    assert f"file@ <5 bytes from {tmp_path / 'up.bin'}>" in out
    assert_no_secrets(api, out, result.stderr)


def test_offline_get_shows_the_query(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "hostname=a b", "op=list_allocated", "--offline")
    assert result.stdout.startswith(
        "GET /MAAS/api/2.0/machines/?op=list_allocated&hostname=a+b HTTP/1.1\n"
    )
    assert api.requests == []


def test_offline_anonymous_has_no_authorization(api: MaasSimulator, run: Run) -> None:
    result = run("get", "version", "--anonymous", "--offline")
    assert result.exit_code == 0
    assert "authorization" not in result.stdout.lower()
    assert api.requests == []


def test_offline_needs_no_server(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAAS_API_URL", "http://127.0.0.1:9/MAAS")
    monkeypatch.setenv("MAAS_API_KEY", "consumer:tokenKEY1234:tokenSECRET5678")
    result = run("delete", "machines/abc", "--offline")
    assert result.exit_code == 0
    assert result.stdout.startswith("DELETE /MAAS/api/2.0/machines/abc/ HTTP/1.1\n")
    assert 'oauth_signature="<redacted>"' in result.stdout
    assert "tokenKEY1234" not in result.stdout
    assert "tokenSECRET5678" not in result.stdout


# ---------------------------------------------------------------- error lines


def test_404_is_one_line_on_stderr(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/nothere")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == "maascurl: error: 404 Not Found: No Machine matches the given query.\n"


def test_400_json_error_is_one_line(api: MaasSimulator, run: Run) -> None:
    result = run("post", "account/prefs/sshkeys")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == "maascurl: error: 400 Bad Request: key: This field is required.\n"


def test_400_json_error_with_several_fields(api: MaasSimulator, run: Run) -> None:
    body = {"hostname": ["Too long.", "Bad characters."], "zone": ["Unknown zone."]}
    api.queue(400, json.dumps(body), {"Content-Type": "application/json"})
    result = run("put", "machines/abc000", "hostname=x")
    assert result.exit_code == 4
    assert result.stderr == (
        "maascurl: error: 400 Bad Request: "
        "hostname: Too long. Bad characters. zone: Unknown zone.\n"  # no ".;"
    )


def test_multi_line_text_error_becomes_one_line(api: MaasSimulator, run: Run) -> None:
    api.queue(409, "Cannot deploy:\n  machine is locked\n")
    result = run("post", "machines/abc000", "op=deploy")
    assert result.exit_code == 4
    assert result.stderr == "maascurl: error: 409 Conflict: Cannot deploy: machine is locked\n"


def test_html_error_page_is_summarised(api: MaasSimulator, run: Run) -> None:
    page = "<!DOCTYPE html><html><body>" + "x" * 500 + "</body></html>"
    api.queue(502, page, {"Content-Type": "text/html"})
    result = run("get", "machines")
    assert result.exit_code == 5
    assert (
        result.stderr == f"maascurl: error: 502 Bad Gateway: (an HTML page of {len(page)} bytes)\n"
    )


def test_anonymous_request_to_a_protected_resource_is_forbidden(
    api: MaasSimulator, run: Run
) -> None:
    result = run("get", "machines", "--anonymous")
    assert result.exit_code == 4
    assert result.stderr == (
        "maascurl: error: 401 Unauthorized: Forbidden; this request needs the API key: "
        "drop --anonymous\n"
    )
    assert "authorization" not in api.requests[0].headers


def test_bad_key_is_refused(sim: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAAS_API_URL", sim.url)
    monkeypatch.setenv("MAAS_API_KEY", "nosuchconsumer:nosuchtoken:nosuchsecret")
    result = run("get", "machines")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == (
        "maascurl: error: 401 Unauthorized: Authorization Error: Invalid API key. The server "
        "refused the API key in $MAAS_API_KEY (its consumer key, the first part, is unknown: "
        "revoked or mistyped)\n"
    )


def test_error_body_is_not_written_to_the_output_file(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    target = tmp_path / "out.bin"
    result = run("get", "files", "op=get", "filename=absent", "-o", str(target))
    assert result.exit_code == 4
    assert result.stderr == "maascurl: error: 404 Not Found: File not found\n"
    assert not target.exists()


# ---------------------------------------------------------------- on a terminal


def test_terminal_gets_colour_json(home: Path, sim: MaasSimulator) -> None:
    sim.set_fleet(3)
    out, err, status = on_terminal(home, sim, "get", "users", "op=whoami", "--no-pager")
    assert status == 0, err
    assert ESC in out
    assert "\n  " in out  # indented
    assert err == ""


def test_no_color_on_a_terminal(home: Path, sim: MaasSimulator) -> None:
    out, err, status = on_terminal(
        home, sim, "get", "users", "op=whoami", "--no-pager", NO_COLOR="1"
    )
    assert status == 0, err
    assert ESC not in out
    assert json.loads(out) == sim.users["admin"]
    assert out.startswith("{\n  ")


def test_no_pretty_on_a_terminal(home: Path, sim: MaasSimulator) -> None:
    out, err, status = on_terminal(home, sim, "get", "users", "op=whoami", "--no-pretty")
    assert status == 0, err
    assert out == json.dumps(sim.users["admin"], ensure_ascii=False)


def test_terminal_output_goes_through_the_pager(home: Path, sim: MaasSimulator) -> None:
    pager = f"{sys.executable} -c \"import sys; sys.stdout.write('PAGER:' + sys.stdin.read())\""
    out, err, status = on_terminal(
        home, sim, "get", "users", "op=whoami", MAASCURL_PAGER=pager, NO_COLOR="1"
    )
    assert status == 0, err
    assert out.startswith("PAGER:{\n")
    assert json.loads(out.removeprefix("PAGER:")) == sim.users["admin"]


def test_binary_body_on_a_terminal_is_not_dumped(home: Path, sim: MaasSimulator) -> None:
    sim.add_file("tty.bin", b"\x00\xff" * 100)
    out, err, status = on_terminal(home, sim, "get", "files", "op=get", "filename=tty.bin")
    assert status == 0
    assert out == ""
    assert "binary body (200 bytes) not shown on a terminal" in err


def test_a_pager_that_is_not_installed_is_skipped(home: Path, sim: MaasSimulator) -> None:
    out, err, status = on_terminal(
        home, sim, "get", "users", "op=whoami", MAASCURL_PAGER="no-such-pager -R", NO_COLOR="1"
    )
    assert status == 0, err
    assert json.loads(out) == sim.users["admin"]


def test_output_dash_is_the_raw_body_on_stdout(home: Path, sim: MaasSimulator) -> None:
    out, err, status = on_terminal(home, sim, "get", "users", "op=whoami", "-o", "-")
    assert status == 0, err
    assert "\x1b[" not in out
    assert json.loads(out) == sim.users["admin"]
    assert not (Path.cwd() / "-").exists()
