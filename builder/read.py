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
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, Problem
from .model import ProfileSetting, Rule
from .registry import lgpotext, registrypol
from .gpo.layout import GUID_FOLDER, read_backup_xml
from .registry.policyfile import FirewallContent, read_entries
from .registry.rulestring import Version

MAX_FILE = 64 * 1024 * 1024
MAX_FILES = 20_000


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
    """Every regular file below ``directory`` by relative path (links are not followed)."""
    out: dict[str, bytes] = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not Path(root, d).is_symlink())
        for name in sorted(names):
            path = Path(root, name)
            if path.is_symlink() or not path.is_file():
                continue
            if len(out) >= MAX_FILES:
                raise InputError([Problem(str(directory), message=f"holds more than {MAX_FILES} files; not a GPO backup")])
            size = path.stat().st_size
            if size > MAX_FILE:
                raise InputError([Problem(str(path), message=f"larger than {MAX_FILE // (1024 * 1024)} MiB")])
            rel = path.relative_to(directory).as_posix()
            out[prefix + rel] = path.read_bytes()
    return out


def kind_of(path: Path) -> str:
    """``build``, ``backup-root``, ``backup``, ``registry.pol``, ``mof``, ``intune``,
    ``intune-folder`` or ``lgpo-text``."""
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
        raise InputError([Problem(str(path), message="is neither a cmfw build nor a GPO backup (no build.json, manifest.xml or Backup.xml), nor a folder of Intune policies (no *.json)")])
    if not path.exists():
        raise InputError([Problem(str(path), message="not found")])
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == registrypol.SIGNATURE:
        return "registry.pol"
    if path.suffix.lower() == ".json":
        return "intune"
    return "mof" if path.suffix.lower() == ".mof" else "lgpo-text"


def read_path(path: str | Path) -> list[GpoContent]:
    """Every GPO in ``path`` (see the module docstring for what a path may be)."""
    p = Path(path)
    kind = kind_of(p)
    if kind == "registry.pol":
        return [_from_pol(str(p), _read_file(p))]
    if kind == "lgpo-text":
        return [_from_lgpo(str(p), _read_file(p))]
    if kind == "mof":
        return [_from_mof(str(p), _read_file(p))]
    if kind == "intune":
        return _from_intune([(str(p), _read_file(p))], strict=True)
    if kind == "intune-folder":
        found = sorted(child for child in p.iterdir() if child.suffix.lower() == ".json" and child.is_file())
        return _from_intune([(str(child), _read_file(child)) for child in found], strict=False)
    if kind == "backup":
        files = read_tree(p, p.name + "/")
        return [_from_folder(files, p.name, str(p.parent))]
    root = p / "gpo" if kind == "build" else p
    return read_backups(read_tree(root), str(root))


def read_backups(files: dict[str, bytes], base: str) -> list[GpoContent]:
    """Every backup folder in ``files`` (paths relative to a backup root)."""
    folders = sorted({rel.split("/", 1)[0] for rel in files if GUID_FOLDER.fullmatch(rel.split("/", 1)[0])})
    return [_from_folder(files, folder, base) for folder in folders if f"{folder}/Backup.xml" in files]


def _read_file(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE:
        raise InputError([Problem(str(path), message=f"larger than {MAX_FILE // (1024 * 1024)} MiB")])
    return path.read_bytes()


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
    if info.registry_pol is not None and f"{folder}/{info.registry_pol}".lower() in lower:
        key = lower[f"{folder}/{info.registry_pol}".lower()]
        content = _from_pol(os.path.join(base, key), files[key])
        content.source = source
    content.name, content.gpo_guid, content.backup_id = info.name, info.gpo_guid, folder
    return content
