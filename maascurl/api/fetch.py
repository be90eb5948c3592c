"""Fetching a server's API description: `GET describe/`, capped, parsed and cached.

The one way login, refresh, describe and the calls (a recheck before a
refusal, a refresh when the server's API hash changed) fetch it. The answer
is read up to DESCRIBE_LIMIT: a hostile one may be endless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maascurl.api.apidesc import ApiDescription, save_cache
from maascurl.wire.request import RequestSpec

if TYPE_CHECKING:
    from maascurl.wire.connection import Connection
    from maascurl.wire.settings import Transport

DESCRIBE_LIMIT = 32 * 1024 * 1024  # MAAS's own is about 1 MB


def fetch_description(
    connection: Connection, api_root: str, transport: Transport | None = None
) -> ApiDescription:
    """The description at API_ROOT, fetched through CONNECTION and cached.

    Raises the server's error for anything but a 200 (HTTPStatusError),
    AnswerTooLarge past DESCRIBE_LIMIT, the transport's errors, and
    ValueError for an answer that is no description. TRANSPORT, when given,
    replaces the connection's own for this request.
    """
    spec = RequestSpec("GET", api_root + "describe/")
    return save_cache(api_root, connection.read_capped(spec, DESCRIBE_LIMIT, transport))
