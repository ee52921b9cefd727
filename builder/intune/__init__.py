"""Intune: each policy as endpoint-security firewall-rule policies (docs/intune.md).

For every policy with ``intune: {enabled: true}`` the build writes
``intune/<policy id>.json`` (``-1``, ``-2``... beyond 150 rules): a Graph
``deviceManagement/configurationPolicies`` body for the "Windows Firewall Rules"
template. ``Deploy-CmfwIntune.ps1`` and ``intune/cmfw-intune-plan.json`` deploy them.
Nothing is written when no policy asks for Intune.

What the Firewall CSP cannot carry is refused before anything is rendered
(``check_policy``), or left out and reported with ``unsupported: omit``; the fact
``intune`` tells the report, per policy, the documents, rule counts and what was left
out. :mod:`.settings` holds every ID with its evidence, :mod:`.translate` the mapping,
:mod:`.read` the way back, :mod:`.deploy` the script and plan, :mod:`.check` the checks.
"""

from __future__ import annotations

from typing import Any

from ..errors import Problem
from ..formats import Artifacts, Context, Emitted, Emitter, Unexpressible, Validator
from ..model import Policy, Rule
from ..syntax.jsonlayout import dumps
from .deploy import SCRIPT, plan_document, render_script
from .translate import PLAN, ROOT, Plane, display_name, limits, plane

__all__ = ["EMITTER", "ROOT", "SCRIPT", "PLAN", "planes", "summary"]


def planes(ctx: Context) -> list[Plane]:
    """The Intune plane of every policy that asks for one, in policy order."""
    ps = ctx.policyset
    return [plane(p, ps.domain, ps.owner) for p in ps.policies if p.intune.enabled]


def summary(found: list[Plane]) -> dict[str, dict[str, Any]]:
    """The fact ``intune``: policy key → documents, rule counts, what was left out and why
    (plain data, for formats that may not import this one, such as the report)."""
    return {
        p.policy.key: {
            "name": p.policy.intune.name or p.policy.name,
            "unsupported": p.policy.intune.unsupported,
            "groups": list(p.policy.intune.groups),
            "rules": p.rules,
            "documents": [{"path": d.path, "name": d.name, "rules": len(d.rules)} for d in p.documents],
            "left_out": [
                {"rule": r.id, "name": display_name(r.name), "feature": r.feature, "reason": why} for r, why in p.left_out
            ],
            "translated": [{"rule": r.id, "note": note} for r, note in p.translated],
            "settings_left_out": len(p.policy.profile_settings),
        }
        for p in found
    }


def unexpressible(policy: Policy) -> list[Unexpressible]:
    """What stops the build for this policy's Intune output (the emitter's ``check_policy``)."""
    if not policy.intune.enabled:
        return []
    if policy.intune.technologies != "mdm":
        return [Unexpressible(
            f"policy {policy.key}: `technologies: {policy.intune.technologies}` (the ConfigMgr tenant-attach "
            "firewall rules template) is not written: no real policy of it has been published to check the "
            "template's setting and template IDs against (docs/intune.md); use `technologies: mdm`",
            path=("intune", "technologies"),
        )]
    if policy.intune.unsupported == "omit":
        return []
    return [
        Unexpressible(
            f"Intune, policy {policy.key}: rule {rule.id} of {_feature(rule)} cannot be carried: {reason}; "
            "set `intune: {unsupported: omit}` to leave it out (lint reports it)",
            rule.id,
        )
        for rule, reason in limits(policy)
    ]


def _feature(rule: Rule) -> str:
    if rule.feature == "custom":
        return "the custom rules"
    return f"feature {rule.feature}" if rule.feature else "the policy"


def _emit(ctx: Context) -> Emitted:
    found = planes(ctx)
    if not found:
        return Emitted({}, {"intune": {}})
    files = {d.path: dumps(d.body) for p in found for d in p.documents}
    files[PLAN] = dumps(plan_document(ctx.policyset, found))
    files[SCRIPT] = render_script(ctx.policyset)
    return Emitted(files, {"intune": summary(found)})


def _check_documents(artifacts: Artifacts) -> list[Problem]:
    """Every intune/*.json document against the schema and cmfw's own form; the plan against them."""
    from .check import document_problems, plan_problems

    problems: list[Problem] = []
    for path, data in sorted(artifacts.files.items()):
        if path.startswith(ROOT + "/") and path != PLAN:
            problems.extend(document_problems(path, data))
    if artifacts.thorough and any(path.startswith(ROOT + "/") or path == SCRIPT for path in artifacts.files):
        # Fresh, the plan is made from the very documents; from disk, it must still agree.
        problems.extend(plan_problems(artifacts.files))
    return problems


def _check_script(artifacts: Artifacts) -> list[Problem]:
    from .deploy import check_script

    return check_script(artifacts.files)


EMITTER = Emitter(
    name="intune",
    owns=(ROOT + "/", SCRIPT),
    emit=_emit,
    provides=("intune",),
    check_policy=unexpressible,
    validators=(
        Validator(
            "Intune: every intune/*.json against schemas/intune/firewall-rules-policy.schema.json, as a POST body "
            "(no read-only property, unique rule names, template references on the first rule only, the marker "
            "naming its own document); the plan listing exactly the documents, their markers and the IDs they use",
            _check_documents,
        ),
        Validator(
            "Deploy-CmfwIntune.ps1 parses with tree-sitter-powershell, with no error node, and calls only the "
            "commands of its allow-list, by name",
            _check_script,
        ),
    ),
)
