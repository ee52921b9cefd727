"""The lint checks by code: the table the matrix's ``acknowledge:`` keys are checked against.

Severities: ``error`` (the policy would not work as written; a build refuses it),
``warning`` (worth changing; ``--strict`` makes it fatal), ``note`` (worth knowing;
never fatal).

Codes are stable: a retired check keeps its number, unused. What each check means,
with its fix, is in docs/lint.md; the checks themselves are in :mod:`builder.lint`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    severity: str
    title: str


CHECKS = {
    c.code: c
    for c in (
        Check("CMFW100", "unused-acknowledgement", "warning", "An acknowledgement that no finding needs"),
        Check("CMFW101", "inbound-any", "warning", "Inbound rule open to any remote address"),
        Check("CMFW102", "management-beyond-domain", "warning", "Inbound management rule on the Private or Public profile"),
        Check("CMFW103", "client-push", "warning", "Client push installation enabled"),
        Check("CMFW104", "remote-assistance-legacy", "warning", "Remote Assistance through the legacy Helpsvc.exe recipe"),
        Check("CMFW105", "broad-variant", "warning", "A broad variant where a narrower one does the job"),
        Check("CMFW106", "sup-https-port", "error", "Software update point HTTPS port that WSUS does not use"),
        Check("CMFW107", "sup-http-closed", "warning", "Software update point HTTPS without HTTP"),
        Check("CMFW108", "wake-on-lan-port", "warning", "Wake On LAN port differs between site and client settings"),
        Check("CMFW109", "overlapping-rules", "warning", "Two rules of a policy let the same traffic through"),
        Check("CMFW110", "local-rules-ignored", "warning", "Local rules ignored on a profile the feature's GPO rules do not cover"),
        Check("CMFW111", "outbound-allowed", "warning", "Outbound rules while the policy allows outbound traffic"),
        Check("CMFW112", "dsc-local-store-off", "error", "A profile setting DSC firewall mode cannot apply without disabling its own rules"),
        Check("CMFW113", "intune-left-out", "warning", "A rule left out of the policy's Intune documents (unsupported: omit)"),
        Check("CMFW114", "wide-scope", "warning", "Inbound rule open to public addresses or to more than a /8"),
        Check("CMFW115", "netbios-domain", "warning", "The domain looks like a NetBIOS name, not a DNS name"),
        Check("CMFW116", "link-to-root-or-dcs", "warning", "A GPO linked to the domain root or to the Domain Controllers OU"),
        Check("CMFW117", "predefined-rule-ids", "note", "Windows' own rule IDs: other GPOs setting the same IDs compete by precedence"),
        Check("CMFW118", "deprecated-feature", "warning", "A feature ConfigMgr no longer supports"),
    )
}
CODES = tuple(CHECKS)
SEVERITIES = ("error", "warning", "note")
#: Where each code is explained, relative to the repository (docs/lint.md has a row per code).
DOCS = "docs/lint.md"
