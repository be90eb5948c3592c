#!/usr/bin/env python3
"""Write the shipped TAB completion scripts under completions/ from `maascurl completion SHELL`.

Usage: python scripts/make_completions.py

Run it after changing maascurl/cli/shellcomplete.py; tests/test_completion.py fails
while a shipped file differs from the command's output.
"""

from __future__ import annotations

from pathlib import Path

from maascurl.cli import cli
from maascurl.cli.shellcomplete import script

REPO = Path(__file__).resolve().parent.parent

# Shell name -> file name each shell's loader looks for.
FILES = {"bash": "maascurl.bash", "zsh": "_maascurl", "fish": "maascurl.fish"}


def main() -> None:
    out = REPO / "completions"
    out.mkdir(exist_ok=True)
    for shell, name in FILES.items():
        (out / name).write_text(script(shell, cli), encoding="utf-8")
        print(f"wrote completions/{name}")


if __name__ == "__main__":
    main()
