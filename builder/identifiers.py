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


def gpo_guid(domain: str, policy_name: str) -> str:
    """The stable GPO GUID of a policy: same domain and name (any case), same GUID."""
    name = unicodedata.normalize("NFC", policy_name).casefold()
    value = uuid.uuid5(GPO_NAMESPACE, f"{domain.lower()}\x00{name}")
    return "{" + str(value).upper() + "}"


def policy_prefix(policy_key: str) -> str:
    """What every rule ID of the policy starts with: ``CMFW-Workstations-``."""
    return f"{ID_PREFIX}-{policy_key}-"


def feature_rule_id(policy_key: str, feature_part: str, selector: str) -> str:
    """``CMFW-Workstations-RemoteControl-TCP-In`` (``selector`` is ``<rule key>-<In|Out>``)."""
    return f"{policy_prefix(policy_key)}{feature_part}-{selector}"


def custom_rule_id(policy_key: str, custom_id: str, direction: str) -> str:
    """``CMFW-Workstations-Custom-Agent-In`` for a rule of the matrix's ``custom_rules``."""
    return f"{policy_prefix(policy_key)}Custom-{custom_id}-{direction}"
