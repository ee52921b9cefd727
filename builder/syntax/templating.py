"""Jinja2 environments in which every ``{{ value }}`` is escaped for the target format.

A template folder is paired with one *literal* function (PowerShell, shell...). The
environment's ``finalize`` hook sends every expression through it, so a template has
no way to print a raw value: escaping is a property of the environment, not a
habit of the template author.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

Literal = Callable[[Any], str]


@functools.cache
def environment(folder: str, literal: Literal) -> Any:
    """The environment for ``templates/<folder>``: StrictUndefined, output through ``literal``."""
    import jinja2

    from ..datafiles import template_path

    def finalize(value: Any) -> str:
        if value.__class__ is str:  # most values: no isinstance chain
            return literal(value)
        if isinstance(value, jinja2.Undefined):
            str(value)  # StrictUndefined raises here, naming the missing variable
        return literal(value)

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_path(folder))),
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # "{#" opens a comment in Jinja but is everyday shell ("${#array[@]}").
        comment_start_string="{#jinja",
        comment_end_string="jinja#}",
    )


def render(folder: str, literal: Literal, template: str, **context: Any) -> str:
    return str(environment(folder, literal).get_template(template).render(**context))
