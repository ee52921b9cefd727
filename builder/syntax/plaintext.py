"""Plain text for people: terminal tables and counted nouns."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, "policy", "policies")`` → ``1 policy``; ``plural(3, "rule")`` → ``3 rules``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


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
