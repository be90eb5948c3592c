"""The `sandbox` command: a MAAS stand-in on 127.0.0.1 (maascurl/sandbox/serve.py).

The only module that imports the sandbox, and only when the command runs:
nothing else pays for it (import-linter checks both).
"""

from __future__ import annotations

import sys

import click
from click.shell_completion import CompletionItem

from maascurl.cli.options import CONTEXT_SETTINGS

# The defaults, as maascurl/sandbox/serve.py has them (a test checks that they agree):
# written here too so that `sandbox --help` and TAB import no sandbox.
DEFAULT_PORT = 5248
DEFAULT_MACHINES = 10
DEFAULT_SEED = "1"
ACTION_SECONDS = 2.0
PROFILE = "sandbox"


def complete_script(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """--exec ./sc<TAB>: file names, as the shell would complete a command's path."""
    return [CompletionItem(incomplete, type="file")]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    envvar="MAASCURL_SANDBOX_PORT",
    show_envvar=True,
    help=f"Listen on this port of 127.0.0.1: by default {DEFAULT_PORT} when serving, any free "
    "one with --run or --exec (0: any free one).",
)
@click.option(
    "--machines",
    type=click.IntRange(0, 10_000),
    default=DEFAULT_MACHINES,
    show_default=True,
    help="How many machines the region has.",
)
@click.option(
    "--seed",
    default=DEFAULT_SEED,
    show_default=True,
    help="Draw the region from SEED: the same seed, the same machines and states.",
)
@click.option(
    "--action-seconds",
    type=click.FloatRange(min=0),
    default=ACTION_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="How long deploy, release, commission and the like take.",
)
@click.option(
    "--fail-share",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="SHARE",
    help="The share of machines (0 to 1, the same ones for a seed) whose actions fail.",
)
@click.option(
    "--profile",
    "profile_name",
    default=PROFILE,
    show_default=True,
    metavar="NAME",
    help="Save the sandbox's profile under NAME.",
)
@click.option(
    "--run",
    "runs",
    multiple=True,
    metavar="'COMMAND'",
    help="Run this maascurl command against the sandbox, then stop (repeat for more).",
)
@click.option(
    "--exec",
    "exec_command",
    metavar="'COMMAND'",
    shell_complete=complete_script,
    help="Run this shell command (sh -c) against the sandbox, then stop.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing of the sandbox's own.")
def sandbox(
    port: int | None,
    machines: int,
    seed: str,
    action_seconds: float,
    fail_share: float,
    profile_name: str,
    runs: tuple[str, ...],
    exec_command: str | None,
    quiet: bool,
) -> None:
    """Serve a MAAS stand-in on 127.0.0.1, to try maascurl offline.

    \b
      maascurl sandbox                            # serves until Ctrl-C
      maascurl sandbox --run 'get machines -t'    # one command, then stop
      maascurl sandbox --exec ./check-fleet.sh    # a script, e.g. in CI

    The sandbox answers MAAS's API 2.0 as a MAAS 3.4 region would where a script
    would notice: signed requests only, listing filters, machine actions that
    follow MAAS's state rules and take --action-seconds (so --wait waits), locks,
    power parameters, events, and password login for user admin with the password
    "correct horse battery staple". Its API description keeps MAAS's names with
    generated texts, not MAAS's documentation. Beside it, under /MAAS/a/v3/, it
    serves MAAS 3.7's v3 API (v3/zones, ...; tokens last 10 minutes, as MAAS's),
    and the sandbox's profile is logged in there too. Every start is a fresh
    region, the same for the same --seed and --machines; nothing is kept.

    Serving, it saves profile NAME (default sandbox) for itself in your config,
    never as the default, and caches its API description: use `maascurl -p
    sandbox ...`, or export MAASCURL_PROFILE=sandbox. A profile of that name for
    another server is left alone (exit 1). Ctrl-C or SIGTERM stops it (exit 0).

    --run and --exec start it on any free port, run the command against it, stop
    it, and exit with the command's status; your config and cache are not
    touched. The command runs with MAAS_API_URL and MAAS_API_KEY set to the
    sandbox's, a private MAASCURL_CONFIG holding only the sandbox's profile (the
    default there) and a private MAASCURL_CACHE_DIR, MAASCURL_PROFILE unset, and
    the directory of this maascurl first on PATH.
    """
    from maascurl.sandbox.serve import Settings
    from maascurl.sandbox.serve import sandbox as serve

    settings = Settings(
        port=port,
        machines=machines,
        seed=seed,
        action_seconds=action_seconds,
        fail_share=fail_share,
        profile=profile_name,
        runs=runs,
        exec_command=exec_command,
        quiet=quiet,
    )
    sys.exit(serve(settings))
