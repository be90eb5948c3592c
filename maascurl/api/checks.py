"""Checks of a request against the server's API description, and name help.

An op the description does not have is refused before anything is sent (a
typo would otherwise reach the server as a different call), and so is a
field it does not document when the name looks like a typo of a documented
one (MAAS ignores a field it does not know: `hostnme=web-01` would change
nothing and succeed). Other undocumented fields go unremarked, because
MAAS's docs leave many out; `--no-check` sends anything as typed.

Also here: which parameters MAAS reads as a file part. Stdlib only: TAB
completion imports this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maascurl.errors import UsageError, warn

if TYPE_CHECKING:
    from maascurl.api.apidesc import Action, ApiDescription, Resource
    from maascurl.wire.request import RequestSpec

# Parameters MAAS reads from request.FILES (a file part, `name@=FILE`); every
# other parameter is read from the form fields, where a file part is ignored.
# From src/maasserver/api/: boot_resources, boot_sources, commissioning_scripts,
# files and scripts.
FILE_PARAMS: dict[str, frozenset[str]] = {
    "boot-resources/": frozenset({"content"}),
    "boot-sources/": frozenset({"keyring_data"}),
    "boot-sources/{id}/": frozenset({"keyring_data"}),
    "commissioning-scripts/": frozenset({"content"}),
    "commissioning-scripts/{name}": frozenset({"content"}),
    "files/": frozenset({"file"}),
    "scripts/": frozenset({"script"}),
    "scripts/{name}": frozenset({"script"}),
}

# Ops whose fields are free-form keys: owner data, workload annotations, and the
# parameters of the scripts that commission and test run (`storage=sda`, or with
# the script's name first, `smartctl-validate_storage=sda`).
OPEN_ENDED_OPS = frozenset({"set_owner_data", "set_workload_annotations", "commission", "test"})
# Field prefixes MAAS expands itself: power_parameters_{name} on machines.
OPEN_ENDED_PREFIXES = ("power_parameters_",)


class NotInDescription(UsageError):
    """The cached description lacks this op: it may be older than the server."""


def wants_file_part(template: str, param: str) -> bool:
    return param in FILE_PARAMS.get(template, ())


def check(spec: RequestSpec, desc: ApiDescription, api_root: str, typed: str) -> None:
    """Refuse an op the resource lacks, and a likely typo of a documented field's name."""
    match = desc.match(spec.url[len(api_root) :], op_suffix=False)
    if match is None:
        return  # an unknown resource may be newer than the cached description
    name = typed.partition("?")[0].strip("/") or "the API root"
    resource = match.resource
    action = resource.find_op(spec.method, spec.op)
    if action is None:
        raise NotInDescription(_no_such_op(name, resource, spec.method, spec.op, desc))
    _warn_file_parts(spec, resource, action)
    _refuse_misspelt_fields(spec, name, action)


def _no_such_op(
    name: str, resource: Resource, method: str, op: str | None, desc: ApiDescription
) -> str:
    ops = sorted(a.op for a in resource.actions_for(method) if a.op)
    if op is None:
        listed = f"; its {method} ops: {', '.join(ops)}" if ops else ""
        return f"{name} has no {method} without op={listed}{_REFRESH}"
    other = sorted({a.method for a in resource.actions if a.op == op})
    if other:
        methods = " or ".join(other)
        return f"{name} op={op} is a {methods} op: use `maascurl {other[0].lower()} {name} op={op}`"
    suggestion = suggest_op(desc, resource, method, op)
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return f"{name} has no {method} op {op!r}{hint}{_REFRESH}"


_REFRESH = (
    " (checked against the cached API description: `maascurl refresh` updates it, "
    "--no-check sends the request unchecked, PATH exactly as typed)"
)


def suggest_op(desc: ApiDescription, resource: Resource, method: str, op: str) -> str | None:
    """A close op name; the official CLI's dashed spelling maps to MAAS's underscores."""
    underscored = op.replace("-", "_")
    if underscored != op and underscored in resource.ops_for(method):
        return underscored
    return desc.suggest_op(resource, method, underscored)


def _warn_file_parts(spec: RequestSpec, resource: Resource, action: Action) -> None:
    documented = {param.name for param in action.params}
    for part in spec.files:
        if part.name in documented and not wants_file_part(resource.template, part.name):
            source = part.path or "-"
            warn(
                f"MAAS reads {part.name!r} from a form field and ignores a file part "
                f"under that name: use {part.name}=@{source}"
            )


def _refuse_misspelt_fields(spec: RequestSpec, name: str, action: Action) -> None:
    documented = [param.name for param in action.params]
    if not documented or spec.op in OPEN_ENDED_OPS:
        return
    given = [n for n, _ in spec.query if n != "op"] + [n for n, _ in spec.fields]
    given += [part.name for part in spec.files]
    for unknown in dict.fromkeys(n for n in given if n not in documented):
        if unknown.startswith(OPEN_ENDED_PREFIXES):
            continue
        meant = misspelt(unknown, documented)
        if meant is not None:
            label = f"op={spec.op}" if spec.op else action.name
            raise NotInDescription(
                f"{name} {label} has no field {unknown!r}; did you mean {meant!r}? "
                f"MAAS would ignore it{_REFRESH}"
            )


def misspelt(name: str, documented: list[str]) -> str | None:
    """The documented name NAME is most likely a typo of, or None.

    Alike as difflib sees it, and not a documented name with words added or
    left out (`not_hostname` and `not_in_zone` are filters of their own).
    """
    import difflib

    words = set(name.split("_"))
    for close in difflib.get_close_matches(name, documented, n=3, cutoff=0.75):
        others = set(close.split("_"))
        if not (words < others or others < words):
            return close
    return None
