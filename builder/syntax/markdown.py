"""Markdown text, escaped by construction (for report.md and ``diff --format markdown``).

A policy name such as ``*Kiosks* | <img src=x> @team #12 :smile:`` must show as
those characters in a pull-request comment, not as emphasis, a table cell break,
HTML, a mention, an issue link or an emoji. CommonMark lets any ASCII punctuation be
escaped with a backslash; :func:`text` escapes the characters that mean something
inside a line (values never start a line here, so ``-``, ``+`` and ``1.`` are safe),
which keeps the raw file readable in a diff.
"""

from __future__ import annotations

import re

from .plaintext import shown

#: Inline syntax: code, emphasis, links/images, HTML/autolinks, entities, table cells,
#: strikethrough, and GitHub's emoji, mentions and issue references.
SPECIAL = "\\`*_[]<>&|~:@#!"
_ESCAPE = str.maketrans({c: "\\" + c for c in SPECIAL})
#: Control characters (C0, DEL, C1): line breaks among them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def text(value: object) -> str:
    """``value`` as literal Markdown text (see :data:`SPECIAL`), on one line: a line break
    or another control character shows as its escape (``\\n``), never breaks a table."""
    raw = str(value)
    if _CONTROL.search(raw):
        raw = _CONTROL.sub(lambda m: shown(m.group()), raw)
    return raw.translate(_ESCAPE)


def code(value: object) -> str:
    """``value`` in a code span, when it holds no backtick, pipe or line break; else escaped text.

    (A pipe ends a table cell even inside a code span, in GitHub's tables.)
    """
    raw = str(value)
    if any(c in raw for c in "`|") or _CONTROL.search(raw) or not raw.strip():
        return text(raw)
    return f"`{raw}`"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A pipe table; cells must already be Markdown (escaped with :func:`text` or :func:`code`)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out
