"""maascurl's performance goals, each measured against a baseline in the same run.

Run it with the virtualenv's python, from anywhere:

    .venv/bin/python benchmarks/run.py [--quick] [--repeat N] [--only GOAL]

It starts the MAAS simulator of maascurl/sandbox/simulator.py (imported by
path, from this tree) in a child process (fleets of 1,000 and 10,000 machines, a 30 MB and a 1-byte
file), logs in with `maascurl login`
into a temporary config (MAASCURL_CONFIG, MAASCURL_CACHE_DIR), then runs each
goal and its baseline in alternating repetitions and prints one table of
medians, ratios, targets and the peak RSS of the maascurl process (from
os.wait4's rusage). The exit status is 1 when any goal fails.

The `maascurl` console script next to sys.executable is the one measured.
Children run with PYTHONDONTWRITEBYTECODE removed from the environment: with
an editable install it would make Python recompile every module on every run,
which no installed maascurl does.

Goals (a row each; "ratio" is maascurl's median over the baseline's):
  1. `maascurl get users op=whoami`, piped, within 1.3x of the leanest signed
     GET the same stack makes: a script importing only httpx (without its
     command-line module, as maascurl does) and oauthlib.
  2. A TAB completion (`maascurl get machines op=list_al`, as in
     benchmarks/bench_completion.py) within 1.6x of `python -c "import click"`.
  3. A 1,000-machine list (~9 MB) pretty-printed in colour on a pseudo-terminal
     with `--no-pager`, within 3x of `jq -C .` on the same bytes (also on a
     pseudo-terminal), under 150 MB.
  4. A 30 MB body piped to stdout, and saved with -o FILE, under 60 MB and with
     a throughput within 1.5x of `curl -s`. Throughput is compared through
     transfer times: each tool's median for the 30 MB body minus its median for
     a 1-byte body, which removes start-up. A 10,000-machine list (~90 MB)
     piped must stay under 60 MB too (its times are shown, not judged).
  5. `maascurl get machines | head -c 100` ends quietly with status 0.
  6. The same 1,000-machine list as a table with the default machine
     columns (`-t --no-pager`) on a pseudo-terminal, no slower than `jq -C .`
     on the same bytes, under 150 MB; and as `--format tsv --fields
     hostname,system_id,status_name` piped, within 1.2x of
     `jq -r '.[] | [.hostname, .system_id, .status_name] | @tsv'`.
  7. Big files: `maascurl upload-image` of a 1 GB file in 4 MiB chunks within
     1.5x of `curl -T` PUTting the same bytes to the upload URI in one
     request, comparing transfer times (the run's median minus that of a run
     for the image already uploaded, which removes start-up and the sha256
     pass MAAS needs before the upload; the whole run is shown too, and so
     are the same chunks from a bare socket client using sendfile, the floor
     for any client sending 4 MiB chunks); a 2 GB
     upload-image and a 2 GB download with -o FILE each under 80 MB
     (--quick: 128 MB and 256 MB). The simulator keeps its copies of uploaded
     images in /dev/shm when there is one: on disk, the kernel's writeback of
     earlier runs' gigabytes made single runs of either tool take 1 to 4 times
     their usual time, in no pattern, so the ratio told nothing.
  8. Fleet work: 1,000 signed `GET machines/ID` (9 KB machines) through one
     `maascurl get 'machines/{}' --each FILE`, whole run with start-up, within
     0.2x of 1,000 `curl` processes in a bash loop fetching the same URLs
     (each with a fresh OAuth header made beforehand: curl cannot sign), and
     at least 50x faster than a bash loop of `maascurl get machines/ID`. That
     loop is measured over 50 machines and scaled to 1,000 (x20): 1,000
     processes would take minutes per repetition.
  9. 10,000 lines through `--each` stay under 80 MB.

Peak RSS readings cannot be lower than this runner's own peak (printed with
the table, ~20 MB): Linux carries a parent's peak into a spawned child's
ru_maxrss. That is why the simulator runs in a child process of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MAASCURL = str(Path(sys.executable).parent / "maascurl")
BIG_FILE = "bench-30mb.bin"
BIG_FILE_SIZE = 30 * 1024 * 1024
TINY_FILE = "bench-1b.bin"
MB = 1024 * 1024

# The leanest signed GET this stack can make: httpx and oauthlib only, with
# httpx's own command-line module kept out exactly as maascurl does.
BASELINE_GET = """\
import sys
sys.modules["httpx._main"] = None
import httpx
from oauthlib import oauth1
url, key = sys.argv[1], sys.argv[2]
consumer, token, secret = key.split(":")
signer = oauth1.Client(
    consumer, client_secret="", resource_owner_key=token,
    resource_owner_secret=secret, signature_method=oauth1.SIGNATURE_PLAINTEXT,
)
url, headers, _ = signer.sign(url)
with httpx.Client(verify=False) as client:
    response = client.get(url, headers=headers)
sys.stdout.buffer.write(response.content)
"""

# The environment variables that would change what maascurl does.
DROPPED_ENV = (
    "PYTHONDONTWRITEBYTECODE",
    "MAASCURL_PROFILE",
    "MAASCURL_PAGER",
    "MAAS_API_URL",
    "MAAS_API_KEY",
    "MAAS_API_CACERT",
    "NO_COLOR",
    "PAGER",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


# --------------------------------------------------------------- processes


@dataclass
class Run:
    seconds: float
    max_rss_mb: float
    status: int  # exit code, or -signal
    out_bytes: int
    head: bytes  # the first bytes of stdout
    stderr: bytes


_BUFFER = bytearray(1 << 20)


def _drain(fd: int, keep: int, stop_after: int | None = None) -> tuple[int, bytes]:
    """Read FD to its end (or until STOP_AFTER bytes); count it and keep a head.

    Reads go into one preallocated buffer: allocating a fresh megabyte per
    read grows this process, and its peak is the floor of every child's.
    """
    total, head = 0, bytearray()
    view = memoryview(_BUFFER)
    while True:
        try:
            count = os.readv(fd, [view])
        except OSError:  # EIO: the pseudo-terminal's other side is closed
            break
        if not count:
            break
        total += count
        if len(head) < keep:
            head += view[: min(count, keep - len(head))]
        if stop_after is not None and total >= stop_after:
            break
    return total, bytes(head)


def run(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    stdout: str = "pipe",
    keep: int = 4096,
    stop_after: int | None = None,
) -> Run:
    """Run ARGV with stdout to a pipe, a pseudo-terminal or /dev/null; time it.

    stdout is drained here as fast as it comes; with STOP_AFTER the reading
    end is closed after that many bytes (a reader that goes away).
    """
    err_r, err_w = os.pipe()
    if stdout == "pty":
        out_r, out_w = os.openpty()
    elif stdout == "null":
        out_r, out_w = -1, os.open(os.devnull, os.O_WRONLY)
    else:
        out_r, out_w = os.pipe()
    null_in = os.open(os.devnull, os.O_RDONLY)
    actions = [
        (os.POSIX_SPAWN_DUP2, null_in, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), env, file_actions=actions, setsid=stdout == "pty")
    for fd in (null_in, out_w, err_w):
        os.close(fd)
    total, head = (0, b"") if out_r < 0 else _drain(out_r, keep, stop_after)
    if out_r >= 0:
        os.close(out_r)
    _, wait_status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    _, errors = _drain(err_r, 64 * 1024)
    os.close(err_r)
    return Run(
        seconds,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(wait_status),
        total,
        head,
        errors,
    )


def checked(result: Run, what: str) -> Run:
    if result.status != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise SystemExit(f"{what} failed with status {result.status}: {message}")
    return result


# --------------------------------------------------------------- the setup


# The simulator runs in a child process so that this process stays small:
# a child's ru_maxrss starts from the memory of the process it was spawned
# from, so a parent holding a 90 MB fleet would inflate every reading.
SIMULATOR_DRIVER = """\
import importlib.util, json, os, pathlib, sys
spec = importlib.util.spec_from_file_location("simulator", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["simulator"] = module
spec.loader.exec_module(module)
sim = module.MaasSimulator(machines=3, boot_images_dir=pathlib.Path(sys.argv[2])).start()
print(json.dumps({"url": sim.url, "api_root": sim.api_root, "api_key": sim.api_key}), flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "fleet":
        sim.set_fleet(int(args[0]))
    elif command == "file":
        sim.add_file(args[0], os.urandom(int(args[1])))
    elif command == "diskfile":  # served from disk (mmap), not held in memory
        import mmap
        with open(args[1], "rb") as stream:
            sim.add_file(args[0], mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ))
    elif command == "clearimages":
        sim.boot_images.clear()
    print("ok", flush=True)
"""


class Simulator:
    """The MAAS simulator of maascurl/sandbox/simulator.py, in a child process."""

    def __init__(self, images: Path) -> None:
        path = str(REPO / "maascurl" / "sandbox" / "simulator.py")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SIMULATOR_DRIVER, path, str(images)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.url: str = info["url"]
        self.api_root: str = info["api_root"]
        self.api_key: str = info["api_key"]

    def _tell(self, command: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if self.process.stdout.readline().strip() != "ok":
            raise SystemExit(f"simulator failed: {command}")

    def set_fleet(self, machines: int) -> None:
        self._tell(f"fleet {machines}")

    def add_file(self, name: str, size: int) -> None:
        self._tell(f"file {name} {size}")

    def add_disk_file(self, name: str, path: Path) -> None:
        self._tell(f"diskfile {name} {path}")

    def clear_images(self) -> None:
        self._tell("clearimages")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait()


def image_store() -> Path:
    """Where the simulator keeps uploaded images: memory when /dev/shm is there (goal 7)."""
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)
    return Path(tempfile.mkdtemp(prefix="maascurl-bench-images-", dir=shm if memory else None))


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["MAASCURL_CONFIG"] = str(home / "config.toml")
    env["MAASCURL_CACHE_DIR"] = str(home / "cache")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("TERM", "xterm-256color")
    return env


def oauth_header(api_key: str) -> str:
    """A fresh PLAINTEXT Authorization header (the simulator refuses a reused nonce)."""
    consumer, token, secret = api_key.split(":")
    return (
        'Authorization: OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
        f'oauth_consumer_key="{consumer}", oauth_token="{token}", '
        f'oauth_signature="%26{secret}", oauth_nonce="{secrets.token_hex(16)}", '
        f'oauth_timestamp="{int(time.time())}"'
    )


# --------------------------------------------------------------- measuring


@dataclass
class Row:
    goal: str
    ratio_target: float | None
    rss_limit_mb: float | None
    ours: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    note: str = ""
    ok: bool = True

    @property
    def ratio(self) -> float | None:
        if not self.ours or not self.base:
            return None
        return statistics.median(self.ours) / statistics.median(self.base)

    @property
    def passed(self) -> bool:
        ratio = self.ratio
        if self.ratio_target is not None and (ratio is None or ratio > self.ratio_target):
            return False
        if self.rss_limit_mb is not None and self.rss_mb > self.rss_limit_mb:
            return False
        return self.ok

    def record(self, result: Run, problem: str | None) -> None:
        self.rss_mb = max(self.rss_mb, result.max_rss_mb)
        if problem:
            self.ok, self.note = False, problem


Command = Callable[[], Run]
Check = Callable[[Run], "str | None"]


def no_check(result: Run) -> str | None:
    return None


def alternate(pairs: Sequence[tuple[Command, Command]], repeat: int) -> list[list[float]]:
    """Run each command once to warm up, then REPEAT rounds in alternating order.

    Each round runs every command once; odd rounds run them in reverse, so
    drift in the machine's load hits all of them alike. Returns the times of
    each command, in the order of a flattened PAIRS.
    """
    commands = [command for pair in pairs for command in pair]
    for command in commands:
        command()
    times: list[list[float]] = [[] for _ in commands]
    for i in range(repeat):
        order = list(range(len(commands)))
        for n in order if i % 2 == 0 else order[::-1]:
            times[n].append(commands[n]().seconds)
    return times


class Bench:
    def __init__(self, sim: Simulator, home: Path, repeat: int) -> None:
        self.sim = sim
        self.env = child_env(home)
        self.home = home
        self.repeat = repeat

    def maascurl(self, *args: str, stdout: str = "pipe", **kw: Any) -> Run:
        return run([MAASCURL, *args], self.env, stdout=stdout, **kw)

    def curl(self, url: str, *args: str) -> Run:
        header = oauth_header(self.sim.api_key)
        return run(["/usr/bin/curl", "-s", "-f", "-H", header, *args, url], self.env)

    def login(self) -> None:
        checked(self.maascurl("login", "bench", self.sim.url, self.sim.api_key), "maascurl login")

    def compare(
        self, row: Row, ours: Command, base: Command, repeat: int, check: Check = no_check
    ) -> Row:
        """Median wall times of OURS against BASE; every run of ours is checked."""

        def checked_ours() -> Run:
            result = checked(ours(), row.goal)
            row.record(result, check(result))
            return result

        def checked_base() -> Run:
            return checked(base(), f"baseline of {row.goal}")

        row.ours, row.base = alternate([(checked_ours, checked_base)], repeat)
        return row

    # goal 1
    def startup(self) -> Row:
        script = self.home / "baseline_get.py"
        script.write_text(BASELINE_GET)
        url = self.sim.api_root + "users/?op=whoami"
        base = [sys.executable, str(script), url, self.sim.api_key]
        return self.compare(
            Row("1 start-up: get users op=whoami | (vs httpx+oauthlib GET)", 1.3, None),
            lambda: self.maascurl("get", "users", "op=whoami"),
            lambda: run(base, self.env),
            self.repeat * 2,
            lambda r: None if b'"username"' in r.head else "unexpected body",
        )

    # goal 2
    def completion(self) -> Row:
        env = dict(self.env)
        env.update(
            _MAASCURL_COMPLETE="bash_complete",
            COMP_WORDS="maascurl get machines op=list_al",
            COMP_CWORD="3",
        )
        return self.compare(
            Row("2 TAB: get machines op=list_al<TAB> (vs import click)", 1.6, None),
            lambda: run([MAASCURL], env),
            lambda: run([sys.executable, "-c", "import click"], self.env),
            self.repeat * 2,
            lambda r: None if r.head.strip() == b"plain,op=list_allocated" else "wrong candidates",
        )

    # goal 3
    def pretty(self, machines: int) -> Row:
        self.sim.set_fleet(machines)
        source = self.home / f"machines-{machines}.json"
        checked(self.maascurl("get", "machines", "-o", str(source)), "fetching machines")
        size = source.stat().st_size / MB
        return self.compare(
            Row(f"3 tty: pretty {machines} machines, {size:.0f} MB (vs jq -C .)", 3.0, 150),
            lambda: self.maascurl("get", "machines", "--no-pager", stdout="pty", keep=64),
            lambda: run(["/usr/bin/jq", "-C", ".", str(source)], self.env, stdout="pty"),
            max(self.repeat // 2, 2),
            lambda r: None if r.head.startswith(b"[\r\n  {\r\n    \x1b[") else "not coloured",
        )

    # goal 4
    def throughput(self, row: Row, ours: Callable[[str], Run], base: Callable[[str], Run]) -> Row:
        """Transfer time: the 30 MB GET's median minus that of the same 1-byte GET.

        Subtracting each tool's own fixed cost (start-up, one request) leaves
        the time spent moving the body, so the ratio compares throughput.
        """
        times = alternate(
            [
                (lambda: ours(BIG_FILE), lambda: base(BIG_FILE)),
                (lambda: ours(TINY_FILE), lambda: base(TINY_FILE)),
            ],
            self.repeat * 2,
        )
        ours_big, base_big, ours_tiny, base_tiny = (statistics.median(t) for t in times)
        row.ours, row.base = [ours_big - ours_tiny], [base_big - base_tiny]
        return row

    def piped(self) -> list[Row]:
        self.sim.add_file(BIG_FILE, BIG_FILE_SIZE)
        self.sim.add_file(TINY_FILE, 1)
        sizes = {BIG_FILE: BIG_FILE_SIZE, TINY_FILE: 1}
        stdout_row = Row("4 pipe: 30 MB to stdout, transfer time (vs curl -s)", 1.5, 60)
        file_row = Row("4 file: 30 MB with -o FILE, transfer time (vs curl -o)", 1.5, 60)
        target = str(self.home / "out.bin")

        def to_stdout(name: str) -> Run:
            result = checked(self.maascurl("get", "files", "op=get", f"filename={name}"), name)
            ok = result.out_bytes == sizes[name]
            stdout_row.record(result, None if ok else f"{result.out_bytes} bytes")
            return result

        def fresh(path: str) -> str:
            # Each run writes a new file: replacing an existing one makes ext4
            # flush the new data first (auto_da_alloc), which would measure the
            # file system rather than the download.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return path

        def to_file(name: str) -> Run:
            args = ("get", "files", "op=get", f"filename={name}", "-o", fresh(target))
            result = checked(self.maascurl(*args), name)
            ok = os.path.getsize(target) == sizes[name]
            file_row.record(result, None if ok else "wrong file size")
            return result

        def curl(name: str, *args: str) -> Run:
            url = self.sim.api_root + f"files/?op=get&filename={name}"
            return checked(self.curl(url, *args), f"curl {name}")

        return [
            self.throughput(stdout_row, to_stdout, curl),
            self.throughput(file_row, to_file, lambda name: curl(name, "-o", fresh(target))),
        ]

    def piped_fleet(self, machines: int) -> Row:
        self.sim.set_fleet(machines)
        url = self.sim.api_root + "machines/"
        return self.compare(
            Row(f"4 pipe: {machines} machines to stdout, wall (vs curl -s)", None, 60),
            lambda: self.maascurl("get", "machines"),
            lambda: self.curl(url),
            max(self.repeat // 3, 1),
            lambda r: None if r.out_bytes > machines * 1000 else f"{r.out_bytes} bytes",
        )

    # goal 6
    def tables(self, machines: int) -> list[Row]:
        self.sim.set_fleet(machines)
        source = self.home / f"machines-{machines}.json"
        checked(self.maascurl("get", "machines", "-o", str(source)), "fetching machines")
        table_row = self.compare(
            Row(f"6 tty: -t, {machines} machines, default columns (vs jq -C .)", 1.0, 150),
            lambda: self.maascurl("get", "machines", "-t", "--no-pager", stdout="pty", keep=1024),
            lambda: run(["/usr/bin/jq", "-C", ".", str(source)], self.env, stdout="pty"),
            max(self.repeat // 2, 2),
            lambda r: None if b"\x1b[1m" in r.head and "─".encode() in r.head else "no table",
        )
        picked = "hostname,system_id,status_name"
        jq_tsv = ".[] | [.hostname, .system_id, .status_name] | @tsv"
        tsv_row = self.compare(
            Row(f"6 pipe: --format tsv, {machines} machines, 3 fields (vs jq @tsv)", 1.2, None),
            lambda: self.maascurl("get", "machines", "--format", "tsv", "--fields", picked),
            lambda: run(["/usr/bin/jq", "-r", jq_tsv, str(source)], self.env),
            self.repeat,
            lambda r: None if r.head.count(b"\t") >= 2 else "not TSV",
        )
        return [table_row, tsv_row]

    # goal 5
    def broken_pipe(self) -> Row:
        self.sim.set_fleet(1000)
        row = Row("5 get machines | head -c 100: quiet, status 0", None, None)
        for _ in range(3):
            result = self.maascurl("get", "machines", keep=100, stop_after=100)
            row.ours.append(result.seconds)
            bad = result.status != 0 or result.stderr
            problem = f"status {result.status}, stderr {result.stderr[:60]!r}" if bad else None
            row.record(result, problem)
        return row

    # goal 7
    def big_files(self, quick: bool) -> list[Row]:
        """Memory stays flat for big uploads and downloads; chunks cost little time."""
        big, upload = (256 * MB, 128 * MB) if quick else (2048 * MB, 1024 * MB)
        rows = [*self.chunked_vs_curl(upload), self.big_upload(big), self.big_download(big)]
        self.sim.clear_images()  # the simulator's copies too: it is killed, not shut down
        for name in ("big.bin", "upload.bin", "saved.bin"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.home / name)
        return rows

    def random_file(self, name: str, size: int) -> Path:
        path = self.home / name
        with open(path, "wb") as stream:
            for _ in range(size // MB):
                stream.write(os.urandom(MB))
        return path

    def upload_image(self, path: Path, row: Row, clear: bool = True) -> Run:
        if clear:
            self.sim.clear_images()
        args = ("upload-image", "custom/bench", "amd64/generic", str(path), "--filetype", "ddraw")
        result = checked(self.maascurl(*args), row.goal)
        complete = b'"complete": true' in result.head or b'"complete":true' in result.head
        row.record(result, None if result.out_bytes and complete else "not complete")
        return result

    def chunked_vs_curl(self, size: int) -> list[Row]:
        """The chunked transfer against one `curl -T` PUT of the same bytes.

        upload-image must hash the file before it can create the resource
        (MAAS wants the sha256 first); curl sends without. The transfer time is
        the whole command's median minus that of the same command for an image
        already uploaded (start-up, hash pass, look-up, printing), so the judged
        row compares the chunked PUTs with the one PUT; the whole command is
        shown too.
        """
        path = self.random_file("upload.bin", size)
        whole = Row(
            f"7 upload-image {size // MB} MB, whole run with sha256 pass (vs curl -T)", None, None
        )
        row = Row(
            f"7 upload-image {size // MB} MB in 4 MiB chunks, transfer time (vs curl -T)", 1.5, None
        )
        sha256 = _sha256(path)

        bare = Row(
            "7 the same 4 MiB chunks from a bare socket client with sendfile (vs curl -T)",
            None,
            None,
        )

        def create() -> str:
            self.sim.clear_images()
            fields = ("name=custom/bench", "architecture=amd64/generic", "filetype=ddraw")
            args = ("post", "boot-resources", *fields, f"size={size}", f"sha256={sha256}")
            created = checked(self.maascurl(*args, keep=1 << 20), "creating the resource")
            (rfile,) = next(iter(json.loads(created.head)["sets"].values()))["files"].values()
            return str(rfile["upload_uri"])

        def bare_put() -> Run:
            return bare_chunks(self.sim, create(), path, 4 * MB)

        def curl_put() -> Run:
            upload_uri = create()
            # curl -T adds the file's name to a URL that ends in "/"; the
            # request target keeps the upload URI as MAAS gave it.
            url = self.sim.url.rsplit("/MAAS", 1)[0] + "/" + path.name
            kind = "Content-Type: application/octet-stream"
            args = ("-H", kind, "--request-target", upload_uri, "-T", str(path))
            return checked(self.curl(url, *args), "curl -T")

        def already_uploaded() -> Run:
            result = self.upload_image(path, row, clear=False)
            if b"already uploaded" not in result.stderr:
                row.record(result, "the image was sent again")
            return result

        # Each round leaves the image complete, so the run that subtracts the
        # fixed costs goes in the same rounds and drifts with the others.
        commands = [lambda: self.upload_image(path, whole), curl_put, bare_put]
        for command in commands:
            command()
        ours: list[float] = []
        base: list[float] = []
        sockets: list[float] = []
        fixed: list[float] = []
        for i in range(max(self.repeat, 3)):
            order = list(zip(commands, (ours, base, sockets)))
            for command, times in order if i % 2 == 0 else order[::-1]:
                times.append(command().seconds)
            fixed.append(already_uploaded().seconds)
        whole.ours, whole.base = ours, base
        row.ours = [statistics.median(ours) - statistics.median(fixed)]
        row.base = bare.base = base
        bare.ours = sockets
        return [whole, row, bare]

    def big_upload(self, size: int) -> Row:
        path = self.random_file("big.bin", size)
        row = Row(f"7 upload-image: {size // MB} MB, memory", None, 80)
        row.ours = [self.upload_image(path, row).seconds]
        return row

    def big_download(self, size: int) -> Row:
        path = self.home / "big.bin"
        self.sim.add_disk_file("big.bin", path)
        target = self.home / "saved.bin"
        row = Row(f"7 download: {size // MB} MB with -o FILE, memory", None, 80)
        args = ("get", "files", "op=get", "filename=big.bin", "-o", str(target))
        result = checked(self.maascurl(*args), row.goal)
        row.record(result, None if target.stat().st_size == size else "wrong file size")
        row.ours = [result.seconds]
        return row

    # goal 8
    def fleet(self, machines: int = 1000, sampled: int = 50) -> list[Row]:
        self.sim.set_fleet(machines)
        ids = [f"abc{i:03x}" for i in range(machines)]
        source = self.home / "fleet-ids.txt"
        source.write_text("\n".join(ids) + "\n")
        (self.home / "fleet-sample.txt").write_text("\n".join(ids[:sampled]) + "\n")
        curl_row = Row(
            f"8 fleet: {machines} GET machines/ID, --each (vs {machines} curl)", 0.2, None
        )
        scale = machines / sampled
        get_row = Row(
            f"8 fleet: {machines} GET machines/ID, --each (vs maascurl get x{machines}, "
            f"{sampled} measured x{scale:g})",
            1 / 50,
            None,
        )

        def each() -> Run:
            result = self.maascurl("get", "machines/{}", "--each", str(source))
            problem = None if result.out_bytes > machines * 8000 else f"{result.out_bytes} bytes"
            curl_row.record(result, problem)
            return result

        def curl_loop() -> Run:
            # Fresh nonces for every run: the simulator, like MAAS, refuses a reused one.
            lines = self.home / "fleet-curl.tsv"
            lines.write_text(
                "".join(
                    f"{self.sim.api_root}machines/{i}/\t{oauth_header(self.sim.api_key)}\n"
                    for i in ids
                )
            )
            loop = (
                "while IFS=$'\\t' read -r url header; do "
                '/usr/bin/curl -s -f -H "$header" "$url" || exit 1; done < "$1"'
            )
            return run(["/bin/bash", "-c", loop, "bash", str(lines)], self.env)

        def get_loop() -> Run:
            loop = 'while read -r id; do "$1" get "machines/$id" || exit 1; done < "$2"'
            sample = str(self.home / "fleet-sample.txt")
            return run(["/bin/bash", "-c", loop, "bash", MAASCURL, sample], self.env)

        self.compare(curl_row, each, curl_loop, self.repeat)
        get_row.ours = curl_row.ours
        get_row.rss_mb = curl_row.rss_mb
        get_row.base = [
            checked(get_loop(), "maascurl get loop").seconds * scale
            for _ in range(max(self.repeat // 2, 1))
        ]
        return [curl_row, get_row]

    # goal 9
    def fleet_memory(self, machines: int = 10000) -> Row:
        self.sim.set_fleet(machines)
        source = self.home / "fleet-ids-10k.txt"
        source.write_text("".join(f"abc{i:03x}\n" for i in range(machines)))
        row = Row(f"9 fleet: {machines} lines through --each, peak RSS", None, 80)
        result = checked(self.maascurl("get", "machines/{}", "--each", str(source)), row.goal)
        row.ours = [result.seconds]
        ok = result.out_bytes > machines * 8000
        row.record(result, None if ok else f"{result.out_bytes} bytes")
        return row


def bare_chunks(sim: Simulator, upload_uri: str, path: Path, chunk: int) -> Run:
    """PUT PATH to UPLOAD_URI in CHUNK-sized requests with the least client work there is.

    One kept-alive socket, a hand-written signed request head, the body by
    sendfile: what is left is the server's cost per request, the floor for any
    client that sends the same chunks.
    """
    import socket
    import urllib.parse

    where = urllib.parse.urlsplit(sim.url)
    assert where.hostname is not None and where.port is not None
    size = path.stat().st_size
    start = time.perf_counter()
    with socket.create_connection((where.hostname, where.port)) as sock, open(path, "rb") as f:
        reader = sock.makefile("rb")
        for offset in range(0, size, chunk):
            length = min(chunk, size - offset)
            head = (
                f"PUT {upload_uri} HTTP/1.1\r\nHost: {where.netloc}\r\n"
                f"{oauth_header(sim.api_key)}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
            )
            sock.sendall(head.encode())
            sock.sendfile(f, offset, length)
            status = reader.readline()
            if b" 200 " not in status:
                raise SystemExit(f"bare chunk at {offset}: {status!r}")
            _skip_answer(reader)
    return Run(time.perf_counter() - start, 0.0, 0, 0, b"", b"")


def _skip_answer(reader: Any) -> None:
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    reader.read(length)


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(MB):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------- report


def table(rows: list[Row]) -> str:
    header = ("goal", "maascurl", "baseline", "ratio", "target", "peak RSS", "result")
    lines = [header]
    for row in rows:
        ours = f"{statistics.median(row.ours) * 1000:.0f} ms" if row.ours else "-"
        base = f"{statistics.median(row.base) * 1000:.0f} ms" if row.base else "-"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        targets = []
        if row.ratio_target is not None:
            targets.append(f"<={row.ratio_target:g}x")
        if row.rss_limit_mb is not None:
            targets.append(f"<{row.rss_limit_mb:g} MB")
        verdict = "PASS" if row.passed else "FAIL" + (f" ({row.note})" if row.note else "")
        rss = f"{row.rss_mb:.0f} MB" if row.rss_mb else "-"
        lines.append((row.goal, ours, base, ratio, ", ".join(targets) or "-", rss, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--repeat", type=int, help="repetitions per goal (default 10, quick 4)")
    parser.add_argument(
        "--only", metavar="GOAL", type=int, action="append", help="run only goal GOAL (repeatable)"
    )
    args = parser.parse_args(argv)
    repeat = args.repeat or (4 if args.quick else 10)
    if not os.path.exists(MAASCURL):
        raise SystemExit(f"no maascurl console script at {MAASCURL}; run with the venv's python")
    for tool in ("/usr/bin/jq", "/usr/bin/curl"):
        if not os.path.exists(tool):
            raise SystemExit(f"{tool} is needed for a baseline")
    # A SIGTERM (kill, a CI timeout) still runs the `finally` below: the image
    # store may hold gigabytes of memory in /dev/shm.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    home = Path(tempfile.mkdtemp(prefix="maascurl-bench-"))
    images = image_store()
    sim = Simulator(images)
    try:
        bench = Bench(sim, home, repeat)
        bench.login()
        steps: list[tuple[int, Callable[[], Row | list[Row]]]] = [
            (1, bench.startup),
            (2, bench.completion),
            (3, lambda: bench.pretty(1000)),
            (4, bench.piped),
            (4, lambda: bench.piped_fleet(10000)),
            # Small enough that its IDs are recorded for TAB as it passes (listings.py).
            (4, lambda: bench.piped_fleet(200)),
            (5, bench.broken_pipe),
            (6, lambda: bench.tables(1000)),
            (7, lambda: bench.big_files(args.quick)),
            (8, bench.fleet),
            (9, bench.fleet_memory),
        ]
        rows: list[Row] = []
        for goal, step in steps:
            if args.only and goal not in args.only:
                continue
            done = step()
            rows.extend(done if isinstance(done, list) else [done])
            print(f"  measured: {rows[-1].goal}", file=sys.stderr, flush=True)
    finally:
        sim.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(images, ignore_errors=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{MAASCURL}: medians of {repeat} runs or more (this runner's own peak: {own:.0f} MB;"
        f" the simulator's image store: {images.parent})\n"
    )
    print(table(rows))
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
