"""The human report of a build: ``report.html`` (one self-contained page) and ``report.md``.

An admin reviewing a change should see rules, not registry strings: the feature
matrix as a grid, each policy's rules in a sortable table with the feature and the
documentation section that requires each one, the lint findings, and the build's
identity (version, matrix hash, GPO GUIDs, backup IDs). Policies written for Intune too
show their Intune documents, rule counts and the rules left out, with the reason (the
fact ``intune`` of the Intune format; the report imports no other format).

``report.html`` has no external asset of any kind (a Content-Security-Policy forbids
loading anything); its one script sorts tables. Every value goes through the HTML
escaper of the template environment. ``report.md`` is a short summary for a pull
request comment, every value Markdown-escaped (:mod:`builder.markdown`).
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from markupsafe import Markup, escape

from . import __version__
from .syntax import markdown as md
from .catalog import Catalog
from .errors import ArtifactError, Problem
from .formats import LINT, Artifacts, Backups, Context, Emitted, Emitter, Validator
from .lint import Finding, LintReport
from .identifiers import gpo_marker
from .syntax.numbers import digits
from .model import Policy, PolicySet, Rule, profile_rank
from .scenarios import Check, by_policy, summary
from .profilesettings import describe
from .syntax.plaintext import plural

HTML = "report.html"
MARKDOWN = "report.md"


@dataclass(frozen=True)
class Identity:
    """What a report says about the build it belongs to."""

    matrix_path: str
    matrix_sha256: str
    catalog_version: str
    moment: datetime
    backup_ids: dict[str, str]
    #: The matrix's address sets, so the report can say ``consoles`` rather than a list.
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def emit(
    policyset: PolicySet,
    findings: LintReport,
    catalog: Catalog,
    identity: Identity,
    scenarios: Mapping[str, list[Check]] | None = None,
    intune: Mapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """Both files of the report, made in one go (a build makes the sections in parts)."""
    sections = _sections(policyset, findings, catalog, identity, scenarios or {}, intune or {})
    return _page(policyset, findings, catalog, identity, intune or {}, sections)


#: The fact each part publishes for ``finish``: its policies' sections of report.html.
_PART = "report-sections"


@dataclass(frozen=True)
class Section:
    """One policy's part of the report: its HTML section, and what the page and report.md
    say of it elsewhere."""

    key: str
    html: bytes  # UTF-8, as in the page: half the memory of the text on its way to the page
    scenarios_ok: int
    scenarios: int


def _identity(ctx: Context) -> Identity:
    if ctx.matrix is None or ctx.catalog is None or ctx.lint is None:
        raise ArtifactError("the report needs the matrix, the catalog and the lint report")
    backups = ctx.fact("backups", Backups)
    return Identity(
        ctx.matrix_path, ctx.matrix.sha256, ctx.policyset.catalog_version, ctx.moment, dict(backups.ids), dict(ctx.matrix.addresses)
    )


def _intune_fact(ctx: Context) -> Mapping[str, Any]:
    intune = ctx.facts.get("intune")
    return intune if isinstance(intune, Mapping) else {}


def _emit(ctx: Context) -> Emitted:
    """A part: the sections of its policies, with what cmfw's firewall model decides for
    each scenario of their features (the costly half of the report, made in workers)."""
    identity = _identity(ctx)
    assert ctx.matrix is not None and ctx.catalog is not None and ctx.lint is not None
    checks = by_policy(ctx.matrix, ctx.catalog, {p.key: p for p in ctx.policyset.policies})
    return Emitted({}, {_PART: _sections(ctx.policyset, ctx.lint, ctx.catalog, identity, checks, _intune_fact(ctx))})


def _finish(ctx: Context, parts: Sequence[Mapping[str, Any]]) -> Emitted:
    """The page around the parts' sections, and report.md."""
    identity = _identity(ctx)
    assert ctx.lint is not None and ctx.catalog is not None
    sections = [section for part in parts for section in part[_PART]]
    return Emitted(_page(ctx.policyset, ctx.lint, ctx.catalog, identity, _intune_fact(ctx), sections))


def _sections(
    policyset: PolicySet,
    findings: LintReport,
    catalog: Catalog,
    identity: Identity,
    scenarios: Mapping[str, list[Check]],
    intune: Mapping[str, Any],
) -> list[Section]:
    by_policy = _by_policy(findings)
    out = []
    for p in policyset.policies:
        view = dict(
            _policy(p, catalog, identity, by_policy.get(p.name, []), scenarios.get(p.key, []), policyset),
            intune=_intune(intune.get(p.key), catalog),
        )
        html = _html("policy.html.j2", {"p": view}).encode("utf-8")
        out.append(Section(p.key, html, view["scenarios_ok"], len(view["scenarios"])))
    return out


def _page(
    policyset: PolicySet,
    findings: LintReport,
    catalog: Catalog,
    identity: Identity,
    intune: Mapping[str, Any],
    sections: Sequence[Section],
) -> dict[str, bytes]:
    if [s.key for s in sections] != [p.key for p in policyset.policies]:
        raise ArtifactError("the report's sections are not those of the policies, in their order")
    view = _view(policyset, findings, catalog, identity, intune, sections)
    # The page is rendered around one placeholder, where the sections' bytes then go: an
    # element no escaped value can spell (it would need a raw "<").
    head, *tail = _html("report.html.j2", view).split(_SECTIONS)
    if len(tail) != 1:
        raise ArtifactError("report.html.j2 must show the sections exactly once")
    page = b"".join([head.encode("utf-8"), *(section.html for section in sections), tail[0].encode("utf-8")])
    return {HTML: page, MARKDOWN: _markdown(view).encode("utf-8")}


_SECTIONS = "<cmfw-sections></cmfw-sections>"


def _by_policy(findings: LintReport) -> dict[str, list[Finding]]:
    """Lint findings by the name of the policy they are about."""
    out: dict[str, list[Finding]] = {}
    for finding in findings.findings:
        out.setdefault(finding.policy, []).append(finding)
    return out


# -- the view: plain data, no formatting decisions about HTML or Markdown -----------------------


def _view(
    policyset: PolicySet,
    findings: LintReport,
    catalog: Catalog,
    identity: Identity,
    intune: Mapping[str, Any],
    sections: Sequence[Section],
) -> dict[str, Any]:
    """The page around the sections: what the header, the grid, the lint table and
    report.md show of each policy (a few counts), and the sections as they are."""
    used = {c.id for p in policyset.policies for c in p.features}
    features = [f for fid, f in catalog.features.items() if fid in used]
    by_policy = _by_policy(findings)
    return {
        "version": __version__,
        "domain": policyset.domain,
        "identity": identity,
        "moment": identity.moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "rules": sum(len(p.rules) for p in policyset.policies),
        "policies": [
            {
                "name": p.name,
                "key": p.key,
                "gpo_guid": p.gpo_guid,
                "rules": p.rules,
                "inbound": sum(r.direction == "In" for r in p.rules),
                "outbound": sum(r.direction == "Out" for r in p.rules),
                "open": sum(f.counts for f in by_policy.get(p.name, [])),
                "acknowledged": sum(not f.counts for f in by_policy.get(p.name, [])),
                "scenarios_ok": section.scenarios_ok,
                "scenarios": section.scenarios,
                "intune": _intune(intune.get(p.key), catalog),
            }
            for p, section in zip(policyset.policies, sections)
        ],
        # Where the sections go (see _page): markup, not a value to escape.
        "sections": [Markup(_SECTIONS)],
        "intune": _intune_total(intune),
        "features": [
            {
                "id": f.id,
                "title": f.title,
                "cells": [_cell(p, f.id, catalog, identity.addresses) for p in policyset.policies],
            }
            for f in features
        ],
        "findings": [_finding(f, identity.matrix_path) for f in findings.findings],
        "open": len(findings.open),
        "acknowledged": len(findings.acknowledged),
        "errors": len(findings.errors),
        "sources": catalog.sources,
    }


def _intune(plane: Any, catalog: Catalog) -> dict[str, Any] | None:
    """One policy's Intune plane for the templates (``None``: the policy has none)."""
    if not isinstance(plane, Mapping):
        return None
    features = catalog.features
    return {
        "name": plane["name"],
        "rules": plane["rules"],
        "unsupported": plane["unsupported"],
        "groups": ", ".join(plane["groups"]) or "none (assign in Intune)",
        "documents": [dict(d) for d in plane["documents"]],
        "left_out": [
            dict(item, feature=features[item["feature"]].title if item["feature"] in features else (
                "custom rule" if item["feature"] in ("custom", "") else item["feature"]))
            for item in plane["left_out"]
        ],
        "translated": [dict(item) for item in plane["translated"]],
        "settings_left_out": plane["settings_left_out"],
    }


def _intune_total(intune: Mapping[str, Any]) -> dict[str, int] | None:
    if not intune:
        return None
    planes = [p for p in intune.values() if isinstance(p, Mapping)]
    return {
        "policies": len(planes),
        "documents": sum(len(p["documents"]) for p in planes),
        "rules": sum(p["rules"] for p in planes),
        "left_out": sum(len(p["left_out"]) for p in planes),
    }


def _cell(policy: Policy, feature: str, catalog: Catalog, addresses: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """A grid cell: the variant when it is not the feature's default, how it came in,
    and what it opens: inbound ports and who may connect."""
    choice = next((c for c in policy.features if c.id == feature), None)
    if choice is None:
        return {"mark": "", "note": "", "opens": ""}
    default = catalog.features[feature].default_variant if feature in catalog.features else "default"
    note = choice.variant if choice.variant not in ("default", default) else ""
    if choice.implied_by:
        note = f"via {choice.implied_by}" + (f", {note}" if note else "")
    rules = [r for r in policy.rules if r.feature == feature]
    inbound = [r for r in rules if r.direction == "In"]
    ports = sorted({p for r in inbound for p in (r.local_ports or (["ICMP"] if r.icmp_types else ["any port"]))}, key=_natural_key)
    scopes = sorted({part["label"] for r in inbound for part in scope_parts(r.remote_addresses, addresses)})
    opens = ""
    if inbound:
        shown_ports = ", ".join(ports[:3]) + (f" +{len(ports) - 3}" if len(ports) > 3 else "")
        opens = f"in {shown_ports or 'any'} from {', '.join(scopes)}"
    elif rules:
        opens = "outbound only"
    return {"mark": "✓", "note": note, "opens": opens}


def _natural_key(text: str) -> tuple[Any, ...]:
    return tuple((0, int(x), "") if digits(x) else (1, 0, x) for x in re.split(r"(\d+)", text) if x)


def scope_parts(entries: tuple[str, ...], addresses: Mapping[str, tuple[str, ...]]) -> list[dict[str, str]]:
    """A rule's remote scope in the matrix's own words: the address sets whose entries it
    is made of (each with its addresses, for a tooltip), then anything left as written."""
    if not entries:
        return [{"label": "any", "title": "any remote address"}]
    sets = sorted(((name, tuple(values)) for name, values in addresses.items() if values), key=lambda item: (-len(item[1]), item[0]))
    out: list[dict[str, str]] = []
    rest = list(entries)
    while rest:
        for name, values in sets:
            if tuple(rest[: len(values)]) == values:
                out.append({"label": name, "title": ", ".join(values)})
                rest = rest[len(values):]
                break
        else:
            out.append({"label": rest.pop(0), "title": ""})
    return out


def _policy(
    policy: Policy, catalog: Catalog, identity: Identity, findings: list[Finding], checks: list[Check], policyset: PolicySet
) -> dict[str, Any]:
    scenarios = [_scenario(c, catalog) for c in checks]
    return {
        "scenarios": scenarios,
        "scenarios_ok": sum(c.ok for c in checks),
        "name": policy.name,
        "key": policy.key,
        "description": policy.description,
        "gpo_guid": policy.gpo_guid,
        "marker": gpo_marker(policyset.domain, policyset.owner, policy.key),
        "backup_id": identity.backup_ids.get(policy.key, ""),
        "inbound": sum(r.direction == "In" for r in policy.rules),
        "outbound": sum(r.direction == "Out" for r in policy.rules),
        "rules": [_rule(r, catalog, identity.addresses) for r in policy.rules],
        "documents": _documents(policy, catalog),
        "settings": [
            {"profile": s.profile or "Global", "name": s.name, "value": str(s.value), "text": describe(s)}
            for s in sorted(policy.profile_settings, key=lambda s: (profile_rank(s.profile), s.name))
        ],
        "links": [
            {
                "target": link.target,
                "options": ", ".join(
                    ["enabled" if link.enabled else "disabled"]
                    + (["enforced"] if link.enforced else [])
                    + ([f"order {link.order}"] if link.order is not None else [])
                ),
            }
            for link in policy.links
        ],
        "nodes": ", ".join(policy.dsc.nodes),
        "dsc": policy.dsc.resource,
        "open": sum(f.counts for f in findings),
        "acknowledged": sum(not f.counts for f in findings),
    }


def _rule(rule: Rule, catalog: Catalog, addresses: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    doc, _, section = rule.source.partition(": ")
    source = catalog.sources.get(doc)
    feature = catalog.features.get(rule.feature)
    ports_local = ",".join(rule.local_ports) or ("any" if rule.protocol in (6, 17) else "")
    ports_remote = ",".join(rule.remote_ports) or ("any" if rule.protocol in (6, 17) else "")
    if rule.icmp_types:
        ports_local = "ICMP " + ",".join(rule.icmp_types)
    return {
        "id": rule.id,
        "name": rule.name,
        "direction": rule.direction,
        "action": rule.action,
        "protocol": rule.protocol_name,
        "local": ports_local,
        "remote": ports_remote,
        "scope": ", ".join(rule.remote_addresses) or "any",
        "scope_parts": scope_parts(rule.remote_addresses, addresses or {}),
        "profiles": ", ".join(rule.profiles) if len(rule.profiles) < 3 else "all",
        "program": " / ".join(x for x in (rule.program, rule.service) if x),
        "feature": feature.title if feature else ("custom rule" if rule.feature == "custom" else rule.feature),
        "feature_id": rule.feature,
        "source": f"{source.title} — {section}" if source else rule.source,
        "source_short": f"{doc}: {section}" if source else rule.source,
        "source_title": f"{source.title}" + (f" ({source.url})" if source.url else "") if source else "",
        "enabled": "yes" if rule.enabled else "no",
    }


def _documents(policy: Policy, catalog: Catalog) -> list[dict[str, str]]:
    """The documents the policy's rules cite, each once, with its full title and address."""
    seen: dict[str, dict[str, str]] = {}
    for rule in policy.rules:
        doc = rule.source.partition(": ")[0]
        source = catalog.sources.get(doc)
        if source is not None and doc not in seen:
            seen[doc] = {"id": doc, "title": source.title, "url": source.url}
    return [seen[k] for k in sorted(seen)]


def _scenario(check: Check, catalog: Catalog) -> dict[str, str]:
    source = catalog.sources.get(check.scenario.source.doc)
    if not check.expect_allowed:
        outcome = f"not allowed, by design: {check.limit}"
    else:
        outcome = summary(check)
    feature = catalog.features[check.feature]
    return {
        "feature": feature.title + (f" ({check.variant})" if check.variant != "default" else ""),
        "name": check.scenario.name,
        "connection": check.connection.describe(),
        "outcome": outcome if check.ok else f"NOT AS EXPECTED: {summary(check)}",
        "status": "unexpected" if not check.ok else ("limit" if not check.expect_allowed else "ok"),
        "source": f"{source.title} — {check.scenario.source.section}" if source else str(check.scenario.source),
    }


def _finding(f: Finding, matrix_path: str) -> dict[str, str]:
    # The matrix as the build records it (relative to the build), so that the report
    # does not depend on the directory the build was started from.
    return {
        "code": f.code,
        "name": f.check.name,
        "severity": f.severity,
        "policy": f.policy or "(all policies)",
        "rule": f.rule,
        "message": f.message,
        "hint": f.hint,
        "where": f"{matrix_path}:{f.line}" if f.line else matrix_path,
        "status": "open" if f.counts else "acknowledged",
        "reason": f.acknowledged or "",
    }


# -- HTML -----------------------------------------------------------------------------------------


def _html(template: str, view: dict[str, Any]) -> str:
    from .syntax.templating import render

    return render("report", _literal, template, **view)


def _literal(value: Any) -> str:
    """Every value the HTML templates print, HTML-escaped (markup made by them passes)."""
    if value is None:
        raise TypeError("None reached the report template")
    return str(escape(value))


# -- Markdown -------------------------------------------------------------------------------------


def _markdown(view: dict[str, Any]) -> str:
    identity: Identity = view["identity"]
    lines = [
        f"### Windows Firewall policy for {md.text(view['domain'])}",
        "",
        f"{plural(len(view['policies']), 'policy', 'policies')}, {plural(view['rules'], 'rule')} · "
        f"matrix {md.code(identity.matrix_path)} (SHA-256 {md.code(identity.matrix_sha256[:12])}) · "
        f"catalog {md.text(identity.catalog_version)} · cmfw {md.text(view['version'])}",
        "",
    ]
    rows = [
        [
            md.text(p["name"]),
            md.code(p["gpo_guid"]),
            str(len(p["rules"])),
            str(p["inbound"]),
            str(p["outbound"]),
            md.text(f"{p['open']} open, {p['acknowledged']} acknowledged"),
            md.text(f"{p['scenarios_ok']} of {p['scenarios']} as expected"),
        ] + ([_intune_cell(p["intune"])] if view["intune"] is not None else [])
        for p in view["policies"]
    ]
    headers = ["Policy", "GPO GUID in the backup", "Rules", "In", "Out", "Lint", "Scenarios"]
    lines += md.table(headers + (["Intune (rules)"] if view["intune"] is not None else []), rows)
    lines += ["", "The GPO GUIDs are cmfw's, inside the backups; Active Directory gives each imported GPO its own. "
              "The deploy scripts find a policy's GPO by the marker in its comment.", ""]
    lines += _markdown_intune(view)
    opened = [f for f in view["findings"] if f["status"] == "open"]
    if opened:
        serious = [f for f in opened if f["severity"] != "note"]
        notes = len(opened) - len(serious)
        head = plural(len(serious), "open finding") if serious else "no open warnings or errors"
        lines.append(f"**Lint: {head}" + (f"; {plural(notes, 'note')}" if notes else "") + "**")
        lines.append("")
        lines += [
            f"- {md.text(f['severity'])} {md.code(f['code'])} {md.text(f['policy'])}"
            + (f", {md.code(f['rule'])}" if f["rule"] else "")
            + f": {md.text(f['message'])} (fix: {md.text(f['hint'])})"
            for f in opened
        ]
    else:
        lines.append("**Lint: no open findings.**")
    acknowledged = [f for f in view["findings"] if f["status"] == "acknowledged"]
    if acknowledged:
        lines += ["", f"<details><summary>{len(acknowledged)} acknowledged findings</summary>", ""]
        lines += [
            f"- {md.code(f['code'])} {md.text(f['policy'])}" + (f", {md.code(f['rule'])}" if f["rule"] else "")
            + f": {md.text(f['message'])}. Acknowledged: {md.text(f['reason'])}"
            for f in acknowledged
        ]
        lines += ["", "</details>"]
    lines += ["", "Full report: `report.html` in the build. Rule-level changes: `cmfw diff --format markdown OLD NEW`.", ""]
    return "\n".join(lines)


def _markdown_intune(view: dict[str, Any]) -> list[str]:
    """The Intune plane's total (each policy's documents and counts are a column of the
    policy table; each rule left out is a CMFW113 lint finding below, with its reason)."""
    total = view["intune"]
    if total is None:
        return []
    left = total["left_out"]
    return [
        f"**Intune: {plural(total['documents'], 'firewall rule policy', 'firewall rule policies')}, "
        f"{plural(total['rules'], 'rule')}; {plural(left, 'rule')} left out"
        + (" (lint CMFW113 below, each with its reason)" if left else "")
        + "; profile settings are not part of a firewall rule policy.**",
        "",
    ]


def _intune_cell(plane: dict[str, Any] | None) -> str:
    if plane is None:
        return "not written"
    documents = "<br>".join(f"{md.code(d['path'])} ({d['rules']})" for d in plane["documents"]) or "no document"
    return f"{documents}, {len(plane['left_out'])} left out"


# -- validation -----------------------------------------------------------------------------------


def _check(artifacts: Artifacts) -> list[Problem]:
    """The report parses as HTML and can load nothing: no external source, link or style.

    A clean page is known by one pass of the HTML parser that builds no tree (a tree of a
    thousand policies' page takes 400 MB); a page with anything to say is parsed again
    into a tree, for the lines of its problems.
    """
    data = artifacts.files.get(HTML)
    if data is None:
        return []
    if _clean(data):
        return []
    return _problems(HTML, data)


def _clean(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 HTML with the CSP and nothing that refers out, by the same
    parser as :func:`_problems` (libxml2's), told each element without keeping it."""
    import codecs

    from lxml import etree

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), 1 << 20):
            decoder.decode(data[start : start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    scan = _Scan()
    try:
        etree.fromstring(data, etree.HTMLParser(target=scan, encoding="utf-8"))
    except (etree.LxmlError, ValueError):
        return False
    return scan.elements > 0 and scan.csp and not scan.refers


class _Scan:
    """A parser target that notes the CSP and anything that could load or refer out."""

    def __init__(self) -> None:
        self.elements, self.csp, self.refers = 0, False, False
        self.policies = 0  # Content-Security-Policy meta elements: the first one counts

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        self.elements += 1
        if tag in _LOADING:
            self.refers = True
        elif attrib:
            if tag == "meta" and attrib.get("http-equiv") == "Content-Security-Policy":
                self.policies += 1
                if self.policies == 1:
                    self.csp = attrib.get("content", "").startswith("default-src 'none'")
            for name in _REFERRING:
                value = attrib.get(name)
                if value is not None and not (name == "href" and value.startswith("#")) and not value.startswith("data:"):
                    self.refers = True

    def close(self) -> None:
        return None


def _problems(path: str, data: bytes) -> list[Problem]:
    from lxml import etree, html

    try:
        root = html.document_fromstring(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, etree.LxmlError) as exc:  # an empty file: ParserError
        return [Problem(path, message=f"not an HTML document: {exc}")]
    problems = []
    policy = root.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')
    if not policy or not str(policy[0]).startswith("default-src 'none'"):
        problems.append(Problem(path, message="has no Content-Security-Policy forbidding external loads"))
    # Attributes that could refer out, found by one XPath over the attribute axis (a
    # predicate on every element costs seconds for a page of a thousand policies).
    for value in root.xpath(_MAY_REFER_OUT):
        element, attribute = value.getparent(), value.attrname
        if not (attribute == "href" and value.startswith("#")) and not value.startswith("data:"):
            problems.append(Problem(path, element.sourceline or 0, 0, "", f"<{element.tag} {attribute}={str(value)!r}> refers outside the page"))
    for element in root.iter(*_LOADING):
        problems.append(Problem(path, element.sourceline or 0, 0, "", f"<{element.tag}> would load something"))
    return problems


_REFERRING = ("src", "href", "action", "srcset", "data", "formaction", "background")
_MAY_REFER_OUT = "//@*[" + " or ".join(f"local-name()='{name}'" for name in _REFERRING) + "]"
_LOADING = ("link", "iframe", "object", "embed", "base")


EMITTER = Emitter(
    name="report",
    owns=(HTML, MARKDOWN),
    emit=_emit,
    per_policy=True,
    finish=_finish,
    requires=("backups", LINT),
    validators=(
        Validator(
            "report.html parses as HTML, has a Content-Security-Policy forbidding loads, and refers to nothing outside itself",
            _check,
            whole=True,
        ),
    ),
)
