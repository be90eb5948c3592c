"""Small facts learned from servers, kept between runs in the cache directory.

Today that is the clock offset per profile, so that a machine whose clock is
behind the MAAS server's signs correctly from the first request on.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

MAX_OFFSET = 10 * 365 * 24 * 3600.0  # ten years: beyond that a clock is not skewed, it is wrong


def state_path() -> Path:
    from maascurl.api.apidesc import cache_dir

    return cache_dir() / "state.json"


def _load() -> dict[str, Any]:
    from maascurl.api.apidesc import open_cached

    try:
        with open_cached(state_path()) as stream:
            data = json.load(stream)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def clock_offset(profile: str) -> float:
    entry = _load().get(profile)
    offset = entry.get("clock_offset") if isinstance(entry, dict) else None
    # A damaged file (NaN, Infinity, absurd values) is ignored, never trusted.
    valid = isinstance(offset, (int, float)) and not isinstance(offset, bool)
    if valid and math.isfinite(offset) and abs(offset) <= MAX_OFFSET:  # type: ignore[arg-type]
        return float(offset)  # type: ignore[arg-type]
    return 0.0


def save_clock_offset(profile: str, offset: float) -> None:
    data = _load()
    entry = data.get(profile)
    # A damaged entry is replaced: the cache must never break a request.
    data[profile] = {**(entry if isinstance(entry, dict) else {}), "clock_offset": round(offset)}
    import tempfile

    path = state_path()
    try:
        from maascurl.dirs import make_private_dirs

        make_private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state.")
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs a retry next time
