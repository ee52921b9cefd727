"""Numbers written in text: ASCII digits only.

``str.isdigit`` is true for ``'²'`` (which ``int`` then refuses, with a traceback) and
for ``'٨٠'`` (which ``int`` reads as 80, so a port written in Arabic-Indic digits
would pass as port 80). Every place cmfw reads a number from text asks here instead.
"""

from __future__ import annotations


def digits(text: str) -> bool:
    """True when ``text`` is one or more ASCII digits 0-9, nothing else."""
    return text.isascii() and text.isdigit()
