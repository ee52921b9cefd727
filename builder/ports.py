"""Port values: single ports, ``first-last`` ranges and Windows port keywords."""

from __future__ import annotations

from .keywords import LOCAL_PORT_NAMES, REMOTE_PORT_NAMES
from .syntax.numbers import digits

MIN_PORT = 1
MAX_PORT = 65535

_KEYWORDS = {k.casefold(): k for k in LOCAL_PORT_NAMES + REMOTE_PORT_NAMES}


def canonical_port(value: int | str, *, allow_range: bool = True, allow_keyword: bool = False) -> str:
    """Return ``"445"``, ``"49152-65535"`` or a keyword such as ``"RPC-EPMap"``; else ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a port")
    if isinstance(value, int):
        return str(_check(value))
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a port")
    text = value.strip()
    if allow_keyword and text.casefold() in _KEYWORDS:
        return _KEYWORDS[text.casefold()]
    if digits(text):
        return str(_check(int(text)))
    first, sep, last = text.partition("-")
    if sep and digits(first.strip()) and digits(last.strip()):
        if not allow_range:
            raise ValueError(f"{value!r}: a single port is required here, not a range")
        low, high = _check(int(first)), _check(int(last))
        if low > high:
            raise ValueError(f"port range {value!r} is backwards")
        return str(low) if low == high else f"{low}-{high}"
    what = "a port (1-65535) or a range such as 49152-65535" if allow_range else "a port (1-65535)"
    raise ValueError(f"{value!r} is not {what}")


def _check(port: int) -> int:
    if not MIN_PORT <= port <= MAX_PORT:
        raise ValueError(f"port {port} is out of range {MIN_PORT}-{MAX_PORT}")
    return port
