"""The build pipeline: matrix → rules → artifacts → validation → files.

:func:`validate` checks a matrix as far as it can without rendering anything: the
schema, its meaning, the rules it resolves to, lint errors, and whether every output
format can carry those rules. :func:`render` then runs every registered emitter
(:mod:`builder.formats`) and their validators, in memory, and returns the bytes of
every file; :func:`build` writes them with :func:`builder.writer.write_tree`, so a
bad matrix or an artifact that fails validation never touches the output directory.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

from . import __version__, formats, parallel
from .catalog import Catalog, load_catalog
from .errors import ArtifactError, InputError, OutOfDate, Problem
from .formats import Artifacts, Context, Emitter
from .lint import LintFailure, LintReport, lint
from .matrix import Matrix, load_matrix
from .model import Policy, PolicySet
from .package.manifest import BUILD_FORMAT, MANIFEST
from .resolve import resolve
from .timestamps import build_time
from .writer import Stale, stale_files, write_tree
from .yamlsource import stdin_bytes

__all__ = ["BUILD_FORMAT", "Build", "Validated", "build", "check_build", "render", "validate"]


@dataclass(frozen=True)
class Validated:
    """A matrix that can be built: checked, resolved, linted (no open errors), expressible."""

    matrix: Matrix
    policyset: PolicySet
    lint: LintReport
    catalog: Catalog


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


def validate(
    matrix_path: str | Path, catalog: Catalog | None = None, *, emitters: Sequence[Emitter] | None = None
) -> Validated:
    """Everything ``cmfw validate`` checks; raises :class:`InputError` listing every problem.

    Nothing is rendered: what a format cannot carry is found by its ``check_policy``.
    """
    catalog = catalog or load_catalog()
    matrix = load_matrix(matrix_path, catalog)
    policyset = resolve(matrix, catalog)
    findings = lint(matrix, policyset, catalog)
    problems = [f.problem() for f in findings.errors] + formats.unexpressible(policyset, matrix, emitters)
    if problems:
        raise InputError(problems)
    return Validated(matrix, policyset, findings, catalog)


def render(
    matrix_path: str | Path,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
    *,
    out_dir: str | Path | None = None,
    zip: bool = False,
    emitters: Sequence[Emitter] | None = None,
) -> Build:
    """Validate, emit and check every artifact; nothing is written.

    ``timestamp`` (ISO 8601 or seconds since 1970) overrides ``SOURCE_DATE_EPOCH``
    and the fixed default; see :mod:`builder.timestamps`. ``out_dir`` is where the
    files are meant to go: build.json records the matrix path relative to it, and
    the zip (``zip=True``) unpacks to a folder of its name. ``emitters`` replaces the
    registered formats (:func:`builder.formats.emitters`).
    """
    with _cyclic_gc_paused():
        moment = build_time(timestamp, matrix=matrix_path)
        found = tuple(emitters) if emitters is not None else formats.emitters()
        formats.check_order(found)
        checked = validate(matrix_path, catalog, emitters=found)
        ctx = Context(
            checked.policyset, moment, checked.catalog, checked.matrix, checked.lint, out_dir, zip
        )
        files = _emit_all(ctx, found)
        return Build(checked.matrix, checked.policyset, files, checked.lint)


def _emit_all(ctx: Context, found: Sequence[Emitter]) -> dict[str, bytes]:
    """Run the emitters in order; then every validator that did not run in a worker."""
    files: dict[str, bytes] = {}
    facts: dict[str, object] = {}
    problems: list[Problem] = []
    checked_in_parts: list[str] = []
    for emitter in found:
        current = Context(
            ctx.policyset, ctx.moment, ctx.catalog, ctx.matrix, ctx.lint, ctx.out_dir, ctx.zip, files, facts
        )
        if emitter.per_policy:
            template = current.part(())
            for part_files, part_problems in parallel.map_chunks(_emit_part, ctx.policyset.policies, emitter, template):
                _add(files, part_files, emitter)
                problems += part_problems
            checked_in_parts.append(emitter.name)
            continue
        emitted = emitter.emit(current)
        _add(files, emitted.files, emitter)
        facts.update(emitted.facts)
        missing = set(emitter.provides) - set(emitted.facts)
        if missing:
            raise ArtifactError(f"format {emitter.name!r} did not provide {', '.join(sorted(missing))}")
    problems += formats.validate(Artifacts(files), found, skip=checked_in_parts)
    if problems:
        raise ArtifactError("generated artifacts failed validation:\n" + "\n".join(str(p) for p in problems))
    return files


def _add(files: dict[str, bytes], new: dict[str, bytes], emitter: Emitter) -> None:
    for path, data in new.items():
        if not emitter.owns_path(path):
            raise ArtifactError(f"format {emitter.name!r} wrote {path}, which is not among the paths it owns")
        if path in files:
            raise ArtifactError(f"format {emitter.name!r} wrote {path} a second time")
        files[path] = data


def _emit_part(policies: tuple[Policy, ...], emitter: Emitter, template: Context) -> tuple[dict[str, bytes], list[Problem]]:
    """One per-policy emitter on some policies, and what its validators found (run in a
    worker for big builds: the emitter travels by value, its functions by name)."""
    with _cyclic_gc_paused():
        files = emitter.emit(template.part(policies)).files
        return files, formats.validate(Artifacts(files), [emitter])


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
    zip: bool | None = None,
    strict: bool = False,
    full: bool = False,
) -> list[Stale]:
    """What ``build`` would change in ``out_dir``: ``[]`` when it is up to date.

    Options not given (``timestamp``, ``zip``) are those the previous build recorded
    in its build.json. Unless ``full``, the output is up to date *by construction*
    when build.json names the same inputs (matrix bytes, cmfw version, catalog,
    options) and every file still has the SHA-256 it lists: nothing is rendered.
    Otherwise the matrix is rendered and compared file by file. ``strict`` fails on
    open lint warnings, as a strict build would. A missing ``out_dir`` raises
    :class:`OutOfDate` (exit 1, as for a stale one).
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise OutOfDate(f"{out}: output directory does not exist; build it with: cmfw build {matrix_path} -o {out}")
    recorded = _recorded_options(out)
    if timestamp is None and recorded.get("timestamp"):
        timestamp = str(recorded["timestamp"])
    if zip is None:
        zip = bool(recorded.get("zip", False))
    if not full and _unchanged_inputs(matrix_path, out, catalog, timestamp, zip):
        if strict:
            checked = validate(matrix_path, catalog)
            if checked.lint.warnings:
                raise LintFailure(checked.lint.warnings)
        return []
    result = render(matrix_path, catalog, timestamp, out_dir=out_dir, zip=zip)
    if strict and result.lint.warnings:
        raise LintFailure(result.lint.warnings)
    return stale_files(out, result.files)


def _recorded_options(out: Path) -> dict[str, object]:
    try:
        options = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["inputs"]["options"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return options if isinstance(options, dict) else {}


def _unchanged_inputs(matrix_path: str | Path, out: Path, catalog: Catalog | None, timestamp: str | None, zip: bool) -> bool:
    """Whether ``out`` is what a build would write, without rendering: see :func:`check_build`."""
    from .package.manifest import SUMS, ZIP, checksums, zip_package, zip_top
    from .writer import scan

    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        matrix_bytes = stdin_bytes() if str(matrix_path) == "-" else Path(matrix_path).read_bytes()
        inputs = manifest["inputs"]
        listed: dict[str, str] = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    cat = catalog or load_catalog()
    moment = build_time(timestamp, matrix=matrix_path)
    if (
        manifest.get("generator", {}).get("version") != __version__
        or manifest.get("matrix", {}).get("sha256") != hashlib.sha256(matrix_bytes).hexdigest()
        or inputs.get("catalog_sha256") != cat.digest
        or inputs.get("options") != {"timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "zip": zip}
    ):
        return False
    present, special = scan(out)
    if special:
        return False
    owned = set(listed) | {MANIFEST, SUMS} | ({ZIP} if zip else set())
    if not owned <= present or (not zip and ZIP in present):
        return False
    files: dict[str, bytes] = {}
    for rel in sorted(set(listed) | {MANIFEST}):
        data = (out / rel).read_bytes()
        if rel != MANIFEST and hashlib.sha256(data).hexdigest() != listed[rel]:
            return False
        files[rel] = data
    if (out / SUMS).read_bytes() != checksums(files):
        return False
    files[SUMS] = (out / SUMS).read_bytes()
    if zip and (out / ZIP).read_bytes() != zip_package(files, zip_top(out), moment):
        return False
    return True
