"""The profile commands: `login`, `logout`, `profile list|show|default|import`, `refresh`.

Each hands its arguments to the profiles layer (profiles/login.py,
profiles/password.py, profiles/profile_import.py) and imports it only when
it runs.
"""

from __future__ import annotations

import click

from maascurl.cli.complete import complete_profiles
from maascurl.cli.options import (
    CONTEXT_SETTINGS,
    json_options,
    profile_option,
    tls_options,
    wants_json,
)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("profile")
@click.argument("url")
@click.argument("api_key", required=False)
@click.option(
    "--no-check",
    is_flag=True,
    help="Save without contacting the server (no key check, no description).",
)
@click.option(
    "--api-key-command",
    metavar="COMMAND",
    help="Store a command whose output is the key (e.g. 'pass show maas/prod') instead of the key.",
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Read the key from the first line of FILE (-: stdin).",
)
@click.option(
    "--timeout",
    "login_timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Bound connecting and each read while logging in (key or password).",
)
@click.option(
    "--username",
    metavar="NAME",
    help="Log in with NAME's password instead of a key (MAAS hands out the key).",
)
@click.option(
    "--password",
    "password_source",
    metavar="-",
    help="With --username: read the password from stdin (else asked for, hidden).",
)
@tls_options
def login(
    profile: str,
    url: str,
    api_key: str | None,
    no_check: bool,
    api_key_command: str | None,
    api_key_file: str | None,
    login_timeout: float,
    username: str | None,
    password_source: str | None,
    insecure: bool,
    cacert: str | None,
) -> None:
    """Save PROFILE for the MAAS server at URL with API_KEY.

    API_KEY is consumer_key:token_key:token_secret. Leave it out to be asked for
    it (hidden), give '-' to read it from stdin, or use --api-key-file: a key in
    the command line itself is visible to other users (ps) and kept in shell
    history. The key is checked with the server and the server's API description
    is cached; --no-check contacts nothing.

    With --username NAME, maascurl asks for NAME's password (or reads it from stdin
    with --password -) and MAAS answers with NAME's API key, which is stored as if
    it had been given; the password is never stored.
    """
    if username is not None or password_source is not None:
        if api_key_file is not None:
            raise click.UsageError("--username logs in with a password; drop --api-key-file")
        _refuse_with_password(username, api_key, api_key_command, no_check)
        from maascurl.profiles.password import password_login

        password_login(
            profile, url, username or "", password_source, insecure, cacert, login_timeout
        )
        return
    from maascurl.profiles.login import login as do_login

    do_login(
        profile,
        url,
        api_key,
        no_check,
        api_key_command,
        insecure,
        cacert,
        api_key_file=api_key_file,
        timeout=login_timeout,
    )


def _refuse_with_password(
    username: str | None, api_key: str | None, api_key_command: str | None, no_check: bool
) -> None:
    if username is None:
        raise click.UsageError("--password goes with --username")
    clash = (api_key is not None and "API_KEY") or (api_key_command and "--api-key-command")
    if clash or no_check:
        raise click.UsageError(f"--username logs in with a password; drop {clash or '--no-check'}")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("profile", shell_complete=complete_profiles)
def logout(profile: str) -> None:
    """Forget PROFILE and its API key."""
    from maascurl.profiles.login import logout as do_logout

    do_logout(profile)


@click.group(context_settings=CONTEXT_SETTINGS)
def profile() -> None:
    """List, show, choose and import profiles."""


@profile.command("list")
@json_options
def profile_list(as_json: bool, format_: str | None) -> None:
    """List profiles: name, URL and which one is the default."""
    from maascurl.profiles.login import list_profiles

    list_profiles(wants_json(as_json, format_))


@profile.command("show")
@click.argument("name", required=False, shell_complete=complete_profiles)
@json_options
def profile_show(name: str | None, as_json: bool, format_: str | None) -> None:
    """Show a profile's settings (the API key redacted); with no NAME, the default one.

    The config file's path is shown too.
    """
    from maascurl.profiles.login import show_profile

    show_profile(name, wants_json(as_json, format_))


@profile.command("default")
@click.argument("name", shell_complete=complete_profiles)
def profile_default(name: str) -> None:
    """Make NAME the default profile."""
    from maascurl.profiles.login import set_default

    set_default(name)


@profile.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace profiles that have the same name.")
@click.option("--dry-run", is_flag=True, help="Say what would be imported; write nothing.")
def profile_import(file: str | None, force: bool, dry_run: bool) -> None:
    """Import the profiles of the official MAAS CLI or python-libmaas.

    FILE defaults to the first of ~/.maascli.db, ~/snap/maas/current/.maascli.db
    (the snap's CLI) and ~/.maas.db (python-libmaas) that exists. It is only read,
    never locked or changed. Each profile keeps its name, URL, key (or none:
    unsigned requests) and CA certificate, and its stored API description is
    cached, so TAB completion works at once. Existing names are skipped unless
    --force.
    """
    from maascurl.profiles.profile_import import import_profiles

    import_profiles(file, force, dry_run)


@click.command(
    context_settings=CONTEXT_SETTINGS, short_help="Fetch the server's API description again."
)
@profile_option
@click.option("--all", "all_profiles", is_flag=True, help="Refresh every profile.")
@tls_options
def refresh(profile: str | None, all_profiles: bool, insecure: bool, cacert: str | None) -> None:
    """Fetch the server's API description again (used for help, checks and TAB)."""
    from maascurl.profiles.login import refresh as do_refresh

    do_refresh(profile, all_profiles, insecure=insecure, cacert=cacert)
