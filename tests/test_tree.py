"""The suite tests the tree it sits in, even when another copy of maascurl is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import TREE, imported_from

import maascurl
from maascurl.cli import group


def test_this_process_imports_the_tree() -> None:
    assert imported_from(TREE, maascurl.__file__)
    assert imported_from(TREE, group.__file__)


def test_an_installed_copy_is_not_the_tree(tmp_path: Path) -> None:
    elsewhere = tmp_path / "site-packages" / "maascurl" / "__init__.py"
    assert not imported_from(TREE, str(elsewhere))
    assert not imported_from(TREE, None)


def test_pythons_started_by_the_tests_import_the_tree(tmp_path: Path) -> None:
    """`python -m maascurl` and the console script, run from anywhere, load this tree's code."""
    done = subprocess.run(
        [sys.executable, "-c", "import maascurl; print(maascurl.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert imported_from(TREE, done.stdout.strip()), done.stdout


def test_the_suite_refuses_to_test_another_copy(tmp_path: Path) -> None:
    """Run without the tree's pytest settings, with a copy of maascurl first on sys.path."""
    (tmp_path / "maascurl").mkdir()
    (tmp_path / "maascurl" / "__init__.py").write_text('__version__ = "0"\n')
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    here = ["--rootdir", str(TREE), str(TREE / "tests" / "test_tree.py")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", "pytest.ini", *here],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert f"{tmp_path / 'maascurl' / '__init__.py'}" in out
    assert "pip install -e '.[test]'" in out
