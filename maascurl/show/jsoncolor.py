"""Fast pretty, optionally coloured, JSON output for terminals.

MAAS responses can be many megabytes (a list of a thousand machines is about
9 MB), so this module avoids general-purpose renderers: the body is parsed by
the C decoder and written back by one iterative loop that appends pre-built
pieces to a list and flushes it to the output in chunks of roughly 64 KB.

Numbers are kept as the exact text they had in the input, so big integers,
``1.0`` and ``1e400`` come out unchanged.  Strings are escaped by the C
encoder used by ``json.dumps(..., ensure_ascii=False)``; on top of that, DEL,
C1 control characters and lone surrogates are written as ``\\uXXXX`` escapes
so that a response can neither drive the terminal nor break UTF-8 output.
"""

from __future__ import annotations

import json
import re
import typing
from json.encoder import encode_basestring as _encode_string

from maascurl.termsafe import BIDI_CONTROLS

__all__ = ["DEFAULT_PALETTE", "Palette", "write_json"]

# Flush once this many pieces are pending; a piece is one line of output
# (about 30-200 characters), so chunks are typically 64-256 KB.
_FLUSH_PIECES = 2048

# Entries kept per nesting level in the cache of formatted keys; documents
# with huge numbers of distinct keys simply stop being cached.
_KEY_CACHE_LIMIT = 4096

# Characters that are valid in JSON strings but unsafe on a terminal (DEL and
# C1 controls, which some terminals obey, and the bidi controls that reorder the
# text after them) or unencodable (lone surrogates). They can only occur inside
# strings, so escaping them in the finished chunk is safe and costs one C-level scan.
_UNSAFE = re.compile(f"[\x7f-\x9f{BIDI_CONTROLS}\ud800-\udfff]")


class _Number(str):
    """Original text of a JSON number, kept verbatim."""

    __slots__ = ()


class Palette(typing.NamedTuple):
    """ANSI SGR parameters for each kind of token."""

    key: str = "34;1"
    string: str = "32"
    number: str = "36"
    true: str = "33"
    false: str = "33"
    null: str = "90"


DEFAULT_PALETTE = Palette()

_NO_COLOR = Palette("", "", "", "", "", "")


class _Codes(typing.NamedTuple):
    """Ready-to-paste escape sequences before and after each kind of token.

    All are empty when colour is off, and a token without a colour gets no
    reset after it.
    """

    key: tuple[str, str]
    string: tuple[str, str]
    number: tuple[str, str]
    literals: dict[object, str]


def _sgr(params: str) -> tuple[str, str]:
    return (f"\x1b[{params}m", "\x1b[0m") if params else ("", "")


def _codes(palette: Palette) -> _Codes:
    literals: dict[object, str] = {
        None: "null".join(_sgr(palette.null)),
        True: "true".join(_sgr(palette.true)),
        False: "false".join(_sgr(palette.false)),
    }
    return _Codes(_sgr(palette.key), _sgr(palette.string), _sgr(palette.number), literals)


def _reject_constant(name: str) -> typing.NoReturn:
    # NaN and Infinity are Python extensions, not JSON.
    raise ValueError(f"not JSON: {name}")


_INVALID = object()


def _parse(body: bytes) -> typing.Any:
    """Decode `body`, or return _INVALID if it is not UTF-8 JSON."""
    try:
        text = str(body, "utf-8")
    except UnicodeDecodeError:
        return _INVALID
    try:
        return json.loads(
            text,
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        return _INVALID


def _escape_unsafe(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


class _KeyCache(dict[str, str]):
    """Formatted `<newline+indent><key>: ` prefixes for one nesting level."""

    def __init__(self, newline: str, codes: _Codes) -> None:
        super().__init__()
        self.prefix = newline + codes.key[0]
        self.suffix = codes.key[1] + ": "

    def __missing__(self, key: str) -> str:
        text = f"{self.prefix}{_encode_string(key)}{self.suffix}"
        if len(self) < _KEY_CACHE_LIMIT:
            self[key] = text
        return text


class _Levels:
    """Per-depth newline+indent strings and key caches, grown on demand."""

    def __init__(self, indent: int, codes: _Codes) -> None:
        self.indent = indent
        self.codes = codes
        self.newlines: list[str] = []
        self.keys: list[_KeyCache] = []

    def grow(self, depth: int) -> None:
        while len(self.newlines) <= depth:
            newline = "\n" + " " * (self.indent * len(self.newlines))
            self.newlines.append(newline)
            self.keys.append(_KeyCache(newline, self.codes))


def _scalar(value: typing.Any, codes: _Codes) -> str:
    kind = type(value)
    if kind is str:
        return _encode_string(value).join(codes.string)
    if kind is _Number:
        return str.join(value, codes.number)
    if kind is dict:
        return "{}"
    if kind is list:
        return "[]"
    return codes.literals[value]


def _write_tree(
    root: typing.Any, out: typing.TextIO, codes: _Codes, indent: int, sort_keys: bool
) -> None:
    """Write a parsed document; one loop with an explicit stack of iterators.

    Containers are entered by pushing the parent's iterator rather than by
    recursion, so nesting depth is limited only by what the parser accepts.
    The two item loops are written out in full (not shared through helper
    calls) because they run once per value and dominate the running time.
    """
    pieces: list[str] = []
    append = pieces.append
    encode = _encode_string
    number_type = _Number
    sstart, send = codes.string
    nstart, nend = codes.number
    literals = codes.literals
    levels = _Levels(indent, codes)

    def flush() -> None:
        chunk = "".join(pieces)
        pieces.clear()
        if _UNSAFE.search(chunk):
            chunk = _UNSAFE.sub(_escape_unsafe, chunk)
        out.write(chunk)

    # Values are typed Any: the loops dispatch on type(value) for speed,
    # which static narrowing does not follow.
    def items(obj: dict[str, typing.Any]) -> typing.Iterator[typing.Any]:
        return iter(sorted(obj.items()) if sort_keys else obj.items())

    if not root or type(root) not in (dict, list):
        append(_scalar(root, codes) + "\n")
        flush()
        return

    stack: list[tuple[typing.Iterator[typing.Any], bool]] = []
    is_dict = type(root) is dict
    iterator: typing.Iterator[typing.Any]
    if is_dict:
        iterator = items(root)
        append("{")
    else:
        iterator = iter(root)
        append("[")
    sep = ""
    while True:
        depth = len(stack)
        levels.grow(depth + 1)
        if is_dict:
            keys = levels.keys[depth + 1]
            for key, value in iterator:
                kind = type(value)
                if kind is str:
                    append(f"{sep}{keys[key]}{sstart}{encode(value)}{send}")
                elif kind is number_type:
                    append(f"{sep}{keys[key]}{nstart}{value}{nend}")
                elif kind is dict:
                    if value:
                        append(f"{sep}{keys[key]}{{")
                        stack.append((iterator, True))
                        iterator = items(value)
                        break
                    append(f"{sep}{keys[key]}{{}}")
                elif kind is list:
                    if value:
                        append(f"{sep}{keys[key]}[")
                        stack.append((iterator, True))
                        iterator = iter(value)
                        is_dict = False
                        break
                    append(f"{sep}{keys[key]}[]")
                else:
                    append(f"{sep}{keys[key]}{literals[value]}")
                sep = ","
            else:
                append(levels.newlines[depth] + "}")
                if not stack:
                    break
                iterator, is_dict = stack.pop()
                sep = ","
                if len(pieces) >= _FLUSH_PIECES:
                    flush()
                continue
            sep = ""
        else:
            newline = levels.newlines[depth + 1]
            for value in iterator:
                kind = type(value)
                if kind is str:
                    append(f"{sep}{newline}{sstart}{encode(value)}{send}")
                elif kind is number_type:
                    append(f"{sep}{newline}{nstart}{value}{nend}")
                elif kind is dict:
                    if value:
                        append(f"{sep}{newline}{{")
                        stack.append((iterator, False))
                        iterator = items(value)
                        is_dict = True
                        break
                    append(f"{sep}{newline}{{}}")
                elif kind is list:
                    if value:
                        append(f"{sep}{newline}[")
                        stack.append((iterator, False))
                        iterator = iter(value)
                        break
                    append(f"{sep}{newline}[]")
                else:
                    append(f"{sep}{newline}{literals[value]}")
                sep = ","
                if len(pieces) >= _FLUSH_PIECES:
                    flush()
            else:
                append(levels.newlines[depth] + "]")
                if not stack:
                    break
                iterator, is_dict = stack.pop()
                sep = ","
                continue
            sep = ""
    append("\n")
    flush()


def write_json(
    body: bytes,
    out: typing.TextIO,
    *,
    color: bool,
    indent: int = 2,
    sort_keys: bool = False,
    palette: Palette = DEFAULT_PALETTE,
) -> bool:
    """Pretty-print JSON `body` to `out`, coloured with ANSI codes if `color`.

    Returns False, writing nothing, when `body` is not UTF-8 encoded JSON, so
    the caller can show it as plain text instead.  Without colour the output
    matches ``json.dumps(value, indent=indent, ensure_ascii=False)`` plus a
    newline, except that numbers keep their original spelling and unsafe
    characters (DEL, C1 controls, lone surrogates) are ``\\u``-escaped.
    Errors raised by `out` (such as BrokenPipeError) propagate.
    """
    value = _parse(body)
    if value is _INVALID:
        return False
    codes = _codes(palette if color else _NO_COLOR)
    _write_tree(value, out, codes, max(indent, 0), sort_keys)
    return True
