"""The emitter contract: how an output format plugs into a build, and the registry of formats.

Every output format is one :class:`Emitter`: a name, the paths it owns, an ``emit``
function from a :class:`Context` to files, the :class:`Validator` s that check what
it wrote, and, when a format cannot carry everything a policy may say, a
``check_policy`` that finds it before anything is rendered. ``build`` runs the
emitters of :data:`REGISTRY` in order; ``cmfw check`` runs the same validators on a
build read from disk. Formats never import each other: what one needs from another
(the GPO backup IDs, say) travels as a *fact* in the context (:class:`Backups`),
published by the emitter that ``provides`` it and read by those that ``require`` it.

Adding a format is one module that defines ``EMITTER`` and one line in
:data:`REGISTRY`; docs/architecture.md walks through it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass, field
from datetime import datetime
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

from .errors import ArtifactError, Problem
from .model import Policy, PolicySet

if TYPE_CHECKING:
    from .catalog import Catalog
    from .lint import LintReport
    from .matrix import Matrix

T = TypeVar("T")

#: A fact no format provides: the build's lint report. Formats made once for all
#: policies, and ``finish``, always have it; a per-policy format that ``requires`` it
#: starts its parts once lint is done (the others start at once).
LINT = "lint"

#: The formats of a build, in the order they run: an emitter comes after those whose
#: facts it requires, and the package manifest comes last (it lists every file).
REGISTRY = (
    "builder.rulesjson",
    "builder.gpo",
    "builder.dsc",
    "builder.package.scripts",
    "builder.package.verify",
    "builder.intune",
    "builder.report",
    "builder.package.manifest",
)


@dataclass(frozen=True)
class Backups:
    """The fact ``backups``: what the GPO format wrote, for the formats that refer to it."""

    root: str
    #: policy key → backup ID (the folder name, ``{GUID}``)
    ids: Mapping[str, str]
    #: policy key → path of the policy's registry.pol in the build
    registry_pol: Mapping[str, str]
    #: the XML namespace of manifest.xml, which the import script reads
    manifest_namespace: str


@dataclass(frozen=True)
class Context:
    """Everything an emitter may use. ``files`` and ``facts`` hold what earlier emitters made.

    A per-policy emitter running in a worker process gets :meth:`part`: its policies and
    everything else but the earlier formats' files (and the lint report only if it
    ``requires`` :data:`LINT`).
    """

    policyset: PolicySet
    moment: datetime
    catalog: Catalog | None = None
    matrix: Matrix | None = None
    lint: LintReport | None = None
    out_dir: str | Path | None = None
    zip: bool = False
    files: Mapping[str, bytes] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: The SHA-256 (hex) of earlier formats' files that the build already summed as it
    #: wrote them, by path (a format that lists digests need not read those files again).
    digests: Mapping[str, str] = field(default_factory=dict)

    def fact(self, name: str, kind: type[T]) -> T:
        """A fact an earlier emitter published; its absence is a bug in the registry's order."""
        value = self.facts.get(name)
        if not isinstance(value, kind):
            raise ArtifactError(f"fact {name!r} is missing: an emitter that requires it runs before the one that provides it")
        return value

    @property
    def matrix_path(self) -> str:
        """The matrix as the build records it: relative to the output directory (forward
        slashes), so that builds started from different working directories are identical;
        without an output directory, or across drives, only its file name."""
        if self.matrix is None:
            return ""
        if self.matrix.file == "<stdin>":
            return "-"
        name = Path(self.matrix.file).name
        if self.out_dir is None:
            return name
        try:
            relative = os.path.relpath(os.path.abspath(self.matrix.file), os.path.abspath(self.out_dir))
        except ValueError:  # another drive on Windows
            return name
        return PurePosixPath(*Path(relative).parts).as_posix()

    def part(self, policies: Sequence[Policy]) -> Context:
        return dataclasses.replace(self, policyset=dataclasses.replace(self.policyset, policies=tuple(policies)), files={}, digests={})


@dataclass(frozen=True)
class Emitted:
    """What ``emit`` returns: files by relative path, and the facts it publishes."""

    files: dict[str, bytes]
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifacts:
    """What validators look at. ``thorough``: the files come from disk (``cmfw check``), so
    also check what cmfw's own fresh output is by construction (canonical forms, digests).
    ``present``: every path found on disk, the build's own files and any others.
    ``xsd``: the XSD engine for XML (``lxml``, or ``xmlschema`` for a second opinion).
    ``digests``: SHA-256 sums of files, by path, already made where they were read."""

    files: Mapping[str, bytes]
    thorough: bool = False
    present: frozenset[str] = frozenset()
    xsd: str = "lxml"
    digests: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Validator:
    """One check. ``what`` says in a line what it checks (docs/architecture.md lists them).

    ``whole``: for a per-policy format, a check that needs the whole build (a listing of
    every policy); the build runs it once, on every file, after all emitters. The other
    validators of a per-policy format run on each part, where it was made.
    """

    what: str
    check: Callable[[Artifacts], list[Problem]]
    whole: bool = False


@dataclass(frozen=True)
class Unexpressible:
    """Something in a policy a format cannot carry: a rule (``rule``, its ID), or a setting
    at ``path`` below the policy's entry in the matrix."""

    message: str
    rule: str | None = None
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Emitter:
    """One output format.

    ``owns``: the paths it writes, each a folder (``"gpo/"``) or a file (``"rules.json"``);
    no two emitters own the same path. ``per_policy``: ``emit`` may run on any subset of
    the policies (in worker processes), the parts' files never overlap, and its validators
    need only the part's files (except those marked ``whole``). ``finish``: for a
    per-policy format, what it writes once for all policies (a listing of them, or a page
    assembled from the parts), made from the facts each part published, in policy order,
    without the earlier formats' files (a big build makes it in a worker process); it
    returns those files and the facts the format ``provides``.
    """

    name: str
    owns: tuple[str, ...]
    emit: Callable[[Context], Emitted]
    validators: tuple[Validator, ...] = ()
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    per_policy: bool = False
    check_policy: Callable[[Policy], list[Unexpressible]] | None = None
    finish: Callable[[Context, Sequence[Mapping[str, Any]]], Emitted] | None = None

    def owns_path(self, path: str) -> bool:
        return any(path.startswith(own) if own.endswith("/") else path == own for own in self.owns)


@functools.cache
def _load(modules: tuple[str, ...]) -> tuple[Emitter, ...]:
    found = []
    for name in modules:
        emitter = getattr(importlib.import_module(name), "EMITTER", None)
        if not isinstance(emitter, Emitter):
            raise ArtifactError(f"{name} is registered as a format but defines no EMITTER")
        found.append(emitter)
    check_order(found)
    return tuple(found)


def emitters() -> tuple[Emitter, ...]:
    """The registered emitters, in build order."""
    return _load(REGISTRY)


def by_name(name: str) -> Emitter:
    for emitter in emitters():
        if emitter.name == name:
            return emitter
    raise ArtifactError(f"no format named {name!r} is registered")


def check_order(found: Sequence[Emitter]) -> None:
    """Names unique, facts provided before they are required, no path owned twice."""
    names: set[str] = set()
    facts: set[str] = {LINT}
    owned: dict[str, str] = {}
    for emitter in found:
        if emitter.name in names:
            raise ArtifactError(f"two formats are named {emitter.name!r}")
        names.add(emitter.name)
        missing = [f for f in emitter.requires if f not in facts]
        if missing:
            raise ArtifactError(f"format {emitter.name!r} requires {', '.join(missing)}, which no earlier format provides")
        facts.update(emitter.provides)
        for own in emitter.owns:
            for other, by in owned.items():
                if _overlap(own, other):
                    raise ArtifactError(f"formats {by!r} and {emitter.name!r} both own {own!r}")
            owned[own] = emitter.name


def _overlap(a: str, b: str) -> bool:
    return a == b or (a.endswith("/") and b.startswith(a)) or (b.endswith("/") and a.startswith(b))


def validate(artifacts: Artifacts, found: Sequence[Emitter] | None = None, *, skip: Sequence[str] = ()) -> list[Problem]:
    """Every problem the validators of ``found`` (default: all registered) find.

    A format's validators run when some file of the artifacts belongs to it; ``skip``
    names formats whose output was already checked (per-policy parts, in their workers).
    """
    problems: list[Problem] = []
    for emitter in found if found is not None else emitters():
        if emitter.name in skip or not any(emitter.owns_path(path) for path in artifacts.files):
            continue
        for validator in emitter.validators:
            problems.extend(validator.check(artifacts))
    return problems


def validate_files(files: Mapping[str, bytes], *, thorough: bool = True) -> list[Problem]:
    """The registered validators on ``files`` (by default as strictly as ``cmfw check``)."""
    return validate(Artifacts(files, thorough, frozenset(files)))


def unexpressible(policyset: PolicySet, matrix: Matrix | None, found: Sequence[Emitter] | None = None) -> list[Problem]:
    """What some format cannot carry, as problems placed at the matrix entry to change."""
    problems = []
    specs = {spec.key: spec for spec in matrix.policies} if matrix is not None else {}
    for emitter in found if found is not None else emitters():
        if emitter.check_policy is None:
            continue
        for policy in policyset.policies:
            for item in emitter.check_policy(policy):
                spec = specs.get(policy.key)
                if matrix is None or spec is None:
                    problems.append(Problem(f"policy {policy.name!r}", message=item.message))
                    continue
                where = policy.origins.get(item.rule, spec.path) if item.rule else spec.path + item.path
                problems.append(matrix.problem(tuple(where), item.message))
    return problems


__all__ = [
    "Artifacts", "Backups", "Context", "Emitted", "Emitter", "LINT", "REGISTRY", "Unexpressible", "Validator",
    "by_name", "check_order", "emitters", "unexpressible", "validate", "validate_files",
]
