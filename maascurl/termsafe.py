"""Server text bound for a terminal or a shell, with its control characters made visible.

MAAS usually runs over plain http, so anyone in the path can put escape
sequences into a body, a header or a reason phrase; printed raw they could
retitle the terminal, write the clipboard (OSC 52) or hide text. Everything
the server says that reaches a terminal or stderr goes through `safe` (and
into rich only as `Text`, never as markup). Raw bodies piped or saved with
-o stay byte-exact.

Server text that TAB puts on the command line (IDs from listings, op and
field names, paths from the description) must also be a word no shell reads
as syntax: `shell_word` says which are.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, the C1 controls (U+0080-U+009F), and the
# bidirectional controls that reorder what follows them on the screen (U+202E shows
# `exe.txt` for `txt.exe`): ALM, LRM, RLM, the embeddings and overrides, the isolates.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# Letters, digits and the punctuation MAAS's IDs and names use that no shell reads as syntax
# inside a word (no $ ` ( ) { } [ ] * ? ! ~ # & | ; < > quotes, backslash or blanks).
_SHELL_WORD = re.compile(r"[A-Za-z0-9_.:@+-]+")
# A path template's segment: such a word, or a placeholder such as {system_id}.
_TEMPLATE_SEGMENT = re.compile(r"[A-Za-z0-9_.:@+-]+|\{[A-Za-z0-9_]+\}")


def shell_word(text: str) -> bool:
    """Whether TEXT (an ID, op or field name from the server) may be a TAB candidate."""
    return _SHELL_WORD.fullmatch(text) is not None


def shell_template(template: str) -> bool:
    """Whether every segment of a path TEMPLATE from the description may be typed by TAB."""
    return all(_TEMPLATE_SEGMENT.fullmatch(s) for s in template.split("/") if s)


def safe(text: str) -> str:
    """TEXT with every control character but tab and newline shown as \\xNN (a bidi
    control as \\uNNNN)."""
    return _CONTROLS.sub(_visible, text)


def safe_line(text: str) -> str:
    """TEXT for a one-line message: newlines and tabs become visible too."""
    return safe(text).replace("\n", "\\n").replace("\t", "\\t")
