"""Read firewall policy back out of artifacts: the engine of ``inspect`` and ``diff``.

A path can be a cmfw build (``build.json`` + ``gpo/``), a GPO backup root
(``manifest.xml`` and/or ``{GUID}`` folders), one backup folder (``Backup.xml``),
a ``registry.pol`` file, an LGPO text file, a MOF, an Intune firewall rule policy
(``.json``: cmfw's own, or a Graph export) or a folder of them (a build's
``intune/``). Each GPO or Intune policy found becomes a :class:`GpoContent` holding
the same :class:`~builder.model.Rule` objects the resolver makes, so builds, foreign
GPOs and Intune policies compare directly: the documents of one cmfw policy read as
one, under the GPO GUID of that policy, so ``diff`` pairs a GPO with its Intune twin.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

from .errors import InputError, Problem
from .model import ProfileSetting, Rule
from .registry import lgpotext, registrypol
from .gpo.layout import GUID_FOLDER, POL_LOCATION, read_backup_xml
from .registry.policyfile import FirewallContent, read_entries
from .registry.rulestring import Version

#: Bounds on what is read, so that no input (a device, a giant or hostile file, a
#: zip bomb) can take the machine's memory: per file, per tree (files and bytes) and
#: in depth. They fit the builds cmfw makes (2,000 policies are about 25,000 files and
#: 300 MiB); ``CMFW_READ_LIMIT_MB`` raises the byte limits (docs/check.md).
MAX_FILE = 64 * 1024 * 1024
MAX_FILES = 200_000
MAX_TREE = 2048 * 1024 * 1024
MAX_DEPTH = 32
#: What `inspect`, `diff` and `check` read, for the message that refuses anything else.
KNOWN = (
    "a cmfw build or its package.zip, a matrix (.yaml), a GPO backup root or folder, a registry.pol, "
    "LGPO text, a MOF, rules.json or an Intune policy (.json)"
)


def _limit(default: int) -> int:
    """A byte limit, scaled by ``CMFW_READ_LIMIT_MB`` (the per-file limit): the tree limit
    moves in proportion, so raising one never lowers the other."""
    from .syntax.numbers import digits

    raw = os.environ.get("CMFW_READ_LIMIT_MB", "").strip()
    if not (digits(raw) and int(raw) > 0):
        return default
    return default * int(raw) * 1024 * 1024 // MAX_FILE


@dataclass
class GpoContent:
    """The firewall content of one GPO (or one policy file)."""

    source: str
    name: str = ""
    gpo_guid: str = ""
    backup_id: str = ""
    policy_version: int | None = None
    rules: list[Rule] = field(default_factory=list)
    rule_versions: dict[str, Version] = field(default_factory=dict)
    profile_settings: list[ProfileSetting] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_tree(directory: Path, prefix: str = "") -> dict[str, bytes]:
    """Every regular file below ``directory`` by relative path; links, devices and other
    special files are not followed or read. Bounded in files, bytes and depth."""
    out: dict[str, bytes] = {}
    total, limit, tree_limit = 0, _limit(MAX_FILE), _limit(MAX_TREE)
    for rel, path, _ in _walk(directory, prefix):
        data = _bounded(path, limit)
        total += len(data)
        if total > tree_limit:
            raise _too_much(directory, tree_limit)
        out[rel] = data
    return dict(sorted(out.items()))


class Tree(Mapping[str, bytes]):
    """Files on disk by relative path, each read when first asked for (and kept): a
    worker process can read its share of a big build itself (:meth:`path`), and this
    process never holds it. :func:`list_tree` makes one."""

    def __init__(self, paths: dict[str, Path], read: dict[str, bytes] | None = None) -> None:
        self._paths = paths
        self._read: dict[str, bytes] = {} if read is None else read

    def __getitem__(self, rel: str) -> bytes:
        data = self._read.get(rel)
        if data is None:
            data = self._read[rel] = read_file(self._paths[rel])
        return data

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, rel: object) -> bool:
        return rel in self._paths

    def path(self, rel: str) -> Path:
        return self._paths[rel]

    def only(self, keep: Callable[[str], bool]) -> Tree:
        """The files for which ``keep`` is true, sharing what was read."""
        return Tree({rel: path for rel, path in self._paths.items() if keep(rel)}, self._read)


def list_tree(directory: Path, prefix: str = "") -> Tree:
    """:func:`read_tree` without the reading: the same files and bounds, the bytes
    counted by the sizes on disk (each read is bounded again when it happens)."""
    paths: dict[str, Path] = {}
    total, limit, tree_limit = 0, _limit(MAX_FILE), _limit(MAX_TREE)
    for rel, path, size in _walk(directory, prefix):
        if size > limit:
            raise _too_large(path, limit)
        total += size
        if total > tree_limit:
            raise _too_much(directory, tree_limit)
        paths[rel] = path
    return Tree(dict(sorted(paths.items())))


def read_file(path: Path) -> bytes:
    """A regular file's bytes within the per-file bound."""
    return _bounded(path, _limit(MAX_FILE))


def _walk(directory: Path, prefix: str) -> Iterator[tuple[str, Path, int]]:
    """(relative path, path, size) of every regular file below ``directory``, bounded in
    files and depth; nothing is read."""
    count = 0
    stack = [(directory, 0)]
    while stack:
        folder, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError([Problem(str(directory), message=f"nested deeper than {MAX_DEPTH} folders; not a GPO backup or build")])
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise InputError([Problem(str(folder), message=f"cannot list it: {exc.strerror or exc}")]) from None
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                stack.append((Path(entry.path), depth + 1))
            elif stat.S_ISREG(info.st_mode):
                if count >= MAX_FILES:
                    raise InputError([Problem(str(directory), message=f"holds more than {MAX_FILES} files; not a GPO backup or build")])
                count += 1
                path = Path(entry.path)
                yield prefix + path.relative_to(directory).as_posix(), path, info.st_size


def _bounded(path: Path, limit: int) -> bytes:
    """A regular file's bytes, reading at most ``limit`` + 1 of them (the size a file
    claims is not trusted: it can grow while read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InputError([Problem(str(path), message=f"cannot read it: {exc.strerror or exc}")]) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise InputError([Problem(str(path), message=f"not a regular file; expected {KNOWN}")])
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, limit)
    return data


def _too_large(path: Path, limit: int) -> InputError:
    return InputError([Problem(str(path), message=f"larger than {limit // 2**20} MiB; set CMFW_READ_LIMIT_MB to read it")])


def _too_much(directory: Path, limit: int) -> InputError:
    return InputError([Problem(str(directory), message=f"holds more than {limit // 2**20} MiB; set CMFW_READ_LIMIT_MB to read it")])


def kind_of(path: Path) -> str:
    """``build``, ``backup-root``, ``backup``, ``registry.pol``, ``mof``, ``intune``,
    ``intune-folder``, ``lgpo-text``, ``matrix``, ``rules.json`` or ``zip``.

    Files are classified by name *and* content: a ``.pol`` file is PReg whatever its
    bytes (a broken one is reported as such, not read as something else), and a file
    that is none of these is refused rather than read as LGPO text.
    """
    if path.is_dir():
        if (path / "build.json").is_file() and (path / "gpo").is_dir():
            return "build"
        if (path / "Backup.xml").is_file():
            return "backup"
        if (path / "manifest.xml").is_file() or any(
            GUID_FOLDER.fullmatch(child.name) and (child / "Backup.xml").is_file() for child in path.iterdir()
        ):
            return "backup-root"
        if any(child.suffix.lower() == ".json" and child.is_file() for child in path.iterdir()):
            return "intune-folder"
        raise InputError([Problem(str(path), message=f"is neither a cmfw build nor a GPO backup (no build.json, manifest.xml or Backup.xml), nor a folder of Intune policies (no *.json); expected {KNOWN}")])
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError([Problem(str(path), message="not found")]) from None
    except OSError as exc:
        raise InputError([Problem(str(path), message=f"cannot read it: {exc.strerror or exc}")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError([Problem(str(path), message=f"not a regular file; expected {KNOWN}")])
    suffix = path.suffix.lower()
    head = _bounded(path, _limit(MAX_FILE))[:4096]
    if suffix == ".pol" or head.startswith(registrypol.SIGNATURE):
        return "registry.pol"
    if suffix == ".mof":
        return "mof"
    if suffix in (".yaml", ".yml"):
        return "matrix"
    if suffix == ".zip" or head.startswith(b"PK\x03\x04"):
        return "zip"
    if suffix == ".json":
        if b'"cmfw-rules/1"' in head:
            return "rules.json"
        if b'"cmfw-' not in head:  # cmfw's other JSON (build.json, plans, reports) holds no rules
            return "intune"
    if _looks_like_lgpo(head):
        return "lgpo-text"
    raise InputError([Problem(str(path), message=f"not a file cmfw can read (expected {KNOWN})")])


def _looks_like_lgpo(head: bytes) -> bool:
    """LGPO text (``LGPO.exe /parse``): comments, then blocks starting ``Computer`` or ``User``."""
    try:
        text = head.decode("utf-16") if head.startswith((b"\xff\xfe", b"\xfe\xff")) else head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        return line in ("Computer", "User")
    return False


def read_path(path: str | Path) -> list[GpoContent]:
    """Every GPO in ``path`` (see the module docstring for what a path may be)."""
    p = Path(path)
    kind = kind_of(p)
    if kind == "registry.pol":
        return [_from_pol(str(p), read_file(p))]
    if kind == "lgpo-text":
        return [_from_lgpo(str(p), read_file(p))]
    if kind == "mof":
        return [_from_mof(str(p), read_file(p))]
    if kind == "intune":
        return _from_intune([(str(p), read_file(p))], strict=True)
    if kind == "intune-folder":
        found = sorted(child for child in p.iterdir() if child.suffix.lower() == ".json" and child.is_file())
        return _from_intune([(str(child), read_file(child)) for child in found], strict=False)
    if kind == "matrix":
        return _from_matrix(p)
    if kind == "rules.json":
        return _from_rules_json(str(p), read_file(p))
    if kind == "zip":
        return _from_zip(p)
    if kind == "backup":
        files = read_tree(p, p.name + "/")
        return [_from_folder(files, p.name, str(p.parent))]
    root = p / "gpo" if kind == "build" else p
    return read_backups(read_tree(root), str(root))


def _from_policyset(policyset: object, source: str) -> list[GpoContent]:
    return [
        GpoContent(source=source, name=pol.name, gpo_guid=pol.gpo_guid, rules=list(pol.rules),
                   profile_settings=list(pol.profile_settings))
        for pol in getattr(policyset, "policies")
    ]


def _from_matrix(path: Path) -> list[GpoContent]:
    """A matrix, resolved (nothing rendered): its policies as GPOs would carry them."""
    from .catalog import load_catalog
    from .matrix import load_matrix
    from .resolve import resolve

    catalog = load_catalog()
    return _from_policyset(resolve(load_matrix(path, catalog), catalog), str(path))


def _from_rules_json(source: str, data: bytes) -> list[GpoContent]:
    from .rulesjson import read

    try:
        return _from_policyset(read(data), source)
    except ValueError as exc:
        raise InputError([Problem(source, message=str(exc))]) from None


def _from_zip(path: Path) -> list[GpoContent]:
    """A package.zip: the GPO backups of the build inside, read without unpacking to disk."""
    from .ziparchive import read_zip

    files = read_zip(path, _limit(MAX_FILE), _limit(MAX_TREE), MAX_FILES)
    tops = {name.split("/", 1)[0] for name in files}
    gpo = {}
    for top in sorted(tops):
        prefix = f"{top}/gpo/"
        gpo = {name[len(prefix):]: data for name, data in files.items() if name.startswith(prefix)}
        if gpo:
            return read_backups(gpo, f"{path}/{top}/gpo")
    raise InputError([Problem(str(path), message=f"holds no cmfw build (no <folder>/gpo/); expected {KNOWN}")])


def read_backups(files: dict[str, bytes], base: str) -> list[GpoContent]:
    """Every backup folder in ``files`` (paths relative to a backup root).

    A folder ``manifest.xml`` lists but that is missing, or a backup folder without its
    Backup.xml, is reported (as a GPO content with a problem), never skipped quietly.
    """
    from .gpo.layout import manifest_ids

    folders = sorted({rel.split("/", 1)[0] for rel in files if GUID_FOLDER.fullmatch(rel.split("/", 1)[0])})
    out = [_from_folder(files, folder, base) for folder in folders if f"{folder}/Backup.xml" in files]
    out += [
        GpoContent(source=os.path.join(base, folder), problems=["a backup folder without Backup.xml: its GPO cannot be read"])
        for folder in folders if f"{folder}/Backup.xml" not in files
    ]
    if "manifest.xml" in files:
        problems: list[Problem] = []
        listed = manifest_ids(files["manifest.xml"], "manifest.xml", problems)
        present = {f.upper() for f in folders}
        out += [
            GpoContent(source=os.path.join(base, bid), name=name,
                       problems=[f"manifest.xml lists backup {bid} ({name!r}), but its folder is missing"])
            for bid, name in sorted(listed.items()) if bid not in present
        ]
        out += [GpoContent(source=os.path.join(base, "manifest.xml"), problems=[p.message]) for p in problems]
    return out


def _from_pol(source: str, data: bytes) -> GpoContent:
    return _content(source, registrypol.decode(data, source))


def _from_lgpo(source: str, data: bytes) -> GpoContent:
    pairs = lgpotext.decode(data, source)
    return _content(source, [entry for section, entry in pairs if section == "Computer"])


def _from_mof(source: str, data: bytes) -> GpoContent:
    from .dsc.mof import decode_text, parse
    from .dsc.reader import read_document

    try:
        text = decode_text(data)
    except UnicodeDecodeError as exc:
        raise InputError([Problem(source, message=f"not UTF-16 or UTF-8 text (byte offset {exc.start})")]) from None
    return _content_of(source, read_document(parse(text, source)))


def _from_intune(files: list[tuple[str, bytes]], *, strict: bool) -> list[GpoContent]:
    """Intune firewall rule policies as GPO contents; the documents of one cmfw policy merged.

    ``strict``: a file that is no firewall rule policy is an error; in a folder, files
    that are not meant as Intune policies (cmfw's deploy plan, other JSON) or are
    policies of another template (an export of a whole tenant) are passed over.
    """
    import json

    from .identifiers import gpo_guid
    from .intune.read import looks_like_policy, merge, parse

    policies = []
    for source, data in files:
        try:
            policies.extend(parse(data, source))
        except ValueError as exc:
            if not strict:
                try:
                    doc = json.loads(data.decode("utf-8-sig"))
                except (UnicodeDecodeError, ValueError):
                    doc = None
                if not looks_like_policy(doc) or str(exc).startswith("not a Windows Firewall Rules policy"):
                    continue
            raise InputError([Problem(source, message=str(exc))]) from None
    if not policies:
        where = files[0][0] if len(files) == 1 else os.path.dirname(files[0][0]) if files else "."
        raise InputError([Problem(where, message="holds no Intune firewall rule policy")])
    return [
        GpoContent(
            source=policy.source,
            name=policy.name,
            gpo_guid=gpo_guid(policy.marker.domain, policy.marker.key) if policy.marker else "",
            rules=policy.rules,
            problems=policy.problems,
        )
        for policy in (policies if strict else merge(policies))
    ]


def _content(source: str, entries: list[registrypol.Entry]) -> GpoContent:
    return _content_of(source, read_entries(entries))


def _content_of(source: str, fw: FirewallContent) -> GpoContent:
    return GpoContent(
        source=source,
        policy_version=fw.policy_version,
        rules=fw.rules,
        rule_versions=fw.rule_versions,
        profile_settings=fw.profile_settings,
        problems=fw.problems,
    )


def _from_folder(files: dict[str, bytes], folder: str, base: str) -> GpoContent:
    source = os.path.join(base, folder)
    problems: list[Problem] = []
    info = read_backup_xml(files[f"{folder}/Backup.xml"], folder, problems)
    if info is None:
        raise InputError(problems)
    lower = {k.lower(): k for k in files}
    content = GpoContent(source=source)
    on_disk = lower.get(f"{folder}/{POL_LOCATION}".lower())
    listed = info.registry_pol is not None
    if listed and f"{folder}/{info.registry_pol}".lower() in lower:
        on_disk = lower[f"{folder}/{info.registry_pol}".lower()]
    if on_disk is not None:
        try:
            content = _from_pol(os.path.join(base, on_disk), files[on_disk])
        except InputError as exc:
            # A broken registry.pol makes the GPO unreadable, not empty: say so.
            content = GpoContent(source=source, problems=[p.message for p in exc.problems] or [str(exc)])
        content.source = source
        if not listed:
            content.problems.insert(0, "registry.pol is present but Backup.xml does not list it: Import-GPO would not restore "
                                       "it (its rules are shown, but the GPO would not carry them)")
    elif listed:
        content.problems.append(f"Backup.xml lists {info.registry_pol}, but the file is missing")
    content.name, content.gpo_guid, content.backup_id = info.name, info.gpo_guid, folder
    return content
