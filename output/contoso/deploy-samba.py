"""deploy-samba.py: the Samba side of a cmfw package (started by deploy-samba.sh).

Runs under the Python that carries Samba's bindings (Debian's /usr/bin/python3 with
python3-samba) and needs nothing from cmfw: everything it deploys comes from the
package's build.json and backups, which deploy-samba.sh has checked against
SHA256SUMS before starting it. It

  * takes stock of the domain: every GPO, its comment (GPO.cmt), its Registry.pol;
  * finds each policy's GPO by the cmfw marker in its comment (first line,
    ``Managed by cmfw: domain D, [owner O, ]policy P.``), or by display name for a
    GPO deployed before markers existed;
  * plans, per policy: create / update (rules added, removed, changed, compared
    with the GPO's Registry.pol) / rename / unchanged, link changes, and orphans
    (GPOs with this domain's and owner's marker whose policy left the matrix);
  * prints the plan (``--plan``: and stops), then applies it and reads every GPO back.

The pure parts (markers, rule-string fields, the plan) take plain data and are
tested without a domain controller; the Samba parts live in :class:`Domain`.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

PLAN_FORMAT = "cmfw-plan/1"
BUILD_FORMAT = "cmfw-build/1"
RULES_KEY = "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\FirewallRules"
REGISTRY_CSE = "{35378EAC-683F-11D2-A89A-00C04FBBCFA2}"
FIREWALL_TOOL = "{B05566AC-FE9C-4368-BE01-7A4CBB6CBA11}"
MARKER = re.compile(r"^Managed by cmfw: domain ([^,]+), (?:owner ([^,]+), )?policy ([A-Za-z][A-Za-z0-9]*)\.")
LINK = re.compile(r"\[LDAP://cn=(\{[0-9a-fA-F-]{36}\}),[^;\]]*;(\d+)\]", re.IGNORECASE)
#: groupPolicyContainer flags: 1 = user settings disabled, as the backup's <Options> says.
GPO_FLAGS = 1
LINK_DISABLED, LINK_ENFORCED = 1, 2
#: Access masks that let a client read a file: FILE_READ_DATA, GENERIC_READ, GENERIC_ALL.
READ_MASKS = (0x1, 0x80000000, 0x10000000)
#: Who must be able to read the GPO's files for clients to apply it.
READERS = {"S-1-5-11": "Authenticated Users", "S-1-1-0": "Everyone"}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES = 0, 1, 2, 2


class UsageError(Exception):
    """Bad options or a package that does not name what was asked for."""


class Failure(Exception):
    """A step against the domain failed; the message says which and why."""


# -- markers, rule strings, registry entries --------------------------------------------------


def parse_marker(comment: str | None) -> tuple[str, str, str] | None:
    """(domain, owner, policy id) from the first line of a GPO comment, or None."""
    if not comment:
        return None
    found = MARKER.match(comment.lstrip("\ufeff").splitlines()[0] if comment.strip() else "")
    if found is None:
        return None
    return found.group(1).lower(), found.group(2) or "", found.group(3)


def decode_comment(data: bytes | None) -> str | None:
    """GPO.cmt as text: UTF-16LE (GPMC writes it so, with or without a byte order mark)."""
    if data is None:
        return None
    if data.startswith(b"\xff\xfe"):
        data = data[2:]
    try:
        return data.decode("utf-16-le")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def encode_comment(text: str) -> bytes:
    return b"\xff\xfe" + text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-16-le")


def rule_fields(rule: str) -> dict[str, list[str]]:
    """A firewall rule string's fields, each with its values in order (``RPort`` may repeat)."""
    fields: dict[str, list[str]] = {}
    for part in rule.split("|"):
        if "=" in part:
            name, _, value = part.partition("=")
            fields.setdefault(name, []).append(value)
        elif part:
            fields.setdefault("version", []).append(part)
    return fields


def rule_changes(old: str, new: str) -> dict[str, dict[str, list[str]]]:
    """Field → {"from": values, "to": values} for every field that differs."""
    a, b = rule_fields(old), rule_fields(new)
    return {
        name: {"from": a.get(name, []), "to": b.get(name, [])}
        for name in sorted(set(a) | set(b))
        if sorted(a.get(name, [])) != sorted(b.get(name, []))
    }


Entries = dict[tuple[str, str], tuple[int, Any]]


def compare_entries(current: Entries | None, wanted: Entries) -> dict[str, Any]:
    """Rules and other settings added, removed and changed, keys compared without case."""
    current = current or {}
    now = {(k.lower(), v.lower()): (k, v, t, d) for (k, v), (t, d) in current.items()}
    then = {(k.lower(), v.lower()): (k, v, t, d) for (k, v), (t, d) in wanted.items()}
    rules: dict[str, Any] = {"added": [], "removed": [], "changed": []}
    settings: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    rules_key = RULES_KEY.lower()
    for low in sorted(set(now) | set(then)):
        old, new = now.get(low), then.get(low)
        key, value = (new or old)[0], (new or old)[1]  # type: ignore[index]
        is_rule = low[0] == rules_key
        label = value if is_rule else f"{key}\\{value}"
        if old is None:
            (rules if is_rule else settings)["added"].append(label)
        elif new is None:
            (rules if is_rule else settings)["removed"].append(label)
        elif (old[2], old[3]) != (new[2], new[3]):
            if is_rule and isinstance(old[3], str) and isinstance(new[3], str):
                rules["changed"].append({"id": label, "fields": rule_changes(old[3], new[3])})
            elif is_rule:
                rules["changed"].append({"id": label, "fields": {}})
            else:
                settings["changed"].append(label)
    return {"rules": rules, "settings": settings}


def merged_extensions(current: str) -> str:
    """``[{CSE}{tool}…][…]`` with the firewall pair added, every other kept, sorted as GPMC does."""
    groups: dict[str, set[str]] = {}
    for group in re.findall(r"\[([^\]]*)\]", current):
        guids = re.findall(r"\{[0-9A-Fa-f-]{36}\}", group)
        if guids:
            groups.setdefault(guids[0].upper(), set()).update(g.upper() for g in guids[1:])
    groups.setdefault(REGISTRY_CSE, set()).add(FIREWALL_TOOL)
    return "".join("[" + cse + "".join(sorted(groups[cse])) + "]" for cse in sorted(groups))


def link_options(enforced: bool, enabled: bool) -> int:
    return (LINK_ENFORCED if enforced else 0) | (0 if enabled else LINK_DISABLED)


def link_text(options: int | None) -> str | None:
    if options is None:
        return None
    words = ["disabled" if options & LINK_DISABLED else "enabled"]
    if options & LINK_ENFORCED:
        words.append("enforced")
    return ", ".join(words)


def links_in(gplink: str) -> dict[str, int]:
    """GPO GUID (upper case) → link options, from a container's gPLink."""
    return {guid.upper(): int(options) for guid, options in LINK.findall(gplink)}


# -- the plan ----------------------------------------------------------------------------------


def plan(build: dict[str, Any], selected: Sequence[dict[str, Any]], inventory: dict[str, Any], *,
         wanted: dict[str, Entries], link: bool, prune: bool) -> dict[str, Any]:
    """What a deployment would change, from the package and what the domain holds.

    ``inventory`` is plain data (see :meth:`Domain.inventory`): ``gpos`` (AD GUID →
    name, comment, flags, extensions, entries), ``gplinks`` (container DN → gPLink or
    None when the container does not exist) and ``linked_from`` (AD GUID → DNs).
    ``wanted`` maps a policy key to the registry entries of its package Registry.pol.
    """
    domain, owner = build["domain"].lower(), build.get("owner") or ""
    gpos: dict[str, dict[str, Any]] = inventory["gpos"]
    ours: dict[str, list[str]] = {}
    for guid in sorted(gpos):
        marker = parse_marker(gpos[guid].get("comment"))
        if marker and marker[0] == domain and marker[1] == owner:
            ours.setdefault(marker[2].casefold(), []).append(guid)
    in_build = {p["key"].casefold() for p in build["policies"]}
    out: dict[str, Any] = {
        "format": PLAN_FORMAT, "domain": domain, "owner": owner, "changes": False,
        "policies": [], "orphans": [], "warnings": list(inventory.get("warnings", [])),
    }
    for policy in selected:
        out["policies"].append(_policy_plan(policy, gpos, ours, inventory, wanted[policy["key"]], link=link))
    for key in sorted(set(ours) - in_build):
        for guid in ours[key]:
            info = gpos[guid]
            marker = parse_marker(info.get("comment"))
            out["orphans"].append({
                "gpo": guid, "name": info["name"], "key": marker[2] if marker else key,
                "links": sorted(inventory["linked_from"].get(guid, [])),
                "action": "delete" if prune else "keep",
            })
    out["changes"] = any(_changes(p) for p in out["policies"]) or any(o["action"] == "delete" for o in out["orphans"])
    return out


def _policy_plan(policy: dict[str, Any], gpos: dict[str, dict[str, Any]], ours: dict[str, list[str]],
                 inventory: dict[str, Any], entries: Entries, *, link: bool) -> dict[str, Any]:
    name, key = policy["name"], policy["key"]
    row: dict[str, Any] = {
        "key": key, "name": name, "gpo": None, "found_by": None, "action": "create", "rename_from": None,
        "rules": {"added": sorted(v for (k, v) in entries if k.lower() == RULES_KEY.lower()), "removed": [], "changed": []},
        "settings": {"added": [], "removed": [], "changed": []},
        "marker": True, "status": True, "extensions": True, "links": [], "other_links": [], "error": None,
    }
    mine = ours.get(key.casefold(), [])
    named = [g for g in sorted(gpos) if gpos[g]["name"] == name]
    if len(mine) > 1:
        row.update(action="error", error=f"{len(mine)} GPOs carry the marker of policy {key} ({', '.join(mine)}): delete all but one")
        return row
    if mine:
        guid, found_by = mine[0], "marker"
        clash = [g for g in named if g != guid]
        if gpos[guid]["name"] != name and clash:
            row.update(action="error", gpo=guid, error=f"cannot rename GPO {guid} to {name!r}: GPO {clash[0]} has that name")
            return row
    elif named:
        if len(named) > 1:
            row.update(action="error", error=f"{len(named)} GPOs are named {name!r} and none carries the marker: rename all but one")
            return row
        guid, found_by = named[0], "name"
        other = parse_marker(gpos[guid].get("comment"))
        if other is not None:
            row.update(action="error", gpo=guid, error=(
                f"GPO {guid} named {name!r} is managed by cmfw for domain {other[0]}"
                + (f", owner {other[1]}" if other[1] else "") + f", policy {other[2]}: not taking it over"))
            return row
    else:
        guid, found_by = None, None
    row["links"] = _link_plan(policy, guid, inventory) if link else []
    if guid is None:
        return row
    info = gpos[guid]
    found = compare_entries(info.get("entries"), entries)
    row.update(
        gpo=guid, found_by=found_by, rules=found["rules"], settings=found["settings"],
        rename_from=info["name"] if info["name"] != name else None,
        marker=(info.get("comment") or "").lstrip("\ufeff").splitlines()[:1] != [policy["marker"]],
        status=info.get("flags") != GPO_FLAGS,
        extensions=merged_extensions(info.get("extensions") or "") != (info.get("extensions") or ""),
    )
    content = any(found["rules"][k] or found["settings"][k] for k in ("added", "removed", "changed"))
    row["content"] = content or info.get("entries") is None
    row["action"] = "update" if row["content"] or row["marker"] or row["status"] or row["extensions"] else "unchanged"
    if row["action"] == "unchanged" and row["rename_from"] is not None:
        row["action"] = "rename"
    linked = set(inventory["linked_from"].get(guid, []))
    listed = {ln["target"].casefold() for ln in policy["links"]}
    row["other_links"] = sorted(dn for dn in linked if dn.casefold() not in listed)
    return row


def _link_plan(policy: dict[str, Any], guid: str | None, inventory: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for spec in policy["links"]:
        target = spec["target"]
        wanted = link_options(spec["enforced"], spec["enabled"])
        gplink = inventory["gplinks"].get(target)
        if gplink is None:
            out.append({"target": target, "action": "error", "from": None, "to": link_text(wanted),
                        "error": f"{target} does not exist in the domain"})
            continue
        current = links_in(gplink).get(guid.upper()) if guid else None
        action = "create" if current is None else ("unchanged" if current == wanted else "update")
        out.append({"target": target, "action": action, "from": link_text(current), "to": link_text(wanted)})
    return out


def _changes(row: dict[str, Any]) -> bool:
    return row["action"] in ("create", "update", "rename") or any(
        ln["action"] in ("create", "update") for ln in row["links"])


def format_plan(found: dict[str, Any], prune: bool) -> list[str]:
    """The plan as lines for a person, terraform-style: + create, ~ update, = unchanged, - delete."""
    owner = f", owner {found['owner']}" if found["owner"] else ""
    lines = [f"Plan for domain {found['domain']}{owner}:"]
    counts = {"create": 0, "update": 0, "rename": 0, "unchanged": 0, "links": 0, "error": 0}
    for row in found["policies"]:
        lines += _format_policy(row, counts)
    for orphan in found["orphans"]:
        where = f", linked to {'; '.join(orphan['links'])}" if orphan["links"] else ", not linked"
        verb = "delete (--prune)" if orphan["action"] == "delete" else "orphan, kept (--prune deletes it)"
        lines.append(f"  - {orphan['name']}  (GPO {orphan['gpo']}, policy {orphan['key']}{where}): {verb}")
    lines += [f"  warning: {w}" for w in found["warnings"]]
    orphans = len(found["orphans"])
    summary = [f"{counts[k]} to {k}" for k in ("create", "update", "rename") if counts[k]]
    summary += [f"{counts['unchanged']} unchanged"] if counts["unchanged"] else []
    summary += [f"{counts['links']} link change{'s' if counts['links'] != 1 else ''}"] if counts["links"] else []
    if orphans:
        summary.append(f"{orphans} orphan{'s' if orphans != 1 else ''} " + ("to delete" if prune else "kept"))
    summary += [f"{counts['error']} failed"] if counts["error"] else []
    lines.append("Plan: " + (", ".join(summary) if summary else "nothing to deploy") + "."
                 + ("" if found["changes"] else " No changes."))
    return lines


def _format_policy(row: dict[str, Any], counts: dict[str, int]) -> list[str]:
    gpo = f"GPO {row['gpo']}, found by {row['found_by']}" if row["gpo"] else "new GPO"
    if row["action"] == "error":
        counts["error"] += 1
        return [f"  ! {row['name']}: {row['error']}"]
    sign = {"create": "+", "update": "~", "rename": "~", "unchanged": "="}[row["action"]]
    if row["action"] != "rename":
        counts[row["action"]] += 1
    out = [f"  {sign} {row['name']}  ({gpo})"]
    if row["rename_from"] is not None:
        counts["rename"] += 1
        out.append(f"      rename: {row['rename_from']!r} -> {row['name']!r}")
    if row["action"] == "create":
        out.append(f"      create with {len(row['rules']['added'])} firewall rules")
    else:
        out += [f"      + rule {rule}" for rule in row["rules"]["added"]]
        out += [f"      - rule {rule}" for rule in row["rules"]["removed"]]
        for change in row["rules"]["changed"]:
            fields = "; ".join(f"{k}: {','.join(v['from']) or '(none)'} -> {','.join(v['to']) or '(none)'}"
                               for k, v in change["fields"].items())
            out.append(f"      ~ rule {change['id']}" + (f"  {fields}" if fields else ""))
        out += [f"      {sign_} setting {s}" for sign_, kind in (("+", "added"), ("-", "removed"), ("~", "changed"))
                for s in row["settings"][kind]]
        if row["marker"]:
            out.append("      ~ comment: write the cmfw marker")
        if row["status"]:
            out.append("      ~ status: user settings disabled")
        if row["extensions"]:
            out.append("      ~ gPCMachineExtensionNames: add the firewall extension")
    for ln in row["links"]:
        if ln["action"] == "error":
            counts["error"] += 1
            out.append(f"      ! link {ln['target']}: {ln['error']}")
        elif ln["action"] == "create":
            counts["links"] += 1
            out.append(f"      + link {ln['target']} ({ln['to']})")
        elif ln["action"] == "update":
            counts["links"] += 1
            out.append(f"      ~ link {ln['target']}: {ln['from']} -> {ln['to']} (relinked: moves to the end of the target's links)")
    out += [f"      link outside the matrix, kept: {dn}" for dn in row["other_links"]]
    return out


# -- Samba ---------------------------------------------------------------------------------------


class Domain:
    """LDAP and SMB on one domain controller, through Samba's Python bindings."""

    def __init__(self, url: str, user: str, config: str | None, password: str) -> None:
        import ldb
        from samba import param
        from samba.auth import system_session
        from samba.credentials import DONT_USE_KERBEROS, SMB_SIGNING_REQUIRED, Credentials
        from samba.samdb import SamDB

        self.ldb, self.url, self.config = ldb, url, config
        self.lp = param.LoadParm()
        if config:
            self.lp.load(config)
        else:
            self.lp.load_default()
        self.creds = Credentials()
        self.creds.guess(self.lp)
        self.creds.set_username(user)
        self.creds.set_password(password)
        self.creds.set_kerberos_state(DONT_USE_KERBEROS)
        self.creds.set_smb_signing(SMB_SIGNING_REQUIRED)
        try:
            self.samdb = SamDB(url=url, session_info=system_session(), credentials=self.creds, lp=self.lp)
        except Exception as exc:
            raise Failure(f"cannot connect to {url}: {exc}") from None
        self.base = str(self.samdb.domain_dn())
        self.policies = "CN=Policies,CN=System," + self.base
        self.dns_domain = self.base.replace(",DC=", ".").replace("DC=", "").lower()
        self._smb: dict[tuple[str, str], Any] = {}

    # LDAP

    def gpo_records(self) -> dict[str, Any]:
        found = self.samdb.search(
            base=self.policies, scope=self.ldb.SCOPE_ONELEVEL, expression="(objectClass=groupPolicyContainer)",
            attrs=["name", "displayName", "versionNumber", "gPCFileSysPath", "gPCMachineExtensionNames", "flags"])
        return {str(r["name"][0]).upper(): r for r in found}

    def record(self, guid: str) -> Any:
        found = self.samdb.search(
            base=self.policies, scope=self.ldb.SCOPE_ONELEVEL,
            expression="(&(objectClass=groupPolicyContainer)(name=%s))" % self.ldb.binary_encode(guid),
            attrs=["displayName", "versionNumber", "gPCFileSysPath", "gPCMachineExtensionNames", "flags"])
        if len(found) != 1:
            raise Failure(f"GPO {guid} not found in {self.policies}")
        return found[0]

    def gplink(self, dn: str) -> str | None:
        try:
            found = self.samdb.search(base=dn, scope=self.ldb.SCOPE_BASE, attrs=["gPLink"])
        except self.ldb.LdbError as exc:
            if exc.args and exc.args[0] == self.ldb.ERR_NO_SUCH_OBJECT:
                return None
            raise
        return str(found[0].get("gPLink", idx=0) or "")

    def linked_from(self) -> dict[str, list[str]]:
        """AD GUID → every container whose gPLink names it."""
        out: dict[str, list[str]] = {}
        for record in self.samdb.search(base=self.base, scope=self.ldb.SCOPE_SUBTREE, expression="(gPLink=*)", attrs=["gPLink"]):
            for guid in links_in(str(record.get("gPLink", idx=0) or "")):
                out.setdefault(guid, []).append(str(record.dn))
        return out

    def domain_controllers(self) -> list[str]:
        found = self.samdb.search(
            base=self.base, scope=self.ldb.SCOPE_SUBTREE,
            expression="(&(objectClass=computer)(userAccountControl:1.2.840.113556.1.4.803:=8192))",
            attrs=["dNSHostName", "name"])
        return sorted(str(r.get("dNSHostName", idx=0) or r.get("name", idx=0)) for r in found)

    def modify(self, guid: str, **values: str) -> None:
        message = self.ldb.Message()
        message.dn = self.record(guid).dn
        for name, value in values.items():
            message[name] = self.ldb.MessageElement(value, self.ldb.FLAG_MOD_REPLACE, name)
        self.samdb.modify(message)

    # SMB

    def share(self, record: Any, host: str | None = None) -> tuple[Any, str]:
        from urllib.parse import urlparse

        from samba.samba3 import libsmb_samba_internal as libsmb
        from samba.samba3 import param as s3param

        unc = str(record["gPCFileSysPath"][0])
        _, service, folder = unc.lstrip("\\").split("\\", 2)
        host = host or urlparse(self.url).hostname or "127.0.0.1"
        if (host, service) not in self._smb:
            s3lp = s3param.get_context()
            if self.config:
                s3lp.load(self.config)
            else:
                s3lp.load_default()
            try:
                self._smb[(host, service)] = libsmb.Conn(host, service, lp=s3lp, creds=self.creds)
            except Exception as exc:
                raise Failure(f"cannot open \\\\{host}\\{service} over SMB: {exc}") from None
        return self._smb[(host, service)], folder

    @staticmethod
    def load(conn: Any, path: str) -> bytes | None:
        try:
            return bytes(conn.loadfile(path))
        except Exception:
            return None

    def readable_by_clients(self, conn: Any, path: str) -> str | None:
        """Why clients could not read ``path`` (its DACL), or None when they can."""
        from samba.dcerpc import security

        try:
            descriptor = conn.get_acl(path, security.SECINFO_DACL)
        except Exception as exc:
            return f"cannot read the ACL of {path}: {exc}"
        readers, denied = set(), set()
        for ace in (descriptor.dacl.aces if descriptor.dacl else []):
            sid = str(ace.trustee)
            if sid not in READERS or ace.flags & security.SEC_ACE_FLAG_INHERIT_ONLY:
                continue
            if not any(ace.access_mask & mask for mask in READ_MASKS):
                continue
            if ace.type == security.SEC_ACE_TYPE_ACCESS_DENIED:
                denied.add(sid)
            elif ace.type == security.SEC_ACE_TYPE_ACCESS_ALLOWED:
                readers.add(sid)
        if denied:
            return f"{path}: read access is denied to {', '.join(READERS[s] for s in sorted(denied))}"
        if not readers:
            return f"{path}: no ACL entry lets Authenticated Users read it; clients will not apply the GPO"
        return None


def parse_pol(data: bytes | None) -> Entries | None:
    """Registry.pol entries by (key, value name), read with Samba's own PReg parser."""
    if data is None:
        return None
    from samba.dcerpc import preg
    from samba.ndr import ndr_unpack

    try:
        parsed = ndr_unpack(preg.file, data)
    except Exception:
        return {("(unreadable)", "Registry.pol"): (0, hashlib.sha256(data).hexdigest())}
    out: Entries = {}
    for entry in parsed.entries:
        data_ = entry.data
        if isinstance(data_, (bytes, list)):
            data_ = bytes(data_) if isinstance(data_, bytes) else tuple(data_)
        out[(str(entry.keyname), str(entry.valuename))] = (int(entry.type), data_)
    return out


class Deployer:
    """One run: inventory, plan, and (unless planning) apply and verify."""

    def __init__(self, args: argparse.Namespace, package: Path, build: dict[str, Any]) -> None:
        self.args, self.package, self.build = args, package, build
        self.domain: Domain
        self.tool_auth: list[str] = []
        self.out: list[str] = []

    def say(self, line: str) -> None:
        print(line, flush=True)

    def selected(self) -> list[dict[str, Any]]:
        policies = self.build["policies"]
        for wanted in self.args.policy:
            if not any(wanted in (p["key"], p["name"]) for p in policies):
                raise UsageError(f"--policy: no policy {wanted!r} in this package")
        if not self.args.policy:
            return list(policies)
        return [p for p in policies if p["key"] in self.args.policy or p["name"] in self.args.policy]

    def pol_path(self, policy: dict[str, Any]) -> Path:
        root = self.package / "gpo" / policy["backup_id"] / "DomainSysvol" / "GPO" / "Machine"
        return root / "registry.pol"

    def inventory(self, selected: list[dict[str, Any]]) -> dict[str, Any]:
        domain = self.domain
        records = domain.gpo_records()
        gpos: dict[str, Any] = {}
        names = {p["name"] for p in self.build["policies"]}
        for guid, record in records.items():
            conn, folder = domain.share(record)
            comment = decode_comment(domain.load(conn, folder + "\\GPO.cmt"))
            info = {
                "name": str(record.get("displayName", idx=0) or ""),
                "comment": comment,
                "flags": int(str(record.get("flags", idx=0) or 0)),
                "extensions": str(record.get("gPCMachineExtensionNames", idx=0) or ""),
                "version": int(str(record.get("versionNumber", idx=0) or 0)),
            }
            if parse_marker(comment) is not None or info["name"] in names:
                info["entries"] = parse_pol(domain.load(conn, folder + "\\Machine\\Registry.pol"))
            gpos[guid] = info
        targets = {ln["target"] for p in selected for ln in p["links"]} if self.args.link else set()
        warnings = []
        controllers = domain.domain_controllers()
        if len(controllers) > 1:
            warnings.append(
                f"the domain has {len(controllers)} domain controllers ({', '.join(controllers)}): Samba does not "
                "replicate SYSVOL, so copy it to the others (rsync, osync) and check each with --verify-dc HOST")
        return {
            "gpos": gpos, "gplinks": {t: domain.gplink(t) for t in sorted(targets)},
            "linked_from": domain.linked_from(), "warnings": warnings,
        }

    def samba_tool(self, *words: str, positional: Sequence[str] = ()) -> str:
        """Run samba-tool with our credentials; names after ``--`` so none reads as an option."""
        argv = ["samba-tool", *words, "-H", self.args.url, "-U", self.args.user, *self.tool_auth]
        if self.args.config:
            argv += ["-s", self.args.config]
        done = subprocess.run([*argv, "--", *positional], capture_output=True, text=True,
                              env=dict(os.environ, PASSWD=self.password))
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise Failure(f"samba-tool {' '.join(words)} failed: {last}")
        return done.stdout

    # -- run ----------------------------------------------------------------------------------

    def run(self) -> int:
        selected = self.selected()
        self.password = os.environ.get("PASSWD") or getpass.getpass(f"Password for {self.args.user}: ")
        self.domain = Domain(self.args.url, self.args.user, self.args.config, self.password)
        if self.domain.dns_domain != self.build["domain"].lower():
            raise Failure(f"{self.args.url} serves domain {self.domain.dns_domain}; this package is for {self.build['domain']}")
        wanted = {p["key"]: parse_pol(self.pol_path(p).read_bytes()) or {} for p in selected}
        found = plan(self.build, selected, self.inventory(selected), wanted=wanted, link=self.args.link, prune=self.args.prune)
        if self.args.format == "json":
            print(json.dumps(found, indent=2, sort_keys=True, ensure_ascii=False))
        else:
            for line in format_plan(found, self.args.prune):
                self.say(line)
        errors = any(p["action"] == "error" or any(ln["action"] == "error" for ln in p["links"]) for p in found["policies"])
        if self.args.plan:
            if errors:
                return EXIT_FAILED
            return EXIT_CHANGES if self.args.detailed_exitcode and found["changes"] else EXIT_OK
        self.tool_auth = kerberos_off(self.help_text())
        failed = errors
        for policy, row in zip(selected, found["policies"]):
            if row["action"] == "error":
                continue
            self.say(f"== {policy['name']}")
            try:
                self.apply(policy, row)
            except Failure as exc:
                failed = True
                self.say(f"   FAILED: {exc}")
        for orphan in found["orphans"]:
            if orphan["action"] != "delete":
                continue
            try:
                for dn in orphan["links"]:
                    self.samba_tool("gpo", "dellink", positional=[dn, orphan["gpo"]])
                self.samba_tool("gpo", "del", positional=[orphan["gpo"]])
                self.say(f"== deleted orphan {orphan['name']} ({orphan['gpo']}), unlinked from {len(orphan['links'])}")
            except Failure as exc:
                failed = True
                self.say(f"   FAILED to delete orphan {orphan['gpo']}: {exc}")
        for host in self.args.verify_dc:
            failed |= not self.verify_on(host, selected)
        if failed:
            print("deploy-samba.sh: some steps failed; see above", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_CHANGES if self.args.detailed_exitcode and found["changes"] else EXIT_OK

    def help_text(self) -> str:
        done = subprocess.run(["samba-tool", "gpo", "create", "--help"], capture_output=True, text=True)
        return done.stdout + done.stderr

    def apply(self, policy: dict[str, Any], row: dict[str, Any]) -> None:
        guid = row["gpo"]
        if guid is None:
            created = self.samba_tool("gpo", "create", positional=[policy["name"]])
            match = re.search(r"created as (\{[0-9A-Fa-f-]{36}\})", created)
            if not match:
                raise Failure(f"cannot read the new GPO's GUID from: {created.strip()}")
            guid = match.group(1).upper()
            self.say(f"   created GPO {guid}")
        else:
            self.say(f"   found GPO {guid} by {row['found_by']}")
        if row["rename_from"] is not None:
            self.domain.modify(guid, displayName=policy["name"])
            self.say(f"   renamed from {row['rename_from']!r}")
        record = self.domain.record(guid)
        conn, folder = self.domain.share(record)
        if row["marker"]:
            conn.savefile(folder + "\\GPO.cmt", encode_comment(policy["marker"]))
            self.say("   wrote the cmfw marker into the GPO comment")
        if row["status"]:
            self.domain.modify(guid, flags=str(GPO_FLAGS))
        self.say("   " + self.upload(guid, self.pol_path(policy).read_bytes()))
        for spec, ln in zip(policy["links"], row["links"]) if self.args.link else ():
            self.link(guid, spec, ln)
        self.verify(guid, policy)

    def upload(self, guid: str, data: bytes) -> str:
        record = self.domain.record(guid)
        conn, folder = self.domain.share(record)
        current = str(record.get("gPCMachineExtensionNames", idx=0) or "")
        extensions = merged_extensions(current)
        old = int(str(record.get("versionNumber", idx=0) or 0))
        if self.domain.load(conn, folder + "\\Machine\\Registry.pol") == data and extensions == current:
            return f"Registry.pol unchanged (version {old})"
        machine = (old & 0xFFFF) + 1
        new = (old & 0xFFFF0000) | (machine if machine <= 0xFFFF else 1)
        if not conn.chkpath(folder + "\\Machine"):
            conn.mkdir(folder + "\\Machine")
        conn.savefile(folder + "\\Machine\\Registry.pol", data)
        ini = (self.domain.load(conn, folder + "\\GPT.INI") or b"").decode("utf-8", "replace")
        lines = [line for line in ini.splitlines() if not line.lower().startswith("version=")]
        if not any(line.strip().lower() == "[general]" for line in lines):
            lines.insert(0, "[General]")
        at = next(i for i, line in enumerate(lines) if line.strip().lower() == "[general]") + 1
        lines.insert(at, f"Version={new}")
        conn.savefile(folder + "\\GPT.INI", ("\r\n".join(lines) + "\r\n").encode("utf-8"))
        self.domain.modify(guid, versionNumber=str(new), gPCMachineExtensionNames=extensions)
        return f"uploaded Registry.pol ({len(data)} bytes), version {old} -> {new}"

    def link(self, guid: str, spec: dict[str, Any], row: dict[str, Any]) -> None:
        target = spec["target"]
        gplink = self.domain.gplink(target)
        if gplink is None:
            raise Failure(f"{target} does not exist in the domain")
        wanted = link_options(spec["enforced"], spec["enabled"])
        current = links_in(gplink).get(guid.upper())
        if current == wanted:
            self.say(f"   link to {target} unchanged")
            return
        options = (["--enforce"] if spec["enforced"] else []) + ([] if spec["enabled"] else ["--disable"])
        if current is not None:
            # samba-tool cannot change a link's options in place: relink (it goes last).
            self.samba_tool("gpo", "dellink", positional=[target, guid])
        self.samba_tool("gpo", "setlink", *options, positional=[target, guid])
        self.say(f"   {'relinked' if current is not None else 'linked'} to {target} ({link_text(wanted)})")

    def verify(self, guid: str, policy: dict[str, Any], host: str | None = None) -> None:
        record = self.domain.record(guid)
        conn, folder = self.domain.share(record, host)
        version = int(str(record.get("versionNumber", idx=0) or 0))
        problems = []
        if self.domain.load(conn, folder + "\\Machine\\Registry.pol") != self.pol_path(policy).read_bytes():
            problems.append("Machine/Registry.pol in SYSVOL differs from the package")
        ini = (self.domain.load(conn, folder + "\\GPT.INI") or b"").decode("utf-8", "replace")
        versions = re.findall(r"(?im)^\s*version\s*=\s*(\d+)\s*$", ini)
        if versions != [str(version)]:
            problems.append(f"GPT.INI version {versions or 'none'} does not match versionNumber {version}")
        if host is None:
            current = str(record.get("gPCMachineExtensionNames", idx=0) or "")
            if merged_extensions(current) != current:
                problems.append(f"gPCMachineExtensionNames {current!r} lacks the firewall extension")
            if str(record.get("displayName", idx=0)) != policy["name"]:
                problems.append("the display name differs from the package")
            if parse_marker(decode_comment(self.domain.load(conn, folder + "\\GPO.cmt"))) is None:
                problems.append("the GPO comment lacks the cmfw marker")
            acl = self.domain.readable_by_clients(conn, folder + "\\Machine\\Registry.pol")
            if acl:
                problems.append(acl)
        if problems:
            raise Failure("; ".join(problems))
        self.say(f"   verified{' on ' + host if host else ''} (version {version})")

    def verify_on(self, host: str, selected: list[dict[str, Any]]) -> bool:
        self.say(f"== SYSVOL on {host}")
        records = self.domain.gpo_records()
        ok = True
        for policy in selected:
            mine = [g for g, r in records.items() if str(r.get("displayName", idx=0)) == policy["name"]]
            try:
                if len(mine) != 1:
                    raise Failure(f"{len(mine)} GPOs named {policy['name']!r}")
                self.verify(mine[0], policy, host)
            except Failure as exc:
                ok = False
                self.say(f"   {policy['name']}: FAILED on {host}: {exc}")
        return ok


def kerberos_off(help_text: str) -> list[str]:
    """samba-tool's option for password logins: ``--use-kerberos=off`` since 4.15, ``-k no`` before."""
    return ["--use-kerberos=off"] if "--use-kerberos" in help_text else ["-k", "no"]


# -- command line --------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on exit 1 under --detailed-exitcode (2 means "changes" there)."""

    detailed = False

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"deploy-samba.sh: {message}", file=sys.stderr)
        sys.exit(EXIT_FAILED if self.detailed else EXIT_USAGE)


def parser() -> Parser:
    p = Parser(prog="deploy-samba.sh", description=(
        "Put the firewall GPOs of this cmfw package into a Samba AD domain: find each policy's GPO by its "
        "cmfw marker, create, update or rename it, link it, list orphans and (with --prune) delete them, "
        "then read everything back."), epilog=(
        "The password comes from $PASSWD or is asked for. Exit status: 0 done (or, with "
        "--detailed-exitcode, nothing to change), 1 a step or a check failed, 2 bad usage or, with "
        "--detailed-exitcode, changes were planned or made."))
    p.add_argument("-H", "--url", default="ldap://127.0.0.1", help="LDAP URL of the domain controller (default: %(default)s)")
    p.add_argument("-U", "--user", default="Administrator", help="account that may edit GPOs (default: %(default)s)")
    p.add_argument("-s", "--config", default="", help="smb.conf to use (default: Samba's own)")
    p.add_argument("--policy", action="append", default=[], metavar="NAME", help="only this policy (display name or id; repeatable)")
    p.add_argument("--link", action="store_true", help="also link each GPO where the matrix says")
    p.add_argument("--plan", "-n", "--dry-run", dest="plan", action="store_true", help="read the domain, print the plan, change nothing")
    p.add_argument("--format", choices=("text", "json"), default="text", help="the plan as text or as JSON (cmfw-plan/1)")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes, 0 when none, 1 on errors")
    p.add_argument("--prune", action="store_true", help="unlink and delete orphans: GPOs with this domain's and owner's cmfw marker whose policy is not in the package")
    p.add_argument("--verify-dc", action="append", default=[], metavar="HOST", help="after deploying, check SYSVOL on this DC too (repeatable)")
    return p


def main(argv: Sequence[str]) -> int:
    p = parser()
    p.detailed = "--detailed-exitcode" in argv
    args = p.parse_args(argv)
    package = Path(os.environ.get("CMFW_PACKAGE") or os.path.dirname(os.path.abspath(__file__)))
    try:
        build = json.loads((package / "build.json").read_text(encoding="utf-8"))
        if build.get("format") != BUILD_FORMAT:
            raise UsageError(f"build.json: format {build.get('format')!r} is not {BUILD_FORMAT}; use the script of the same build")
        return Deployer(args, package, build).run()
    except UsageError as exc:
        print(f"deploy-samba.sh: {exc}", file=sys.stderr)
        return EXIT_FAILED if args.detailed_exitcode else EXIT_USAGE
    except (Failure, OSError, ValueError) as exc:
        print(f"deploy-samba.sh: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("deploy-samba.sh: interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
