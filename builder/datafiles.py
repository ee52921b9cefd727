"""Where the files shipped next to the code are.

In a checkout (and an editable install) ``schemas/`` and ``templates/`` sit at the top
of the repository; a wheel carries them as ``builder/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    bundled = _PACKAGE / "_data" / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE.parent / name


def schema_path(name: str) -> Path:
    return data_dir("schemas") / name


def template_path(name: str) -> Path:
    return data_dir("templates") / name
