"""Windows' port and address keywords: every spelling and property in one table.

A rule may name a port or an address by keyword instead of a number (MS-GPFAS
2.2.2.19, ``LPORT-KEYWORD-VAL``, ``RPORT-KEYWORD-VAL``, ``ADDRESS-KEYWORD-VAL``).
cmfw's model spells them as PowerShell's NetSecurity module does where it can; the
rule string has its own token names and versions, and NetworkingDsc accepts only
some of them. Every module that needs one of these facts reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PortKeyword:
    """A port keyword. ``local``: it names a port on this machine (else the remote one).

    ``token`` is the rule-string token that carries it, ``version`` the schema version
    that introduced the keyword itself, ``netsecurity`` how NetSecurity (and so
    NetworkingDsc) spells it, or ``None`` when it cannot express it.
    """

    name: str
    local: bool
    token: str
    version: tuple[int, int] = (2, 10)
    netsecurity: str | None = None
    meaning: str = ""


@dataclass(frozen=True)
class AddressKeyword:
    """An address keyword. ``token`` is its rule-string value; ``dual``: written once per
    address family (``RA4=LocalSubnet|RA6=LocalSubnet``, schema 2.0) rather than in the
    2.20 tokens ``RA42``/``RA62``. ``netsecurity``: whether NetSecurity accepts it."""

    name: str
    token: str
    dual: bool
    netsecurity: bool = True
    meaning: str = ""


PORT_KEYWORDS = (
    PortKeyword("RPC", True, "LPort", netsecurity="RPC",
                meaning="the dynamic port an RPC server of the rule's service registered with the endpoint mapper"),
    PortKeyword("RPC-EPMap", True, "LPort", netsecurity="RPCEPMap",
                meaning="TCP 135 of the RPC endpoint mapper (RPCSS)"),
    PortKeyword("Teredo", True, "LPort", netsecurity="Teredo",
                meaning="the UDP port the Teredo client (iphlpsvc) was mapped to"),
    PortKeyword("IPHTTPSIn", True, "LPort2_10", netsecurity="IPHTTPSIn", meaning="IP-HTTPS, inbound"),
    PortKeyword("IPTLSIn", True, "LPort2_10", meaning="IP-TLS, inbound"),
    PortKeyword("Ply2Disc", True, "LPort2_20", netsecurity="PlayToDiscovery", meaning="Play To discovery"),
    PortKeyword("DHCP", True, "LPort2_20", meaning="the DHCP client port"),
    PortKeyword("mDNS", True, "LPort2_20", version=(2, 25), meaning="multicast DNS"),
    PortKeyword("TcpCDPSvc", True, "LPort2_20", version=(2, 29), meaning="the Connected Devices Platform service"),
    PortKeyword("IPHTTPSOut", False, "RPort2_10", netsecurity="IPHTTPSOut", meaning="IP-HTTPS, outbound"),
    PortKeyword("IPTLSOut", False, "RPort2_10", meaning="IP-TLS, outbound"),
    PortKeyword("CortanaOut", False, "RPort2_10", version=(2, 28), meaning="Cortana, outbound"),
)

ADDRESS_KEYWORDS = (
    AddressKeyword("LocalSubnet", "LocalSubnet", dual=True, meaning="the subnets of this machine's interfaces"),
    AddressKeyword("DNS", "DNS", dual=True, meaning="this machine's DNS servers"),
    AddressKeyword("DHCP", "DHCP", dual=True, meaning="this machine's DHCP servers"),
    AddressKeyword("WINS", "WINS", dual=True, meaning="this machine's WINS servers"),
    AddressKeyword("DefaultGateway", "DefaultGateway", dual=True, meaning="this machine's default gateways"),
    AddressKeyword("Intranet", "IntrAnet", dual=False, meaning="the address ranges configured as intranet"),
    AddressKeyword("Internet", "IntErnet", dual=False, meaning="every address that is not intranet"),
    AddressKeyword("IntranetRemoteAccess", "RmtIntrAnet", dual=False, meaning="the remote-access intranet ranges"),
    AddressKeyword("PlayToDevice", "Ply2Renders", dual=False, meaning="Play To renderers"),
    AddressKeyword("CaptivePortal", "CaptivePortal", dual=False, netsecurity=False, meaning="captive portal addresses"),
)

PORT = {k.name: k for k in PORT_KEYWORDS}
ADDRESS = {k.name: k for k in ADDRESS_KEYWORDS}

LOCAL_PORT_NAMES = tuple(k.name for k in PORT_KEYWORDS if k.local)
REMOTE_PORT_NAMES = tuple(k.name for k in PORT_KEYWORDS if not k.local)
ADDRESS_NAMES = tuple(k.name for k in ADDRESS_KEYWORDS)
