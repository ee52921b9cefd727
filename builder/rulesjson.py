"""``rules.json``: the resolved rules of every policy, as stable JSON.

It is the machine-readable artifact that ``diff``, reports and scripts build on;
the format is documented in ``docs/rules-json.md`` and checked by
``schemas/rules.schema.json``. Keys come in a fixed, documented order; rules are
sorted by ID and policies by key, so the bytes only change when the rules do.
"""

from __future__ import annotations

import json
from typing import Any

from .syntax.jsonlayout import dumps
from .model import DscOptions, FeatureChoice, GpoLink, Policy, PolicySet, ProfileSetting, rule_from_dict, rule_to_dict

PATH = "rules.json"
FORMAT = "cmfw-rules/1"


def policyset_to_dict(policyset: PolicySet) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "domain": policyset.domain,
        "catalog_version": policyset.catalog_version,
        "policies": [_policy(p) for p in policyset.policies],
    }


def _policy(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "key": policy.key,
        "gpo_guid": policy.gpo_guid,
        "description": policy.description,
        "features": [
            {"id": f.id, "variant": f.variant, "implied_by": f.implied_by} for f in policy.features
        ],
        "dsc": {
            "nodes": list(policy.dsc.nodes),
            "resource": policy.dsc.resource,
            "networkingdsc_version": policy.dsc.networkingdsc_version,
            "gpregistrypolicydsc_version": policy.dsc.gpregistrypolicydsc_version,
        },
        "links": [link_to_dict(link) for link in policy.links],
        "profile_settings": [
            {"profile": ps.profile, "name": ps.name, "value": ps.value} for ps in policy.profile_settings
        ],
        "rules": [rule_to_dict(r) for r in policy.rules],
    }


def link_to_dict(link: GpoLink) -> dict[str, Any]:
    return {"target": link.target, "order": link.order, "enforced": link.enforced, "enabled": link.enabled}


def emit(policyset: PolicySet) -> dict[str, bytes]:
    return {PATH: dumps(policyset_to_dict(policyset))}


def read(data: bytes) -> PolicySet:
    """Parse ``rules.json`` back into a :class:`PolicySet`; ``ValueError`` when malformed."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    try:
        policies = tuple(
            Policy(
                name=p["name"],
                key=p["key"],
                gpo_guid=p["gpo_guid"],
                description=p.get("description", ""),
                features=tuple(FeatureChoice(f["id"], f["variant"], f.get("implied_by")) for f in p["features"]),
                rules=tuple(rule_from_dict(r) for r in p["rules"]),
                dsc=_dsc(p["dsc"]) if "dsc" in p else DscOptions(),
                links=tuple(GpoLink(x["target"], x["order"], x["enforced"], x["enabled"]) for x in p.get("links", [])),
                profile_settings=tuple(
                    ProfileSetting(ps["profile"], ps["name"], ps["value"]) for ps in p.get("profile_settings", [])
                ),
            )
            for p in doc["policies"]
        )
        return PolicySet(doc["domain"], policies, doc.get("catalog_version", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed rules.json: {exc}") from None


def _dsc(data: dict[str, Any]) -> DscOptions:
    return DscOptions(
        nodes=tuple(data["nodes"]),
        resource=data["resource"],
        networkingdsc_version=data["networkingdsc_version"],
        gpregistrypolicydsc_version=data["gpregistrypolicydsc_version"],
    )
