"""Sixteen behaviours a user sees that no other test pinned down (issue #25).

An independent sample of mutants found that each of these could break with the
whole suite still passing. Each test here names its behaviour and is checked to
fail when that behaviour breaks (scripts/mutate.py holds the mutants). They go
through the command line wherever they can: the simulator, the hostile server.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import Result
from conftest import Run, complete, ready
from hostile import HostileServer, reply
from simulator import BootImages, MaasSimulator, RecordedRequest, Reply

# The package's internals these tests reach into, all here: the package is being moved
# into layer folders, and these are the lines to rewrite then.
from maascurl.api import listings
from maascurl.jobs import events, wait
from maascurl.jobs.wait import field_value
from maascurl.wire.bounded import read_capped

FAST = ("--interval", "0.05")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


# ------------------------------------------------------------ 1-3: checks against the description


def test_an_op_sent_with_the_wrong_method_gets_the_command_to_type(
    api: MaasSimulator, run: Run
) -> None:
    """1. The hint names the op's own method, not the one typed."""
    result = run("get", "machines", "op=allocate")
    assert result.exit_code == 2
    assert (
        "machines op=allocate is a POST op: use `maascurl post machines op=allocate`"
        in result.stderr
    )
    assert api.requests == []


def test_a_mistyped_file_part_name_gets_a_did_you_mean(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """2. `contnet@=FILE`: file parts are checked for typos like fields are (a likely
    typo is refused before anything is sent, #21)."""
    image = tmp_path / "root.tgz"
    image.write_bytes(b"\0" * 100)
    result = run(
        "post", "boot-resources", "name=custom/x", "architecture=amd64/generic",
        f"contnet@={image}", "--offline",
    )  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert "has no field 'contnet'; did you mean 'content'?" in result.stderr
    assert api.requests == []


def test_a_misspelt_events_filter_draws_a_warning(api: MaasSimulator, run: Run) -> None:
    """3. `events hostnam=x`: the filters are checked against events op=query (a likely
    typo is refused before anything is sent, #21)."""
    result = run("events", "hostnam=x")
    assert result.exit_code == 2, result.stderr
    assert "has no field 'hostnam'; did you mean 'hostname'?" in result.stderr
    assert api.requests == []


# --------------------------------------------------------------- 4: events -f -n N


@pytest.fixture
def log(api: MaasSimulator) -> Iterator[MaasSimulator]:
    """Five INFO events on one machine, and nothing else in the log."""
    api.timed.reset()
    entries = api.timed.log
    saved = list(entries.events)
    entries.events.clear()
    for i in range(5):
        entries.log(api.machines[0], "INFO", f"old {i}")
    yield api
    entries.events[:] = saved


def test_following_after_a_backlog_of_several_prints_each_event_once(
    log: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4. `-f -n 3` and one new event: four lines; the backlog is not printed again."""
    sleeps = 0

    def pause(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 1:
            log.timed.log.log(log.machines[0], "INFO", "new")
        elif sleeps > 2:
            raise KeyboardInterrupt  # how following ends

    monkeypatch.setattr(events.time, "sleep", pause)
    result = ok(run("events", "-f", "-n", "3"))
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in got] == ["old 2", "old 3", "old 4", "new"]
    ids = [e["id"] for e in got]
    assert ids == sorted(set(ids))


# --------------------------------------------------------------- 5-7: bounded reading


@pytest.mark.parametrize("chunks", [[b"x" * 64], [b"x" * 32, b"x" * 32], [b"x"] * 64])
def test_a_body_of_exactly_the_cap_is_not_over_it(chunks: list[bytes]) -> None:
    """5. read_capped: LIMIT bytes are within the cap; one more is over it."""
    exact = httpx.Response(200, stream=httpx.ByteStream(b"".join(chunks)))
    assert read_capped(_chunked(chunks), 64) == (b"x" * 64, False)
    assert read_capped(exact, 64) == (b"x" * 64, False)
    assert read_capped(_chunked([*chunks, b"y"]), 64) == (b"x" * 64, True)


def _chunked(chunks: list[bytes]) -> httpx.Response:
    class Chunks(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

    return httpx.Response(200, stream=Chunks())


def test_an_identity_content_encoding_is_accepted(hostile: HostileServer, run: Run) -> None:
    """6. identity is no coding at all: the answer is read as it is."""
    hostile.answer(reply(200, b'{"ok": 1}', {"Content-Encoding": "identity"}))
    result = ok(run("get", "machines"))
    assert result.stdout == '{"ok": 1}'


def test_max_time_ends_a_body_that_trickles_then_stalls_at_the_deadline(
    hostile: HostileServer, run: Run
) -> None:
    """7. The body keeps coming until shortly before --max-time, then stops: the command
    ends at the deadline, not a read timeout after the last byte."""
    max_time = 2.0

    def trickle_then_stall(out: BinaryIO) -> None:
        out.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        started = time.monotonic()
        while time.monotonic() - started < max_time - 0.4:
            out.write(b"1\r\n \r\n")
            out.flush()
            time.sleep(0.1)
        time.sleep(10)  # silence, well past the deadline

    hostile.answer(trickle_then_stall)
    started = time.monotonic()
    result = run("get", "machines", "--timeout", "30", "--max-time", str(max_time))
    took = time.monotonic() - started
    assert result.exit_code == 7, result.stderr
    assert "--max-time" in result.stderr
    # Without the deadline's own timer the last read waits out a read timeout as long as
    # --max-time itself: 1.6 + 2 s.
    assert took < max_time + 1.0


# --------------------------------------------------------------- 8: the listing cache for TAB


def test_the_listing_cache_drops_the_least_recently_recorded_listing(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8. A listing recorded again is the newest: the one dropped is the least recent."""
    monkeypatch.setattr(listings, "MAX_PATHS", 2)
    ok(run("get", "machines"))
    ok(run("get", "zones"))
    ok(run("get", "machines"))  # machines/ is now more recent than zones/
    ok(run("get", "users"))
    assert "machines/abc000/" in complete("maascurl get machines/", "zsh")
    assert "users/admin/" in complete("maascurl get users/", "zsh")
    assert "zones/default/" not in complete("maascurl get zones/", "zsh")


# --------------------------------------------------------------- 9-10: upload-image

CHUNK = 64 * 1024
UPLOAD = ("upload-image", "custom/rhel9", "amd64/generic")


@pytest.fixture
def images(api: MaasSimulator) -> Iterator[BootImages]:
    api.boot_images.clear()
    yield api.boot_images
    api.boot_images.clear()


def chunk_puts(sim: MaasSimulator) -> list[RecordedRequest]:
    return [r for r in sim.requests if r.method == "PUT" and "/upload/" in r.path]


def image_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "rhel9.tar.gz"
    path.write_bytes(os.urandom(size))
    return path


def test_scattered_chunk_faults_each_get_the_retries(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9. The failure count starts again after a good chunk: with --retries 1, two
    different chunks cut once each still make a complete upload."""
    path = image_file(tmp_path, 6 * CHUNK)
    serve = images.serve
    puts = 0
    lock = threading.Lock()

    def cut_second_and_fifth(handler: Any) -> bool:
        nonlocal puts
        if handler.command == "PUT" and "/upload/" in handler.path:
            with lock:
                puts += 1
                if puts in (2, 5):  # chunk 1 (once), and chunk 3 after two good ones
                    images.let_through, images.breaks = 0, 1
        return serve(handler)

    monkeypatch.setattr(images, "serve", cut_second_and_fifth)
    args = ("--chunk-size", str(CHUNK), "--retries", "1", "--retry-max-wait", "0")
    result = run(*UPLOAD, str(path), *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("retrying in 0 s (1/1)") == 2
    assert len(chunk_puts(images.sim)) == 6 + 2
    rfile = next(iter(next(iter(json.loads(result.stdout)["sets"].values()))["files"].values()))
    assert rfile["complete"] is True
    assert rfile["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_upload_maas_still_reports_incomplete_fails(
    run: Run, images: BootImages, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10. Every chunk answered 200, but MAAS does not hold the whole file: an error."""
    path = image_file(tmp_path, 3 * CHUNK)
    accept = images.accept

    def last_chunk_lost(
        request: RecordedRequest, rfile: dict[str, Any], key: str, held: int, length: int
    ) -> Reply:
        if held + length == rfile["size"]:
            return Reply(200, b"OK")  # answered, but never stored
        return accept(request, rfile, key, held, length)

    monkeypatch.setattr(images, "accept", last_chunk_lost)
    result = run(*UPLOAD, str(path), "--chunk-size", str(CHUNK))
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith("maascurl: error: boot-resources/")
    assert "is still incomplete after the upload" in result.stderr
    assert result.stdout == ""
    assert len(chunk_puts(images.sim)) == 3


# --------------------------------------------------------------- 11: password login


def test_password_login_over_cleartext_http_warns_before_the_password_is_sent(
    sim: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """11. A host that is not loopback, over http: the warning comes before the password
    goes out (here it is refused, so nothing after the POST can have said it)."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "maas.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)  # maas.example is the simulator
    url = f"http://maas.example:{urlsplit(sim.url).port}/MAAS"
    result = run("login", "pw", url, "--username", "admin", "--password", "-", input="wrong\n")
    assert result.exit_code == 4, result.stderr
    warning, refused = result.stderr.splitlines()
    assert warning == (
        f"maascurl: warning: {url} is plain http: the password travels in clear text; "
        "use https if you can"
    )
    assert refused == "maascurl: error: MAAS refused the username or password"
    assert [r.method for r in sim.requests if r.path.endswith("/accounts/authenticate/")] == [
        "POST"
    ]


# --------------------------------------------------------------- 12, 13, 16: waits


def test_a_wait_never_sleeps_past_the_wait_timeout(fleet: MaasSimulator, run: Run) -> None:
    """12. --interval 5 --wait-timeout 0.5: the wait ends at its timeout, not at the next
    poll a whole interval later (one machine)."""
    fleet.timed.seconds = 60
    started = time.monotonic()
    result = run(
        "post", f"machines/{ready(fleet)[0]}", "op=deploy", "--wait",
        "--interval", "5", "--wait-timeout", "0.5",
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.exit_code == 7, result.stderr
    assert "still Deploying after" in result.stderr
    assert took < 3


def test_a_fleet_wait_never_sleeps_past_the_wait_timeout(fleet: MaasSimulator, run: Run) -> None:
    """12. The same for a fleet (`--each --wait`)."""
    fleet.timed.seconds = 60
    started = time.monotonic()
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait",
        "--interval", "5", "--wait-timeout", "0.5", input="\n".join(ready(fleet)[:3]) + "\n",
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.exit_code == 7, result.stderr
    assert "3 still Deploying (timed out)" in result.stderr
    assert took < 3


def test_a_list_index_equal_to_the_length_is_no_such_field(api: MaasSimulator, run: Run) -> None:
    """13. `maascurl wait` on interface_set.N, N the list's length: no such field, no crash."""
    count = len(api.machines[0]["interface_set"])
    result = run("wait", "machines/abc000", f"interface_set.{count}.name=eth9", *FAST)
    assert result.exit_code == 2, result.stderr
    assert f"the answer has no field 'interface_set.{count}.name'" in result.stderr
    assert field_value({"a": [1, 2]}, "a.1") == 2
    assert field_value({"a": [1, 2]}, "a.2") is field_value({}, "a")  # no such field


@pytest.mark.timeout(60)
def test_the_first_machine_of_each_listing_is_polled(
    fleet: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16. A fleet of 50 polled 20 to a listing: every machine is read, the first of each
    listing too, and the whole fleet ends Deployed."""
    monkeypatch.setattr(wait, "LISTING_CHUNK", 20)
    ids = ready(fleet)
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", *FAST,
        "--wait-timeout", "10", input="\n".join(ids) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["system_id"] for m in out] == ids
    assert {m["status_name"] for m in out} == {"Deployed"}
    polled = {v for r in fleet.requests if r.method == "GET" for _, v in r.query}
    assert polled == set(ids)


@pytest.mark.timeout(15)  # not the default half hour, nor the suite's 120 s
def test_maascurl_wait_honours_its_wait_timeout(api: MaasSimulator, run: Run) -> None:
    """16. `maascurl wait --wait-timeout 1` ends after about a second (exit 7), not after
    the default half hour."""
    assert api.machines[0]["status_name"] == "Ready"
    started = time.monotonic()
    result = run("wait", "machines/abc000", "status_name=Deployed", "--wait-timeout", "1", *FAST)
    took = time.monotonic() - started
    assert result.exit_code == 7, result.stderr
    assert "machines/abc000: still Ready after" in result.stderr
    assert took < 10


# --------------------------------------------------------------- 14-15: fleet runs


@pytest.mark.timeout(60)
def test_each_wait_sends_every_action_before_waiting_past_the_window(
    fleet: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """14. 20 lines with -j 1 (the runner's own window: 16): every action is sent at
    once, none held back until an earlier machine has finished."""
    seconds = 3.0
    fleet.timed.seconds = seconds
    sent: list[float] = []
    act = fleet.timed.act

    def timed_act(call: Any, op: str) -> Reply:
        sent.append(time.monotonic())
        return act(call, op)

    monkeypatch.setattr(fleet.timed, "act", timed_act)
    ids = ready(fleet)[:20]
    result = run(
        "post", "machines/{}", "op=deploy", "--each", "-", "--wait", "-j", "1", *FAST,
        "--wait-timeout", "30", input="\n".join(ids) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(sent) == 20
    # Held back, the 17th would go only once the first had finished: `seconds` later.
    assert sent[-1] - sent[0] < seconds
    assert [json.loads(line)["status_name"] for line in result.stdout.splitlines()] == [
        "Deployed"
    ] * 20


def test_a_line_whose_output_file_cannot_be_written_fails(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    """15. -o FILE that cannot be written: the line fails; its body does not go to stdout."""
    out = tmp_path / "out"
    (out / "abc002.json").mkdir(parents=True)  # a directory where the file would go
    result = run(
        "get", "machines/{}", "--each", "-", "-o", str(out / "{}.json"), input="abc001\nabc002\n"
    )
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert json.loads((out / "abc001.json").read_text())["system_id"] == "abc001"
    lines = result.stderr.splitlines()
    assert lines[0].startswith("maascurl: error: line 2 (get machines/abc002/): cannot write ")
    assert "2 request(s): 1 ok, 1 failed" in lines[-1]
