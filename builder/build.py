"""The build pipeline: matrix → rules → artifacts → validation → files.

:func:`validate` checks a matrix as far as it can without rendering anything: the
schema, its meaning, the rules it resolves to, lint errors, and whether every output
format can carry those rules. :func:`render` then runs every registered emitter
(:mod:`builder.formats`) and their validators, in memory, and returns the bytes of
every file; :func:`build` writes them through a :class:`builder.writer.StagedTree`:
into a hidden staging folder as they are made (once lint has passed), swapped in only
when every artifact is valid, so a bad matrix or an artifact that fails validation
never touches the output directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from . import __version__, formats, parallel
from .cycles import cycles_unchecked
from .catalog import Catalog, load_catalog
from .errors import ArtifactError, InputError, OutOfDate, Problem
from .formats import LINT, Artifacts, Context, Emitter
from .lint import LintFailure, LintReport, lint
from .matrix import Matrix, load_matrix
from .model import PolicySet
from .package.manifest import BUILD_FORMAT, MANIFEST
from .resolve import resolve
from .timestamps import build_time
from .writer import FileMap, StagedTree, Stale, stale_files
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
    #: Every file by path. After :func:`build`, the bigger part is read back from the
    #: output directory when asked for (:class:`~builder.writer.FileMap`).
    files: Mapping[str, bytes]
    lint: LintReport


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
    _refuse(findings, formats.unexpressible(policyset, matrix, emitters))
    return Validated(matrix, policyset, findings, catalog)


def _refuse(findings: LintReport, unexpressible: list[Problem]) -> None:
    """Lint errors, then what a format cannot carry: what stops a build before it renders."""
    problems = [f.problem() for f in findings.errors] + unexpressible
    if problems:
        raise InputError(problems)


def render(
    matrix_path: str | Path,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
    *,
    out_dir: str | Path | None = None,
    zip: bool = False,
    emitters: Sequence[Emitter] | None = None,
    progress: Progress | None = None,
    sink: StagedTree | None = None,
) -> Build:
    """Validate, emit and check every artifact; nothing is written (but see ``sink``).

    ``timestamp`` (ISO 8601 or seconds since 1970) overrides ``SOURCE_DATE_EPOCH``
    and the fixed default; see :mod:`builder.timestamps`. ``out_dir`` is where the
    files are meant to go: build.json records the matrix path relative to it, and
    the zip (``zip=True``) unpacks to a folder of its name. ``emitters`` replaces the
    registered formats (:func:`builder.formats.emitters`). ``progress`` is told, in a
    few words, what the build is doing each time a part of it is done (``rendering dsc
    250/1000``); the CLI shows it on a terminal. ``sink``: once lint has found no error,
    files go to this staging tree as they are made (:func:`build` commits it only if
    everything is valid), so that writing overlaps rendering.

    A big build runs lint, the per-policy formats (in parts) and the other formats in
    worker processes at once (:class:`_Emission`); the bytes, and the first error, are
    those of a build in one process.
    """
    with cycles_unchecked():
        moment = build_time(timestamp, matrix=matrix_path)
        found = tuple(emitters) if emitters is not None else formats.emitters()
        formats.check_order(found)
        catalog = catalog or load_catalog()
        matrix = load_matrix(matrix_path, catalog)
        policyset = resolve(matrix, catalog)
        unexpressible = formats.unexpressible(policyset, matrix, found)
        if unexpressible:  # the build stops here; lint's errors come first in the message
            _refuse(lint(matrix, policyset, catalog), unexpressible)
        ctx = Context(policyset, moment, catalog, matrix, None, out_dir, zip)
        count = parallel.jobs(len(policyset.policies))
        shared = _Shared(ctx, found)
        with parallel.Workers(count, shared) if count > 1 else parallel.Inline(shared) as executor:
            files, findings = _Emission(shared, executor, progress, sink).run()
        return Build(matrix, policyset, files, findings)


#: Told what a build is doing, in a few words, as it goes.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class _Shared:
    """What every task of a build reads (worker processes inherit it): the context without
    the lint report, and the formats."""

    ctx: Context
    found: tuple[Emitter, ...]


class _NeedsFiles(BaseException):
    """A format run away from the build's files reached for them (not an ``Exception``: a
    format's own ``except`` must not catch it)."""


class _Unseen(Mapping[str, bytes]):
    """``Context.files`` of a format made in a worker: earlier formats' files are not there,
    and a format that reads them is made again in the build's process, after them."""

    def __getitem__(self, path: str) -> bytes:
        raise _NeedsFiles

    def __iter__(self) -> Iterator[str]:
        raise _NeedsFiles

    def __len__(self) -> int:
        raise _NeedsFiles


class _Own(Mapping[str, bytes]):
    """``Artifacts.files`` for a validator run where its format was made: that format's
    files. A path of another format, or a look at all of them, means the validator needs
    the whole build: it runs again at the end, on every file."""

    def __init__(self, emitter: Emitter, files: Mapping[str, bytes], found: Sequence[Emitter]) -> None:
        self._emitter, self._files, self._found = emitter, files, found

    def __getitem__(self, path: str) -> bytes:
        if not self._emitter.owns_path(path) and any(other.owns_path(path) for other in self._found):
            raise _NeedsFiles
        return self._files[path]

    def __iter__(self) -> Iterator[str]:
        raise _NeedsFiles

    def __len__(self) -> int:
        raise _NeedsFiles


def _task_lint() -> LintReport:
    ctx = parallel.shared().ctx
    with cycles_unchecked():
        return lint(ctx.matrix, ctx.policyset, ctx.catalog)


def _task_part(index: int, start: int, stop: int, facts: dict[str, Any], findings: LintReport | None) -> tuple[dict[str, bytes], dict[str, Any], list[Problem]]:
    """One per-policy format on some policies, and what its part validators found there."""
    shared: _Shared = parallel.shared()
    emitter = shared.found[index]
    policies = shared.ctx.policyset.policies[start:stop]
    with cycles_unchecked():
        emitted = emitter.emit(dataclasses.replace(shared.ctx, lint=findings, facts=facts).part(policies))
        problems: list[Problem] = []
        if emitted.files:
            for validator in emitter.validators:
                if not validator.whole:
                    problems += validator.check(Artifacts(emitted.files))
        return emitted.files, emitted.facts, problems


def _task_whole(index: int, facts: dict[str, Any], findings: LintReport) -> tuple[dict[str, bytes], dict[str, Any], list[Problem], frozenset[int]] | None:
    """A format made once for all policies, away from the earlier formats' files, and
    those of its validators that need only its own files (``None``: it needs the files)."""
    shared: _Shared = parallel.shared()
    ctx, emitter = shared.ctx, shared.found[index]
    current = Context(ctx.policyset, ctx.moment, ctx.catalog, ctx.matrix, findings, ctx.out_dir, ctx.zip, _Unseen(), facts)
    with cycles_unchecked():
        try:
            emitted = emitter.emit(current)
        except _NeedsFiles:
            return None
        problems, done = _own_checks(emitter, emitted.files, range(len(emitter.validators)))
        return emitted.files, emitted.facts, problems, done


def _task_finish(
    index: int, facts: dict[str, Any], findings: LintReport, parts: list[Mapping[str, Any]]
) -> tuple[dict[str, bytes], dict[str, Any], list[Problem], frozenset[int]]:
    """A per-policy format's ``finish``, and those of its ``whole`` validators that need
    only what the finish wrote (the rest run at the end, on every file)."""
    shared: _Shared = parallel.shared()
    ctx, emitter = shared.ctx, shared.found[index]
    assert emitter.finish is not None
    current = Context(ctx.policyset, ctx.moment, ctx.catalog, ctx.matrix, findings, ctx.out_dir, ctx.zip, _Unseen(), facts)
    with cycles_unchecked():
        emitted = emitter.finish(current, parts)
        if not emitted.files:  # its whole validators look at the parts' files: at the end
            return emitted.files, emitted.facts, [], frozenset()
        wholes = [i for i, validator in enumerate(emitter.validators) if validator.whole]
        problems, done = _own_checks(emitter, emitted.files, wholes)
        return emitted.files, emitted.facts, problems, done


def _task_checks(index: int, files: dict[str, bytes], which: tuple[int, ...]) -> tuple[list[Problem], frozenset[int]]:
    """Validators of a format made in the build's process, on its own files, in a worker."""
    with cycles_unchecked():
        return _own_checks(parallel.shared().found[index], files, which)


def _own_checks(emitter: Emitter, files: dict[str, bytes], which: Sequence[int]) -> tuple[list[Problem], frozenset[int]]:
    """The validators ``which`` of ``emitter`` that need only ``files``, in order, until one
    reaches for another file: what they found, and which ran."""
    problems: list[Problem] = []
    if not files:
        return problems, frozenset(which)
    own = Artifacts(_Own(emitter, files, parallel.shared().found))
    done: set[int] = set()
    for number in which:
        try:
            problems += emitter.validators[number].check(own)
        except _NeedsFiles:
            break
        done.add(number)
    return problems, frozenset(done)


class _Emission:
    """Every format of a build, each as soon as what it needs is there, on ``executor``.

    * lint, and each per-policy format in parts, start at once (those that require
      :data:`~builder.formats.LINT` once lint is done); a per-policy format's ``finish``
      (in a worker, once all its parts are in) and every other format wait for lint and
      for the facts of the formats before them (those that ``provide`` facts), as in a
      build in one process;
    * a format made once for all policies runs in a worker unless it reads the files of
      the formats before it (the package manifest): then it runs here, after them all;
    * validators run where their format was made, when they need only its files; the
      rest, on every file, at the end;
    * files go to the sink once lint has passed, and their bytes are let go once the sink
      has written them (:class:`~builder.writer.FileMap`).

    Errors are those of a build in one process: lint's errors first; otherwise the first
    error of the first format (parts in policy order) that failed; otherwise every
    validator's problems, format by format in registry order.
    """

    def __init__(
        self, shared: _Shared, executor: parallel.Workers | parallel.Inline, progress: Progress | None = None,
        sink: StagedTree | None = None,
    ) -> None:
        self.ctx, self.found, self.executor = shared.ctx, shared.found, executor
        self.progress, self.sink = progress, sink
        self.pending: list[dict[str, bytes]] = []  # made, not yet given to the sink
        self.rendered = [0] * len(self.found)  # policies done, per per-policy format
        count = len(self.found)
        self.findings: LintReport | None = None
        self.lint_started = False
        self.started = [False] * count
        self.complete = [False] * count
        self.published: list[dict[str, Any]] = [{} for _ in range(count)]
        # Each part's (chunk, paths, facts, problems); its files wait in ``unsorted`` until
        # the format's finish puts them in policy order in ``own``.
        self.parts: list[list[tuple[int, list[str], dict[str, Any], list[Problem]]]] = [[] for _ in range(count)]
        self.unsorted: list[dict[str, bytes | None]] = [{} for _ in range(count)]
        self.chunks = [0] * count
        # Files by format, then merged in registry order; ``None``: written to the sink and let go.
        self.own: list[dict[str, bytes | None]] = [{} for _ in range(count)]
        self.where: dict[str, int] = {}  # path → the format that wrote it
        self.problems: list[list[Problem]] = [[] for _ in range(count)]
        self.done: list[frozenset[int]] = [frozenset()] * count  # validators run where the format was made
        self.finishing = [False] * count
        self.made_here: dict[int, dict[str, bytes]] = {}  # formats that read the others' files
        self.merged: dict[str, bytes | None] = {}
        self.merged_upto = 0
        self.ready: list[tuple[tuple[int, ...], Callable[..., Any], tuple[Any, ...], tuple[int, ...]]] = []
        self.inflight: dict[int, tuple[int, ...]] = {}
        self.errors: list[tuple[tuple[int, ...], BaseException]] = []

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> tuple[Mapping[str, bytes], LintReport]:
        self._release()
        while self.ready or self.inflight:
            self.ready.sort(key=lambda task: task[0])
            while self.ready and len(self.inflight) < self.executor.count:
                _, func, args, position = self.ready.pop(0)
                if self.errors and position > min(self.errors, key=lambda e: e[0])[0]:
                    continue  # after a failure, only what could fail first still runs
                self.inflight[self.executor.submit(func, *args)] = position
            if not self.inflight:
                break
            ticket, error, result = self.executor.next()
            position = self.inflight.pop(ticket)
            if error is None:
                try:
                    self._landed(position, result)
                except (InputError, ArtifactError) as exc:
                    error = exc
            if error is not None:
                self.errors.append((position, error))
            self._release()
            self._stream()
        if self.findings is not None:
            _refuse(self.findings, [])
        if self.errors:
            raise min(self.errors, key=lambda e: e[0])[1]
        assert self.findings is not None and all(self.complete)
        return self._validated(), self.findings

    def _landed(self, position: tuple[int, ...], result: Any) -> None:
        index = position[0]
        if index < 0:
            self.findings = result
            return
        emitter = self.found[index]
        if emitter.per_policy and position[1] == 1:  # its finish
            files, facts, problems, done = result
            self._tell(f"rendered {emitter.name}")
            self._publish(index, files, facts)
            self.problems[index] += problems
            self.done[index] = done
            return
        if emitter.per_policy:
            files, facts, problems = result
            _add(self.unsorted[index], files, emitter)
            self.where.update(dict.fromkeys(files, index))
            self.parts[index].append((position[2], list(files), facts, problems))
            self.pending.append(files)
            total = len(self.ctx.policyset.policies)
            self.rendered[index] = min(total, self.rendered[index] + -(-total // max(self.chunks[index], 1)))
            self._tell(f"rendering {emitter.name} {self.rendered[index]}/{total}")
            return
        if result is None:  # it reads the files before it: made here, once they are all there
            return
        self._tell(f"rendered {emitter.name}")
        files, facts, problems, done = result
        self._publish(index, files, facts)
        self.problems[index] = problems
        self.done[index] = done

    def _stream(self) -> None:
        """Hand what was made to the sink, once lint has passed and while nothing failed:
        a build with bad input never touches the disk."""
        if self.sink is None or self.findings is None or self.findings.errors or self.errors:
            return
        for files in self.pending:
            self.sink.add(files)
        self.pending.clear()
        self._let_go()

    def _let_go(self) -> None:
        """Drop the bytes of the files the sink has written (:class:`FileMap` reads them back
        if a later format or validator asks): memory for what is being made, not for all."""
        assert self.sink is not None
        for rel in self.sink.written():
            index = self.where.get(rel)
            if index is None:
                continue
            for holder in (self.merged, self.own[index], self.unsorted[index]):
                if rel in holder:
                    holder[rel] = None
                    break

    def _tell(self, what: str) -> None:
        if self.progress is not None:
            self.progress(what)

    def _release(self) -> None:
        """Queue (or do here) whatever can start now."""
        if not self.lint_started:
            self.lint_started = True
            self.ready.append(((0, -1), _task_lint, (), (-1,)))
        for index, emitter in enumerate(self.found):
            if self.complete[index] or not self._facts_ready(index):
                continue
            if emitter.per_policy:
                if not self.started[index]:
                    if LINT not in emitter.requires or self.findings is not None:
                        self.started[index] = True
                        self._queue_parts(index)
                elif len(self.parts[index]) == self.chunks[index] and not self.finishing[index] and not self.inflight_for(index):
                    if emitter.finish is None or self.findings is not None:
                        self._in_process(index, self._finish)
            elif self.findings is not None:
                if not self.started[index]:
                    self.started[index] = True
                    rank = 0 if emitter.provides else 1
                    self.ready.append(((rank, 1, index), _task_whole, (index, self._facts(index), self.findings), (index, 0, 0)))
                elif not self.inflight_for(index) and all(self.complete[:index]):
                    self._in_process(index, self._make_here)

    def _queue_parts(self, index: int) -> None:
        policies = len(self.ctx.policyset.policies)
        pieces = max(1, min(self.executor.count * 4, policies // 8)) if self.executor.count > 1 else 1
        size = -(-policies // pieces) if policies else 1
        facts = self._facts(index)
        emitter = self.found[index]
        rank = 0 if emitter.provides else 1
        # A format's finish waits for all its parts: those of a format with a finish go
        # first, so that the finish runs beside the other formats' parts, not after them.
        then = 0 if emitter.finish is not None else 1
        starts = range(0, policies, size) if policies else range(1)
        self.chunks[index] = len(starts)
        # The lint report only where it is required (then it is there, whenever this runs).
        findings = self.findings if LINT in emitter.requires else None
        for chunk, start in enumerate(starts):
            task = (index, start, start + size, facts, findings)
            self.ready.append(((rank, 2, then, index, chunk), _task_part, task, (index, 0, chunk)))

    def inflight_for(self, index: int) -> bool:
        return any(position[0] == index for position in self.inflight.values()) or any(
            task[3][0] == index for task in self.ready
        )

    def _facts_ready(self, index: int) -> bool:
        return all(self.complete[j] for j in range(index) if self.found[j].provides)

    def _facts(self, index: int) -> dict[str, Any]:
        """The facts of the formats before ``index``, as a build in one process has them."""
        facts: dict[str, Any] = {}
        for earlier in self.published[:index]:
            facts.update(earlier)
        return facts

    # -- work done in this process -------------------------------------------------------------

    def _in_process(self, index: int, step: Callable[[int], None]) -> None:
        if self.errors and (index,) > min(self.errors, key=lambda e: e[0])[0]:
            self.complete[index] = True  # not reached: an earlier format failed
            return
        try:
            step(index)
        except (InputError, ArtifactError) as exc:
            self.errors.append(((index, 1, 0), exc))
            self.complete[index] = True

    def _finish(self, index: int) -> None:
        """Every part is in: their files and problems in policy order, then ``finish`` (in a
        worker, like any task) on the facts the parts published."""
        emitter = self.found[index]
        parts = sorted(self.parts[index], key=lambda part: part[0])
        self.parts[index] = []
        unsorted, self.unsorted[index] = self.unsorted[index], {}
        for _, paths, _, problems in parts:
            for rel in paths:
                self.own[index][rel] = unsorted[rel]
            self.problems[index] += problems
        if emitter.finish is None:
            self.complete[index] = True
            return
        self.finishing[index] = True
        rank = 0 if emitter.provides else 1
        task = (index, self._facts(index), self.findings, [facts for _, _, facts, _ in parts])
        self.ready.append(((rank, 0, index), _task_finish, task, (index, 1, 0)))

    def _make_here(self, index: int) -> None:
        emitter = self.found[index]
        current = Context(
            self.ctx.policyset, self.ctx.moment, self.ctx.catalog, self.ctx.matrix, self.findings,
            self.ctx.out_dir, self.ctx.zip, self._files(index), self._facts(index),
            self.sink.digests if self.sink is not None else {},
        )
        emitted = emitter.emit(current)
        self._publish(index, emitted.files, emitted.facts)
        self.made_here[index] = emitted.files

    def _publish(self, index: int, files: dict[str, bytes], facts: dict[str, Any]) -> None:
        emitter = self.found[index]
        _add(self.own[index], files, emitter)
        self.where.update(dict.fromkeys(files, index))
        self.pending.append(files)
        missing = set(emitter.provides) - set(facts)
        if missing:
            raise ArtifactError(f"format {emitter.name!r} did not provide {', '.join(sorted(missing))}")
        undeclared = set(facts) - set(emitter.provides)
        if undeclared:
            raise ArtifactError(f"format {emitter.name!r} published {', '.join(sorted(undeclared))}, which it does not declare in provides")
        self.published[index] = facts
        self.complete[index] = True

    def _files(self, index: int) -> Mapping[str, bytes]:
        """Every file of the formats before ``index``, in registry order; those the sink
        wrote are read back from it."""
        while self.merged_upto < index:
            self.merged.update(self.own[self.merged_upto])
            self.own[self.merged_upto] = {}
            self.merged_upto += 1
        if self.sink is not None:
            return FileMap(self.merged, self.sink)
        return self.merged  # type: ignore[return-value]  # nothing was let go: all bytes

    def _validated(self) -> Mapping[str, bytes]:
        """Every file, after the validators that still had to run (on all of them).

        Those of a format made here (the package manifest) that need only its own files
        run in a worker meanwhile; the problems are listed format by format all the same.
        """
        self._tell("checking the artifacts")
        files = self._files(len(self.found))
        everything = Artifacts(files)
        rest = [
            tuple(
                number for number, v in enumerate(emitter.validators)
                if number not in self.done[index] and (v.whole or not emitter.per_policy)
            )
            for index, emitter in enumerate(self.found)
        ]
        away: dict[int, int] = {}
        if self.executor.count > 1:
            for index, own in self.made_here.items():
                if rest[index] and own:
                    away[self.executor.submit(_task_checks, index, own, rest[index])] = index
        found: list[list[Problem]] = [[] for _ in self.found]
        for index in range(len(self.found)):
            if index not in away.values():
                found[index] = self._check_here(everything, index, rest[index])
        for _ in range(len(away)):
            ticket, error, result = self.executor.next()
            if error is not None:
                raise error
            index = away[ticket]
            problems, done = result
            found[index] = problems + self._check_here(everything, index, tuple(n for n in rest[index] if n not in done))
        problems = [p for index in range(len(self.found)) for p in self.problems[index] + found[index]]
        if problems:
            raise ArtifactError("generated artifacts failed validation:\n" + "\n".join(str(p) for p in problems))
        return files

    def _check_here(self, everything: Artifacts, index: int, numbers: tuple[int, ...]) -> list[Problem]:
        emitter = self.found[index]
        if not numbers:
            return []
        chosen = tuple(emitter.validators[n] for n in numbers)
        return formats.validate(everything, [dataclasses.replace(emitter, validators=chosen)])


def _add(files: dict[str, bytes | None], new: dict[str, bytes], emitter: Emitter) -> None:
    for path, data in new.items():
        if not emitter.owns_path(path):
            raise ArtifactError(f"format {emitter.name!r} wrote {path}, which is not among the paths it owns")
        if path in files:
            raise ArtifactError(f"format {emitter.name!r} wrote {path} a second time")
        files[path] = data


def build(
    matrix_path: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    catalog: Catalog | None = None,
    timestamp: str | None = None,
    zip: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
) -> Build:
    """Render the matrix and replace ``out_dir`` with the result, atomically.

    With ``strict``, open lint warnings fail the build (:class:`LintFailure`, exit 1)
    before anything is written. ``progress``: as for :func:`render`, and the writing.
    """
    with StagedTree(out_dir, force=force) as tree:
        # A strict build may still fail on lint warnings: it writes only once it is known to pass.
        result = render(matrix_path, catalog, timestamp, out_dir=out_dir, zip=zip, progress=progress,
                        sink=None if strict else tree)
        if strict and result.lint.warnings:
            raise LintFailure(result.lint.warnings)
        if progress is not None:
            progress(f"writing {len(result.files)} files")
        files = result.files
        tree.commit(files, unchanged=files.on_disk if isinstance(files, FileMap) else None)
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
