"""`--paginate`: a v3 list followed through its pages, its items written as one list.

MAAS's v3 API answers a list a page at a time: `{"items": [...], "total":
N, "next": "/MAAS/a/v3/zones?page=2&size=20", "kind": ...}`, `next` absent
on the last page. The first request is the one asked for; each next page
is the path MAAS hands out, sent to the same server with the same headers
(and token). One page is held at a time, and show/pages.py writes its
items as they come, so memory stays flat for any number of items.

A `next` that leaves the v3 API or the server, or comes round again, ends
the run with an error rather than following it; an error answer on a later
page ends it with that error (output already written stays incomplete;
`-o FILE` is then left untouched). A total that changes while the pages are
read is noted. Imported only with --paginate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from maascurl.errors import MaascurlError, UsageError, note
from maascurl.jobs.call import Checked, explained_error
from maascurl.wire.request import RequestSpec

if TYPE_CHECKING:
    from maascurl.jobs.call import Session

PAGE_LIMIT = 64 * 1024 * 1024  # one page: MAAS's biggest (1,000 machines) is a few MB


def check_paged(call: Checked) -> None:
    """Refuse --paginate, before anything is sent, for what the description says is no list."""
    from maascurl.api.openapi import V3Description

    desc = call.description
    if not isinstance(desc, V3Description) or call.options.no_check:
        return
    relative = call.spec.url[len(call.target.api_root) :]
    match = desc.match(relative)
    operation = match.path.operation(call.spec.method) if match is not None else None
    if operation is not None and not operation.paged:
        raise UsageError(f"--paginate: {call.spec.method} v3/{relative} answers no list of pages")


def paginate(call: Checked) -> None:
    """Send CALL's request and every next page's; write all their items as one list."""
    from maascurl.show.pages import write_pages

    check_paged(call)
    write_pages(pages(call), call.options.output)


def pages(call: Checked) -> Iterator[list[Any]]:
    """The items of each page, in order, fetched as they are wanted."""
    session = call.session()
    spec = call.spec
    seen: set[str] = set()
    total: int | None = None
    count = 0
    while True:
        page = _read_page(session, spec, call)
        items = page["items"]
        count += len(items)
        if total is None:
            total = page.get("total") if isinstance(page.get("total"), int) else None
        yield items
        link = page.get("next")
        if not link:
            break
        if not isinstance(link, str):
            raise MaascurlError(f"{spec.url}: the page's next is not a path")
        spec = _next_spec(call, link)
        key = f"{spec.url}?{urlencode(spec.query)}"
        if key in seen:
            raise MaascurlError(f"{link}: MAAS handed out this page twice; stopped")
        seen.add(key)
        if not items:
            raise MaascurlError(f"{link}: MAAS answered an empty page with a next one; stopped")
    last_total = page.get("total")
    if total is not None and isinstance(last_total, int) and last_total != total:
        note(f"the list changed while its pages were read: {total} items, then {last_total}")
    elif total is not None and count != total:
        note(f"{count} items came in the pages, but MAAS counted {total}")


def _read_page(session: Session, spec: RequestSpec, call: Checked) -> dict[str, Any]:
    from maascurl.wire.bounded import read_capped
    from maascurl.wire.status import status_error

    response = session.send(spec)
    with session.errors(spec.url):
        try:
            if response.status_code != 200:
                error = status_error(response)
                raise explained_error(error, replace(call, spec=spec))
            body, more = read_capped(response, PAGE_LIMIT)
        finally:
            response.close()
    if more:
        raise MaascurlError(f"{spec.url}: a page of more than {PAGE_LIMIT // 2**20} MB")
    try:
        page = json.loads(body)
    except (ValueError, RecursionError):
        raise MaascurlError(f"{spec.url}: the answer is not JSON, so no page") from None
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise MaascurlError(
            f"{spec.url}: the answer is not a page of items ({{items, total, next}}); "
            "leave out --paginate"
        )
    return page


def _next_spec(call: Checked, link: str) -> RequestSpec:
    """The request for a page's `next`: a path on the same server, under the v3 API."""
    root = urlsplit(call.target.api_root)
    target = urlsplit(link)
    if target.scheme and (target.scheme, target.netloc) != (root.scheme, root.netloc):
        raise MaascurlError(f"the next page {link!r} is on another server; stopped")
    if not target.path.startswith(root.path):
        raise MaascurlError(f"the next page {link!r} is not under the v3 API; stopped")
    url = f"{root.scheme}://{root.netloc}{target.path}"
    query = parse_qsl(target.query, keep_blank_values=True)
    headers = [(n, v) for n, v in call.spec.headers if n.lower() != "content-type"]
    return RequestSpec("GET", url, query=query, headers=headers)
