"""Benchmark maascurl.show.jsoncolor against `jq -C .` on a ~9 MB machine list.

Builds a list of 1000 machine objects (from a machine.json response found
under maascurl/sandbox/data, or given with --machine, else a synthetic one of
similar shape), writes it compactly to a temporary file, then alternates
runs of `jq -C . FILE` and a Python process calling write_json(color=True),
both with stdout to /dev/null.  Prints median wall times, their ratio and
the peak RSS of the Python process.

Run from the repository root:  python benchmarks/bench_jsoncolor.py
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

PYTHON_SNIPPET = """
import sys
from maascurl.show.jsoncolor import write_json
with open(sys.argv[1], "rb") as f:
    body = f.read()
if not write_json(body, sys.stdout, color=True):
    sys.exit("not JSON")
"""


def synthetic_machine() -> dict[str, Any]:
    """A machine-like object of roughly the size of a real MAAS response."""
    vlan = {
        "vid": 0,
        "mtu": 1500,
        "dhcp_on": True,
        "external_dhcp": None,
        "relay_vlan": None,
        "name": "untagged",
        "fabric_id": 0,
        "id": 5001,
        "space": "undefined",
        "primary_rack": "4y3h7n",
        "secondary_rack": None,
        "fabric": "fabric-0",
        "resource_uri": "/MAAS/api/2.0/vlans/5001/",
    }

    def interface(n: int) -> dict[str, Any]:
        return {
            "id": 100 + n,
            "name": f"eth{n}",
            "type": "physical",
            "enabled": True,
            "mac_address": f"52:54:00:12:34:{n:02x}",
            "vlan": dict(vlan),
            "links": [
                {
                    "id": 200 + n,
                    "mode": "auto",
                    "ip_address": f"10.0.{n}.17",
                    "subnet": {"id": 1, "name": "10.0.0.0/24", "cidr": "10.0.0.0/24"},
                }
            ],
            "tags": [],
            "params": {},
            "discovered": None,
            "effective_mtu": 1500,
            "link_connected": True,
            "interface_speed": 10000,
            "link_speed": 10000,
            "numa_node": 0,
            "vendor": "Intel Corporation",
            "product": "Ethernet Controller X710",
            "firmware_version": "6.01 0x8000372a 1.1747.0",
            "resource_uri": f"/MAAS/api/2.0/nodes/abc123/interfaces/{100 + n}/",
        }

    def disk(n: int) -> dict[str, Any]:
        return {
            "id": 300 + n,
            "name": f"sd{'abcd'[n]}",
            "model": "QEMU HARDDISK",
            "serial": f"QM0000{n}",
            "size": 256060514304,
            "block_size": 512,
            "tags": ["ssd", "rotary"] if n else ["ssd"],
            "id_path": f"/dev/disk/by-id/ata-QEMU_HARDDISK_QM0000{n}",
            "partitions": [
                {"id": 400 + n, "size": 536870912, "bootable": True, "fstype": "fat32"},
                {"id": 500 + n, "size": 255523643392, "bootable": False, "fstype": "ext4"},
            ],
            "filesystem": None,
            "used_for": "GPT partitioned with 2 partitions",
            "available_size": 0,
            "storage_pool": None,
            "numa_node": 0,
            "resource_uri": f"/MAAS/api/2.0/nodes/abc123/blockdevices/{300 + n}/",
        }

    return {
        "system_id": "abc123",
        "hostname": "node",
        "fqdn": "node.maas",
        "domain": {"id": 0, "name": "maas", "authoritative": True, "ttl": None},
        "status": 4,
        "status_name": "Ready",
        "architecture": "amd64/generic",
        "cpu_count": 8,
        "cpu_speed": 2400,
        "memory": 16384,
        "power_state": "off",
        "power_type": "ipmi",
        "zone": {"id": 1, "name": "default", "description": ""},
        "pool": {"id": 0, "name": "default", "description": "Default pool"},
        "tag_names": ["virtual", "ssd", "rack-7"],
        "ip_addresses": ["10.0.0.17", "10.0.1.17"],
        "hardware_info": {
            "system_vendor": "QEMU",
            "system_product": "Standard PC (Q35 + ICH9, 2009)",
            "cpu_model": "Intel Core Processor (Skylake, IBRS)",
        },
        "interface_set": [interface(n) for n in range(7)],
        "blockdevice_set": [disk(n) for n in range(4)],
        "commissioning_status": 2,
        "testing_status_name": "Passed",
        "resource_uri": "/MAAS/api/2.0/machines/abc123/",
    }


def load_machine(path: Path | None) -> tuple[dict[str, Any], str]:
    candidates = (
        [path] if path else sorted((REPO / "maascurl" / "sandbox" / "data").rglob("machine.json"))
    )
    for candidate in candidates:
        if candidate and candidate.is_file():
            return json.loads(candidate.read_bytes()), str(candidate)
    return synthetic_machine(), "synthetic"


def machine_list(machine: dict[str, Any], count: int) -> list[dict[str, Any]]:
    machines = []
    for i in range(count):
        copy_ = copy.deepcopy(machine)
        system_id = f"{i:06x}"
        copy_.update(system_id=system_id, hostname=f"node-{i:04d}", fqdn=f"node-{i:04d}.maas")
        if "id" in copy_:
            copy_["id"] = i + 1
        copy_["resource_uri"] = f"/MAAS/api/2.0/machines/{system_id}/"
        machines.append(copy_)
    return machines


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run `cmd` with stdout to /dev/null; return (wall seconds, peak RSS in KiB)."""
    with open(os.devnull, "w") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=devnull, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed with status {proc.returncode}")
    return elapsed, usage.ru_maxrss  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", type=Path, help="machine.json response to replicate")
    parser.add_argument("--count", type=int, default=1000, help="machines in the list")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command")
    args = parser.parse_args()

    jq = shutil.which("jq") or "/usr/bin/jq"
    machine, source = load_machine(args.machine)
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONIOENCODING="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "machines.json"
        path.write_text(json.dumps(machine_list(machine, args.count)), encoding="utf-8")
        size = path.stat().st_size
        print(f"document: {args.count} machines from {source}, {size / 1e6:.1f} MB")
        commands = {
            "jq": [jq, "-C", ".", str(path)],
            "maascurl": [sys.executable, "-c", PYTHON_SNIPPET, str(path)],
        }
        have_jq = os.access(jq, os.X_OK)
        times: dict[str, list[float]] = {name: [] for name in commands}
        rss: dict[str, list[int]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                if name == "jq" and not have_jq:
                    continue
                elapsed, peak = run(cmd, env)
                times[name].append(elapsed)
                rss[name].append(peak)

    for name in commands:
        if times[name]:
            print(
                f"{name:9} median {statistics.median(times[name]):.3f} s"
                f"  (min {min(times[name]):.3f}, max {max(times[name]):.3f})"
                f"  peak RSS {max(rss[name]) / 1024:.0f} MiB"
            )
    if times["jq"]:
        ratio = statistics.median(times["maascurl"]) / statistics.median(times["jq"])
        print(f"ratio maascurl/jq: {ratio:.2f} (goal <= 3)")
    else:
        print("jq not found: no ratio")
    print(f"maascurl peak RSS: {max(rss['maascurl']) / 1024:.0f} MiB (goal < 150)")


if __name__ == "__main__":
    main()
