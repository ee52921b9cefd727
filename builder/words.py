"""Small wording helpers for messages."""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, "policy", "policies")`` → ``1 policy``; ``plural(3, "rule")`` → ``3 rules``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
