"""--jq EXPR: a jq program over a JSON answer, printed as `gh api --jq` prints it.

The program runs in the `jq` package (the bindings to jq's own C library),
imported only when --jq is given: a request without it, and TAB, never load
it. Each value the program yields is one line: a string as it is (raw, like
`jq -r`), anything else as compact JSON.
"""

from __future__ import annotations

import json
from typing import Any

from maascurl.errors import MaascurlError, UsageError

INSTALL_HINT = (
    "--jq needs the jq package, which maascurl depends on: reinstall maascurl "
    "(pip install --force-reinstall maascurl), or add it (pip install jq; "
    "pipx inject maascurl jq)"
)


def compile_jq(expression: str) -> Any:
    """The compiled program; a usage error (exit 2) when jq cannot parse it."""
    try:
        import jq
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    try:
        return jq.compile(expression)
    except ValueError as exc:
        raise UsageError(f"--jq: {_first_line(exc)}") from None


def jq_text(program: Any, body: str | None = None, data: Any = None) -> str:
    """The lines PROGRAM yields for a JSON document, given as text (BODY) or parsed (DATA)."""
    try:
        run = program.input_text(body) if body is not None else program.input_value(data)
        values = run.all()
    except ValueError as exc:  # a runtime error (.a of a list), or a body that is not JSON
        raise MaascurlError(f"--jq: {_first_line(exc)}") from None
    return "".join(line + "\n" for line in map(_line, values))


def _line(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.removeprefix("jq: error: ")
