"""The shipped catalog: schema, completeness against the seed page, and loader checks."""

import shutil
from pathlib import Path

import pytest

from builder.catalog import load_catalog, load_catalog_from
from builder.catalog.loader import CATALOG_DIR, FILES
from builder.errors import InputError
from builder.catalog.listing import catalog_document
from builder.jsonschemas import schema_problems
from builder.freetext import text_problem
from builder.yamlsource import load_file

SEED_FEATURES = {
    "console-queries", "client-push", "client-install-group-policy", "client-requests",
    "client-notification", "remote-control", "remote-assistance", "remote-desktop",
    "wake-up-proxy", "remote-diagnostics", "fallback-status-point",
    "client-install-software-update-point", "client-install-manual",
    "client-install-software-distribution",
}
NEWER_FEATURES = {
    "peer-cache", "branchcache", "delivery-optimization", "cloud-management-gateway",
    "state-migration-point", "cloud-distribution-point", "express-updates", "multicast",
    "pxe-distribution-point", "global-catalog", "ndes-policy-module", "unc-shares",
    "content-download", "software-updates",
}


@pytest.mark.parametrize("name", FILES)
def test_data_files_match_the_catalog_schema(name: str) -> None:
    doc = load_file(CATALOG_DIR / name)
    assert schema_problems(doc, "catalog.schema.json") == []


def test_every_seed_and_newer_feature_is_catalogued() -> None:
    features = set(load_catalog().features)
    assert SEED_FEATURES <= features
    assert NEWER_FEATURES <= features


def rules_of(feature: str, variant: str | None = None) -> dict:
    doc = catalog_document(load_catalog(), [feature])
    [data] = doc["features"]
    chosen = variant or data["default_variant"]
    [v] = [v for v in data["variants"] if v["name"] == chosen]
    return {r["selector"]: r for r in v["rules"]}


def test_seed_facts() -> None:
    [rc] = rules_of("remote-control").values()
    assert (rc["direction"], rc["protocol"], rc["local_ports"]) == ("In", "TCP", ["2701"])
    assert rc["source"] == {"doc": "seed", "section": "Remote Control"}
    [cn] = rules_of("client-notification").values()
    assert (cn["direction"], cn["protocol"], cn["remote_ports"]) == ("Out", "TCP", ["10123"])
    wup = rules_of("wake-up-proxy")
    assert wup["Proxy-UDP-In"]["local_ports"] == ["25536"]
    assert wup["Proxy-UDP-Out"]["remote_ports"] == ["25536"]
    assert (wup["WOL-UDP-Out"]["protocol"], wup["WOL-UDP-Out"]["remote_ports"]) == ("UDP", ["9"])
    assert {wup[s]["icmp_types"][0] for s in ("Echo-ICMPv4-In", "Echo-ICMPv4-Out")} == {"8:*"}
    assert all(r["remote"] == {"addresses": ["LocalSubnet"]} for r in wup.values())
    cr = rules_of("client-requests")
    assert (cr["HTTP-Out"]["remote_ports"], cr["HTTPS-Out"]["remote_ports"]) == (["80"], ["443"])
    assert rules_of("software-updates")["HTTPS-Out"]["remote_ports"] == ["8531"]
    [statview] = rules_of("console-queries").values()
    assert statview["program"].endswith(r"\AdminConsole\bin\i386\statview.exe")


def test_client_push_port_table_and_predefined_groups_are_expanded() -> None:
    seed = rules_of("client-push", "seed")
    smb = seed["FPS-SMB-In"]
    assert (smb["protocol"], smb["local_ports"], smb["program"]) == ("TCP", ["445"], "System")
    assert smb["windows"]["rule_ids"] == ["FPS-SMB-In-TCP-NoScope", "FPS-SMB-In-TCP"]
    assert seed["WMI-RPCSS-In"]["local_ports"] == ["135"]
    assert seed["RPC-EPMap-UDP-In"]["protocol"] == "UDP" and seed["RPC-EPMap-UDP-In"]["local_ports"] == ["135"]
    assert seed["RPC-Dynamic-In"]["local_ports"] == ["RPC"]
    assert {"FPS-SMB-Out", "FPS-SpoolSvc-In", "FPS-NB-Session-In"} <= set(seed)  # the whole group, in and out
    minimal = rules_of("client-push")
    # WMI's async callbacks (unsecapp.exe) go to the caller, the site server: not needed here.
    assert set(minimal) == {"FPS-SMB-In", "FPS-ICMP4-ERQ-In", "WMI-RPCSS-In", "WMI-WINMGMT-In"}
    assert "WMI-ASYNC-In" in seed
    assert all(r["remote"] == {"role": "site_servers"} for r in minimal.values())


def test_remote_assistance_variants() -> None:
    assert set(rules_of("remote-assistance", "legacy")) >= {"Helpsvc-In", "TCP135-In", "RDP-UserMode-TCP-In"}
    modern = rules_of("remote-assistance")
    assert modern["RA-MSRA-In"]["program"] == r"%SystemRoot%\system32\msra.exe"
    assert "Helpsvc-In" not in modern


def test_disagreements_with_the_seed_are_noted() -> None:
    catalog = load_catalog()
    for fid in ("remote-assistance", "wake-up-proxy", "client-install-group-policy", "express-updates", "remote-diagnostics"):
        assert any(n.source.doc != "seed" or "seed" in n.text for n in catalog.features[fid].notes), fid


def test_every_rule_is_sourced_and_carriable() -> None:
    catalog = load_catalog()
    for feature in catalog.features.values():
        assert feature.source.doc in catalog.sources
        for variant in feature.variants.values():
            for t in variant.rules:
                assert t.source is not None and t.source.doc in catalog.sources, (feature.id, t.selector)
                for text in (t.name, t.description, t.program, t.service, f"ConfigMgr {feature.title}"):
                    assert text is None or text_problem(text, in_rule_string=True) is None, (feature.id, text)
                if t.direction == "In":
                    assert not t.remote.is_any or feature.id in ("pxe-distribution-point", "delivery-optimization")


def test_required_features_exist() -> None:
    catalog = load_catalog()
    assert catalog.features["client-notification"].requires == ("client-requests",)


# -- the loader refuses broken data, naming the place -----------------------------------


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    for name in FILES:
        shutil.copy(CATALOG_DIR / name, tmp_path / name)
    return tmp_path


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    "name, old, new, message",
    [
        ("features.yaml", "local_ports: [$wake_up_proxy]", "local_ports: [$wakeup_proxy]", "unknown parameter '$wakeup_proxy'"),
        ("features.yaml", "remote: {role: consoles}", "remote: {role: konsoles}", "unknown role 'konsoles'"),
        ("features.yaml", "rules: [SMB-In, ICMP4-ERQ-In]", "rules: [SMB-Inn, ICMP4-ERQ-In]", "group 'file-and-printer-sharing' has no rule 'SMB-Inn'"),
        ("features.yaml", "requires: [client-requests]\n    notes:\n      - source: {doc: seed, section: Client Notification}",
         "requires: [client-notification]\n    notes:\n      - source: {doc: seed, section: Client Notification}", "requires itself"),
        ("features.yaml", "        local_ports: [2701]\n        remote: {role: consoles}", "        local_ports: [2701]", "must say who may connect"),
        ("features.yaml", "local_ports: [2701]", "remote_ports: [2701, 2701]\n        icmp_types: ['8:*']", "ICMP types need protocol"),
        ("catalog.yaml", "default_from: http\n", "default_from: htp\n", "unknown parameter 'htp'"),
    ],
)
def test_loader_refuses_broken_catalogs(catalog_copy: Path, name: str, old: str, new: str, message: str) -> None:
    edit(catalog_copy, name, old, new)
    with pytest.raises(InputError) as info:
        load_catalog_from(catalog_copy)
    lines = info.value.lines()
    assert any(message in line for line in lines), lines
    assert all(line.startswith("builder/catalog/") for line in lines)
