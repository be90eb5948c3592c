"""Where the tests' maascurl comes from: this tree, whatever copy is installed.

Imported by conftest.py before anything imports maascurl.
"""

from __future__ import annotations

import os
from pathlib import Path

# The suite tests the tree it sits in, however maascurl is installed: [tool.pytest.ini_options]
# pythonpath puts this tree first on sys.path, and PYTHONPATH does the same for the Pythons
# the tests start (`python -m maascurl`, and the installed `maascurl` console script, whose
# wrapper then imports this tree's code).
TREE = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(TREE), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
)


def imported_from(tree: Path, module_file: str | None) -> bool:
    """Whether a module's file lies in tree's maascurl/ folder."""
    return module_file is not None and Path(module_file).resolve().is_relative_to(tree / "maascurl")
