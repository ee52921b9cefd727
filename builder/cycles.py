"""The cycle collector paused while big acyclic data is built.

A 1,000-policy build creates millions of dicts, lists and tuples, and a 100,000-entry
registry.pol as many entries; the collector would rescan them again and again (about
45 % of such a build; reading registry.pol became superlinear). Reference counting still
frees everything; cycles, if any, are collected once the collector runs again.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def cycles_unchecked() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
