"""Every DSC artifact of a PolicySet, under ``dsc/<policy id>/``::

    <id>.ps1            configuration script (UTF-8 with BOM, CRLF: what Windows PowerShell 5.1 reads)
    <id>.psd1           configuration data (AllNodes from the matrix)
    <node>.mof          the compiled configuration for each node (UTF-16LE with BOM)
    <node>.mof.checksum SHA-256 of the MOF, upper-case hex, for pull servers
    <id>.dsc.yaml       the DSC v3 configuration document
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from ..model import PolicySet
from . import v3
from .mof import MofResource, write_document
from ..syntax.powershell import script_bytes
from .resources import instances
from .script import configuration_data, configuration_script

ROOT = "dsc"


def emit(policyset: PolicySet, moment: datetime) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for policy in policyset.policies:
        folder = f"{ROOT}/{policy.key}"
        # One mapping, three renderings: the instances (and their purge scripts) are made once.
        items = instances(policy)
        files[f"{folder}/{policy.key}.ps1"] = script_bytes(configuration_script(policy, items))
        files[f"{folder}/{policy.key}.psd1"] = script_bytes(configuration_data(policy))
        resources = [
            MofResource(
                mof_class=i.mof_class,
                resource_id=i.resource_id,
                properties=tuple((k, list(v) if isinstance(v, tuple) else v) for k, v in i.properties),
                module=i.module,
                version=i.version,
                depends_on=i.depends_on,
            )
            for i in items
        ]
        for node in policy.dsc.nodes:
            mof = write_document(node, policy.key, resources, moment)
            files[f"{folder}/{node}.mof"] = mof
            files[f"{folder}/{node}.mof.checksum"] = hashlib.sha256(mof).hexdigest().upper().encode("ascii")
        files[f"{folder}/{policy.key}.dsc.yaml"] = v3.dumps(v3.document(policy, items))
    return files
