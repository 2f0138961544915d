"""What every subcommand shares: text made safe for a terminal."""

from __future__ import annotations

from gateway.cli.common import terminal_safe


def test_terminal_safe_escapes_what_a_terminal_would_act_on() -> None:
    """ESC, a bidi override and a line separator are printed as escapes; other text is untouched."""
    assert terminal_safe("Kirana \x1b[31mTravel\u202e\u2028") == "Kirana \\x1b[31mTravel\\u202e\\u2028"
    assert terminal_safe("Warung Sari · العربية · 日本") == "Warung Sari · العربية · 日本"
