"""`rule_ids: predefined`: Windows' own IDs, names and groups for rules of Windows groups."""

from pathlib import Path
from typing import Callable

import pytest

from builder.errors import InputError
from builder.matrix import load_matrix
from builder.resolve import resolve

from .conftest import MINIMAL


def rules(write: Callable[..., Path], features: str, extra: str = "") -> dict:
    text = MINIMAL.replace("[client-requests, remote-control]", features) + "    rule_ids: predefined\n" + extra
    [policy] = resolve(load_matrix(write(text))).policies
    return {r.id: r for r in policy.rules}


def test_domain_rules_take_the_noscope_ids(write: Callable[..., Path]) -> None:
    got = rules(write, "[client-push, remote-control]")
    smb = got["FPS-SMB-In-TCP-NoScope"]
    assert (smb.name, smb.description, smb.group) == ("@FirewallAPI.dll,-28511", "@FirewallAPI.dll,-28514", "@FirewallAPI.dll,-28502")
    assert smb.remote_addresses == ("10.0.0.10",) and smb.profiles == ("Domain",)
    assert "WMI-WINMGMT-In-TCP-NoScope" in got
    assert "CMFW-Workstations-RemoteControl-TCP-In" in got  # not from a Windows group: cmfw's ID


def test_profiles_spanning_two_windows_rules_split(write: Callable[..., Path]) -> None:
    got = rules(write, "[client-push]", "    profiles: [Domain, Public]\n")
    assert got["FPS-SMB-In-TCP-NoScope"].profiles == ("Domain",)
    assert got["FPS-SMB-In-TCP"].profiles == ("Public",)


def test_windows_edge_traversal_comes_along(write: Callable[..., Path]) -> None:
    got = rules(write, "[{remote-assistance: {from: consoles}}]", "    profiles: [Domain]\n")
    assert got["RemoteAssistance-In-TCP-EdgeScope-Active"].edge_traversal == "DeferToApp"
    assert got["RemoteAssistance-DCOM-In-TCP-NoScope-Active"].edge_traversal is None


def test_two_features_that_agree_share_the_rule(write: Callable[..., Path]) -> None:
    got = rules(write, "[client-push, {remote-diagnostics: {variant: narrow, from: site_servers}}]")
    assert got["FPS-SMB-In-TCP-NoScope"].feature == "client-push,remote-diagnostics"


def test_two_features_that_disagree_are_an_error(write: Callable[..., Path]) -> None:
    with pytest.raises(InputError) as info:
        rules(write, "[client-push, {remote-diagnostics: {variant: narrow}}]")
    [line] = info.value.lines()
    assert "with predefined rule IDs, FPS-SMB-In-TCP-NoScope is needed by client-push and remote-diagnostics" in line
    assert "policies[0]" in line
