"""Waiting for a whole fleet at once: `--each --wait` and `batch --wait`.

The fleet runner (fleet.py) sends the requests at its own gentle pace (-j);
after each 2xx it calls FleetWaiter.hook, which turns an answer that started
something into a wait.Watch and returns a Future, so the worker goes on
sending. One polling thread reads every pending watch once per round
(wait.Poller: one `GET machines/?id=...` listing per server for up to
LISTING_CHUNK machines) and completes each Future with the final object as
its machine finishes; the runner writes the lines in input order and takes
the exit status of the first failed line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from maascurl.errors import MaascurlError, is_quiet, note
from maascurl.jobs.wait import (
    Pacer,
    Poller,
    WaitOptions,
    Watch,
    expire,
    final_state,
    fleet_summary,
    goal_to_wait_for,
    image_create,
    json_or_none,
    machine_key,
    one_line,
    read_final,
)
from maascurl.termsafe import safe_line

if TYPE_CHECKING:
    from concurrent.futures import Future

    from maascurl.jobs.call import CallOptions, Session
    from maascurl.jobs.fleet import FleetOptions, Job, Result
    from maascurl.show.waitview import View

# A boot-image upload's wait (the racks' sync, racksync.py) is one command's
# own: a fleet line that creates one is reported, not taken as finished.
FLEET_IMAGE_WAIT = (
    "boot-resources: created, but --wait with --each or batch does not wait for the "
    "rack controllers' sync; use `maascurl upload-image --wait` for each image"
)
FLEET_WINDOW = 10_000  # input lines a fleet run with --wait holds (and waits for) at once


class FleetWaiter:
    """The fleet runner's hook, and one poller for the whole run (see above)."""

    def __init__(
        self, wait: WaitOptions, view: View | None = None, *, summary_out: bool = False
    ) -> None:
        from maascurl.show.waitview import PlainView

        self.summary_out = summary_out  # the summary is stdout's answer (a terminal's)
        self.wait = wait
        self.view: View = view or PlainView()
        self.watches: list[Watch] = []
        self.pending: dict[int, tuple[Watch, Future[Result], Result]] = {}
        self.wake = threading.Condition()
        self.stopped = False
        self.thread: threading.Thread | None = None
        self.started = time.monotonic()

    def hook(self, job: Job, session: Session, result: Result) -> Result | Future[Result]:
        """fleet.Hook: the result as it is, or a Future of the final one."""
        api_root = job.target.api_root
        relpath = job.spec.url[len(api_root) :]
        data = json_or_none(result.body)
        if image_create(job.spec, relpath):
            return result.failed(MaascurlError(FLEET_IMAGE_WAIT))  # never silently unwaited
        goal = goal_to_wait_for(job.spec, relpath, data, self.wait)
        if goal is None:
            return result  # finished when it answered
        now = time.monotonic()
        where = relpath.rstrip("/") or "the API root"
        if goal.poll is not None:
            watch = Watch(where, api_root + goal.poll, goal, now, session=session)
        else:
            watch = Watch(where, job.spec.url, goal, now, session=session)
            watch.key = machine_key(api_root, job.spec.url, data)
            if watch.observe(data, result.body or b"", now):
                self.view.changed(watch)
            watch.slim()
        with self.wake:
            self.watches.append(watch)
        if watch.finished:
            return self.final_result(watch, result)  # done (or failed) as it answered
        from concurrent.futures import Future

        future: Future[Result] = Future()
        with self.wake:
            self.pending[id(watch)] = (watch, future, result)
            if self.thread is None:
                self.thread = threading.Thread(target=self._poll, name="wait", daemon=True)
                self.thread.start()
            self.wake.notify()
        return future

    def final_result(self, watch: Watch, result: Result) -> Result:
        from dataclasses import replace

        state = final_state(watch)
        if watch.error is not None:
            return replace(result.failed(watch.error), final_state=state)
        body = watch.body
        if watch.goal.final is not None and watch.session is not None:
            body = read_final(watch.session, watch.goal).content
        watch.slim(finished_too=True)  # the runner holds the final object now
        return replace(result, body=body, final_state=state)

    def _poll(self) -> None:
        try:
            self._poll_rounds()
        except Exception as exc:  # a bug, or an answer without the field: fail, never hang
            error = (
                exc
                if isinstance(exc, MaascurlError)
                else MaascurlError(f"internal error while waiting: {type(exc).__name__}: {exc}")
            )
            with self.wake:
                left = list(self.pending.values())
                self.pending.clear()
                self.thread = None  # watches to come get a poller of their own
            for _, future, _ in left:
                future.set_exception(error)

    def _poll_rounds(self) -> None:
        poller = Poller(None, self.view)
        pacer = Pacer(self.wait.interval)
        while True:
            with self.wake:
                while not self.stopped and not self.pending:
                    self.wake.wait()
                if self.stopped:
                    return
                watches = [entry[0] for entry in self.pending.values()]
            now = time.monotonic()
            pending = expire(watches, now, self.view)
            self._complete()
            if not pending:
                continue
            delay = min(pacer.next(), max(0.0, min(w.deadline() for w in pending) - now))
            with self.wake:
                if self.wake.wait_for(lambda: self.stopped, timeout=delay):
                    return
            if poller.round(pending):
                pacer.reset()
            self._complete()

    def _complete(self) -> None:
        with self.wake:
            done = [entry for entry in self.pending.values() if entry[0].finished]
            for watch, _, _ in done:
                del self.pending[id(watch)]
        for watch, future, result in done:
            try:
                future.set_result(self.final_result(watch, result))
            except MaascurlError as error:  # the final read of an import failed
                future.set_exception(error)

    def close(self) -> None:
        """Stop polling; say what became of the fleet, and what goes on in MAAS."""
        with self.wake:
            self.stopped = True
            self.wake.notify_all()
            left = list(self.pending.values())
        if self.thread is not None:
            self.thread.join()
        # The futures left are those of an abandoned run (a second Ctrl-C): the
        # runner no longer reads them, so they stay as they are.
        if not self.watches:
            return
        summary = fleet_summary(self.watches, time.monotonic() - self.started)
        if self.summary_out:  # the states are the server's text
            print(safe_line(summary), flush=True)
        elif not is_quiet():
            print(f"maascurl: {safe_line(summary)}", file=sys.stderr, flush=True)
        if left:
            note(f"{len(left)} action(s) not waited for go on in MAAS")


def run_each_waiting(
    method: str,
    path: str,
    items: list[str],
    each: str,
    options: CallOptions,
    fleet: FleetOptions,
    wait: WaitOptions,
) -> int:
    """`post PATH ITEM... --each FILE --wait`: the fleet run, with every action waited for."""
    from maascurl.jobs.fleet import run_each

    def run(fleet: FleetOptions, waiter: FleetWaiter) -> int:
        return run_each(method, path, items, each, options, fleet, waiter.hook)

    return _run_fleet_waiting(run, options, fleet, wait)


def run_batch_waiting(
    name: str, options: CallOptions, fleet: FleetOptions, wait: WaitOptions
) -> int:
    """`batch FILE --wait`: the lines that start something are waited for, all at once."""
    from maascurl.jobs.fleet import run_batch

    def run(fleet: FleetOptions, waiter: FleetWaiter) -> int:
        return run_batch(name, options, fleet, waiter.hook)

    return _run_fleet_waiting(run, options, fleet, wait)


def _run_fleet_waiting(
    run: Callable[[FleetOptions, FleetWaiter], int],
    options: CallOptions,
    fleet: FleetOptions,
    wait: WaitOptions,
) -> int:
    """A fleet run whose hook is a FleetWaiter.

    The runner sends at its own gentle pace (-j); the waiting has no such
    bound, since it costs one listing per round and server whatever the
    fleet's size. The first Ctrl-C sends nothing more and goes on waiting for
    the actions already started; a second stops waiting (they go on in MAAS).
    """
    from dataclasses import replace

    from maascurl.jobs.fleet import shows_bar
    from maascurl.show.waitview import FleetView

    # At a terminal the run ends in its summary, not in a screenful of final objects.
    bodies = not one_line(options)
    waiter = FleetWaiter(wait, summary_out=not bodies)
    fleet = replace(fleet, window=FLEET_WINDOW, bodies=bodies)
    if shows_bar(options, sys.stdout.buffer, bodies):  # the states go under the progress bar
        view = FleetView(waiter.watches)
        waiter.view = view
        fleet = replace(fleet, detail=view.render)
    try:
        return run(fleet, waiter)
    finally:
        waiter.close()
