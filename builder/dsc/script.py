"""The DSC configuration script (``.ps1``) and its configuration data (``.psd1``)."""

from __future__ import annotations

from typing import Sequence

from ..model import Policy
from ..syntax.powershell import Raw, render
from .resources import Instance, instances, modules


def configuration_script(policy: Policy, items: Sequence[Instance] | None = None) -> str:
    """One ``Configuration`` with a ``Node $AllNodes.NodeName`` block and a resource per instance.

    ``items``: the policy's :func:`~.resources.instances`, when the caller has them already
    (the emitter makes them once for the script, the MOF and the v3 document).
    """
    blocks = []
    for inst in instances(policy) if items is None else items:
        props = list(inst.properties)
        if inst.depends_on:
            props.append(("DependsOn", inst.depends_on))
        width = max(len(k) for k, _ in props)
        blocks.append(
            {
                "keyword": Raw(inst.resource),
                "name": inst.name,
                "properties": [(Raw(k.ljust(width)), v) for k, v in props],
            }
        )
    return render(
        "configuration.ps1.j2",
        name=Raw(policy.key),
        script=Raw(f"{policy.key}.ps1"),
        data=Raw(f"{policy.key}.psd1"),
        modules=modules(policy),
        instances=blocks,
    )


def configuration_data(policy: Policy) -> str:
    nodes = list(policy.dsc.nodes)
    return render(
        "configdata.psd1.j2",
        script=Raw(f"{policy.key}.ps1"),
        nodes=nodes,
        separators=[Raw(",")] * (len(nodes) - 1) + [Raw("")],
        policy_name=policy.name,
        description=policy.description,
        gpo_guid=policy.gpo_guid,
    )
