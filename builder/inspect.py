"""``cmfw inspect``: the firewall rules and profile settings in GPO artifacts, as a table or JSON."""

from __future__ import annotations

from typing import Any

from .read import GpoContent, read_path
from .model import profile_rank, rule_to_dict
from .profilesettings import describe
from .syntax.plaintext import shown, table, wrap

FORMAT = "cmfw-inspect/1"


def inspect(path: str) -> list[GpoContent]:
    """Every GPO in ``path``, sorted by name (see :func:`builder.gpo.reader.read_path`)."""
    return sorted(read_path(path), key=lambda g: (g.name.casefold(), g.source))


def _version(number: int | None) -> str | None:
    return None if number is None else f"{number >> 8}.{number & 0xFF}"


def inspect_document(gpos: list[GpoContent]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "gpos": [
            {
                "source": g.source,
                "name": g.name,
                "gpo_guid": g.gpo_guid,
                "backup_id": g.backup_id,
                "policy_version": _version(g.policy_version),
                "profile_settings": [{"profile": s.profile, "name": s.name, "value": s.value} for s in g.profile_settings],
                "rules": [
                    dict(rule_to_dict(r), version="{}.{}".format(*g.rule_versions[r.id])) if r.id in g.rule_versions
                    else rule_to_dict(r)
                    for r in g.rules
                ],
                "problems": g.problems,
            }
            for g in gpos
        ],
    }


def _cell(values: tuple[str, ...] | list[str], empty: str = "any") -> str:
    return ",".join(values) if values else empty


def _program(rule: object) -> str:
    """The program, with the service in parentheses, as report.html shows them."""
    program, service = getattr(rule, "program", None), getattr(rule, "service", None)
    if program and service:
        return f"{program} ({service})"
    return program or (f"service {service}" if service else "")


def format_inspect(gpos: list[GpoContent], width: int | None = None) -> str:
    """The GPOs as text, foreign strings escaped; tables kept within ``width`` columns."""
    blocks = []
    for g in gpos:
        title = shown(g.name or g.source)
        lines = [f"{title}"]
        if g.name:
            lines.append(f"  source: {shown(g.source)}")
        if g.gpo_guid:
            lines.append(f"  GPO {g.gpo_guid}" + (f", backup {g.backup_id}" if g.backup_id else ""))
        if g.policy_version is not None:
            lines.append(f"  PolicyVersion {_version(g.policy_version)} ({g.policy_version})")
        for profile in sorted({s.profile for s in g.profile_settings}, key=profile_rank):
            mine = [describe(s) for s in g.profile_settings if s.profile == profile]
            lines.append(f"  {profile or 'Global'} profile: {'; '.join(mine)}")
        lines.append(f"  {len(g.rules)} rule{'s' if len(g.rules) != 1 else ''}")
        if g.rules:
            rows = [
                [
                    r.id, r.direction, r.action, r.protocol_name, _cell(r.local_ports), _cell(r.remote_ports),
                    _cell(r.icmp_types, "") if r.icmp_types or r.protocol_name.startswith("ICMP") else "",
                    _cell(r.remote_addresses), ",".join(p[:3] for p in r.profiles) if len(r.profiles) < 3 else "all",
                    "on" if r.enabled else "off", _program(r), r.name,
                ]
                for r in g.rules
            ]
            headers = ["ID", "DIR", "ACTION", "PROTO", "LOCAL", "REMOTE", "ICMP", "REMOTE ADDRESSES", "PROFILES", "ACTIVE",
                       "PROGRAM (SERVICE)", "NAME"]
            # Narrowest first to go: the name, the program, ACTIVE, ICMP and the remote ports.
            lines = [wrap(line.strip(), width or 0, line[: len(line) - len(line.lstrip())]) for line in lines]
            lines.append(table(headers, rows, indent=2, width=width, keep=(0, 1, 2, 3, 8, 9), drop=(11, 10, 9, 6, 5)))
        else:
            lines = [wrap(line.strip(), width or 0, line[: len(line) - len(line.lstrip())]) for line in lines]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def format_lines(gpos: list[GpoContent]) -> str:
    """One line per GPO header, setting and rule, no alignment and no file paths.

    Made for ``git diff`` (a ``textconv`` filter): a change to one rule changes one
    line, and nothing depends on where the file was read from.
    """
    lines: list[str] = []
    for g in gpos:
        lines.append(f"[{shown(g.name or 'GPO')}]" + (f" {g.gpo_guid}" if g.gpo_guid else ""))
        if g.policy_version is not None:
            lines.append(f"PolicyVersion = {_version(g.policy_version)}")
        lines += [shown(f"{s.profile or 'Global'}/{s.name} = {s.value}") for s in g.profile_settings]
        for rule in g.rules:
            fields = [
                f"{key}={_flat(value)}"
                for key, value in rule_to_dict(rule).items()
                if key not in ("id", "feature", "source") and value not in ("", [], None)
            ]
            lines.append(f"{shown(rule.id)}: " + shown(" | ".join(fields)))
        lines.append("")
    return "\n".join(lines)


def _flat(value: object) -> str:
    if isinstance(value, list):
        return ",".join("=".join(v) if isinstance(v, list) else str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
