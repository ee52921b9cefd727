"""``Deploy-CmfwIntune.ps1`` and the plan it reads (``intune/cmfw-intune-plan.json``).

The script holds no policy data: everything it posts or compares comes from the
package's JSON files, which it first checks against SHA256SUMS and build.json. The
plan lists, per cmfw policy, its documents with their markers and the Entra ID
groups to assign, and every setting, template and choice ID the documents use, so
that the script can ask the tenant about each before it changes anything.
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import __version__
from ..errors import Problem
from ..identifiers import INTUNE_MARKER_PATTERN
from ..model import PolicySet
from . import settings as s
from .translate import PLAN, Plane

SCRIPT = "Deploy-CmfwIntune.ps1"
PLAN_FORMAT = "cmfw-intune-plan/1"
#: The build manifest's format (builder.package.manifest.BUILD_FORMAT; a format package
#: may not import another, so a test keeps the two equal).
BUILD_FORMAT = "cmfw-build/1"
#: Microsoft Graph permissions the script asks for: the policies, and the groups to assign.
SCOPES = ("DeviceManagementConfiguration.ReadWrite.All", "Group.Read.All")

#: Every command the script may call besides its own functions; anything else, or a call
#: through ``&``/``.``, fails the build.
COMMANDS = (
    "Add-Type", "Connect-MgGraph", "ConvertFrom-Json", "ConvertTo-Json", "ForEach-Object", "Format-Table",
    "Get-ChildItem", "Get-FileHash", "Get-MgContext", "Import-Module", "Invoke-MgGraphRequest", "Join-Path",
    "New-Object", "Out-String", "Set-StrictMode", "Sort-Object", "Test-Path", "Where-Object", "Write-Error",
    "Write-Host", "Write-Warning",
)


def used_ids(documents: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """The setting definition, template and choice IDs ``documents`` use (sorted, by kind)."""
    found: dict[str, set[str]] = {"definitions": set(), "templates": set(), "choices": set()}

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            if isinstance(node.get("settingDefinitionId"), str):
                found["definitions"].add(node["settingDefinitionId"])
            for name in ("settingInstanceTemplateId", "settingValueTemplateId"):
                if isinstance(node.get(name), str):
                    found["templates"].add(node[name])
            if str(node.get("@odata.type", "")) == s.CHOICE_VALUE and isinstance(node.get("value"), str):
                found["choices"].add(node["value"])
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)

    for document in documents:
        walk(document)
    return {kind: sorted(values) for kind, values in found.items()}


def plan_document(policyset: PolicySet, planes: list[Plane]) -> dict[str, Any]:
    """The plan: what the script deploys, and the IDs it must find in the tenant first."""
    return {
        "format": PLAN_FORMAT,
        "domain": policyset.domain.lower(),
        "owner": policyset.owner,
        "template_id": s.TEMPLATE_ID,
        "setting_prefix": s.PREFIX,
        "uses": used_ids(d.body for p in planes for d in p.documents),
        "policies": [
            {
                "key": p.policy.key,
                "name": p.policy.intune.name or p.policy.name,
                "groups": list(p.policy.intune.groups),
                "rules": p.rules,
                "left_out": len(p.left_out),
                "documents": [
                    {
                        "path": d.path,
                        "name": d.name,
                        "part": d.part,
                        "parts": d.parts,
                        "marker": d.body["description"].split("\n", 1)[0],
                        "rules": len(d.rules),
                    }
                    for d in p.documents
                ],
            }
            for p in planes
        ],
    }


def render_script(policyset: PolicySet) -> bytes:
    """The deploy script (only the domain and constants of this cmfw version are in it)."""
    from ..syntax.powershell import render, script_bytes

    text = render(
        SCRIPT + ".j2",
        folder="intune",
        version=__version__,
        domain=policyset.domain.lower(),
        build_format=BUILD_FORMAT,
        plan_path=PLAN,
        plan_format=PLAN_FORMAT,
        marker_pattern=INTUNE_MARKER_PATTERN,
        template_id=s.TEMPLATE_ID,
        prefix=s.PREFIX,
        name_setting=s.CHILDREN["name"].id,
        scopes=list(SCOPES),
    )
    return script_bytes(text)


def check_script(files: dict[str, bytes] | Any) -> list[Problem]:
    """The script parses with tree-sitter-powershell, with no error node, and calls only
    the commands of :data:`COMMANDS` and its own functions (never through ``&`` or ``.``)."""
    from ..syntax.powershell import shipped_script_problems

    data = files.get(SCRIPT)
    return [] if data is None else shipped_script_problems(SCRIPT, data, COMMANDS)
