"""The build pipeline: matrix → rules → artifacts → validation → files.

:func:`render` does everything in memory and returns the bytes of every file;
:func:`build` then writes them with :func:`builder.writer.write_tree`, so a bad
matrix or an artifact that fails validation never touches the output directory.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from . import __version__, rulesjson
from .jsonlayout import dumps
from .catalog import Catalog, load_catalog
from .errors import ArtifactError
from .dsc import emit as dsc
from .gpo import backup as gpo_backup
from .matrix import Matrix, load_matrix
from .model import PolicySet
from .resolve import resolve
from .timestamps import build_time
from .validate import validate_artifacts
from .writer import MANIFEST, write_tree

BUILD_FORMAT = "cmfw-build/1"


@dataclass(frozen=True)
class Build:
    """What a build produced: the checked matrix, its rules, and every output file."""

    matrix: Matrix
    policyset: PolicySet
    files: dict[str, bytes]


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cycle collector while a build allocates its (acyclic) data.

    A large build creates millions of dicts, lists and tuples; the collector would
    rescan them again and again (about 45 % of a 1,000-policy build). Reference
    counting still frees everything; cycles, if any, are collected afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def render(matrix_path: str | Path, catalog: Catalog | None = None, timestamp: str | None = None) -> Build:
    """Load, resolve, emit and validate; nothing is written.

    ``timestamp`` (ISO 8601 or seconds since 1970) overrides ``SOURCE_DATE_EPOCH``
    and the fixed default; see :mod:`builder.timestamps`.
    """
    with _cyclic_gc_paused():
        return _render(matrix_path, catalog, build_time(timestamp))


def _render(matrix_path: str | Path, catalog: Catalog | None, moment: datetime) -> Build:
    catalog = catalog or load_catalog()
    matrix = load_matrix(matrix_path, catalog)
    policyset = resolve(matrix, catalog)
    files: dict[str, bytes] = {}
    files.update(rulesjson.emit(policyset))
    files.update(gpo_backup.emit(policyset, moment))
    files.update(dsc.emit(policyset, moment))
    problems = validate_artifacts(files, canonical=False)
    if problems:
        raise ArtifactError("generated artifacts failed validation:\n" + "\n".join(str(p) for p in problems))
    files[MANIFEST] = build_manifest(matrix, policyset, files)
    return Build(matrix, policyset, files)


def build(
    matrix_path: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
) -> Build:
    """Render the matrix and replace ``out_dir`` with the result, atomically."""
    result = render(matrix_path, catalog, timestamp)
    write_tree(Path(out_dir), result.files, force=force)
    return result


def build_manifest(matrix: Matrix, policyset: PolicySet, files: dict[str, bytes]) -> bytes:
    """``build.json``: what was built from what, and every file with its SHA-256.

    Only the matrix's file *name* is recorded, so that builds from different
    working directories are byte-identical.
    """
    return dumps(
        {
            "format": BUILD_FORMAT,
            "generator": {"name": "cmfw", "version": __version__},
            "matrix": {"file": Path(matrix.file).name, "sha256": matrix.sha256},
            "catalog_version": policyset.catalog_version,
            "policies": [
                {"name": p.name, "key": p.key, "gpo_guid": p.gpo_guid, "rules": len(p.rules)}
                for p in policyset.policies
            ],
            "files": {path: hashlib.sha256(files[path]).hexdigest() for path in sorted(files)},
        }
    )
