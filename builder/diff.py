"""``cmfw diff``: what changes, rule by rule, between two policies.

Each side is a matrix (built in memory), a cmfw build, a GPO backup root or
folder, a ``registry.pol``, an LGPO text file or a MOF. Both sides are read the
same way, from the firewall artifacts, so a matrix compares with what is already
in a build or in a backup taken from a domain controller. GPOs pair up by the GPO
GUID of their backup, which follows the policy ``id``, so a renamed policy reads
as a rename; those without a partner then pair by display name (a single unnamed
file on each side pairs with the other). Rules pair by ID (without regard to case,
as Windows compares registry value names).

The result is data (:class:`Diff`); :func:`format_diff` and :func:`diff_document`
turn it into text or the documented JSON (``cmfw-diff/1``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .read import GpoContent, kind_of, read_path
from .model import GpoLink, Rule, profile_rank, rule_to_dict
from .package.manifest import MANIFEST
from .syntax.plaintext import plural, shown

FORMAT = "cmfw-diff/1"
MATRIX_SUFFIXES = (".yaml", ".yml")
#: Rule fields a GPO does not carry; a matrix knows them, a backup does not.
_NOT_COMPARED = ("id", "feature", "source")
_EMPTY = ("/dev/null", "nul", "NUL")


@dataclass(frozen=True)
class Change:
    """One field that differs: its name, the value on side A and on side B."""

    field: str
    a: Any
    b: Any


@dataclass(frozen=True)
class RuleChange:
    id: str
    name: str
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class PolicyDiff:
    """How one GPO differs; ``status`` is ``added``, ``removed`` or ``changed``.
    ``renamed_from`` is side A's display name when side B's differs (same GPO GUID)."""

    name: str
    status: str
    added: tuple[Rule, ...] = ()
    removed: tuple[Rule, ...] = ()
    changed: tuple[RuleChange, ...] = ()
    settings: tuple[Change, ...] = ()
    links: tuple[Change, ...] = ()
    renamed_from: str | None = None


@dataclass(frozen=True)
class Side:
    """One side of a diff. ``links`` (GPO name → links) only when the side knows them:
    a matrix or a cmfw build does, a GPO backup does not."""

    path: str
    kind: str
    gpos: tuple[GpoContent, ...]
    links: dict[str, tuple[GpoLink, ...]] | None = None

    @property
    def rules(self) -> int:
        return sum(len(g.rules) for g in self.gpos)


@dataclass(frozen=True)
class Diff:
    a: Side
    b: Side
    policies: tuple[PolicyDiff, ...]

    @property
    def identical(self) -> bool:
        return not self.policies


def load_side(path: str | Path) -> Side:
    """Read one side; a path that is nothing cmfw can read raises :class:`InputError`."""
    text = str(path)
    if text in _EMPTY:
        return Side(text, "empty", ())
    p = Path(text)
    if _is_matrix(text):
        return _matrix_side(text)
    kind = kind_of(p)
    return Side(text, kind, tuple(read_path(p)), _build_links(p) if kind == "build" else None)


def _is_matrix(text: str) -> bool:
    p = Path(text)
    return text == "-" or (p.is_file() and p.suffix.lower() in MATRIX_SUFFIXES)


def _matrix_side(text: str) -> Side:
    """A matrix as the GPOs a build of it holds, without building it: its policies resolved
    (the matrix checked as far as rules need: schema and meaning; lint's verdicts are for
    ``validate`` and ``build``), each encoded as its registry.pol's entries and read back as
    a backup's would be (registry.pol's codec round-trips, so the rules are the same)."""
    from .catalog import load_catalog
    from .gpo.backup import backup_id
    from .matrix import load_matrix
    from .registry import registrypol
    from .registry.policyfile import encode_policy, read_entries
    from .resolve import resolve

    catalog = load_catalog()
    policyset = resolve(load_matrix(text, catalog), catalog)
    found = []
    for policy in policyset.policies:
        encoded = encode_policy(policy)
        bid = backup_id(policy, registrypol.encode(encoded.entries))
        fw = read_entries(encoded.entries)
        found.append(GpoContent(
            os.path.join(text, bid), policy.name, policy.gpo_guid, bid, fw.policy_version, fw.rules,
            fw.rule_versions, fw.profile_settings, fw.problems,
        ))
    found.sort(key=lambda content: content.backup_id)  # the order of a backup root's folders
    links = {policy.name: policy.links for policy in policyset.policies}
    return Side(text, "matrix", tuple(found), links)


def _build_links(root: Path) -> dict[str, tuple[GpoLink, ...]] | None:
    import json

    try:
        policies = json.loads((root / MANIFEST).read_text(encoding="utf-8"))["policies"]
        return {
            p["name"]: tuple(GpoLink(x["target"], x["order"], x["enforced"], x["enabled"]) for x in p["links"])
            for p in policies
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None  # an older or damaged build.json: compare the GPOs only


def diff_paths(a: str | Path, b: str | Path, labels: tuple[str, str] | None = None) -> Diff:
    """Compare two paths; ``labels`` replace the paths in the output (git's temp files).

    Two matrices are read at the same time, in two worker processes when workers are
    allowed (``CMFW_JOBS``) and neither is standard input.
    """
    left, right = _load_both(str(a), str(b))
    if labels:
        left, right = replace(left, path=labels[0]), replace(right, path=labels[1])
    return diff_sides(left, right)


def _load_both(a: str, b: str) -> tuple[Side, Side]:
    from . import parallel

    if not (_is_matrix(a) and _is_matrix(b)) or "-" in (a, b) or parallel.allowed() < 2:
        return load_side(a), load_side(b)
    with parallel.Workers(2, None) as workers:
        tickets = {workers.submit(load_side, a): 0, workers.submit(load_side, b): 1}
        sides: list[Side | None] = [None, None]
        errors: list[BaseException | None] = [None, None]
        for _ in range(2):
            ticket, error, side = workers.next()
            sides[tickets[ticket]], errors[tickets[ticket]] = side, error
    for error in errors:  # side A's error first, as when they are read one after the other
        if error is not None:
            raise error
    assert sides[0] is not None and sides[1] is not None
    return sides[0], sides[1]


def diff_sides(a: Side, b: Side) -> Diff:
    policies = []
    for name, ga, gb in _pairs(a.gpos, b.gpos):
        links: tuple[Change, ...] = ()
        if a.links is not None and b.links is not None and ga is not None and gb is not None:
            links = _links_diff(a.links.get(ga.name, ()), b.links.get(gb.name, ()))
        found = _diff_gpo(name, ga, gb, links)
        if found is not None:
            policies.append(found)
    return Diff(a, b, tuple(policies))


Pair = tuple[str, GpoContent | None, GpoContent | None]


def _pairs(a: tuple[GpoContent, ...], b: tuple[GpoContent, ...]) -> list[Pair]:
    """Side A's and side B's GPOs paired: by GPO GUID, then by display name."""
    if len(a) == 1 and len(b) == 1 and not (a[0].name and b[0].name):
        return [(a[0].name or b[0].name or b[0].source, a[0], b[0])]
    pairs: list[Pair] = []
    right_by_guid = {g.gpo_guid.upper(): g for g in b if g.gpo_guid}
    left_rest, taken = [], set()
    for ga in a:
        gb = right_by_guid.get(ga.gpo_guid.upper()) if ga.gpo_guid else None
        if gb is None:
            left_rest.append(ga)
        else:
            taken.add(id(gb))
            pairs.append((gb.name or ga.name or gb.source, ga, gb))
    left = {_gpo_key(g): g for g in left_rest}
    right = {_gpo_key(g): g for g in b if id(g) not in taken}
    for key in sorted(set(left) | set(right)):
        first, second = left.get(key), right.get(key)
        pairs.append(((first or second).name or key, first, second))  # type: ignore[union-attr]
    return sorted(pairs, key=lambda pair: pair[0].casefold())


def _links_diff(a: tuple[GpoLink, ...], b: tuple[GpoLink, ...]) -> tuple[Change, ...]:
    left = {link.target.casefold(): link for link in a}
    right = {link.target.casefold(): link for link in b}
    return tuple(
        Change((right.get(k) or left[k]).target, _link_text(left.get(k)), _link_text(right.get(k)))
        for k in sorted(set(left) | set(right))
        if _link_text(left.get(k)) != _link_text(right.get(k))
    )


def _link_text(link: GpoLink | None) -> str | None:
    if link is None:
        return None
    words = ["enabled" if link.enabled else "disabled"]
    if link.enforced:
        words.append("enforced")
    if link.order is not None:
        words.append(f"order {link.order}")
    return ", ".join(words)


def _gpo_key(gpo: GpoContent) -> str:
    return (gpo.name or gpo.source).casefold()


def _diff_gpo(name: str, a: GpoContent | None, b: GpoContent | None, links: tuple[Change, ...]) -> PolicyDiff | None:
    if a is None and b is not None:
        return PolicyDiff(name, "added", added=tuple(b.rules), settings=_settings_diff(None, b))
    if b is None and a is not None:
        return PolicyDiff(name, "removed", removed=tuple(a.rules), settings=_settings_diff(a, None))
    assert a is not None and b is not None
    left = {r.id.casefold(): r for r in a.rules}
    right = {r.id.casefold(): r for r in b.rules}
    added = tuple(right[k] for k in sorted(set(right) - set(left)))
    removed = tuple(left[k] for k in sorted(set(left) - set(right)))
    changed = []
    for key in sorted(set(left) & set(right)):
        changes = _rule_changes(left[key], right[key])
        if changes:
            changed.append(RuleChange(right[key].id, right[key].name, changes))
    settings = _settings_diff(a, b)
    renamed_from = a.name if a.name and b.name and a.name != b.name else None
    if not (added or removed or changed or settings or links or renamed_from):
        return None
    return PolicyDiff(name, "changed", added, removed, tuple(changed), settings, links, renamed_from)


def _rule_changes(a: Rule, b: Rule) -> tuple[Change, ...]:
    if a == b:  # most rules of a review: equal in every field, so in the compared ones
        return ()
    da, db = rule_to_dict(a), rule_to_dict(b)
    return tuple(Change(k, da[k], db[k]) for k in da if k not in _NOT_COMPARED and da[k] != db[k])


def _settings_diff(a: GpoContent | None, b: GpoContent | None) -> tuple[Change, ...]:
    left = {(s.profile, s.name): s.value for s in (a.profile_settings if a else [])}
    right = {(s.profile, s.name): s.value for s in (b.profile_settings if b else [])}
    keys = sorted(set(left) | set(right), key=lambda k: (profile_rank(k[0]), k[0], k[1]))
    return tuple(
        Change(f"{profile or 'Global'}/{name}", left.get((profile, name)), right.get((profile, name)))
        for profile, name in keys
        if left.get((profile, name)) != right.get((profile, name))
    )


# -- output ---------------------------------------------------------------------------------


def diff_document(diff: Diff) -> dict[str, Any]:
    """The JSON form (docs/diff.md): stable keys, rules in the shape of rules.json."""
    return {
        "format": FORMAT,
        "a": {"path": diff.a.path, "kind": diff.a.kind},
        "b": {"path": diff.b.path, "kind": diff.b.kind},
        "identical": diff.identical,
        "summary": _summary(diff),
        "policies": [
            {
                "name": p.name,
                "status": p.status,
                "renamed_from": p.renamed_from,
                "rules_added": [rule_to_dict(r) for r in p.added],
                "rules_removed": [rule_to_dict(r) for r in p.removed],
                "rules_changed": [
                    {"id": c.id, "name": c.name, "fields": {ch.field: {"a": ch.a, "b": ch.b} for ch in c.changes}}
                    for c in p.changed
                ],
                "settings_changed": {ch.field: {"a": ch.a, "b": ch.b} for ch in p.settings},
                "links_changed": {ch.field: {"a": ch.a, "b": ch.b} for ch in p.links},
            }
            for p in diff.policies
        ],
    }


def _summary(diff: Diff) -> dict[str, int]:
    ps = diff.policies
    return {
        "policies_added": sum(p.status == "added" for p in ps),
        "policies_removed": sum(p.status == "removed" for p in ps),
        "policies_changed": sum(p.status == "changed" for p in ps),
        "policies_renamed": sum(p.renamed_from is not None for p in ps),
        "rules_added": sum(len(p.added) for p in ps),
        "rules_removed": sum(len(p.removed) for p in ps),
        "rules_changed": sum(len(p.changed) for p in ps),
        "settings_changed": sum(len(p.settings) for p in ps),
        "links_changed": sum(len(p.links) for p in ps),
    }


def format_diff(diff: Diff) -> str:
    """A review-friendly text diff: ``+``/``-``/``~`` per policy, rule and field."""
    lines = [f"--- {diff.a.path} ({diff.a.kind})", f"+++ {diff.b.path} ({diff.b.kind})"]
    if diff.identical:
        lines.append(
            f"no differences: {plural(len(diff.b.gpos), 'GPO')}, {plural(diff.b.rules, 'rule')}"
        )
        return "\n".join(shown(line) for line in lines)
    for p in diff.policies:
        if p.status == "added":
            lines.append(f"+ {p.name}: new GPO, {plural(len(p.added), 'rule')}")
        elif p.status == "removed":
            lines.append(f"- {p.name}: GPO removed, with {plural(len(p.removed), 'rule')}")
        elif p.renamed_from is not None:
            lines.append(f"~ {p.name} (renamed from {p.renamed_from!r}, same GPO GUID)")
        else:
            lines.append(f"~ {p.name}")
        lines += [f"    + {r.id}  {describe_rule(r)}" for r in p.added]
        lines += [f"    - {r.id}  {describe_rule(r)}" for r in p.removed]
        for change in p.changed:
            lines.append(f"    ~ {change.id}")
            lines += [f"        {c.field}: {_value(c.a)} -> {_value(c.b)}" for c in change.changes]
        if p.settings:
            lines.append("    ~ profile settings")
            lines += [f"        {c.field}: {_value(c.a)} -> {_value(c.b)}" for c in p.settings]
        if p.links:
            lines.append("    ~ links")
            lines += [f"        {c.field}: {_value(c.a)} -> {_value(c.b)}" for c in p.links]
    s = _summary(diff)
    counted = [
        ("policies_changed", "GPO", "changed"), ("policies_added", "GPO", "added"), ("policies_removed", "GPO", "removed"),
        ("policies_renamed", "GPO", "renamed"),
        ("rules_added", "rule", "added"), ("rules_removed", "rule", "removed"), ("rules_changed", "rule", "changed"),
        ("settings_changed", "profile setting", "changed"), ("links_changed", "link", "changed"),
    ]
    lines.append(", ".join(f"{plural(s[key], noun)} {verb}" for key, noun, verb in counted if s[key]))
    return "\n".join(shown(line) for line in lines)  # names and paths may come from foreign GPOs


def _value(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return ",".join(str(v) if not isinstance(v, list) else "=".join(v) for v in value) if value else "(any)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return "(empty)"
    return str(value)


def describe_rule(rule: Rule) -> str:
    """One line that says what a rule lets through."""
    parts = [rule.direction, rule.action, rule.protocol_name]
    if rule.local_ports:
        parts.append("local " + ",".join(rule.local_ports))
    if rule.remote_ports:
        parts.append("remote " + ",".join(rule.remote_ports))
    if rule.icmp_types:
        parts.append("icmp " + ",".join(rule.icmp_types))
    if rule.remote_addresses:
        parts.append(("from " if rule.direction == "In" else "to ") + ",".join(rule.remote_addresses))
    if rule.program:
        parts.append("program " + rule.program)
    if rule.service:
        parts.append("service " + rule.service)
    parts.append("profiles " + ",".join(rule.profiles))
    if not rule.enabled:
        parts.append("disabled")
    return " ".join(parts) + f'  "{rule.name}"'


def _only_renamed(p: PolicyDiff) -> bool:
    return not (p.added or p.removed or p.changed or p.settings or p.links)


def format_markdown(diff: Diff) -> str:
    """The diff as a pull-request comment: a summary, then a table per changed GPO."""
    from .syntax import markdown as md

    head = f"### cmfw diff: {md.code(diff.a.path)} → {md.code(diff.b.path)}"
    if diff.identical:
        return f"{head}\n\nNo differences: {plural(len(diff.b.gpos), 'GPO')}, {plural(diff.b.rules, 'rule')}.\n"
    lines = [head, "", "**" + format_diff(diff).splitlines()[-1] + "**", ""]
    for p in diff.policies:
        status = {"added": "new GPO", "removed": "GPO removed", "changed": "changed"}[p.status]
        if p.renamed_from is not None:
            status = f"renamed from {md.text(p.renamed_from)}" + ("" if _only_renamed(p) else ", changed")
        lines += [f"#### {md.text(p.name)} ({status})", ""]
        rows = [["➕ added", md.code(r.id), md.text(describe_rule(r))] for r in p.added]
        rows += [["➖ removed", md.code(r.id), md.text(describe_rule(r))] for r in p.removed]
        rows += [
            ["✏️ changed", md.code(c.id), "<br>".join(f"{md.text(ch.field)}: {md.text(_value(ch.a))} → {md.text(_value(ch.b))}" for ch in c.changes)]
            for c in p.changed
        ]
        rows += [["⚙️ setting", md.code(c.field), f"{md.text(_value(c.a))} → {md.text(_value(c.b))}"] for c in p.settings]
        rows += [["🔗 link", md.code(c.field), f"{md.text(_value(c.a))} → {md.text(_value(c.b))}"] for c in p.links]
        if rows:
            lines += md.table(["", "Rule or setting", "Change"], rows)
        else:
            lines.append("Only the display name changed: same GPO, same rules, same links.")
        lines.append("")
    return "\n".join(lines)
