"""``cmfw init``: a starter matrix that lists every feature, commented.

The text is generated from the catalog so it never falls behind it; a test checks
that it loads, resolves and builds as written.
"""

from __future__ import annotations

from pathlib import Path

from .catalog import Catalog, load_catalog
from .errors import OutputError

#: Features switched on in the starter: what nearly every client needs, and nothing
#: that opens an inbound port without an address set to scope it.
ENABLED = ("client-requests", "client-notification", "software-updates", "remote-control", "wake-up-proxy")

EXAMPLES = {"http_alternate": "8080", "https_alternate": "8443"}


def starter_matrix(catalog: Catalog | None = None) -> str:
    catalog = catalog or load_catalog()
    width = max(len(f) for f in catalog.features) + 4
    out = [
        "# cmfw feature matrix: which ConfigMgr features your clients use, with which ports",
        "# and address scopes. `cmfw validate` checks it, `cmfw build` turns it into policy.",
        "# Format: docs/matrix.md in the cmfw repository. Catalog: `cmfw features [NAME]`.",
        "version: 1",
        "domain: corp.example.com        # the Active Directory domain the GPOs are for",
        "",
        "# ConfigMgr port settings; everything not set keeps the default shown.",
        "ports:",
    ]
    for param in catalog.parameters.values():
        if param.section != "ports" or param.kind == "software-update-points":
            continue
        value = catalog.parameter_value(param.name)
        title = param.title
        if value is None:
            # An optional port: show an example value, and say it is off by default.
            value, title = EXAMPLES.get(param.name, "1"), f"{title} (unset by default)"
        line = f"{param.name}: {value}" if param.name in ("http", "https") else f"# {param.name}: {value}"
        out.append(f"  {line.ljust(32)}# {title}")
    out += [
        "  # software_update_points:      # one entry per WSUS port pair; HTTPS = HTTP + 1 (443 for 80)",
        "  #   - {http: 8530}",
        "",
        "# Named address sets. A set named like a role (site_servers, consoles,",
        "# management_points, ...) is used by every feature that needs that role.",
        "# The addresses below are documentation examples: replace them.",
        "addresses:",
        "  site_servers: [192.0.2.10]",
        "  consoles: [192.0.2.64/26]",
        "",
        "policies:",
        "  - name: ConfigMgr Clients",
        "    profiles: [Domain]            # least privilege: the Domain profile only",
        "    outbound_rules: true          # false when outbound traffic is allowed anyway",
        "    features:",
    ]
    for feature in catalog.features.values():
        variants = [v for v in feature.variants if v != "default"]
        hint = f" (variants: {', '.join(variants)})" if variants else ""
        entry = f"- {feature.id}" if feature.id in ENABLED else f"# - {feature.id}"
        out.append(f"      {entry.ljust(width + 2)}# {feature.title}{hint}")
    out += [
        "    # custom_rules:               # rules of your own, written out in full",
        "    #   - id: Agent",
        "    #     name: Contoso agent (TCP-In)",
        "    #     direction: In",
        "    #     protocol: TCP",
        "    #     local_ports: [8080]",
        "    #     from: consoles",
        "    # links:                      # where Import-CmfwGpo.ps1 -Link / deploy-samba.sh --link link the GPO",
        "    #   - OU=Clients,DC=corp,DC=example,DC=com",
        "    # acknowledge:                # lint findings (cmfw lint) accepted on purpose, with the reason",
        "    #   CMFW103: Client push stays until the software update point installs clients.",
        "",
    ]
    return "\n".join(out)


def write_starter(path: str | Path, *, force: bool = False, catalog: Catalog | None = None) -> None:
    """Write :func:`starter_matrix` to ``path``; an existing file needs ``force``."""
    target = Path(path)
    data = starter_matrix(catalog).encode("utf-8")
    try:
        if target.exists() and not force:
            raise OutputError(f"{target}: already exists; use --force to overwrite it")
        if target.is_dir():
            raise OutputError(f"{target}: is a directory")
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            what = "is a file, not a folder" if parent.exists() else "directory does not exist"
            raise OutputError(f"{parent}: {what}")
        _replace(target, parent, data)
    except OSError as exc:
        # Name the file asked for, not the temporary one beside it (a random name).
        raise OutputError.from_os(OSError(exc.errno, exc.strerror, str(target)), target, "writing the starter matrix") from None


def _replace(target: Path, parent: Path, data: bytes) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
