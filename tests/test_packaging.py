"""The wheel: the package, the man page and the completion scripts, and nothing else.

The wheel is built from this tree with pip (or taken from $MAASCURL_WHEEL, which
scripts/release_check.py sets to the wheel it built), then installed into a fresh
venv to check that man finds the page with nothing but that venv's bin/ on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from maascurl import __version__

REPO = Path(__file__).resolve().parent.parent
DATA = f"maascurl-{__version__}.data/data/"
# Where each shipped file is installed, under the installation prefix.
DATA_FILES = {
    "share/man/man1/maascurl.1": "man/maascurl.1",
    "share/bash-completion/completions/maascurl": "completions/maascurl.bash",
    "share/zsh/site-functions/_maascurl": "completions/_maascurl",
    "share/fish/vendor_completions.d/maascurl.fish": "completions/maascurl.fish",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("MAASCURL_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [built] = out.glob("maascurl-*.whl")
    return built


def test_the_wheel_holds_the_package_and_the_data_files_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    package = {n for n in names if n.startswith("maascurl/")}
    assert {"maascurl/__init__.py", "maascurl/cli/__init__.py", "maascurl/py.typed"} <= package
    sandbox_data = {n for n in package if n.startswith("maascurl/sandbox/data/")}
    shipped = REPO / "maascurl" / "sandbox" / "data"
    assert sandbox_data == {
        f"maascurl/sandbox/data/{p.relative_to(shipped)}" for p in shipped.rglob("*.json")
    }
    assert "maascurl/sandbox/data/v3/openapi-3.7.3.json" in sandbox_data  # the v3 API's
    assert "maascurl/sandbox/data/describe.json" in sandbox_data
    assert all(n.endswith((".py", "py.typed")) for n in package - sandbox_data)
    data = {n.removeprefix(DATA) for n in names if n.startswith(DATA)}
    assert data == set(DATA_FILES)
    info = f"maascurl-{__version__}.dist-info/"
    assert f"{info}licenses/LICENSE" in names
    rest = [n for n in names if not n.startswith(("maascurl/", DATA, info))]
    assert rest == []


def test_the_data_files_are_the_shipped_scripts_and_man_page(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for installed, source in DATA_FILES.items():
            assert archive.read(DATA + installed) == (REPO / source).read_bytes(), source


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel installed (its dependencies are not needed here).

    Without the PYTHONPATH conftest.py sets: through it pip would find this tree's
    maascurl.egg-info and take the wheel as installed already."""
    where = tmp_path_factory.mktemp("venv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300, env=env)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=300, env=env)
    yield where


def _env_with(bin_dir: Path, home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MANPATH", "XDG_DATA_DIRS", "PYTHONPATH")
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    env["HOME"] = str(home)
    return env


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_finds_the_page_with_the_venv_bin_on_path(venv: Path, tmp_path: Path) -> None:
    """man derives its search path from PATH: <venv>/bin gives <venv>/share/man."""
    done = subprocess.run(
        ["man", "-w", "maascurl"],
        env=_env_with(venv / "bin", tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == venv / "share" / "man" / "man1" / "maascurl.1"


def test_the_venv_holds_the_completion_scripts(venv: Path) -> None:
    for installed, source in DATA_FILES.items():
        assert (venv / installed).read_bytes() == (REPO / source).read_bytes()


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_looks_in_vendor_completions_of_xdg_data_dirs_only(venv: Path, tmp_path: Path) -> None:
    """What README says of fish: the venv's directory is searched once XDG_DATA_DIRS names
    <venv>/share, and not from PATH alone."""
    env = _env_with(venv / "bin", tmp_path)
    script = "string join \\n -- $fish_complete_path"
    vendor = str(venv / "share" / "fish" / "vendor_completions.d")
    alone = subprocess.run(["fish", "-c", script], env=env, capture_output=True, text=True)
    assert vendor not in alone.stdout.splitlines()
    env["XDG_DATA_DIRS"] = f"{venv / 'share'}:/usr/local/share:/usr/share"
    named = subprocess.run(["fish", "-c", script], env=env, capture_output=True, text=True)
    assert vendor in named.stdout.splitlines(), named.stdout + named.stderr
