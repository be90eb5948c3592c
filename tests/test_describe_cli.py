"""`maascurl describe`, `refresh` and the stale-description check, against the simulator."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from conftest import Run
from simulator import MaasSimulator

from maascurl.api.apidesc import cache_file, cached_hash


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_describe_op_lists_its_parameters(run: Run, profile: str) -> None:
    result = run("describe", "machines/abc", "deploy")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("POST /MAAS/api/2.0/machines/{system_id}/?op=deploy")
    assert "distro_series" in result.stdout


def test_describe_json_is_machine_readable(run: Run, profile: str) -> None:
    result = run("describe", "machines", "--json")
    data = json.loads(result.stdout)
    get_ops = {row["op"] for row in data["operations"]["GET"]}
    assert "list_allocated" in get_ops
    assert "is_registered" in get_ops  # an anonymous-only action, merged in


def test_describe_index_lists_paths(run: Run, profile: str) -> None:
    result = run("describe")
    lines = result.stdout.splitlines()
    assert any(line.startswith("machines/ ") for line in lines)
    assert any(line.startswith("commissioning-scripts/{name} ") for line in lines)


def test_describe_unknown_path_is_a_usage_error(run: Run, profile: str) -> None:
    result = run("describe", "machinez")
    assert result.exit_code == 2
    assert "did you mean machines/?" in result.stderr


def test_describe_fetches_a_missing_description(run: Run, sim: MaasSimulator) -> None:
    assert run("login", "sim", sim.url, sim.api_key).exit_code == 0
    cache_file(sim.api_root).unlink()
    result = run("describe", "machines")
    assert result.exit_code == 0, result.stderr
    assert cache_file(sim.api_root).exists()


def test_a_changed_api_hash_refreshes_the_cache(run: Run, profile: str, sim: MaasSimulator) -> None:
    path = cache_file(sim.api_root)
    head, _, body = path.read_bytes().partition(b"\n")
    stale = json.loads(head) | {"hash": "0" * 40}
    path.write_bytes(json.dumps(stale).encode() + b"\n" + body)

    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["username"] == "admin"
    assert "refreshed its cached description" in result.stderr
    assert cached_hash(sim.api_root) != "0" * 40
    assert sim.requests[-1].path.endswith("/describe/")

    again = run("get", "users", "op=whoami")
    assert "description" not in again.stderr  # said once, not on every call


def test_refresh_all_reports_each_failure_and_goes_on(
    run: Run, sim: MaasSimulator, home: Path
) -> None:
    assert run("login", "good", sim.url, sim.api_key).exit_code == 0
    dead = f"http://127.0.0.1:{_closed_port()}/MAAS"
    assert run("login", "dead", dead, sim.api_key, "--no-check").exit_code == 0
    cache_file(sim.api_root).unlink()

    result = run("refresh", "--all")
    assert result.exit_code == 1
    assert "dead: cannot connect" in result.stderr
    assert "good: cached 96 resources" in result.stderr
    assert cache_file(sim.api_root).exists()


def test_refresh_one_profile(run: Run, profile: str, sim: MaasSimulator) -> None:
    result = run("refresh", "-p", profile)
    assert result.exit_code == 0
    assert f"{profile}: cached 96 resources" in result.stderr
