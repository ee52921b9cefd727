"""Checks for free text that ends up in artifacts (names, descriptions, paths).

Every emitter escapes for its own format, but some characters cannot be carried
safely anywhere: control characters and line breaks break one-line formats and
reports, lone surrogates cannot be encoded, and bidirectional overrides make a
report show something other than what the policy contains. A firewall rule string
has no escape at all for ``|``.
"""

from __future__ import annotations

import re

# C0 and C1 controls (Unicode category Cc), line/paragraph separators (Zl, Zp),
# surrogates (Cs), the bidirectional marks, embeddings, overrides and isolates, and
# U+FFFE/U+FFFF, which neither XML nor YAML can carry.
_BAD = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff"
_ANYWHERE = re.compile(f"[{_BAD}]")
_IN_RULE = re.compile(f"[{_BAD}|]")


def text_problem(value: str, *, in_rule_string: bool = False) -> str | None:
    """Why ``value`` cannot be used, or ``None`` when it can."""
    match = (_IN_RULE if in_rule_string else _ANYWHERE).search(value)
    if match:
        ch = match.group()
        where = f"at position {match.start() + 1}"
        if ch == "\x00":
            return f"contains a NUL character {where}"
        if ch in "\r\n\x0b\x0c\x85\u2028\u2029":
            return f"contains a line break {where}; use one line"
        if ch == "|":
            return f"contains '|' {where}; firewall rule strings cannot carry it (there is no escape)"
        if "\ud800" <= ch <= "\udfff":
            return f"contains an unpaired surrogate U+{ord(ch):04X} {where}"
        if ch in "\u200e\u200f" or "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069":
            return f"contains the bidirectional control U+{ord(ch):04X} {where}"
        if ch in "\ufffe\uffff":
            return f"contains the noncharacter U+{ord(ch):04X} {where}"
        return f"contains the control character U+{ord(ch):04X} {where}"
    if value != value.strip():
        return "starts or ends with white space"
    return None
