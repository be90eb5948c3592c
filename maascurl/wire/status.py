"""What a non-2xx answer says: one error line, its exit code by the status.

MAAS answers errors as plain text, JSON ({"field": ["message"]}) or, from a
proxy, HTML; each becomes one line, the server's secrets redacted and its
control characters made visible. Only the start of an error body is read:
a hostile one may be endless.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from maascurl.errors import HTTPStatusError, redact_secrets
from maascurl.termsafe import safe_line

if TYPE_CHECKING:
    from maascurl.wire._httpx import httpx

ERROR_BODY_LIMIT = 64 * 1024
V3_MARK = "/a/v3/"  # in the path of a request to the v3 API
# Read past the limit, redact, then cut: a secret across the limit is not half shown.
REDACT_MARGIN = 4096


def status_error(response: httpx.Response) -> HTTPStatusError:
    """An error whose message is the status line and the server's own text."""
    status = f"{response.status_code} {safe_line(response.reason_phrase)}".strip()
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location")
        location = safe_line(location) if location is not None else None
        where = f"redirected to {location}" if location else "redirect without a Location"
        hint = "; --follow-any follows it without credentials" if location else ""
        return HTTPStatusError(response.status_code, f"{status}: {where}, not followed{hint}")
    body = _read_limited(response)
    content_type = response.headers.get("Content-Type", "")
    v3 = V3_MARK in response.request.url.path
    text = error_text(body, content_type, v3=v3)
    if text.startswith(f"{response.status_code} "):  # an HTML title repeating the status
        text = text[len(str(response.status_code)) + 1 :]
    # Redacted again after JSON decoding: escapes may have hidden a secret.
    text = safe_line(redact_secrets(text))
    message = f"{status}: {text}" if text else status
    return HTTPStatusError(response.status_code, message, html=is_html(body, content_type))


def is_html(body: bytes, content_type: str) -> bool:
    """A web page rather than an API's answer (MAAS answers text or JSON)."""
    if "html" in content_type.lower():
        return True
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _read_limited(response: httpx.Response) -> bytes:
    """The start of an error body, secrets redacted *before* it is cut to the limit."""
    from maascurl.wire._httpx import httpx
    from maascurl.wire.bounded import read_capped

    try:
        body, _ = read_capped(response, ERROR_BODY_LIMIT + REDACT_MARGIN)
    except httpx.DecodingError:
        # The status is what matters: report it even when its text is garbled.
        return b"(the error text could not be decoded)"
    text = redact_secrets(body.decode("utf-8", errors="replace"))
    return text.encode("utf-8")[:ERROR_BODY_LIMIT]


def error_text(body: bytes, content_type: str, *, v3: bool = False) -> str:
    """MAAS errors are plain text or JSON like {"field": ["message"]}: make one line.

    The v3 API's errors are an envelope, {"code", "message", "details", "kind":
    "Error"}: its message and each detail's field and message. V3 (a request
    to the v3 API) also reads FastAPI's own {"detail": ...} (an unknown route).
    """
    text = body.decode("utf-8", errors="replace").strip()
    if "json" in content_type or text[:1] in ("{", "["):
        try:
            data = json.loads(text)
            if isinstance(data, dict) and is_envelope(data):
                return envelope_text(data)
            if v3 and isinstance(data, dict) and list(data) == ["detail"]:
                return _fastapi_detail(data["detail"])
            if isinstance(data, dict):
                return _joined(
                    _join_messages(value) if key == "__all__" else f"{key}: {_join_messages(value)}"
                    for key, value in data.items()
                )
            return json.dumps(data, ensure_ascii=False)
        except (ValueError, RecursionError):  # deep nesting is hostile, not a bug
            return text
    if text.lower().startswith(("<!doctype", "<html")) or "<html" in text[:512].lower():
        return html_summary(text) or f"(an HTML page of {len(body)} bytes)"
    text = " ".join(text.split()) if "\n" in text else text
    return _unquoted(text)


# MAAS writes piston's OAuth errors with %r: "Authorization Error: 'Invalid access token: ...'".
# The quotes are Python's, not the message's (and redaction may have taken the last one).
_QUOTED = re.compile(r"(Authorization Error: )'(.*?)'?$", re.DOTALL)


def _unquoted(text: str) -> str:
    return _QUOTED.sub(r"\1\2", text) if text.startswith("Authorization Error: '") else text


def is_envelope(data: dict[str, object]) -> bool:
    """Whether DATA is the v3 API's error envelope."""
    return data.get("kind") == "Error" and isinstance(data.get("message"), str)


def envelope_text(data: dict[str, object]) -> str:
    """The envelope's message, then each detail: `field: message` (MAAS 3.7 names no field)."""
    lines = [str(data["message"])]
    details = data.get("details")
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        message = detail.get("message")
        text = message if isinstance(message, str) and message else str(detail.get("type") or "")
        field, location = detail.get("field"), detail.get("location")
        if isinstance(field, str) and field:
            where = field if location in (None, "body") else f"{field} ({location})"
            text = f"{where}: {text}"
        elif isinstance(location, str) and location not in ("", "body"):
            text = f"({location}) {text}"
        if text and text not in lines:
            lines.append(text)
    return _joined(_sentence(line) for line in lines)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def _fastapi_detail(detail: object) -> str:
    """FastAPI's own errors: {"detail": "Not Found"}, or its validation list."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, dict):
                loc = entry.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                parts.append(f"{where}: {entry.get('msg')}" if where else str(entry.get("msg")))
        return _joined(_sentence(part) for part in parts)
    return json.dumps(detail, ensure_ascii=False)


def html_summary(page: str) -> str | None:
    """An HTML error page's title or first heading (nginx: "400 The plain HTTP ...")."""
    import html
    import re

    for tag in ("title", "h1", "h2"):
        found = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}\s*>", page, re.IGNORECASE | re.DOTALL)
        if found:
            text = " ".join(html.unescape(re.sub(r"<[^>]*>", "", found.group(1))).split())
            if text:
                return text
    return None


def _joined(messages: Iterable[str]) -> str:
    """Messages in one line: "a: x. b: y." rather than "a: x.; b: y."."""
    line = ""
    for message in messages:
        if line:
            line += " " if line.endswith((".", "!", "?")) else "; "
        line += message
    return line


def _join_messages(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
