"""Seven guarantees that a single-point change of the code could break unnoticed.

Each test names in its docstring the guarantee it keeps and the change it catches;
scripts/mutate.py applies those changes and checks that these tests fail.
"""

from __future__ import annotations

import email.utils
import json
import os
import resource
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess, maascurl_script
from simulator import MaasSimulator, parse_multipart

from maascurl.wire import client
from maascurl.wire._httpx import httpx
from maascurl.wire.multipart import MultipartBody
from maascurl.wire.request import FilePart

API = "/MAAS/api/2.0/"


class _Scripted(BaseHTTPRequestHandler):
    """A server on 127.0.0.1 whose every answer comes from the test's `answer` function."""

    protocol_version = "HTTP/1.1"
    answer: Callable[[BaseHTTPRequestHandler], None]

    def do_GET(self) -> None:
        type(self).answer(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def scripted(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """Serve `answer` on a free loopback port; yield the MAAS URL to log in to."""
    handler = type("Handler", (_Scripted,), {"answer": staticmethod(answer)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/MAAS"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def use_server(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("MAAS_API_URL", url)
    monkeypatch.setenv("MAAS_API_KEY", "consumer:token:secret")


# --- 1. clock skew learned from the Date header ------------------------------------


def test_clock_offset_from_the_date_header_has_the_right_sign(
    monkeypatch: pytest.MonkeyPatch, run: Run, home: Path
) -> None:
    """Guarantee 1 (auth._server_offset): when the 401 says only "Expired timestamp", the
    offset comes from the server's Date header, server time minus ours: a server an hour
    ahead teaches +3600 s, not -3600 s (which would be saved and break every later run)."""
    ahead = 3600.0
    timestamps: list[int] = []

    def answer(handler: BaseHTTPRequestHandler) -> None:
        server_now = time.time() + ahead
        oauth = handler.headers.get("Authorization", "")
        stamp = int(oauth.split('oauth_timestamp="', 1)[1].split('"', 1)[0])
        timestamps.append(stamp)
        ok = abs(stamp - server_now) < 300
        body = b'{"username": "admin"}' if ok else b"Expired timestamp"
        handler.send_response_only(200 if ok else 401)
        handler.send_header("Date", email.utils.formatdate(server_now, usegmt=True))
        handler.send_header("Content-Type", "application/json" if ok else "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with scripted(answer) as url:
        use_server(monkeypatch, url)
        result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"username": "admin"}
    assert len(timestamps) == 2 and timestamps[1] - timestamps[0] >= ahead - 5
    state = json.loads((home / "cache" / "state.json").read_text())
    [offset] = [entry["clock_offset"] for entry in state.values()]
    assert abs(offset - ahead) < 5


# --- 2. the scheme half of the same-origin check -----------------------------------


def test_https_to_http_on_default_ports_is_another_origin() -> None:
    """Guarantee 2 (client._same_origin): https://maas/ and http://maas/ share host and
    (implicit) port but not scheme; a redirect between them must never be followed signed,
    because a PLAINTEXT signature is the token secret."""
    https, http = httpx.URL("https://maas.example/MAAS/"), httpx.URL("http://maas.example/x/")
    assert https.port is None and http.port is None
    assert not client._same_origin(https, http)
    assert not client._same_origin(http, https)
    assert client._same_origin(https, httpx.URL("https://maas.example/MAAS/api/2.0/"))


def test_redirect_from_https_to_http_on_the_same_port_is_not_followed(
    tls: MaasSimulator, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    """Guarantee 2 end to end: https://127.0.0.1:P redirecting to http://127.0.0.1:P (same
    host, same port, clear text) is reported, exit 3, and nothing is sent to it."""
    monkeypatch.setenv("MAAS_API_URL", tls.url)
    monkeypatch.setenv("MAAS_API_KEY", tls.api_key)
    port = httpx.URL(tls.url).port
    target = f"http://127.0.0.1:{port}{API}users/?op=whoami"
    tls.queue(302, "", {"Location": target}, path="users/")
    result = run("get", "users", "op=whoami", "--insecure", "--retries", "0")
    assert result.exit_code == 3, result.stderr
    assert target in result.stderr and "not followed" in result.stderr
    assert len(tls.requests) == 1


# --- 3. the download length check ----------------------------------------------------


def test_a_chunked_download_shorter_than_its_content_length_is_incomplete(
    monkeypatch: pytest.MonkeyPatch, run: Run, tmp_path: Path
) -> None:
    """Guarantee 3 (output._check_length): an answer with both Transfer-Encoding: chunked
    and a Content-Length that the chunks do not reach is reported as incomplete, and
    -o FILE is not written, rather than saving 5 bytes of 100 as a complete file."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response_only(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", "100")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.write(b"5\r\nhello\r\n0\r\n\r\n")

    out = tmp_path / "image.bin"
    with scripted(answer) as url:
        use_server(monkeypatch, url)
        result = run("get", "files", "op=get", "filename=image.bin", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == "maascurl: error: download incomplete: got 5 of 100 bytes\n"
    assert not out.exists() and os.listdir(tmp_path) == []


# --- 4. the config is replaced, never written in place -------------------------------


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # A full disk, as far as this process can tell: writes past `limit` fail (EFBIG).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_config_write_keeps_the_old_config(
    sim: MaasSimulator, home: Path, run: Run
) -> None:
    """Guarantee 4 (config.write_atomically): a login whose write fails (full disk) leaves
    the existing config byte for byte as it was: the new text goes to a temporary file that
    replaces the config only once written and synced, so no profile is ever lost."""
    first = run("login", "prod", sim.url, sim.api_key, "--no-check")
    assert first.exit_code == 0, first.stderr
    path = home / "config" / "config.toml"
    before = path.read_bytes()
    done = subprocess.run(
        [maascurl_script(), "login", "lab", sim.url + "/" + "x" * 200, sim.api_key, "--no-check"],
        env=env_for_subprocess(home),
        capture_output=True,
        timeout=60,
        preexec_fn=_limit_file_size(len(before) + 16),
    )
    assert done.returncode == 1, done.stderr
    error = f"maascurl: error: cannot write {path}: File too large; it is unchanged\n"
    assert done.stderr.decode().endswith(error)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


# --- 5. the permission warning -------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "warned"), [(0o640, True), (0o604, True), (0o644, True), (0o600, False)]
)
def test_config_readable_by_group_or_others_is_warned_about(
    home: Path, run: Run, mode: int, warned: bool
) -> None:
    """Guarantee 5 (config._warn_if_readable_by_others): a config readable by its group
    (0640) or by others (0604, 0644) draws the chmod 600 warning; 0600 is silent."""
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("", encoding="utf-8")
    path.chmod(mode)
    result = run("profile", "list")
    assert result.exit_code == 0
    assert (f"run: chmod 600 {path}" in result.stderr) is warned, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == mode


# --- 6. multipart boundaries are random ----------------------------------------------


def test_multipart_boundaries_are_random() -> None:
    """Guarantee 6 (multipart.MultipartBody): every body has its own unguessable boundary."""
    boundaries = {MultipartBody([("a", "b")], []).boundary for _ in range(20)}
    assert len(boundaries) == 20
    assert all(len(b) >= 16 for b in boundaries)


def test_a_value_holding_a_former_boundary_arrives_whole(api: MaasSimulator, run: Run) -> None:
    """Guarantee 6 end to end: a field value that contains the closing delimiter of an
    earlier request's body (`\\r\\n--BOUNDARY--`) arrives whole, and the fields after it too."""
    # op=allocate records the whole form whatever it answers (no machine has these zones).
    run("post", "machines", "op=allocate", "zone=one")
    assert api.requests[-1].form == [("zone", "one")]
    boundary = api.requests[-1].content_type.split("boundary=", 1)[1]
    value = f"before\r\n--{boundary}--\r\nafter"
    run("post", "machines", "op=allocate", f"comment={value}", "zone=two")
    assert api.requests[-1].form == [("comment", value), ("zone", "two")]


# --- 7. part names cannot inject headers ---------------------------------------------


@pytest.mark.parametrize(
    "item",
    ['x"; filename="evil.sh=payload', "a\r\nX-Injected=1", "b\n=1", 'q"@=-'],
)
def test_a_part_name_with_a_quote_or_line_break_is_refused(
    api: MaasSimulator, run: Run, item: str
) -> None:
    """Guarantee 7 (request._check_part_name): a form field or file part name holding a
    quote, CR or LF cannot arrive at MAAS (Django) as exactly that name, so it is refused,
    exit 2, one line, and nothing is sent; it never turns into another header or a file."""
    result = run("post", "machines", "op=allocate", item, input=b"data")
    assert result.exit_code == 2
    assert result.stderr.startswith("maascurl: error: ") and result.stderr.count("\n") == 1
    assert "has a quote or line break" in result.stderr
    assert api.requests == []


def test_multipart_escapes_quotes_and_line_breaks_in_part_names() -> None:
    """Guarantee 7, second line of defence (multipart._quote): whatever name reaches the
    encoder, each part stays exactly one part: no filename or header can be injected."""
    name = 'x"; filename="evil.sh\r\nX-Injected: 1'
    body = MultipartBody([(name, "payload")], [FilePart(name, name, content=b"data")])
    fields, files = parse_multipart(body.content_type, b"".join(body))
    assert len(fields) == 1 and fields[0][1] == "payload"
    assert len(files) == 1 and files[0][2] == b"data"
    assert files[0][1] is not None and "evil.sh" in files[0][1]
    assert b"\r\nX-Injected" not in b"".join(body)
