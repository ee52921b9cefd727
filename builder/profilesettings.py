"""Firewall profile settings: the matrix's words and the registry's (MS-GPFAS 2.2.3).

The matrix says ``default_inbound: block``; a GPO stores ``DefaultInboundAction = 1``
under ``...\\WindowsFirewall\\DomainProfile``. The model keeps the registry form
(:class:`~builder.model.ProfileSetting`), which is also what a GPO reader finds,
so builds and foreign backups compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .model import ProfileSetting, profile_rank

ROOT_KEY = r"SOFTWARE\Policies\Microsoft\WindowsFirewall"
LOGGING_VALUES = ("LogFilePath", "LogFileSize", "LogDroppedPackets", "LogSuccessfulConnections", "LogIgnoredRules")


@dataclass(frozen=True)
class Setting:
    """One matrix key: the registry value it sets and how its value converts."""

    key: str
    value_name: str
    to_registry: Callable[[Any], int | str]
    from_registry: Callable[[int | str], Any]


def _flag(value: Any) -> int:
    return 1 if value else 0


def _inverse(value: Any) -> int:
    return 0 if value else 1


def _action(value: Any) -> int:
    return 1 if value == "block" else 0


#: In the order GPMC writes them (NSA baseline), logging last.
SETTINGS = (
    Setting("enabled", "EnableFirewall", _flag, lambda v: v == 1),
    Setting("default_outbound", "DefaultOutboundAction", _action, lambda v: "block" if v == 1 else "allow"),
    Setting("default_inbound", "DefaultInboundAction", _action, lambda v: "block" if v == 1 else "allow"),
    Setting("allow_local_rules", "AllowLocalPolicyMerge", _flag, lambda v: v == 1),
    Setting("allow_local_ipsec_rules", "AllowLocalIPsecPolicyMerge", _flag, lambda v: v == 1),
    Setting("notifications", "DisableNotifications", _inverse, lambda v: v == 0),
    Setting("unicast_responses", "DisableUnicastResponsesToMulticastBroadcast", _inverse, lambda v: v == 0),
    Setting("log_path", "LogFilePath", str, str),
    Setting("log_max_size_kb", "LogFileSize", int, int),
    Setting("log_dropped_packets", "LogDroppedPackets", _flag, lambda v: v == 1),
    Setting("log_successful_connections", "LogSuccessfulConnections", _flag, lambda v: v == 1),
)
BY_KEY = {s.key: s for s in SETTINGS}

#: Settings that, at 0, make Windows ignore rules of the local store: in a GPO they keep
#: local rules out; written *to* the local store (DSC firewall mode) they would switch off
#: the very rules written there, so that mode leaves them out (lint error CMFW112).
LOCAL_MERGE = {
    "AllowLocalPolicyMerge": "AllowLocalFirewallRules = False",
    "AllowLocalIPsecPolicyMerge": "AllowLocalIPsecRules = False, which drops local connection security rules",
}
BY_VALUE = {s.value_name: s for s in SETTINGS}
_ORDER = {s.value_name: i for i, s in enumerate(SETTINGS)}


def from_matrix(profile_settings: dict[str, dict[str, Any]]) -> tuple[ProfileSetting, ...]:
    """``{Domain: {default_inbound: block}}`` → registry-form settings, in canonical order."""
    out = [
        ProfileSetting(profile, BY_KEY[key].value_name, BY_KEY[key].to_registry(value))
        for profile, values in profile_settings.items()
        for key, value in values.items()
    ]
    return sort_settings(out)


def sort_settings(settings: list[ProfileSetting]) -> tuple[ProfileSetting, ...]:
    return tuple(sorted(settings, key=lambda s: (profile_rank(s.profile), s.profile, _ORDER.get(s.name, 99), s.name)))


def registry_key(setting: ProfileSetting) -> str:
    """The registry key a setting lives under (``""`` profile = the WindowsFirewall key itself)."""
    if not setting.profile:
        return ROOT_KEY
    key = f"{ROOT_KEY}\\{setting.profile}Profile"
    return key + "\\Logging" if setting.name in LOGGING_VALUES else key


def describe(setting: ProfileSetting) -> str:
    """``default_inbound: block`` for known values, else the registry form."""
    known = BY_VALUE.get(setting.name)
    if known is None:
        return f"{setting.name} = {setting.value}"
    value = known.from_registry(setting.value)
    shown = str(value).lower() if isinstance(value, bool) else value
    return f"{known.key}: {shown}"
