"""Private directories for what maascurl keeps: the config, the cache, state.

A ground-floor leaf (stdlib only) because the API description's cache, the
IDs seen in listings, the small state and the config file all make their
directories the same way, from different floors.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path


def make_private_dirs(directory: Path) -> None:
    """Create DIRECTORY and any missing parent with mode 0700, whatever the umask."""
    missing: list[Path] = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        # The umask can only narrow 0700, never widen it.
        with suppress(FileExistsError):  # made by a parallel run
            os.mkdir(path, 0o700)
