"""The simulator follows MAAS's rules where a script would notice: listing filters,
machine states and their transitions, locks, VLAN routes, deterministic data.

Plain HTTP with a signed header (test_simulator.call), not maascurl.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Spawn
from simulator import MaasSimulator
from test_simulator import call


@pytest.fixture
def sim() -> Iterator[MaasSimulator]:
    with MaasSimulator() as server:
        yield server


def ids(sim: MaasSimulator, path: str, api_key: str | None = None) -> list[str]:
    response = call(sim, "GET", path, api_key)
    assert response.status_code == 200, response.text
    return [node["system_id"] for node in response.json()]


def machine(sim: MaasSimulator, system_id: str) -> dict[str, object]:
    return next(m for m in sim.machines if m["system_id"] == system_id)


# ---------------------------------------------------------------- listing filters


def test_status_filter_takes_maas_lower_case_names(sim: MaasSimulator) -> None:
    # The default fleet: abc000 Ready, abc001 Allocated, abc002 Deployed.
    assert ids(sim, "machines/?status=deployed") == ["abc002"]
    assert ids(sim, "machines/?status=ready") == ["abc000"]
    assert ids(sim, "machines/?status=allocated") == ["abc001"]
    assert ids(sim, "machines/?status==ready") == ["abc000"]  # a leading "=" is dropped
    assert ids(sim, "machines/?not_status=ready") == ["abc001", "abc002"]
    label = call(sim, "GET", "machines/?status=Deployed")
    assert label.status_code == 400
    assert label.json() == {
        "status": ["Select a valid choice. Deployed is not one of the available choices."]
    }


def test_values_of_one_name_are_alternatives_names_must_all_match(sim: MaasSimulator) -> None:
    assert ids(sim, "machines/?status=ready&status=deployed") == ["abc000", "abc002"]
    both = "machines/?hostname=amber-otter&hostname=calm-otter&status=deployed"
    assert ids(sim, both) == ["abc002"]  # calm-otter is abc002
    assert ids(sim, "machines/?id=abc000&id=abc001&status=allocated") == ["abc001"]
    assert ids(sim, "machines/?id=abc000&hostname=brisk-otter") == []


def test_hostname_is_the_short_name_not_the_fqdn(sim: MaasSimulator) -> None:
    assert ids(sim, "machines/?hostname=brisk-otter") == ["abc001"]
    assert ids(sim, "machines/?hostname=brisk-otter.maas") == []
    assert ids(sim, "machines/?domain=maas") == ["abc000", "abc001", "abc002"]
    assert ids(sim, "machines/?not_domain=maas") == []


def test_zone_pool_and_owner_must_exist(sim: MaasSimulator) -> None:
    assert ids(sim, "machines/?zone=zone-north") == ["abc000", "abc001", "abc002"]
    assert ids(sim, "machines/?zone=default") == []
    assert ids(sim, "machines/?pool=default&owner=admin") == ["abc001"]
    assert ids(sim, "machines/?not_owner=admin") == ["abc000", "abc002"]
    cases = {
        "zone=nowhere&zone=elsewhere": {"zone": ["No such zone(s): elsewhere, nowhere."]},
        "not_in_zone=nowhere": {"not_in_zone": ["No such zone(s): nowhere."]},
        "pool=web": {"pool": ["No such pool(s): web."]},
        "owner=zed": {"owner": ["No such owner: 'zed'."]},
    }
    for query, errors in cases.items():
        response = call(sim, "GET", f"machines/?{query}")
        assert (response.status_code, response.json()) == (400, errors), query


def test_a_node_must_carry_every_tag_asked_for(sim: MaasSimulator) -> None:
    sim.tags["fast"] = {"name": "fast"}
    machine(sim, "abc002")["tag_names"] = ["virtual", "fast"]
    sim.changed()
    assert ids(sim, "machines/?tags=virtual") == ["abc000", "abc002"]
    assert ids(sim, "machines/?tags=virtual&tags=fast") == ["abc002"]
    assert ids(sim, "machines/?tags=virtual,fast") == ["abc002"]  # MAAS's older comma form
    assert ids(sim, "machines/?not_tags=fast") == ["abc000", "abc001"]
    unknown = call(sim, "GET", "machines/?tags=virtual&tags=gpu")
    assert unknown.status_code == 400
    assert unknown.json() == {"tags": ["No such tag(s): 'gpu'."]}


def test_mac_address_architecture_power_state_and_numbers(sim: MaasSimulator) -> None:
    mac = machine(sim, "abc001")["interface_set"][0]["mac_address"]  # type: ignore[index]
    assert ids(sim, f"machines/?mac_address={mac.upper()}") == ["abc001"]
    bad = call(sim, "GET", "machines/?mac_address=00:11")
    assert bad.json() == {"mac_address": ["'00:11' is not a valid MAC address."]}
    assert ids(sim, "machines/?arch=i386") == ["abc000", "abc001", "abc002"]  # i386/*
    assert ids(sim, "machines/?arch=amd64/generic") == []
    arch = call(sim, "GET", "machines/?arch=sparc")
    assert arch.json() == {"arch": ["Architecture not recognised."]}
    machine(sim, "abc002")["power_state"] = "on"
    assert ids(sim, "machines/?power_state=on") == ["abc002"]
    assert ids(sim, "machines/?cpu_count=7&mem=8192") == ["abc000", "abc001", "abc002"]
    assert ids(sim, "machines/?cpu_count=8") == []
    count = call(sim, "GET", "machines/?cpu_count=many")
    assert count.json() == {"cpu_count": ["Invalid CPU count: number required."]}


def test_simple_status_groups_statuses(sim: MaasSimulator) -> None:
    machine(sim, "abc000").update(status=11, status_name="Failed deployment")
    machine(sim, "abc001").update(status=2, status_name="Failed commissioning")
    assert ids(sim, "machines/?simple_status=failed") == ["abc000", "abc001"]
    assert ids(sim, "machines/?not_simple_status=failed") == ["abc002"]


def test_an_unknown_filter_is_refused_as_maas_does(sim: MaasSimulator) -> None:
    response = call(sim, "GET", "machines/?hostnme=amber-otter&status=ready")
    assert response.status_code == 400
    assert response.json() == {"hostnme": ["No such constraint."]}
    # op and the parameters MAAS ignores are no filters
    assert ids(sim, "machines/?op=&comment=x") == ["abc000", "abc001", "abc002"]
    assert ids(sim, "machines/?agent_name=juju") == []  # no machine was allocated with one


def test_nodes_and_devices_take_the_same_filters(sim: MaasSimulator) -> None:
    assert ids(sim, "nodes/?status=deployed") == ["abc002"]
    assert ids(sim, "devices/") == ["kas8m6"]
    assert ids(sim, "devices/?hostname=moral-buck&owner=admin") == ["kas8m6"]
    assert ids(sim, "devices/?mac_address=00:00:00:00:00:00") == ["kas8m6"]
    assert ids(sim, "devices/?zone=zone-north") == []
    assert call(sim, "GET", "devices/?status=sold").status_code == 400


def test_others_see_free_machines_and_their_own(sim: MaasSimulator) -> None:
    bob = sim.add_user("bob")
    assert ids(sim, "machines/", bob) == ["abc000"]  # abc001 is admin's, abc002 user2's
    machine(sim, "abc002")["owner"] = "bob"
    assert ids(sim, "machines/?status=deployed", bob) == ["abc002"]


def test_allocate_takes_the_acquire_filters_and_says_what_it_could_not_match(
    sim: MaasSimulator,
) -> None:
    none = call(
        sim, "POST", "machines/?op=allocate", data={"zone": "zone-north", "cpu_count": "64"}
    )
    assert none.status_code == 409
    assert none.text == (
        "No available machine matches constraints: [('zone', ['zone-north']), "
        "('cpu_count', ['64'])] (resolved to \"cpu_count=64.0 zone=zone-north\")"
    )
    named = call(sim, "POST", "machines/?op=allocate", data={"system_id": "abc002"})
    assert named.text == "No machine with system ID abc002 available."
    status = call(sim, "POST", "machines/?op=allocate", data={"status": "ready"})
    assert (status.status_code, status.json()) == (400, {"status": ["No such constraint."]})
    dry = call(sim, "POST", "machines/?op=allocate", data={"name": "amber-otter", "dry_run": "1"})
    assert (dry.json()["system_id"], dry.json()["status_name"]) == ("abc000", "Ready")
    got = call(sim, "POST", "machines/?op=allocate", data={"name": "amber-otter.maas"})
    assert (got.json()["status_name"], got.json()["owner"]) == ("Allocated", "admin")
    empty = call(sim, "POST", "machines/?op=allocate", data={"comment": "any"})
    assert (empty.status_code, empty.text) == (409, "No machine available.")


# ------------------------------------------------------- VLANs and other undescribed routes


def test_a_vlan_is_served_at_its_resource_uri(sim: MaasSimulator) -> None:
    """vlans/{id}/ is not in MAAS's API description, yet every VLAN's resource_uri."""
    fabric = call(sim, "GET", "fabrics/2/").json()
    tagged = fabric["vlans"][1]
    assert tagged["resource_uri"] == "/MAAS/api/2.0/vlans/5006/"
    by_id = call(sim, "GET", "vlans/5006/")
    assert by_id.status_code == 200
    assert by_id.json() == tagged
    by_vid = call(sim, "GET", "fabrics/2/vlans/567/")
    assert by_vid.json() == tagged
    assert call(sim, "GET", "fabrics/fabric-2/vlans/untagged/").json()["id"] == 5005
    assert [v["id"] for v in call(sim, "GET", "fabrics/2/vlans/").json()] == [5005, 5006]
    missing = call(sim, "GET", "vlans/1/")
    assert (missing.status_code, missing.text) == (404, "VLAN with specified ID does not exist.")
    no_fabric = call(sim, "GET", "fabrics/99/vlans/")
    assert (no_fabric.status_code, no_fabric.text) == (404, "No Fabric matches the given query.")
    no_vid = call(sim, "GET", "fabrics/2/vlans/7/")
    assert (no_vid.status_code, no_vid.text) == (404, "No VLAN matches the given query.")
    # the id route is not described, and serves no op the description lacks
    assert call(sim, "POST", "vlans/5006/").status_code == 400


def test_a_vlan_is_updated_and_deleted_by_its_id(sim: MaasSimulator) -> None:
    updated = call(sim, "PUT", "vlans/5006/", data={"mtu": "9000", "name": "storage"})
    assert updated.status_code == 200
    assert (updated.json()["mtu"], updated.json()["name"]) == (9000, "storage")
    assert call(sim, "GET", "fabrics/2/vlans/storage/").json()["mtu"] == 9000
    described = call(sim, "PUT", "vlans/5006/", data={"description": "backups"})
    assert "description" not in described.json()  # stored, not shown, as in MAAS 3.4
    too_big = call(sim, "PUT", "vlans/5006/", data={"mtu": "70000"})
    assert too_big.status_code == 400
    assert too_big.json() == {"mtu": ["MTU must be between 552 and 65535."]}
    default = call(sim, "PUT", "vlans/5005/", data={"name": "main"})
    assert default.json()["name"] == "untagged"  # a fabric's default VLAN keeps its name
    refused = call(sim, "DELETE", "vlans/5005/")
    assert (refused.status_code, refused.text) == (
        400,
        "This VLAN is the default VLAN in the fabric, it cannot be deleted.",
    )
    assert call(sim, "DELETE", "vlans/5006/").status_code == 204
    assert call(sim, "GET", "vlans/5006/").status_code == 404
    bob = sim.add_user("bob")
    assert call(sim, "PUT", "vlans/5005/", bob, data={"mtu": "9000"}).status_code == 403


def test_a_vlan_is_created_on_a_fabric(sim: MaasSimulator) -> None:
    made = call(sim, "POST", "fabrics/2/vlans/", data={"vid": "100", "mtu": "9000"})
    assert made.status_code == 200
    vlan = made.json()
    assert (vlan["vid"], vlan["name"], vlan["fabric"], vlan["mtu"]) == (
        100,
        "100",
        "fabric-2",
        9000,
    )
    assert call(sim, "GET", vlan["resource_uri"].removeprefix("/MAAS/api/2.0/")).json() == vlan
    again = call(sim, "POST", "fabrics/2/vlans/", data={"vid": "100"})
    assert again.json() == {
        "__all__": ["A VLAN with the specified VID already exists in the destination fabric."]
    }
    assert call(sim, "POST", "fabrics/2/vlans/", data={}).json() == {
        "vid": ["This field is required."]
    }


def test_undescribed_routes_are_listed_and_served(sim: MaasSimulator) -> None:
    from simulator import UNDESCRIBED_ROUTES

    described = {
        part["path"]
        for resource in call(sim, "GET", "describe/").json()["resources"]
        for part in (resource["anon"], resource["auth"])
        if part is not None
    }
    for route in UNDESCRIBED_ROUTES:
        assert "/MAAS/api/2.0/" + route.path not in described
    assert call(sim, "GET", "commissioning-results/").status_code == 200
    assert call(sim, "GET", "virtual-machines/").json() == []
    assert call(sim, "GET", "virtual-machines/3").status_code == 404
    assert call(sim, "GET", "nodes/abc000/volume-groups/4/").status_code == 200
    assert call(sim, "GET", "openapi.yaml").status_code == 404


# ---------------------------------------------------------------- machine states and locks


def post(sim: MaasSimulator, path: str, api_key: str | None = None, **form: str) -> Any:
    return call(sim, "POST", path, api_key, data=form)


def settled(sim: MaasSimulator, system_id: str, *, busy: str) -> dict[str, Any]:
    """The machine once it has left BUSY (state advances as requests arrive)."""
    deadline = time.monotonic() + 10
    while True:
        got: dict[str, Any] = call(sim, "GET", f"machines/{system_id}/").json()
        if got["status_name"] != busy or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def events_of(sim: MaasSimulator, system_id: str, level: str = "DEBUG") -> list[tuple[str, str]]:
    query = f"events/?op=query&id={system_id}&level={level}"
    answer = call(sim, "GET", query).json()["events"]
    return [(e["type"], e["description"]) for e in reversed(answer)]


def test_lock_only_a_deployed_machine_and_unlock_only_a_locked_one(sim: MaasSimulator) -> None:
    ready = post(sim, "machines/abc000/?op=lock")
    assert (ready.status_code, ready.text) == (409, "Can't lock, node is not deployed or deploying")
    unlocked = post(sim, "machines/abc002/?op=unlock")
    assert (unlocked.status_code, unlocked.text) == (409, "Machine is not locked")
    locked = post(sim, "machines/abc002/?op=lock", comment="freeze")
    assert (locked.status_code, locked.json()["locked"]) == (200, True)
    again = post(sim, "machines/abc002/?op=lock")
    assert (again.status_code, again.text) == (409, "Machine is already locked")
    assert events_of(sim, "abc002")[-1] == ("User locking node", "(admin) - freeze")
    assert post(sim, "machines/abc002/?op=unlock").json()["locked"] is False
    assert events_of(sim, "abc002")[-1] == ("User unlocking node", "(admin)")


def test_a_locked_machine_refuses_changes_without_a_word(sim: MaasSimulator) -> None:
    """MAAS answers 403 with an empty body: the permission check refuses a locked machine."""
    assert post(sim, "machines/abc002/?op=lock").status_code == 200
    for op in ("release", "power_off", "abort", "mark_broken", "commission", "deploy"):
        refused = post(sim, f"machines/abc002/?op={op}")
        assert (refused.status_code, refused.text) == (403, ""), op
    assert call(sim, "PUT", "machines/abc002/", data={"hostname": "x"}).status_code == 403
    assert call(sim, "DELETE", "machines/abc002/").status_code == 403
    assert call(sim, "GET", "machines/abc002/").json()["status_name"] == "Deployed"
    assert post(sim, "machines/abc002/?op=unlock").status_code == 200
    assert post(sim, "machines/abc002/?op=release").json()["status_name"] == "Ready"


def test_others_cannot_touch_a_machine_they_do_not_own(sim: MaasSimulator) -> None:
    bob = sim.add_user("bob")
    assert call(sim, "GET", "machines/abc001/", bob).status_code == 403  # admin's
    assert post(sim, "machines/abc001/?op=release", bob).status_code == 403
    assert post(sim, "machines/abc002/?op=lock", bob).status_code == 403  # user2's
    assert post(sim, "machines/abc000/?op=commission", bob).status_code == 403  # admins only
    deployed = post(sim, "machines/abc000/?op=deploy", bob)  # a free machine: bob takes it
    assert (deployed.status_code, deployed.json()["owner"]) == (200, "bob")
    assert post(sim, "machines/abc000/?op=deploy").status_code == 409  # admin: it is deploying


def test_list_allocated_lists_the_callers_allocated_machines_only(sim: MaasSimulator) -> None:
    """MAAS 3.4's op=list_allocated: status Allocated and owned by the caller; a machine
    whose deployment started, or that is deployed, is not listed."""
    sim.timed.seconds = 0.2
    user2 = sim.add_user("user2")  # abc002 is user2's, Deployed
    assert ids(sim, "machines/?op=list_allocated", user2) == []
    assert post(sim, "machines/?op=allocate", system_id="abc000").status_code == 200
    assert ids(sim, "machines/?op=list_allocated") == ["abc000", "abc001"]
    assert ids(sim, "machines/?op=list_allocated&id=abc001&id=abc002") == ["abc001"]
    assert post(sim, "machines/abc000/?op=deploy").json()["status_name"] == "Deploying"
    assert ids(sim, "machines/?op=list_allocated") == ["abc001"]
    assert settled(sim, "abc000", busy="Deploying")["status_name"] == "Deployed"
    assert ids(sim, "machines/?op=list_allocated") == ["abc001"]


def test_deploy_acquires_a_ready_machine_and_refuses_other_states(sim: MaasSimulator) -> None:
    sim.timed.seconds = 0.2
    started = post(sim, "machines/abc000/?op=deploy", distro_series="noble")
    body = started.json()
    assert (body["status_name"], body["owner"], body["distro_series"]) == (
        "Deploying",
        "admin",
        "noble",
    )
    busy = post(sim, "machines/abc000/?op=deploy")
    assert (busy.status_code, busy.text) == (
        409,
        "Can't deploy a machine that is in the 'Deploying' state",
    )
    done = settled(sim, "abc000", busy="Deploying")
    assert (done["status_name"], done["power_state"]) == ("Deployed", "on")
    assert post(sim, "machines/abc000/?op=deploy").text == (
        "Can't deploy a machine that is in the 'Deployed' state"
    )
    assert events_of(sim, "abc000") == [
        ("User acquiring node", "(admin)"),
        ("User starting deployment", "(admin)"),
        ("Deploying", ""),
        ("Node installation", "curtin running"),
        ("Deployed", ""),
    ]
    assert events_of(sim, "abc000", "INFO") == [("Deploying", ""), ("Deployed", "")]


def test_a_machine_marked_to_fail_ends_in_failed_deployment(sim: MaasSimulator) -> None:
    sim.timed.seconds = 0.2
    sim.timed.failing = {"abc001"}
    assert post(sim, "machines/abc001/?op=deploy").json()["status_name"] == "Deploying"
    failed = settled(sim, "abc001", busy="Deploying")
    assert failed["status_name"] == "Failed deployment"
    assert failed["status_message"] == (
        "Node installation failure - Installation failed (refer to the installation log)"
    )
    assert post(sim, "machines/abc001/?op=deploy").status_code == 409
    sim.timed.failing = set()  # (a machine marked to fail fails every action)
    assert post(sim, "machines/abc001/?op=release").json()["status_name"] == "Releasing"
    assert settled(sim, "abc001", busy="Releasing")["status_name"] == "Ready"


def test_release_rules(sim: MaasSimulator) -> None:
    sim.timed.seconds = 0.2
    ready = post(sim, "machines/abc000/?op=release")
    assert (ready.status_code, ready.json()["status_name"]) == (200, "Ready")  # nothing to do
    releasing = post(sim, "machines/abc002/?op=release", comment="done")
    assert (releasing.json()["status_name"], releasing.json()["owner"]) == ("Releasing", "user2")
    released = settled(sim, "abc002", busy="Releasing")
    assert (released["status_name"], released["owner"], released["power_state"]) == (
        "Ready",
        None,
        "off",
    )
    assert events_of(sim, "abc002", "INFO") == [("Releasing", ""), ("Released", "")]
    assert ("User releasing node", "(admin) - done") in events_of(sim, "abc002")
    machine(sim, "abc001")["power_state"] = "off"  # MAAS finishes a release of one that is off
    assert post(sim, "machines/abc001/?op=release").json()["status_name"] == "Ready"
    machine(sim, "abc000")["status"], machine(sim, "abc000")["status_name"] = 0, "New"
    new = post(sim, "machines/abc000/?op=release")
    assert (new.status_code, new.text) == (
        409,
        "Machine cannot be released in its current state ('New').",
    )


def test_commission_and_test_follow_maas_availability(sim: MaasSimulator) -> None:
    sim.timed.seconds = 0.2
    refused = post(sim, "machines/abc001/?op=commission")  # Allocated
    assert refused.status_code == 400
    assert refused.json() == {
        "__all__": ["Commission is not available because of the current state of the node."]
    }
    assert post(sim, "machines/abc000/?op=commission").json()["status_name"] == "Commissioning"
    assert settled(sim, "abc000", busy="Commissioning")["status_name"] == "Ready"
    assert post(sim, "machines/abc002/?op=test").json()["status_name"] == "Testing"
    assert settled(sim, "abc002", busy="Testing")["status_name"] == "Deployed"  # back


def test_abort_ends_where_maas_ends_it(sim: MaasSimulator) -> None:
    sim.timed.seconds = 30
    nothing = post(sim, "machines/abc002/?op=abort")
    assert (nothing.status_code, nothing.text) == (
        409,
        "Cannot abort in current state: node abc002 is in state Deployed.",
    )
    assert post(sim, "machines/abc000/?op=commission").json()["status_name"] == "Commissioning"
    sim.timed.seconds = 0.2  # the power-off that ends an abort takes half of it
    assert post(sim, "machines/abc000/?op=abort").json()["status_name"] == "Commissioning"
    assert settled(sim, "abc000", busy="Commissioning")["status_name"] == "New"
    assert ("Aborted commissioning", "") in events_of(sim, "abc000")


def test_power_on_and_off(sim: MaasSimulator) -> None:
    free = post(sim, "machines/abc000/?op=power_on")
    assert (free.status_code, free.text) == (409, "Can't start node: it hasn't been allocated.")
    assert post(sim, "machines/abc002/?op=power_off").json()["power_state"] == "off"
    assert post(sim, "machines/abc002/?op=power_on").json()["power_state"] == "on"
    # power_on on an allocated machine is a deployment in MAAS
    assert post(sim, "machines/abc001/?op=power_on").json()["status_name"] == "Deploying"
    machine(sim, "abc002")["power_type"] = "manual"
    manual = post(sim, "machines/abc002/?op=power_off")
    assert (manual.status_code, manual.json()) == (200, None)  # MAAS sends no power action
    assert machine(sim, "abc002")["power_state"] == "on"
    assert events_of(sim, "abc002")[-1] == ("User powering down node", "(admin)")


def test_mark_broken_and_fixed(sim: MaasSimulator) -> None:
    not_mine = post(sim, "machines/abc002/?op=mark_broken")  # user2's: not even an admin
    assert (not_mine.status_code, not_mine.text) == (403, "")
    broken = post(sim, "machines/abc001/?op=mark_broken", comment="fan")
    assert (broken.json()["status_name"], broken.json()["owner"]) == ("Broken", None)
    assert events_of(sim, "abc001")[-1] == ("User marking node broken", "(admin) - fan")
    fixed = post(sim, "machines/abc001/?op=mark_fixed")
    assert fixed.json()["status_name"] == "Ready"
    again = post(sim, "machines/abc001/?op=mark_fixed")
    assert (again.status_code, again.text) == (409, "Can't mark a non-broken node as 'Ready'.")
    machine(sim, "abc002")["owner"] = "admin"
    assert post(sim, "machines/abc002/?op=mark_broken").json()["status_name"] == "Broken"
    assert post(sim, "machines/abc002/?op=mark_fixed").json()["status_name"] == "Deployed"


def test_rescue_mode_goes_back_where_it_came_from(sim: MaasSimulator) -> None:
    sim.timed.seconds = 0.2
    assert post(sim, "machines/abc002/?op=rescue_mode").json()["status_name"] == (
        "Entering rescue mode"
    )
    assert settled(sim, "abc002", busy="Entering rescue mode")["status_name"] == "Rescue mode"
    again = post(sim, "machines/abc002/?op=rescue_mode")
    assert (again.status_code, again.text) == (
        409,
        "Invalid transition: Rescue mode -> Entering rescue mode.",
    )
    assert post(sim, "machines/abc002/?op=exit_rescue_mode").status_code == 200
    assert settled(sim, "abc002", busy="Exiting rescue mode")["status_name"] == "Deployed"


def test_without_seconds_busy_states_stay_and_release_ends_at_once(sim: MaasSimulator) -> None:
    """The suite's default: what the simulator always did."""
    assert post(sim, "machines/abc001/?op=deploy").json()["status_name"] == "Deploying"
    time.sleep(0.05)
    assert call(sim, "GET", "machines/abc001/").json()["status_name"] == "Deploying"
    released = post(sim, "machines/abc001/?op=release")
    assert (released.json()["status_name"], released.json()["owner"]) == ("Ready", None)


# ---------------------------------------------------------------- power parameters


def test_power_parameters_of_one_machine_and_of_all(sim: MaasSimulator) -> None:
    one = call(sim, "GET", "machines/abc001/?op=power_parameters")
    assert one.status_code == 200
    assert one.json() == {
        "power_address": "qemu+ssh://virsh@10.0.0.1/system",
        "power_id": "brisk-otter",
        "power_pass": "",
    }
    every = call(sim, "GET", "machines/?op=power_parameters").json()
    assert sorted(every) == ["abc000", "abc001", "abc002"]
    assert every["abc001"] == one.json()
    some = call(sim, "GET", "machines/?op=power_parameters&id=abc002&id=abc000").json()
    assert sorted(some) == ["abc000", "abc002"]
    bob = sim.add_user("bob")
    mine = call(sim, "GET", "machines/abc000/?op=power_parameters", bob)
    assert (mine.status_code, mine.text) == (403, "")
    every_of_bob = call(sim, "GET", "machines/?op=power_parameters", bob)
    assert (every_of_bob.status_code, every_of_bob.text) == (
        403,
        "This method is reserved for admin users.",
    )


def test_power_parameters_follow_the_power_type(sim: MaasSimulator) -> None:
    form = {"power_type": "ipmi", "power_parameters_power_address": "10.9.9.9"}
    assert call(sim, "PUT", "machines/abc000/", data=form).json()["power_type"] == "ipmi"
    ipmi = call(sim, "GET", "machines/abc000/?op=power_parameters").json()
    assert ipmi["power_address"] == "10.9.9.9"
    assert (ipmi["power_driver"], ipmi["power_user"]) == ("LAN_2_0", "maas")
    call(sim, "PUT", "machines/abc000/", data={"power_type": "manual"})
    assert call(sim, "GET", "machines/abc000/?op=power_parameters").json() == {}


# ---------------------------------------------------------------- deterministic data


def summary(sim: MaasSimulator) -> list[tuple[object, ...]]:
    return [
        (
            m["system_id"],
            m["hostname"],
            m["zone"]["name"],
            m["pool"]["name"],
            tuple(m["tag_names"]),
            m["status_name"],
            m["owner"],
            m["power_type"],
            m["power_state"],
        )
        for m in call(sim, "GET", "machines/").json()
    ]


def test_the_same_seed_gives_the_same_region() -> None:
    with MaasSimulator(seed=7, machines=40) as one, MaasSimulator(seed=7, machines=40) as two:
        first, second = summary(one), summary(two)
        assert first == second
        assert len({row[0] for row in first}) == len({row[1] for row in first}) == 40
        assert all(
            len(row[0]) == 6 and set(row[0]) <= set("34678abcdefghkmnpqrstwxy") for row in first
        )
        assert {row[5] for row in first} >= {"Ready", "Deployed", "Allocated"}
        assert len({row[2] for row in first}) > 1 and len({row[7] for row in first}) > 1
        assert [z["name"] for z in call(one, "GET", "zones/").json()] == ["default", "az1", "az2"]
        assert [p["name"] for p in call(one, "GET", "resourcepools/").json()] == [
            "default",
            "web",
            "db",
        ]
        assert "gpu" in [t["name"] for t in call(one, "GET", "tags/").json()]
        # the filters know the seeded names
        deployed = [row[0] for row in first if row[5] == "Deployed" and row[2] == "az1"]
        assert ids(one, "machines/?status=deployed&zone=az1") == deployed
    with MaasSimulator(seed=8, machines=40) as other:
        assert summary(other) != first
    with MaasSimulator(seed=7, machines=5) as fewer:
        assert summary(fewer) == first[:5]  # a bigger fleet only adds machines


def test_without_a_seed_the_fleet_is_the_default_one() -> None:
    with MaasSimulator() as sim:
        assert [row[:2] for row in summary(sim)] == [
            ("abc000", "amber-otter"),
            ("abc001", "brisk-otter"),
            ("abc002", "calm-otter"),
        ]


# ---------------------------------------------------------------- the description it serves

GENERATED_LINE = re.compile(
    r"^ ?(?:[A-Z][\w -]*"  # an action's title, made from its name
    r"|Runs the [\w-]+ operation on [\w -]+\."
    r"|Operations on [\w -]+\."
    r"|:param [\w-]+: (?:(?:Required|Optional)\.  )?Value for [\w-]+\."
    r"|:type [\w-]+: [\w ]+"
    r"|Accepted names:"
    r"|:[\w-]+: Setting [\w-]+\."
    r"|)$"
)


def test_the_description_carries_generated_text_and_says_so(sim: MaasSimulator) -> None:
    served = call(sim, "GET", "describe/").json()
    assert "generated" in served["doc"] and "not MAAS's documentation" in served["doc"]
    texts: list[str] = []

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "doc" and item is not served["doc"]:
                    texts.append(item)
                else:
                    collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(served)
    assert len(texts) > 900
    prose = {line for text in texts for line in text.split("\n") if not GENERATED_LINE.match(line)}
    assert prose == set()


# ---------------------------------------------------------------- standalone

SIMULATOR = ["-m", "maascurl.sandbox.simulator"]  # standalone, for development


def started(spawn: Spawn, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`python3 -m maascurl.sandbox.simulator ARGS`, and the key=value lines it prints first."""
    process = spawn(
        [sys.executable, *SIMULATOR, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    info = dict(process.stdout.readline().strip().split("=", 1) for _ in range(4))
    return process, info


def signed_get(url: str, api_key: str) -> httpx.Response:
    consumer, token, secret = api_key.split(":")
    header = (
        f'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", '
        f'oauth_consumer_key="{consumer}", oauth_token="{token}", '
        f'oauth_signature="%26{secret}", oauth_nonce="{time.monotonic_ns()}", '
        f'oauth_timestamp="{int(time.time())}"'
    )
    return httpx.get(url, headers={"Authorization": header})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_standalone_serves_a_seeded_region_until_told_to_stop(
    spawn: Spawn, signum: signal.Signals
) -> None:
    process, info = started(spawn, "--seed", "3", "--machines", "5", "--action-seconds", "0.2")
    assert set(info) == {"url", "api_key", "username", "password"}
    machines = signed_get(info["url"] + "/api/2.0/machines/", info["api_key"]).json()
    with MaasSimulator(seed="3", machines=5) as same:
        assert machines == call(same, "GET", "machines/").json()
    login = httpx.post(
        info["url"] + "/accounts/authenticate/",
        data={"username": info["username"], "password": info["password"]},
    )
    assert login.status_code == 200 and set(login.json()) >= {"token_key", "token_secret"}
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    assert "Ctrl-C or SIGTERM stops it" in process.stderr.read()


def test_standalone_password_and_a_busy_port(spawn: Spawn) -> None:
    process, info = started(spawn, "--password", "sandbox")
    assert (info["username"], info["password"]) == ("admin", "sandbox")
    port = info["url"].split(":")[2].split("/")[0]
    busy = subprocess.run(
        [sys.executable, *SIMULATOR, "--port", port],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert busy.returncode == 1
    assert busy.stderr.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    process.terminate()
    assert process.wait(timeout=10) == 0


def test_an_ssh_key_is_stored_as_sent(sim: MaasSimulator) -> None:
    """MAAS keeps a key's trailing newline, so the same key without it is a second key."""
    with_newline = call(sim, "POST", "account/prefs/sshkeys/", data={"key": "ssh-ed25519 AAAA a\n"})
    assert with_newline.json()["key"] == "ssh-ed25519 AAAA a\n"
    without = call(sim, "POST", "account/prefs/sshkeys/", data={"key": "ssh-ed25519 AAAA a"})
    assert without.status_code == 201
    again = call(sim, "POST", "account/prefs/sshkeys/", data={"key": "ssh-ed25519 AAAA a"})
    assert (again.status_code, again.json()) == (
        400,
        {"__all__": ["This key has already been added for this user."]},
    )
