"""The deployment scripts of a build: ``Import-CmfwGpo.ps1`` (Windows) and ``deploy-samba.sh``.

Both read their data from files they first check (build.json, the backup folders)
or from values escaped into them by the template environment, never from text
pasted into code. See docs/package.md.
"""

from __future__ import annotations

from .. import __version__
from ..datafiles import template_path
from ..errors import Problem
from ..formats import Artifacts, Backups, Context, Emitted, Emitter, Validator
from ..model import PolicySet
from ..identifiers import MARKER_PATTERN
from ..registry.policyfile import RULES_KEY
from .manifest import BUILD_FORMAT

IMPORT_SCRIPT = "Import-CmfwGpo.ps1"
SAMBA_SCRIPT = "deploy-samba.sh"
#: The Samba deployment proper: plain Python for Samba's bindings, the same in every build.
SAMBA_PROGRAM = "deploy-samba.py"


def emit_scripts(policyset: PolicySet, backups: Backups) -> dict[str, bytes]:
    """``Import-CmfwGpo.ps1`` and ``deploy-samba.sh`` for this policy set."""
    from ..syntax.powershell import render as render_powershell, script_bytes
    from ..syntax.shell import render as render_shell

    powershell = render_powershell(
        "Import-CmfwGpo.ps1.j2",
        folder="package",
        version=__version__,
        domain=policyset.domain,
        build_format=BUILD_FORMAT,
        rules_key="HKLM\\" + RULES_KEY,
        manifest_namespace=backups.manifest_namespace,
        marker_pattern=MARKER_PATTERN,
    )
    shell = render_shell("deploy-samba.sh.j2", version=__version__)
    program = template_path("package/" + SAMBA_PROGRAM).read_bytes()
    return {IMPORT_SCRIPT: script_bytes(powershell), SAMBA_SCRIPT: shell.encode("utf-8"), SAMBA_PROGRAM: program}


def _emit(ctx: Context) -> Emitted:
    return Emitted(emit_scripts(ctx.policyset, ctx.fact("backups", Backups)))


#: Every command Import-CmfwGpo.ps1 may call, besides its own functions: a command
#: outside this list, or one called through ``&``/``.``, fails the build.
IMPORT_COMMANDS = (
    "Add-Type", "ConvertFrom-Json", "ForEach-Object", "Format-Table", "Get-ChildItem", "Get-FileHash",
    "Get-GPO", "Get-GPRegistryValue", "Import-GPO", "Import-Module", "Join-Path", "New-GPLink", "New-Object",
    "Out-Null", "Out-String", "Remove-GPO", "Rename-GPO", "Set-GPLink", "Set-StrictMode", "Sort-Object",
    "Test-Path", "Where-Object", "Write-Error", "Write-Host",
)


def _check(artifacts: Artifacts) -> list[Problem]:
    """The import script parses as PowerShell (tree-sitter-powershell), with no error node,
    and calls only the commands of :data:`IMPORT_COMMANDS` and its own functions."""
    from ..syntax.powershell import shipped_script_problems

    data = artifacts.files.get(IMPORT_SCRIPT)
    return [] if data is None else shipped_script_problems(IMPORT_SCRIPT, data, IMPORT_COMMANDS)


def _check_program(artifacts: Artifacts) -> list[Problem]:
    """deploy-samba.py compiles (it runs under Samba's Python, where no test reaches)."""
    data = artifacts.files.get(SAMBA_PROGRAM)
    if data is None:
        return []
    try:
        compile(data, SAMBA_PROGRAM, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [Problem(SAMBA_PROGRAM, exc.lineno or 0, 0, "", f"not valid Python: {exc.msg}")]
    return []


EMITTER = Emitter(
    name="scripts",
    owns=(IMPORT_SCRIPT, SAMBA_SCRIPT, SAMBA_PROGRAM),
    emit=_emit,
    requires=("backups",),
    validators=(
        Validator("Import-CmfwGpo.ps1 parses with tree-sitter-powershell, with no error node, and calls only known commands", _check),
        Validator("deploy-samba.py compiles as Python", _check_program),
    ),
)
