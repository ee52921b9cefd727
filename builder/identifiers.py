"""The identifiers cmfw derives: GPO GUIDs and rule IDs.

They are stable by construction (no random part), so the same matrix always gives
the same IDs, and every rule of a policy starts with the policy's prefix
``CMFW-<policy id>-``, which is what lets a tool find "this policy's rules" on a
machine.
"""

from __future__ import annotations

import unicodedata
import uuid

#: Namespace of the GPO GUIDs (UUIDv5 of "urn:cmfw:gpo" in the URL namespace). Changing
#: it changes every GPO GUID cmfw has ever produced: never do.
GPO_NAMESPACE = uuid.UUID("5dc36caf-97ad-5348-bb1a-8a7561e8c34d")

ID_PREFIX = "CMFW"


def gpo_guid(domain: str, policy_key: str) -> str:
    """The GPO GUID of a policy in its backup: the same domain and policy id (any case),
    the same GUID, whatever the policy's name. (Active Directory gives the GPO its own
    GUID when the GPO is created; the deploy scripts find it by its :func:`gpo_marker`.)"""
    key = unicodedata.normalize("NFC", policy_key).casefold()
    value = uuid.uuid5(GPO_NAMESPACE, f"{domain.lower()}\x00{key}")
    return "{" + str(value).upper() + "}"


#: The marker's shape; the deploy scripts parse the first line of a GPO's comment with it.
MARKER_PATTERN = r"^Managed by cmfw: domain ([^,]+), (?:owner ([^,]+), )?policy ([A-Za-z][A-Za-z0-9]*)\."


def gpo_marker(domain: str, owner: str, policy_key: str) -> str:
    """The first line of a deployed GPO's comment: who manages it, for which domain and
    policy id. The deploy scripts find a policy's GPO by it, whatever its display name."""
    who = f"owner {owner}, " if owner else ""
    return f"Managed by cmfw: domain {domain.lower()}, {who}policy {policy_key}. Edit the matrix, not this GPO."


#: The Intune marker's shape: the first line of the description of each Intune policy
#: cmfw deploys (Deploy-CmfwIntune.ps1 parses it; a GPO marker never matches it).
INTUNE_MARKER_PATTERN = (
    r"^Managed by cmfw: domain ([^,]+), (?:owner ([^,]+), )?policy ([A-Za-z][A-Za-z0-9]*), "
    r"Intune document ([0-9]+) of ([0-9]+)\."
)


def intune_marker(domain: str, owner: str, policy_key: str, part: int, parts: int) -> str:
    """The first line of an Intune policy's description: :func:`gpo_marker`'s words plus which
    of the policy's documents it is (a policy of more than 150 rules is several Intune
    policies). The deploy script finds, updates and lists orphans by it, whatever the name."""
    who = f"owner {owner}, " if owner else ""
    return (
        f"Managed by cmfw: domain {domain.lower()}, {who}policy {policy_key}, Intune document {part} of {parts}. "
        "Edit the matrix, not this Intune policy."
    )


def policy_prefix(policy_key: str) -> str:
    """What every rule ID of the policy starts with: ``CMFW-Workstations-``."""
    return f"{ID_PREFIX}-{policy_key}-"


def feature_rule_id(policy_key: str, feature_part: str, selector: str) -> str:
    """``CMFW-Workstations-RemoteControl-TCP-In`` (``selector`` is ``<rule key>-<In|Out>``)."""
    return f"{policy_prefix(policy_key)}{feature_part}-{selector}"


def custom_rule_id(policy_key: str, custom_id: str, direction: str) -> str:
    """``CMFW-Workstations-Custom-Agent-In`` for a rule of the matrix's ``custom_rules``."""
    return f"{policy_prefix(policy_key)}Custom-{custom_id}-{direction}"
