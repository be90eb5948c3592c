"""`--wait` after a boot-image upload: until the rack controllers have synced it.

Facts from MAAS's source (canonical/maas 3.4, src/maasserver/api/rackcontrollers.py
and Node.list_boot_images / get_image_sync_status in src/maasserver/models/node.py):

- `GET rackcontrollers/{system_id}/?op=list_boot_images` answers
  {"images": [...], "connected": bool, "status": ...}. Each image is one name
  and architecture: a custom image by its bare name ("rhel9" for
  custom/rhel9), any other as os/release; "architecture" is "amd64" and the
  subarchitectures are in "subarches".
- "status": "region-importing" while the region imports from a stream;
  "synced" when the rack holds every boot resource of the region; "syncing"
  while it is behind and its import runs; "out-of-sync" while it is behind
  and no import runs; "unknown" when the region could not ask it.
- A rack the region cannot reach answers {"images": [], "connected": false,
  "status": "unknown"}: it syncs when it is back, so it is not waited for.
- When the last chunk of an upload arrives (or a create carries the whole
  content), MAAS schedules an import on every rack after the transaction
  commits; each rack also refreshes its images on its own once its last
  refresh is 15 minutes old, checked every 5 minutes (provisioningserver's
  ImageDownloadService). So "out-of-sync" right after an upload is the
  moment before the rack's import starts, not a failure: it is waited
  through, and only the timeout ends it. (A create whose content MAAS
  already held whole schedules no import: such a rack stays out-of-sync
  until its own refresh, up to about 20 minutes.)
- From 3.5 on, racks no longer hold images (they fetch them from the
  regions): list_boot_images always answers "synced" with every boot
  resource, and the wait ends at the first poll.

Racks are polled with wait.py's machinery (each read signed afresh, transient
failures tolerated, backoff with jitter, the plain and live views).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from maascurl.errors import HTTPStatusError, Interrupted, MaascurlError, TimedOut, note
from maascurl.jobs.wait import (
    ANSWER_LIMIT,
    MINUTE,
    POLL_LIMIT,
    Condition,
    Goal,
    Pacer,
    Watch,
    format_duration,
    get_spec,
    json_or_none,
    parse_json,
    transient,
    view_for,
    wait_all,
    write_final,
)
from maascurl.termsafe import safe_line

if TYPE_CHECKING:
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.jobs.wait import WaitOptions
    from maascurl.wire.request import RequestSpec

SYNC_TIMEOUT = 30 * MINUTE
SYNCED, DISCONNECTED = "synced", "disconnected"
SYNC_GOAL = Goal(
    Condition(done=(("sync", frozenset({SYNCED, DISCONNECTED})),)),
    SYNC_TIMEOUT,
    labels={},  # states are shown as they are: syncing, out-of-sync
)


class Image:
    """An uploaded image as a rack lists it: name, architecture, subarchitecture."""

    def __init__(self, name: str, architecture: str) -> None:
        self.name = name.removeprefix("custom/")  # MAAS stores custom images by bare name
        self.arch, _, subarch = architecture.partition("/")
        self.subarch = subarch or "generic"

    def held_in(self, images: list[Any]) -> bool:
        return any(
            isinstance(item, dict)
            and item.get("name") == self.name
            and item.get("architecture") == self.arch
            and self.subarch in (item.get("subarches") or [self.subarch])
            for item in images
        )


def rack_state(answer: Any, image: Image, where: str) -> str:
    """What one list_boot_images answer says of IMAGE on that rack."""
    if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
        raise MaascurlError(f"{where}: the answer is not a list of boot images")
    if answer.get("connected") is False:
        return DISCONNECTED
    status: str = answer["status"]
    images = answer.get("images")
    if status == SYNCED and isinstance(images, list) and images and not image.held_in(images):
        return "synced, without this image"  # not yet: keep waiting
    return status


class RackWatch(Watch):
    """One rack controller's sync, judged by what it says of one image."""

    image: Image
    rack_host: str

    def observe(self, data: Any, body: bytes, now: float) -> bool:
        state = rack_state(data, self.image, self.where)
        return super().observe({"sync": state, "hostname": self.rack_host}, body, now)


def wait_for_racks(session: Session, name: str, architecture: str, wait: WaitOptions) -> None:
    """Poll every rack controller until each connected one has synced the image.

    Raises TimedOut (exit 7) naming the racks still behind, Interrupted (130)
    saying the sync goes on, or the error that ended a rack's reads.
    """
    api_root = session.target.api_root
    started = time.monotonic()
    timeout = SYNC_TIMEOUT if wait.timeout is None else wait.timeout
    racks = parse_json(_list_racks(session, wait.interval, started + timeout), "rackcontrollers")
    if not isinstance(racks, list):
        raise MaascurlError("rackcontrollers: the answer is not a list of rack controllers")
    if not racks:
        note("MAAS has no rack controllers: there is nothing to sync the image to")
        return
    goal = SYNC_GOAL._replace(timeout=timeout)
    image = Image(name, architecture)
    watches = [_watch(api_root, r, goal, image, started) for r in racks if isinstance(r, dict)]
    try:
        polled: list[Watch] = list(watches)
        with view_for(polled) as view:  # a rack may have it already:
            wait_all(session, polled, wait.interval, view, read_first=True)
    except Interrupted:
        behind = ", ".join(_name(w) for w in watches if not w.finished)
        racks_text = f" ({behind})" if behind else ""
        raise Interrupted(f"interrupted; the image sync goes on in MAAS{racks_text}") from None
    _settle(watches, time.monotonic() - started)


def create_and_wait(
    spec: RequestSpec, session: Session, options: CallOptions, wait: WaitOptions
) -> None:
    """`post boot-resources ... --wait`: send SPEC, wait for the racks' sync, write the resource.

    The created resource goes to stdout once synced, or when the wait timed out.
    """
    answer = session.read(spec, ANSWER_LIMIT)
    data = json_or_none(answer.content)
    reason = not_syncable(data)
    if reason is not None:
        write_final(answer, options)  # it was created: say what was made
        raise MaascurlError(reason)
    try:
        wait_for_racks(session, data["name"], str(data.get("architecture", "")), wait)
    except TimedOut:
        write_final(answer, options)
        raise
    write_final(answer, options)


def _list_racks(session: Session, interval: float, deadline: float) -> bytes:
    """`GET rackcontrollers/`, a transient failure waited out like a poll's."""
    pacer, noted = Pacer(interval), False
    while True:
        try:
            spec = get_spec(session.target.api_root + "rackcontrollers/")
            return session.read(spec, POLL_LIMIT).content
        except MaascurlError as error:
            delay = pacer.next()
            if not transient(error) or time.monotonic() + delay >= deadline:
                raise
            if not noted:
                note(f"rackcontrollers: {error}; still waiting")  # note() makes it one safe line
                noted = True
            time.sleep(delay)


def _watch(
    api_root: str, rack: dict[str, Any], goal: Goal, image: Image, started: float
) -> RackWatch:
    from urllib.parse import quote

    # The server's text: one segment of the URL whatever it holds, shown escaped.
    system_id = quote(str(rack.get("system_id", "")), safe="")
    where = f"rackcontrollers/{system_id}"
    watch = RackWatch(where, f"{api_root}{where}/?op=list_boot_images", goal, started)
    watch.image = image
    host = rack.get("hostname")
    watch.rack_host = host if isinstance(host, str) else ""
    return watch


def _name(watch: RackWatch) -> str:
    return safe_line(watch.rack_host) if watch.rack_host else watch.where


def _settle(watches: list[RackWatch], seconds: float) -> None:
    """Notes for racks not waited for; the error that ended the wait, if any."""
    for watch in watches:
        if watch.error is None and watch.seen is not None and watch.seen.state == DISCONNECTED:
            note(f"{_name(watch)} is not connected to the region: it syncs when it is back")
        elif isinstance(watch.error, HTTPStatusError) and watch.error.status == 404:
            note(f"{_name(watch)} is no longer a rack controller: not waited for")
            watch.error = None
    late = [w for w in watches if isinstance(w.error, TimedOut)]
    if late:
        states = ", ".join(f"{_name(w)} ({w.seen.state if w.seen else 'not read'})" for w in late)
        raise TimedOut(
            f"image sync: still not synced after {format_duration(seconds)} on {states}; "
            "it goes on in MAAS (--wait-timeout sets how long to wait)"
        )
    for watch in watches:
        if watch.error is not None:
            raise watch.error


def not_syncable(resource: Any) -> str | None:
    """Why a created boot resource cannot be waited for, or None when it can.

    A resource created without its content (size and sha256 only) is synced
    by no rack until its upload completes: waiting could only time out.
    """
    from maascurl.jobs.upload import newest_file

    if not isinstance(resource, dict) or not isinstance(resource.get("name"), str):
        return "--wait: the answer is not a boot resource; there is no sync to wait for"
    rfile = newest_file(resource)
    if rfile is None or not rfile.get("complete"):
        return (
            f"--wait: boot-resources/{resource.get('id')}/ has no content yet, so no rack "
            "controller will sync it; upload it with `maascurl upload-image`"
        )
    return None
