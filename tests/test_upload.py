"""upload-image and big transfers: chunks, resume, checksums, progress bars.

Everything goes over real HTTP to the simulator, whose boot-image section
follows MAAS 3.4's handlers (and 3.5's reporting with mode = "3.5").
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import (
    Run,
    Spawn,
    complete,
    env_for_subprocess,
    maascurl_script,
    stderr_on_terminal,
    wait_for,
)
from simulator import BootImages, MaasSimulator, RecordedRequest

from maascurl.cli import cli
from maascurl.jobs import upload
from maascurl.show import progress

MAASCURL = maascurl_script()
CHUNK = 64 * 1024
UPLOAD = ("upload-image", "custom/rhel9", "amd64/generic")


@pytest.fixture
def images(api: MaasSimulator) -> Iterator[BootImages]:
    api.boot_images.clear()
    yield api.boot_images
    api.boot_images.clear()


def image_file(tmp_path: Path, size: int, name: str = "rhel9.tar.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def chunk_puts(sim: MaasSimulator) -> list[RecordedRequest]:
    return [r for r in sim.requests if r.method == "PUT" and "/upload/" in r.path]


def stored(images: BootImages, path: Path) -> bytes:
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    held = images.stored[sha256]
    return images.data_path(sha256).read_bytes()[:held]


def newest_file(resource: dict[str, object]) -> dict[str, object]:
    found = upload.newest_file(resource)
    assert found is not None
    return found


# ---------------------------------------------------------------- the upload


def test_uploads_in_signed_chunks_and_prints_the_finished_resource(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 5 * CHUNK + 123)
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK), "--title", "RHEL 9")
    assert result.exit_code == 0, result.stderr
    resource = json.loads(result.stdout)
    rfile = newest_file(resource)
    assert rfile["complete"] is True
    assert rfile["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rfile["filetype"] == "root-tgz"  # guessed from .tar.gz
    assert resource["name"] == "rhel9" and resource["title"] == "RHEL 9"
    puts = chunk_puts(images.sim)
    assert [int(p.headers["content-length"]) for p in puts] == [CHUNK] * 5 + [123]
    assert {p.headers["content-type"] for p in puts} == {"application/octet-stream"}
    nonces = {p.oauth["oauth_nonce"] for p in puts if p.oauth}
    assert len(nonces) == len(puts)  # each chunk signed afresh
    assert stored(images, path) == path.read_bytes()
    create = next(r for r in images.sim.requests if r.method == "POST")
    assert dict(create.form)["size"] == str(path.stat().st_size)
    assert not create.files  # created without its content
    assert result.stderr == ""


def test_filetype_is_guessed_only_when_the_name_says_it(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    disk = image_file(tmp_path, 1000, "win2022.dd.gz")
    result = run("upload-image", "windows/win2022", "amd64/generic", str(disk))
    assert result.exit_code == 0, result.stderr
    assert newest_file(json.loads(result.stdout))["filetype"] == "root-dd.gz"
    unclear = image_file(tmp_path, 1000, "image.gz")
    result = run(*UPLOAD, str(unclear))
    assert result.exit_code == 2
    assert "cannot tell the filetype of image.gz" in result.stderr and "--filetype" in result.stderr
    result = run(*UPLOAD, str(unclear), "--filetype", "zip")
    assert result.exit_code == 2 and "--filetype" in result.stderr
    result = run(*UPLOAD, str(unclear), "--filetype", "ddgz")
    assert result.exit_code == 0, result.stderr


def test_server_errors_on_create_are_one_line(run: Run, images: BootImages, tmp_path: Path) -> None:
    path = image_file(tmp_path, 1000)
    result = run("upload-image", "custom/x", "sparc/generic", str(path))
    assert result.exit_code == 4
    assert result.stderr.startswith("maascurl: error: 400 Bad Request: architecture: 'sparc")
    assert not chunk_puts(images.sim)


def test_a_finished_image_is_not_sent_again(run: Run, images: BootImages, tmp_path: Path) -> None:
    path = image_file(tmp_path, 3 * CHUNK)
    assert run(*UPLOAD, str(path), "--chunk-size", str(CHUNK)).exit_code == 0
    images.sim.requests.clear()
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    assert result.exit_code == 0, result.stderr
    assert "is already uploaded as boot-resources/" in result.stderr
    assert not chunk_puts(images.sim)
    assert newest_file(json.loads(result.stdout))["complete"] is True


# ---------------------------------------------------------------- failures and resuming


def test_a_chunk_cut_off_midway_is_sent_again_from_where_maas_stopped(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 6 * CHUNK)
    images.let_through, images.breaks = 2, 2  # the third and fourth PUTs are cut
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK), "--retry-max-wait", "0")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("retrying in 0 s") == 2
    assert len(chunk_puts(images.sim)) == 6 + 2
    assert stored(images, path) == path.read_bytes()


def test_a_busy_answer_to_a_chunk_is_retried_like_any_call(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 3 * CHUNK)
    images.sim.queue(503, "busy", {"Retry-After": "0"}, path="boot-resources/", count=1)
    images.sim.requests.clear()
    # The fault hits the first call under boot-resources/: the listing.
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    assert result.exit_code == 0, result.stderr
    assert "503 Service Unavailable; retrying" in result.stderr
    images.sim.requests.clear()
    path = image_file(tmp_path, 3 * CHUNK, "second.tar.gz")
    images.breaks = 0
    # Now a chunk: the first PUT to any upload URI.
    images.sim.queue(503, "busy", {"Retry-After": "0"}, path="boot-resources/1", count=1)
    images.sim.requests.clear()
    result = run(
        "upload-image", "custom/two", "amd64/generic", str(path), "--chunk-size", str(CHUNK)
    )
    assert result.exit_code == 0, result.stderr
    assert "503 Service Unavailable; retrying" in result.stderr
    assert len(chunk_puts(images.sim)) == 3 + 1


def test_out_of_retries_says_how_to_resume_and_a_rerun_does(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 4 * CHUNK + 7)
    images.let_through, images.breaks = 2, 1
    args = (*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    result = run(*args, "--retries", "0")
    assert result.exit_code == 6
    assert result.stderr.startswith("maascurl: error: connection to")
    assert result.stderr.rstrip().endswith("run the same command again to resume")
    images.sim.requests.clear()
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert f"resuming the upload to boot-resources/1001/ at {2 * CHUNK} of" in result.stderr
    assert len(chunk_puts(images.sim)) == 3
    assert stored(images, path) == path.read_bytes()


def test_killed_midway_then_run_again_resumes_and_checks_the_sha256(
    spawn: Spawn, images: BootImages, profile: str, home: Path, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 24 * CHUNK)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    images.chunk_delay = 0.05
    argv = [MAASCURL, *UPLOAD, str(path), "--chunk-size", str(CHUNK)]
    env = env_for_subprocess(home)
    process = spawn(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while images.stored.get(sha256, 0) < 4 * CHUNK:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    # What the killed client had sent may not all be read yet (the next chunk's PUT, say):
    # until the simulator is done with its connection, a PUT can still be recorded or a
    # chunk stored after the counts below are taken.
    wait_for(lambda: images.sim.connections == 0, "the killed upload's connection to end")
    held = images.stored[sha256]
    assert 4 * CHUNK <= held < 24 * CHUNK
    images.chunk_delay = 0.0
    images.sim.requests.clear()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    now_held = images.stored[sha256]
    assert now_held == 24 * CHUNK
    assert "maascurl: note: resuming the upload to boot-resources/" in done.stderr
    resumed_at = int(done.stderr.split(" at ")[1].split(" of ")[0])
    assert resumed_at >= held  # what the server held when the rerun asked
    assert len(chunk_puts(images.sim)) == (24 * CHUNK - resumed_at) // CHUNK
    assert newest_file(json.loads(done.stdout))["sha256"] == sha256
    assert stored(images, path) == path.read_bytes()


def test_a_restarted_server_keeps_the_partial_upload(run: Run, home: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = image_file(tmp_path, 5 * CHUNK)
    args = (*UPLOAD, str(path), "--chunk-size", str(CHUNK), "-p", "restart", "--retries", "0")
    with MaasSimulator(boot_images_dir=state) as first:
        assert run("login", "restart", first.url, first.api_key).exit_code == 0
        first.boot_images.let_through, first.boot_images.breaks = 2, 1
        assert run(*args).exit_code == 6
    port = int(first.url.rsplit(":", 1)[1].split("/")[0])
    with MaasSimulator(boot_images_dir=state, port=port) as second:
        assert second.api_key == first.api_key  # derived keys: the profile still works
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        assert f"at {2 * CHUNK} of {5 * CHUNK} bytes" in result.stderr
        assert len(chunk_puts(second)) == 3


def test_wrong_sha256_is_a_clear_error(run: Run, images: BootImages, tmp_path: Path) -> None:
    path = image_file(tmp_path, 4 * CHUNK)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    args = (*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    images.let_through, images.breaks = 3, 1
    assert run(*args, "--retries", "0").exit_code == 6
    # Spoil what MAAS holds: the checksum on the last byte cannot match.
    data = images.data_path(sha256)
    spoiled = bytearray(data.read_bytes())
    spoiled[0] ^= 0xFF
    data.write_bytes(bytes(spoiled))
    result = run(*args)
    assert result.exit_code == 4
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("maascurl: error: 400 Bad Request: ")
    assert "Saved content does not match given SHA256 value" in line
    assert "maascurl delete boot-resources/1001/" in line
    assert images.stored[sha256] == 3 * CHUNK  # MAAS rolled the last chunk back


def test_maas_35_cannot_say_where_it_stopped_so_the_upload_starts_over(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    images.mode = "3.5"
    path = image_file(tmp_path, 5 * CHUNK)
    args = (*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    images.breaks = 1
    images.sim.requests.clear()
    assert run(*args, "--retries", "2").exit_code == 6  # no offset to go on from
    images.breaks = 0
    images.sim.requests.clear()
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert "does not say how much; starting the upload over" in result.stderr
    assert len(chunk_puts(images.sim)) == 5
    rfile = newest_file(json.loads(result.stdout))
    assert rfile["complete"] is True and "filename_on_disk" in rfile


def test_a_file_that_changes_during_the_upload_is_an_error(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = image_file(tmp_path, 2 * CHUNK)
    real = upload.put_chunk

    def touching(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        os.utime(path, ns=(1, 1))

    monkeypatch.setattr(upload, "put_chunk", touching)
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    assert result.exit_code == 1
    assert "changed while it was being uploaded" in result.stderr


# ---------------------------------------------------------------- the general path


def test_a_big_content_file_on_post_boot_resources_goes_in_chunks(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "AUTO_CHUNK_MIN", 3 * CHUNK)
    monkeypatch.setattr(upload, "CHUNK_SIZE", CHUNK)
    path = image_file(tmp_path, 3 * CHUNK + 1)
    items = ("name=custom/big", "architecture=amd64/generic", "filetype=ddgz", "X-Trace:7")
    result = run("post", "boot-resources", *items, f"content@={path}")
    assert result.exit_code == 0, result.stderr
    rfile = newest_file(json.loads(result.stdout))
    assert rfile["complete"] and rfile["filetype"] == "root-dd.gz"
    puts = chunk_puts(images.sim)
    assert len(puts) == 4
    assert {p.headers.get("x-trace") for p in puts} == {"7"}
    create = next(r for r in images.sim.requests if r.method == "POST")
    assert not create.files and dict(create.form)["sha256"]
    # A small one is sent as it always was: one multipart request.
    images.sim.requests.clear()
    small = image_file(tmp_path, 3 * CHUNK - 1, "small.tar.gz")
    result = run("post", "boot-resources", "name=custom/small", "architecture=amd64/generic",
                 f"content@={small}")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert [r.method for r in images.sim.requests] == ["POST"]
    assert images.sim.requests[0].files[0][2] == small.read_bytes()


def test_the_general_path_needs_name_and_architecture(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "AUTO_CHUNK_MIN", CHUNK)
    path = image_file(tmp_path, 2 * CHUNK)
    result = run("post", "boot-resources", "name=custom/x", f"content@={path}")
    assert result.exit_code == 2
    assert "needs architecture=" in result.stderr
    assert not images.sim.requests


# ---------------------------------------------------------------- progress bars


def big(tmp_path: Path, name: str = "big.tar.gz") -> Path:
    return image_file(tmp_path, progress.MIN_BYTES + CHUNK, name)


def test_bars_on_a_terminal_and_stdout_untouched(
    images: BootImages, profile: str, home: Path, tmp_path: Path
) -> None:
    path = big(tmp_path)
    env = env_for_subprocess(home)
    out, terminal, status = stderr_on_terminal([MAASCURL, *UPLOAD, str(path)], env)
    assert status == 0, terminal
    assert b"sha256 big.tar.gz" in terminal and b"upload big.tar.gz" in terminal
    assert b"MB" in terminal and b"100%" not in out
    assert newest_file(json.loads(out))["complete"] is True  # plain JSON, nothing else


def test_no_bar_in_a_pipe_or_with_no_progress(
    images: BootImages, profile: str, home: Path, tmp_path: Path
) -> None:
    path = big(tmp_path)
    env = env_for_subprocess(home)
    piped = subprocess.run([MAASCURL, *UPLOAD, str(path)], env=env, capture_output=True)
    assert piped.returncode == 0 and piped.stderr == b""
    out, terminal, status = stderr_on_terminal(
        [MAASCURL, "upload-image", "custom/other", "amd64/generic", str(path), "--no-progress"],
        env,
    )
    assert status == 0 and terminal == b""
    assert json.loads(out)["name"] == "other"


def test_bars_for_downloads_and_multipart_uploads(
    api: MaasSimulator, home: Path, tmp_path: Path
) -> None:
    path = big(tmp_path, "big.bin")
    api.add_file("big.bin", path.read_bytes())
    env = env_for_subprocess(home)
    target = tmp_path / "saved.bin"
    get = [MAASCURL, "get", "files", "op=get", "filename=big.bin", "-o", str(target)]
    _, terminal, status = stderr_on_terminal(get, env)
    assert status == 0 and b"save saved.bin" in terminal
    assert target.read_bytes() == path.read_bytes()
    _, terminal, status = stderr_on_terminal([*get, "--no-progress"], env)
    assert status == 0 and terminal == b""
    post = [MAASCURL, "post", "files", "filename=up.bin", f"file@={path}"]
    _, terminal, status = stderr_on_terminal(post, env)
    assert status == 0 and b"send file" in terminal
    assert api.files["up.bin"]["content"] == path.read_bytes()
    small = subprocess.run(
        [MAASCURL, "get", "files", "op=get", "filename=big.bin", "-o", str(target)],
        env=env,
        capture_output=True,
    )
    assert small.returncode == 0 and small.stderr == b""


def test_no_bar_and_no_rich_for_a_short_transfer_on_a_terminal(
    api: MaasSimulator, home: Path, tmp_path: Path
) -> None:
    api.add_file("small.bin", b"x" * 1000)
    env = env_for_subprocess(home)
    target = tmp_path / "small.bin"
    argv = [sys.executable, "-X", "importtime", "-m", "maascurl"]
    argv += ["get", "files", "op=get", "filename=small.bin", "-o", str(target)]
    _, terminal, status = stderr_on_terminal(argv, env)
    assert status == 0
    assert b" rich" not in terminal  # importtime lines name every module imported
    assert b"maascurl.show.progress" in terminal  # the measurement itself works


# ---------------------------------------------------------------- completion


@pytest.mark.parametrize("command", ["upload-image", "get", "wait"])
def test_help_gives_the_real_connect_timeout(command: str) -> None:
    """One --timeout option (cli/options.py) for every command, with the client's numbers."""
    from maascurl.wire.client import DEFAULT_TIMEOUT

    connect, read = DEFAULT_TIMEOUT
    shown = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
    assert f"{connect:g} s connect, {read:g} s read" in " ".join(shown.split())


def test_completion_offers_architectures_filetypes_and_files() -> None:
    assert complete("maascurl upload-image custom/x arm") == [
        "plain,arm64/generic",
        "plain,armhf/generic",
    ]
    found = complete("maascurl upload-image custom/x amd64/generic --filetype ddt")
    assert found == ["plain,ddtgz", "plain,ddtbz", "plain,ddtxz", "plain,ddtar"]
    assert complete("maascurl upload-image custom/x amd64/generic ") == ["file,"]
    assert "--no-progress" in [c.partition(",")[2] for c in complete("maascurl get x --no-p")]


def test_offline_shows_the_one_request_and_says_it_would_go_in_chunks(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "AUTO_CHUNK_MIN", CHUNK)
    path = image_file(tmp_path, 2 * CHUNK)
    items = ("name=custom/x", "architecture=amd64/generic", f"content@={path}")
    result = run("post", "boot-resources", *items, "--offline")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("POST /MAAS/api/2.0/boot-resources/ HTTP/1.1")
    assert "this upload goes in chunks" in result.stderr
    assert not images.sim.requests


def test_client_sockets_send_without_nagle_delay() -> None:
    """The last small segment of each chunk must not wait for a delayed ACK."""
    import socket

    from maascurl.wire.client import open_client
    from maascurl.wire.settings import Transport

    with open_client(Transport(), "http", None) as client:
        options = client._transport._pool._socket_options  # type: ignore[attr-defined]
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in options


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_of_unknown_length_starts_only_after_min_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setattr(progress, "enabled", True)
    piece = b"x" * (progress.MIN_BYTES // 4)
    assert b"".join(progress.track([piece] * 3, "save short", None)) == piece * 3
    assert screen.getvalue() == ""  # under MIN_BYTES: no bar at all
    assert b"".join(progress.track([piece] * 5, "save long", None)) == piece * 5
    assert "save long" in screen.getvalue()
    monkeypatch.setattr(progress, "enabled", False)  # --no-progress
    list(progress.track([piece] * 5, "save off", None))
    assert "save off" not in screen.getvalue()


def test_an_upload_uri_on_another_server_gets_no_signed_chunk(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = images.file_dict

    def elsewhere(resource: dict[str, object], rfile: dict[str, object]) -> dict[str, object]:
        data = real(resource, rfile)
        if "upload_uri" in data:
            data["upload_uri"] = "http://elsewhere.example/MAAS/api/2.0/upload/"
        return data

    monkeypatch.setattr(images, "file_dict", elsewhere)
    result = run(*UPLOAD, str(image_file(tmp_path, 1000)))
    assert result.exit_code == 1
    assert "upload_uri outside its API: http://elsewhere.example/" in result.stderr
    assert not chunk_puts(images.sim)


def test_ctrl_c_says_where_the_upload_stopped(
    spawn: Spawn, images: BootImages, profile: str, home: Path, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 24 * CHUNK)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    images.chunk_delay = 0.05
    argv = [MAASCURL, *UPLOAD, str(path), "--chunk-size", str(CHUNK)]
    process = spawn(
        argv, env=env_for_subprocess(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while images.stored.get(sha256, 0) < 2 * CHUNK:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert out == b""
    lines = err.decode().splitlines()
    assert lines[0].startswith("maascurl: note: upload stopped at ")
    assert lines[0].endswith(f"of {24 * CHUNK} bytes; run the same command again to resume")
    assert lines[-1] == "maascurl: error: interrupted"


def test_ordinary_requests_do_not_import_the_upload_modules(
    sim: MaasSimulator, profile: str, home: Path
) -> None:
    argv = [sys.executable, "-X", "importtime", "-m", "maascurl", "get", "users", "op=whoami"]
    done = subprocess.run(argv, env=env_for_subprocess(home), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "maascurl.jobs.call" in done.stderr  # the measurement itself works
    assert "maascurl.jobs.upload" not in done.stderr and "maascurl.show.progress" not in done.stderr


def test_the_same_bytes_as_another_filetype_are_a_new_upload(
    run: Run, images: BootImages, tmp_path: Path
) -> None:
    path = image_file(tmp_path, 2 * CHUNK, "image.bin")
    args = (*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    assert run(*args, "--filetype", "ddraw").exit_code == 0
    images.sim.requests.clear()
    result = run(*args, "--filetype", "ddgz")
    assert result.exit_code == 0, result.stderr
    assert "already uploaded" not in result.stderr
    assert newest_file(json.loads(result.stdout))["filetype"] == "root-dd.gz"
    assert [r.method for r in images.sim.requests if r.method != "GET"] == ["POST"]


def test_a_bar_shows_an_odd_file_name_as_text_and_restores_the_cursor(
    images: BootImages, profile: str, home: Path, tmp_path: Path
) -> None:
    """A file name is neither markup nor terminal control; a finished bar gives the
    cursor back (rich hides it while drawing)."""
    path = big(tmp_path, "[b]x\x1b[7m.tar.gz")
    out, terminal, status = stderr_on_terminal(
        [MAASCURL, *UPLOAD, str(path)], env_for_subprocess(home)
    )
    assert status == 0, terminal
    assert b"sha256 [b]x\\x1b[7m.tar.gz" in terminal
    assert b"upload [b]x\\x1b[7m.tar.gz" in terminal
    assert b"\x1b[7m" not in terminal
    assert terminal.count(b"\x1b[?25l") == terminal.count(b"\x1b[?25h") == 2
    assert newest_file(json.loads(out))["complete"] is True


def test_a_read_back_showing_other_bytes_is_an_error(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finished resource must show this image: the same size with another sha256
    (another upload of the same name took its newest set meanwhile) is not it."""
    real = images.file_dict

    def replaced(resource: dict[str, object], rfile: dict[str, object]) -> dict[str, object]:
        data = real(resource, rfile)
        if data["complete"]:
            data["sha256"] = "0" * 64
        return data

    monkeypatch.setattr(images, "file_dict", replaced)
    path = image_file(tmp_path, 2 * CHUNK)
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    assert result.exit_code == 1
    assert "does not show this image after the upload" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("progress", "shown"),
    [(float("nan"), "nan"), ("half", "'half'"), ({"a": 1}, "dict"), (float("inf"), "inf")],
)
def test_a_progress_that_is_not_a_number_is_one_error_line(
    run: Run,
    images: BootImages,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    progress: object,
    shown: str,
) -> None:
    """MAAS 3.4 says how much it holds with `progress`; `NaN` (valid to Python's JSON) and
    other non-numbers are a clear error, not an internal one."""
    real = images.file_dict

    def odd(resource: dict[str, object], rfile: dict[str, object]) -> dict[str, object]:
        data = real(resource, rfile)
        if "progress" in data:
            data["progress"] = progress
        return data

    monkeypatch.setattr(images, "file_dict", odd)
    result = run(*UPLOAD, str(image_file(tmp_path, 1000)))
    assert result.exit_code == 1
    assert result.stderr == (
        "maascurl: error: MAAS answered with a file whose size or progress is not a number "
        f"(size 1000, progress {shown})\n"
    )
    assert not chunk_puts(images.sim)


def test_a_progress_so_small_it_says_nothing_starts_the_upload_over() -> None:
    assert upload.stored_bytes({"size": 1000, "progress": 1e-320}) is None
    assert upload.stored_bytes({"size": 1000, "progress": 4.0}) == 250
