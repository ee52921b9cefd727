"""``cmfw check``: validate an existing build, GPO backup root or backup folder on disk."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import formats
from .errors import InputError, Problem
from .gpo.check import check_backup_folder, check_backup_root
from .gpo.xsd import require_engine
from .package.manifest import MANIFEST, UNLISTED
from .read import kind_of, read_tree


@dataclass(frozen=True)
class CheckReport:
    path: str
    kind: str
    files: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_path(path: str | Path, xsd: str = "lxml") -> CheckReport:
    """Every problem in the artifacts at ``path``; bad paths raise :class:`InputError`.

    A cmfw build is checked as strictly as ``build`` checks its own output, and its
    files against the SHA-256 sums in ``build.json`` (a hand-edited file shows up);
    any other GPO backup gets the checks that hold for every GPMC backup.

    ``xsd`` names the engine that checks the GPO XML files against schemas/gpo/:
    ``"lxml"`` (libxml2, what ``build`` uses) or ``"xmlschema"``, an independent second
    opinion (a test extra; :class:`InputError` when it is not installed).
    """
    require_engine(xsd)
    p = Path(path)
    kind = kind_of(p)
    if kind == "mof":
        from .dsc.check import check_mof

        data = p.read_bytes()
        return CheckReport(str(p), kind, 1, tuple(check_mof(str(p), data)))
    if kind == "matrix":
        raise InputError([Problem(str(p), message="is a matrix: `cmfw validate` checks a matrix, `cmfw check` what was built from one")])
    if kind == "rules.json":
        from .rulesjson import PATH, _check as check_rules

        issues = check_rules(formats.Artifacts({PATH: p.read_bytes()}, thorough=True))
        return CheckReport(str(p), kind, 1, tuple(Problem(str(p), x.line, x.column, x.path, x.message) for x in issues))
    if kind == "zip":
        from .read import MAX_FILE, MAX_FILES, MAX_TREE, _limit
        from .ziparchive import read_zip

        entries = read_zip(p, _limit(MAX_FILE), _limit(MAX_TREE), MAX_FILES)
        tops = sorted({name.split("/", 1)[0] for name in entries})
        if len(tops) != 1 or f"{tops[0]}/{MANIFEST}" not in entries:
            raise InputError([Problem(str(p), message="is not a cmfw package.zip (one folder holding build.json)")])
        files = {name.split("/", 1)[1]: data for name, data in entries.items()}
        problems = _check_build(files, xsd)
        return CheckReport(str(p), kind, len(files), tuple(
            Problem(f"{p}/{tops[0]}/{pr.file}", pr.line, pr.column, pr.path, pr.message) for pr in problems
        ))
    if kind in ("intune", "intune-folder"):
        from .intune.check import check_documents

        found = {str(p): p.read_bytes()} if kind == "intune" else {
            str(child): child.read_bytes() for child in sorted(p.iterdir()) if child.suffix.lower() == ".json" and child.is_file()
        }
        return CheckReport(str(p), kind, len(found), tuple(check_documents(found)))
    if kind in ("registry.pol", "lgpo-text"):
        from .read import read_path

        problems = [Problem(str(p), message=m) for g in read_path(p) for m in g.problems]
        return CheckReport(str(p), kind, 1, tuple(problems))
    if kind == "backup":
        files = read_tree(p, p.name + "/")
        problems = check_backup_folder(files, p.name, xsd=xsd)
        base = str(p.parent)
    else:
        files = read_tree(p)
        base = str(p)
        if kind == "build":
            problems = _check_build(files, xsd)
        else:
            problems = check_backup_root(files, xsd=xsd)
    shown = tuple(
        Problem(os.path.join(base, pr.file) if pr.file != "." else base, pr.line, pr.column, pr.path, pr.message)
        for pr in problems
    )
    return CheckReport(str(p), kind, len(files), shown)


def _check_build(files: dict[str, bytes], xsd: str) -> list[Problem]:
    """The validators every build runs, on the files build.json lists, from disk (thorough)."""
    try:
        listed = json.loads(files[MANIFEST])["files"]
        ours = {path: data for path, data in files.items() if path in listed or path in UNLISTED}
    except (ValueError, KeyError, TypeError) as exc:
        return [Problem(MANIFEST, message=f"not a cmfw build manifest: {exc}")]
    return _validate(formats.Artifacts(ours, thorough=True, present=frozenset(files), xsd=xsd))


def _validate(artifacts: formats.Artifacts) -> list[Problem]:
    """:func:`formats.validate`, with a big build's DSC documents (most of the work: each
    one parsed in full) checked in worker processes while this process runs the other
    formats' validators. Problems in registry order, as in one process."""
    from . import parallel
    from .dsc.check import check_items, dsc_items
    from .dsc.emit import ROOT

    items = dsc_items(artifacts.files, ROOT)
    count = parallel.jobs(len(items))
    if count <= 1:
        return formats.validate(artifacts)
    size = -(-len(items) // (count * 2))
    found: list[list[Problem] | None] = []
    with parallel.Workers(count, items) as workers:
        tickets = [workers.submit(_check_shared, i, min(i + size, len(items))) for i in range(0, len(items), size)]
        for emitter in formats.emitters():
            found.append(None if emitter.name == "dsc" else formats.validate(artifacts, [emitter]))
        done: dict[int, list[Problem]] = {}
        for _ in tickets:
            ticket, error, result = workers.next()
            if error is not None:
                raise error
            done[ticket] = result
    dsc = [problem for ticket in tickets for problem in done[ticket]]
    return [problem for part in found for problem in (dsc if part is None else part)]


def _check_shared(start: int, end: int) -> list[Problem]:
    """A worker's share of the DSC documents, which it inherited at the fork (nothing to copy)."""
    from . import parallel
    from .dsc.check import check_items

    return check_items(parallel.shared()[start:end])
