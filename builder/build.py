"""The build pipeline: matrix → rules → artifacts → validation → files.

:func:`render` does everything in memory and returns the bytes of every file;
:func:`build` then writes them with :func:`builder.writer.write_tree`, so a bad
matrix or an artifact that fails validation never touches the output directory.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from . import parallel, report, rulesjson
from .package import manifest as package
from .package import scripts
from .catalog import Catalog, load_catalog
from .dsc.check import check_dsc_files
from .errors import ArtifactError, InputError, Problem
from .lint import LintFailure, LintReport, lint
from .dsc import emit as dsc
from .gpo import backup as gpo_backup
from .matrix import Matrix, load_matrix
from .model import Policy, PolicySet
from .resolve import resolve
from .timestamps import build_time
from .validate import validate_artifacts
from .writer import Stale, stale_files, write_tree

BUILD_FORMAT = package.BUILD_FORMAT


@dataclass(frozen=True)
class Build:
    """What a build produced: the checked matrix, its rules, and every output file."""

    matrix: Matrix
    policyset: PolicySet
    files: dict[str, bytes]
    lint: LintReport


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


def render(
    matrix_path: str | Path,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
    *,
    out_dir: str | Path | None = None,
    zip: bool = False,
) -> Build:
    """Load, resolve, emit and validate; nothing is written.

    ``timestamp`` (ISO 8601 or seconds since 1970) overrides ``SOURCE_DATE_EPOCH``
    and the fixed default; see :mod:`builder.timestamps`. ``out_dir`` is where the
    files are meant to go: build.json records the matrix path relative to it, and
    the zip (``zip=True``) unpacks to a folder of its name.
    """
    with _cyclic_gc_paused():
        return _render(matrix_path, catalog, build_time(timestamp), out_dir, zip)


def _render(
    matrix_path: str | Path, catalog: Catalog | None, moment: datetime, out_dir: str | Path | None, zip: bool
) -> Build:
    catalog = catalog or load_catalog()
    matrix = load_matrix(matrix_path, catalog)
    policyset = resolve(matrix, catalog)
    findings = lint(matrix, policyset, catalog)
    if findings.errors:
        raise InputError([f.problem() for f in findings.errors])
    files: dict[str, bytes] = {}
    files.update(rulesjson.emit(policyset))
    backups, backup_ids = gpo_backup.emit_backups(policyset, moment)
    files.update(backups)
    dsc_problems: list[Problem] = []
    for dsc_files, problems in parallel.map_chunks(
        _dsc_part, policyset.policies, policyset.domain, policyset.catalog_version, moment
    ):
        files.update(dsc_files)
        dsc_problems += problems
    files.update(scripts.emit_scripts(policyset, backup_ids))
    identity = report.Identity(
        package.matrix_path(matrix.file, out_dir), matrix.sha256, policyset.catalog_version, moment, backup_ids
    )
    files.update(report.emit(policyset, findings, catalog, identity))
    checked = {path: data for path, data in files.items() if not path.startswith(dsc.ROOT + "/")}
    problems = dsc_problems + validate_artifacts(checked, canonical=False)
    if problems:
        raise ArtifactError("generated artifacts failed validation:\n" + "\n".join(str(p) for p in problems))
    files[package.MANIFEST] = package.build_manifest(matrix, policyset, backup_ids, files, out_dir)
    files[package.SUMS] = package.checksums(files)
    if zip:
        files[package.ZIP] = package.zip_package(files, package.zip_top(out_dir), moment)
    return Build(matrix, policyset, files, findings)


def _dsc_part(policies: tuple[Policy, ...], domain: str, catalog_version: str, moment: datetime) -> tuple[dict[str, bytes], list[Problem]]:
    """The DSC files of some policies, and what their checks found (run in a worker for big builds)."""
    with _cyclic_gc_paused():
        files = dsc.emit(PolicySet(domain, policies, catalog_version), moment)
        return files, check_dsc_files(files, dsc.ROOT)


def build(
    matrix_path: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
    zip: bool = False,
    strict: bool = False,
) -> Build:
    """Render the matrix and replace ``out_dir`` with the result, atomically.

    With ``strict``, open lint warnings fail the build (:class:`LintFailure`, exit 1)
    before anything is written.
    """
    result = render(matrix_path, catalog, timestamp, out_dir=out_dir, zip=zip)
    if strict and result.lint.warnings:
        raise LintFailure(result.lint.warnings)
    write_tree(Path(out_dir), result.files, force=force)
    return result


def check_build(
    matrix_path: str | Path,
    out_dir: str | Path,
    *,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
    zip: bool = False,
    strict: bool = False,
) -> list[Stale]:
    """What ``build`` would change in ``out_dir``: ``[]`` when it is up to date.

    ``strict`` fails on open lint warnings, as a strict build would.
    """
    result = render(matrix_path, catalog, timestamp, out_dir=out_dir, zip=zip)
    if strict and result.lint.warnings:
        raise LintFailure(result.lint.warnings)
    return stale_files(Path(out_dir), result.files)
