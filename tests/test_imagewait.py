"""upload-image --wait (and `post boot-resources ... --wait`): the racks' sync.

Over real HTTP against the simulator, whose RackSync block answers
`rackcontrollers/` and `op=list_boot_images` as MAAS 3.4 does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Run, Spawn, env_for_subprocess, values
from simulator import MaasSimulator, RackSync, Reply
from test_completion import cached  # noqa: F401 (a fixture)

from maascurl.jobs import racksync, upload
from maascurl.jobs.racksync import Image, rack_state

FAST = ("--interval", "0.02", "--wait-timeout", "20")  # a bug must not hang the suite
UPLOAD = ("upload-image", "custom/rhel9", "amd64/generic")
RACK = "m6w3b4"  # the fixture's one rack controller, maas-dev


@pytest.fixture
def racks(api: MaasSimulator) -> Iterator[RackSync]:
    api.boot_images.clear()
    api.rack_sync.reset()
    api.timed.reset()
    yield api.rack_sync
    api.rack_sync.reset()
    api.timed.reset()
    api.boot_images.clear()


def image_file(tmp_path: Path, size: int = 3000) -> Path:
    path = tmp_path / "rhel9.tar.gz"
    path.write_bytes(os.urandom(size))
    return path


def sync_polls(sim: MaasSimulator) -> list[str]:
    return [
        r.path for r in sim.requests if r.method == "GET" and ("op", "list_boot_images") in r.query
    ]


def finished_resource(stdout: str) -> dict[str, object]:
    resource = json.loads(stdout)
    rfile = upload.newest_file(resource)
    assert rfile is not None and rfile["complete"] is True
    return resource


# ---------------------------------------------------------------- upload-image --wait


def test_waits_until_the_rack_has_synced(racks: RackSync, run: Run, tmp_path: Path) -> None:
    racks.start_seconds, racks.sync_seconds = 0.3, 0.6
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert finished_resource(result.stdout)["name"] == "rhel9"
    lines = result.stderr.splitlines()
    states = [line.split(": ")[-1].split(" [")[0] for line in lines]
    assert states[-1] == "synced" and set(states) <= {"out-of-sync", "syncing", "synced"}
    assert lines[-1].startswith(f"maascurl: rackcontrollers/{RACK} (maas-dev): synced [")
    assert len(sync_polls(racks.sim)) >= 2


def test_maas_3_5_racks_report_synced_at_the_first_poll(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    racks.sim.boot_images.mode = "3.5"
    racks.sync_seconds = 60  # what a 3.4 rack would take; 3.5 racks hold no images
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert len(sync_polls(racks.sim)) == 1


def test_every_rack_is_waited_for(racks: RackSync, run: Run, tmp_path: Path) -> None:
    racks.set_racks(3)
    racks.sync_seconds = 0.2
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    synced = [line for line in result.stderr.splitlines() if ": synced [" in line]
    assert len(synced) == 3
    assert {path.split("/")[-2] for path in sync_polls(racks.sim)} == {"rack00", "rack01", "rack02"}


def test_timeout_exits_7_naming_the_racks_still_behind(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    racks.set_racks(2)
    racks.sync_seconds = 60
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST, "--wait-timeout", "0.2")
    assert result.exit_code == 7
    error = result.stderr.splitlines()[-1]
    assert error.startswith("maascurl: error: image sync: still not synced after ")
    assert error.endswith(
        "on rack-0 (syncing), rack-1 (syncing); it goes on in MAAS "
        "(--wait-timeout sets how long to wait)"
    )
    finished_resource(result.stdout)  # the upload itself worked: its resource is printed


def test_out_of_sync_is_waited_through_not_a_failure(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    racks.start_seconds = 60  # the import MAAS scheduled has not started
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST, "--wait-timeout", "0.2")
    assert result.exit_code == 7
    assert "maas-dev (out-of-sync)" in result.stderr.splitlines()[-1]


def test_transient_503_during_polling_is_tolerated(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    racks.sync_seconds = 0.2
    racks.sim.timed.queue_get(f"rackcontrollers/{RACK}/", Reply(503, b"busy"), count=3)
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    finished_resource(result.stdout)
    notes = [line for line in result.stderr.splitlines() if "still waiting" in line]
    assert notes == [
        f"maascurl: rackcontrollers/{RACK}: 503 Service Unavailable: busy; still waiting"
    ]


def test_no_rack_controllers_is_said_and_exits_0(racks: RackSync, run: Run, tmp_path: Path) -> None:
    racks.set_racks(0)
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    finished_resource(result.stdout)
    assert result.stderr.splitlines()[-1] == (
        "maascurl: note: MAAS has no rack controllers: there is nothing to sync the image to"
    )
    assert sync_polls(racks.sim) == []


def test_a_disconnected_rack_is_not_waited_for(racks: RackSync, run: Run, tmp_path: Path) -> None:
    racks.set_racks(2)
    racks.disconnected = {"rack01"}
    racks.sync_seconds = 60
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST, "--wait-timeout", "0.2")
    assert result.exit_code == 7  # rack-0 is still syncing; rack-1 is not named
    assert result.stderr.splitlines()[-1].count("(syncing)") == 1
    assert "rack-1" not in result.stderr.splitlines()[-1]
    assert "maascurl: note: rack-1 is not connected to the region: it syncs when it is back" in (
        result.stderr.splitlines()
    )


def test_a_rack_removed_while_waiting_is_noted(racks: RackSync, run: Run, tmp_path: Path) -> None:
    gone = Reply(404, b"No RackController matches the given query.")
    racks.sync_seconds = 0.2
    racks.sim.timed.queue_get(f"rackcontrollers/{RACK}/", gone)
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "maascurl: note: maas-dev is no longer a rack controller: not waited for"
    )


def test_without_wait_no_rack_is_asked(racks: RackSync, run: Run, tmp_path: Path) -> None:
    result = run(*UPLOAD, str(image_file(tmp_path)))
    assert result.exit_code == 0, result.stderr
    assert sync_polls(racks.sim) == []
    assert not any(r.path.endswith("/rackcontrollers/") for r in racks.sim.requests)


def test_wait_timeout_without_wait_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait-timeout", "5m")
    assert result.exit_code == 2
    assert "--wait-timeout and --interval need --wait" in result.stderr


def test_help_documents_wait(run: Run) -> None:
    text = run("upload-image", "--help").stdout
    assert "--wait" in text and "--wait-timeout" in text and "--interval" in text
    assert "synced" in text


# ---------------------------------------------------------------- post boot-resources --wait


def test_post_with_content_waits_for_the_racks(racks: RackSync, run: Run, tmp_path: Path) -> None:
    racks.sync_seconds = 0.2
    path = image_file(tmp_path)
    result = run(
        "post",
        "boot-resources",
        "name=custom/small",
        "architecture=amd64/generic",
        "filetype=tgz",
        f"content@={path}",
        "--wait",
        *FAST,
    )
    assert result.exit_code == 0, result.stderr
    assert finished_resource(result.stdout)["name"] == "small"
    assert "synced [" in result.stderr.splitlines()[-1]
    assert len(sync_polls(racks.sim)) >= 2


def test_big_post_goes_in_chunks_and_still_waits(
    racks: RackSync, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "AUTO_CHUNK_MIN", 1000)
    racks.sync_seconds = 0.2
    path = image_file(tmp_path)
    args = ("name=custom/big", "architecture=amd64/generic", "filetype=tgz", f"content@={path}")
    result = run("post", "boot-resources", *args, "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    assert any(r.method == "PUT" for r in racks.sim.requests)  # the chunked way
    assert finished_resource(result.stdout)["name"] == "big"
    assert "synced [" in result.stderr.splitlines()[-1]


def test_post_without_content_cannot_be_waited_for(racks: RackSync, run: Run) -> None:
    fields = ("name=custom/empty", "architecture=amd64/generic", "size=10", "sha256=" + "0" * 64)
    result = run("post", "boot-resources", *fields, "--wait", *FAST)
    assert result.exit_code == 1
    resource = json.loads(result.stdout)  # it was created: what was made is printed
    assert result.stderr.splitlines()[-1] == (
        f"maascurl: error: --wait: boot-resources/{resource['id']}/ has no content yet, so "
        "no rack controller will sync it; upload it with `maascurl upload-image`"
    )
    assert sync_polls(racks.sim) == []


# ---------------------------------------------------------------- Ctrl-C, imports, TAB


def test_ctrl_c_exits_130_saying_the_sync_goes_on(
    spawn: Spawn, racks: RackSync, profile: str, home: Path, tmp_path: Path
) -> None:
    racks.sync_seconds = 60
    argv = [sys.executable, "-m", "maascurl", *UPLOAD, str(image_file(tmp_path)), "--wait"]
    process = spawn(
        [*argv, "--interval", "0.05"],
        env=env_for_subprocess(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # the first state line: it is waiting now
    assert "syncing" in first
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stdout == ""
    assert (
        stderr.strip() == "maascurl: error: interrupted; the image sync goes on in MAAS (maas-dev)"
    )


def test_piped_wait_never_imports_rich(
    racks: RackSync, profile: str, home: Path, tmp_path: Path
) -> None:
    from test_fast_paths import imports_of, top_level

    racks.sync_seconds = 0.5
    path = str(image_file(tmp_path))
    names, done = imports_of(
        env_for_subprocess(home), *UPLOAD, path, "--wait", "--interval", "0.02"
    )
    assert done.returncode == 0, done.stderr
    assert top_level(names).isdisjoint({"rich", "pygments"})
    assert len(sync_polls(racks.sim)) >= 2


@pytest.mark.usefixtures("cached")
def test_tab_offers_the_wait_options_on_upload_image() -> None:
    assert values("maascurl upload-image --wa") == ["--wait", "--wait-timeout"]
    assert values("maascurl upload-image --inte") == ["--interval"]


# ---------------------------------------------------------------- reading MAAS's answer


def test_a_custom_image_is_listed_by_its_bare_name() -> None:
    image = Image("custom/rhel9", "amd64/generic")
    listed = [{"name": "rhel9", "architecture": "amd64", "subarches": ["generic"]}]
    assert image.held_in(listed)
    assert not Image("custom/rhel9", "arm64/generic").held_in(listed)
    assert Image("windows/win2022", "amd64/generic").held_in(
        [{"name": "windows/win2022", "architecture": "amd64", "subarches": ["generic"]}]
    )


def test_rack_state_reads_maas_answer() -> None:
    image = Image("custom/rhel9", "amd64/generic")
    other = [{"name": "ubuntu/noble", "architecture": "amd64", "subarches": ["generic"]}]
    answer = {"images": other, "connected": True, "status": "synced"}
    assert rack_state(answer, image, "r") == "synced, without this image"
    assert rack_state({**answer, "images": []}, image, "r") == "synced"  # nothing listed
    offline = {"images": [], "connected": False, "status": "unknown"}
    assert rack_state(offline, image, "r") == racksync.DISCONNECTED
    for status in ("syncing", "out-of-sync", "region-importing", "unknown"):
        assert rack_state({**answer, "status": status}, image, "r") == status


def test_an_image_held_for_another_subarchitecture_is_not_this_one() -> None:
    """A rack lists an image once per name and architecture, its subarchitectures apart."""
    image = Image("custom/rhel9", "amd64/hwe-22.04")
    generic = {"name": "rhel9", "architecture": "amd64", "subarches": ["generic"]}
    answer = {"images": [generic], "connected": True, "status": "synced"}
    assert rack_state(answer, image, "r") == "synced, without this image"
    both = {**generic, "subarches": ["generic", "hwe-22.04"]}
    assert rack_state({**answer, "images": [both]}, image, "r") == "synced"
    assert rack_state(answer, Image("rhel9", "amd64"), "r") == "synced"  # generic by default


def test_a_fleet_line_that_uploads_an_image_is_not_taken_as_waited_for(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    path = image_file(tmp_path)
    source = tmp_path / "work.txt"
    source.write_text(
        "post boot-resources name=custom/one architecture=amd64/generic filetype=tgz "
        f"content@={path}\n"
    )
    result = run("batch", str(source), "--wait", *FAST)
    assert result.exit_code == 1
    assert "does not wait for the rack controllers' sync" in result.stderr, result.stderr
    assert sync_polls(racks.sim) == []


def test_live_view_at_a_terminal(racks: RackSync, profile: str, home: Path, tmp_path: Path) -> None:
    """stderr on a terminal: the rack's live state, then the final line; stdout stays the JSON."""
    from test_wait import maascurl_on_terminal

    racks.sync_seconds = 1.0
    path = str(image_file(tmp_path))
    status, stdout, screen = maascurl_on_terminal(
        home, *UPLOAD, path, "--wait", "--interval", "0.05"
    )
    assert status == 0, screen
    finished_resource(stdout.decode())
    assert "maas-dev" in screen and "syncing" in screen
    assert f"maascurl: rackcontrollers/{RACK} (maas-dev): synced [" in screen


def test_a_rack_listing_that_is_not_a_list_is_an_error(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    racks.sim.timed.queue_get("rackcontrollers/", Reply(200, b"{}", "application/json"))
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "maascurl: error: rackcontrollers: the answer is not a list of rack controllers"
    )


def test_a_transient_failure_of_the_rack_listing_is_waited_out(
    racks: RackSync, run: Run, tmp_path: Path
) -> None:
    racks.sim.timed.queue_get("rackcontrollers/", Reply(503, b"busy"), count=2)
    result = run(*UPLOAD, str(image_file(tmp_path)), "--wait", *FAST)
    assert result.exit_code == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "still waiting" in line]
    assert notes == [
        "maascurl: note: rackcontrollers: 503 Service Unavailable: busy; still waiting"
    ]
    assert "synced [" in result.stderr.splitlines()[-1]
