"""The GPO backup folder: what ``Import-GPO -Path``, GPMC and ``LGPO.exe /g`` read.

For a PolicySet it writes, under ``gpo/``::

    manifest.xml                                   one <BackupInst> per policy
    {BACKUP-ID}/Backup.xml                         core settings, extension GUIDs, file list
    {BACKUP-ID}/bkupInfo.xml                       this backup's <BackupInst>
    {BACKUP-ID}/gpreport.xml                       the settings report GPMC shows
    {BACKUP-ID}/DomainSysvol/GPO/Machine/registry.pol

and, outside the backups (Import-GPO would carry anything inside one into SYSVOL),
``lgpo/<policy id>.txt``: the registry.pol as LGPO-style text, for reviews and diffs
(a stable name per policy, so a change shows as an edit in git).

with GPMC's encodings (gpo-formats.md 1.8). Everything is derived from the
policy: the GPO GUID from domain and name, the backup ID from the GPO GUID and the
content (new content, new backup ID, so ``Import-GPO`` never confuses two builds),
the backup time from the build timestamp. Nothing depends on the machine.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from ..model import Policy, PolicySet
from ..registry import lgpotext, registrypol
from ..registry.policyfile import REGISTRY_CSE, encode_policy
from ..syntax.xml import DECLARATION_UTF8, Element, cdata, comment, document, el
from .gpreport import gpreport
from .layout import MACHINE_EXTENSIONS, NS_BACKUP, NS_MANIFEST, POL_LOCATION, ROOT, TWINS

#: Namespace for the backup IDs and the domain GUID (UUIDv5 of "urn:cmfw:backup").
BACKUP_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cmfw:backup")


def domain_guid(domain: str) -> str:
    """A stand-in for the source domain's GUID (GPMC writes it lower-case).

    A backup built offline has no source domain; Import-GPO does not use this value.
    """
    return "{" + str(uuid.uuid5(BACKUP_NAMESPACE, "domain:" + domain.lower())) + "}"


def backup_id(policy: Policy, pol: bytes) -> str:
    digest = hashlib.sha256(pol + b"\x00" + policy.name.encode("utf-8")).hexdigest()
    return "{" + str(uuid.uuid5(uuid.UUID(policy.gpo_guid), digest)).upper() + "}"


def emit_backups(policyset: PolicySet, moment: datetime) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every file of the backup root (paths relative to the build root), and the backup
    ID of each policy (by policy key)."""
    files, instances = emit_backup_folders(policyset, moment)
    files[f"{ROOT}/manifest.xml"] = manifest_xml(instances)
    return files, {key: bid for key, bid, _ in instances}


#: What a backup folder contributes to manifest.xml: (policy key, backup ID, <BackupInst> fields).
Instance = tuple[str, str, tuple[Element, ...]]


def emit_backup_folders(policyset: PolicySet, moment: datetime) -> tuple[dict[str, bytes], list[Instance]]:
    """The backup folder and LGPO text of each policy (any subset of the policies: a big
    build makes them in worker processes), and what manifest.xml says of each."""
    files: dict[str, bytes] = {}
    instances: list[Instance] = []
    for policy in policyset.policies:
        encoded = encode_policy(policy)
        pol = registrypol.encode(encoded.entries)
        bid = backup_id(policy, pol)
        fields = _backup_inst(policyset.domain, policy, bid, moment)
        instances.append((policy.key, bid, tuple(fields)))
        folder = f"{ROOT}/{bid}"
        files[f"{folder}/Backup.xml"] = _backup_xml(policyset.domain, policy)
        files[f"{folder}/bkupInfo.xml"] = (str(el("BackupInst", *fields, attrs={"xmlns": NS_MANIFEST})) + "\r\n").encode("utf-8")
        files[f"{folder}/gpreport.xml"] = gpreport(policy, policyset.domain, encoded, moment)
        files[f"{folder}/{POL_LOCATION}"] = pol
        header = f"; LGPO-style text of {folder}/{POL_LOCATION} (policy {policy.key}), written by cmfw for review; registry.pol is what Windows applies."
        files[f"{TWINS}/{policy.key}.txt"] = lgpotext.encode(encoded.entries, header=header)
    return files, instances


def manifest_xml(instances: list[Instance]) -> bytes:
    """``manifest.xml``: one <BackupInst> per backup folder, in policy order."""
    manifest = el(
        "Backups",
        *(el("BackupInst", *fields) for _, _, fields in instances),
        attrs={"xmlns": NS_MANIFEST, "xmlns:mfst": NS_MANIFEST, "mfst:version": "1.0"},
    )
    return str(manifest).encode("utf-8")


def _backup_inst(domain: str, policy: Policy, bid: str, moment: datetime) -> list[Element]:
    """The children of a <BackupInst>, in GPMC's fixed order, all in CDATA."""
    fields = (
        ("GPOGuid", policy.gpo_guid),
        ("GPODomain", domain),
        ("GPODomainGuid", domain_guid(domain)),
        ("GPODomainController", domain),
        ("BackupTime", moment.strftime("%Y-%m-%dT%H:%M:%S")),
        ("ID", bid),
        ("Comment", policy.description),
        ("GPODisplayName", policy.name),
    )
    return [el(name, cdata(value)) for name, value in fields]


def _backup_xml(domain: str, policy: Policy) -> bytes:
    """GPMC's layout: a few lines of fixed indentation, the core settings on one line."""
    core = el(
        "GroupPolicyCoreSettings",
        el("ID", cdata(policy.gpo_guid)),
        el("Domain", cdata(domain)),
        Element("SecurityDescriptor", children=("",)),
        el("DisplayName", cdata(policy.name)),
        # 1: the user half is disabled; a firewall GPO has computer settings only.
        el("Options", cdata("1")),
        el("UserVersionNumber", cdata("65537")),
        el("MachineVersionNumber", cdata("65537")),
        el("MachineExtensionGuids", cdata(MACHINE_EXTENSIONS)),
        el("UserExtensionGuids"),
        el("WMIFilter"),
    )
    extension = el(
        "GroupPolicyExtension",
        "\r\n            ",
        el("FSObjectFile", attrs={"bkp:Path": "%GPO_MACH_FSPATH%\\registry.pol", "bkp:Location": POL_LOCATION.replace("/", "\\")}),
        "\r\n            ",
        el("FSObjectFile", attrs={"bkp:Path": "%GPO_FSPATH%\\Adm\\*.*"}),
        "\r\n        ",
        attrs={"bkp:ID": REGISTRY_CSE, "bkp:DescName": "Registry"},
    )
    gpo = el("GroupPolicyObject", el("FilePaths"), core, "\r\n        ", extension, "\r\n    ")
    scheme = el(
        "GroupPolicyBackupScheme",
        "\r\n    ",
        gpo,
        "\r\n",
        attrs={"bkp:version": "2.0", "bkp:type": "GroupPolicyBackupTemplate", "xmlns:bkp": NS_BACKUP, "xmlns": NS_BACKUP},
    )
    head = comment(" Generated by cmfw from a feature matrix; edit the matrix, not this file. ")
    return document([DECLARATION_UTF8, head, scheme]).encode("utf-8")
