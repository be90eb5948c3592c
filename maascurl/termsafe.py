"""Server text bound for a terminal, with its control characters made visible.

MAAS usually runs over plain http, so anyone in the path can put escape
sequences into a body, a header or a reason phrase; printed raw they could
retitle the terminal, write the clipboard (OSC 52) or hide text. Everything
the server says that reaches a terminal or stderr goes through `safe` (and
into rich only as `Text`, never as markup). Raw bodies piped or saved with
-o stay byte-exact.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and the C1 controls (U+0080-U+009F).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def safe(text: str) -> str:
    """TEXT with every control character but tab and newline shown as \\xNN."""
    return _CONTROLS.sub(_visible, text)


def safe_line(text: str) -> str:
    """TEXT for a one-line message: newlines and tabs become visible too."""
    return safe(text).replace("\n", "\\n").replace("\t", "\\t")
