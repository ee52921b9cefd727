"""GPO backups: the folder ``Import-GPO``, GPMC and ``LGPO.exe /g`` read (see :mod:`.backup`)."""

from __future__ import annotations

from ..errors import Problem
from ..formats import Artifacts, Backups, Context, Emitted, Emitter, Validator
from .layout import NS_MANIFEST, POL_LOCATION, ROOT, TWINS


def _emit(ctx: Context) -> Emitted:
    from .backup import emit_backups

    files, ids = emit_backups(ctx.policyset, ctx.moment)
    pols = {key: f"{ROOT}/{bid}/{POL_LOCATION}" for key, bid in ids.items()}
    return Emitted(files, {"backups": Backups(ROOT, ids, pols, NS_MANIFEST)})


def _check(artifacts: Artifacts) -> list[Problem]:
    from .check import check_backup_root, check_twins

    problems = check_backup_root(artifacts.files, ROOT, strict=True, xsd=artifacts.xsd) + check_twins(artifacts.files, TWINS, ROOT)
    # A file in a backup folder that the build did not write would be imported with it.
    for path in sorted(artifacts.present - set(artifacts.files)):
        if path.startswith(ROOT + "/"):
            problems.append(Problem(path, message="is in a backup folder but not in build.json (an import would carry it)"))
    return problems


EMITTER = Emitter(
    name="gpo",
    owns=(ROOT + "/", TWINS + "/"),
    emit=_emit,
    provides=("backups",),
    validators=(
        Validator(
            "GPO backups: manifest.xml, Backup.xml, bkupInfo.xml and gpreport.xml against XSDs that also accept "
            "real GPMC backups; registry.pol by the strict reader and every rule string by the parser; each "
            "policy's LGPO-style text equal to its registry.pol; IDs, GUIDs, listed files and extension GUIDs "
            "consistent, and no file in a backup folder that Backup.xml does not list",
            _check,
        ),
    ),
)
