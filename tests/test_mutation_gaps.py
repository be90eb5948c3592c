"""Behaviour that scripts/mutate.py found no test protecting: one test per surviving mutant.

Each docstring names the code it keeps and the mutant (in scripts/mutate.py) it kills.
"""

from __future__ import annotations

import gzip
import json
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import trustme
from conftest import Run
from simulator import FIXTURES, MaasSimulator
from test_guarantees import scripted, use_server

from maascurl.api.apidesc import ApiDescription

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def fixture_description() -> ApiDescription:
    describe = FIXTURES / "describe.json"
    return ApiDescription.from_describe(json.loads(describe.read_text(encoding="utf-8")))


def test_a_gzip_download_is_checked_against_its_decoded_length_not_the_header(
    monkeypatch: pytest.MonkeyPatch, run: Run, tmp_path: Path
) -> None:
    """output._check_length skips a compressed answer, whose Content-Length counts the
    compressed bytes (mutant: "length checked against a compressed Content-Length")."""
    data = b"machine-0001 " * 2000
    packed = gzip.compress(data)

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response_only(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(packed)))
        handler.end_headers()
        handler.wfile.write(packed)

    out = tmp_path / "listing.txt"
    with scripted(answer) as url:
        use_server(monkeypatch, url)
        result = run("get", "files", "op=get", "filename=listing.txt", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == data


def test_cacert_on_the_command_line_wins_over_the_profiles(
    tls: MaasSimulator, ca: trustme.CA, run: Run, tmp_path: Path
) -> None:
    """config.Transport.for_profile: --cacert given now beats the one saved by login
    (mutant: "--cacert given on the command line loses to the profile")."""
    right, wrong = tmp_path / "right.pem", tmp_path / "wrong.pem"
    ca.cert_pem.write_to_path(str(right))
    trustme.CA().cert_pem.write_to_path(str(wrong))
    login = run("login", "tls", tls.url, tls.api_key, "--cacert", str(wrong), "--no-check")
    assert login.exit_code == 0, login.stderr
    assert run("get", "users", "op=whoami").exit_code == 6
    result = run("get", "users", "op=whoami", "--cacert", str(right))
    assert result.exit_code == 0, result.stderr


def test_a_backslash_in_a_profile_value_survives_the_config_file(
    sim: MaasSimulator, run: Run, home: Path
) -> None:
    """config._toml_string escapes backslashes, so a value is read back exactly as given
    (mutant: "backslashes not escaped in TOML")."""
    command = f"printf '%s\\n' {sim.api_key}"
    login = run("login", "cmd", sim.url, "--api-key-command", command, "--no-check")
    assert login.exit_code == 0, login.stderr
    saved = tomllib.loads((home / "config" / "config.toml").read_text(encoding="utf-8"))
    assert saved["profiles"]["cmd"]["api_key_command"] == command
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr


def test_a_400_answer_exits_4(bare: MaasSimulator, run: Run) -> None:
    """errors.status_exit_code: 400 is a 4xx, not a 3xx (mutant: "400 taken for a 3xx")."""
    result = run("get", "machines", "op=no_such_op")
    assert result.exit_code == 4
    assert result.stderr.startswith("maascurl: error: 400 Bad Request")


def test_anonymous_sends_no_authorization(api: MaasSimulator, run: Run) -> None:
    """target.make_auth: --anonymous sends the request unsigned even with a profile chosen
    (mutant: "--anonymous still signs")."""
    result = run("get", "version", "--anonymous")
    assert result.exit_code == 0, result.stderr
    [request] = api.requests
    assert "authorization" not in request.headers


def test_a_raw_body_region_is_sent_exactly_and_again_on_a_retry(
    api: MaasSimulator, tmp_path: Path
) -> None:
    """request.RawBody.chunks sends the region [offset, offset + length) of its file, and
    sends it again whole when a 503 with Retry-After is retried (mutant: "a raw body's
    offset ignored")."""
    from maascurl.jobs.call import CallOptions, Session
    from maascurl.profiles.config import Profile
    from maascurl.profiles.target import Target
    from maascurl.wire.request import RawBody, RequestSpec
    from maascurl.wire.settings import Transport

    data = bytes(range(256)) * 40
    image = tmp_path / "root.tgz"
    image.write_bytes(data)
    profile = Profile("sim", api.url, api_key=api.api_key)
    target = Target(profile.api_root, profile)
    region = RawBody(str(image), offset=1000, length=5000)
    spec = RequestSpec("PUT", profile.api_root + "files/", body=region)
    api.queue(503, "busy", {"Retry-After": "0"}, path="files/")
    options = CallOptions(transport=Transport(retry_max_wait=0.05))
    with Session(target, options) as session:
        session.send(spec).close()
    sent = [r.body for r in api.requests if r.path.endswith("/files/")]
    assert sent == [data[1000:6000], data[1000:6000]]


def test_completion_marks_required_fields() -> None:
    """completion.complete_item labels a required field "required: " in its help, and an
    optional one not (mutant: "required fields not marked")."""
    from maascurl.api.completion import complete_item

    desc = fixture_description()
    found = dict(complete_item(desc, "get", "maas/", "", ["op=get_config"]))
    assert found["name="].startswith("required: ")
    deploy = dict(complete_item(desc, "post", "machines/abc123/", "dis", ["op=deploy"]))
    assert deploy and not any(text.startswith("required") for text in deploy.values())


def test_completion_help_is_one_short_sentence() -> None:
    """completion.short_help keeps a menu line to its first sentence and WIDTH characters
    (mutant: "long help not shortened")."""
    from maascurl.api.completion import short_help

    assert short_help("Deploy a machine.  It must be allocated first.") == "Deploy a machine."
    long = short_help("Word " * 40, width=30)
    assert len(long) == 30 and long.endswith("...")


def test_describe_lists_methods_in_http_order() -> None:
    """describe.resource_data groups operations by method in the order GET, POST, PUT,
    DELETE, not alphabetically (mutant: "methods listed alphabetically")."""
    from maascurl.api.describe import resource_data

    desc = fixture_description()
    methods = list(resource_data(desc, "machines/abc123/")["operations"])
    assert methods == ["GET", "POST", "PUT", "DELETE"]


def test_a_state_file_that_is_not_json_does_not_break_a_request(
    api: MaasSimulator, run: Run, home: Path
) -> None:
    """state._load treats an unreadable state file as empty, and the clock correction
    rewrites it (mutant: "a damaged state file breaks the request")."""
    state = home / "cache" / "state.json"
    state.write_text("{not json", encoding="utf-8")
    api.clock_offset = 1000
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert "clock" in result.stderr
    assert state.read_text(encoding="utf-8").startswith("{")


def test_completion_offers_what_is_still_to_give() -> None:
    """completion.complete_item offers "op=" only until an op is chosen, and a field that
    is not repeatable only until it is given (mutants: "op= offered when an op is chosen",
    "a field already given offered again")."""
    from maascurl.api.completion import complete_item

    desc = fixture_description()
    path = "machines/abc123/"
    assert "op=" in dict(complete_item(desc, "post", path, "", []))
    chosen = dict(complete_item(desc, "post", path, "", ["op=deploy"]))
    assert "op=" not in chosen and "distro_series=" in chosen
    given = dict(complete_item(desc, "post", path, "", ["op=deploy", "distro_series=noble"]))
    assert "distro_series=" not in given and "user_data=" in given


def test_completion_of_an_op_given_as_a_path_suffix() -> None:
    """completion.complete_path completes "machines/op-li" to the ops of machines/, as MAAS
    reads "machines/op-NAME" (mutant: "op-NAME suffixes not completed")."""
    from maascurl.api.completion import complete_path

    desc = fixture_description()
    paths = [path for path, _ in complete_path(desc, "machines/op-list_a")]
    assert paths == ["machines/op-list_allocated"]


def test_zsh_and_fish_candidates_keep_to_their_protocol_lines() -> None:
    """shellcomplete: zsh's _describe splits "value:help" at an unescaped colon, and each
    candidate is a fixed number of lines, so a colon in a value is escaped and help text is
    one line (mutants: "colons not escaped for zsh", "help not kept to one line")."""
    from click.shell_completion import CompletionItem

    from maascurl.cli import cli
    from maascurl.cli.shellcomplete import MaascurlFishComplete, MaascurlZshComplete

    item = CompletionItem("Accept:application/json", help="A header.\n  Sent as given.")
    zsh = MaascurlZshComplete(cli, {}, "maascurl", "_MAASCURL_COMPLETE")
    assert zsh.format_completion(item) == (
        "plain\nAccept\\:application/json\nA header. Sent as given."
    )
    fish = MaascurlFishComplete(cli, {}, "maascurl", "_MAASCURL_COMPLETE")
    assert fish.format_completion(item) == (
        "plain,Accept:application/json\tA header. Sent as given."
    )


def test_a_secret_echoed_in_a_redirect_is_redacted(api: MaasSimulator, run: Run) -> None:
    """cli/group.py's _fail redacts every error line: a Location or reason phrase that echoes
    the token secret is not printed (mutant: "secrets not redacted from errors")."""
    secret = api.api_key.split(":")[2]
    target = f"http://127.0.0.1:1/elsewhere/?leak={secret}"
    api.queue(302, "", {"Location": target}, path="users/")
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 3
    assert secret not in result.stderr
    assert "leak=<redacted>" in result.stderr
