"""The deployment scripts of a build: ``Import-CmfwGpo.ps1`` (Windows) and ``deploy-samba.sh``.

Both read their data from files they first check (build.json, the backup folders)
or from values escaped into them by the template environment, never from text
pasted into code. See docs/package.md.
"""

from __future__ import annotations

from .. import __version__
from ..gpo.backup import FIREWALL_TOOL, NS_MANIFEST, POL_LOCATION, REGISTRY_CSE, ROOT as GPO_ROOT
from ..model import PolicySet
from ..registry.policyfile import RULES_KEY
from .manifest import BUILD_FORMAT

IMPORT_SCRIPT = "Import-CmfwGpo.ps1"
SAMBA_SCRIPT = "deploy-samba.sh"


def emit_scripts(policyset: PolicySet, backup_ids: dict[str, str]) -> dict[str, bytes]:
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
        manifest_namespace=NS_MANIFEST,
    )
    shell = render_shell(
        "deploy-samba.sh.j2",
        version=__version__,
        registry_cse=REGISTRY_CSE,
        firewall_tool=FIREWALL_TOOL,
        policies=[
            {"key": p.key, "name": p.name, "pol": f"{GPO_ROOT}/{backup_ids[p.key]}/{POL_LOCATION}", "rules": len(p.rules)}
            for p in policyset.policies
        ],
        links=[
            {"key": p.key, "target": ln.target, "order": ln.order, "enforced": ln.enforced, "enabled": ln.enabled}
            for p in policyset.policies
            for ln in p.links
        ],
    )
    return {IMPORT_SCRIPT: script_bytes(powershell), SAMBA_SCRIPT: shell.encode("utf-8")}
