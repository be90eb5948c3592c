"""The one place maascurl imports httpx.

`httpx/__init__` imports its own command-line module (`httpx._main`, which pulls
in click's and rich's heavier parts and pygments) whenever those packages are
installed; maascurl never uses it and it costs about 100 ms per run. Marking the
module as absent makes httpx fall back to its stub `main`. A test checks that
this still holds after an httpx upgrade.
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402

__all__ = ["httpx"]
