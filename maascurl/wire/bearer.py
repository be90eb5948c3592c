"""Bearer tokens for MAAS's v3 API: `Authorization: Bearer JWT` on every request.

The wire only sends: where a token comes from (a stored one, renewed before
it expires, a 3.8 refresh token, a password) is the business of a
TokenSource it is handed (profiles/tokens.py). A request answered 401 asks
the source once for a token other than the one refused and is sent again
with it. Imported only for requests to the v3 API.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Protocol

from maascurl.wire._httpx import httpx
from maascurl.wire.bounded import read_capped
from maascurl.wire.redact import REDACTED

AUTH_BODY_LIMIT = 64 * 1024


class TokenSource(Protocol):
    """Where a v3 request's token comes from (profiles/tokens.py's V3Tokens)."""

    def token(self) -> str:
        """A token that stays valid for a while: renewed, refreshed or logged in for
        when it must be; raises a MaascurlError when there is none to be had."""
        ...

    def rejected(self, token: str) -> str | None:
        """TOKEN was refused (401): another one, or None when there is no other."""
        ...


class BearerAuth(httpx.Auth):
    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def sign(self, request: httpx.Request) -> None:
        """--offline: the header as it would be sent, without asking for a token."""
        request.headers["Authorization"] = f"Bearer {REDACTED}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # httpx reads a refused answer before the retry: only its start (a hostile one
        # may be endless), as for the 2.0 API's signing (wire/auth.py).
        response._content, _ = read_capped(response, AUTH_BODY_LIMIT)
        other = self.source.rejected(token)
        if other is not None and other != token:
            request.headers["Authorization"] = f"Bearer {other}"
            yield request
