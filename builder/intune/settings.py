"""The settings-catalog vocabulary of Intune's "Windows Firewall Rules" template, with evidence.

Every identifier cmfw writes into an Intune document comes from this module, and
each carries how sure we are of it (``../shared/reference/intune-formats.md`` §1.4):

* ``verified``: seen in a real exported or accepted Graph policy;
* ``community``: only in community tools or write-ups (two agreeing sources at best);
* ``inferred``: derived from a schema or value map, never seen in a real policy.

The deploy script asks the tenant for the template's setting templates and refuses
to post when an ID it uses is unknown there, so a wrong ``community`` or
``inferred`` ID fails before it can create a half-broken policy. docs/intune.md
prints the table :data:`CHILDREN` holds.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every setting ID of a firewall rule starts with this; ``{firewallrulename}`` is literal.
PREFIX = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}"
TEMPLATE_ID = "19c8aa67-f286-4861-9aa0-f23541d31680_1"
#: The ConfigMgr tenant-attach variant: recognised when read, never written (docs/intune.md).
CONFIGMGR_TEMPLATE_ID = "48da42ed-5df7-485e-8b9d-4844ed5a92bd_1"
PLATFORMS = "windows10"
TECHNOLOGIES = "mdm,microsoftSense"
ROLE_SCOPE_TAGS = ("0",)
#: The group setting collection (one element per rule) and its instance template.
GROUP_TEMPLATE_ID = "76c7a8be-67d2-44bf-81a5-38c94926b1a1"
#: Rules per policy: "Each instance of this profile supports up to 150 custom rules".
MAX_RULES = 150

ODATA = "#microsoft.graph.deviceManagementConfiguration"
SETTING = ODATA + "Setting"
GROUP_COLLECTION = ODATA + "GroupSettingCollectionInstance"
GROUP_VALUE = ODATA + "GroupSettingValue"
SIMPLE = ODATA + "SimpleSettingInstance"
SIMPLE_COLLECTION = ODATA + "SimpleSettingCollectionInstance"
CHOICE = ODATA + "ChoiceSettingInstance"
CHOICE_COLLECTION = ODATA + "ChoiceSettingCollectionInstance"
CHOICE_VALUE = ODATA + "ChoiceSettingValue"
STRING_VALUE = ODATA + "StringSettingValue"
INTEGER_VALUE = ODATA + "IntegerSettingValue"
INSTANCE_REFERENCE = ODATA + "SettingInstanceTemplateReference"
VALUE_REFERENCE = ODATA + "SettingValueTemplateReference"

#: The instance type of each kind of child, and the key its value goes under.
KINDS = {
    "string": (SIMPLE, "simpleSettingValue"),
    "integer": (SIMPLE, "simpleSettingValue"),
    "strings": (SIMPLE_COLLECTION, "simpleSettingCollectionValue"),
    "choice": (CHOICE, "choiceSettingValue"),
    "choices": (CHOICE_COLLECTION, "choiceSettingCollectionValue"),
}


@dataclass(frozen=True)
class Option:
    """One choice of a choice setting: ``<child id>_<suffix>``, what it means, how sure we are."""

    suffix: str
    meaning: str
    confidence: str


@dataclass(frozen=True)
class Child:
    """One per-rule setting: ``<PREFIX>_<suffix>``, the Firewall CSP node it mirrors."""

    suffix: str
    node: str
    kind: str
    confidence: str
    instance_template: str | None = None
    value_template: str | None = None
    template_confidence: str = ""
    options: tuple[Option, ...] = ()
    #: Whether cmfw writes it (the others are only read back from foreign policies).
    written: bool = True
    evidence: str = ""

    @property
    def id(self) -> str:
        return f"{PREFIX}_{self.suffix}"

    def choice(self, suffix: str) -> str:
        """The full item ID of an option; Graph refuses the bare option."""
        if suffix not in {o.suffix for o in self.options}:
            raise KeyError(f"{self.suffix} has no option {suffix!r}")
        return f"{self.id}_{suffix}"


CHILDREN = {
    c.suffix: c
    for c in (
        Child("name", "Name", "string", "verified", "116a696a-3270-493e-9938-c336cf05ea98",
              "12994a33-6185-4c3d-a0e8-69316f6293ea", "verified", evidence="OIB export; accepted 2025 payload"),
        Child("description", "Description", "string", "verified", "6c85987f-3adb-4f8d-93e1-4f23e238121b",
              "18ab9c3a-b6be-4995-9438-289c34eee294", "verified", evidence="OIB export; accepted 2025 payload"),
        Child("enabled", "Enabled", "choice", "verified", "4e150e1a-6a10-49b2-a20c-911bf44ea767",
              "7562f243-f281-4f6f-b7e6-ecdb76dc1f1b", "verified",
              (Option("1", "enabled", "verified"), Option("0", "disabled", "inferred")),
              evidence="_1 in both real policies; _0 from Microsoft365DSC's value map"),
        Child("direction", "Direction", "choice", "verified", "2114ad3d-157c-47d3-b646-60fcf50949c7",
              "8b45e13b-952d-4164-bbac-37f4e97b7985", "verified",
              (Option("in", "inbound", "community"), Option("out", "outbound", "verified")),
              evidence="_out in both real policies; _in in two community bodies"),
        Child("action_type", "Action/Type", "choice", "verified", "0565cfd1-21c2-4965-b87f-6bde2b8d2cbd",
              "419773d8-bffe-4d6f-a91f-286871963f5c", "verified",
              (Option("0", "block", "verified"), Option("1", "allow", "verified")),
              evidence="both values in real policies"),
        Child("protocol", "Protocol", "integer", "verified", "b8f45398-674f-40c3-ab18-e002aa8e589b",
              "27d0d86c-d87d-473b-a41c-eef503d8baec", "verified", evidence="accepted 2025 payload (6, 17)"),
        Child("localportranges", "LocalPortRanges", "strings", "community", "b57dc83e-5bf3-439a-b923-4c3e49ac9e2d",
              template_confidence="community", evidence="a community conversion script"),
        Child("remoteportranges", "RemotePortRanges", "strings", "verified", "de5d058e-ab1d-4772-81f5-32b6a35b4587",
              template_confidence="community", evidence="value in the accepted 2025 payload; template ID community"),
        Child("localaddressranges", "LocalAddressRanges", "strings", "community", "8b5de251-c683-4440-91d6-3b679b0aa5aa",
              template_confidence="community", evidence="community scripts"),
        Child("remoteaddressranges", "RemoteAddressRanges", "strings", "community", "bf9855fc-f2c0-4241-94cf-94cf823f1c1c",
              template_confidence="community", evidence="community scripts"),
        Child("app_filepath", "App/FilePath", "string", "verified", "dd825fa0-961b-4fcc-a6b3-4d2dc0419d4e",
              "8c94fefa-67e5-40b5-8d97-6fca4f0c1e98", "community", evidence="value in the OIB export; template IDs community"),
        Child("app_servicename", "App/ServiceName", "string", "verified", "1bd709fe-1cd4-4cc4-9a6f-4cb7f104da66",
              "c77294ec-795e-43dc-9af6-775b3b2f911d", "community", evidence="value in the accepted 2025 payload; template IDs community"),
        Child("app_packagefamilyname", "App/PackageFamilyName", "string", "community", "1a91448b-b04e-4cb0-a80c-10ec64addfda",
              "a9b123c6-1c6f-4de3-8840-34f91dfb9422", "community", written=False, evidence="community scripts"),
        Child("interfacetypes", "InterfaceTypes", "choices", "verified", "406b5410-e52e-4df3-933f-1ee6e550a5c8",
              template_confidence="community",
              options=(
                  Option("all", "all interface types", "verified"),
                  Option("lan", "wired (LAN)", "community"),
                  Option("wireless", "wireless", "inferred"),
                  Option("remoteaccess", "remote access (VPN)", "inferred"),
                  Option("mobilebroadband", "mobile broadband", "inferred"),
                  Option("mbb", "mobile broadband (short form)", "inferred"),
              ),
              evidence="_all in the OIB export; _lan in a Microsoft365DSC test mock; the rest from its value map"),
        Child("profiles", "Profiles", "choices", "verified", "7dc9b243-cdd2-4359-b5f5-0c48edb8fd34",
              template_confidence="verified",
              options=(
                  Option("1", "Domain", "verified"),
                  Option("2", "Private", "community"),
                  Option("4", "Public", "community"),
                  Option("2147483647", "all profiles", "verified"),
              ),
              evidence="_1 (2025 payload) and _2147483647 (OIB export); _2, _4 in two community bodies"),
        Child("edgetraversal", "EdgeTraversal", "choice", "community", "fe674767-404d-4994-ac86-016f209851ee",
              "682b3827-caec-4378-99b3-0400c2c0537b", "unverified",
              (Option("1", "allowed", "community"), Option("0", "blocked", "community")),
              evidence="two community scripts; template IDs only in a commented-out block"),
        Child("localuserauthorizedlist", "LocalUserAuthorizedList", "strings", "community", "b11c8e7d-babc-4899-a4b4-04683b898faa",
              template_confidence="community", written=False, evidence="community scripts"),
        Child("remoteaddressdynamickeywords", "RemoteAddressDynamicKeywords", "strings", "community",
              written=False, evidence="two community readers; Microsoft365DSC property"),
        Child("policyappid", "PolicyAppId", "string", "inferred", written=False,
              evidence="from the Microsoft365DSC property name only"),
        Child("icmptypesandcodes", "IcmpTypesAndCodes", "strings", "inferred", written=False,
              evidence="from the Microsoft365DSC property name only; no real sample"),
    )
}

#: The order cmfw writes a rule's children in (the order of the accepted 2025 payload,
#: then the conditions); fixed, so the bytes only change when a rule does.
WRITE_ORDER = (
    "name", "description", "enabled", "direction", "action_type", "protocol", "localportranges",
    "remoteportranges", "localaddressranges", "remoteaddressranges", "app_filepath", "app_servicename",
    "interfacetypes", "profiles", "edgetraversal",
)

#: cmfw profile → option of ``_profiles``; all three together are written as "all".
PROFILE_OPTIONS = {"Domain": "1", "Private": "2", "Public": "4"}
ALL_PROFILES = "2147483647"

#: MS-GPFAS ``IFType=`` values → option of ``_interfacetypes`` (read: both MBB spellings).
INTERFACE_OPTIONS = {"lan": "lan", "wireless": "wireless", "remoteaccess": "remoteaccess", "mobilebroadband": "mobilebroadband"}
INTERFACE_TOKENS = {"lan": "Lan", "wireless": "Wireless", "remoteaccess": "RemoteAccess", "mobilebroadband": "MobileBroadband", "mbb": "MobileBroadband"}

#: Remote address keywords every version of the Firewall CSP documents (§2.3).
REMOTE_KEYWORDS = ("LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway")


def child_by_id(setting_id: str) -> Child | None:
    """The child a full setting ID names (``None`` for one cmfw does not know)."""
    if not setting_id.startswith(PREFIX + "_"):
        return None
    return CHILDREN.get(setting_id[len(PREFIX) + 1:])


def written_ids() -> dict[str, set[str]]:
    """Every identifier cmfw may write, by kind (the deploy script checks these in the tenant)."""
    return {
        "definitions": {PREFIX} | {c.id for c in CHILDREN.values() if c.written},
        "templates": {GROUP_TEMPLATE_ID} | {
            t for c in CHILDREN.values() if c.written for t in (c.instance_template, c.value_template) if t
        },
        "choices": {f"{c.id}_{o.suffix}" for c in CHILDREN.values() if c.written for o in c.options},
    }
