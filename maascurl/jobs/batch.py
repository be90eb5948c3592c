"""Fleet input: the lines of `--each FILE` and `maascurl batch FILE`, as requests.

Pure Python, no httpx. The input is read once, a line at a time: a fleet
run checks every line's request before it sends anything by keeping the
checked requests (fleet.py's Plans), not the lines.

An `--each` template fills its placeholders from each line:

- a plain line: `{}` is the whole line, `{1}`, `{2}`, ... its tab-separated
  fields;
- a line that is a JSON object: `{name}` is that key's value, `{a.b}` a
  nested one (and `{}` the whole line).

Other braces are left as they are (`{"a": 1}` is no placeholder), and `\\{`
is a literal brace.

Input data is only data. Each template ITEM is split into name, separator
and value before anything is filled in, and a filled value is taken
literally: a line holding `@~/.ssh/id_ed25519` or `=x` sends those
characters, never a file or a query parameter. Only a template that says so
itself (`key=@{}`) reads a file, and never stdin, however it is spelt.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from maascurl.errors import MaascurlError, UsageError, note
from maascurl.wire.request import (
    FILE_SEPARATORS,
    MARK,
    METHODS,
    FilledPath,
    Item,
    checked_item,
    parse_header,
    parse_item,
)

# {} or {NAME}: digits for a field, a key (with dots for nesting) for JSON.
_PLACEHOLDER = re.compile(r"\\\{|\{([A-Za-z0-9_][A-Za-z0-9_.-]*)?\}")
# Names of stdin other than "-" (a filled file name is checked against these).
_STDIN_NAMES = ("/dev/stdin", "/dev/fd/0", "/proc/self/fd/0")
MIB = 1024 * 1024
# The longest input line in bytes (its line end not counted): one request's values.
LINE_LIMIT = MIB


class LineRequest(NamedTuple):
    """One input line as a request: what a single maascurl call would be given."""

    line: int
    method: str
    path: str | FilledPath  # a FilledPath's values are data (see wire/request.py)
    items: tuple[str | Item, ...]  # an Item is already split: its value is data
    profile: str | None = None
    output: str | None = None
    headers: tuple[str | Item, ...] = ()  # -H values


class LineError(MaascurlError):
    """A line that cannot become a request; the message names the line."""

    def __init__(self, line: int, error: MaascurlError) -> None:
        super().__init__(f"line {line}: {error}")
        self.line = line
        self.reason = str(error)
        self.exit_code = error.exit_code


# --------------------------------------------------------------- reading


def input_lines(name: str) -> Iterator[tuple[int, str | LineError]]:
    """(line number, text) of every line of NAME ('-': stdin) that is not blank.

    A line that is not UTF-8 comes as its LineError, so that reading goes on.
    """
    source = _open(name)
    try:
        yield from _numbered(source)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _open(name: str) -> IO[bytes]:
    if name == "-":
        if sys.stdin.isatty():  # a batch with no FILE, typed at the prompt: say what it waits for
            note("reading lines from stdin, the terminal: end them with Ctrl-D (or give a FILE)")
        return sys.stdin.buffer
    try:
        return open(os.path.expanduser(name), "rb")
    except OSError as exc:
        raise MaascurlError(f"cannot read {name}: {exc.strerror}") from None


def _numbered(stream: IO[bytes]) -> Iterator[tuple[int, str | LineError]]:
    number = 0
    # Read a bounded piece at a time: a line is never held whole past LINE_LIMIT.
    while raw := stream.readline(LINE_LIMIT + 2):
        number += 1
        if len(raw) > LINE_LIMIT and len(raw.removesuffix(b"\n").removesuffix(b"\r")) > LINE_LIMIT:
            limit = f"{LINE_LIMIT // MIB} MiB" if LINE_LIMIT % MIB == 0 else f"{LINE_LIMIT} bytes"
            yield (
                number,
                LineError(number, UsageError(f"longer than {limit}, the most a line may hold")),
            )
            while not raw.endswith(b"\n") and (raw := stream.readline(LINE_LIMIT + 2)):
                pass  # the rest of that line, a bounded piece at a time
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            yield number, LineError(number, UsageError("not valid UTF-8"))
            continue
        if text.strip():
            yield number, text


# --------------------------------------------------------------- --each templates


class Values:
    """What one input line offers to placeholders."""

    def __init__(self, text: str) -> None:
        self.line = text  # fields keep their spaces; an empty first field stays empty
        self.text = text.strip()
        self.object: dict[str, Any] | None = None
        if self.text.startswith("{"):
            try:
                parsed = json.loads(self.text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                self.object = parsed

    def get(self, name: str) -> str:
        if not name:
            return self.text
        if self.object is not None:
            return _json_value(self.object, name)
        if not name.isdigit():
            raise UsageError(f"{{{name}}} needs a line that is a JSON object")
        fields = self.line.split("\t")
        index = int(name)
        if index < 1:
            raise UsageError(f"{{{name}}}: fields count from 1")
        if index > len(fields):
            return _missing(name, f"the line has {len(fields)} tab-separated field(s)")
        return fields[index - 1]


def _json_value(obj: dict[str, Any], name: str) -> str:
    value: Any = obj
    for key in name.split("."):
        if not isinstance(value, dict) or key not in value:
            return _missing(name, "the line's JSON object has no such key")
        value = value[key]
    if value is None:
        return _missing(name, "its value is null")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _missing(name: str, why: str) -> str:
    raise UsageError(f"cannot fill {{{name}}}: {why}")


class Template:
    """PATH, an ITEM or -o with placeholders, filled once per line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.names = [m.group(1) or "" for m in _PLACEHOLDER.finditer(text) if m.group() != "\\{"]

    def fill(self, values: Values) -> str:
        def replace(match: re.Match[str]) -> str:
            if match.group() == "\\{":
                return "{"
            return values.get(match.group(1) or "")

        return _PLACEHOLDER.sub(replace, self.text)

    def marked(self) -> str:
        """The text with each placeholder as wire/request.py's MARK (and `\\{` as `{`)."""
        return _PLACEHOLDER.sub(lambda m: "{" if m.group() == "\\{" else MARK, self.text)

    @property
    def is_single_placeholder(self) -> bool:
        match = _PLACEHOLDER.fullmatch(self.text)
        return match is not None and match.group() != "\\{"


class ItemTemplate:
    """An ITEM or -H header of an `--each` template: split first, then filled as data."""

    def __init__(self, text: str, *, header: bool = False) -> None:
        try:
            item = parse_header(text) if header else parse_item(text)
        except UsageError as exc:
            raise UsageError(
                f"{exc}; with --each the template gives each item's name and separator, "
                "and the line only values"
            ) from None
        self.separator = item.separator
        self.name = Template(item.name)
        self.value = Template(item.value)
        if not self.value.names:
            _refuse_stdin(item, "with --each, an item")

    def fill(self, values: Values) -> Item:
        name, value = self.name.fill(values), self.value.fill(values)
        return _refuse_stdin(checked_item(name, self.separator, value), "with --each, an item")


def _refuse_stdin(item: Item, what: str) -> Item:
    """ITEM, unless it reads stdin: a fleet run reads its lines from there."""
    if item.separator in FILE_SEPARATORS and _is_stdin(item.value):
        raise UsageError(f"{item.name}{item.separator}{item.value}: {what} cannot read stdin")
    return item


def _is_stdin(name: str) -> bool:
    """Whether the file NAME (filled from input data) is stdin under any spelling."""
    if name == "-":
        return True
    path = os.path.expanduser(name)
    if path in _STDIN_NAMES or os.path.normpath(path) in _STDIN_NAMES:
        return True
    try:
        return os.path.samestat(os.stat(path), os.fstat(0))
    except (OSError, ValueError):  # no such file, a NUL, or stdin closed
        return False


class EachTemplate:
    """A request command's PATH, ITEMs and -o, to be filled from each line."""

    def __init__(
        self,
        method: str,
        path: str,
        items: list[str],
        output: str | None,
        profile: str | None,
        headers: tuple[str, ...] = (),
    ) -> None:
        self.method = method
        self.path = Template(path)
        if MARK in path:
            raise UsageError(f"PATH {path!r} has a NUL")
        self._marked_path = self.path.marked()
        self.items = [ItemTemplate(item) for item in items]
        self.output = Template(output) if output is not None else None
        self.profile = profile
        self.headers = [ItemTemplate(header, header=True) for header in headers]

    def request(self, number: int, text: str) -> LineRequest:
        values = Values(text)
        try:
            path = self._fill_path(values)
            items = tuple(item.fill(values) for item in self.items)
            headers = tuple(header.fill(values) for header in self.headers)
            output = self._fill_output(values)
        except MaascurlError as exc:
            raise LineError(number, exc) from None
        return LineRequest(number, self.method, path, items, self.profile, output, headers)

    def _fill_path(self, values: Values) -> str | FilledPath:
        if self.path.is_single_placeholder:
            return self.path.fill(values)  # the line holds the whole PATH, as typed
        filled = []
        for name in self.path.names:
            value = values.get(name)
            if not value.strip():
                raise UsageError(f"{{{name}}} is empty, and PATH {self.path.text!r} needs it")
            if "/" in value:
                raise UsageError(f"{{{name}}} = {value!r} would change PATH's segments")
            filled.append(value)
        return FilledPath(self._marked_path, tuple(filled))

    def _fill_output(self, values: Values) -> str | None:
        if self.output is None:
            return None
        for name in self.output.names:
            value = values.get(name)
            if not value or "/" in value or "\0" in value or value in (".", ".."):
                raise UsageError(f"{{{name}}} = {value!r} cannot name a file in -o")
        return self.output.fill(values)


# --------------------------------------------------------------- batch files


def batch_request(number: int, text: str) -> LineRequest | None:
    """A batch line `METHOD PATH [ITEM...] [-p PROFILE]`; None for a comment."""
    try:
        return _batch_request(number, text)
    except MaascurlError as exc:
        raise LineError(number, exc) from None


def _batch_request(number: int, text: str) -> LineRequest | None:
    try:
        words = shlex.split(text, comments=True)
    except ValueError as exc:
        raise UsageError(f"cannot split the line: {exc}") from None
    if not words:
        return None
    profile: str | None = None
    rest: list[str] = []
    it = iter(words[1:])
    for word in it:
        if word in ("-p", "--profile"):
            profile = next(it, None)
            if not profile:
                raise UsageError(f"{word} needs a profile name")
        elif word.startswith("--profile="):
            profile = word.split("=", 1)[1]
        elif word.startswith("-p") and len(word) > 2 and "=" not in word:
            profile = word[2:]
        elif word.startswith("-"):
            raise UsageError(f"unknown option {word!r}: a batch line takes only -p PROFILE")
        else:
            rest.append(word)
    method = words[0].upper()
    if method not in METHODS:
        raise UsageError(f"unknown method {words[0]!r}; use one of get, post, put, patch, delete")
    if not rest:
        raise UsageError(f"{words[0]} needs a PATH")
    items = tuple(_refuse_stdin(parse_item(word), "a batch line") for word in rest[1:])
    return LineRequest(number, method, rest[0], items, profile)
