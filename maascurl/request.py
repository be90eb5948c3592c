"""Turn the command line's METHOD, PATH and ITEMs into a request description.

Pure Python: nothing here imports httpx, so `--offline`, validation and
completion stay cheap. `client.py` turns a `RequestSpec` into an httpx request.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from maascurl.errors import MaascurlError, UsageError

if TYPE_CHECKING:
    from maascurl.apidesc import ApiDescription

METHODS = ("GET", "POST", "PUT", "DELETE")

# Characters a path segment may carry unencoded (RFC 3986 pchar minus '%').
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Longest separators first so "==" wins over "=" and "@=" over "@".
_SEPARATORS = ("==", "=", "@=", "@", ":")


class FilePart(NamedTuple):
    """A multipart file part: read from `path`, or `content` when it came from stdin."""

    name: str
    filename: str
    path: str | None = None
    content: bytes | None = None

    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        assert self.path is not None
        return os.path.getsize(self.path)


class RawBody(NamedTuple):
    """A body sent as it is, not as form fields: a file region, or bytes (stdin).

    Used for raw request bodies and for the chunks of a boot-resource upload,
    which are regions of one big file. It can be read again, which retries and
    re-signed redirects need.
    """

    path: str | None = None
    content: bytes | None = None
    offset: int = 0
    length: int | None = None  # None: to the end of the file

    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        assert self.path is not None
        if self.length is not None:
            return self.length
        return os.path.getsize(self.path) - self.offset

    def chunks(self, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        if self.content is not None:
            yield self.content
            return
        assert self.path is not None
        left = self.size()
        with open(self.path, "rb") as stream:
            stream.seek(self.offset)
            while left > 0:
                chunk = stream.read(min(chunk_size, left))
                if not chunk:
                    raise MaascurlError(f"{self.path} shrank while it was being sent")
                left -= len(chunk)
                yield chunk


@dataclass
class RequestSpec:
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: RawBody | None = None  # sent as it is; never together with fields or files

    @property
    def op(self) -> str | None:
        return next((value for name, value in self.query if name == "op"), None)

    @property
    def has_body(self) -> bool:
        return bool(self.fields or self.files)


class Item(NamedTuple):
    name: str
    separator: str
    value: str


def parse_item(token: str) -> Item:
    """Split TOKEN at its earliest unescaped separator (`storage=root:8G` is a field)."""
    name_chars: list[str] = []
    i = 0
    while i < len(token):
        char = token[i]
        if char == "\\" and i + 1 < len(token) and token[i + 1] in "=@:\\":
            name_chars.append(token[i + 1])
            i += 2
            continue
        for separator in _SEPARATORS:
            if token.startswith(separator, i):
                return _checked_item("".join(name_chars), separator, token[i + len(separator) :])
        name_chars.append(char)
        i += 1
    raise UsageError(
        f"bad item {token!r}: expected name=value, name==value, name@=file or Header:value"
    )


def _checked_item(name: str, separator: str, value: str) -> Item:
    if not name:
        raise UsageError(f"bad item {name + separator + value!r}: the name is empty")
    _require_utf8(name)
    if separator not in ("@", "@="):  # a file name need not be UTF-8; its contents are sent
        _require_utf8(value)
    if separator == ":":
        if not _HEADER_NAME.match(name):
            raise UsageError(f"bad header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise UsageError(f"header {name} has a line break or NUL in its value")
        if not value.isascii():
            raise UsageError(f"header {name} must have an ASCII value")
        value = value.strip()
    return Item(name, separator, value)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _require_utf8(text: str) -> None:
    if _is_utf8(text):
        return
    try:  # bytes that came in through argv show as themselves
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    raise UsageError(f"{raw!r} is not valid UTF-8")


def resolve_path(
    api_root: str, path: str, desc: ApiDescription | None = None
) -> tuple[str, list[tuple[str, str]], str | None]:
    """Return (absolute URL, query items from a full URL, op from an `op-NAME` suffix)."""
    relative, query = _relative_path(api_root, path)
    segments = [s for s in relative.split("/") if s]
    for segment in segments:
        if segment in (".", ".."):
            raise UsageError(f"PATH {path!r} has a '.' or '..' segment")
        _require_utf8(segment)
        if any(ord(c) < 0x20 or c == "\x7f" for c in segment):
            raise UsageError(f"PATH {path!r} has a control character")
    path_op = None
    if segments and segments[-1].startswith("op-") and len(segments[-1]) > 3:
        path_op = segments.pop()[3:]
    relative = "/".join(quote(s, safe=_SEGMENT_SAFE) for s in segments)
    canonical = desc.canonical(relative) if desc is not None and relative else None
    if canonical is None:
        canonical = relative + "/" if relative else ""
    return api_root + canonical, query, path_op


def _relative_path(api_root: str, path: str) -> tuple[str, list[tuple[str, str]]]:
    if "://" in path:
        return _relative_from_url(api_root, path)
    if "?" in path or "#" in path:
        raise UsageError(f"PATH {path!r} has '?' or '#': give query parameters as name==value")
    root_path = urlsplit(api_root).path
    if path.startswith(root_path):
        return path[len(root_path) :], []
    if path.startswith("/") and path.rstrip("/") + "/" == root_path:
        return "", []
    return path, []


def _relative_from_url(api_root: str, url: str) -> tuple[str, list[tuple[str, str]]]:
    from urllib.parse import parse_qsl

    try:
        target, root = urlsplit(url), urlsplit(api_root)
    except ValueError:
        raise UsageError(f"{url!r} is not a valid URL") from None
    if (target.scheme, target.netloc) != (root.scheme, root.netloc):
        raise UsageError(
            f"URL {url!r} is not on the profile's server {root.scheme}://{root.netloc}"
        )
    if not (target.path + "/").startswith(root.path):  # the root may lack its slash
        raise UsageError(f"URL {url!r} is not under the API root {root.path}")
    segments = target.path[len(root.path) :].split("/")
    query = parse_qsl(target.query, keep_blank_values=True)
    return "/".join(unquote(s) for s in segments), query


def build_request(
    method: str,
    api_root: str,
    path: str,
    tokens: list[str],
    desc: ApiDescription | None = None,
) -> RequestSpec:
    method = method.upper()
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    url, url_query, path_op = resolve_path(api_root, path, desc)
    spec = RequestSpec(method, url, query=list(url_query))
    for token in tokens:
        _add_item(spec, parse_item(token))
    _put_op_first(spec, path_op)
    return spec


def _add_item(spec: RequestSpec, item: Item) -> None:
    if item.separator == ":":
        spec.headers.append((item.name, item.value))
    elif item.separator in ("@", "@="):
        _check_part_name(item.name)
        spec.files.append(_file_part(item.name, item.value))
    elif item.separator == "==" or item.name == "op" or spec.method in ("GET", "DELETE"):
        spec.query.append((item.name, item.value))
    else:
        _check_part_name(item.name)
        spec.fields.append((item.name, item.value))
    if spec.files and spec.method in ("GET", "DELETE"):
        raise UsageError(f"{spec.method} cannot carry a file; use POST or PUT")


def _check_part_name(name: str) -> None:
    # A part name sits in a quoted Content-Disposition parameter. MAAS's Django versions
    # disagree on escapes there (none decodes %22; some split at a backslash-escaped
    # quote), so such a name could only arrive altered or as a forged filename.
    if any(char in name for char in '"\r\n'):
        raise UsageError(f"form field name {name!r} has a quote or line break")


def _put_op_first(spec: RequestSpec, path_op: str | None) -> None:
    ops = [value for name, value in spec.query if name == "op"]
    if path_op is not None:
        ops.insert(0, path_op)
    if len(set(ops)) > 1:
        raise UsageError(f"more than one op given: {', '.join(ops)}")
    if ops:
        spec.query = [("op", ops[0]), *((n, v) for n, v in spec.query if n != "op")]


def _file_part(name: str, source: str) -> FilePart:
    if source == "-":
        return FilePart(name, name, content=sys.stdin.buffer.read())
    if not source:
        raise UsageError(f"{name}@ needs a file name")
    if "\0" in source:
        raise UsageError(f"{name}@ has a NUL in its file name")
    path = os.path.expanduser(source)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise MaascurlError(f"cannot read {source}: {exc.strerror}") from None
    if os.path.isdir(path):
        raise MaascurlError(f"cannot read {source}: is a directory")
    # The official CLI names file parts after the parameter; MAAS expects that.
    return FilePart(name, name, path=path)
