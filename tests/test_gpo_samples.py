"""Real GPMC backups (reference samples): our readers, checks and XSDs accept them."""

from pathlib import Path

import pytest

from builder.check import check_path
from builder.gpo.xsd import SCHEMAS, xsd_problems
from builder.inspect import inspect


@pytest.fixture
def samples(shared: Path) -> Path:
    return shared / "samples" / "gpo"


def test_sn_backups_hold_217_rules(samples: Path) -> None:
    gpos = inspect(str(samples / "steveunderscoren-sn-gpo"))
    assert {g.name: len(g.rules) for g in gpos} == {
        "SN-Domain Firewall Baseline": 93,
        "SN-Server Role - Remote Administration firewall Baseline": 54,
        "SN-Tier X Firewall Baseline": 70,
    }
    assert all(not g.problems for g in gpos)
    assert {g.policy_version for g in gpos} == {534}


def test_each_sn_backup_folder_and_registry_pol_agree(samples: Path) -> None:
    for folder in sorted((samples / "steveunderscoren-sn-gpo").glob("{*}")):
        [from_folder] = inspect(str(folder))
        [from_pol] = inspect(str(folder / "DomainSysvol" / "GPO" / "Machine" / "registry.pol"))
        assert from_folder.rules == from_pol.rules and from_folder.backup_id == folder.name


def test_nsa_baseline_profile_settings(samples: Path) -> None:
    [gpo] = inspect(str(samples / "nsa-shb-windows-firewall"))
    assert gpo.name == "DoD Windows 10 STIG - Firewall (SHB v10.1.0)" and gpo.rules == [] and gpo.policy_version == 538
    settings = {(s.profile, s.name): s.value for s in gpo.profile_settings}
    for profile in ("Domain", "Private", "Public"):
        assert settings[(profile, "EnableFirewall")] == 1
        assert settings[(profile, "DefaultInboundAction")] == 1
        assert settings[(profile, "DefaultOutboundAction")] == 0
        assert settings[(profile, "LogFileSize")] == 16384
        assert settings[(profile, "LogDroppedPackets")] == settings[(profile, "LogSuccessfulConnections")] == 1
    assert settings[("Public", "AllowLocalPolicyMerge")] == 0
    assert settings[("Public", "AllowLocalIPsecPolicyMerge")] == 0
    assert ("Domain", "AllowLocalPolicyMerge") not in settings
    assert len(settings) == 23


@pytest.mark.parametrize("name", ["steveunderscoren-sn-gpo", "nsa-shb-windows-firewall"])
def test_check_accepts_gpmc_backups(samples: Path, name: str) -> None:
    report = check_path(samples / name)
    assert report.ok, report.problems


def test_check_finds_the_files_an_incomplete_copy_lacks(samples: Path) -> None:
    # The troennes sample keeps only some files of its backup; Backup.xml still names the others.
    report = check_path(samples / "troennes-private-secure-windows" / "BasicSecComputer")
    assert sorted(p.message for p in report.problems) == [
        "names DomainSysvol\\GPO\\Machine\\microsoft\\windows nt\\Audit\\audit.csv, which is not in the backup",
        "names DomainSysvol\\GPO\\Machine\\microsoft\\windows nt\\SecEdit\\GptTmpl.inf, which is not in the backup",
    ]


def test_every_sample_xml_file_validates(samples: Path) -> None:
    checked = 0
    for path in sorted(samples.rglob("*.xml")):
        schema = SCHEMAS.get(path.name) or ("manifest.xsd" if "manifest" in path.name else None)
        if schema:
            assert xsd_problems(str(path), path.read_bytes(), schema) == [], path
            checked += 1
    assert checked == 17


def test_lgpo_text_sample(samples: Path) -> None:
    [gpo] = inspect(str(samples / "troennes-private-secure-windows" / "BasicPrivacy-Win10-21H2-Enterprise-machine.lgpo.txt"))
    [rule] = gpo.rules
    assert (rule.action, rule.direction, rule.name) == ("Block", "Out", "Block outbound Cortana")
