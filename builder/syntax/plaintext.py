"""Plain text for people: terminal tables, counted nouns, and foreign text made safe to print."""

from __future__ import annotations

import unicodedata

#: What a table cell shows in place of what did not fit.
ELLIPSIS = "\u2026"


def shown(text: str) -> str:
    """``text`` safe for a terminal and for one-line formats: every character that is not
    printable (controls such as ESC, CR, LF and NUL; bidirectional overrides; line and
    paragraph separators) becomes a visible escape such as ``\\n`` or ``\\u202e``.
    Foreign data (a rule name in someone's GPO) can then neither drive the terminal nor
    forge extra lines in ``inspect --format lines``."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() and unicodedata.category(ch) != "Cf":
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return "".join(out)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, "policy", "policies")`` → ``1 policy``; ``plural(3, "rule")`` → ``3 rules``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def table(headers: list[str], rows: list[list[str]], *, indent: int = 0, width: int | None = None,
          keep: tuple[int, ...] = (0,), drop: tuple[int, ...] = ()) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    Every cell is made :func:`shown`. With ``width``, lines are kept within it: the
    widest columns not in ``keep`` are narrowed first, their cells ending in an
    ellipsis, down to 4 characters each; if that is not enough, the columns of ``drop``
    are hidden in that order, and a last line says which (``--wide`` shows them all).
    """
    rows = [[shown(cell) for cell in row] for row in rows]
    full = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            full[i] = max(full[i], len(cell))
    columns = list(range(len(headers)))
    widths = dict(zip(columns, full))
    if width is not None:
        room = width - indent
        # Narrow what may narrow; then hide the drop columns one by one; last, narrow
        # the kept columns too, rather than overflow.
        steps = [(drop[:n], keep) for n in range(len(drop) + 1)] + [(drop, ())]
        for dropped, kept in steps:
            columns = [i for i in range(len(headers)) if i not in dropped]
            fitted = _fit([full[i] for i in columns], room, tuple(columns.index(k) for k in kept if k in columns))
            widths = dict(zip(columns, fitted))
            if sum(fitted) + 2 * (len(fitted) - 1) <= room:
                break
    pad = " " * indent

    def line(cells: list[str]) -> str:
        picked = [_cut(cells[i], widths[i]) for i in columns]
        parts = [cell.ljust(widths[i]) for i, cell in zip(columns[:-1], picked[:-1])] + [picked[-1]]
        return (pad + "  ".join(parts)).rstrip()

    text = "\n".join([line(headers)] + [line(r) for r in rows])
    hidden = [headers[i] for i in range(len(headers)) if i not in columns]
    if hidden and width is not None:
        note = f"(to fit {width} columns, not shown: {', '.join(hidden)}; --wide shows every column)"
        text += "\n" + wrap(note, width, pad)
    return text


def wrap(text: str, width: int, indent: str = "", more: str = "  ") -> str:
    """``text`` folded at spaces to ``width`` columns (no limit when 0); continuation
    lines get ``indent`` plus ``more``."""
    import textwrap

    if not width or len(indent) + len(text) <= width:
        return indent + text
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + more, break_on_hyphens=False)


def _fit(widths: list[int], width: int, keep: tuple[int, ...]) -> list[int]:
    """Column widths whose total (with two-space gaps) is at most ``width``, if it can be."""
    widths = list(widths)
    gaps = 2 * (len(widths) - 1)
    excess = sum(widths) + gaps - width
    while excess > 0:
        movable = [i for i in range(len(widths)) if i not in keep and widths[i] > 4]
        if not movable:
            break
        # The widest gives way first, one character at a time, so that wide columns
        # end up equally wide rather than one of them cut to nothing.
        widest = max(movable, key=lambda i: (widths[i], i))
        widths[widest] -= 1
        excess -= 1
    return widths


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(width - 1, 0)] + ELLIPSIS
