"""What the second security review found (issue 20), its low items, each against a hostile
server (tests/hostile.py), a hostile input file or database, or a second local user.

Tests that belong with one feature live beside it (test_profile_import.py,
test_events.py, test_table.py...); these are the ones that cut across.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Run

# --- 7: what a profile holds is shown, not obeyed ---------------------------------------


def test_profile_list_and_show_make_a_stored_urls_controls_visible(run: Run, home: Path) -> None:
    """A hand-edited config may hold escape sequences: list and show print them visibly."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        'default = "odd"\n'
        '[profiles.odd]\nurl = "http://127.0.0.1:9/MA\\u001b]0;pwned\\u0007AS\\u009b2J"\n'
        'api_key = "c\\u001b[31m:t:s"\n'
        '[profiles."n\\u001b[2J"]\nurl = "http://127.0.0.1:9/MAAS"\n'
    )
    config.chmod(0o600)
    shown = run("profile", "list").stdout + run("profile", "show", "odd").stdout
    assert not any(c in shown for c in "\x1b\x07\x9b")
    assert "MA\\x1b]0;pwned\\x07AS\\x9b2J" in shown
    assert "n\\x1b[2J" in shown
    assert "api_key: c\\x1b[31m:<redacted>:<redacted>" in shown
    listed, one = run("profile", "list", "--json").stdout, run("profile", "show", "odd", "--json")
    assert not any(c in listed + one.stdout for c in "\x1b\x07\x9b")
    assert json.loads(one.stdout)["url"].endswith("\x9b2J")  # JSON escapes, and keeps, them
