"""Issue 22: curl's, gh's and kubectl's habits, --wait's last line, errors that name the next
step, help that is consistent and findable, and shell-friendly bytes."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import Run, env_for_subprocess, on_terminal
from hostile import HostileServer, reply
from simulator import MaasSimulator
from test_events import log  # noqa: F401 (a fixture)
from test_wait import FAST, timed  # noqa: F401 (a fixture)

from maascurl.cli import COMMANDS, cli

REQUESTERS = ("get", "post", "put", "patch", "delete", "wait", "batch")


def all_commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        found.append((name, command))
        if isinstance(command, click.Group):
            sub = click.Context(command)
            found += [
                (f"{name} {child}", command.get_command(sub, child))  # type: ignore[misc]
                for child in command.list_commands(sub)
            ]
    return found


def options_of(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option)]


def ok(result: Any) -> str:
    assert result.exit_code == 0, result.stderr
    return str(result.stdout)


# ---------------------------------------------------------------- -H/--header


def test_dash_h_and_header_are_a_request_header_in_every_command() -> None:
    """curl, httpie and gh: -H/--header is a request header. No command uses either for
    anything else (TSV's line of column names is --header-row), and every command that
    sends requests of its own making takes it."""
    with_header = set()
    for name, command in all_commands():
        for option in options_of(command):
            names = option.opts + option.secondary_opts
            assert "--request-header" not in names, name
            if "-H" in names or "--header" in names:
                assert (option.name, option.opts, option.multiple) == (
                    "headers",
                    ["-H", "--header"],
                    True,
                ), name
                with_header.add(name)
            if option.name == "header_row":
                assert names == ["--header-row", "--no-header-row"], name
    assert with_header == set(REQUESTERS)


def test_header_sends_a_request_header(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    ok(run("get", "version", "--header", "X-Trace: a=b", "-H", "X-Other: 1"))
    headers = api.requests[-1].headers
    assert (headers["x-trace"], headers["x-other"]) == ("a=b", "1")
    ok(run("batch", "--header", "X-Batch: yes", input="get version\n"))
    assert api.requests[-1].headers["x-batch"] == "yes"


def test_the_old_tsv_header_flag_says_where_it_went(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "--format", "tsv", "--header", "--fields", "hostname")
    assert result.exit_code == 2
    assert result.stderr == (
        "maascurl: error: bad header '--fields': -H/--header takes 'Name: value' "
        "(a line of column names is --header-row)\n"
    )
    assert api.requests == []


# ---------------------------------------------------------------- -o and kubectl


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("json", "use --format json"),
        ("yaml", "use --format json (maascurl writes no YAML)"),
        ("wide", "use -t"),
        ("name", "use --format tsv --fields hostname"),
        ("jsonpath={.items[*].hostname}", "use --jq EXPR"),
        ("custom-columns=NAME:.hostname", "use -t --fields A,B,..."),
    ],
)
def test_kubectl_output_formats_are_not_file_names(
    api: MaasSimulator,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    hint: str,
) -> None:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    result = run("get", "machines", "-o", value)
    assert result.exit_code == 2
    kind = value.split("=")[0]
    assert result.stderr.split(" (see `")[0] == (
        f"maascurl: error: -o {value} would write a file named {value!r}: for kubectl's "
        f"-o {kind}, {hint}; -o ./{value} writes that file"
    )
    assert api.requests == []
    assert list((tmp_path / "cwd").iterdir()) == []


def test_dot_slash_wide_is_a_file(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ok(run("get", "version", "-o", "./wide")) == ""
    assert "version" in json.loads((tmp_path / "wide").read_text())


def test_dash_o_takes_what_a_format_makes(
    api: MaasSimulator, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o FILE with --format, -t, --fields or --jq writes their text into FILE, whole or
    not at all, where it was refused before; a table in a file is never cut."""
    monkeypatch.setenv("COLUMNS", "20")
    tsv, table, hosts = tmp_path / "m.tsv", tmp_path / "m.txt", tmp_path / "hosts"
    args = ("get", "machines")
    assert (
        ok(run(*args, "--format", "tsv", "--fields", "hostname,status_name", "-o", str(tsv))) == ""
    )
    assert tsv.read_text().splitlines()[0] == "amber-otter\tReady"
    assert ok(run(*args, "-t", "-o", str(table))) == ""
    lines = table.read_text().splitlines()
    assert lines[0].split()[:3] == ["hostname", "system_id", "status"]
    assert "…" not in table.read_text() and len(lines[2]) > 20
    assert ok(run(*args, "--jq", ".[].hostname", "-o", str(hosts))) == ""
    assert hosts.read_text().splitlines()[:2] == ["amber-otter", "brisk-otter"]
    before = tsv.read_bytes()
    failed = run("get", "machines/none", "--format", "tsv", "-o", str(tsv))
    assert failed.exit_code == 4
    assert run(*args, "--jq", ".[].hostname.x", "-o", str(tsv)).exit_code == 1
    assert tsv.read_bytes() == before
    assert sorted(p.name for p in tmp_path.glob("m*")) == ["m.tsv", "m.txt"]  # no temp file


# ---------------------------------------------------------------- --jq


def test_jq_prints_as_gh_api_does(api: MaasSimulator, run: Run) -> None:
    """Strings raw, any other value as compact JSON, one a line."""
    hosts = ok(run("get", "machines", "--jq", ".[].hostname"))
    assert hosts.splitlines() == [m["hostname"] for m in api.machines]
    mixed = ok(run("get", "machines", "--jq", ".[0] | .cpu_count, .tag_names, {hostname}, null"))
    first = api.machines[0]
    assert mixed.splitlines() == [
        str(first["cpu_count"]),
        json.dumps(first["tag_names"], separators=(",", ":")),
        json.dumps({"hostname": first["hostname"]}, separators=(",", ":")),
        "null",
    ]


def test_a_jq_error_is_said_in_one_line(api: MaasSimulator, run: Run) -> None:
    """A program jq cannot parse is a usage error before anything is sent; one that fails
    on the answer is exit 1."""
    bad = run("post", "machines/abc000", "op=release", "--jq", ".[")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("maascurl: error: --jq: syntax error, unexpected end of file")
    assert api.requests == []
    failing = run("get", "machines", "--jq", ".hostname")
    assert failing.exit_code == 1
    assert failing.stderr == (
        'maascurl: error: --jq: Cannot index array with string ("hostname")\n'
    )


def test_jq_is_imported_only_when_asked_for(api: MaasSimulator, home: Path) -> None:
    from test_fast_paths import imports_of, top_level

    env = env_for_subprocess(home)
    names, done = imports_of(env, "get", "version")
    assert done.returncode == 0, done.stderr
    assert "jq" not in top_level(names)
    names, done = imports_of(env, "get", "version", "--jq", ".version")
    assert done.returncode == 0, done.stderr
    assert "jq" in top_level(names)


# ---------------------------------------------------------------- curl's -d, --dry-run


def test_dry_run_is_offline(api: MaasSimulator, run: Run) -> None:
    import re

    def shown(text: str) -> str:  # each request has its own nonce, time and boundary
        return re.sub(r'(boundary=|oauth_nonce="|oauth_timestamp=")[0-9a-f]+', r"\1", text)

    args = ("post", "machines/abc000", "op=release", "comment=x")
    dry = ok(run(*args, "--dry-run"))
    assert dry.startswith("POST /MAAS/api/2.0/machines/abc000/?op=release HTTP/1.1\n")
    assert shown(dry) == shown(ok(run(*args, "--offline")))
    assert api.requests == []


@pytest.mark.parametrize(
    "args",
    [("-d", "hostname=x"), ("--data", "@body.json"), ("--data-binary", "@x"), ("-dx=1",)],
)
def test_curl_data_explains_items_and_body(
    api: MaasSimulator, run: Run, args: tuple[str, ...]
) -> None:
    result = run("post", "machines/abc000", *args)
    assert result.exit_code == 2
    assert result.stderr.split(" (see `")[0] == (
        "maascurl: error: maascurl sends fields as name=value items (maascurl post "
        "machines/ID op=deploy distro_series=noble); use --body FILE for a raw body"
    )
    assert api.requests == []
    assert "--data" not in ok(run("post", "--help"))


# ---------------------------------------------------------------- formats everywhere


@pytest.fixture
def fleet(api: MaasSimulator) -> MaasSimulator:
    api.set_fleet(4)
    return api


IDS = "abc000\nabc001\nabc002\nabc003\n"


def test_each_results_take_the_formats(fleet: MaasSimulator, run: Run) -> None:
    """--format, -t, --fields and --jq shape the answers of all lines as one output."""
    each = ("get", "machines/{}", "--each", "-")
    hosts = [m["hostname"] for m in fleet.machines]
    tsv = ok(run(*each, "--format", "tsv", "--fields", "hostname,status_name", input=IDS))
    assert [line.split("\t")[0] for line in tsv.splitlines()] == hosts
    csv = ok(run(*each, "--format", "csv", "--fields", "system_id", input=IDS))
    assert csv == "system_id\nabc000\nabc001\nabc002\nabc003\n"  # one header for all
    table = ok(run(*each, "-t", input=IDS)).splitlines()
    assert table[0].split()[:3] == ["hostname", "system_id", "status"]
    assert [line.split()[0] for line in table[2:]] == hosts
    array = json.loads(ok(run(*each, "--format", "json", "--fields", "hostname", input=IDS)))
    assert array == [{"hostname": h} for h in hosts]
    assert ok(run(*each, "--jq", ".hostname", input=IDS)).splitlines() == hosts
    whole = json.loads(ok(run(*each, "--json", input=IDS)))  # one document, not JSON Lines
    assert [machine["hostname"] for machine in whole] == hosts
    listing = ok(run("get", "machines", "hostname={}", "--each", "-", "--format", "jsonl",
                     "--fields", "hostname", input="\n".join(hosts[:2])))  # fmt: skip
    assert [json.loads(line) for line in listing.splitlines()] == [
        {"hostname": h} for h in hosts[:2]
    ]  # each answer is a list: its objects are the lines
    sorted_ = run(*each, "--sort", "hostname", "-t", input=IDS)
    assert sorted_.exit_code == 2 and "--sort cannot be used with --each" in sorted_.stderr


def test_each_with_a_format_and_dash_o_writes_each_line_formatted(
    fleet: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    target = str(tmp_path / "{}.tsv")
    args = ("get", "machines/{}", "--each", "-", "--format", "tsv", "--fields", "hostname")
    assert ok(run(*args, "-o", target, input="abc001\n")) == ""
    assert (tmp_path / "abc001.tsv").read_text() == "brisk-otter\n"


def test_a_line_whose_answer_is_not_json_fails_alone(fleet: MaasSimulator, run: Run) -> None:
    fleet.add_file("notes.txt", b"plain\n")
    args = ("get", "files", "op=get", "filename={}", "--each", "-", "--format", "tsv")
    result = run(*args, input="notes.txt\n")
    assert result.exit_code == 1
    assert "line 1 (get files/ op=get): the response is not JSON" in result.stderr


def test_batch_results_take_the_formats(fleet: MaasSimulator, run: Run) -> None:
    lines = "get machines/abc000\nget machines/abc001\n"
    tsv = ok(run("batch", "--format", "tsv", "--fields", "system_id", "--header-row", input=lines))
    assert tsv == "system_id\nabc000\nabc001\n"
    assert ok(run("batch", "--jq", ".hostname", input=lines)).splitlines() == [
        "amber-otter",
        "brisk-otter",
    ]


def test_events_take_the_formats(log: MaasSimulator, run: Run) -> None:  # noqa: F811
    table = ok(run("events", "-t")).splitlines()
    assert table[0].split()[:3] == ["id", "created", "hostname"]
    assert [line.split()[-1] for line in table[2:]][:1] != []
    tsv = ok(run("events", "--format", "tsv", "--fields", "type,level", "--header-row"))
    assert tsv.splitlines() == [
        "type\tlevel",
        "Deploying\tINFO",
        "Node installation failure\tERROR",
        "Ready\tINFO",
    ]
    assert ok(run("events", "--jq", ".type")).splitlines() == [
        "Deploying",
        "Node installation failure",
        "Ready",
    ]
    whole = json.loads(ok(run("events", "--format", "json")))
    assert [event["type"] for event in whole] == ["Deploying", "Node installation failure", "Ready"]
    newest = ok(run("events", "--sort", "-id", "--format", "jsonl", "--fields", "type"))
    assert json.loads(newest.splitlines()[0]) == {"type": "Ready"}
    refused = run("events", "-f", "-t")
    assert refused.exit_code == 2
    assert "-t needs every event first; with -f use --format tsv or jsonl" in refused.stderr


def test_following_events_streams_a_format(
    log: MaasSimulator,  # noqa: F811
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from maascurl.jobs import events

    rounds = iter([2])

    def pause(seconds: float) -> None:
        count = next(rounds, None)
        if count is None:
            raise KeyboardInterrupt
        for i in range(count):
            log.timed.log.log(log.machines[0], "INFO", f"new {i}")

    monkeypatch.setattr(events.time, "sleep", pause)
    out = ok(run("events", "-f", "-n", "1", "--format", "csv", "--fields", "type"))
    assert out == "type\nReady\nnew 0\nnew 1\n"  # one header, rows as they come


def test_wait_takes_the_formats(timed: MaasSimulator, run: Run) -> None:  # noqa: F811
    args = ("wait", "machines/abc000", "status_name=Ready", *FAST)
    assert json.loads(ok(run(*args, "--fields", "hostname,status_name"))) == {
        "hostname": "amber-otter",
        "status_name": "Ready",
    }
    assert ok(run(*args, "--jq", ".hostname")) == "amber-otter\n"
    assert ok(run(*args, "-t")).splitlines()[2].split() == ["hostname", "amber-otter"]


# ---------------------------------------------------------------- --wait on a terminal


def terminal_run(home: Path, *args: str) -> tuple[str, str, int]:
    env = {**env_for_subprocess(home), "TERM": "xterm", "NO_COLOR": "1"}
    out, stderr, status = on_terminal([sys.executable, "-m", "maascurl", *args], env)
    return out.decode(), stderr, status


def test_wait_at_a_terminal_ends_in_one_line(
    timed: MaasSimulator,  # noqa: F811
    profile: str,
    home: Path,
) -> None:
    """Not the whole machine in the pager: hostname, status and power. Piped, the JSON
    (the tests of test_wait.py); asked for, the JSON on the terminal too."""
    args = ("post", "machines/abc000", "op=deploy", "--wait", *FAST, "--no-progress")
    out, stderr, status = terminal_run(home, *args)
    assert status == 0, stderr
    assert out == "amber-otter (abc000): Deployed, power on\n"
    out, stderr, status = terminal_run(home, "wait", "machines/abc000", "status_name=Deployed")
    assert (status, out) == (0, "amber-otter (abc000): Deployed, power on\n")
    out, stderr, status = terminal_run(home, "post", "machines/abc000", "op=release", "--wait",
                                       *FAST, "--format", "json", "--no-pager")  # fmt: skip
    assert status == 0, stderr
    assert json.loads(out)["status_name"] == "Ready"


def test_a_failed_wait_at_a_terminal_still_ends_in_its_line(
    timed: MaasSimulator,  # noqa: F811
    profile: str,
    home: Path,
) -> None:
    timed.timed.failing = {"abc000"}
    args = ("post", "machines/abc000", "op=deploy", "--wait", *FAST, "--no-progress", "-v")
    out, stderr, status = terminal_run(home, *args)
    assert status == 8
    assert out.startswith("amber-otter (abc000): Failed deployment, power ")
    assert out.count("\n") == 1
    assert "ends in one line at a terminal; --format json shows the final object" in stderr


def test_a_fleet_waited_for_at_a_terminal_ends_in_its_summary(
    timed: MaasSimulator,  # noqa: F811
    profile: str,
    home: Path,
    tmp_path: Path,
) -> None:
    source = tmp_path / "ids"
    source.write_text("abc000\nabc002\n")
    args = ("post", "machines/{}", "op=release", "--each", str(source), "--wait", *FAST)
    out, stderr, status = terminal_run(home, *args)
    assert status == 0, stderr
    assert out.startswith("waited for 2 in ") and out.endswith(": 2 Ready\n")
    assert out.count("\n") == 1
    assert "waited for" not in stderr  # said once, on stdout


# ---------------------------------------------------------------- errors: the next step


def test_a_wrong_secret_names_the_profile_and_login(
    sim: MaasSimulator, run: Run, home: Path
) -> None:
    consumer, token, _ = sim.api_key.split(":")
    assert run("login", "lab", sim.url, f"{consumer}:{token}:wrongsecret1", "--no-check")
    result = run("get", "machines")
    assert result.exit_code == 4
    assert result.stderr == (
        "maascurl: error: 401 Unauthorized: Authorization Error: Invalid signature. Expected "
        "signature base string: <redacted>; the server refused the API key of profile 'lab' "
        "(its secret, the third part, is wrong); log in again with a key from MAAS (the UI's "
        f"API keys, or sudo maas apikey --username NAME): maascurl login lab {sim.url}\n"
    )  # MAAS's quotes ('Invalid signature...') are gone, the one redaction left stray too


def test_a_revoked_token_names_the_profile_and_login(sim: MaasSimulator, run: Run) -> None:
    consumer, _, secret = sim.api_key.split(":")
    assert run("login", "old", sim.url, f"{consumer}:revokedtoken:{secret}", "--no-check")
    result = run("get", "machines")
    assert result.exit_code == 4
    assert "Authorization Error: Invalid access token: <redacted>;" in result.stderr
    assert "(its token, the second part, is unknown: revoked or mistyped)" in result.stderr
    assert result.stderr.endswith(f": maascurl login old {sim.url}\n")
    login = run("login", "old", sim.url, f"{consumer}:revokedtoken:{secret}")
    assert login.stderr.splitlines()[-1] == (
        "maascurl: error: the server refused the API key (its token, the second part, is "
        "unknown: revoked or mistyped): 401 Unauthorized: Authorization Error: Invalid access "
        "token: <redacted>"
    )


def test_maas_in_lower_case_is_not_maas(sim: MaasSimulator, run: Run) -> None:
    """/maas is not MAAS's path: login says so and shows the URL, and so does a request
    through a profile saved with it."""
    lower = sim.url.replace("/MAAS", "/maas")
    result = run("login", "lab", lower, sim.api_key)
    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1] == (
        f"maascurl: error: {lower} does not answer as MAAS does: users/?op=whoami gave 404 "
        "(404 Not Found: Unknown API endpoint: /maas/api/2.0/users/.); MAAS is likely at "
        f"{sim.url}: maascurl login lab {sim.url}"
    )
    assert run("login", "lab", lower, sim.api_key, "--no-check").exit_code == 0
    request = run("get", "machines")
    assert request.exit_code == 4
    host = sim.url.split("/")[2]
    assert request.stderr.endswith(
        f"Unknown API endpoint: /maas/api/2.0/machines/. {host} answered with a 404, not as "
        f"MAAS's API answers: is the URL right? MAAS's is likely {sim.url}\n"
    )


def test_a_web_page_is_not_maas(hostile: HostileServer, run: Run) -> None:
    page = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
    hostile.answer(reply(404, page, {"Content-Type": "text/html"}, reason="Not Found"))
    host = f"127.0.0.1:{hostile.server_address[1]}"
    result = run("get", "machines")
    assert result.exit_code == 4
    assert result.stderr == (
        f"maascurl: error: 404 Not Found: Not Found; {host} answered with a web page, not as "
        "MAAS's API answers: is the URL right?\n"
    )
    hostile.answer(reply(404, page, {"Content-Type": "text/html"}, reason="Not Found"))
    bare = hostile.url.removesuffix("/MAAS")  # MAAS's /MAAS left out
    login = run("login", "web", bare, "a:b:c")
    assert login.stderr.splitlines()[-1] == (
        f"maascurl: error: {bare}/MAAS does not answer as MAAS does: users/?op=whoami gave a "
        "web page (404 Not Found: Not Found)"
    )


def test_a_name_that_does_not_resolve_fails_at_once(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No retries, no waits: a name that does not resolve will not resolve in 0.125 s."""
    asked = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "maas.invalid":  # never sent to a resolver: the test stays on this machine
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("MAAS_API_URL", "http://maas.invalid:5240/MAAS")
    monkeypatch.setenv("MAAS_API_KEY", "consumer:token:secret1234")
    result = run("get", "machines")
    assert result.exit_code == 6
    assert result.stderr.splitlines()[-1] == (
        "maascurl: error: cannot resolve maas.invalid: Name or service not known"
    )
    assert "retrying" not in result.stderr
    assert asked == ["maas.invalid"]


# ---------------------------------------------------------------- help


def help_of(run: Run, *command: str) -> str:
    return ok(run(*command, "--help"))


def test_help_says_only_what_each_command_does(run: Run) -> None:
    assert "--body" not in help_of(run, "wait")  # wait sends GETs: it refused --body
    assert "--each" not in help_of(run, "batch")
    upload = " ".join(help_of(run, "upload-image").split())
    assert "30m for deploy" not in upload and "(default 30m)" in upload
    waited = " ".join(help_of(run, "wait").split())
    assert "(default 30m)" in waited and "deploy" not in waited.split("--wait-timeout")[1][:80]


def test_get_help_is_in_sections_and_points_further(run: Run) -> None:
    text = help_of(run, "get")
    titles = [
        line[:-1] for line in text.splitlines() if line and line[0] != " " and line.endswith(":")
    ]
    assert titles == [
        "Options",
        "Request",
        "Output",
        "Formats",
        "Fleet (--each)",
        "v3 API",
        "Connection",
    ]
    flat = " ".join(text.split())
    assert "`maascurl describe PATH [OP]`" in flat and "`man maascurl`" in flat
    sections = text.split("\n\n")
    request = next(s for s in sections if s.startswith("Request:"))
    assert "-H, --header 'NAME: VALUE'" in request and "--dry-run" in request
    assert "--jq EXPR" in next(s for s in sections if s.startswith("Formats:"))
    # every option is listed once, in one section
    options = text.split("\n  ITEM is one of")[0]
    listed = [
        line.split()[0].rstrip(",") for line in options.splitlines() if line.startswith("  -")
    ]
    assert len(listed) == len(set(listed)) > 30


def test_every_command_that_fetches_takes_k(run: Run) -> None:
    for command in ("refresh", "describe"):
        text = help_of(run, command)
        assert "-k, --insecure" in text and "--cacert FILE" in text


# ---------------------------------------------------------------- batch at a terminal


def test_batch_at_a_terminal_says_it_reads_stdin(api: MaasSimulator, home: Path) -> None:
    """A batch with no FILE typed at a prompt is waiting for lines: one note says so."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "maascurl", "batch"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for_subprocess(home),
    )
    os.close(slave)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "no note on stderr"
        note = process.stderr.readline().decode()
        assert note == (
            "maascurl: note: reading lines from stdin, the terminal: end them with Ctrl-D "
            "(or give a FILE)\n"
        )
        os.write(master, b"get version\n\x04")  # Ctrl-D at the start of a line: the end
        out, err = process.communicate(timeout=30)
    finally:
        os.close(master)
    assert process.returncode == 0, err
    assert "version" in json.loads(out)
    piped = subprocess.run(
        [sys.executable, "-m", "maascurl", "batch"],
        input=b"get version\n",
        capture_output=True,
        env=env_for_subprocess(home),
        timeout=30,
    )
    assert (piped.returncode, piped.stderr) == (0, b"")  # a pipe needs no note


def test_jq_missing_says_how_to_add_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """jq is a dependency; a maascurl installed without it (--no-deps) says what to do."""
    from maascurl.errors import UsageError
    from maascurl.show.jq import compile_jq

    monkeypatch.setitem(sys.modules, "jq", None)  # import jq raises ImportError
    with pytest.raises(UsageError, match=r"pip install jq; pipx inject maascurl jq"):
        compile_jq(".")
