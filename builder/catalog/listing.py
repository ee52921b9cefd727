"""The catalog as users see it: ``cmfw features`` (table, detail view, JSON).

Ports are shown with their defaults substituted (and the parameter that changes
them named), so ``remote-control`` reads "In TCP 2701" rather than a template.
"""

from __future__ import annotations

import re

from typing import Any

from .types import Catalog, Feature, RuleTemplate, Scenario
from ..errors import InputError, Problem
from ..jsonschemas import suggest
from ..model import protocol_name
from ..syntax.plaintext import table
from ..syntax.numbers import digits

FORMAT = "cmfw-features/1"


def check_names(catalog: Catalog, names: tuple[str, ...] | list[str]) -> None:
    """Refuse feature names the catalog does not have, suggesting the closest by
    spelling, else the features a search for the word finds (``wol`` → wake-up-proxy)."""
    problems = []
    for name in names:
        if name in catalog.features:
            continue
        hint = suggest(name, catalog.features)
        if not hint:
            found = search(catalog, name)
            hint = f"; did you mean {' or '.join(repr(f) for f in found[:3])}?" if found else "; see `cmfw features`"
        problems.append(Problem("cmfw features", message=f"unknown feature {name!r}{hint}"))
    if problems:
        raise InputError(problems)


def search(catalog: Catalog, term: str) -> list[str]:
    """Features a word or a port points at: in the id, title, summary or rule names, as
    an acronym of the title or summary's words (``wol``: Wake On LAN), or as a port
    of any variant's rules (``445``, ``RPC``). Best matches first."""
    word = term.strip().casefold()
    if not word:
        return []
    scored: list[tuple[int, str]] = []
    for feature in catalog.features.values():
        score = 0
        if word in feature.id.casefold():
            score += 8
        if word in feature.title.casefold():
            score += 6
        if word in _acronyms(feature.title) or word in _acronyms(feature.summary):
            score += 5
        if word in feature.summary.casefold():
            score += 3
        rules = [t for v in feature.variants.values() for t in v.rules]
        if any(word in t.name.casefold() or word in t.description.casefold() for t in rules):
            score += 2
        if any(_port_matches(catalog, t, word) for t in rules):
            score += 7
        if score:
            scored.append((-score, feature.id))
    return [name for _, name in sorted(scored)]


def _acronyms(text: str) -> set[str]:
    """Initials of every run of two to four consecutive words: "Wake On LAN" → wol."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    initials = [w[0].casefold() for w in words]
    return {"".join(initials[i : i + n]) for n in (2, 3, 4) for i in range(len(initials) - n + 1)}


def _port_matches(catalog: Catalog, template: RuleTemplate, word: str) -> bool:
    ports = [p.casefold() for p in (catalog.ports(template.local_ports) or ()) + (catalog.ports(template.remote_ports) or ())]
    if word in ports:
        return True
    if digits(word):
        number = int(word)
        for port in ports:
            low, _, high = port.partition("-")
            if digits(low) and (digits(high) or not high) and int(low) <= number <= int(high or low):
                return True
    return False


def template_ports(catalog: Catalog, values: tuple[str, ...]) -> list[str]:
    """Ports of a template with every parameter at its default (unset optionals dropped)."""
    return list(catalog.ports(values) or ())


def template_to_dict(catalog: Catalog, template: RuleTemplate) -> dict[str, Any]:
    program = template.program
    if program and program.startswith("$"):
        program = catalog.parameter_value(program[1:])
    data: dict[str, Any] = {
        "selector": template.selector,
        "direction": template.direction,
        "name": template.name,
        "description": template.description,
        "protocol": protocol_name(template.protocol),
        "local_ports": template_ports(catalog, template.local_ports),
        "remote_ports": template_ports(catalog, template.remote_ports),
        "icmp_types": list(template.icmp_types),
        "program": program,
        "service": template.service,
        "remote": template.remote.describe(),
        "profiles": list(template.profiles) if template.profiles else None,
        "parameters": list(template.parameters),
        "source": {"doc": template.source.doc, "section": template.source.section} if template.source else None,
        "windows": None,
    }
    if template.predefined:
        pre = template.predefined
        data["windows"] = {
            "group": pre.group_title,
            "embed_context": pre.embed_context,
            "display_name": pre.display_name,
            "rule_ids": [w.id for w in pre.windows_rules],
        }
    return data


def feature_to_dict(catalog: Catalog, feature: Feature) -> dict[str, Any]:
    return {
        "id": feature.id,
        "title": feature.title,
        "summary": feature.summary,
        "applies_to": feature.applies_to,
        "source": {"doc": feature.source.doc, "section": feature.source.section},
        "requires": list(feature.requires),
        "notes": [{"source": str(n.source), "text": n.text} for n in feature.notes],
        "deprecated": feature.deprecated or None,
        "scenarios": [scenario_to_dict(s) for s in feature.scenarios],
        "default_variant": feature.default_variant,
        "variants": [
            {
                "name": v.name,
                "default": v.name == feature.default_variant,
                "summary": v.summary,
                "rules": [template_to_dict(catalog, t) for t in v.rules],
            }
            for v in feature.variants.values()
        ],
    }


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "source": {"doc": scenario.source.doc, "section": scenario.source.section},
        "direction": scenario.direction,
        "protocol": protocol_name(scenario.protocol),
        "local_port": scenario.local_port,
        "remote_port": scenario.remote_port,
        "icmp": f"{scenario.icmp[0]}:{scenario.icmp[1]}" if scenario.icmp else None,
        "peer": scenario.peer.describe(),
        "program": scenario.program,
        "service": scenario.service,
        "edge": scenario.edge,
        "profiles": list(scenario.profiles) if scenario.profiles else None,
        "variants": list(scenario.variants) if scenario.variants else None,
        "limits": dict(scenario.limits),
    }


def scenario_text(scenario: Scenario) -> str:
    """``In TCP 2701 from the consoles set``: a scenario's connection in words."""
    parts = [scenario.direction, protocol_name(scenario.protocol)]
    if scenario.icmp:
        parts.append(f"type {scenario.icmp[0]}")
    if scenario.port:
        parts.append(scenario.port)
    parts.append(("from " if scenario.direction == "In" else "to ") + scenario.peer.describe())
    who = scenario.service or scenario.program
    if who:
        parts.append(f"({who})")
    return " ".join(parts)


def catalog_document(catalog: Catalog, only: list[str] | None = None) -> dict[str, Any]:
    """Everything ``cmfw features --format json`` prints (documented in docs/catalog.md)."""
    features = [catalog.features[f] for f in (only or catalog.features)]
    return {
        "format": FORMAT,
        "catalog_version": catalog.version,
        "features": [feature_to_dict(catalog, f) for f in features],
        "parameters": [
            {
                "name": p.name,
                "section": p.section,
                "kind": p.kind,
                "title": p.title,
                "default": p.default,
                "default_from": p.default_from,
                "where": p.where,
            }
            for p in catalog.parameters.values()
        ],
        "roles": [{"name": r.name, "title": r.title} for r in catalog.roles.values()],
        "sources": [
            {"id": s.id, "title": s.title, "url": s.url, "date": s.date, "note": s.note}
            for s in catalog.sources.values()
        ],
    }


def _ports_text(catalog: Catalog, template: RuleTemplate) -> str:
    proto = protocol_name(template.protocol)
    ports = template_ports(catalog, template.local_ports or template.remote_ports)
    if template.icmp_types:
        return f"{proto} {','.join(template.icmp_types)}"
    if ports:
        return f"{proto} {','.join(ports)}"
    return f"{proto} any" if proto != "Any" else "any"


def _natural(text: str) -> tuple[object, ...]:
    import re

    return tuple(int(t) if digits(t) else t for t in re.split(r"(\d+)", text))


def format_features_table(catalog: Catalog, names: list[str] | None = None, width: int | None = None) -> str:
    rows = []
    for feature in (catalog.features[n] for n in names) if names is not None else catalog.features.values():
        rules = feature.variant().rules
        directions = "+".join(d for d in ("In", "Out") if any(t.direction == d for t in rules))
        ports = sorted({_ports_text(catalog, t) for t in rules}, key=_natural)
        shown = "; ".join(ports[:3]) + (f"; +{len(ports) - 3}" if len(ports) > 3 else "")
        rows.append([feature.id, directions, str(len(rules)), shown, str(feature.source)])
    return table(["FEATURE", "DIR", "RULES", "DEFAULT PORTS", "SOURCE"], rows, width=width, keep=(0, 1, 2))


def format_feature(catalog: Catalog, feature: Feature, only_variant: str | None = None) -> str:
    lines = [f"{feature.id}: {feature.title}", ""]
    if feature.summary:
        lines += [feature.summary, ""]
    lines.append(f"applies to: {feature.applies_to}")
    lines.append(f"source:     {feature.source}")
    if feature.requires:
        lines.append(f"requires:   {', '.join(feature.requires)}")
    if feature.deprecated:
        lines.append(f"deprecated: {feature.deprecated}")
    for note in feature.notes:
        lines.append(f"note ({note.source}): {note.text}")
    for variant in feature.variants.values():
        if only_variant is not None and variant.name != only_variant:
            continue
        lines.append("")
        label = "rules" if variant.name == "default" else f"variant {variant.name}" + (
            " (default)" if variant.name == feature.default_variant else ""
        )
        lines.append(f"{label}:" + (f" {variant.summary}" if variant.summary else ""))
        rows = []
        for t in variant.rules:
            scope = ",".join(t.remote.roles or t.remote.addresses) or "any"
            who = t.program if t.program and not t.service else (t.service or "")
            rows.append([t.selector, t.direction, _ports_text(catalog, t), str(scope), str(who or "")])
        lines.append(table(["RULE", "DIR", "PORTS", "REMOTE", "PROGRAM/SERVICE"], rows, indent=2))
    lines += ["", "scenarios (the traffic it needs; `cmfw query --scenarios` decides them for a policy):"]
    for scenario in feature.scenarios:
        only = f" [{', '.join(scenario.variants)} only]" if scenario.variants else ""
        lines.append(f"  - {scenario.name}: {scenario_text(scenario)}{only} ({scenario.source})")
        for limited, why in scenario.limits.items():
            lines.append(f"      not in {limited}: {why}")
    return "\n".join(lines)
