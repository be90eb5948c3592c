"""Hostile input: whatever text arrives (argv, profile names, keys, server
answers), maascurl gives a result or a usage error, never a traceback.

Property tests draw text the way a POSIX argv can carry it: any character but
a lone surrogate, plus the U+DC80..U+DCFF surrogates Python uses for bytes
that are not UTF-8. Inputs that once slipped through have end-to-end tests below.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess, maascurl_script
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from simulator import MaasSimulator

from maascurl import errors
from maascurl.profiles.config import check_profile_name, normalise_url
from maascurl.wire.request import Item, build_request, parse_item, resolve_path
from maascurl.wire.settings import parse_api_key

ROOT = "http://127.0.0.1:5240/MAAS/api/2.0/"
SEPARATORS = ("==", "=", "=@", "@=", "@", ":", ":=", ":=@")  # ":=": a v3 JSON value
MEGABYTE = 1024 * 1024

argv_chars = st.characters(blacklist_categories=["Cs"]) | st.characters(
    min_codepoint=0xDC80, max_codepoint=0xDCFF
)
argv_text = st.text(argv_chars, max_size=60)
# Text made mostly of the characters that matter to the parsers.
tricky_text = st.lists(
    st.sampled_from([*"=@:\\/.?#%[] \t\r\n\x00\x1b~-_aZ9", "\udce9", "é", "op", "..", "://"]),
    max_size=30,
).map("".join)
any_text = argv_text | tricky_text
quick = settings(max_examples=300, deadline=None)


@contextmanager
def isolated_secrets() -> Iterator[None]:
    """Keys parsed here must not make later tests redact random words."""
    saved = set(errors._secrets)
    try:
        yield
    finally:
        errors._secrets.clear()
        errors._secrets.update(saved)


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- ITEM parsing ------------------------------------------------------------------


@quick
@given(any_text)
@example("")
@example("=")
@example("name=")
@example("caf\udce9=x")
@example("x=caf\udce9")
@example("X-H:a\r\nInjected: 1")
@example("a\\=b=c")
@example("\\")
def test_parse_item_gives_an_item_or_a_usage_error(token: str) -> None:
    try:
        item = parse_item(token)
    except errors.UsageError:
        return
    assert isinstance(item, Item)
    assert item.name and item.separator in SEPARATORS
    assert is_utf8(item.name)
    # A file item's value is a file name, which need not be UTF-8.
    assert is_utf8(item.value) or item.separator in ("@", "@=", "=@", ":=@")
    if item.separator == ":":
        assert not any(c in item.value for c in "\r\n\0")


def test_parse_item_huge_value() -> None:
    item = parse_item("description=" + "x" * MEGABYTE)
    assert (item.name, item.separator, len(item.value)) == ("description", "=", MEGABYTE)


def assume_no_stdin(tokens: list[str]) -> None:
    """Leave out the draws with an item that reads stdin ("@-", "@=-", "=@-", ":=@-"),
    which pytest refuses while it captures."""
    for token in tokens:
        try:
            item = parse_item(token)
        except errors.UsageError:
            continue
        assume(not (item.separator in ("@", "@=", "=@", ":=@") and item.value == "-"))


@quick
@given(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), st.lists(any_text, max_size=4))
@example("GET", ["0=@-"])  # drawn once, when it read stdin: now left out by the assume
def test_build_request_gives_a_spec_or_a_usage_error(method: str, tokens: list[str]) -> None:
    assume_no_stdin(tokens)
    try:
        spec = build_request(method, ROOT, "machines", tokens)
    except errors.UsageError:
        return
    except errors.MaascurlError as exc:
        # A file item naming a file that is not there: exit 1, as documented.
        assert str(exc).startswith("cannot read")
        return
    assert spec.url == ROOT + "machines/"
    assert [n for n, _ in spec.query].count("op") <= 1
    if spec.op is not None:
        assert spec.query[0][0] == "op"


@quick
@given(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]), st.lists(any_text, max_size=4))
def test_a_v3_request_is_a_spec_or_a_usage_error(method: str, tokens: list[str]) -> None:
    """ITEMs for the v3 API (a JSON body) never raise anything else."""
    assume_no_stdin(tokens)
    v3_root = "http://127.0.0.1:5240/MAAS/a/v3/"
    try:
        spec = build_request(method, v3_root, "v3/zones", tokens, v3=True)
    except errors.UsageError:
        return
    except errors.MaascurlError as exc:
        assert str(exc).startswith("cannot read")
        return
    assert spec.url == v3_root + "zones"
    assert not spec.fields and not spec.files  # never a form
    if spec.body is not None:
        assert isinstance(json.loads(spec.body.content or b""), dict)


# --- PATH resolution --------------------------------------------------------------


@quick
@given(any_text)
@example("machines/../users")
@example("..")
@example("./machines")
@example("machines/\x07")
@example("machines/caf\udce9")
@example(ROOT + "machines/%2e%2e/")
@example("http://127.0.0.1:5240/MAAS/api/2.0/../../admin/")
@example("http://evil.example/MAAS/api/2.0/machines/")
@example("/MAAS/api/2.0/")
def test_resolve_path_stays_under_the_api_root(path: str) -> None:
    try:
        url, _query, op = resolve_path(ROOT, path)
    except errors.UsageError:
        return
    assert url.startswith(ROOT)
    rest = url[len(ROOT) :]
    assert "?" not in rest and "#" not in rest
    assert all(segment not in (".", "..") for segment in rest.split("/"))
    assert rest.isascii() and not any(ord(c) < 0x21 or c == "\x7f" for c in rest)
    assert op is None or op


# --- profile names and keys -------------------------------------------------------


@quick
@given(any_text)
@example("")
@example("-")
@example("a" * 65)
@example("../../etc")
@example("a.b")
@example('x"]\n[evil')
def test_check_profile_name_gives_the_name_or_a_usage_error(name: str) -> None:
    try:
        assert check_profile_name(name) == name
    except errors.UsageError:
        return
    assert 1 <= len(name) <= 64 and name.isascii() and name.isprintable()
    assert "/" not in name and not name.startswith((".", "-"))


KEY_FORM_MESSAGE = "an API key has the form consumer_key:token_key:token_secret"


@quick
@given(any_text | st.builds(":".join, st.lists(any_text, min_size=3, max_size=3)))
@example("")
@example("::")
@example("a:b:c:d")
@example(" a:b:c \n")
@example("caf\udce9:b:c")
@example("toke")
def test_parse_api_key_gives_a_key_or_a_usage_error(text: str) -> None:
    with isolated_secrets():
        try:
            key = parse_api_key(text)
        except errors.UsageError as exc:
            # The key is not echoed; a short text may be a word of the message ("toke").
            assert text not in str(exc) or len(text) < 4 or text in KEY_FORM_MESSAGE
            return
    parts = (key.consumer_key, key.token_key, key.token_secret)
    assert ":".join(parts) == text.strip()
    assert all(part and part.isascii() and part.isprintable() for part in parts)


def test_parse_api_key_huge() -> None:
    with isolated_secrets(), pytest.raises(errors.UsageError):
        parse_api_key("a:b:" + "\x00" * MEGABYTE)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=any_text)
@example(name="caf\udce9")
@example(name="--help")
@example(name="")
@example(name="a.b-c_D9")
def test_login_with_any_profile_name(sim: MaasSimulator, run: Run, name: str) -> None:
    with isolated_secrets():
        result = run("login", "--no-check", "--", name, sim.url, sim.api_key)
    assert "Traceback" not in result.stderr
    try:
        check_profile_name(name)
    except errors.UsageError:
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("maascurl: error: bad profile name")
        return
    assert result.exit_code == 0, result.stderr
    shown = run("profile", "show", name, "--json")
    assert json.loads(shown.stdout)["name"] == name


@pytest.mark.parametrize("key", ["", "a:b", "a:b:c:d", "a:b:c\u00e9", "caf\udce9:b:c", "a::c"])
def test_login_with_a_malformed_key_is_a_usage_error(
    sim: MaasSimulator, run: Run, key: str
) -> None:
    result = run("login", "--no-check", "p", sim.url, key)
    assert result.exit_code == 2
    assert "consumer_key:token_key:token_secret" in result.stderr


# --- the command line end to end --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("get", "machines/caf\udce9"), "is not valid UTF-8"),
        (("get", "machines", "hostname=caf\udce9"), "is not valid UTF-8"),
        (("get", "machines", "caf\udce9=x"), "is not valid UTF-8"),
        (("get", "machines/../users"), "'..' segment"),
        (("get", ROOT.replace("5240", "1") + "x"), "not on the profile's server"),
        (("get", "machines/a\x1bb"), "control character"),
        (("get", "machines", "X-Evil:a\r\nHost: evil"), "line break"),
        (("get", "machines", ""), "bad item"),
        (("get", "machines", "=x"), "the name is empty"),
        (("post", "machines", "f@"), "needs a file name"),
    ],
)
def test_bad_input_is_a_usage_error_and_nothing_is_sent(
    api: MaasSimulator, run: Run, args: tuple[str, ...], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert api.requests == []


def test_full_url_with_encoded_dot_dot_is_refused(api: MaasSimulator, run: Run) -> None:
    result = run("get", api.api_root + "machines/%2e%2e/users/")
    assert result.exit_code == 2 and "'..' segment" in result.stderr
    assert api.requests == []


def test_non_utf8_argv_from_a_real_process(api: MaasSimulator, home: Path) -> None:
    argv = [os.fsencode(maascurl_script()), b"get", b"machines", b"hostname=caf\xe9"]
    done = subprocess.run(argv, env=env_for_subprocess(home), capture_output=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == b"maascurl: error: b'caf\\xe9' is not valid UTF-8\n"
    assert api.requests == []


def test_empty_and_control_character_values_are_sent_intact(api: MaasSimulator, run: Run) -> None:
    value = "tab\there\x01\x1b[31mred\u2028end"
    result = run("put", "machines/abc000", "description=", f"hostname={value}", "X-Empty:")
    assert result.exit_code == 0, result.stderr
    [request] = api.requests
    assert request.form == [("description", ""), ("hostname", value)]
    assert request.headers["x-empty"] == ""


def test_megabyte_field_is_sent_intact(api: MaasSimulator, run: Run) -> None:
    value = "é" * (MEGABYTE // 2)
    result = run("put", "machines/abc000", f"description={value}")
    assert result.exit_code == 0, result.stderr
    assert api.requests[0].form == [("description", value)]


def test_non_utf8_file_is_uploaded_intact(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    data = b"\xff\xfe\x00\x80" + bytes(range(256)) + b"\r\n--boundary--\r\n"
    source = tmp_path / "blob.bin"
    source.write_bytes(data)
    result = run("post", "files", "filename=blob", f"file@={source}")
    assert result.exit_code == 0, result.stderr
    assert api.requests[0].files == [("file", "file", data)]
    assert api.files["blob"]["content"] == data


# --- hostile answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        (b'{"a": [1, 2', "application/json", '{"a": [1, 2\n'),
        (b"<html>oops</html>", "application/json", "<html>oops</html>\n"),
        (b'{"name": "caf\xe9"}', "application/json", '{"name": "caf\ufffd"}\n'),
        (b'[1, 2, {"x": ', "text/plain", '[1, 2, {"x": \n'),
        (b"plain text", "text/plain", "plain text\n"),
        (b"", "application/json", ""),
    ],
)
def test_odd_bodies_are_printed_as_text(
    api: MaasSimulator, run: Run, body: bytes, content_type: str, shown: str
) -> None:
    api.queue(200, body, {"Content-Type": content_type}, path="machines/")
    result = run("get", "machines", "--pretty")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == shown
    assert "Traceback" not in result.stderr


def test_non_utf8_text_is_not_dumped_on_a_terminal(api: MaasSimulator, run: Run) -> None:
    api.queue(200, b"caf\xe9 \xff\xfe", {"Content-Type": "text/plain"}, path="machines/")
    result = run("get", "machines", "--pretty")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "binary body (7 bytes)" in result.stderr


def test_raw_output_passes_any_bytes_through(api: MaasSimulator, run: Run) -> None:
    body = b'{"a": [1, 2' + bytes(range(256))
    api.queue(200, body, {"Content-Type": "application/json"}, path="machines/")
    result = run("get", "machines", "--no-pretty")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == body


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (b'{"hostname": ["bad', "application/json", '{"hostname": ["bad'),
        (b"caf\xe9 failed", "text/plain", "caf\ufffd failed"),
        (b'{"a": ["x", 1], "b": {"c": null}}', "application/json", 'a: x 1; b: {"c": null}'),
        (b"[1, 2]", "application/json", "[1, 2]"),
        (b"<!DOCTYPE html>\n<p>proxy</p>", "text/html", "(an HTML page of 28 bytes)"),
        (b"line one\n\tline two\n", "text/plain", "line one line two"),
    ],
)
def test_odd_error_bodies_become_one_line(
    api: MaasSimulator, run: Run, body: bytes, content_type: str, text: str
) -> None:
    api.queue(400, body, {"Content-Type": content_type}, path="machines/")
    result = run("get", "machines", "--pretty")
    assert result.exit_code == 4
    assert result.stderr == f"maascurl: error: 400 Bad Request: {text}\n"
    assert result.stdout == ""


def test_truncated_answer_is_a_connection_error(api: MaasSimulator, run: Run) -> None:
    body = b'{"a": ' + b"1" * 1000 + b"}"
    api.queue(200, body, {"Content-Type": "application/json"}, path="machines/", truncate=10)
    result = run("get", "machines", "--pretty")
    assert result.exit_code == 6
    assert "connection to 127.0.0.1" in result.stderr and "broke" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("extra", [(), ("--pretty",), ("-o", "out.json")])
def test_garbage_gzip_answer_is_a_clean_error(
    api: MaasSimulator,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: tuple[str, ...],
) -> None:
    """client.transport_errors maps httpx.DecodingError (a body that is not what
    its Content-Encoding says) to exit 6 instead of an internal error."""
    monkeypatch.chdir(tmp_path)
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    api.queue(200, b"not gzip at all", headers, path="machines/")
    result = run("get", "machines", *extra)
    assert result.exit_code == 6, result.stderr
    assert "could not be decoded" in result.stderr
    assert "internal error" not in result.stderr
    assert result.stdout == ""
    assert [name for name in os.listdir(tmp_path) if "out.json" in name] == []


def test_garbage_gzip_error_answer_keeps_its_status(api: MaasSimulator, run: Run) -> None:
    """wire/status.py's _read_limited: a 4xx stays exit 4 even when its text will not decode."""
    headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
    api.queue(404, b"not gzip at all", headers, path="machines/")
    result = run("get", "machines")
    assert result.exit_code == 4, result.stderr
    assert result.stderr == (
        "maascurl: error: 404 Not Found: (the error text could not be decoded)\n"
    )


# --- inputs that once slipped through ------------------------------------------


def test_profile_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(errors.UsageError):
        check_profile_name("prod\n")


def test_api_key_part_with_a_newline_is_refused() -> None:
    with isolated_secrets(), pytest.raises(errors.UsageError):
        parse_api_key("consumer:token\n:secret")


def test_path_url_with_a_broken_ipv6_host_is_a_usage_error() -> None:
    with pytest.raises(errors.UsageError):
        resolve_path(ROOT, "http://[::1/machines/")
    with pytest.raises(errors.UsageError):
        resolve_path(ROOT, "A://]")


def test_login_url_with_a_broken_ipv6_host_is_a_usage_error(run: Run) -> None:
    with pytest.raises(errors.UsageError):
        normalise_url("http://[::1:5240/MAAS")
    result = run("login", "--no-check", "p", "http://[::1:5240/MAAS", "a:b:c")
    assert result.exit_code == 2


def test_nul_in_a_file_name_is_a_usage_error() -> None:
    with pytest.raises(errors.MaascurlError):
        build_request("POST", ROOT, "files", ["file@=a\x00b"])


def test_any_lone_surrogate_is_a_usage_error() -> None:
    with pytest.raises(errors.UsageError):
        resolve_path(ROOT, "machines/a\ud800b")
    with pytest.raises(errors.UsageError):
        parse_item("name=\udc7f")


def test_file_with_a_non_utf8_name_is_uploaded(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    source = tmp_path / os.fsdecode(b"caf\xe9.bin")
    source.write_bytes(b"data")
    result = run("post", "files", "filename=cafe", f"file@={source}")
    assert result.exit_code == 0, result.stderr
    assert api.files["cafe"]["content"] == b"data"
