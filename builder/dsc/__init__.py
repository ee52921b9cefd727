"""PowerShell DSC: configuration script and data, compiled MOF per node, DSC v3 document (see :mod:`.emit`)."""

from __future__ import annotations

from ..errors import Problem
from ..formats import Artifacts, Context, Emitted, Emitter, Validator
from . import emit
from .emit import ROOT
from .resources import unexpressible


def _emit(ctx: Context) -> Emitted:
    return Emitted(emit.emit(ctx.policyset, ctx.moment))


#: Below this many MOFs in a part, a build parses every document: telling shapes apart
#: costs more than it saves, and a small build gets the full check.
SHAPE_THRESHOLD = 32


def _check(artifacts: Artifacts) -> list[Problem]:
    """From disk (``cmfw check``), and for a small build: every document parsed. A big
    build's own fresh output: each distinct shape once, and what compares free text in
    every document (:mod:`.shapes`)."""
    if artifacts.thorough or sum(1 for path in artifacts.files if path.endswith(".mof")) < SHAPE_THRESHOLD:
        from .check import check_dsc_files

        return check_dsc_files(artifacts.files, ROOT)
    from .shapes import check_dsc_files_by_shape

    return check_dsc_files_by_shape(artifacts.files, ROOT)


EMITTER = Emitter(
    name="dsc",
    owns=(ROOT + "/",),
    emit=_emit,
    per_policy=True,
    check_policy=unexpressible,
    validators=(
        Validator(
            "DSC: every MOF parsed and checked against the class declarations (types, ValueMaps, keys, "
            "required and read-only properties, DependsOn) with its checksum; every .ps1/.psd1 parsed by "
            "tree-sitter-powershell with nothing but single-quoted values; every DSC v3 document against the "
            "schema and its resources' properties against their classes",
            _check,
        ),
    ),
)
