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


def test_shell_words_are_plain_ascii_words() -> None:
    from maascurl.termsafe import shell_template, shell_word

    for word in ("abc123", "42", "node-1.maas", "admin@example.com", "a+b", "f:00"):
        assert shell_word(word), word
    for word in ("", "x$(id)", "a b", "`id`", "a;b", "~root", "*", "é", "a\u202eb", "{x}"):
        assert not shell_word(word), word
    assert shell_template("machines/{system_id}/op-x")
    assert not shell_template("machines/$(id)/") and not shell_template("a/{b c}/")


def test_bidi_controls_become_visible() -> None:
    assert safe("a\u202eb\u2066c\u200fd\u061ce") == "a\\u202eb\\u2066c\\u200fd\\u061ce"
    assert safe("שלום عربي") == "שלום عربي"  # right-to-left text itself is kept
