"""termsafe: server text made harmless for a terminal, and nothing else changed."""

from __future__ import annotations

from maascurl.termsafe import safe, safe_line


def test_escape_sequences_and_c1_controls_become_visible() -> None:
    osc52 = "\x1b]52;c;ZXZpbA==\x07"
    assert safe(f"ok{osc52}") == "ok\\x1b]52;c;ZXZpbA==\\x07"
    assert safe("a\x9bb\x7fc\x00d") == "a\\x9bb\\x7fc\\x00d"


def test_text_tabs_newlines_and_non_ascii_are_kept() -> None:
    text = "No Machine matches\tthe query.\nnœud é 日本 \u00a0"
    assert safe(text) == text


def test_a_line_shows_its_newlines_and_tabs() -> None:
    assert safe_line("one\ntwo\tthree\r") == "one\\ntwo\\tthree\\x0d"
