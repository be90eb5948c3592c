"""TAB candidates for the commands' arguments and options: Click's shell_complete callbacks.

They run on every TAB press, so each imports only what it answers from
(the cached API description, the IDs seen in listings, wait.py's and
upload.py's tables), never httpx or rich. shellcomplete.py turns their
answers into what bash, zsh and fish expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

from maascurl.errors import MaascurlError

if TYPE_CHECKING:
    from maascurl.api.apidesc import ApiDescription
    from maascurl.api.openapi import V3Description

# What a PATH for MAAS's v3 API starts with: only then is its description read.
V3_LEADS = ("v3/", "/v3/", "/MAAS/a/v3/")


def complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from maascurl.profiles.config import load_config

    try:
        names = load_config().profiles
    except MaascurlError:
        return []
    return [name for name in sorted(names) if name.startswith(incomplete)]


def completion_description(ctx: click.Context) -> ApiDescription | None:
    """The cached API description of the profile the command line names (or the default)."""
    from maascurl.api.apidesc import load_cached
    from maascurl.profiles.config import select_profile

    try:
        profile = select_profile(ctx.params.get("profile"))
    except MaascurlError:
        return None
    return load_cached(profile.api_root)


def v3_description(ctx: click.Context) -> V3Description | None:
    """The cached v3 description of the profile the command line names (or the default)."""
    from maascurl.api.openapi import load_cached
    from maascurl.profiles.config import select_profile

    try:
        profile = select_profile(ctx.params.get("profile"))
    except MaascurlError:
        return None
    return load_cached(profile.v3_root)


def _is_v3(path: str) -> bool:
    return path.startswith(V3_LEADS) or path == "v3"


def _v3_known(ctx: click.Context) -> bool:
    """Whether the profile's server has a v3 description cached (a file test, no parse)."""
    from maascurl.api.apidesc import cache_file
    from maascurl.profiles.config import select_profile

    try:
        profile = select_profile(ctx.params.get("profile"))
    except MaascurlError:
        return False
    return cache_file(profile.v3_root, kind="openapi").exists()


def complete_path(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    if _is_v3(incomplete):
        from maascurl.api.v3completion import complete_v3_path

        found = complete_v3_path(v3_description(ctx), "v3/" if incomplete == "v3" else incomplete)
    else:
        from maascurl.api.completion import complete_path as candidates

        found = candidates(completion_description(ctx), incomplete, _known_ids(ctx))
        lead = "/" if incomplete.startswith("/") else ""
        if (lead + "v3/").startswith(incomplete) and _v3_known(ctx):
            found.append((lead + "v3/", "MAAS's v3 API"))
    # No space after "machines/": the user usually goes on typing the path.
    return [
        CompletionItem(value, help=text or None, type="nospace" if value.endswith("/") else "plain")
        for value, text in found
    ]


def _known_ids(ctx: click.Context) -> Callable[[str], list[tuple[str, str]]] | None:
    """IDs seen in listings that passed through (read from the cache, never fetched)."""
    from maascurl.api.listings import load_ids
    from maascurl.profiles.config import select_profile

    try:
        api_root = select_profile(ctx.params.get("profile")).api_root
    except MaascurlError:
        return None
    return lambda listing: load_ids(api_root, listing)


def complete_items(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.api.completion import complete_item

    method = (ctx.command.name or "get").upper()
    path = ctx.params.get("path") or ""
    items = list(ctx.params.get("items") or ())
    if _is_v3(path):
        from maascurl.api.v3completion import complete_v3_item

        found = complete_v3_item(v3_description(ctx), method, path, incomplete, items)
    else:
        found = complete_item(completion_description(ctx), method, path, incomplete, items)
    return [
        CompletionItem(
            value, help=text or None, type="nospace" if value.endswith(("=", "/")) else "plain"
        )
        for value, text in found
    ]


def complete_fields(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.show.fields import complete_fields as candidates
    from maascurl.show.fields import op_of

    # While an option's value is being typed Click has not parsed the
    # arguments yet: PATH and ITEMs are still in ctx.args.
    words = [ctx.params.get("path") or "", *(ctx.params.get("items") or ())]
    if not words[0] and ctx.args:
        words = list(ctx.args)
    path, op = words[0], op_of(words[1:])
    if _is_v3(path):
        from maascurl.api.v3completion import answer_fields
        from maascurl.show.fields import complete_names

        names = answer_fields(v3_description(ctx), path)
        found = complete_names(names, incomplete, many=param.name == "fields")
    else:
        found = candidates(path, op, incomplete, many=param.name == "fields")
    return [CompletionItem(value) for value in found]


def complete_condition(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.jobs.wait import complete_condition as candidates

    return [
        CompletionItem(value, type="nospace" if value.endswith(("=", ",")) else "plain")
        for value in candidates(incomplete)
    ]


def complete_event_filters(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from maascurl.api.completion import complete_item

    items = ["op=query", *(ctx.params.get("filters") or ())]
    found = complete_item(completion_description(ctx), "GET", "events", incomplete, items)
    managed = ("limit=", "after=", "before=")
    return [
        CompletionItem(value, help=text or None, type="nospace" if value.endswith("=") else "plain")
        for value, text in found
        if not value.startswith(managed)
    ]


def complete_architectures(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[str]:
    from maascurl.jobs.upload import ARCHITECTURES

    return [arch for arch in ARCHITECTURES if arch.startswith(incomplete)]


def complete_filetypes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from maascurl.jobs.upload import FILETYPES

    return [kind for kind in FILETYPES if kind.startswith(incomplete)]


def complete_describe_op(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    path = ctx.params.get("path") or ""
    if _is_v3(path):
        from maascurl.api.v3completion import operation_at

        v3 = v3_description(ctx)
        methods = ("get", "post", "put", "patch", "delete")
        return [m for m in methods if m.startswith(incomplete) and operation_at(v3, m, path)]
    desc = completion_description(ctx)
    match = desc.match(ctx.params.get("path") or "") if desc is not None else None
    if match is None:
        return []
    from maascurl.termsafe import shell_word

    labels = {action.label for action in match.resource.actions if shell_word(action.label)}
    return sorted(label for label in labels if label.startswith(incomplete))
