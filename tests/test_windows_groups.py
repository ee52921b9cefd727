"""Our Windows group data against real rule strings (reference samples).

The catalog expands "File and Printer Sharing", "WMI", "Remote Assistance" and
"Remote Desktop" into the rules Windows defines; this compares every field we
recorded with the strings Windows itself wrote (predefined-rule-strings.tsv).
"""

import csv
from pathlib import Path

import pytest

from builder.catalog.loader import CATALOG_DIR
from builder.yamlsource import load_file

PROTOCOLS = {"TCP": "6", "UDP": "17", "ICMPv4": "1", "ICMPv6": "58"}
GROUPS = {"@FirewallAPI.dll,-28502", "@FirewallAPI.dll,-34251", "@FirewallAPI.dll,-33002", "@FirewallAPI.dll,-28752"}


def parse(rule: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for token in rule.split("|")[1:-1]:
        key, _, value = token.partition("=")
        fields.setdefault(key, []).append(value)
    return fields


@pytest.fixture
def windows_strings(shared: Path) -> dict[str, dict[str, list[str]]]:
    path = shared / "samples" / "gpo" / "predefined-rule-strings.tsv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {r["rule_id"]: parse(r["rule_string_as_seen"]) for r in rows if r["embedctxt"] in GROUPS}


def test_every_field_matches_what_windows_wrote(windows_strings: dict[str, dict[str, list[str]]]) -> None:
    groups = load_file(CATALOG_DIR / "windows.yaml").data["groups"]
    covered = set()
    for group in groups.values():
        for rule in group["rules"]:
            for variant in rule["windows_rules"]:
                seen = windows_strings[variant["id"]]
                covered.add(variant["id"])
                ctx = variant["id"]
                assert seen["Dir"] == [rule["direction"]], ctx
                assert seen["Protocol"] == [PROTOCOLS[rule["protocol"]]], ctx
                ports = [str(p) for p in rule.get("local_ports", [])]
                if ports == ["$remote_desktop"]:
                    ports = ["3389"]
                assert seen.get("LPort", []) == ports, ctx
                assert seen.get("RPort", []) == [str(p) for p in rule.get("remote_ports", [])], ctx
                icmp = seen.get("ICMP4", []) + seen.get("ICMP6", [])
                assert icmp == rule.get("icmp_types", []), ctx
                assert seen.get("App") == [rule["program"]], ctx
                assert seen.get("Svc", []) == ([rule["service"]] if "service" in rule else []), ctx
                assert seen["Name"] == [rule["name_resource"]], ctx
                assert seen["Desc"] == [rule["description_resource"]], ctx
                assert seen["EmbedCtxt"] == [group["embed_context"]], ctx
                # No Profile token means every profile.
                assert seen.get("Profile", ["Domain", "Private", "Public"]) == variant["profiles"], ctx
                remote = sorted(set(seen.get("RA4", []) + seen.get("RA6", [])))
                assert remote == variant.get("remote_addresses", []), ctx
                edge = "DeferToApp" if seen.get("Edge") == ["TRUE"] and seen.get("Defer") == ["App"] else None
                assert rule.get("edge_traversal") == edge, ctx
    assert covered == set(windows_strings), sorted(set(windows_strings) - covered)
