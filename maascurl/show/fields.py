"""Choosing what to show of a response: rows, columns, cell text and order.

Pure functions over parsed JSON (no rich, no httpx), shared by the writers in
table.py and by TAB completion of --fields. The default columns of the
resources people list most are data in COLUMNS below: add a resource there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

# Tried in this order to show an object inside a cell by one of its values.
NAME_KEYS = ("name", "hostname", "fqdn", "system_id", "id")

KEY_COLUMN = "key"  # the column that holds the keys of a dict of objects


class Column(NamedTuple):
    path: str  # dotted path into each object
    label: str  # the table's header
    name: str = ""  # as given to --fields (a header stands for its path): TSV, CSV, JSON keys


def _columns(*specs: str) -> tuple[Column, ...]:
    """'status_name:status' is the path status_name headed "status"; 'owner' heads itself."""
    return tuple(Column(*spec.split(":")) if ":" in spec else Column(spec, spec) for spec in specs)


_NODE = ("hostname", "system_id")
_CONTROLLER = _columns(
    *_NODE,
    "node_type_name:type",
    "version",
    "power_state:power",
    "cpu_count:cores",
    "memory",
    "architecture:arch",
    "zone.name:zone",
    "ip_addresses:IPs",
)

# Default columns by the resource's name in the URL (machines/, fabrics/1/vlans/,
# account/prefs/sshkeys/). The field names are those MAAS sends.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "machines": _columns(
        *_NODE,
        "status_name:status",
        "owner",
        "power_state:power",
        "cpu_count:cores",
        "memory",
        "architecture:arch",
        "zone.name:zone",
        "pool.name:pool",
        "ip_addresses:IPs",
    ),
    "nodes": _columns(
        *_NODE,
        "node_type_name:type",
        "status_name:status",
        "owner",
        "zone.name:zone",
        "ip_addresses:IPs",
    ),
    "devices": _columns(
        *_NODE,
        "owner",
        "parent",
        "domain.name:domain",
        "zone.name:zone",
        "ip_addresses:IPs",
        "tag_names:tags",
    ),
    "regioncontrollers": _CONTROLLER,
    "rackcontrollers": _CONTROLLER,
    "subnets": _columns(
        "id",
        "name",
        "cidr",
        "gateway_ip:gateway",
        "vlan.fabric:fabric",
        "vlan.vid:vid",
        "space",
        "managed",
        "dns_servers",
    ),
    "vlans": _columns(
        "id",
        "fabric",
        "vid",
        "name",
        "mtu",
        "dhcp_on:dhcp",
        "space",
        "primary_rack",
        "secondary_rack",
    ),
    "fabrics": _columns("id", "name", "class_type:class", "vlans.vid:vlans"),
    "spaces": _columns("id", "name", "subnets.cidr:subnets", "vlans.vid:vlans"),
    "zones": _columns("id", "name", "description"),
    "resourcepools": _columns("id", "name", "description"),
    "tags": _columns("name", "definition", "comment", "kernel_opts"),
    "users": _columns("username", "email", "is_superuser:admin", "is_local:local"),
    "boot-resources": _columns("id", "name", "architecture:arch", "type", "subarches"),
    "events": _columns(
        "id", "created", "hostname", "node", "level", "type", "description", "username"
    ),
    "ipaddresses": _columns(
        "ip",
        "alloc_type_name:type",
        "owner.username:owner",
        "subnet.cidr:subnet",
        "interface_set",
        "created",
    ),
    "dnsresources": _columns("id", "fqdn", "address_ttl:ttl", "ip_addresses.ip:IPs"),
    "domains": _columns(
        "id",
        "name",
        "authoritative",
        "is_default:default",
        "ttl",
        "resource_record_count:records",
    ),
    "sshkeys": _columns("id", "keysource", "key"),
    "sslkeys": _columns("id", "key"),
    "files": _columns("filename", "anon_resource_uri"),
    # A node's hardware and its results (nodes/ID/interfaces/, nodes/ID/blockdevices/, ...).
    "interfaces": _columns(
        "id",
        "name",
        "type",
        "mac_address:MAC",
        "vlan.fabric:fabric",
        "vlan.vid:vid",
        "links.ip_address:IPs",
        "effective_mtu:mtu",
        "enabled",
        "parents",
    ),
    "blockdevices": _columns(
        "id",
        "name",
        "type",
        "size",
        "used_for",
        "model",
        "serial",
        "tags",
    ),
    "partitions": _columns(
        "id",
        "path",
        "size",
        "filesystem.fstype:fs",
        "filesystem.mount_point:mount",
        "used_for",
    ),
    "volume-groups": _columns(
        "id", "name", "human_size:size", "human_used_size:used", "human_available_size:free"
    ),
    "raids": _columns("id", "name", "level", "human_size:size", "human_available_size:free"),
    "bcaches": _columns(
        "id", "name", "cache_mode", "human_size:size", "backing_device.name:backing"
    ),
    "results": _columns(
        "id", "type_name:type", "status_name:status", "started", "ended", "runtime"
    ),
    "installation-results": _columns(
        "id", "node.system_id:node", "name", "result_type:type", "script_result:result", "created"
    ),
    "scripts": _columns(
        "id",
        "name",
        "type_name:type",
        "hardware_type_name:hardware",
        "tags",
        "timeout",
        "destructive",
        "title",
    ),
    # Networking beyond subnets and VLANs.
    "ipranges": _columns(
        "id",
        "type",
        "start_ip:start",
        "end_ip:end",
        "subnet.cidr:subnet",
        "user.username:user",
        "comment",
    ),
    "reservedips": _columns("id", "ip", "mac_address:MAC", "subnet.cidr:subnet", "comment"),
    "static-routes": _columns(
        "id", "source.cidr:source", "destination.cidr:destination", "gateway_ip:gateway", "metric"
    ),
    "discovery": _columns(
        "ip",
        "mac_address:MAC",
        "hostname",
        "fabric_name:fabric",
        "vid",
        "mac_organization:vendor",
        "last_seen",
    ),
    "dnsresourcerecords": _columns("id", "fqdn", "rrtype:type", "rrdata:data", "ttl"),
    "dhcp-snippets": _columns(
        "id", "name", "enabled", "node", "subnet", "global_snippet:global", "description"
    ),
    # The region's own settings and services.
    "package-repositories": _columns("id", "name", "url", "enabled", "distributions", "components"),
    "boot-sources": _columns("id", "url", "keyring_filename:keyring", "created"),
    "selections": _columns("id", "os", "release", "arches", "subarches", "labels"),
    "notifications": _columns("id", "category", "ident", "user", "users", "admins", "message"),
    "vm-hosts": _columns(
        "id",
        "name",
        "type",
        "zone.name:zone",
        "pool.name:pool",
        "total.cores:cores",
        "total.memory:memory",
        "tags",
    ),
    "license-keys": _columns("osystem", "distro_series"),
}
COLUMNS["commissioning-results"] = COLUMNS["installation-results"]
COLUMNS["pods"] = COLUMNS["vm-hosts"]

# More fields worth offering at TAB for --fields, beyond the default columns.
MORE_FIELDS: dict[str, tuple[str, ...]] = {
    "machines": (
        "fqdn",
        "status",
        "osystem",
        "distro_series",
        "power_type",
        "tag_names",
        "domain.name",
        "boot_interface.mac_address",
        "interface_set.name",
        "interface_set.0.name",
        "storage",
        "description",
        "locked",
    ),
    "devices": ("fqdn", "interface_set.name", "interface_set.0.mac_address", "description"),
    "subnets": ("vlan.name", "vlan.id", "allow_dns", "allow_proxy", "active_discovery"),
}

# Other names of the same resources: singular paths and the op names that list them
# (tags/NAME/?op=machines, op=rack_controllers).
ALIASES = {
    "resourcepool": "resourcepools",
    "rack_controllers": "rackcontrollers",
    "region_controllers": "regioncontrollers",
}

_API_MARK = "/api/2.0/"


@dataclass
class View:
    """What the user asked to see: --format, --fields, --sort, --header-row, --crlf, --jq."""

    format: str = "json"
    fields: list[str] | None = None
    sort: list[str] | None = None  # keys, first the most significant; "-name" descending
    header: bool | None = None  # --header-row/--no-header-row (None: TSV none, CSV one)
    crlf: bool = False  # CSV's lines end in CRLF (RFC 4180) rather than LF
    jq: Any = None  # --jq: the compiled program (show/jq.py)
    csv_safe: bool = False  # --csv-safe: cells a spreadsheet would run as formulas start with '

    @property
    def header_row(self) -> bool:
        """Whether TSV or CSV starts with a line of column names."""
        return self.header if self.header is not None else self.format == "csv"


@dataclass
class Listing:
    """A response's rows, whatever its shape.

    rows are the objects of a list, of a wrapped listing (the `events` of
    `events op=query`), of a dict keyed by system ID (then `keys` holds the
    keys), or the one object of a single-object answer (`single`).
    """

    rows: list[Any]
    keys: list[str] | None = None
    single: bool = False
    wrapped_key: str | None = None  # which member held the rows


def parse_fields(text: str) -> list[str]:
    """'hostname, zone.name' -> ['hostname', 'zone.name']; an empty name is an error."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(f"--fields {text!r} has an empty field name")
    return names


# --------------------------------------------------------------- resources


def resource_of(path: str, op: str | None = None) -> str | None:
    """The COLUMNS name for a request PATH (relative, absolute or a URL) and its op.

    Segments alternate between collection and ID (fabrics/1/vlans/5), except
    in account/prefs/sshkeys; an op that names a listing wins (tags/x op=machines).
    """
    if op is not None and _known(op):
        return _known(op)
    marker = path.find(_API_MARK)
    rest = path[marker + len(_API_MARK) :] if marker >= 0 else path
    found, skip = None, False
    for segment in rest.split("?", 1)[0].split("/"):
        if not segment or skip:
            skip = False
            continue
        if segment.startswith("op-"):
            return _known(segment[3:]) or found
        found = _known(segment)
        skip = segment not in ("account", "prefs")
    return found


def _known(name: str) -> str | None:
    name = ALIASES.get(name, name)
    return name if name in COLUMNS else None


def field_names(resource: str | None) -> list[str]:
    """Field paths to offer at TAB for --fields on RESOURCE."""
    if resource is None or resource not in COLUMNS:
        return []
    names = [column.path for column in COLUMNS[resource]]
    return list(dict.fromkeys(names + list(MORE_FIELDS.get(resource, ()))))


def field_path(name: str, resource: str | None) -> str:
    """The path a --fields or --sort NAME means: a default column's header stands for the
    values shown under it (machines' `status` is status_name, `cores` cpu_count)."""
    for column in COLUMNS.get(resource or "", ()):
        if column.label == name:
            return column.path
    return name


# --------------------------------------------------------------- shapes


def find_listing(data: Any) -> Listing:
    """Tell a list, a wrapped listing, a dict keyed by ID and a single object apart."""
    if isinstance(data, list):
        return Listing(data)
    if not isinstance(data, dict) or not data:
        return Listing([data], single=True)
    if "resource_uri" not in data:
        wrapped = _wrapped_key(data)
        if wrapped is not None:
            return Listing(data[wrapped], wrapped_key=wrapped)
        if all(isinstance(value, dict) for value in data.values()):
            return Listing(list(data.values()), keys=list(data))
    return Listing([data], single=True)


def _wrapped_key(data: dict[str, Any]) -> str | None:
    """The member holding a list of objects when all the others are plain values."""
    lists = [key for key, value in data.items() if isinstance(value, list)]
    if len(lists) != 1 or not all(isinstance(item, dict) for item in data[lists[0]]):
        return None
    others = (value for key, value in data.items() if key != lists[0])
    return lists[0] if all(not isinstance(value, (dict, list)) for value in others) else None


# --------------------------------------------------------------- values


def get_path(value: Any, path: str) -> Any:
    """The value at a dotted PATH: zone.name, interface_set.0.name, interface_set.name.

    A number indexes a list; a name applied to a list is taken from each of
    its items. Anything missing is None.
    """
    for i, part in enumerate(path.split(".")):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list):
            if part.lstrip("-").isdigit():
                index = int(part)
                value = value[index] if -len(value) <= index < len(value) else None
            else:
                rest = ".".join(path.split(".")[i:])
                return [get_path(item, rest) for item in value]
        else:
            return None
    return value


def cell(value: Any) -> str:
    """One value as cell text: null empty, lists comma-joined, objects by their name."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return ",".join(cell(item) for item in value)
        if all(isinstance(item, dict) and _name_of(item) is not None for item in value):
            return ",".join(cell(_name_of(item)) for item in value)
    elif isinstance(value, dict):
        name = _name_of(value)
        if name is not None:
            return cell(name)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _name_of(obj: dict[str, Any]) -> Any:
    for key in NAME_KEYS:
        value = obj.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            return value
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------- columns


def choose_columns(view: View, listing: Listing, resource: str | None) -> list[Column]:
    """--fields as given, else the resource's defaults, else the top-level plain fields."""
    if view.fields is not None:
        columns = [Column(field_path(name, resource), name, name) for name in view.fields]
    elif listing.single and resource not in COLUMNS and isinstance(listing.rows[0], dict):
        columns = [Column(name, name) for name in listing.rows[0]]  # one object: all of it
    else:
        columns = default_columns(resource, listing.rows)
    if listing.keys is not None and all(c.path != KEY_COLUMN for c in columns):
        columns.insert(0, Column(KEY_COLUMN, KEY_COLUMN))
    return columns


def default_columns(resource: str | None, rows: Sequence[Any]) -> list[Column]:
    objects = [row for row in rows[:50] if isinstance(row, dict)]
    known = COLUMNS.get(resource or "")
    if not objects:
        if known and not rows:
            return list(known)  # an empty listing: its header still says what it lists
        return [Column("", "value")] if rows else []  # scalars: the row itself
    if known and _fits(known, objects):
        return list(known)
    return scalar_columns(objects)


def _fits(columns: Iterable[Column], objects: list[dict[str, Any]]) -> bool:
    """Do most of the default columns exist in these objects (an op may answer otherwise)?"""
    roots = {column.path.split(".")[0] for column in columns}
    present = {key for obj in objects for key in obj}
    return len(roots & present) * 2 > len(roots)


def scalar_columns(objects: list[dict[str, Any]]) -> list[Column]:
    """The top-level fields whose values are not objects or lists, in the order seen."""
    names: dict[str, bool] = {}
    for obj in objects:
        for key, value in obj.items():
            plain = not isinstance(value, (dict, list))
            names[key] = names.get(key, plain) and plain
    return [Column(name, name) for name, plain in names.items() if plain]


def row_keys(listing: Listing) -> list[str | None]:
    """Each row's key in a dict keyed by ID, else None for each."""
    if listing.keys is not None:
        return list(listing.keys)
    return [None] * len(listing.rows)


def row_value(row: Any, key: str | None, path: str) -> Any:
    """The value of column PATH in ROW (KEY: its key in a keyed dict)."""
    if path == KEY_COLUMN and key is not None:
        return key
    if path == "":
        return row
    return get_path(row, path)


def missing_fields(paths: Iterable[str], listing: Listing) -> list[str]:
    """The paths whose first name no object has (a typo, most likely)."""
    objects = [row for row in listing.rows if isinstance(row, dict)]
    if not objects:
        return []
    present = {key for obj in objects for key in obj}
    if listing.keys is not None:
        present.add(KEY_COLUMN)
    return [path for path in paths if path and path.split(".")[0] not in present]


# --------------------------------------------------------------- order


_DIGITS = re.compile(r"([0-9]+)")
# A size or a number written as text: 12, 12.5, 8G, 1.5 GiB, 512MB, 40 kB.
_SIZE = r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:([kKMGTPE])(i?)[bB]?|[bB])?$"
_SIZE_POWER = {"k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
# MAAS's timestamps: events' "Fri, 04 Dec. 2020 10:00:00", RFC 2822's
# "Thu, 06 Dec 2018 20:41:47 -0000", and ISO 8601's "2018-12-04T18:11:31.894".
_DAY_MONTH_YEAR = (
    r"^(?:[A-Za-z]{3},\s*)?(\d{1,2}) ([A-Za-z]{3})\.? (\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*(?:([+-])(\d{2}):?(\d{2})|GMT|UTC|Z))?$"
)
_ISO = (
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:Z|([+-])(\d{2}):?(\d{2}))?$"
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def natural_key(value: Any) -> tuple[Any, ...]:
    """Numbers by value, text by its parts: node-2 before node-10, case ignored."""
    if is_number(value):
        return (0, value)
    parts = _DIGITS.split(cell(value).casefold())
    # split() puts text at even and digits at odd positions, so like meets like.
    return (2, tuple(_by_value(part) if i % 2 else part for i, part in enumerate(parts)))


def _by_value(digits: str) -> tuple[int, str]:
    """Digits ordered by their value without int(), which refuses thousands of them:
    fewer significant digits first, then the digits themselves."""
    significant = digits.lstrip("0")
    return len(significant), significant


def as_number(value: Any) -> float | None:
    """A number, or text that is one or a size (`8G`, `1.5 GiB`, `512MB`); else None."""
    if is_number(value):
        return float(value)
    if not isinstance(value, str):
        return None
    m = re.match(_SIZE, value.strip())
    if m is None:
        return None
    number = float(m.group(1))
    if m.group(2):
        number *= (1024 if m.group(3) else 1000) ** _SIZE_POWER[m.group(2)]
    return number


def as_time(value: Any) -> float | None:
    """Seconds since the epoch for one of MAAS's timestamps (no zone: UTC); else None."""
    from datetime import datetime, timedelta, timezone

    if not isinstance(value, str):
        return None
    text = value.strip()
    m = re.match(_DAY_MONTH_YEAR, text)
    if m is not None:
        day, month_name, year, hour, minute, second, sign, zh, zm = m.groups()
        month = month_name.casefold()
        if month not in _MONTHS:
            return None
        parts = (int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute))
        fraction = 0.0
    else:
        m = re.match(_ISO, text)
        if m is None:
            return None
        year, month, day, hour, minute, second, digits, sign, zh, zm = m.groups()
        parts = (int(year), int(month), int(day), int(hour or 0), int(minute or 0))
        fraction = float("0." + digits) if digits else 0.0
    try:
        moment = datetime(*parts, int(second or 0), tzinfo=timezone.utc)
    except ValueError:  # 31 Feb., 25:00
        return None
    if sign:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        moment -= offset if sign == "+" else -offset
    return moment.timestamp() + fraction


def sort_keys(values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Keys that order VALUES (one column's, none missing) by what they are.

    A column whose every value is a number or a size compares as numbers, one
    whose every value is a timestamp as times; any other in natural order.
    Deciding per column keeps a host named `4k` among the other names.
    """
    numbers = [as_number(value) for value in values]
    if all(number is not None for number in numbers):
        return [(0, number) for number in numbers]
    times = [as_time(value) for value in values]
    if all(moment is not None for moment in times):
        return [(1, moment) for moment in times]
    return [natural_key(value) for value in values]


def parse_sort(specs: Sequence[str]) -> list[str]:
    """--sort values (each may hold several, comma-separated) as one list of keys."""
    keys: list[str] = []
    for spec in specs:
        for name in spec.split(","):
            name = name.strip()
            if name.lstrip("-") == "":
                raise ValueError(f"--sort {spec!r} needs a field name for each key")
            keys.append(name)
    return keys


def sort_listing(listing: Listing, spec: str | Sequence[str], resource: str | None = None) -> None:
    """Order the rows by SPEC: keys, most significant first ('-path' descending).

    Rows without a key's value go last for that key. A default column's
    header stands for the path shown under it (see field_path).
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    pairs = list(zip(listing.rows, row_keys(listing), strict=True))
    for key_spec in reversed(specs):  # stable sorts, least significant first
        descending = key_spec.startswith("-")
        path = field_path(key_spec[1:] if descending else key_spec, resource)
        values = [row_value(row, key, path) for row, key in pairs]
        present = [(v, p) for v, p in zip(values, pairs, strict=True) if v not in (None, "", [])]
        absent = [p for v, p in zip(values, pairs, strict=True) if v in (None, "", [])]
        keys = sort_keys([v for v, _ in present])
        order = sorted(range(len(present)), key=keys.__getitem__, reverse=descending)
        pairs = [present[i][1] for i in order] + absent
    listing.rows = [row for row, _ in pairs]
    if listing.keys is not None:
        listing.keys = [key for _, key in pairs if key is not None]


def selected(row: Any, key: str | None, columns: Sequence[Column]) -> dict[str, Any]:
    """ROW reduced to COLUMNS, as an object keyed by the names given."""
    return {
        column.name or column.path or "value": row_value(row, key, column.path)
        for column in columns
    }


# --------------------------------------------------------------- options


def make_view(
    format_: str | None,
    table: bool,
    fields: str | tuple[str, ...] | None,
    sort: str | tuple[str, ...] | None,
    header: bool | None = None,
    crlf: bool = False,
    json_: bool = False,
    jq: str | None = None,
    csv_safe: bool = False,
) -> View | None:
    """The View for these options, or None for today's output (the body as it came)."""
    from maascurl.errors import UsageError

    chosen = _chosen_format(format_, table, json_)
    if header is not None and chosen not in ("tsv", "csv"):
        flag = "--header-row" if header else "--no-header-row"
        raise UsageError(f"{flag} goes with --format tsv or csv")
    if crlf and chosen != "csv":
        raise UsageError("--crlf goes with --format csv")
    if csv_safe and chosen != "csv":
        raise UsageError("--csv-safe goes with --format csv")
    # Given more than once, --fields and --sort add up: nothing given is dropped.
    fields = ",".join(fields) or None if isinstance(fields, tuple) else fields
    sorts = (sort,) if isinstance(sort, str) else tuple(sort or ())
    if len(sorts) == 1 and sorts[0].lstrip("-") == "":
        raise UsageError("--sort needs a field name")
    try:
        names = parse_fields(fields) if fields is not None else None
        keys = parse_sort(sorts) or None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if jq is not None:
        shaped = [
            flag
            for flag, given in (("--format", chosen), ("--fields", names), ("--sort", keys))
            if given is not None
        ]
        if shaped:
            raise UsageError(f"--jq shapes the output itself; drop {', '.join(shaped)}")
        from maascurl.show.jq import compile_jq

        return View("json", jq=compile_jq(jq))
    if chosen in (None, "json") and names is None and keys is None:
        return None
    return View(chosen or "json", names, keys, header, crlf, csv_safe=csv_safe)


def view_of_many(view: View | None, formatted: bool) -> View | None:
    """The view for many answers (a fleet's lines, events): there --format json (or --json)
    alone asks for one JSON document, not for the JSON Lines they are by default."""
    return view if view is not None or not formatted else View("json")


def _chosen_format(format_: str | None, table: bool, json_: bool) -> str | None:
    """--format, -t (table) and --json (json) as one format; two that disagree are an error."""
    from maascurl.errors import UsageError

    chosen, by = format_, "--format"
    for flag, name, given in (("-t", "table", table), ("--json", "json", json_)):
        if not given:
            continue
        if chosen not in (None, name):
            what = "a table" if name == "table" else "JSON"
            raise UsageError(f"{flag} asks for {what} but {by} says {chosen}")
        chosen, by = name, flag
    return chosen


def op_of(items: Iterable[str]) -> str | None:
    """The op=NAME among request items, the last one winning."""
    op = None
    for item in items:
        if item.startswith("op="):
            op = item[3:]
    return op


def complete_fields(path: str, op: str | None, incomplete: str, *, many: bool) -> list[str]:
    """TAB candidates for --fields (MANY) or --sort (each key with an optional '-');
    both take several names, comma-separated."""
    return complete_names(field_names(resource_of(path, op)), incomplete, many=many)


def complete_names(names: list[str], incomplete: str, *, many: bool) -> list[str]:
    """NAMES continuing INCOMPLETE, comma-separated: for --fields (MANY) or --sort (each
    with an optional '-')."""
    head, _, last = incomplete.rpartition(",")
    chosen = {name.lstrip("-") for name in head.split(",")} if head else set()
    prefix = head + "," if head else ""
    sign = "-" if not many and last.startswith("-") else ""
    return [prefix + sign + n for n in names if (sign + n).startswith(last) and n not in chosen]
