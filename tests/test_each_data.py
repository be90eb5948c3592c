"""`--each` data is only data: a filled value is never read as item syntax.

A line of input fills placeholders in a template whose items were split into
name, separator and value first. Whatever the line holds (`@FILE`, `=x`,
`@-`), it is sent as the literal text of the value; only a template that says
so itself (`key=@{}`) reads a file, and never stdin.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess, maascurl_script
from simulator import MaasSimulator

ROOT = "/MAAS/api/2.0/"


@pytest.fixture
def api(api: MaasSimulator) -> MaasSimulator:
    api.set_fleet(8)
    return api


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "id_ed25519"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    return secret


def descriptions(sim: MaasSimulator) -> list[str]:
    return [dict(r.form).get("description", "<none>") for r in sim.requests]


def test_an_at_file_value_from_a_line_is_sent_as_text(
    api: MaasSimulator, run: Run, secret_file: Path
) -> None:
    data = f"abc001\t@{secret_file}\n"
    result = run("put", "machines/{1}", "description={2}", "--each", "-", input=data)
    assert result.exit_code == 0, result.stderr
    assert descriptions(api) == [f"@{secret_file}"]
    assert all(b"secret" not in r.body for r in api.requests)


def test_the_config_file_is_not_sent_through_a_value(
    api: MaasSimulator, run: Run, home: Path
) -> None:
    config = os.environ["MAASCURL_CONFIG"]
    assert Path(config).exists()  # the api fixture logged in
    data = f'{{"system_id": "abc001", "description": "@{config}"}}\n'
    result = run(
        "put", "machines/{system_id}", "description={description}", "--each", "-", input=data
    )
    assert result.exit_code == 0, result.stderr
    assert descriptions(api) == [f"@{config}"]


def test_an_at_dash_value_does_not_swallow_the_rest_of_stdin(api: MaasSimulator, run: Run) -> None:
    data = "".join(f"abc00{i}\t{'@-' if i == 1 else 'plain'}\n" for i in range(1, 7))
    result = run("put", "machines/{1}", "description={2}", "--each", "-", "-j", "1", input=data)
    assert result.exit_code == 0, result.stderr
    assert descriptions(api) == ["@-"] + ["plain"] * 5


def test_a_leading_equals_sign_stays_a_form_field(api: MaasSimulator, run: Run) -> None:
    result = run("put", "machines/{1}", "description={2}", "--each", "-", input="abc001\t=x\n")
    assert result.exit_code == 0, result.stderr
    (request,) = api.requests
    assert dict(request.form) == {"description": "=x"}
    assert [k for k, _ in request.query] == []


def test_a_header_value_from_a_line_stays_one_header(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines/{1}", "-H", "X-Note: {2}", "--each", "-", input="abc001\ta: b\n")
    assert result.exit_code == 0, result.stderr
    (request,) = api.requests
    assert request.headers.get("x-note") == "a: b"


def test_a_template_that_says_at_reads_the_file_it_names(
    api: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("from a file")
    result = run(
        "put", "machines/{1}", "description=@{2}", "--each", "-", input=f"abc001\t{note}\n"
    )
    assert result.exit_code == 0, result.stderr
    assert descriptions(api) == ["from a file"]


@pytest.mark.parametrize("name", ["-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0"])
def test_a_filled_file_name_never_reads_stdin(api: MaasSimulator, run: Run, name: str) -> None:
    data = f"abc001\t{name}\nabc002\tplain\n"
    result = run("put", "machines/{1}", "description=@{2}", "--each", "-", input=data)
    assert result.exit_code == 2, result.stderr
    assert "line 1:" in result.stderr and "cannot read stdin" in result.stderr
    assert api.requests == []


def test_a_filled_name_that_is_stdin_by_another_path_is_refused(
    api: MaasSimulator, home: Path, tmp_path: Path
) -> None:
    """The installed command, stdin a file, a line naming a link to that file: refused."""
    source = tmp_path / "lines.txt"
    link = tmp_path / "link"
    source.write_text(f"abc001\t{link}\n")
    link.symlink_to(source)
    with source.open("rb") as stdin:
        proc = subprocess.run(
            [maascurl_script(), "put", "machines/{1}", "description=@{2}", "--each", "-"],
            stdin=stdin,
            env=env_for_subprocess(home),
            capture_output=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr.decode()
    assert b"line 1:" in proc.stderr and b"cannot read stdin" in proc.stderr
    assert api.requests == []


def test_a_whole_item_from_the_line_is_refused(api: MaasSimulator, run: Run) -> None:
    result = run("put", "machines/abc001", "{}", "--each", "-", input="description=x\n")
    assert result.exit_code == 2
    assert "the template gives each item's name and separator" in result.stderr
    assert api.requests == []


def test_a_batch_line_may_still_read_a_file(api: MaasSimulator, run: Run, tmp_path: Path) -> None:
    """A batch file is the user's own script: it may read files."""
    note = tmp_path / "note.txt"
    note.write_text("from a file")
    source = tmp_path / "work.txt"
    source.write_text(f"put machines/abc001 description=@{note}\n")
    result = run("batch", str(source))
    assert result.exit_code == 0, result.stderr
    assert descriptions(api) == ["from a file"]


# ---- a PATH placeholder fills one segment, whatever the line holds


def sent_paths(sim: MaasSimulator) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [(r.method, r.path, r.query) for r in sim.requests]


@pytest.mark.parametrize(
    ("template", "value", "segment"),
    [
        ("users/{}", "bob?transfer_resources_to=mallory", "bob%3Ftransfer_resources_to%3Dmallory"),
        ("vm-hosts/{}", "3?decompose=true", "3%3Fdecompose%3Dtrue"),
        ("rackcontrollers/{}", "rack01?force=true", "rack01%3Fforce%3Dtrue"),
        ("users/{}", "bob#frag", "bob%23frag"),
        ("users/{}", "bob%3Fx=1", "bob%253Fx%3D1"),
        ("users/{}", "a b&c;d", "a%20b%26c%3Bd"),
    ],
)
def test_a_path_value_is_encoded_into_its_one_segment(
    api: MaasSimulator, run: Run, template: str, value: str, segment: str
) -> None:
    result = run("delete", template, "--each", "-", input=value + "\n")
    assert "line 1" in result.stderr or result.exit_code == 0, result.stderr
    ((method, path, query),) = sent_paths(api)
    resource = template.split("/")[0]
    assert (method, path, query) == ("DELETE", f"{ROOT}{resource}/{segment}/", [])


def test_a_filled_segment_is_never_an_op(api: MaasSimulator, run: Run) -> None:
    result = run("post", "machines/{}", "op=release", "--each", "-", input="op-release\n")
    assert result.exit_code == 4, result.stderr  # no machine "op-release"
    assert sent_paths(api) == [("POST", f"{ROOT}machines/op-release/", [("op", "release")])]


def test_a_typed_op_suffix_still_counts_after_a_filled_segment(
    api: MaasSimulator, run: Run
) -> None:
    result = run("get", "machines/{}/op-details", "--each", "-", input="abc001\n")
    assert result.exit_code == 0, result.stderr
    assert sent_paths(api) == [("GET", f"{ROOT}machines/abc001/", [("op", "details")])]


def test_a_placeholder_in_paths_query_fills_one_value(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines?hostname={}", "--each", "-", input="a&op=list_allocated\n")
    assert result.exit_code == 0, result.stderr
    assert sent_paths(api) == [("GET", f"{ROOT}machines/", [("hostname", "a&op=list_allocated")])]


def test_a_whole_path_placeholder_takes_the_line_as_a_typed_path(
    api: MaasSimulator, run: Run
) -> None:
    """`get '{}' --each paths.txt`: each line is a PATH as typed, its ?query honoured."""
    lines = "machines/abc001\nmachines?hostname=node-1\nmachines/op-list_allocated\n"
    result = run("get", "{}", "--each", "-", "-j", "1", input=lines)
    assert result.exit_code == 0, result.stderr
    assert sent_paths(api) == [
        ("GET", f"{ROOT}machines/abc001/", []),
        ("GET", f"{ROOT}machines/", [("hostname", "node-1")]),
        ("GET", f"{ROOT}machines/", [("op", "list_allocated")]),
    ]
