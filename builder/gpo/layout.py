"""The GPO backup folder: names, namespaces, GUIDs, and reading what Backup.xml and manifest.xml say.

A backup root holds ``manifest.xml`` and one ``{BACKUP-ID}`` folder per GPO, each
with ``Backup.xml``, ``bkupInfo.xml``, ``gpreport.xml`` and the files of the
client-side extensions (here ``DomainSysvol/GPO/Machine/registry.pol``). The writer
(:mod:`.backup`), the checks (:mod:`.check`) and the readers of every format
(:mod:`builder.read`) share these facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, Problem
from ..registry.policyfile import FIREWALL_TOOL, REGISTRY_CSE
from ..syntax.xml import parse_xml

ROOT = "gpo"
NS_MANIFEST = "http://www.microsoft.com/GroupPolicy/GPOOperations/Manifest"
NS_BACKUP = "http://www.microsoft.com/GroupPolicy/GPOOperations"
MACHINE_EXTENSIONS = f"[{REGISTRY_CSE}{FIREWALL_TOOL}]"
POL_LOCATION = "DomainSysvol/GPO/Machine/registry.pol"
#: The files of a backup folder that describe it (Backup.xml lists the rest).
BACKUP_FILES = ("Backup.xml", "bkupInfo.xml", "gpreport.xml")
#: Where a build keeps each policy's LGPO-style text (outside the backup folders, which
#: Import-GPO copies), and how its first line names the backup it is the text of.
TWINS = "lgpo"
TWIN_HEADER = re.compile(r"^; LGPO-style text of gpo/(\{[0-9A-Fa-f-]{36}\})/", re.MULTILINE)
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


def manifest_ids(data: bytes, path: str, problems: list[Problem]) -> dict[str, str]:
    root = _root(data, path, problems)
    if root is None:
        return {}
    out = {}
    for inst in root.findall(f"{_M}BackupInst"):
        bid = (inst.findtext(f"{_M}ID") or "").strip()
        out[bid.upper()] = inst.findtext(f"{_M}GPODisplayName") or ""
    return out


def inst_fields(data: bytes, path: str, problems: list[Problem]) -> dict[str, str]:
    root = _root(data, path, problems)
    if root is None:
        return {}
    return {child.tag.replace(_M, ""): (child.text or "").strip() for child in root}
