"""MAAS request signing: 0-legged OAuth 1.0 with the PLAINTEXT method.

Every request that goes out (each redirect hop and each retry included) gets a
fresh nonce and timestamp, because MAAS remembers nonces and rejects a reuse.
When MAAS says the timestamp expired (this machine's clock is behind the
server's), the offset is learned from the answer and the request is signed
again once.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Generator

from oauthlib import oauth1

from maascurl.wire._httpx import httpx
from maascurl.wire.redact import redact_authorization as redact_authorization
from maascurl.wire.settings import ApiKey

AUTH_BODY_LIMIT = 64 * 1024
_EXPIRED = re.compile(r"Expired timestamp: given (\d+) and now (\d+)")


class Clock:
    """Signing time: the local clock plus an offset learned from the server."""

    def __init__(
        self,
        offset: float = 0.0,
        on_correct: Callable[[float], None] | None = None,
        on_forget: Callable[[], None] | None = None,
    ):
        self.offset = offset
        self.on_correct = on_correct
        self._lock = threading.Lock()  # fleet runs sign from several threads
        self.on_forget = on_forget

    def now(self) -> int:
        return int(time.time() + self.offset)

    def learn(self, response: httpx.Response) -> bool:
        """Take the server's time from an 'Expired timestamp' answer; True if it helps."""
        offset = _server_offset(response)
        with self._lock:
            if offset is None or abs(offset - self.offset) < 1:
                return False
            self.offset = offset
        if self.on_correct is not None:
            self.on_correct(offset)
        return True

    def check_still_needed(self, response: httpx.Response) -> None:
        """Forget a saved offset once the server's Date shows the clocks agree again.

        A clock fixed after a skew would otherwise sign in the future forever.
        """
        date = response.headers.get("Date")
        if not self.offset or not date:
            return
        from email.utils import parsedate_to_datetime

        try:
            skew = parsedate_to_datetime(date).timestamp() - time.time()
        except (TypeError, ValueError):
            return
        with self._lock:  # several answers of a fleet run may arrive at once
            if abs(skew) >= CLOCKS_AGREE or not self.offset:
                return
            self.offset = 0.0
        if self.on_forget is not None:
            self.on_forget()


# Clocks this close need no offset (MAAS accepts timestamps 300 s old).
CLOCKS_AGREE = 30.0


def _server_offset(response: httpx.Response) -> float | None:
    match = _EXPIRED.search(response.text)
    if match:
        # The server's "now" is when it read the request: close enough to ours.
        return int(match.group(2)) - time.time()
    date = response.headers.get("Date")
    if date:
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(date).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return None


class MaasAuth(httpx.Auth):
    def __init__(self, key: ApiKey, clock: Clock | None = None) -> None:
        self.key = key
        self.clock = clock or Clock()

    def sign(self, request: httpx.Request) -> None:
        client = oauth1.Client(
            self.key.consumer_key,
            client_secret="",
            resource_owner_key=self.key.token_key,
            resource_owner_secret=self.key.token_secret,
            signature_method=oauth1.SIGNATURE_PLAINTEXT,
            timestamp=str(self.clock.now()),
        )
        # Signed without the body or the query: PLAINTEXT covers no request data,
        # oauthlib refuses multipart bodies, and it raises on a query holding
        # characters such as '|' or '[' that a server's redirect may contain.
        _, headers, _ = client.sign(str(request.url.copy_with(query=None)), request.method)
        request.headers["Authorization"] = headers["Authorization"]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed_with = self.clock.offset
        self.sign(request)
        response = yield request
        expired = response.status_code == 401 and _is_expired_timestamp(response)
        # In a fleet run several requests in flight meet the same expired
        # clock: one learns the offset, and every one signed before re-signs.
        if expired and (self.clock.learn(response) or self.clock.offset != signed_with):
            self.sign(request)
            yield request
        elif response.status_code < 400:
            self.clock.check_still_needed(response)


def _is_expired_timestamp(response: httpx.Response) -> bool:
    from maascurl.wire.bounded import read_capped

    # Only the start of a 401's body: a hostile one may be endless or a bomb.
    body, _ = read_capped(response, AUTH_BODY_LIMIT)
    response._content = body  # what later readers (the error text) see
    return b"Expired timestamp" in body
