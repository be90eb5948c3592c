"""`maascurl sandbox`: a MAAS stand-in on 127.0.0.1, its profile, and commands run against it.

The region is simulator.py's, with the sandbox's defaults: a fleet drawn from a
seed (the same seed, the same machines, in mixed states), machine actions that
take ACTION_SECONDS so that `--wait` has something to wait for; beside it, the
v3 API of MAAS V3_VERSION (simulator_v3.py), which the sandbox's profile is
logged in to (its token kept as `login --username` keeps it).

Serving (no --run, no --exec), it listens on DEFAULT_PORT, saves a profile for
itself in the user's config (the profiles layer's locked, atomic write, mode
0600; never the default) and caches its API description, so TAB, `describe`
and the op checks work at once in other shells; it serves until Ctrl-C,
SIGTERM or SIGHUP and exits 0.

With --run (maascurl commands) or --exec (a shell command) it listens on any
free port, runs them against itself and stops, with their exit status. The
user's config and cache are not touched: the commands get a private config
holding only the sandbox's profile (the default there) and a private cache,
removed afterwards, so runs side by side (CI jobs) never meet, a sandbox
already serving keeps its profile, and a script under test cannot reach
another region through a profile. Their environment: MAAS_API_URL and
MAAS_API_KEY (what a bare `maascurl` call and most MAAS scripts read),
MAASCURL_CONFIG and MAASCURL_CACHE_DIR (the private ones), no
MAASCURL_PROFILE, and the directory of this maascurl first on PATH.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from urllib.parse import urlsplit

from maascurl.errors import ConfigError, MaascurlError, UsageError
from maascurl.profiles.config import (
    ENV_CACERT,
    ENV_KEY,
    ENV_PROFILE,
    ENV_URL,
    Config,
    Profile,
    check_profile_name,
    update_config,
)
from maascurl.sandbox.simulator import DEFAULT_PASSWORD, DEFAULT_USER, MaasSimulator
from maascurl.sandbox.simulator_v3 import V3Api

HOST = "127.0.0.1"  # never anything else: the sandbox's key is no secret
DEFAULT_PORT = 5248  # serving; beside MAAS's own 5240 (http) and 5443 (https)
DEFAULT_MACHINES = 10
DEFAULT_SEED = "1"  # 4 Ready, 2 Allocated, 2 Deployed, 1 New, 1 Broken
ACTION_SECONDS = 2.0
V3_VERSION = "3.7.3"  # the v3 API served under /MAAS/a/v3/ (simulator_v3.py)
PROFILE = "sandbox"
USERNAME, PASSWORD = DEFAULT_USER, DEFAULT_PASSWORD
ENV_CONFIG, ENV_CACHE = "MAASCURL_CONFIG", "MAASCURL_CACHE_DIR"
Handler = Callable[[int, FrameType | None], Any]  # a signal handler


@dataclass(frozen=True)
class Settings:
    """What `maascurl sandbox` was asked for."""

    port: int | None = None  # None: DEFAULT_PORT serving, any free one for commands
    machines: int = DEFAULT_MACHINES
    seed: str = DEFAULT_SEED
    action_seconds: float = ACTION_SECONDS
    fail_share: float = 0.0
    profile: str = PROFILE
    runs: tuple[str, ...] = ()  # maascurl command lines, run in turn
    exec_command: str | None = None  # a shell command line
    quiet: bool = False


def sandbox(settings: Settings) -> int:
    """Serve, or run the commands asked for; the exit status."""
    check_profile_name(settings.profile)
    if settings.runs and settings.exec_command is not None:
        raise UsageError("give --run or --exec, not both")
    commands = [maascurl_argv(line) for line in settings.runs]
    if settings.exec_command is not None:
        commands.append(["/bin/sh", "-c", settings.exec_command])
    if not commands:
        return serve(settings)
    runner = Commands()
    with runner.handling_signals():  # from the start: a stop never leaves anything behind
        sim = start(settings, 0 if settings.port is None else settings.port)
        try:
            say(f"maascurl: sandbox at {sim.url} ({fleet(settings)})", settings, sys.stderr)
            with private_home(sim, settings.profile) as env:
                return runner.run_all(commands, env)
        finally:
            sim.stop()


def serve(settings: Settings) -> int:
    """Serve on the port asked for (DEFAULT_PORT) until a signal says stop."""
    sim = start(settings, DEFAULT_PORT if settings.port is None else settings.port)
    try:
        config = save_profile(sim, settings.profile)
        say(served(sim, settings, config), settings, sys.stdout)
        wait_for_a_stop()
        say("maascurl: sandbox stopped", settings, sys.stderr)
        return 0
    finally:
        sim.stop()


def start(settings: Settings, port: int) -> MaasSimulator:
    """The region, listening on 127.0.0.1:PORT (0: any free port) and answering."""
    try:
        sim = MaasSimulator(
            machines=settings.machines,
            seed=settings.seed,
            action_seconds=settings.action_seconds,
            fail_share=settings.fail_share,
            host=HOST,
            port=port,
            v3=V3Api(V3_VERSION, machines=settings.machines, username=USERNAME, password=PASSWORD),
        )
    except OSError as exc:
        hint = "; a sandbox may be serving there already: --port N picks another, 0 any free"
        raise MaascurlError(
            f"cannot listen on {HOST}:{port}: {exc.strerror or exc}{hint if port else ''}"
        ) from None
    sim.timed.import_seconds = settings.action_seconds  # `boot-resources op=import` too
    return sim.start()


def save_profile(sim: MaasSimulator, name: str, path: Path | None = None) -> Config:
    """Create or update profile NAME for SIM in the config at PATH (default: the user's),
    and cache the description beside its other descriptions.

    Never made the default of the user's config. A profile of that name for another
    server is not replaced: it is someone's MAAS.
    """
    from maascurl.api.apidesc import save_cache

    profile = Profile(name, sim.url, api_key=sim.api_key, username=USERNAME)

    def change(config: Config) -> None:
        old = config.profiles.get(name)
        if old is not None and not is_sandbox_url(old.url):
            raise ConfigError(
                f"profile {name!r} is for {old.url}, not a sandbox; it is kept: "
                "name the sandbox's profile with --profile NAME"
            )
        config.profiles[name] = profile
        if path is not None:  # the private config of the commands run: theirs alone
            config.default = name

    config = update_config(change, path)
    cache = path.parent / "cache" if path else None
    save_cache(profile.api_root, sim.describe_bytes, cache)
    log_in_v3(sim, profile, cache)
    return config


def log_in_v3(sim: MaasSimulator, profile: Profile, cache: Path | None) -> None:
    """The v3 API's description and a token for PROFILE (and, in CACHE, the private one of
    the commands run, for $MAAS_API_URL's profile too), as `login --username` keeps them."""
    from maascurl.api.openapi import save_cache
    from maascurl.profiles import tokens
    from maascurl.profiles.config import ENVIRONMENT_PROFILE
    from maascurl.wire.connection import Connection
    from maascurl.wire.settings import Transport

    save_cache(profile.v3_root, sim.v3.openapi_bytes, cache)
    with Connection(Transport(), "http", None) as connection:
        stored = tokens.v3_login(connection, profile, USERNAME, PASSWORD)
    assert stored is not None  # the sandbox has the v3 API
    tokens.save(profile, stored, cache)
    if cache is not None:
        environment = Profile(ENVIRONMENT_PROFILE, profile.url)
        tokens.save(environment, stored, cache)


def is_sandbox_url(url: str) -> bool:
    """A URL a sandbox's profile has: plain http to 127.0.0.1."""
    try:
        parts = urlsplit(url)
        return parts.scheme == "http" and parts.hostname == HOST
    except ValueError:
        return False


def maascurl_argv(line: str) -> list[str]:
    """A --run line (split as a shell splits words, no more) as this maascurl's argv."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"--run {line!r}: {exc}") from None
    if words[:1] == ["maascurl"]:
        words = words[1:]  # `--run 'maascurl get machines'` means the same
    if not words:
        raise UsageError("--run needs a maascurl command, e.g. --run 'get machines -t'")
    return [sys.executable, "-m", "maascurl", *words]


@contextmanager
def private_home(sim: MaasSimulator, name: str) -> Iterator[dict[str, str]]:
    """The environment of the commands run against SIM, with their private config and cache
    (see the module's docstring); both are removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="maascurl-sandbox-") as home:
        config = Path(home) / "config.toml"
        save_profile(sim, name, config)
        env = {k: v for k, v in os.environ.items() if k not in (ENV_PROFILE, ENV_CACERT)}
        env[ENV_URL], env[ENV_KEY] = sim.url, sim.api_key
        env[ENV_CONFIG], env[ENV_CACHE] = str(config), str(Path(home) / "cache")
        here = Path(sys.executable).parent
        if (here / "maascurl").exists():  # a venv's, pipx's: scripts calling maascurl get it
            env["PATH"] = os.pathsep.join([str(here), env.get("PATH", os.defpath)])
        yield env


class Commands:
    """Commands run one after the other against the sandbox, as a shell runs them.

    While the sandbox runs commands, SIGTERM and SIGHUP go on to the command
    running, and no command starts after one; SIGINT is left to the command:
    Ctrl-C reaches the whole foreground process group, the command included,
    and the sandbox waits for it to end and takes its status (with no command
    running, Ctrl-C stops the sandbox). A signal that comes while a command
    starts reaches it too; the command itself gets the default handlers, as
    every program run does.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.stop: int | None = None  # the signal that said stop

    def handling_signals(self) -> AbstractContextManager[None]:
        return handling(
            {
                signal.SIGINT: self.interrupt,
                signal.SIGTERM: self.pass_on,
                signal.SIGHUP: self.pass_on,
            }
        )

    def run_all(self, commands: Sequence[Sequence[str]], env: dict[str, str]) -> int:
        """Run COMMANDS until one fails; the exit status (128 + N after signal N)."""
        for argv in commands:
            if self.stop is not None:
                break
            status = self.run(argv, env)
            if status != 0:
                return status
        return 0 if self.stop is None else 128 + self.stop

    def run(self, argv: Sequence[str], env: dict[str, str]) -> int:
        """Run ARGV to its end; its exit status (128 + N when signal N ended it)."""
        try:
            self.process = subprocess.Popen(argv, env=env)
        except OSError as exc:
            raise MaascurlError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        if self.stop is not None:  # it came while the command was starting
            self.process.send_signal(self.stop)
        status = self.process.wait()
        return 128 - status if status < 0 else status

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pass_on(self, signum: int, frame: FrameType | None) -> None:
        self.stop = self.stop or signum
        if self.running():
            assert self.process is not None
            self.process.send_signal(signum)

    def interrupt(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-C: the command's to act on; with none running, a stop.

        (Not SIG_IGN: a command started would inherit that, and Ctrl-C would not
        stop it.)
        """
        if not self.running():
            self.stop = self.stop or signum


@contextmanager
def handling(handlers: dict[signal.Signals, Handler]) -> Iterator[None]:
    """HANDLERS in place of the signals' own while inside."""
    saved = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def wait_for_a_stop() -> None:
    """Block until SIGINT (Ctrl-C), SIGTERM or SIGHUP."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()


def fleet(settings: Settings) -> str:
    return f"{settings.machines} machines, seed {settings.seed}"


def served(sim: MaasSimulator, settings: Settings, config: Config) -> str:
    """What the sandbox says when it serves: where, the profile, how to use it."""
    name = settings.profile
    seconds = f"{settings.action_seconds:g}"
    return f"""\
maascurl sandbox: a MAAS stand-in at {sim.url} ({fleet(settings)})
profile {name!r} saved in {config.path}; in another shell:

    maascurl -p {name} get machines -t
    maascurl -p {name} get v3/zones   # the v3 API too (MAAS {V3_VERSION}), logged in
    export MAASCURL_PROFILE={name}    # then the README's examples run as written

Machine actions take {seconds} s; {USERNAME} logs in by password too (`maascurl sandbox --help`).
Ctrl-C stops it; every start is a fresh region, the same for the same --seed."""


def say(text: str, settings: Settings, stream: TextIO) -> None:
    if settings.quiet:
        return
    with suppress(OSError):  # a terminal that hung up (SIGHUP), a reader gone: go on
        print(text, file=stream, flush=True)
