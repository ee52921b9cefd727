"""Shell (bash) text, escaped by construction.

Every value cmfw writes into a shell script is one single-quoted word: inside
``'...'`` bash interprets nothing, so ``$(...)``, backticks and ``;`` stay text. A
single quote ends the word, so it is written as ``'\\''`` (close, escaped quote,
reopen). Templates go through :func:`literal` by way of
:func:`builder.templating.environment`, so none can print a raw value.
"""

from __future__ import annotations

from typing import Any


def quote(value: str) -> str:
    """One shell word holding exactly ``value``."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot be passed to a shell command")
    return "'" + value.replace("'", "'\\''") + "'"


def literal(value: Any) -> str:
    """Strings, integers and booleans (``true``/``false``) as one word; ``None`` as ``''``."""
    if value is None:
        return "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"no shell literal for {type(value).__name__}")


def render(template: str, **context: Any) -> str:
    """Render ``templates/package/<template>`` with every value a shell word."""
    from .templating import render as render_template

    return render_template("package", literal, template, **context)
