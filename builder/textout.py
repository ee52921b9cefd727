"""Plain-text tables for terminal output."""

from __future__ import annotations


def table(headers: list[str], rows: list[list[str]], *, indent: int = 0) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    pad = " " * indent

    def line(cells: list[str]) -> str:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])] + [cells[-1]]
        return (pad + "  ".join(parts)).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])
