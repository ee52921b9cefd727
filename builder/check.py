"""``cmfw check``: validate an existing build, GPO backup root or backup folder on disk."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import formats
from .errors import InputError, Problem
from .gpo.check import check_backup_folder, check_backup_root
from .gpo.xsd import require_engine
from .package.manifest import MANIFEST, UNLISTED
from .read import Tree, kind_of, list_tree, read_file, read_tree


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
        unpacked = {name.split("/", 1)[1]: data for name, data in entries.items()}
        problems = _check_build(unpacked, xsd)
        return CheckReport(str(p), kind, len(unpacked), tuple(
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
    files: Mapping[str, bytes]
    if kind == "backup":
        files = read_tree(p, p.name + "/")
        problems = check_backup_folder(files, p.name, xsd=xsd)
        base = str(p.parent)
    else:
        base = str(p)
        if kind == "build":
            files = list_tree(p)  # read as the checks ask: a big build's DSC files by the workers
            problems = _check_build(files, xsd)
        else:
            files = read_tree(p)
            problems = check_backup_root(files, xsd=xsd)
    shown = tuple(
        Problem(os.path.join(base, pr.file) if pr.file != "." else base, pr.line, pr.column, pr.path, pr.message)
        for pr in problems
    )
    return CheckReport(str(p), kind, len(files), shown)


def _check_build(files: Mapping[str, bytes], xsd: str) -> list[Problem]:
    """The validators every build runs, on the files build.json lists, from disk (thorough)."""
    try:
        listed = json.loads(files[MANIFEST])["files"]

        def ours(path: str) -> bool:
            return path in listed or path in UNLISTED

        chosen = files.only(ours) if isinstance(files, Tree) else {path: data for path, data in files.items() if ours(path)}
    except (ValueError, KeyError, TypeError) as exc:
        return [Problem(MANIFEST, message=f"not a cmfw build manifest: {exc}")]
    return _validate(formats.Artifacts(chosen, thorough=True, present=frozenset(files), xsd=xsd))


def _validate(artifacts: formats.Artifacts) -> list[Problem]:
    """:func:`formats.validate`, with a big build's DSC documents (most of the work: each
    one parsed in full) read, summed and checked in worker processes while this process
    runs the other formats' validators; the package's, which compares every file with
    its SHA-256, runs last, with the sums made where the files were read. Problems in
    registry order, as in one process."""
    from . import parallel
    from .dsc.emit import ROOT

    files = artifacts.files
    paths = [path for path in files if path.startswith(ROOT + "/")]
    count = parallel.jobs(len(paths))
    if count <= 1:
        return formats.validate(artifacts)

    def source(path: str) -> Path | bytes:
        return files.path(path) if isinstance(files, Tree) else files[path]

    sources = [
        (path, source(path), source(path + ".checksum") if path.endswith(".mof") and path + ".checksum" in files else None)
        for path in sorted(paths)
    ]
    size = -(-len(sources) // (count * 2))
    found: dict[str, list[Problem]] = {}
    digests: dict[str, str] = {}
    dsc: list[Problem] = []
    with parallel.Workers(count, sources) as workers:
        tickets = [workers.submit(_check_dsc, i, min(i + size, len(sources))) for i in range(0, len(sources), size)]
        for emitter in formats.emitters():
            if emitter.name not in ("dsc", "package"):
                found[emitter.name] = formats.validate(artifacts, [emitter])
        # The other files' sums while the workers finish, so that little is left after them.
        digests.update({path: hashlib.sha256(files[path]).hexdigest() for path in files if not path.startswith(ROOT + "/")})
        done: dict[int, tuple[list[Problem], dict[str, str]]] = {}
        for _ in tickets:
            ticket, error, result = workers.next()
            if error is not None:
                raise error
            done[ticket] = result
    for ticket in tickets:
        dsc += done[ticket][0]
        digests.update(done[ticket][1])
    found["dsc"] = dsc
    package = [emitter for emitter in formats.emitters() if emitter.name == "package"]
    found["package"] = formats.validate(dataclasses.replace(artifacts, digests=digests), package)
    return [problem for emitter in formats.emitters() for problem in found.get(emitter.name, ())]


def _check_dsc(start: int, end: int) -> tuple[list[Problem], dict[str, str]]:
    """A worker's share of the DSC files (inherited at the fork: paths on disk, or bytes
    from a zip): read, each summed, and checked; the problems and the SHA-256 sums."""
    from . import parallel
    from .dsc.check import check_items

    items = []
    digests = {}
    for path, source, checksum in parallel.shared()[start:end]:
        data = read_file(source) if isinstance(source, Path) else source
        digests[path] = hashlib.sha256(data).hexdigest()
        items.append((path, data, read_file(checksum) if isinstance(checksum, Path) else checksum))
    return check_items(items), digests
