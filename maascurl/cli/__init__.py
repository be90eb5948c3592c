"""The command line: the `maascurl` group, its commands by name, and the entry point.

Only click is imported at start-up. The group knows each command by the
module that defines it and its summary (COMMANDS), so `--help` and TAB over
command names import no command module; a command's module is imported when
that command runs (or its help is asked for, or TAB completes its
arguments), and the modules of the work layer only when it runs:

    requests.py   get, post, put, patch, delete (one call, --each, --wait)
    work.py       wait, events, batch, upload-image
    profiles.py   login, logout, profile, refresh
    help.py       describe, completion
    sandbox.py    sandbox (a MAAS stand-in; the only importer of maascurl/sandbox/)

Shared by them: options.py (each option defined once), values.py (parsed
options into the work layer's values), complete.py (TAB candidates) and
shellcomplete.py (the bash, zsh and fish glue); group.py is the group.
"""

from __future__ import annotations

import click

from maascurl import __version__
from maascurl.cli.group import Lazy, MaascurlGroup
from maascurl.cli.options import CONTEXT_SETTINGS
from maascurl.errors import EXIT_CODES_HELP

_REQUESTS = "maascurl.cli.requests"
_WORK = "maascurl.cli.work"
_PROFILES = "maascurl.cli.profiles"
_HELP = "maascurl.cli.help"
_SANDBOX = "maascurl.cli.sandbox"

# Every command: its module, and its summary as the command itself gives it
# (tests/test_entrypoint.py checks that the two agree).
COMMANDS = {
    "get": Lazy(_REQUESTS, short_help="Send a GET request."),
    "post": Lazy(_REQUESTS, short_help="Send a POST request."),
    "put": Lazy(_REQUESTS, short_help="Send a PUT request."),
    "patch": Lazy(_REQUESTS, short_help="Send a PATCH request."),
    "delete": Lazy(_REQUESTS, short_help="Send a DELETE request."),
    "wait": Lazy(_WORK, "Poll GET PATH until every FIELD has one of its VALUEs."),
    "events": Lazy(_WORK, short_help="Print MAAS's event log; -f follows it like tail -f."),
    "batch": Lazy(_WORK, short_help="Send the requests listed in FILE."),
    "upload-image": Lazy(_WORK, short_help="Upload a boot image in resumable chunks."),
    "login": Lazy(_PROFILES, "Save PROFILE for the MAAS server at URL with API_KEY."),
    "logout": Lazy(_PROFILES, "Forget PROFILE and its API key."),
    "profile": Lazy(_PROFILES, "List, show, choose and import profiles."),
    "refresh": Lazy(_PROFILES, short_help="Fetch the server's API description again."),
    "describe": Lazy(_HELP, "Help from the server's own API description."),
    "completion": Lazy(_HELP, short_help="Print the TAB completion script for bash, zsh or fish."),
    "sandbox": Lazy(_SANDBOX, "Serve a MAAS stand-in on 127.0.0.1, to try maascurl offline."),
}


@click.group(
    cls=MaascurlGroup, lazy=COMMANDS, context_settings=CONTEXT_SETTINGS, epilog=EXIT_CODES_HELP
)
@click.version_option(__version__, "-V", "--version", prog_name="maascurl")
def cli() -> None:
    """Talk to a MAAS server's REST API from the shell.

    \b
      maascurl login prod http://maas.example:5240/MAAS    # asks for the key
      maascurl get machines op=list_allocated
      maascurl post machines/abc123 op=deploy distro_series=noble
      maascurl get v3/zones                               # the v3 API (MAAS 3.5+)

    Options may also come before the method (maascurl -p prod GET machines).
    Run `maascurl METHOD --help` for the ITEM syntax.
    """


def main() -> None:
    """The console script's entry point."""
    import atexit
    import gc

    # Whatever is alive at exit (httpx, click and their modules) dies with the
    # process anyway; freezing it keeps the interpreter's exit-time garbage
    # collections from walking it all, which saves 10-20 ms per run and TAB.
    atexit.register(gc.freeze)
    cli.main(prog_name="maascurl")
