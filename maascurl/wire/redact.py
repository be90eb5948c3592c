"""Headers as they may be shown (-v, -i, --offline): credentials replaced by `<redacted>`.

Stdlib only, for both APIs: the 2.0 API's OAuth header keeps its readable
parameters and loses its key parts and signature; the v3 API's bearer token
goes whole; cookies (where MAAS 3.8 puts its tokens) keep their names only.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
_SECRET_PARAMS = ("oauth_consumer_key", "oauth_token", "oauth_signature")
_COOKIE_ATTRIBUTES = frozenset(
    {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority"}
)


def redact_authorization(value: str) -> str:
    """An Authorization header without its secrets: OAuth's key parts and signature, or
    a bearer token; the rest stays readable."""
    if re.match(r"(?i)\s*bearer\b", value):
        return re.sub(r"(?i)^(\s*bearer)(\s+\S.*)?$", rf"\g<1> {REDACTED}", value)
    for param in _SECRET_PARAMS:
        value = re.sub(rf'({param}=")[^"]*(")', rf"\g<1>{REDACTED}\g<2>", value)
    return value


def redact_cookies(value: str) -> str:
    """A Cookie or Set-Cookie header with every value hidden; the names and a
    Set-Cookie's attributes stay readable."""
    return re.sub(r"(^|;\s*)([^=;\s]+)=([^;]*)", _hide_cookie, value)


def _hide_cookie(match: re.Match[str]) -> str:
    lead, name, value = match.groups()
    if name.lower() in _COOKIE_ATTRIBUTES or not value.strip('"'):
        return match.group(0)
    return f"{lead}{name}={REDACTED}"


def redact_header(name: str, value: str) -> str:
    """VALUE of the header NAME as it may be shown."""
    lowered = name.lower()
    if lowered in ("authorization", "www-authenticate", "proxy-authorization"):
        return redact_authorization(value)
    if lowered in ("cookie", "set-cookie"):
        return redact_cookies(value)
    return value
