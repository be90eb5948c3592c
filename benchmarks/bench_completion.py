"""Benchmark one TAB press: a completion call next to `python -c "import click"`.

Sets up a throw-away config and cache (a profile whose API description is the
committed maascurl/sandbox/data/describe.json; no server is contacted), then alternates
runs of

  maascurl     with _MAASCURL_COMPLETE=bash_complete for `maascurl get machines op=list_al`
  python -c "import click"   (the floor: an interpreter that imports Click)

and prints the median wall time of each and their ratio.

Bytecode: the children run without PYTHONDONTWRITEBYTECODE and with
PYTHONPYCACHEPREFIX pointing at a temporary directory, so that sources are
compiled once (in a warm-up run) rather than on every run, as for an installed
package, and nothing is written into the source tree.

Run from the repository root:  python benchmarks/bench_completion.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
API_ROOT = "http://127.0.0.1:9/MAAS/api/2.0/"
CONFIG = 'default = "bench"\n\n[profiles.bench]\nurl = "http://127.0.0.1:9/MAAS"\n'
CONFIG += 'api_key = "consumer:token:secret"\n'


def console_script() -> str:
    beside = Path(sys.executable).parent / "maascurl"
    found = str(beside) if beside.exists() else shutil.which("maascurl")
    if found is None:
        sys.exit("the maascurl console script is not installed")
    return found


def child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAAS", "_MAASCURL"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["MAASCURL_CONFIG"] = str(tmp / "config.toml")
    env["MAASCURL_CACHE_DIR"] = str(tmp / "cache")
    return env


def prepare(tmp: Path) -> None:
    config = tmp / "config.toml"
    config.write_text(CONFIG)
    config.chmod(0o600)
    os.environ["MAASCURL_CACHE_DIR"] = str(tmp / "cache")
    from maascurl.api.apidesc import save_cache

    save_cache(API_ROOT, (REPO / "maascurl" / "sandbox" / "data" / "describe.json").read_bytes())


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        prepare(tmp)
        env = child_env(tmp)
        tab_env = dict(
            env,
            _MAASCURL_COMPLETE="bash_complete",
            COMP_WORDS="maascurl get machines op=list_al",
            COMP_CWORD="3",
        )
        tab = [console_script()]
        floor = [sys.executable, "-c", "import click"]
        _, out = timed(tab, tab_env)  # warm-up: compiles into the pycache prefix
        if out.strip() != "plain,op=list_allocated":
            sys.exit(f"unexpected completion output: {out!r}")
        timed(floor, env)
        tab_times, floor_times = [], []
        for _ in range(runs):
            tab_times.append(timed(tab, tab_env)[0])
            floor_times.append(timed(floor, env)[0])
    tab_ms = statistics.median(tab_times) * 1000
    floor_ms = statistics.median(floor_times) * 1000
    print(f"runs: {runs} each, alternating")
    print(f"TAB (maascurl get machines op=list_al): median {tab_ms:.1f} ms")
    print(f'python -c "import click":               median {floor_ms:.1f} ms')
    print(f"ratio: {tab_ms / floor_ms:.2f}")


if __name__ == "__main__":
    main()
