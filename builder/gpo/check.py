"""Check a GPO backup root: every file against its XSD or parser, and the files against each other.

Used on a build in memory (before anything is written) and by ``cmfw check`` on a
directory: the same checks, on a mapping of relative path → bytes. ``strict``
adds what cmfw promises for its own output (exact extension GUIDs, an LGPO text
twin that says the same as registry.pol, a manifest). ``xsd`` names the XSD engine
(:data:`.xsd.ENGINES`); without one, the engine in force (lxml unless a caller chose
another with the ``xsd`` argument).
"""

from __future__ import annotations

import re
from typing import Mapping

from ..errors import InputError, Problem
from ..registry import lgpotext, registrypol
from ..registry.policyfile import FIREWALL_TOOL, REGISTRY_CSE, FirewallContent, read_entries
from .layout import BACKUP_FILES, GUID_FOLDER, MACHINE_EXTENSIONS, POL_LOCATION, TWIN_HEADER, inst_fields, manifest_ids, read_backup_xml
from .xsd import ENGINES, problems_with


def check_backup_root(
    files: Mapping[str, bytes],
    root: str = "",
    *,
    strict: bool = False,
    xsd: str = ENGINES[0],
    pols: dict[str, list[registrypol.Entry]] | None = None,
) -> list[Problem]:
    """Every problem of the backups under ``root`` (a prefix of the paths in ``files``).

    ``pols`` collects the registry.pol files read on the way (path → entries), for a
    caller that compares them with something else (:func:`check_twins`).
    """
    return _check_root(files, root, strict=strict, xsd=xsd, pols=pols, manifest=True, folders=True)


def check_manifest(files: Mapping[str, bytes], root: str = "", *, strict: bool = False, xsd: str = ENGINES[0]) -> list[Problem]:
    """What only the whole backup root shows: manifest.xml against its XSD, listing exactly
    the backup folders there are, and at least one folder."""
    return _check_root(files, root, strict=strict, xsd=xsd, manifest=True, folders=False)


def check_backup_folders(
    files: Mapping[str, bytes],
    root: str = "",
    *,
    strict: bool = False,
    xsd: str = ENGINES[0],
    pols: dict[str, list[registrypol.Entry]] | None = None,
) -> list[Problem]:
    """Every problem of each backup folder under ``root``, on its own (any subset of the
    folders of a root: a big build checks its policies' folders in worker processes)."""
    return _check_root(files, root, strict=strict, xsd=xsd, pols=pols, manifest=False, folders=True)


def _check_root(
    files: Mapping[str, bytes],
    root: str,
    *,
    strict: bool,
    xsd: str,
    manifest: bool,
    folders: bool,
    pols: dict[str, list[registrypol.Entry]] | None = None,
) -> list[Problem]:
    prefix = f"{root}/" if root else ""
    problems: list[Problem] = []
    names = sorted({
        path[len(prefix):].split("/", 1)[0]
        for path in files
        if path.startswith(prefix) and GUID_FOLDER.fullmatch(path[len(prefix):].split("/", 1)[0])
    })
    manifest_path = prefix + "manifest.xml"
    listed: dict[str, str] = {}
    if manifest and manifest_path in files:
        problems += problems_with(xsd, manifest_path, files[manifest_path], "manifest.xsd")
        listed = manifest_ids(files[manifest_path], manifest_path, problems)
        for bid in sorted(set(listed) - {f.upper() for f in names}):
            problems.append(Problem(manifest_path, message=f"lists backup {bid}, but there is no such folder"))
    elif manifest and strict:
        problems.append(Problem(manifest_path, message="missing: Import-GPO and GPMC list backups from it"))
    lower = {path.lower(): path for path in files} if folders else {}
    members: dict[str, list[str]] = {}  # files by backup folder (lower case), found in one pass
    for path in files if folders else ():
        folded = path.lower()
        if folded.startswith(prefix.lower()):
            head, sep, _ = folded[len(prefix):].partition("/")
            if sep:
                members.setdefault(prefix.lower() + head, []).append(path)
    for folder in names:
        if folders:
            problems += check_backup_folder(
                files, prefix + folder, strict=strict, lower=lower, xsd=xsd,
                members=members.get((prefix + folder).lower(), []), pols=pols,
            )
        if manifest and manifest_path in files and folder.upper() not in listed:
            problems.append(Problem(manifest_path, message=f"does not list backup folder {folder}"))
    if manifest and not names:
        problems.append(Problem(prefix or ".", message="no backup folders ({GUID}/Backup.xml) found"))
    return problems


def check_backup_folder(
    files: Mapping[str, bytes],
    folder: str,
    *,
    strict: bool = False,
    lower: dict[str, str] | None = None,
    xsd: str = ENGINES[0],
    members: list[str] | None = None,
    pols: dict[str, list[registrypol.Entry]] | None = None,
) -> list[Problem]:
    """Every problem of one backup folder; ``lower`` maps lower-cased paths to paths (Windows
    paths are case-insensitive) and ``members`` lists the folder's own files, both
    computed once by the caller for a whole root; ``pols`` as for :func:`check_backup_root`."""
    problems: list[Problem] = []
    name = folder.rsplit("/", 1)[-1]
    backup_path, info_path = f"{folder}/Backup.xml", f"{folder}/bkupInfo.xml"
    if backup_path not in files:
        return [Problem(backup_path, message="missing: without it the folder is not a GPO backup")]
    problems += problems_with(xsd, backup_path, files[backup_path], "backup.xsd")
    info = read_backup_xml(files[backup_path], folder, problems)
    if info_path in files:
        problems += problems_with(xsd, info_path, files[info_path], "manifest.xsd")
        inst = inst_fields(files[info_path], info_path, problems)
        if inst and inst.get("ID", "").upper() != name.upper():
            problems.append(Problem(info_path, message=f"ID {inst.get('ID')} differs from the folder name {name}"))
        if inst and info and inst.get("GPOGuid", "").upper() != info.gpo_guid.upper():
            problems.append(Problem(info_path, message=f"GPOGuid {inst.get('GPOGuid')} differs from Backup.xml's ID {info.gpo_guid}"))
    else:
        problems.append(Problem(info_path, message="missing: Import-GPO finds backups by it"))
    report = f"{folder}/gpreport.xml"
    if report in files:
        problems += problems_with(xsd, report, files[report], "gpreport.xsd")
    elif strict:
        problems.append(Problem(report, message="missing: GPMC shows the backup's settings from it"))
    if info is None:
        return problems
    if lower is None:
        lower = {path.lower(): path for path in files}
    for location in info.locations:
        if f"{folder}/{location}".lower() not in lower:
            problems.append(Problem(backup_path, message=f"names {location.replace('/', chr(92))}, which is not in the backup"))
    # Import-GPO may copy a file of the folder into the GPO's SYSVOL folder: only what
    # Backup.xml lists (and the three description files) belongs there.
    known = {f"{folder}/{n}".lower() for n in BACKUP_FILES} | {f"{folder}/{loc}".lower() for loc in info.locations}
    inside = members if members is not None else [p for p in files if p.lower().startswith(folder.lower() + "/")]
    for path in sorted(p for p in inside if p.lower() not in known):
        problems.append(Problem(path, message="is in the backup folder but Backup.xml does not list it; Import-GPO may copy it into SYSVOL"))
    content = None
    if info.registry_pol is not None:
        pol_path = lower.get(f"{folder}/{info.registry_pol}".lower())
        if pol_path is not None:
            content = _check_pol(files, pol_path, problems, strict=strict, pols=pols)
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


def _check_pol(
    files: Mapping[str, bytes], pol_path: str, problems: list[Problem], *, strict: bool,
    pols: dict[str, list[registrypol.Entry]] | None = None,
) -> FirewallContent | None:
    try:
        entries = registrypol.decode(files[pol_path], pol_path)
    except InputError as exc:
        problems.extend(exc.problems)
        return None
    if pols is not None:
        pols[pol_path] = entries
    content = read_entries(entries)
    problems.extend(Problem(pol_path, message=p) for p in content.problems)
    return content


def check_twins(
    files: Mapping[str, bytes], twins: str, root: str, pols: Mapping[str, list[registrypol.Entry]] | None = None
) -> list[Problem]:
    """Every LGPO-style text under ``twins/`` says what the registry.pol it names says,
    and every backup under ``root/`` has one. ``pols``: registry.pol files already read."""
    problems: list[Problem] = []
    named: set[str] = set()
    for path in sorted(p for p in files if p.startswith(twins + "/")):
        match = TWIN_HEADER.search(files[path][:400].decode("utf-8", "replace"))
        if match is None:
            problems.append(Problem(path, 1, 0, "", "does not name the backup it is the text of (first line)"))
            continue
        backup = match.group(1).upper()
        named.add(backup)
        pol_path = f"{root}/{backup}/{POL_LOCATION}"
        if pol_path not in files:
            problems.append(Problem(path, 1, 0, "", f"names backup {backup}, which the build does not have"))
            continue
        try:
            twin = [e for _, e in lgpotext.decode(files[path], path)]
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        try:
            pol = pols[pol_path] if pols is not None and pol_path in pols else registrypol.decode(files[pol_path], pol_path)
        except InputError:
            continue  # the backup's own check reports a broken registry.pol
        if twin != pol:
            problems.append(Problem(path, message=f"does not say the same as {pol_path}"))
    folders = {p[len(root) + 1:].split("/", 1)[0] for p in files if p.startswith(root + "/") and p.count("/") > 1}
    for folder in sorted(f for f in folders if GUID_FOLDER.fullmatch(f) and f.upper() not in named):
        problems.append(Problem(f"{root}/{folder}", message=f"has no LGPO-style text under {twins}/"))
    return problems


