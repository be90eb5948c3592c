"""Help and completion commands: `describe` (help from the server's API description)
and `completion` (the TAB completion script for a shell).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from maascurl.cli.complete import complete_describe_op, complete_path
from maascurl.cli.options import (
    CONTEXT_SETTINGS,
    json_options,
    profile_option,
    tls_options,
    wants_json,
)

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.api.openapi import V3Description
    from maascurl.wire.settings import Transport

V3_LEADS = ("v3/", "/v3/", "/MAAS/a/v3/")


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("path", required=False, shell_complete=complete_path)
@click.argument("op", required=False, shell_complete=complete_describe_op)
@click.option(
    "-m",
    "--method",
    type=click.Choice(["get", "post", "put", "patch", "delete"], case_sensitive=False),
    help="Pick the method when an op name exists for more than one (e.g. read vs update); "
    "for a v3 path, the operation to describe.",
)
@json_options
@profile_option
@tls_options
def describe(
    path: str | None,
    op: str | None,
    method: str | None,
    as_json: bool,
    format_: str | None,
    profile: str | None,
    insecure: bool,
    cacert: str | None,
) -> None:
    """Help from the server's own API description.

    \b
      maascurl describe                      # every resource, one line each
      maascurl describe machines             # its operations by method
      maascurl describe machines/abc deploy  # the maascurl command, method, URL, parameters
      maascurl describe v3                   # the v3 API's paths (MAAS 3.5 and later)
      maascurl describe v3/zones post        # a v3 operation: parameters, JSON body, answer

    An op asked for on a collection that only one of its items has (deploy on
    machines) is described where it lives (machines/{system_id}/), and says so.
    """
    import json

    from maascurl.api.describe import DescribeError, describe_data, visible
    from maascurl.errors import UsageError
    from maascurl.wire.settings import Transport

    as_json = wants_json(as_json, format_)
    tls = Transport(insecure=insecure, cacert=cacert)
    if path is not None and (path.strip("/") == "v3" or path.startswith(V3_LEADS)):
        _describe_v3(path, op or method, as_json, profile, tls)
        return
    if op is not None and op.startswith("op="):
        op = op[3:]  # `describe machines op=allocate`, as the op is typed in a request
    desc = _description(profile, tls)
    try:
        data = describe_data(desc, path, op, method.upper() if method else None)
    except DescribeError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        _print(visible(data))  # the server's text, bound for a terminal or a pager
    if desc.about:  # the description's own word on itself (the sandbox: generated texts)
        from maascurl.errors import note

        note(desc.about)


def _description(profile_name: str | None, tls: Transport) -> ApiDescription:
    """The profile's cached API description, fetched (and cached) when there is none."""
    from maascurl.api.apidesc import load_cached
    from maascurl.errors import MaascurlError
    from maascurl.profiles.config import select_profile

    profile = select_profile(profile_name)
    desc = load_cached(profile.api_root)
    if desc is not None:
        return desc
    from maascurl.profiles.login import fetch_profile_description

    print("maascurl: fetching the server's API description", file=sys.stderr)
    try:
        return fetch_profile_description(profile, tls=tls)
    except ValueError as exc:
        raise MaascurlError(f"cannot use the server's API description: {exc}") from None


def _print(data: Any, v3: bool = False) -> None:
    """Panels and tables on a terminal (rich), stable plain text elsewhere."""
    if v3:
        from maascurl.api.v3describe import render_plain, render_rich
    else:
        from maascurl.api.describe import render_plain, render_rich

    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(render_rich(data))
    else:
        sys.stdout.write(render_plain(data))


def _describe_v3(
    path: str, method: str | None, as_json: bool, profile_name: str | None, tls: Transport
) -> None:
    """`describe v3/...`: from the v3 API's OpenAPI document (fetched when not cached)."""
    import json

    from maascurl.api.describe import DescribeError, visible
    from maascurl.api.v3describe import describe_data
    from maascurl.errors import UsageError

    desc = _v3_description(profile_name, tls)
    try:
        data = describe_data(desc, path, method)
    except DescribeError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        print(json.dumps(data, indent=2))
        return
    _print(visible(data), v3=True)


def _v3_description(profile_name: str | None, tls: Transport) -> V3Description:
    from maascurl.api.openapi import fetch_openapi, load_cached
    from maascurl.errors import MaascurlError
    from maascurl.profiles.config import select_profile

    profile = select_profile(profile_name)
    desc = load_cached(profile.v3_root)
    if desc is not None:
        return desc
    from maascurl.profiles.login import plain_connection
    from maascurl.profiles.tokens import no_v3_api

    print("maascurl: fetching the v3 API's description", file=sys.stderr)
    try:
        with plain_connection(profile, tls=tls) as connection:
            fresh = fetch_openapi(connection, profile.v3_root)
    except ValueError as exc:
        raise MaascurlError(f"cannot use the v3 API's description: {exc}") from None
    if fresh is None:
        raise no_v3_api(profile.url)
    return fresh


@click.command(
    context_settings=CONTEXT_SETTINGS,
    short_help="Print the TAB completion script for bash, zsh or fish.",
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the TAB completion script for SHELL (bash, zsh or fish).

    \b
    Install it once:
      bash: mkdir -p ~/.local/share/bash-completion/completions &&
            maascurl completion bash > ~/.local/share/bash-completion/completions/maascurl
            (without the bash-completion package, also:
            echo 'source ~/.local/share/bash-completion/completions/maascurl' >> ~/.bashrc)
      zsh:  mkdir -p ~/.zfunc && maascurl completion zsh > ~/.zfunc/_maascurl
            (~/.zshrc: fpath=(~/.zfunc $fpath) before autoload -U compinit && compinit)
      fish: mkdir -p ~/.config/fish/completions &&
            maascurl completion fish > ~/.config/fish/completions/maascurl.fish
    """
    from maascurl.cli.shellcomplete import script

    group = click.get_current_context().find_root().command  # the maascurl group
    click.echo(script(shell, group), nl=False)
