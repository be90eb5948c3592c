"""--format, -t, --fields, --sort and --header: every format on every shape of answer."""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Run, env_for_subprocess, on_terminal, values
from simulator import FIXTURES, MaasSimulator

from maascurl.show import fields, table
from maascurl.show.fields import Column, Listing, View

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RECIPE = ("get", "machines", "-t", "--fields", "hostname,system_id,status_name")


def ok(result: object) -> str:
    assert getattr(result, "exit_code", None) == 0, getattr(result, "stderr", "")
    return str(getattr(result, "stdout", ""))


def csv_of(result: object) -> str:
    """stdout exactly as written (CliRunner's .stdout folds CRLF into LF)."""
    ok(result)
    return bytes(getattr(result, "stdout_bytes", b"")).decode("utf-8")


def tsv_rows(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


# --------------------------------------------------------------- values and shapes


MACHINE = {
    "hostname": "node-1",
    "zone": {"name": "zone-a", "id": 1},
    "interface_set": [{"name": "eth0", "id": 3}, {"name": "eth1", "id": 4}],
    "ip_addresses": ["10.0.0.1", "10.0.0.2"],
    "tag_names": [],
    "owner": None,
    "locked": False,
    "cpu_count": 4,
    "hardware_info": {"cpu_model": "x", "mainboard": "y"},
    "resource_uri": "/MAAS/api/2.0/machines/abc/",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("hostname", "node-1"),
        ("zone.name", "zone-a"),
        ("interface_set.0.name", "eth0"),
        ("interface_set.-1.name", "eth1"),
        ("interface_set.5.name", None),
        ("interface_set.2.name", None),  # one past the end
        ("interface_set.name", ["eth0", "eth1"]),
        ("zone.nothing", None),
        ("nothing.at.all", None),
        ("hostname.deeper", None),
    ],
)
def test_dotted_paths(path: str, expected: object) -> None:
    assert fields.get_path(MACHINE, path) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (1.5, "1.5"),
        (["10.0.0.1", "10.0.0.2"], "10.0.0.1,10.0.0.2"),
        ([], ""),
        ({"name": "zone-a", "id": 1}, "zone-a"),
        ({"hostname": "h", "system_id": "s"}, "h"),
        ({"fqdn": "h.maas", "system_id": "s"}, "h.maas"),
        ({"system_id": "s", "id": 3}, "s"),
        ({"id": 3}, "3"),
        ({"cpu_model": "x", "n": [1]}, '{"cpu_model":"x","n":[1]}'),
        ([{"name": "eth0"}, {"name": "eth1"}], "eth0,eth1"),
        ([{"x": 1}], '[{"x":1}]'),
        ("é日本", "é日本"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert fields.cell(value) == text


def test_shapes() -> None:
    assert fields.find_listing([MACHINE]).rows == [MACHINE]
    single = fields.find_listing(MACHINE)
    assert single.single and single.rows == [MACHINE]
    wrapped = fields.find_listing({"count": 1, "events": [{"id": 1}], "next_uri": None})
    assert wrapped.rows == [{"id": 1}] and wrapped.wrapped_key == "events"
    keyed = fields.find_listing({"abc": {"power_address": "a"}, "def": {"power_address": "b"}})
    assert keyed.keys == ["abc", "def"] and keyed.rows[1] == {"power_address": "b"}
    # An object with one list among plain fields is still one object (a fabric and its VLANs).
    fabric = {"id": 1, "name": "f", "vlans": [{"vid": 0}], "resource_uri": "/x/"}
    assert fields.find_listing(fabric).single
    assert fields.find_listing(True).rows == [True]


@pytest.mark.parametrize(
    ("path", "op", "resource"),
    [
        ("machines", None, "machines"),
        ("machines/abc123", None, "machines"),
        ("/MAAS/api/2.0/machines/", None, "machines"),
        ("http://maas:5240/MAAS/api/2.0/machines/abc/?op=x", None, "machines"),
        ("machines/op-list_allocated", None, "machines"),
        ("fabrics/1/vlans", None, "vlans"),
        ("account/prefs/sshkeys", None, "sshkeys"),
        ("nodes/abc/interfaces", None, "interfaces"),
        ("files/machines", None, "files"),
        ("tags/virtual", "machines", "machines"),
        ("tags/virtual", "rack_controllers", "rackcontrollers"),
        ("resourcepool/0", None, "resourcepools"),
        ("events", "query", "events"),
        ("version", None, None),
    ],
)
def test_resource_of_a_path(path: str, op: str | None, resource: str | None) -> None:
    assert fields.resource_of(path, op) == resource


def test_default_columns_use_fields_maas_sends() -> None:
    """Every default column's first name is a field of that resource in the fixtures."""
    here = FIXTURES
    samples = {
        "machines": json.loads((here / "machines.json").read_text())[0],
        "rackcontrollers": json.loads((here / "rack_controllers.json").read_text())[0],
        "subnets": json.loads((here / "subnets.json").read_text())[0],
        "vlans": json.loads((here / "vlans.json").read_text())[0],
        "zones": json.loads((here / "zones.json").read_text())[0],
        "resourcepools": json.loads((here / "resource_pools.json").read_text())[0],
        "tags": json.loads((here / "tags.json").read_text())[0],
        "users": json.loads((here / "users.json").read_text())[0],
        "boot-resources": json.loads((here / "boot_resources.json").read_text())[0],
        "events": json.loads((here / "events.json").read_text())["events"][0],
        "domains": json.loads((here / "domains.json").read_text())[0],
        "sshkeys": json.loads((here / "sshkeys.json").read_text())[0],
        "devices": json.loads((here / "devices.json").read_text())[0],
        "fabrics": json.loads((here / "fabrics.json").read_text())[0],
        "spaces": json.loads((here / "spaces.json").read_text())[0],
        "ipaddresses": json.loads((here / "ipaddresses.json").read_text())[0],
        "dnsresources": json.loads((here / "dnsresources.json").read_text())[0],
    }
    machine = json.loads((here / "machine.json").read_text())
    samples["machines"] = {**samples["machines"], **machine}
    for resource, sample in samples.items():
        for column in fields.COLUMNS[resource]:
            root = column.path.split(".")[0]
            assert root in sample, f"{resource}: {column.path}"
            if "." in column.path and sample[root]:  # null or [] in some samples
                assert fields.get_path(sample, column.path) not in (None, []), column.path


def test_other_resources_get_their_plain_top_level_fields() -> None:
    rows = [{"id": 1, "name": "a", "vlans": [], "meta": {"x": 1}}, {"id": 2, "extra": "b"}]
    assert [c.path for c in fields.default_columns(None, rows)] == ["id", "name", "extra"]
    # Known columns that do not fit the answer (an op answering otherwise) are left out.
    keyed = [{"power_address": "a", "power_id": "b"}]
    assert [c.path for c in fields.default_columns("machines", keyed)] == [
        "power_address",
        "power_id",
    ]


# --------------------------------------------------------------- order


def test_natural_order() -> None:
    names = ["node-10", "node-2", "Node-3", "node-1", "alpha", "node-2a"]
    assert sorted(names, key=fields.natural_key) == [
        "alpha",
        "node-1",
        "node-2",
        "node-2a",
        "Node-3",
        "node-10",
    ]
    assert sorted([10, 9, 100], key=fields.natural_key) == [9, 10, 100]


def test_sort_ascending_descending_and_missing_last() -> None:
    rows = [{"n": "node-10"}, {"x": 1}, {"n": "node-2"}, {"n": "node-1"}]
    listing = Listing(list(rows))
    fields.sort_listing(listing, "n")
    assert [r.get("n") for r in listing.rows] == ["node-1", "node-2", "node-10", None]
    fields.sort_listing(listing, "-n")
    assert [r.get("n") for r in listing.rows] == ["node-10", "node-2", "node-1", None]


def test_sort_keyed_dict_by_key_and_value() -> None:
    listing = fields.find_listing({"b2": {"v": 2}, "b10": {"v": 1}, "a": {"v": 3}})
    fields.sort_listing(listing, "key")
    assert listing.keys == ["a", "b2", "b10"]
    fields.sort_listing(listing, "-v")
    assert listing.keys == ["a", "b2", "b10"]
    assert [row["v"] for row in listing.rows] == [3, 2, 1]


# --------------------------------------------------------------- the table's layout


def test_fit_narrows_the_widest_columns_first() -> None:
    assert table.fit([10, 40, 5], None) == [10, 40, 5]
    assert table.fit([10, 40, 5], 100) == [10, 40, 5]
    narrowed = table.fit([10, 40, 5], 40)
    assert sum(narrowed) + 2 * 2 == 40
    assert narrowed[0] == 10 and narrowed[2] == 5
    tight = table.fit([10, 40, 30], 30)
    assert sum(tight) + 4 <= 30 and tight[0] <= 10


def test_fit_never_cuts_a_whole_column() -> None:
    """Names and numbers keep their width; the other columns share the rest."""
    widths = table.fit([11, 6, 9, 5, 5, 5, 5, 4, 13, 10, 7, 16], 70, [True, True] + [False] * 10)
    assert widths[:2] == [11, 6]
    assert sum(widths) + 2 * 11 == 70
    # Too narrow even so: the whole columns still are not cut (the row is wider).
    squeezed = table.fit([30, 10, 10], 20, [True, False, False])
    assert squeezed[0] == 30


def test_columns_are_left_out_from_the_right_never_a_name() -> None:
    natural = [11, 6, 9, 5, 5, 5, 6, 13, 10, 7, 16]  # the machines' default columns
    whole = [True, True, False, False, False, True, True, False, False, False, False]
    keep = [True, True] + [False] * 9
    assert table.columns_that_fit(natural, None, whole, keep) == list(range(11))
    assert table.columns_that_fit(natural, 200, whole, keep) == list(range(11))
    assert table.columns_that_fit(natural, 80, whole, keep) == [*range(8), 9]  # pool fits
    assert table.columns_that_fit(natural, 75, whole, keep) == list(range(8))
    assert table.columns_that_fit(natural, 40, whole, keep) == [0, 1, 2, 3]
    assert table.columns_that_fit(natural, 10, whole, keep) == [0, 1]  # names stay, too wide


@pytest.mark.parametrize("width", ["100", "80", "60", "45"])
def test_a_narrow_table_leaves_columns_out_and_never_cuts_a_name_or_a_number(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch, width: str
) -> None:
    """Once every column was cut to a few cells at 80: compu…, m000…, Deplo…, 163…."""
    for machine in api.machines:
        machine["memory"] = 163840
    api.changed()
    monkeypatch.setenv("COLUMNS", width)
    result = run("get", "machines", "-t")
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= int(width)
    assert "…" not in result.stdout
    rows = [line.split() for line in lines[2:]]
    assert [row[:2] for row in rows] == [[m["hostname"], m["system_id"]] for m in api.machines]
    labels = lines[0].split()
    if "memory" in labels:
        assert all(" 163840" in line for line in lines[2:])
    left_out = [c.label for c in fields.COLUMNS["machines"] if c.label not in labels]
    assert left_out and labels + left_out == [c.label for c in fields.COLUMNS["machines"]]
    assert result.stderr == (
        f"maascurl: note: {len(left_out)} column{'s' * (len(left_out) > 1)} left out to fit "
        f"{width} columns: {', '.join(left_out)} (--fields chooses the columns)\n"
    )


LISTINGS = FIXTURES  # listing-NAME.json: a listing MAAS answers, by scripts/make_fixtures.py


@pytest.mark.parametrize(
    "name", sorted(p.stem.removeprefix("listing-") for p in LISTINGS.glob("listing-*.json"))
)
def test_every_listing_maas_returns_has_default_columns_it_fills(name: str) -> None:
    rows = json.loads((LISTINGS / f"listing-{name}.json").read_text())
    listing = Listing(rows)
    columns = fields.choose_columns(View("table"), listing, name)
    assert columns == list(fields.COLUMNS[name])  # not the ~19 plain fields of each object
    for column in columns:  # each a field MAAS sends, reached as MAAS nests it
        *parents, last = column.path.split(".")
        holders = [fields.get_path(row, ".".join(parents)) if parents else row for row in rows]
        objects = [h for held in holders for h in (held if isinstance(held, list) else [held])]
        assert any(isinstance(o, dict) and last in o for o in objects), column


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("nodes/abc000/interfaces/", "interfaces"),
        ("nodes/abc000/blockdevices/", "blockdevices"),
        ("nodes/abc000/blockdevices/3/partitions/", "partitions"),
        ("nodes/abc000/results/", "results"),
        ("scripts/", "scripts"),
        ("ipranges/", "ipranges"),
        ("vm-hosts/", "vm-hosts"),
    ],
)
def test_node_listings_get_their_columns_at_80(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch, path: str, resource: str
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = run("get", path, "-t")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    labels = [c.label for c in fields.COLUMNS[resource]]
    shown = lines[0].split()
    assert shown == [label for label in labels if label in shown]  # in order, some left out
    assert shown[0] == labels[0]
    assert max(len(line) for line in lines) <= 80
    assert resource == fields.resource_of(api.api_root + path)


def test_addresses_and_times_are_left_out_rather_than_cut(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MAC, an IP or a timestamp cut short means nothing: cb:93:ac:d1:e… once."""
    monkeypatch.setenv("COLUMNS", "60")
    shown = ok(run("get", "nodes/abc000/interfaces", "-t"))
    rows = json.loads(ok(run("get", "nodes/abc000/interfaces")))
    assert "…" not in shown
    labels = shown.splitlines()[0].split()
    if "MAC" in labels:
        assert all(row["mac_address"] in shown for row in rows)
    assert {"id", "name"} <= set(labels)


@pytest.mark.parametrize(
    ("cells", "whole"),
    [
        (["cb:93:ac:d1:ed:65", ""], True),
        (["10.0.0.1,10.0.0.2", "fe80::1/64"], True),
        (["Wed, 04 Jan 2017 19:25:11 -0000", "2018-12-04T18:11:31.894"], True),
        (["Fri, 04 Dec. 2020 10:00:00"], True),
        (["Ready", "10.0.0.1"], False),
        (["", ""], False),
    ],
)
def test_which_values_mean_nothing_cut_short(cells: list[str], whole: bool) -> None:
    assert table.atomic(cells) is whole


def test_a_wide_enough_table_is_whole_and_says_nothing(
    api: MaasSimulator, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = run("get", "machines", "-t")
    assert result.stdout.splitlines()[0].split() == [c.label for c in fields.COLUMNS["machines"]]
    assert result.stderr == ""


def test_a_piped_table_has_no_trailing_blanks(api: MaasSimulator, run: Run) -> None:
    api.machines[0]["owner"] = None  # an empty last cell
    api.changed()
    out = ok(run("get", "machines", "-t", "--fields", "hostname,owner"))
    assert out.splitlines()[2] == "amber-otter"
    assert all(line == line.rstrip() for line in out.splitlines())


def full_rich_table(
    labels: list[str], rows: list[list[str]], right: list[bool], widths: list[int]
) -> str:
    """The same table rendered wholly by rich, to compare with table.render_table."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tab = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for label, w, r in zip(labels, widths, right, strict=True):
        tab.add_column(
            Text(label),
            width=w,
            no_wrap=True,
            overflow="ellipsis",
            justify="right" if r else "left",
        )
    for row in rows:
        tab.add_row(*(Text(text) for text in row))
    console = Console(
        file=io.StringIO(), width=sum(widths) + 2 * (len(widths) - 1), color_system=None
    )
    console.print(tab)
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("width", [None, 60, 35, 20])
def test_rows_are_laid_out_as_rich_lays_them_out(width: int | None) -> None:
    labels = ["hostname", "cores", "zone", "notes"]
    rows = [
        ["node-1", "4", "zone-a", "short"],
        ["a-very-long-hostname-indeed", "128", "", "日本語のテキストがここにあります"],
        ["é-accented", "", "zone-with-a-long-name", "x" * 50],
        ["", "7", "z", "mixed 日本 text and more text"],
    ]
    right = [False, True, False, False]
    natural = [max(len(r[i]) if r[i].isascii() else 2 * len(r[i]) for r in rows) for i in range(4)]
    natural = [max(n, len(label)) for n, label in zip(natural, labels, strict=True)]
    from rich.cells import cell_len

    natural = [max(cell_len(r[i]) for r in [*rows, labels]) for i in range(4)]
    widths = table.fit(natural, width)
    ours = table.render_table(labels, rows, right, width, color=False)
    theirs = full_rich_table(labels, rows, right, widths)
    assert ours == "".join(line.rstrip(" ") + "\n" for line in theirs.splitlines())
    if width is not None:
        assert all(cell_len(line) <= width for line in ours.splitlines())
        assert "…" in ours


# --------------------------------------------------------------- lists of objects


def test_tsv_of_machines(api: MaasSimulator, run: Run) -> None:
    out = ok(
        run("get", "machines", "--format", "tsv", "--fields", "hostname,system_id,status_name")
    )
    assert tsv_rows(out) == [
        ["amber-otter", "abc000", "Ready"],
        ["brisk-otter", "abc001", "Allocated"],
        ["calm-otter", "abc002", "Deployed"],
    ]
    with_header = ok(
        run("get", "machines", "--format", "tsv", "--header-row", "--fields", "hostname")
    )
    assert with_header.splitlines() == ["hostname", "amber-otter", "brisk-otter", "calm-otter"]


def test_tsv_default_columns_and_nested_paths(api: MaasSimulator, run: Run) -> None:
    out = ok(run("get", "machines", "--format", "tsv", "--header-row"))
    header, first = tsv_rows(out)[:2]
    assert header == [c.path for c in fields.COLUMNS["machines"]]
    row = dict(zip(header, first, strict=True))
    machine = api.machines[0]
    assert row["zone.name"] == machine["zone"]["name"]
    assert row["ip_addresses"] == ",".join(machine["ip_addresses"])
    assert row["owner"] == ""  # null
    assert row["cpu_count"] == str(machine["cpu_count"])
    names = ok(
        run("get", "machines", "--format=tsv", "--fields=interface_set.0.name,interface_set.name")
    )
    first_names = tsv_rows(names)[0]
    interfaces = [i["name"] for i in machine["interface_set"]]
    assert first_names == [interfaces[0], ",".join(interfaces)]


def test_csv_of_machines(api: MaasSimulator, run: Run) -> None:
    """CSV's lines end in LF, as jq's @csv and mlr write them; --crlf gives RFC 4180's CRLF,
    and --no-header-row leaves out the line of column names."""
    args = ("get", "machines", "--format", "csv", "--fields", "hostname,zone.name,tag_names")
    out = csv_of(run(*args))
    assert out.startswith("hostname,zone.name,tag_names\n")
    assert "\r" not in out
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[1] == ["amber-otter", api.machines[0]["zone"]["name"], "virtual"]
    assert rows[2][2] == ""
    assert csv_of(run(*args, "--crlf")) == out.replace("\n", "\r\n")
    assert csv_of(run(*args, "--no-header-row")) == out.split("\n", 1)[1]


def test_json_and_jsonl_keep_only_the_fields(api: MaasSimulator, run: Run) -> None:
    data = json.loads(ok(run("get", "machines", "--fields", "hostname,zone.name")))
    assert data[0] == {"hostname": "amber-otter", "zone.name": api.machines[0]["zone"]["name"]}
    lines = ok(run("get", "machines", "--format", "jsonl", "--fields", "system_id")).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"system_id": "abc000"},
        {"system_id": "abc001"},
        {"system_id": "abc002"},
    ]
    whole = ok(run("get", "machines", "--format", "jsonl")).splitlines()
    assert json.loads(whole[2]) == api.machines[2]


def test_table_piped_has_every_row_and_no_colour(api: MaasSimulator, run: Run) -> None:
    out = ok(run("get", "machines", "-t"))
    lines = out.splitlines()
    assert lines[0].split() == [c.label for c in fields.COLUMNS["machines"]]
    assert set(lines[1]) == {"─"}
    assert [line.split()[0] for line in lines[2:]] == ["amber-otter", "brisk-otter", "calm-otter"]
    assert "\x1b" not in out and "…" not in out  # piped: nothing cut


def test_missing_fields_are_empty_and_warned(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "--format", "tsv", "--fields", "hostname,nosuch,zone.nosuch")
    assert result.exit_code == 0
    assert tsv_rows(result.stdout)[0] == ["amber-otter", "", ""]
    assert "no object in the response has a field 'nosuch'" in result.stderr
    assert "'zone'" not in result.stderr  # zone exists; only its member is missing
    data = json.loads(run("get", "machines", "--fields", "nosuch").stdout)
    assert data == [{"nosuch": None}] * 3


# --------------------------------------------------------------- sorting


@pytest.fixture
def numbered(api: MaasSimulator) -> MaasSimulator:
    for machine, name in zip(api.machines, ["node-10", "node-2", "Node-3"], strict=True):
        machine["hostname"] = name
    api.machines[1]["owner"] = None
    api.changed()
    return api


def test_sort_natural_and_descending(numbered: MaasSimulator, run: Run) -> None:
    def hosts(*args: str) -> list[str]:
        out = ok(run("get", "machines", "--format", "tsv", "--fields", "hostname", *args))
        return out.splitlines()

    assert hosts("--sort", "hostname") == ["node-2", "Node-3", "node-10"]
    assert hosts("--sort", "-hostname") == ["node-10", "Node-3", "node-2"]
    assert hosts("--sort=-hostname") == ["node-10", "Node-3", "node-2"]
    assert hosts("--sort", "owner")[-1] == "node-2"  # no owner: last
    data = json.loads(ok(run("get", "machines", "--sort", "hostname")))
    assert [m["hostname"] for m in data] == ["node-2", "Node-3", "node-10"]
    assert data[0] == numbered.machines[1]  # whole objects, only reordered


def test_events_sort_by_time_not_by_weekday(api: MaasSimulator, run: Run) -> None:
    """Events' `created` (%a, %d %b. %Y %H:%M:%S) once sorted as text: Fri, Sun, Thu."""
    start = datetime.datetime(2020, 11, 28, 12, 0, 0)
    shifts = list(range(len(api.events)))  # days after the start, shuffled
    random.Random(21).shuffle(shifts)
    for event, days in zip(api.events, shifts, strict=True):
        moment = start + datetime.timedelta(days=days, seconds=-days)
        event["created"] = moment.strftime("%a, %d %b. %Y %H:%M:%S")
    args = ("get", "events", "op=query", "level=DEBUG", "--format", "tsv", "--fields", "created")
    by_time = [e["created"] for _, e in sorted(zip(shifts, api.events), key=lambda p: p[0])]
    assert ok(run(*args, "--sort", "created")).splitlines() == by_time
    assert ok(run(*args, "--sort", "-created")).splitlines() == by_time[::-1]
    assert sorted(by_time) != by_time  # as text they would come in another order


@pytest.mark.parametrize(
    ("values", "ordered"),
    [
        (  # ISO 8601, with and without a zone and fractions
            ["2018-12-14T20:01:45.856", "2018-12-04T18:11:31.894", "2018-12-04T19:21:11Z"],
            ["2018-12-04T18:11:31.894", "2018-12-04T19:21:11Z", "2018-12-14T20:01:45.856"],
        ),
        (  # RFC 2822, as MAAS's rack controllers' last_ping, zones honoured
            ["Tue, 21 Oct 2025 15:16:19 +0000", "Tue, 21 Oct 2025 16:00:00 +0200"],
            ["Tue, 21 Oct 2025 16:00:00 +0200", "Tue, 21 Oct 2025 15:16:19 +0000"],
        ),
        (["8G", "512M", "1.5T", "100", "2 GiB"], ["100", "512M", "2 GiB", "8G", "1.5T"]),
        (["10.5", "9", "100.25"], ["9", "10.5", "100.25"]),
        (["10.0.0.10", "10.0.0.9", "9.1.1.1"], ["9.1.1.1", "10.0.0.9", "10.0.0.10"]),
        (["4k", "node-2", "alpha"], ["4k", "alpha", "node-2"]),  # a name that looks like a size
    ],
)
def test_sort_keys_by_what_values_are(values: list[str], ordered: list[str]) -> None:
    listing = Listing([{"v": value} for value in values])
    fields.sort_listing(listing, "v")
    assert [row["v"] for row in listing.rows] == ordered


@pytest.fixture
def mixed_status(api: MaasSimulator) -> MaasSimulator:
    """abc000 Ready (status 4), abc001 Allocated (10), abc002 Deployed (6), and abc003
    Deployed too, so that a second key has something to order."""
    extra = {**api.machines[2], "system_id": "abc003", "hostname": "zesty-otter"}
    api.machines.append(extra)
    api.changed()
    return api


def test_a_header_means_the_values_shown_under_it(mixed_status: MaasSimulator, run: Run) -> None:
    """The table shows status names under `status`: --sort status sorts those, not the codes."""
    table = ok(run("get", "machines", "-t", "--sort", "status")).splitlines()
    assert table[0].split()[2] == "status"
    assert [line.split()[2] for line in table[2:]] == ["Allocated", "Deployed", "Deployed", "Ready"]
    tsv = ok(
        run("get", "machines", "--format", "tsv", "--header-row", "--fields", "hostname,status")
    )
    assert tsv.splitlines()[:2] == ["hostname\tstatus", "amber-otter\tReady"]
    as_json = json.loads(ok(run("get", "machines/abc001", "--fields", "status,cores")))
    assert as_json == {"status": "Allocated", "cores": mixed_status.machines[1]["cpu_count"]}


@pytest.mark.parametrize(
    "sort",
    [("--sort", "status,-hostname"), ("--sort", "status", "--sort", "-hostname")],
)
def test_several_sort_keys_are_all_read(
    mixed_status: MaasSimulator, run: Run, sort: tuple[str, ...]
) -> None:
    out = ok(run("get", "machines", "--format", "tsv", "--fields", "hostname,status", *sort))
    assert tsv_rows(out) == [
        ["brisk-otter", "Allocated"],
        ["zesty-otter", "Deployed"],
        ["calm-otter", "Deployed"],
        ["amber-otter", "Ready"],
    ]


def test_repeated_fields_add_up(api: MaasSimulator, run: Run) -> None:
    out = ok(
        run(
            "get",
            "machines/abc000",
            "--format",
            "tsv",
            "--fields",
            "hostname",
            "--fields",
            "system_id",
        )
    )
    assert out == "amber-otter\tabc000\n"


def test_sort_by_a_missing_field_warns(api: MaasSimulator, run: Run) -> None:
    result = run("get", "machines", "--format", "tsv", "--fields", "hostname", "--sort", "nosuch")
    assert result.exit_code == 0
    assert "--sort: no object in the response has a field 'nosuch'" in result.stderr
    assert result.stdout.splitlines() == ["amber-otter", "brisk-otter", "calm-otter"]


# --------------------------------------------------------------- single objects


def test_single_object_in_every_format(api: MaasSimulator, run: Run) -> None:
    args = ("get", "machines/abc001", "--fields", "hostname,zone.name,ip_addresses")
    machine = api.machines[1]
    zone, ips = machine["zone"]["name"], ",".join(machine["ip_addresses"])
    assert json.loads(ok(run(*args))) == {
        "hostname": "brisk-otter",
        "zone.name": zone,
        "ip_addresses": machine["ip_addresses"],
    }
    assert json.loads(ok(run(*args, "--format", "jsonl")))["hostname"] == "brisk-otter"
    assert ok(run(*args, "--format", "tsv")) == f"brisk-otter\t{zone}\t{ips}\n"
    rows = list(csv.reader(io.StringIO(csv_of(run(*args, "--format", "csv")), newline="")))
    assert rows == [["hostname", "zone.name", "ip_addresses"], ["brisk-otter", zone, ips]]
    lines = ok(run(*args, "-t")).splitlines()
    assert lines[0].split() == ["field", "value"]
    assert [line.split() for line in lines[2:]] == [
        ["hostname", "brisk-otter"],
        ["zone.name", zone],
        ["ip_addresses", ips],
    ]


def test_single_object_table_with_default_columns(api: MaasSimulator, run: Run) -> None:
    lines = ok(run("get", "machines/abc002", "-t")).splitlines()
    shown = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(shown) == [c.label for c in fields.COLUMNS["machines"]]
    assert shown["status"] == ["Deployed"]


# --------------------------------------------------------------- wrapped listings


def test_events_query_in_every_format(api: MaasSimulator, run: Run) -> None:
    events = sorted(api.events, key=lambda e: -e["id"])
    args = ("get", "events", "op=query")
    tsv = ok(run(*args, "--format", "tsv", "--fields", "id,level,hostname"))
    assert tsv_rows(tsv) == [[str(e["id"]), e["level"], e["hostname"]] for e in events]
    table_lines = ok(run(*args, "-t")).splitlines()
    assert table_lines[0].split() == [c.label for c in fields.COLUMNS["events"]]
    assert len(table_lines) == 2 + len(events)
    wrapped = json.loads(ok(run(*args, "--fields", "id,type", "--sort", "id")))
    assert wrapped["count"] == len(events)  # the wrapper is kept around the chosen fields
    assert wrapped["events"] == [{"id": e["id"], "type": e["type"]} for e in reversed(events)]
    assert wrapped["next_uri"].endswith(f"after={events[0]['id']}")
    jsonl = ok(run(*args, "--format", "jsonl", "--fields", "id")).splitlines()
    assert [json.loads(line) for line in jsonl] == [{"id": e["id"]} for e in events]
    rows = list(csv.reader(io.StringIO(csv_of(run(*args, "--format", "csv")), newline="")))
    assert rows[0] == [c.path for c in fields.COLUMNS["events"]]
    assert rows[1][0] == str(events[0]["id"])


# --------------------------------------------------------------- dicts keyed by system ID


def test_power_parameters_get_a_key_column(api: MaasSimulator, run: Run) -> None:
    args = ("get", "machines", "op=power_parameters")
    tsv = ok(run(*args, "--format", "tsv", "--header-row", "--fields", "power_id"))
    assert tsv_rows(tsv) == [
        ["key", "power_id"],
        ["abc000", "amber-otter"],
        ["abc001", "brisk-otter"],
        ["abc002", "calm-otter"],
    ]
    rows = list(csv.reader(io.StringIO(csv_of(run(*args, "--format", "csv")), newline="")))
    assert rows[0] == ["key", "power_address", "power_id", "power_pass"]
    lines = ok(run(*args, "-t", "--sort", "-key")).splitlines()
    assert lines[0].split() == ["key", "power_address", "power_id", "power_pass"]
    assert [line.split()[0] for line in lines[2:]] == ["abc002", "abc001", "abc000"]
    keyed = json.loads(ok(run(*args, "--fields", "power_id")))
    assert keyed == {
        "abc000": {"power_id": "amber-otter"},
        "abc001": {"power_id": "brisk-otter"},
        "abc002": {"power_id": "calm-otter"},
    }
    jsonl = ok(run(*args, "--format", "jsonl")).splitlines()
    assert json.loads(jsonl[0])["key"] == "abc000"
    assert json.loads(jsonl[0])["power_id"] == "amber-otter"
    # The key placed where --fields puts it.
    moved = ok(run(*args, "--format", "tsv", "--fields", "power_id,key", "id=abc001"))
    assert moved == "brisk-otter\tabc001\n"


# --------------------------------------------------------------- escaping


HOSTILE = 'tab\there\nnew "quoted", back\\slash é日本 \x1b[31mred\r'


@pytest.fixture
def hostile(api: MaasSimulator) -> MaasSimulator:
    api.machines[0]["hostname"] = HOSTILE
    api.machines[0]["tag_names"] = ["a,b", "c"]
    api.changed()
    return api


def test_tsv_escapes_so_lines_and_fields_never_split(hostile: MaasSimulator, run: Run) -> None:
    out = ok(run("get", "machines", "--format", "tsv", "--fields", "hostname,system_id"))
    lines = out.split("\n")
    assert len(lines) == 4 and lines[-1] == ""
    host, system_id = lines[0].split("\t")
    assert system_id == "abc000"
    assert host == 'tab\\there\\nnew "quoted", back\\\\slash é日本 \x1b[31mred\\r'
    # Undoing the escapes gives the value back.
    unescaped = re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]), host)
    assert unescaped == HOSTILE


def test_tsv_escaping_survives_a_bash_read_loop(hostile: MaasSimulator, home: Path) -> None:
    script = (
        "maascurl get machines --format tsv --fields system_id,hostname,status_name | "
        "while IFS=$'\\t' read -r id host status; do echo \"$id|$status\"; done"
    )
    env = env_for_subprocess(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["abc000|Ready", "abc001|Allocated", "abc002|Deployed"]


def test_csv_quotes_as_rfc_4180(hostile: MaasSimulator, run: Run) -> None:
    out = csv_of(run("get", "machines", "--format", "csv", "--fields", "hostname,tag_names"))
    assert '"tab\there\nnew ""quoted"", back\\slash' in out
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[1] == [HOSTILE, "a,b,c"]
    assert len(rows) == 4


FORMULAS = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "a=b"]


@pytest.fixture
def formulas(api: MaasSimulator) -> MaasSimulator:
    for machine, text in zip(api.machines, FORMULAS[:3], strict=False):
        machine["hostname"] = text
    api.machines[0]["tag_names"] = FORMULAS[3:]
    api.machines[1]["cpu_count"] = -4
    api.changed()
    return api


def test_csv_keeps_formula_cells_exact_by_default(formulas: MaasSimulator, run: Run) -> None:
    out = csv_of(run("get", "machines", "--format", "csv", "--fields", "hostname,cpu_count"))
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert [row[0] for row in rows[1:]] == FORMULAS[:3]


def test_csv_safe_makes_formula_cells_text(formulas: MaasSimulator, run: Run) -> None:
    """OWASP's advice for CSV injection: a leading ' on a cell that starts with =, +, -, @, tab
    or CR; a JSON number stays a number, and other text stays as it is."""
    args = ("get", "machines", "--format", "csv", "--csv-safe", "--fields", "hostname,cpu_count")
    rows = list(csv.reader(io.StringIO(csv_of(run(*args)), newline="")))
    assert rows[0] == ["hostname", "cpu_count"]
    assert [row[0] for row in rows[1:]] == ["'" + text for text in FORMULAS[:3]]
    assert rows[2][1] == "-4"
    tags = csv_of(run(*args[:-1], "system_id,tag_names"))
    rows = list(csv.reader(io.StringIO(tags, newline="")))
    assert rows[1] == ["abc000", "'" + ",".join(FORMULAS[3:])]  # only a cell's start counts


def test_csv_safe_goes_with_csv_only(api: MaasSimulator, run: Run) -> None:
    for other in (["--format", "tsv"], ["-t"], []):
        result = run("get", "machines", *other, "--csv-safe")
        assert result.exit_code == 2
        assert "--csv-safe goes with --format csv" in result.stderr


def test_table_shows_control_characters_visibly(hostile: MaasSimulator, run: Run) -> None:
    out = ok(run("get", "machines", "-t", "--fields", "hostname,system_id"))
    assert "\x1b" not in out and "\r" not in out
    first = out.splitlines()[2]
    assert first.startswith('tab\\there\\nnew "quoted", back\\slash é日本 \\x1b[31mred\\x0d')
    assert first.split()[-1] == "abc000"


@pytest.mark.parametrize("fmt", ["tsv", "csv", "jsonl"])
def test_server_text_in_tsv_csv_and_jsonl_on_a_terminal_is_made_visible(
    hostile: MaasSimulator, home: Path, fmt: str
) -> None:
    """Piped, these formats are the exact text (tests above); on a terminal, an escape
    sequence in a hostname must not reach it (NO_COLOR: any ESC would be the server's)."""
    hostile.machines[1]["hostname"] = "x\x1b]0;owned\x07y\u009bz"
    hostile.changed()
    env = {**env_for_subprocess(home), "TERM": "xterm", "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "maascurl", "get", "machines", "--format", fmt, "--no-pager"]
    out, err, status = on_terminal([*argv, "--fields", "hostname,system_id"], env)
    assert status == 0, err
    text = out.decode()
    assert "\x1b" not in text and "\x07" not in text and "\u009b" not in text
    # JSON escapes C0 controls itself (\u001b), not C1 ones (U+009B, a CSI).
    shown = "x\\u001b]0;owned\\u0007y" if fmt == "jsonl" else "x\\x1b]0;owned\\x07y"
    assert shown + "\\x9bz" in text
    if fmt == "csv":  # its line ends reach the terminal as they are, not as \x0d
        assert "\\x0d\r" not in text and "\\x0d\n" not in text


def test_unicode_in_pipes_is_utf8_whatever_the_locale(hostile: MaasSimulator, home: Path) -> None:
    env = env_for_subprocess(home)
    env.update(LC_ALL="C", LANG="C", PYTHONIOENCODING="ascii")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "maascurl",
            "get",
            "machines",
            "--format",
            "tsv",
            "--fields",
            "hostname",
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "é日本".encode() in done.stdout


# --------------------------------------------------------------- on a terminal


def test_table_on_a_terminal_fits_its_width_in_colour(api: MaasSimulator, home: Path) -> None:
    env = env_for_subprocess(home)
    env.update(TERM="xterm", COLUMNS="60")
    out, err, status = on_terminal(
        [sys.executable, "-m", "maascurl", "get", "machines", "-t", "--no-pager"], env
    )
    assert status == 0, err
    text = out.decode()
    assert "\x1b[1m" in text  # a bold header
    plain = ANSI.sub("", text).splitlines()
    assert max(len(line) for line in plain) <= 60
    assert "columns left out to fit 60 columns" in err  # not wrapped: one line a machine
    assert len(plain) == 2 + 3


def test_terminal_of_unknown_size_counts_as_80_columns(api: MaasSimulator, home: Path) -> None:
    env = env_for_subprocess(home)
    env["TERM"] = "xterm"
    out, err, status = on_terminal(
        [sys.executable, "-m", "maascurl", "get", "machines", "-t", "--no-pager"], env
    )
    assert status == 0, err
    plain = ANSI.sub("", out.decode()).splitlines()
    assert max(len(line) for line in plain) <= 80
    assert "left out to fit 80 columns" in err


def test_no_color_table_has_no_escape_codes(api: MaasSimulator, home: Path) -> None:
    env = env_for_subprocess(home)
    env.update(TERM="xterm", COLUMNS="200", NO_COLOR="1")
    out, err, status = on_terminal(
        [sys.executable, "-m", "maascurl", "get", "machines", "-t", "--no-pager"], env
    )
    assert status == 0, err
    assert b"\x1b" not in out
    assert out.decode().splitlines()[0].split()[:2] == ["hostname", "system_id"]


def test_fields_as_json_on_a_terminal_are_pretty(api: MaasSimulator, home: Path) -> None:
    env = env_for_subprocess(home)
    env["TERM"] = "xterm"
    argv = [sys.executable, "-m", "maascurl", "get", "machines/abc000", "--fields", "hostname"]
    out, err, status = on_terminal([*argv, "--no-pager"], env)
    assert status == 0, err
    assert b"\x1b[" in out
    assert ANSI.sub("", out.decode()) == '{\n  "hostname": "amber-otter"\n}\n'


def test_table_goes_through_the_pager(api: MaasSimulator, home: Path, tmp_path: Path) -> None:
    record = tmp_path / "paged.txt"
    env = env_for_subprocess(home)
    env.update(TERM="xterm", COLUMNS="100", MAASCURL_PAGER=f"tee {record} >/dev/null")
    out, err, status = on_terminal([sys.executable, "-m", "maascurl", "get", "machines", "-t"], env)
    assert status == 0, err
    assert b"abc000" not in out
    assert "abc000" in record.read_text()


# --------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-t", "--format", "csv"), "-t asks for a table but --format says csv"),
        (("--header-row",), "--header-row goes with --format tsv or csv"),
        (("--format", "table", "--header-row"), "--header-row goes with --format tsv or csv"),
        (("--no-header-row", "--json"), "--no-header-row goes with --format tsv or csv"),
        (("--format", "tsv", "--crlf"), "--crlf goes with --format csv"),
        (("-t", "--json"), "--json asks for JSON but -t says table"),
        (("--jq", ".[]", "-t"), "--jq shapes the output itself; drop --format"),
        (("--jq", ".[", "--no-pager"), "--jq: syntax error"),
        (("--header",), "Option '--header' requires an argument"),
        (("--format", "tsv", "--header", "--fields", "x"), "column names is --header-row"),
        (("--fields", "hostname,,owner"), "has an empty field name"),
        (("--sort", "-"), "--sort needs a field name"),
        (("--sort", "status,,hostname"), "--sort 'status,,hostname' needs a field name for each"),
        (("--sort", "status", "--sort", "-"), "--sort '-' needs a field name for each key"),
        (("--format", "xml"), "'xml' is not one of"),
    ],
)
def test_usage_errors(api: MaasSimulator, run: Run, args: tuple[str, ...], message: str) -> None:
    api.requests.clear()
    result = run("get", "machines", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("maascurl: error: ")
    assert result.stdout == ""
    assert api.requests == []  # refused before anything was sent


def test_a_body_that_is_not_json(api: MaasSimulator, run: Run) -> None:
    api.add_file("notes.txt", b"plain text\n")
    result = run("get", "files", "op=get", "filename=notes.txt", "--format", "tsv")
    assert result.exit_code == 1
    assert "the response is not JSON" in result.stderr
    assert result.stdout == ""


def test_json_without_fields_or_sort_is_the_body_as_it_came(api: MaasSimulator, run: Run) -> None:
    body = ok(run("get", "machines", "--format", "json"))
    assert body.encode() == api._machines_json


def test_scalars_and_lists_of_scalars(api: MaasSimulator, run: Run) -> None:
    assert (
        ok(
            run(
                "get",
                "machines",
                "op=is_registered",
                "mac_address=00:11:22:33:44:55",
                "--format",
                "tsv",
            )
        )
        == "false\n"
    )


# --------------------------------------------------------------- TAB completion


def test_completion_of_formats_and_fields(profile: str) -> None:
    assert values("maascurl get machines --format ") == ["json", "jsonl", "table", "tsv", "csv"]
    assert values("maascurl get machines --format t") == ["table", "tsv"]
    assert "zone.name" in values("maascurl get machines --fields ")
    assert values("maascurl get machines --fields hostname,zo") == ["hostname,zone.name"]
    assert values("maascurl get machines --fields=hostname,system_") == [
        "--fields=hostname,system_id"
    ]
    assert values("maascurl get machines/abc --sort sys") == ["system_id"]
    # A word starting with "-" after --sort is its value (a descending sort), not an option.
    assert values("maascurl get machines/abc --sort -sys") == ["-system_id"]
    assert values("maascurl get machines/abc --sort=-sys") == ["--sort=-system_id"]
    assert "-hostname" in values("maascurl get machines --sort -")
    assert "--fields" in values("maascurl get machines --sort hostname -")
    assert "--header" in values("maascurl get machines -k -")
    assert values("maascurl get events op=query --fields lev") == ["level"]
    assert values("maascurl get tags/virtual op=machines --fields pool") == ["pool.name"]
    assert values("maascurl get version --fields ") == []


def test_completing_fields_imports_neither_rich_nor_httpx(profile: str, home: Path) -> None:
    probe = (
        "import json, sys\n"
        "from maascurl.cli import main\n"
        "try:\n    main()\n"
        "finally:\n"
        "    heavy = sorted(m for m in ('httpx', 'rich', 'oauthlib') if m in sys.modules)\n"
        "    print(json.dumps(heavy), file=sys.stderr)\n"
    )
    env = env_for_subprocess(home)
    env.update(
        _MAASCURL_COMPLETE="bash_complete",
        COMP_WORDS="maascurl get machines --fields hostname,zo",
        COMP_CWORD="4",
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "plain,hostname,zone.name\n"
    assert json.loads(done.stderr.splitlines()[-1]) == []


def test_tsv_does_not_import_rich(api: MaasSimulator, home: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "maascurl",
            "get",
            "machines",
            "--format",
            "tsv",
        ],
        env=env_for_subprocess(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "amber-otter" in done.stdout
    assert not re.search(r"\| +rich\b", done.stderr)


# --------------------------------------------------------------- the recipe


def test_the_jq_recipe_in_one_line(api: MaasSimulator, home: Path) -> None:
    """The README's one-liner, through the installed entry point."""
    script = Path(sys.executable).parent / "maascurl"
    done = subprocess.run(
        [str(script), *RECIPE],
        env=env_for_subprocess(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["hostname", "system_id", "status_name"]
    assert [line.split() for line in lines[2:]] == [
        ["amber-otter", "abc000", "Ready"],
        ["brisk-otter", "abc001", "Allocated"],
        ["calm-otter", "abc002", "Deployed"],
    ]


def test_view_is_only_made_when_asked() -> None:
    assert fields.make_view(None, False, None, None) is None
    assert fields.make_view("json", False, None, None) is None
    assert fields.make_view(None, False, None, None, json_=True) is None
    assert fields.make_view(None, True, "a,b", "-a") == View("table", ["a", "b"], ["-a"])
    assert fields.choose_columns(View("tsv", ["x"]), Listing([{}], keys=["k"]), None) == [
        Column("key", "key"),
        Column("x", "x", "x"),
    ]


def test_an_empty_listing(api: MaasSimulator, run: Run) -> None:
    lines = ok(run("get", "files", "prefix=none-such-", "-t")).splitlines()
    assert lines[0].split() == [c.label for c in fields.COLUMNS["files"]]
    assert len(lines) == 2
    assert ok(run("get", "files", "prefix=none-such-", "--format", "tsv")) == ""
    assert (
        csv_of(run("get", "files", "prefix=none-such-", "--format", "csv"))
        == "filename,anon_resource_uri\n"
    )
    assert ok(run("get", "files", "prefix=none-such-", "--format", "jsonl")) == ""
    assert json.loads(ok(run("get", "files", "prefix=none-such-", "--fields", "filename"))) == []


def test_help_man_page_and_readme_show_the_recipe(run: Run) -> None:
    one_line = "maascurl get machines -t --fields hostname,system_id,status_name"
    assert " ".join(RECIPE) in one_line
    root = Path(__file__).resolve().parent.parent
    help_text = ok(run("get", "--help"))
    readme = (root / "README.md").read_text()
    man = (root / "man" / "maascurl.1").read_text().replace("\\-", "-")
    for text in (help_text, readme, man):
        assert one_line in text
        assert "[.hostname, .system_id, .status_name]" in text


def test_a_single_object_of_no_known_resource_shows_all_its_fields(
    api: MaasSimulator, run: Run
) -> None:
    lines = ok(run("get", "version", "-t")).splitlines()
    shown = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(shown) == list(api.version)
    assert shown["capabilities"] == [",".join(api.version["capabilities"])]


def test_table_fits_the_size_the_terminal_reports(api: MaasSimulator, home: Path) -> None:
    """No $COLUMNS: the width comes from the terminal itself (TIOCSWINSZ)."""
    import fcntl
    import select
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 72, 0, 0))
    env = env_for_subprocess(home)
    env["TERM"] = "xterm"
    argv = [sys.executable, "-m", "maascurl", "get", "machines", "-t", "--no-pager"]
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    chunks = []
    while select.select([master], [], [], 30)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    assert "left out to fit 72 columns" in process.stderr.read().decode()
    lines = ANSI.sub("", b"".join(chunks).decode()).splitlines()
    assert len(lines) == 5
    assert max(len(line) for line in lines) <= 72


def test_numbers_are_right_aligned_and_text_left(api: MaasSimulator, run: Run) -> None:
    api.machines[0]["memory"] = 512
    api.changed()
    lines = ok(run("get", "machines", "-t", "--fields", "hostname,memory")).splitlines()
    rows = [line.rstrip() for line in lines[2:]]
    assert rows[0].startswith("amber-otter ") and rows[0].endswith(" 512")
    assert len({len(row) for row in rows}) == 1  # every number ends in the same place


def test_an_op_answering_other_objects_gets_their_own_columns(api: MaasSimulator, run: Run) -> None:
    """op=list_boot_images on a rack controller lists images, not racks: with the racks'
    default columns all but empty, the images' own plain fields are shown instead."""
    out = ok(
        run("get", "rackcontrollers/m6w3b4/", "op=list_boot_images", "--format=tsv", "--header-row")
    )
    rows = tsv_rows(out)
    assert rows[0] == ["name", "architecture"]
    assert len(rows) > 1 and all(len(row) == 2 and row[0] for row in rows[1:])
