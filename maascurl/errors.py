"""Errors that end a command, each with its documented exit code, and stderr notes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_HTTP_3XX = 3
EXIT_HTTP_4XX = 4
EXIT_HTTP_5XX = 5
EXIT_CONNECT = 6
EXIT_TIMEOUT = 7
EXIT_FAILED_STATE = 8  # --wait / wait: MAAS ended the action in a failure state
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
Exit status: 0 success (2xx); 1 other error (config, file); 2 usage error;
3, 4, 5 an HTTP 3xx (not followed), 4xx, 5xx answer; 6 connection or TLS
failure; 7 timeout; 8 a waited-for action ended in a failure state
(--wait, wait); 130 interrupted."""


_quiet = False


def be_quiet() -> None:
    """-q/--quiet: warnings and notes are not printed (errors still are)."""
    global _quiet
    _quiet = True


def is_quiet() -> bool:
    """Whether -q/--quiet was given (waiting's state lines keep quiet too)."""
    return _quiet


# A fleet run checks the same request template for every line: each warning
# is said once (see each_warning_once), not once per line.
_warned: set[str] | None = None


@contextmanager
def each_warning_once() -> Iterator[None]:
    global _warned
    _warned = set()
    try:
        yield
    finally:
        _warned = None


def warn(message: str) -> None:
    if _quiet or (_warned is not None and message in _warned):
        return
    if _warned is not None:
        _warned.add(message)
    print(f"maascurl: warning: {_clean(message)}", file=sys.stderr)


# Each thread has its own context: a fleet worker's notes name its own line.
_note_subject: ContextVar[str] = ContextVar("note_subject", default="")


@contextmanager
def notes_about(subject: str) -> Iterator[None]:
    """Notes said inside (a retry of one fleet line) start with SUBJECT."""
    token = _note_subject.set(f"{subject}: ")
    try:
        yield
    finally:
        _note_subject.reset(token)


def note(message: str) -> None:
    if not _quiet:
        print(f"maascurl: note: {_clean(_note_subject.get() + message)}", file=sys.stderr)


def error_line(message: str) -> None:
    """One error of several on stderr, before the one that ends the command."""
    print(f"maascurl: error: {_clean(message)}", file=sys.stderr)


def _clean(message: str) -> str:
    """A stderr line: secrets redacted, control characters made visible."""
    from maascurl.termsafe import safe_line

    return safe_line(redact_secrets(message))


_secrets: set[str] = set()


def register_secret(text: str, *, any_length: bool = False) -> None:
    """Remember a secret so that no error output can ever show it, nor its URL-encoded forms.

    Parts of a key shorter than 8 characters are not kept: they would redact
    ordinary words. A password (ANY_LENGTH) is kept whatever its length: a
    server may echo the form it was sent, and a short one hiding a few
    ordinary letters of an error is the lesser harm.
    """
    if text and (any_length or len(text) >= 8):
        _secrets.add(text)


# Secrets a server may echo whatever key was given: MAAS answers a bad
# signature with "Expected signature base string: &<the real token secret>".
# The v3 API's tokens: a bearer header, a JWT wherever it shows, MAAS 3.8's cookies.
# What is redacted already is left as it is, and what follows it too ("<redacted>; ...").
_SECRET_PATTERNS = (
    r"(Expected signature base string:\s*)(?!<redacted>)\S+",
    r"(oauth_signature\s*=\s*\"?)(?!<redacted>)[^\"\s,]+",
    r"(oauth_token\s*=\s*\"?)(?!<redacted>)[^\"\s,&]+",
    r"(\bBearer\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]+",
    r"()\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    r"(maas\.local_(?:refresh|jwt)_token_cookie\s*=\s*\"?)(?!<redacted>)[^\";\s]+",
)


def redact_secrets(text: str) -> str:
    """TEXT without the secrets it was given nor the ones a server may echo."""
    import re

    if _secrets:
        text = _secrets_pattern(frozenset(_secrets)).sub("<redacted>", text)
    for pattern in _SECRET_PATTERNS:
        text = re.sub(pattern, r"\g<1><redacted>", text, flags=re.IGNORECASE)
    return text


_compiled: tuple[frozenset[str], re.Pattern[str]] | None = None


def _secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str]:
    """One pattern for every secret in every spelling, longest first: one pass, so that no
    secret is found inside another's <redacted>."""
    global _compiled
    if _compiled is None or _compiled[0] != secrets:
        import re

        spellings = (_spellings(s) for s in sorted(secrets, key=len, reverse=True))
        _compiled = (secrets, re.compile("|".join(spellings)))
    return _compiled[1]


def _spellings(secret: str) -> str:
    """A pattern for SECRET as it is, form-encoded (`+` for a space) or percent-encoded (hex
    digits in either case), or any mix of those, as a server may echo what it was sent."""
    import re

    def hex_digit(digit: str) -> str:
        return f"[{digit}{digit.lower()}]" if digit.isalpha() else digit

    parts = []
    for char in secret:
        forms = [re.escape(char)]
        if char == " ":
            forms.append(r"\+")
        try:
            octets = char.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate no byte stands for: only as it is
            octets = b""
        if octets:
            forms.append("".join("%" + "".join(map(hex_digit, f"{o:02X}")) for o in octets))
        parts.append(f"(?:{'|'.join(forms)})")
    return "".join(parts)


class MaascurlError(Exception):
    """An error reported as one line on stderr; the command exits with `exit_code`."""

    exit_code = EXIT_ERROR


class UsageError(MaascurlError):
    exit_code = EXIT_USAGE


class ConfigError(MaascurlError):
    exit_code = EXIT_ERROR


class ConnectFailed(MaascurlError):
    exit_code = EXIT_CONNECT


class TimedOut(MaascurlError):
    exit_code = EXIT_TIMEOUT


class AnswerTooLarge(MaascurlError):
    """An answer longer than what its reader holds whole (wire/bounded.py's caps): left unread."""


def size_text(limit: int) -> str:
    """A cap as people read it: 16 MB, 512 KB."""
    if limit >= 2**20:
        return f"{limit / 2**20:g} MB"
    return f"{limit / 2**10:g} KB" if limit >= 2**10 else f"{limit} bytes"


class FailedState(MaascurlError):
    """A waited-for action that MAAS ended in a failure state (Failed deployment...)."""

    exit_code = EXIT_FAILED_STATE


class Interrupted(MaascurlError):
    """Ctrl-C with something worth saying (e.g. that MAAS carries on regardless)."""

    exit_code = EXIT_INTERRUPTED


class HTTPStatusError(MaascurlError):
    """A non-2xx answer; the message already holds the server's text.

    HTML says the answer was a web page (a proxy's, a web server's), not MAAS's API.
    """

    def __init__(self, status: int, message: str, *, html: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.html = html

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return status_exit_code(self.status)


def status_exit_code(status: int) -> int:
    if status < 300:
        return EXIT_OK
    if status < 400:
        return EXIT_HTTP_3XX
    if status < 500:
        return EXIT_HTTP_4XX
    return EXIT_HTTP_5XX
