"""Check a GPO backup root: every file against its XSD or parser, and the files against each other.

Used on a build in memory (before anything is written) and by ``cmfw check`` on a
directory: the same checks, on a mapping of relative path → bytes. ``strict``
adds what cmfw promises for its own output (exact extension GUIDs, an LGPO text
twin that says the same as registry.pol, a manifest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import InputError, Problem
from ..syntax.xml import parse_xml
from ..registry import lgpotext, registrypol
from .backup import FIREWALL_TOOL, MACHINE_EXTENSIONS, NS_BACKUP, NS_MANIFEST, POL_LOCATION, REGISTRY_CSE
from ..registry.policyfile import FirewallContent, read_entries
from .xsd import xsd_problems

GUID_FOLDER = re.compile(r"\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}")
_M = f"{{{NS_MANIFEST}}}"
_B = f"{{{NS_BACKUP}}}"


@dataclass
class BackupInfo:
    """What one backup folder says, for readers and checks."""

    folder: str
    gpo_guid: str = ""
    name: str = ""
    domain: str = ""
    extensions: str = ""
    locations: list[str] = field(default_factory=list)
    registry_pol: str | None = None


def check_backup_root(files: Mapping[str, bytes], root: str = "", *, strict: bool = False) -> list[Problem]:
    """Every problem of the backups under ``root`` (a prefix of the paths in ``files``)."""
    prefix = f"{root}/" if root else ""
    problems: list[Problem] = []
    folders = sorted({
        path[len(prefix):].split("/", 1)[0]
        for path in files
        if path.startswith(prefix) and GUID_FOLDER.fullmatch(path[len(prefix):].split("/", 1)[0])
    })
    manifest_path = prefix + "manifest.xml"
    listed: dict[str, str] = {}
    if manifest_path in files:
        problems += xsd_problems(manifest_path, files[manifest_path], "manifest.xsd")
        listed = _manifest_ids(files[manifest_path], manifest_path, problems)
        for bid in sorted(set(listed) - {f.upper() for f in folders}):
            problems.append(Problem(manifest_path, message=f"lists backup {bid}, but there is no such folder"))
    elif strict:
        problems.append(Problem(manifest_path, message="missing: Import-GPO and GPMC list backups from it"))
    lower = {path.lower(): path for path in files}
    for folder in folders:
        problems += check_backup_folder(files, prefix + folder, strict=strict, lower=lower)
        if manifest_path in files and folder.upper() not in listed:
            problems.append(Problem(manifest_path, message=f"does not list backup folder {folder}"))
    if not folders:
        problems.append(Problem(prefix or ".", message="no backup folders ({GUID}/Backup.xml) found"))
    return problems


def check_backup_folder(
    files: Mapping[str, bytes], folder: str, *, strict: bool = False, lower: dict[str, str] | None = None
) -> list[Problem]:
    """Every problem of one backup folder; ``lower`` maps lower-cased paths to paths (Windows
    paths are case-insensitive), computed once by the caller for a whole root."""
    problems: list[Problem] = []
    name = folder.rsplit("/", 1)[-1]
    backup_path, info_path = f"{folder}/Backup.xml", f"{folder}/bkupInfo.xml"
    if backup_path not in files:
        return [Problem(backup_path, message="missing: without it the folder is not a GPO backup")]
    problems += xsd_problems(backup_path, files[backup_path], "backup.xsd")
    info = read_backup_xml(files[backup_path], folder, problems)
    if info_path in files:
        problems += xsd_problems(info_path, files[info_path], "manifest.xsd")
        inst = _inst_fields(files[info_path], info_path, problems)
        if inst and inst.get("ID", "").upper() != name.upper():
            problems.append(Problem(info_path, message=f"ID {inst.get('ID')} differs from the folder name {name}"))
        if inst and info and inst.get("GPOGuid", "").upper() != info.gpo_guid.upper():
            problems.append(Problem(info_path, message=f"GPOGuid {inst.get('GPOGuid')} differs from Backup.xml's ID {info.gpo_guid}"))
    else:
        problems.append(Problem(info_path, message="missing: Import-GPO finds backups by it"))
    report = f"{folder}/gpreport.xml"
    if report in files:
        problems += xsd_problems(report, files[report], "gpreport.xsd")
    elif strict:
        problems.append(Problem(report, message="missing: GPMC shows the backup's settings from it"))
    if info is None:
        return problems
    if lower is None:
        lower = {path.lower(): path for path in files}
    for location in info.locations:
        if f"{folder}/{location}".lower() not in lower:
            problems.append(Problem(backup_path, message=f"names {location.replace('/', chr(92))}, which is not in the backup"))
    content = None
    if info.registry_pol is not None:
        pol_path = lower.get(f"{folder}/{info.registry_pol}".lower())
        if pol_path is not None:
            content = _check_pol(files, pol_path, problems, strict=strict)
    if content is not None and (content.rules or content.profile_settings):
        groups = re.findall(r"\[([^\]]*)\]", info.extensions)
        if not any(g.upper().startswith(REGISTRY_CSE) and FIREWALL_TOOL in g.upper() for g in groups):
            problems.append(Problem(backup_path, message=(
                f"MachineExtensionGuids {info.extensions!r} lacks the Registry extension with the firewall tool "
                f"{FIREWALL_TOOL}; GPMC would not show the firewall settings"
            )))
    if strict and info.extensions != MACHINE_EXTENSIONS:
        problems.append(Problem(backup_path, message=f"MachineExtensionGuids is {info.extensions!r}, not {MACHINE_EXTENSIONS!r}"))
    return problems


def _check_pol(files: Mapping[str, bytes], pol_path: str, problems: list[Problem], *, strict: bool) -> FirewallContent | None:
    try:
        entries = registrypol.decode(files[pol_path], pol_path)
    except InputError as exc:
        problems.extend(exc.problems)
        return None
    content = read_entries(entries)
    problems.extend(Problem(pol_path, message=p) for p in content.problems)
    twin_path = pol_path + ".txt"
    if twin_path in files:
        try:
            twin = [e for _, e in lgpotext.decode(files[twin_path], twin_path)]
        except InputError as exc:
            problems.extend(exc.problems)
        else:
            if twin != entries:
                problems.append(Problem(twin_path, message="does not say the same as registry.pol next to it"))
    elif strict:
        problems.append(Problem(twin_path, message="missing: the LGPO text twin of registry.pol"))
    return content


def read_backup_xml(data: bytes, folder: str, problems: list[Problem] | None = None) -> BackupInfo | None:
    """The identity, extension GUIDs and file list of a Backup.xml."""
    root = _root(data, f"{folder}/Backup.xml", problems)
    if root is None:
        return None
    core = root.find(f"{_B}GroupPolicyObject/{_B}GroupPolicyCoreSettings")
    info = BackupInfo(folder=folder)
    if core is not None:
        info.gpo_guid = (core.findtext(f"{_B}ID") or "").strip()
        info.name = core.findtext(f"{_B}DisplayName") or ""
        info.domain = core.findtext(f"{_B}Domain") or ""
        info.extensions = (core.findtext(f"{_B}MachineExtensionGuids") or "").strip()
    for element in root.iter(f"{_B}FSObjectFile"):
        location = element.get(f"{_B}Location")
        if location:
            relative = location.replace("\\", "/")
            info.locations.append(relative)
            if relative.lower() == POL_LOCATION.lower():
                info.registry_pol = relative
    return info


def _root(data: bytes, path: str, problems: list[Problem] | None) -> Any:
    """The parsed document's root element, or ``None`` with the reason added to ``problems``."""
    try:
        return parse_xml(data, path).getroot()
    except InputError as exc:
        if problems is not None:
            problems.extend(exc.problems)
        return None


def _manifest_ids(data: bytes, path: str, problems: list[Problem]) -> dict[str, str]:
    root = _root(data, path, problems)
    if root is None:
        return {}
    out = {}
    for inst in root.findall(f"{_M}BackupInst"):
        bid = (inst.findtext(f"{_M}ID") or "").strip()
        out[bid.upper()] = inst.findtext(f"{_M}GPODisplayName") or ""
    return out


def _inst_fields(data: bytes, path: str, problems: list[Problem]) -> dict[str, str]:
    root = _root(data, path, problems)
    if root is None:
        return {}
    return {child.tag.replace(_M, ""): (child.text or "").strip() for child in root}
