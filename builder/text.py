"""Checks for free text that ends up in artifacts (names, descriptions, paths).

Every emitter escapes for its own format, but some characters cannot be carried
safely anywhere: control characters and line breaks break one-line formats and
reports, lone surrogates cannot be encoded, and bidirectional overrides make a
report show something other than what the policy contains. A firewall rule string
has no escape at all for ``|``.
"""

from __future__ import annotations

import unicodedata

_BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(value: str, *, in_rule_string: bool = False) -> str | None:
    """Why ``value`` cannot be used, or ``None`` when it can."""
    for index, ch in enumerate(value):
        category = unicodedata.category(ch)
        where = f"at position {index + 1}"
        if ch == "\x00":
            return f"contains a NUL character {where}"
        if ch in "\r\n\u2028\u2029" or category in ("Zl", "Zp"):
            return f"contains a line break {where}; use one line"
        if category == "Cc":
            return f"contains the control character U+{ord(ch):04X} {where}"
        if category == "Cs":
            return f"contains an unpaired surrogate U+{ord(ch):04X} {where}"
        if ch in _BIDI_CONTROLS:
            return f"contains the bidirectional control U+{ord(ch):04X} {where}"
        if in_rule_string and ch == "|":
            return f"contains '|' {where}; firewall rule strings cannot carry it (there is no escape)"
    if value != value.strip():
        return "starts or ends with white space"
    return None
