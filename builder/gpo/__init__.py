"""GPO backups: the folder ``Import-GPO``, GPMC and ``LGPO.exe /g`` read (see :mod:`.backup`).

Per policy: each policy's backup folder and LGPO text are made (and checked) on their
own, in worker processes for a big build; ``manifest.xml``, which lists every backup,
is written once from what the parts report (``finish``), and checked on the whole build.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import Problem
from ..formats import Artifacts, Backups, Context, Emitted, Emitter, Validator
from .layout import NS_MANIFEST, POL_LOCATION, ROOT, TWINS

#: The fact each part publishes for ``finish``: what manifest.xml says of its backups.
_PART = "gpo-backups"


def _emit(ctx: Context) -> Emitted:
    from .backup import emit_backup_folders

    files, instances = emit_backup_folders(ctx.policyset, ctx.moment)
    return Emitted(files, {_PART: instances})


def _finish(ctx: Context, parts: Sequence[Mapping[str, Any]]) -> Emitted:
    from .backup import manifest_xml

    instances = [instance for part in parts for instance in part[_PART]]
    ids = {key: bid for key, bid, _ in instances}
    pols = {key: f"{ROOT}/{bid}/{POL_LOCATION}" for key, bid in ids.items()}
    return Emitted({f"{ROOT}/manifest.xml": manifest_xml(instances)}, {"backups": Backups(ROOT, ids, pols, NS_MANIFEST)})


def _check_folders(artifacts: Artifacts) -> list[Problem]:
    from ..registry.registrypol import Entry
    from .check import check_backup_folders, check_twins

    pols: dict[str, list[Entry]] = {}
    problems = check_backup_folders(artifacts.files, ROOT, strict=True, xsd=artifacts.xsd, pols=pols)
    return problems + check_twins(artifacts.files, TWINS, ROOT, pols)


def _check_root(artifacts: Artifacts) -> list[Problem]:
    from .check import check_manifest

    problems = check_manifest(artifacts.files, ROOT, strict=True, xsd=artifacts.xsd)
    # A file in a backup folder that the build did not write would be imported with it.
    for path in sorted(artifacts.present - set(artifacts.files)):
        if path.startswith(ROOT + "/"):
            problems.append(Problem(path, message="is in a backup folder but not in build.json (an import would carry it)"))
    return problems


EMITTER = Emitter(
    name="gpo",
    owns=(ROOT + "/", TWINS + "/"),
    emit=_emit,
    per_policy=True,
    finish=_finish,
    provides=("backups",),
    validators=(
        Validator(
            "GPO backups: manifest.xml against an XSD that also accepts real GPMC backups, listing exactly the "
            "backup folders; no file in a backup folder that the build did not write",
            _check_root,
            whole=True,
        ),
        Validator(
            "each GPO backup folder: Backup.xml, bkupInfo.xml and gpreport.xml against XSDs that also accept real "
            "GPMC backups; registry.pol by the strict reader and every rule string by the parser; the policy's "
            "LGPO-style text equal to its registry.pol; IDs, GUIDs, listed files and extension GUIDs consistent, "
            "and no file in the folder that Backup.xml does not list",
            _check_folders,
        ),
    ),
)
