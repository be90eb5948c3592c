#!/usr/bin/env python3
"""Check that maascurl is ready to publish: what CI runs before a release.

Usage: python scripts/release_check.py [--dist DIR] [--skip-suites]

Run it with a Python that has the release extra (`pip install '.[release]'`):

1. builds the sdist and the wheel with `python -m build` and runs `twine check --strict`;
2. installs the wheel into a fresh venv, runs `maascurl --version`, starts that install's
   `maascurl sandbox` (its data shipped in the wheel) and, against it, logs in and sends
   `get users op=whoami`, and checks that `man -w maascurl` finds the installed man page;
3. unpacks the sdist and runs the README's commands in it (`pip install '.[test]'`, then the
   tests, with -x) on the oldest and newest Python the classifiers name, skipping, with a
   note, a version that is not installed (pyenv's ~/.pyenv/versions is searched too).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from maascurl import __version__  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


class CheckFailed(Exception):
    pass


def say(text: str) -> None:
    print(f"release-check: {text}", flush=True)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if done.returncode != 0:
        raise CheckFailed(
            f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return done


def build(dist: Path) -> tuple[Path, Path]:
    for old in dist.glob("maascurl-*"):
        old.unlink()
    run([sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)])
    sdist = dist / f"maascurl-{__version__}.tar.gz"
    wheel = dist / f"maascurl-{__version__}-py3-none-any.whl"
    if not (sdist.exists() and wheel.exists()):
        raise CheckFailed(f"build did not write {sdist.name} and {wheel.name}")
    run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)])
    say(f"built and twine-checked {sdist.name} and {wheel.name}")
    return sdist, wheel


def fresh_venv(python: str, where: Path) -> Path:
    run([python, "-m", "venv", str(where)])
    return where / "bin"


def check_install(wheel: Path, work: Path) -> None:
    """Install the wheel into a fresh venv and use it as an operator would."""
    bin_dir = fresh_venv(sys.executable, work / "venv")
    run([str(bin_dir / "pip"), "install", "-q", str(wheel)])
    maascurl = str(bin_dir / "maascurl")
    version = run([maascurl, "--version"]).stdout
    if version != f"maascurl, version {__version__}\n":
        raise CheckFailed(f"maascurl --version said {version!r}")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work),
        "MAASCURL_CONFIG": str(work / "config.toml"),
        "MAASCURL_CACHE_DIR": str(work / "cache"),
        "NO_COLOR": "1",
    }
    # The installed sandbox, on any free port; a login to it and a signed request.
    script = (
        'echo "$MAAS_API_KEY" | maascurl login ci "$MAAS_API_URL" - '
        "&& maascurl -p ci get users op=whoami"
    )
    done = run([maascurl, "sandbox", "--port", "0", "--exec", script], env=env)
    answer = json.loads(done.stdout)
    if answer.get("username") != "admin":
        raise CheckFailed(f"get users op=whoami answered {answer!r}")
    say("installed the wheel: maascurl --version, its sandbox, a login and a signed request work")
    if shutil.which("man"):
        env.pop("MANPATH", None)
        page = run(["man", "-w", "maascurl"], env=env).stdout.strip()
        if not page.startswith(str(work / "venv")):
            raise CheckFailed(f"man -w maascurl found {page!r}, not the venv's page")
        say(f"man -w maascurl -> {page}")
    else:
        say("man is not installed: the man page lookup is not checked")


def tested_pythons() -> list[str]:
    """The oldest and newest 3.X the classifiers name."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = [
        tuple(int(part) for part in match.group(1).split("."))
        for classifier in meta["classifiers"]
        if (match := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier))
    ]
    return [f"{major}.{minor}" for major, minor in sorted({min(found), max(found)})]


def find_python(version: str) -> str | None:
    """An interpreter for 3.X that runs (a pyenv shim may exist without one behind it)."""
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for candidate in [*reversed([str(p) for p in pyenv]), shutil.which(f"python{version}")]:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


def check_suites(sdist: Path, wheel: Path, work: Path) -> None:
    """The README's test commands, run in the unpacked sdist on each tested Python."""
    # The "data" filter where this Python has it (3.10.12, 3.11.4 and later).
    safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(sdist) as archive:
        archive.extractall(work, **safe)
    source = work / sdist.name.removesuffix(".tar.gz")
    for version in tested_pythons():
        python = find_python(version)
        if python is None:
            say(f"Python {version} is not installed: its test run is SKIPPED")
            continue
        venv = work / f"venv-{version}"
        bin_dir = fresh_venv(python, venv)
        run([str(bin_dir / "pip"), "install", "-q", ".[test]"], cwd=source)
        env = {**os.environ, "MAASCURL_WHEEL": str(wheel)}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        argv = [str(bin_dir / "pytest"), "-n", "auto", "-x", "-p", "no:randomly"]
        done = run(argv, cwd=source, env=env)
        summary = [line for line in done.stdout.splitlines() if " passed" in line]
        say(f"Python {version}: {summary[-1] if summary else 'passed'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, help="keep the sdist and wheel in DIR")
    parser.add_argument("--skip-suites", action="store_true", help="no test runs on other Pythons")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maascurl-release-") as tmp:
        work = Path(tmp)
        dist = args.dist or work / "dist"
        dist.mkdir(parents=True, exist_ok=True)
        try:
            sdist, wheel = build(dist)
            check_install(wheel, work / "install")
            if not args.skip_suites:
                check_suites(sdist, wheel, work / "sdist")
        except CheckFailed as failure:
            print(f"release-check: FAILED: {failure}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
