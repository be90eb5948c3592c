"""Fleet runs: one request per input line, many in flight, results in input order.

`--each` and `maascurl batch` come here. A run has two passes: the first
reads the input once, builds and checks every line's request against the
cached API description and sends nothing, so one bad line in 500 leaves the
fleet untouched; the second sends the requests so planned (see Plans).
Memory stays flat: the plans wait in a temporary file, and only the requests
in a bounded window are held at any time. A line's answer is read whole up
to LINE_BODY_LIMIT (with -o and no hook it is streamed to its file instead),
and the answers that wait for an earlier line's are held in memory only up
to HELD_MEMORY bytes in all; past that they wait in a private temporary
file (see Held).

Requests go out from `jobs` worker threads through one `call.Session` (a
kept-alive, signed connection pool) per server. The main thread reads the
input, hands requests to the workers and writes the results strictly in
input order: JSON Lines on stdout (or one file per line with -o), one stderr
line per failure, and one JSON record per request in --report.

Lines that address the same object (the same server, and the same path or
one under it: `machines/abc/` and `machines/abc/interfaces/`, or `machines/`
and any machine) are sent in input order, each once the one before it has
finished (see Order); independent lines still overlap. `--no-check` turns
that off, `-v` says which line waits for which.

Extension point: a `Hook` runs in the worker after a 2xx answer and may
replace the result (a new body, a final state, a failure with its own exit
code), for work that goes on after the answer, such as waiting for what a
request started.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from maascurl.errors import (
    EXIT_INTERRUPTED,
    HTTPStatusError,
    MaascurlError,
    UsageError,
    each_warning_once,
    error_line,
    note,
    notes_about,
    redact_secrets,
)
from maascurl.jobs.batch import EachTemplate, LineError, LineRequest, batch_request, input_lines
from maascurl.jobs.call import CallOptions, LazySession, Session, checked, load_description
from maascurl.profiles.target import Target, resolve_target
from maascurl.show.fields import view_of_many
from maascurl.termsafe import safe, safe_line
from maascurl.wire.request import RequestSpec, build_request, is_v3_path

if TYPE_CHECKING:
    from maascurl.jobs.call import Description
    from maascurl.show.stream import ViewStream
    from maascurl.wire._httpx import httpx

DEFAULT_JOBS = 4
# Results held at once: enough to keep every worker busy behind one slow line.
WINDOW_PER_JOB = 16
# A line's answer held whole for stdout's JSON Lines (or for a Hook): past it the
# line fails in one line. -o without a Hook streams the answer to its file, uncapped.
LINE_BODY_LIMIT = 16 * 1024 * 1024
# Answers waiting for their turn (an earlier line is slow) kept in memory in all;
# the others wait on disk. With --wait up to 10,000 final objects may wait.
HELD_MEMORY = 64 * 1024 * 1024

OK = "ok"
FAILED = "failed"
NOT_SENT = "not sent"
ABANDONED = "abandoned"  # sent, but the answer was not awaited (a second Ctrl-C)


@dataclass
class FleetOptions:
    jobs: int = DEFAULT_JOBS
    report: str | None = None
    fail_fast: bool = False
    # Lines sent but not yet written out, at most (default jobs x WINDOW_PER_JOB).
    # A Hook whose Futures wait long (for a deploy, say) wants it as big as the fleet.
    window: int | None = None
    # Drawn under the progress bar at a terminal (--wait: machines per state).
    detail: Callable[[], Any] | None = None
    # Write each line's body (or what --format makes of it); a fleet waited for at a
    # terminal ends in its summary instead (fleetwait.py).
    bodies: bool = True


@dataclass(frozen=True)
class Job:
    """One line's request, built and checked."""

    line: int
    spec: RequestSpec
    target: Target
    output: str | None = None  # the filled -o FILE
    description: Description = None  # the cached one it was checked against

    @property
    def label(self) -> str:
        """How a line's request is named in errors: `post machines/abc/ op=release`."""
        path = self.spec.url[len(self.target.api_root) :] or "/"
        if self.target.v3:
            path = "v3/" + path
        op = f" op={self.spec.op}" if self.spec.op and not self.target.v3 else ""
        return f"{self.spec.method.lower()} {path}{op}"


@dataclass
class Result:
    """What happened to one line's request; a Hook may return a changed copy."""

    job: Job
    outcome: str = NOT_SENT
    status: int | None = None
    seconds: float = 0.0
    body: bytes | None = None  # the final body (None once written to -o FILE)
    error: str | None = None
    exit_code: int = 0
    final_state: str | None = None  # set by a Hook, e.g. "Deployed"
    saved: bool = False  # the body went to -o FILE as it came
    held: tuple[int, int] | None = None  # (offset, length) of the body in Held's file
    data: Any = None  # the body parsed, for --format and --fields (show/stream.py)

    def failed(self, error: MaascurlError) -> Result:
        message = redact_secrets(str(error))
        status = error.status if isinstance(error, HTTPStatusError) else self.status
        return replace(
            self, outcome=FAILED, status=status, error=message, exit_code=error.exit_code
        )


# Runs in a worker after a 2xx answer, with the Session that sent it (to poll
# it, say). It returns the result to keep: `replace(result, body=...,
# final_state=...)`, or `result.failed(error)`; raising MaascurlError fails
# the line with that error's exit code. It may instead return a Future that
# something else completes later (one poller for the whole fleet, say): the
# worker then goes on sending, and the line's result is written, in input
# order, once the Future is done. -o FILE receives the final body.
Hook = Callable[[Job, Session, Result], "Result | Future[Result]"]


# --------------------------------------------------------------- planning


class Planner:
    """Turns input lines into checked Jobs: profiles, API descriptions, requests."""

    def __init__(self, options: CallOptions) -> None:
        self.options = options
        self._targets: dict[tuple[str | None, bool], tuple[Target, Description]] = {}
        self._sessions: dict[str, LazySession] = {}  # to fetch a newer description
        self._outputs: set[str] = set()

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    def job(self, request: LineRequest, typed_path: str | None = None) -> Job:
        try:
            target, desc = self._target(request.profile, str(request.path))
            spec = build_request(
                request.method,
                target.api_root,
                request.path,
                list(request.items),
                desc,
                headers=request.headers,
                body=self.options.body,
                exact=self.options.no_check,
                v3=target.v3,
            )
            if self.options.verbose:
                for text in spec.notes:
                    note(f"line {request.line}: {text}")
            if desc is not None and not self.options.no_check:
                typed = typed_path if typed_path is not None else str(request.path)
                desc = self._check(spec, target, desc, request.profile, typed)
        except LineError:
            raise
        except MaascurlError as exc:
            raise LineError(request.line, exc) from None
        return Job(request.line, spec, target, request.output, desc)

    def _check(
        self,
        spec: RequestSpec,
        target: Target,
        desc: Description,
        profile: str | None,
        typed: str,
    ) -> Description:
        """As for a single call; a newer description fetched to recheck is kept for the rest."""
        lazy = None
        if not self.options.offline:
            lazy = self._lazy(target)
        fresh = checked(spec, desc, target, lazy, typed)
        if fresh is not desc and target.profile is not None:
            name = profile if profile is not None else self.options.profile
            self._targets[(name, target.v3)] = (target, fresh)
        return fresh

    def _lazy(self, target: Target) -> LazySession:
        return self._sessions.setdefault(target.state_key, LazySession(target, self.options))

    def check_output(self, job: Job) -> None:
        """-o FILE: no two lines write the same file, and its directory is or can be made
        (it is made when the line's answer is written, as mkdir -p would)."""
        if job.output is None:
            return
        path = os.path.abspath(os.path.expanduser(job.output))
        if path in self._outputs:
            raise LineError(job.line, UsageError(f"-o {job.output}: another line writes it too"))
        self._outputs.add(path)
        directory = os.path.dirname(path)
        while not os.path.lexists(directory):
            directory = os.path.dirname(directory)
        if not os.path.isdir(directory):
            raise LineError(
                job.line, MaascurlError(f"-o {job.output}: {directory} is not a directory")
            )

    def _target(self, profile: str | None, path: str) -> tuple[Target, Description]:
        name = profile if profile is not None else self.options.profile
        v3 = is_v3_path(path)
        if (name, v3) in self._targets:
            return self._targets[(name, v3)]
        target = resolve_target(name, path, anonymous=self.options.anonymous)
        found = (target, load_description(target, self.options, self._lazy(target)))
        if target.profile is not None:  # a bare URL (anonymous) is resolved per line
            self._targets[(name, target.v3)] = found
        return found


# --------------------------------------------------------------- the runner


class _Slot:
    """A job on its way: handed to a worker, settled by it or by the main thread."""

    def __init__(self, job: Job, session: Session | None) -> None:
        self.job = job
        self.session = session
        self.result: Result | None = None
        self.started = False
        self.done = threading.Event()
        self._lock = threading.Lock()
        # Set by Order: said once the slot has a result, so that the lines after it may go.
        self.on_done: Callable[[_Slot], None] | None = None
        self.waiting = 0  # earlier unfinished lines on the same object (Order)
        self.followers: list[_Slot] = []  # later lines waiting for this one (Order)
        self.released = False  # Order knows it finished

    def start(self) -> bool:
        with self._lock:
            if self.result is not None:
                return False
            self.started = True
            return True

    def finish(self, result: Result) -> None:
        with self._lock:
            first = self.result is None
            if first:
                self.result = result
        self.done.set()
        if first and self.on_done is not None:
            self.on_done(self)

    def settle(self) -> Result:
        """Give up on the job: not sent, or abandoned when it already went out."""
        with self._lock:
            first = self.result is None
            if first:
                self.result = Result(self.job, ABANDONED if self.started else NOT_SENT)
            result = self.result
        assert result is not None
        self.done.set()
        if first and self.on_done is not None:
            self.on_done(self)
        return result


ObjectKey = tuple[str, tuple[str, ...]]  # a server (its state key) and a path's segments


def object_key(job: Job) -> ObjectKey:
    """What a line addresses: its server, and its path's segments below the API root."""
    relative = job.spec.url[len(job.target.api_root) :]
    return job.target.state_key, tuple(s for s in relative.split("/") if s)


class Order:
    """Lines that address the same object run in input order; the others overlap.

    Two lines address the same object when they go to the same server and one
    path is the other or lies under it. A line is handed to SUBMIT once every
    earlier such line has finished (answered, and waited for with --wait).
    Only the latest line at a path need be remembered for the lines after it:
    it finishes after those before it. Finished lines are forgotten, so memory
    stays flat however long the input.
    """

    PRUNE_AT = 64  # a list of lines under one path is swept of finished ones past this

    def __init__(self, submit: Callable[[_Slot], None]) -> None:
        self._submit = submit
        self._lock = threading.Lock()
        self._at: dict[ObjectKey, _Slot] = {}  # the latest line at each path
        self._under: dict[ObjectKey, list[_Slot]] = {}  # lines at or under each path
        self._swept: dict[ObjectKey, int] = {}

    def admit(self, slot: _Slot) -> list[_Slot]:
        """The unfinished earlier lines SLOT waits for; with none, SLOT is submitted now."""
        server, path = object_key(slot.job)
        with self._lock:
            before: dict[int, _Slot] = {}
            for depth in range(len(path) + 1):  # the same path, and those above it
                above = self._at.get((server, path[:depth]))
                if above is not None and not above.released:
                    before[id(above)] = above
            for below in self._under.get((server, path), ()):
                if not below.released:
                    before[id(below)] = below
            waits = sorted(before.values(), key=lambda other: other.job.line)
            slot.waiting = len(waits)
            for other in waits:
                other.followers.append(slot)
            slot.on_done = self._release
            self._at[(server, path)] = slot
            self._under[(server, path)] = [slot]  # it finishes after all those before it
            for depth in range(len(path)):
                self._note_under((server, path[:depth]), slot)
        if not waits:
            self._submit(slot)
        return waits

    def _note_under(self, key: ObjectKey, slot: _Slot) -> None:
        lines = self._under.setdefault(key, [])
        lines.append(slot)
        if len(lines) > max(self.PRUNE_AT, 2 * self._swept.get(key, 0)):
            lines[:] = [line for line in lines if not line.released]
            self._swept[key] = len(lines)

    def _release(self, slot: _Slot) -> None:
        server, path = object_key(slot.job)
        with self._lock:
            slot.released = True
            ready = []
            for follower in slot.followers:
                follower.waiting -= 1
                if follower.waiting == 0:
                    ready.append(follower)
            slot.followers = []
            if self._at.get((server, path)) is slot:
                del self._at[(server, path)]
            if self._under.get((server, path)) == [slot]:
                del self._under[(server, path)]
        for follower in ready:
            self._submit(follower)


class Runner:
    """Sends Jobs from worker threads and writes their results in input order."""

    def __init__(
        self,
        options: CallOptions,
        fleet: FleetOptions,
        hook: Hook | None = None,
        out: IO[bytes] | None = None,
    ) -> None:
        self.options = options
        self.fleet = fleet
        self.hook = hook
        self.out = out if out is not None else sys.stdout.buffer
        self.reader_gone = False  # stdout's reader went away (`| head`)
        self.stopping = False  # send nothing more (Ctrl-C, --fail-fast)
        self.interrupted = False
        self.abandoned = False  # a second Ctrl-C: wait for nothing more
        self._said_interrupted = False
        self.counts = Counts()
        self.first_failure: Result | None = None
        self._sessions: dict[str, Session] = {}
        self._answers: dict[str, tuple[Job, httpx.Response]] = {}  # a 2xx per server
        self._queue: queue.Queue[_Slot | None] = queue.Queue()
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._report: IO[str] | None = None
        self._held = Held()
        self._terminal = _isatty(self.out)
        # Dependent lines in input order; --no-check sends every line as soon as it can.
        self._order = None if options.no_check else Order(self._queue.put)
        # --format, --fields, --jq: one output for all lines
        self.view = view_of_many(options.output.view, options.output.formatted)
        self._stream: ViewStream | None = None
        if self.view is not None and self.view.jq is None and options.output.output is None:
            from maascurl.show.stream import ViewStream

            self._stream = ViewStream(self.view)

    # ---- the main thread

    def run(self, jobs: Iterator[Job], total: int) -> int:
        """Send every job; return the exit status of the run."""
        self._report = _open_report(self.fleet.report)
        bar = shows_bar(self.options, self.out, self.fleet.bodies)
        shown = Progress(total, self.fleet.detail) if bar else None
        self._progress = shown
        workers = [
            threading.Thread(target=self._work, name=f"fleet-{n}", daemon=True)
            for n in range(self.fleet.jobs)
        ]
        for worker in workers:
            worker.start()
        self.counts.start = time.monotonic()
        restore = self._catch_interrupts()
        try:
            self._feed(jobs)
        except BaseException:  # e.g. the reader went away (`| head`): send nothing more
            self.stopping = True
            raise
        finally:
            restore()
            for _ in workers:
                self._queue.put(None)
            if not self.abandoned:
                for worker in workers:
                    worker.join()
                self._refresh_descriptions()
                for session in self._sessions.values():
                    session.close()
            if self._progress is not None:
                self._progress.stop()
            if self._report is not None:
                self._report.close()
            self._held.close()
        if self.reader_gone:
            raise BrokenPipeError  # quietly, as a single call ends
        self._summary(total)
        return self.exit_code()

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return self.first_failure.exit_code if self.first_failure else 0

    def _feed(self, jobs: Iterator[Job]) -> None:
        pending: deque[_Slot] = deque()
        window = self.fleet.window or self.fleet.jobs * WINDOW_PER_JOB
        for job in jobs:
            self._say_interrupted()
            if self.stopping:
                slot = _Slot(job, None)
                slot.settle()
            else:
                slot = _Slot(job, self._session(job.target))
                self._send_in_order(slot)
            pending.append(slot)
            while pending and (len(pending) >= window or pending[0].done.is_set()):
                self._emit(self._wait(pending.popleft()))
        while pending:
            self._emit(self._wait(pending.popleft()))
        if self._stream is not None and self.fleet.bodies:
            self._write(self._stream.close())  # a table, or the end of a JSON array
        self._flush()

    def _send_in_order(self, slot: _Slot) -> None:
        if self._order is None:
            self._queue.put(slot)
            return
        waits = self._order.admit(slot)
        if waits and self.options.verbose:
            lines = ", ".join(str(other.job.line) for other in waits)
            note(
                f"line {slot.job.line} ({slot.job.label}) waits for line{'s' * (len(waits) > 1)} "
                f"{lines}: the same object, kept in input order"
            )

    def _refresh_descriptions(self) -> None:
        """As after a single call: a server whose API changed gets its cache refreshed."""
        from maascurl.api.apidesc import ApiDescription
        from maascurl.jobs.call import refresh_if_stale

        for key, (job, response) in self._answers.items():
            if isinstance(job.description, ApiDescription):  # the v3 API names no hash
                refresh_if_stale(
                    self._sessions[key], response, job.target.api_root, job.description
                )

    def _session(self, target: Target) -> Session:
        from maascurl.wire.client import Pace

        session = self._sessions.get(target.state_key)
        if session is None:
            session = Session(target, self.options)
            session.pace = Pace()
            self._sessions[target.state_key] = session
        return session

    def _wait(self, slot: _Slot) -> Result:
        if not slot.done.is_set():
            self._flush()  # the lines so far reach a reader while we wait
        # Short waits so that a Ctrl-C (handled in this thread) is acted on.
        while not slot.done.is_set():
            self._say_interrupted()
            if self.abandoned:
                return slot.settle()
            slot.done.wait(0.1)
        assert slot.result is not None
        return slot.result

    def _write_shown(self, data: bytes) -> None:
        """An answer's DATA: at a terminal, the server's text with its controls made visible
        (C1, DEL and bidi controls; a CSV's own CRLF line ends stay)."""
        if self._terminal and data:
            text = data.decode("utf-8", errors="replace")
            data = "\r\n".join(safe(part) for part in text.split("\r\n")).encode("utf-8")
        self._write(data)

    def _write(self, data: bytes) -> None:
        if not self.reader_gone:
            try:
                self.out.write(data)
            except BrokenPipeError:
                self._lose_reader()

    def _flush(self) -> None:
        if not self.reader_gone:
            try:
                self.out.flush()
            except BrokenPipeError:
                self._lose_reader()

    def _lose_reader(self) -> None:
        # As a single call does: send nothing more and end quietly (cli/group.py
        # turns the BrokenPipeError raised at the end into status 0). The
        # report still gets every line, the unsent ones as "not sent".
        self.reader_gone = self.stopping = True

    def _say_interrupted(self) -> None:
        # Said here rather than in the signal handler, which may run while
        # this thread is in the middle of writing to stderr itself.
        if self.interrupted and not self._said_interrupted:
            self._said_interrupted = True
            with self._lock:
                busy = self.counts.started - self.counts.done
            note(
                f"interrupted: sending nothing more; waiting for {busy} request(s) in flight "
                "(Ctrl-C again to stop waiting)"
            )

    def _emit(self, result: Result) -> None:
        if self._report is not None:
            self._report.write(json.dumps(report_record(result), ensure_ascii=False) + "\n")
            self._report.flush()
        if result.outcome == OK:
            body = self._held.take(result)  # one JSON line already, or --jq's lines (_finish)
            if not self.fleet.bodies or result.job.output is not None:
                pass  # written to its -o FILE, or shown only by the summary
            elif self._stream is not None:
                self._write_shown(self._stream.add(result.data, resource_of_job(result.job)))
            elif body is not None:
                self._write_shown(body if self.view is not None else body + b"\n")
        elif result.outcome == FAILED:
            if self.first_failure is None:
                self.first_failure = result
            self._flush()  # stdout's lines so far come before this one
            message = f"line {result.job.line} ({result.job.label}): {result.error}"
            line = f"maascurl: error: {safe_line(message)}"
            if self._progress is not None:
                self._progress.print(line)
            else:
                print(line, file=sys.stderr, flush=True)
        elif result.outcome == NOT_SENT:
            self.counts.not_sent += 1
        else:
            self.counts.abandoned += 1

    def _catch_interrupts(self) -> Callable[[], None]:
        """First Ctrl-C: send nothing more. Second: stop waiting for those in flight."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def interrupted(signum: int, frame: FrameType | None) -> None:
            if self.interrupted:
                self.abandoned = True
            self.interrupted = self.stopping = True

        previous = signal.signal(signal.SIGINT, interrupted)

        def restore() -> None:
            signal.signal(signal.SIGINT, previous)

        return restore

    def _summary(self, total: int) -> None:
        counts = self.counts
        on_terminal = sys.stderr.isatty()
        if not (on_terminal or counts.failed or counts.not_sent or counts.abandoned):
            return
        seconds = time.monotonic() - counts.start
        parts = [f"{counts.ok} ok", f"{counts.failed} failed"]
        if counts.not_sent:
            parts.append(f"{counts.not_sent} not sent")
        if counts.abandoned:
            parts.append(f"{counts.abandoned} abandoned (sent, outcome unknown)")
        rate = counts.done / seconds if seconds > 0 else 0.0
        first = self.first_failure
        where = f"; first failure: line {first.job.line}" if first else ""
        head = "interrupted: " if self.interrupted else ""
        print(
            f"maascurl: {head}{total} request(s): {', '.join(parts)} "
            f"in {seconds:.1f} s ({rate:.0f}/s){where}",
            file=sys.stderr,
            flush=True,
        )

    # ---- the workers

    def _work(self) -> None:
        while (slot := self._queue.get()) is not None:
            if self.stopping or not slot.start():
                slot.settle()
                continue
            with self._lock:
                self.counts.started += 1
            assert slot.session is not None
            started = time.monotonic()
            outcome = self.execute(slot.job, slot.session)
            if isinstance(outcome, Future):
                # The hook finishes later (a poller completes it): this worker moves on.
                outcome.add_done_callback(partial(self._finish_future, slot, started))
            else:
                self._finish(slot, outcome, started)
            del outcome, slot  # the answer is the slot's (or Held's) alone while we wait

    def execute(self, job: Job, session: Session) -> Result | Future[Result]:
        """Send one job and read its answer; after a 2xx, what the hook makes of it."""
        result = Result(job, FAILED)
        try:
            with notes_about(f"line {job.line} ({job.label})"):
                result = self._send(job, session, result)
            return self.hook(job, session, result) if self.hook is not None else result
        except MaascurlError as exc:
            return result.failed(exc)
        except Exception as exc:  # a bug must fail its line, not hang the run
            return result.failed(_internal(exc))

    def _finish_future(self, slot: _Slot, started: float, future: Future[Result]) -> None:
        try:
            result = future.result()
        except MaascurlError as exc:
            result = Result(slot.job, FAILED).failed(exc)
        except Exception as exc:
            result = Result(slot.job, FAILED).failed(_internal(exc))
        self._finish(slot, result, started)

    def _finish(self, slot: _Slot, result: Result, started: float) -> None:
        try:
            if result.outcome == OK and self.view is not None:
                result = self._viewed(result)
            if result.outcome == OK and slot.job.output is not None and not result.saved:
                _make_directory(slot.job.output, self.options.verbose)
                _save(self._file_body(result), slot.job.output)
                result = replace(result, body=None, data=None)
            elif result.outcome == OK and result.body is not None and self.view is None:
                # Made a line here, not as it is written: a body that cannot be one fails its
                # own line, and the run goes on.
                result = replace(result, body=json_line(result.body))
        except MaascurlError as exc:
            result = result.failed(exc)
        except RecursionError:  # a hostile server's nesting, not a bug of ours
            result = result.failed(NESTED_TOO_DEEPLY)
        except Exception as exc:  # a bug must fail its line, not stop its worker
            result = result.failed(_internal(exc))
        if result.outcome == OK and result.body is not None:  # the line waits for its turn
            try:
                result = self._held.keep(result)
            except OSError as exc:
                result = result.failed(MaascurlError(f"cannot keep an answer: {exc.strerror}"))
        result = replace(result, seconds=time.monotonic() - started)
        slot.finish(result)
        self._count(result)

    def _viewed(self, result: Result) -> Result:
        """The body parsed for --format and --fields, or run through --jq (a worker's part)."""
        from maascurl.show.table import parse_body

        view = self.view
        assert view is not None
        if view.jq is not None:
            from maascurl.show.jq import jq_text

            text = (result.body or b"").decode("utf-8", errors="replace")
            return replace(result, body=jq_text(view.jq, body=text).encode("utf-8"))
        return replace(result, data=parse_body(result.body or b""), body=None)  # one copy held

    def _file_body(self, result: Result) -> bytes:
        """What -o FILE gets: the body, or what the view makes of this line's answer alone."""
        if self.view is None or self.view.jq is not None:
            return result.body or b""
        from maascurl.show.table import render

        shown = render(result.data, self.view, resource_of_job(result.job))
        return shown.text.encode("utf-8")

    def _send(self, job: Job, session: Session, result: Result) -> Result:
        if job.output is not None and self.hook is None and self.view is None:
            return self._stream_to_file(job, session, result, job.output)
        response = session.read(job.spec, LINE_BODY_LIMIT)
        self._keep_answer(job, response)
        return replace(result, outcome=OK, status=response.status_code, body=response.content)

    def _keep_answer(self, job: Job, response: httpx.Response) -> None:
        """A server's first 2xx, for its API hash (_refresh_descriptions): its head only."""
        if job.target.state_key not in self._answers:
            from maascurl.wire._httpx import httpx

            head = httpx.Response(response.status_code, headers=response.headers)
            self._answers.setdefault(job.target.state_key, (job, head))

    def _stream_to_file(self, job: Job, session: Session, result: Result, path: str) -> Result:
        """-o FILE: the answer goes to its file as it comes, whole or not at all."""
        from maascurl.wire.status import status_error

        response = session.send(job.spec)
        with session.errors(job.spec.url):
            try:
                if not 200 <= response.status_code < 300:
                    raise session.explained(status_error(response))
                _make_directory(path, self.options.verbose)
                _save(response, path)
            finally:
                response.close()
        self._keep_answer(job, response)
        return replace(result, outcome=OK, status=response.status_code, saved=True)

    def _count(self, result: Result) -> None:
        with self._lock:
            self.counts.done += 1
            if result.outcome == OK:
                self.counts.ok += 1
            else:
                self.counts.failed += 1
                if self.fleet.fail_fast:
                    self.stopping = True
            if self._progress is not None:
                self._progress.update(self.counts)


class Held:
    """Answers done but not yet written (an earlier line is slower): their bodies.

    Up to HELD_MEMORY bytes in all stay in memory; the rest go to a private
    temporary file (no name, read only by this process), which is emptied
    whenever every body in it has been written. Workers keep, the main
    thread takes.
    """

    def __init__(self, memory: int | None = None) -> None:
        self.memory = HELD_MEMORY if memory is None else memory
        self.in_memory = 0
        self.on_disk = 0  # bodies in the file not yet taken
        self._file: IO[bytes] | None = None
        self._end = 0
        self._closed = False
        self._lock = threading.Lock()

    def keep(self, result: Result) -> Result:
        body = result.body
        assert body is not None
        with self._lock:
            # Closed: the run was abandoned (a second Ctrl-C) and nothing more is written.
            if self._closed or self.in_memory + len(body) <= self.memory:
                self.in_memory += len(body)
                return result
            if self._file is None:
                import tempfile

                self._file = tempfile.TemporaryFile(prefix="maascurl-held-")  # noqa: SIM115
            self._file.seek(self._end)
            self._file.write(body)
            where = (self._end, len(body))
            self._end += len(body)
            self.on_disk += 1
        return replace(result, body=None, held=where)

    def take(self, result: Result) -> bytes | None:
        """RESULT's body, no longer held (read back from the file when it went there)."""
        with self._lock:
            if result.held is None:
                if result.body is not None:
                    self.in_memory -= len(result.body)
                return result.body
            assert self._file is not None
            offset, length = result.held
            self._file.seek(offset)
            body = self._file.read(length)
            self.on_disk -= 1
            if self.on_disk == 0:  # all written: the file starts again from nothing
                self._file.truncate(0)
                self._end = 0
        return body

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()


@dataclass
class Counts:
    start: float = 0.0
    started: int = 0
    done: int = 0
    ok: int = 0
    failed: int = 0
    not_sent: int = 0
    abandoned: int = 0


NESTED_TOO_DEEPLY = MaascurlError(
    "the response's JSON is nested too deeply to write as one line; -o FILE saves it as it came"
)


def _isatty(out: IO[bytes]) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def resource_of_job(job: Job) -> str | None:
    """What a line's path lists (machines, tags...), for the default columns of a view."""
    from maascurl.show.fields import resource_of

    return resource_of(job.spec.url, job.spec.op)


def _internal(exc: Exception) -> MaascurlError:
    return MaascurlError(f"internal error: {type(exc).__name__}: {exc}")


def _make_directory(path: str, verbose: bool) -> None:
    """-o FILE's directory, made when there is none, as mkdir -p (said with -v)."""
    directory = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise MaascurlError(f"cannot make {directory} for -o {path}: {exc.strerror}") from None
    if verbose:
        note(f"made the directory {directory} for -o")


def _save(body: bytes | httpx.Response, path: str) -> None:
    """-o FILE: a body held, or an answer as it streams, through output.save_body,
    complete or not at all."""
    from maascurl.show.output import save_body
    from maascurl.wire._httpx import httpx

    save_body(body if isinstance(body, httpx.Response) else httpx.Response(200, content=body), path)


def _open_report(path: str | None) -> IO[str] | None:
    from maascurl.show.output import open_log

    return open_log(path) if path is not None else None


# --------------------------------------------------------------- output


def json_line(body: bytes) -> bytes:
    """BODY as one line of JSON Lines: compact JSON, or a JSON string if it is not JSON."""
    try:
        json.loads(body)
        body.decode("utf-8")
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        text = body.decode("utf-8", errors="replace")
        return json.dumps(text, ensure_ascii=False).encode("utf-8")
    body = body.strip()
    if b"\n" not in body and b"\r" not in body:
        return body  # already one line: the server's bytes as they are
    compact = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))
    return compact.encode("utf-8")


def report_record(result: Result) -> dict[str, Any]:
    """One --report line: what was sent and what came of it, never a credential."""
    from urllib.parse import urlencode

    spec = result.job.spec
    url = spec.url + (f"?{urlencode(spec.query)}" if spec.query else "")
    profile = result.job.target.profile
    return {
        "line": result.job.line,
        "profile": profile.name if profile else None,
        "method": spec.method,
        "url": redact_secrets(url),
        "outcome": result.outcome,
        "status": result.status,
        "seconds": round(result.seconds, 3),
        "final_state": result.final_state,
        "exit_code": result.exit_code,
        "error": result.error,
    }


def shows_bar(options: CallOptions, out: IO[bytes], bodies: bool = True) -> bool:
    """Whether a fleet run draws its progress bar (and --wait its states under it).

    Not when the bodies go to the terminal the bar is on: they would tear it apart.
    """
    from maascurl.show import progress

    bodies_to_terminal = bodies and options.output.output is None and out.isatty()
    return progress.allowed() and not bodies_to_terminal


class Progress:
    """A rich progress bar on a terminal's stderr; nothing elsewhere."""

    def __init__(self, total: int, detail: Callable[[], Any] | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=False,  # stdout carries the JSON Lines, never the bar
        )
        self.task = self.bar.add_task("", total=total, ok=0, failed=0, rate="")
        if detail is not None:
            bar_only = self.bar.get_renderables
            self.bar.get_renderables = lambda: [*bar_only(), detail()]  # type: ignore[method-assign]
        self.started = time.monotonic()
        self.bar.start()

    def update(self, counts: Counts) -> None:
        seconds = time.monotonic() - self.started
        rate = f"{counts.done / seconds:.0f}/s" if seconds > 0 else ""
        self.bar.update(
            self.task, completed=counts.done, ok=counts.ok, failed=counts.failed, rate=rate
        )

    def print(self, line: str) -> None:
        """LINE above the bar, as one line however narrow the terminal (server text: plain)."""
        from rich.text import Text

        self.bar.console.print(Text(line), soft_wrap=True)

    def stop(self) -> None:
        self.bar.stop()


# --------------------------------------------------------------- entry points


def run_each(
    method: str,
    path: str,
    items: list[str],
    each: str,
    options: CallOptions,
    fleet: FleetOptions,
    hook: Hook | None = None,
) -> int:
    """`maascurl METHOD PATH ITEM... --each FILE`: the request once per input line."""
    if options.output.output == "-":
        raise UsageError("-o - cannot be used with --each: the bodies go to stdout already")
    if options.body == "-":
        raise UsageError("--body - cannot be used with --each: give the body as a file")
    template = EachTemplate(
        method, path, items, options.output.output, options.profile, options.headers
    )

    def jobs(planner: Planner, lines: Lines) -> Iterator[Job | LineError]:
        for number, text in lines:
            try:
                if isinstance(text, LineError):
                    raise text
                yield planner.job(template.request(number, text), typed_path=path)
            except LineError as exc:
                yield exc

    return _run(each, jobs, options, fleet, hook)


def run_batch(
    name: str, options: CallOptions, fleet: FleetOptions, hook: Hook | None = None
) -> int:
    """`maascurl batch FILE`: one whole request per line, each with its own profile."""

    def jobs(planner: Planner, lines: Lines) -> Iterator[Job | LineError]:
        for number, text in lines:
            try:
                if isinstance(text, LineError):
                    raise text
                request = batch_request(number, text)
                if request is not None:
                    yield planner.job(request._replace(headers=options.headers))
            except LineError as exc:
                yield exc

    return _run(name, jobs, options, fleet, hook)


Lines = Iterator[tuple[int, "str | LineError"]]
# Every line's Job, or the LineError that says why it cannot be sent.
JobMaker = Callable[[Planner, Lines], Iterator["Job | LineError"]]


def _run(
    name: str, make_jobs: JobMaker, options: CallOptions, fleet: FleetOptions, hook: Hook | None
) -> int:
    planner = Planner(options)
    plans = Plans()
    bad = BadLines()
    try:
        with each_warning_once():
            for job in make_jobs(planner, input_lines(name)):  # the checking pass: sends nothing
                try:
                    if isinstance(job, LineError):
                        raise job
                    planner.check_output(job)
                except LineError as exc:
                    bad.add(exc)  # and read on: every bad line is named in one run
                    continue
                if not bad.errors:
                    plans.add(job)
            bad.stop_the_run()
            planner.close()
            if options.offline:
                _print_offline(plans.jobs(), options)
                return 0
            runner = Runner(options, fleet, hook)
            return runner.run(plans.jobs(), plans.count)
    finally:
        planner.close()
        plans.close()


class BadLines:
    """The lines the checking pass refused: all of them are named before the run stops.

    Lines refused for the same reason (an `--each` template's own mistake is
    every line's) share one stderr line: `lines 1-3, 7: ...`.
    """

    SHOWN_RANGES = 10  # line ranges named per reason; the rest are counted

    def __init__(self) -> None:
        self.errors: dict[str, list[LineError]] = {}  # reason -> its lines, in input order
        self.count = 0

    def add(self, error: LineError) -> None:
        self.errors.setdefault(error.reason, []).append(error)
        self.count += 1

    def stop_the_run(self) -> None:
        """Raise (nothing sent) when any line was refused, after naming each on stderr."""
        if not self.errors:
            return
        groups = list(self.errors.values())
        if self.count == 1:
            raise groups[0][0]
        lines = [f"{self._lines(group)}: {group[0].reason}" for group in groups]
        first = groups[0][0]
        if len(groups) == 1:
            raise _Refused(lines[0], first.exit_code)
        for line in lines:
            error_line(line)
        raise _Refused(
            f"{self.count} lines cannot be sent (first: line {first.line}); nothing was sent",
            first.exit_code,
        )

    def _lines(self, group: list[LineError]) -> str:
        ranges: list[list[int]] = []
        for error in group:
            if ranges and ranges[-1][1] == error.line - 1:
                ranges[-1][1] = error.line
            else:
                ranges.append([error.line, error.line])
        shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[: self.SHOWN_RANGES]]
        more = sum(b - a + 1 for a, b in ranges[self.SHOWN_RANGES :])
        text = ", ".join(shown) + (f" and {more} more" if more else "")
        return f"line {text}" if len(group) == 1 else f"lines {text}"


class _Refused(MaascurlError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Plans:
    """The Jobs of the checking pass, kept in order for the sending pass.

    Each line is planned (built and checked) once. The Jobs go to a private
    temporary file, so memory stays flat however long the input; the targets
    and descriptions they share stay in memory, once each. pickle is safe
    here: the file has no name and only this process ever reads it.
    """

    def __init__(self) -> None:
        import tempfile

        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="maascurl-fleet-")  # noqa: SIM115
        self._shared: dict[str, tuple[Target, Description]] = {}
        self.count = 0

    def close(self) -> None:
        self._file.close()

    def add(self, job: Job) -> None:
        key = job.target.state_key
        self._shared[key] = (job.target, job.description)
        pickle.dump((job.line, job.spec, key, job.output), self._file)
        self.count += 1

    def jobs(self) -> Iterator[Job]:
        self._file.seek(0)
        for _ in range(self.count):
            line, spec, key, output = pickle.load(self._file)
            target, description = self._shared[key]
            yield Job(line, spec, target, output, description)


def _print_offline(jobs: Iterator[Job], options: CallOptions) -> None:
    from maascurl.jobs.call import print_offline as print_request

    for job in jobs:
        sys.stdout.write(f"# line {job.line}\n")
        print_request(job.spec, job.target, options)
