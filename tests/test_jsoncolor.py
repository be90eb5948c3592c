"""Tests for maascurl.show.jsoncolor: pretty, coloured JSON output."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maascurl.show.jsoncolor import DEFAULT_PALETTE, Palette, write_json
from maascurl.termsafe import BIDI_CONTROLS

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What jsoncolor escapes rather than prints: C1 controls, DEL and the bidi controls
# (a generated key such as "\u061c" is shown escaped, unlike json.dumps's output).
UNSAFE_CHARS = [chr(c) for c in range(0x7F, 0xA0)] + [
    chr(c) for c in range(0x10000) if re.fullmatch(f"[{BIDI_CONTROLS}]", chr(c))
]


def render(body: bytes, **options: Any) -> str:
    out = io.StringIO()
    assert write_json(body, out, **options) is True
    return out.getvalue()


def plain(body: bytes, **options: Any) -> str:
    return render(body, color=False, **options)


def strip(text: str) -> str:
    return ANSI.sub("", text)


# --- property tests -------------------------------------------------------

safe_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=UNSAFE_CHARS))
numbers = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | numbers


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars | text,
        lambda children: (
            st.lists(children, max_size=6) | st.dictionaries(text, children, max_size=6)
        ),
        max_leaves=40,
    )


dump_options = st.fixed_dictionaries(
    {
        "ensure_ascii": st.booleans(),
        "indent": st.sampled_from([None, 0, 1, 4, "\t"]),
        "separators": st.sampled_from([None, (",", ":"), (" , ", " : ")]),
    }
)


@settings(max_examples=300)
@given(value=json_values(st.text()), options=dump_options, indent=st.integers(0, 4))
def test_round_trip_any_value(value: Any, options: dict[str, Any], indent: int) -> None:
    body = json.dumps(value, **options).encode()
    coloured = render(body, color=True, indent=indent)
    uncoloured = plain(body, indent=indent)
    assert strip(coloured) == uncoloured
    assert json.loads(uncoloured) == value
    assert uncoloured.endswith("\n")
    assert "\x1b" not in uncoloured


@settings(max_examples=300)
@given(value=json_values(safe_text), indent=st.integers(0, 4), sort_keys=st.booleans())
def test_matches_json_dumps(value: Any, indent: int, sort_keys: bool) -> None:
    # Input written by json.dumps spells numbers the way json.dumps would,
    # so the output must match json.dumps byte for byte.
    body = json.dumps(value, separators=(",", ":")).encode()
    expected = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys)
    assert plain(body, indent=indent, sort_keys=sort_keys) == expected + "\n"


@given(value=json_values(st.text()))
def test_output_is_encodable_utf8_without_raw_controls(value: Any) -> None:
    text = render(json.dumps(value).encode(), color=True)
    text.encode("utf-8")
    assert not re.search("[\x00-\x1a\x1c-\x1f\x7f-\x9f]", text.replace("\n", ""))


# --- fixed cases ----------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "1.0",
        "-0",
        "-0.0",
        "1e400",
        "-1E-400",
        "1E+2",
        "0.10000000000000000000000001",
        "123456789012345678901234567890",
        "9" * 5000,
    ],
)
def test_numbers_keep_their_spelling(number: str) -> None:
    assert plain(number.encode()) == number + "\n"
    assert plain(f'{{"n": [{number}]}}'.encode()) == f'{{\n  "n": [\n    {number}\n  ]\n}}\n'
    assert strip(render(number.encode(), color=True)) == number + "\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{}", "{}\n"),
        (b"[]", "[]\n"),
        (b' [ { } , [ ] , {"a":[]} ] ', '[\n  {},\n  [],\n  {\n    "a": []\n  }\n]\n'),
        (b'"x"', '"x"\n'),
        (b'""', '""\n'),
        (b"null", "null\n"),
        (b"true", "true\n"),
        (b"false", "false\n"),
        (b"0", "0\n"),
        (b'[[[["deep"]]]]', '[\n  [\n    [\n      [\n        "deep"\n      ]\n    ]\n  ]\n]\n'),
    ],
)
def test_fixed_layouts(body: bytes, expected: str) -> None:
    assert plain(body) == expected
    assert strip(render(body, color=True)) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'"\\u00e9t\\u00e9"', '"été"'),
        ('"été ☃ 日本"'.encode(), '"été ☃ 日本"'),
        (b'"\\ud83d\\ude00"', '"\U0001f600"'),
        (b'"a\\/b"', '"a/b"'),
        (b'"tab\\tnl\\nq\\"bs\\\\"', '"tab\\tnl\\nq\\"bs\\\\"'),
        (b'"\\u0000\\u001b[31m\\u0007"', '"\\u0000\\u001b[31m\\u0007"'),
        (b'"\\u007f\\u0085\\u009b"', '"\\u007f\\u0085\\u009b"'),
        ('"\x7f\u0085\u009b"'.encode(), '"\\u007f\\u0085\\u009b"'),
        (b'"\\ud800 lone"', '"\\ud800 lone"'),
        (b'"\\udfff"', '"\\udfff"'),
    ],
)
def test_string_escaping(body: bytes, expected: str) -> None:
    for text in (plain(body), strip(render(body, color=True))):
        assert text == expected + "\n"
        assert json.loads(text) == json.loads(body)
        text.encode("utf-8")


def test_unsafe_characters_in_keys_are_escaped() -> None:
    body = b'{"\\u009b\\ud800": "\\u001b"}'
    text = render(body, color=True)
    assert '"\\u009b\\ud800"' in text
    assert json.loads(strip(text)) == json.loads(body)


def test_duplicate_keys_keep_the_last_value() -> None:
    assert plain(b'{"a": 1, "a": 2}') == '{\n  "a": 2\n}\n'


def test_sort_keys_and_indent() -> None:
    body = b'{"b": {"d": 1, "c": [true]}, "a": null}'
    assert plain(body, indent=4, sort_keys=True) == (
        '{\n    "a": null,\n    "b": {\n        "c": [\n            true\n'
        '        ],\n        "d": 1\n    }\n}\n'
    )
    assert plain(body, indent=0) == '{\n"b": {\n"d": 1,\n"c": [\ntrue\n]\n},\n"a": null\n}\n'


def test_colour_codes_per_token() -> None:
    text = render(b'{"k": ["s", 1.5, true, false, null, {}, []]}', color=True)
    reset = "\x1b[0m"
    p = DEFAULT_PALETTE
    assert text == (
        "{\n"
        f'  \x1b[{p.key}m"k"{reset}: [\n'
        f'    \x1b[{p.string}m"s"{reset},\n'
        f"    \x1b[{p.number}m1.5{reset},\n"
        f"    \x1b[{p.true}mtrue{reset},\n"
        f"    \x1b[{p.false}mfalse{reset},\n"
        f"    \x1b[{p.null}mnull{reset},\n"
        "    {},\n"
        "    []\n"
        "  ]\n"
        "}\n"
    )


def test_custom_palette() -> None:
    palette = Palette(key="35", string="31", number="", true="", false="", null="")
    text = render(b'{"a": "b", "c": 2}', color=True, palette=palette)
    assert text == '{\n  \x1b[35m"a"\x1b[0m: \x1b[31m"b"\x1b[0m,\n  \x1b[35m"c"\x1b[0m: 2\n}\n'


def test_no_colour_codes_without_colour() -> None:
    body = b'{"a": ["\\u001b[1m", 1, true, null, {"b": false}]}'
    assert "\x1b" not in plain(body)
    assert "\x1b[" in render(body, color=True)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b"[1,]",
        b'{"a" 1}',
        b"{'a': 1}",
        b"1 2",
        b"[1] x",
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b"01",
        b'"unterminated',
        b'"\\x41"',
        b"\xff\xfe[\x001\x00]\x00",  # UTF-16 is not accepted
        b'"\xc3"',  # truncated UTF-8 sequence
        b'"\xed\xa0\x80"',  # UTF-8-encoded surrogate
        b"\xef\xbb\xbf[1]",  # UTF-8 byte order mark
        b"<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_invalid_input_writes_nothing(body: bytes) -> None:
    for color in (True, False):
        out = io.StringIO()
        assert write_json(body, out, color=color) is False
        assert out.getvalue() == ""


def test_very_deep_nesting_is_either_rejected_or_written() -> None:
    # How deep the parser goes depends on the Python version; either outcome
    # is fine as long as it is all-or-nothing and never crashes.
    depth = 100_000
    body = b"[" * depth + b"]" * depth
    out = io.StringIO()
    if write_json(body, out, color=True):
        assert strip(out.getvalue()).count("[") == depth
    else:
        assert out.getvalue() == ""


def test_nesting_deeper_than_python_recursion_limit() -> None:
    depth = 900
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    body = json.dumps(value).encode()
    out = io.StringIO()
    if write_json(body, out, color=False):
        assert out.getvalue() == json.dumps(value, indent=2, ensure_ascii=False) + "\n"


class RecordingWriter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, s: str) -> int:
        self.sizes.append(len(s))
        return super().write(s)


@pytest.mark.parametrize("shape", ["objects", "flat"])
def test_large_output_is_written_in_chunks(shape: str) -> None:
    if shape == "objects":
        value: Any = [{"id": i, "name": f"node-{i}", "tags": ["a", "b"]} for i in range(20_000)]
    else:
        value = list(range(200_000))
    out = RecordingWriter()
    assert write_json(json.dumps(value).encode(), out, color=True) is True
    assert sum(out.sizes) > 1_000_000
    assert len(out.sizes) > 5
    assert max(out.sizes) < 1_000_000
    assert json.loads(strip(out.getvalue())) == value


class BrokenPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_write_errors_propagate() -> None:
    with pytest.raises(BrokenPipeError):
        write_json(b'{"a": [1, 2, 3]}', BrokenPipe(), color=True)
    with pytest.raises(BrokenPipeError):
        write_json(b"7", BrokenPipe(), color=False)


def test_accepts_bytearray_and_memoryview() -> None:
    for body in (bytearray(b"[1]"), memoryview(b"[1]")):
        out = io.StringIO()
        assert write_json(body, out, color=False) is True  # type: ignore[arg-type]
        assert out.getvalue() == "[\n  1\n]\n"
