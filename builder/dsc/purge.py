"""The purge step of a DSC configuration: what the policy no longer has leaves the node.

A GPO import replaces the whole policy; DSC only adds what it is given. So each
configuration carries one PSDesiredStateConfiguration ``Script`` resource that, on
every consistency run, finds what this policy wrote before and no longer has:

* ``firewall`` mode: local-store rules named ``CMFW-<policy id>-*`` that are not in
  the current build (the prefix is unique: policy ids are letters and digits), and
  Windows' own rules the policy managed under their predefined IDs (recorded on the
  node under ``HKLM:\\SOFTWARE\\cmfw\\DSC\\Firewall``) that it no longer manages,
  which are disabled and given back Windows' default profiles and scope;
* ``registry-policy`` mode: the same names among the ``FirewallRules`` values of the
  local ``Machine\\Registry.pol``, removed with GPRegistryPolicyDsc's own parser and
  from the applied policy key, then a policy refresh is requested.

The node keeps the list, so removal works whichever builds were applied before; no
old build is needed. The scripts come from templates whose every value is a
PowerShell single-quoted literal; the build checks them with tree-sitter.
"""

from __future__ import annotations

import functools
from typing import Any

from ..identifiers import policy_prefix
from ..model import PROFILES, Policy
from ..registry.policyfile import RULES_KEY
from ..syntax.powershell import render

STATE_KEY = "HKLM:\\SOFTWARE\\cmfw\\DSC"
#: The variables the purge scripts use: nothing else may appear in them (dsc/check.py).
VARIABLES = (
    "$policy", "$prefix", "$keep", "$managed", "$defaults", "$state", "$before", "$stale", "$released", "$recorded",
    "$name", "$id", "$default", "$key", "$pol", "$module", "$entries", "$entry", "$_", "$env:systemroot",
)
PARTS = ("GetScript", "TestScript", "SetScript")


def scripts(policy: Policy) -> tuple[tuple[str, str], ...]:
    """(property, script) for the Script resource's GetScript, TestScript and SetScript."""
    context: dict[str, Any]
    if policy.dsc.resource == "registry-policy":
        context = {
            "policy": policy.key,
            "prefix": policy_prefix(policy.key),
            "keep": [r.id for r in policy.rules],
            "state": STATE_KEY + "\\RegistryPolicy",
            "key": RULES_KEY,
            "version": policy.dsc.gpregistrypolicydsc_version,
        }
        template = "purge-registry.ps1.j2"
    else:
        prefix = policy_prefix(policy.key)
        context = {
            "policy": policy.key,
            "prefix": prefix,
            "keep": [r.id for r in policy.rules if r.id.startswith(prefix)],
            "managed": [r.id for r in policy.rules if not r.id.startswith(prefix)],
            "defaults": windows_defaults(),
            "state": STATE_KEY + "\\Firewall",
        }
        template = "purge-firewall.ps1.j2"
    return tuple(
        (name, render(template, part=part, **context).strip() + "\n") for name, part in zip(PARTS, ("get", "test", "set"))
    )


@functools.cache
def windows_defaults() -> tuple[tuple[str, str, str], ...]:
    """(rule ID, profiles, scope) of every Windows predefined rule the catalog can manage,
    as Windows ships them (``Set-NetFirewallRule`` spelling)."""
    from ..catalog import load_catalog

    found: dict[str, tuple[str, str]] = {}
    for feature in load_catalog().features.values():
        for variant in feature.variants.values():
            for template in variant.rules:
                if template.predefined is None:
                    continue
                for rule in template.predefined.windows_rules:
                    profiles = "Any" if set(rule.profiles) == set(PROFILES) else ", ".join(rule.profiles)
                    found[rule.id] = (profiles, ", ".join(rule.remote_addresses) or "Any")
    return tuple((rule_id, *found[rule_id]) for rule_id in sorted(found))
