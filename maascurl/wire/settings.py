"""What the wire is told: the API key that signs, and how to reach the server.

Plain data without httpx, so that the config file (profiles/config.py), which
TAB completion reads, can hold keys and TLS settings without importing the
HTTP stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from maascurl.errors import UsageError, register_secret

_KEY_PART = re.compile(r"[A-Za-z0-9._~-]+")


class ApiKey(NamedTuple):
    consumer_key: str
    token_key: str
    token_secret: str


def parse_api_key(text: str) -> ApiKey:
    parts = text.strip().split(":")
    if len(parts) != 3 or not all(_KEY_PART.fullmatch(part) for part in parts):
        raise UsageError("an API key has the form consumer_key:token_key:token_secret")
    for secret in parts[1:]:
        register_secret(secret)
    return ApiKey(*parts)


class TlsSettings(Protocol):
    """The TLS settings a stored profile carries (profiles/config.py's Profile)."""

    @property
    def insecure(self) -> bool: ...

    @property
    def cacert(self) -> str | None: ...


@dataclass
class Transport:
    """How to reach a server: TLS, timeouts, retries and redirect policy."""

    insecure: bool = False
    cacert: str | None = None
    timeout: float | None = None
    retries: int = 3
    max_time: float | None = None  # bounds the whole transfer, retries included
    retry_max_wait: float = 30.0
    follow_any: bool = False

    def for_profile(self, profile: TlsSettings | None) -> Transport:
        """Options given on the command line win over those stored in the profile."""
        if profile is None:
            return self
        return replace(
            self,
            insecure=self.insecure or profile.insecure,
            cacert=self.cacert or profile.cacert,
        )
