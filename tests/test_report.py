"""report.html and report.md: complete, self-contained, escaped by construction."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html as lxml_html
from markdown_it import MarkdownIt

from builder.syntax import markdown as md
from builder.build import render
from builder.diff import diff_paths, format_markdown
from builder.formats import validate_files

from .conftest import EXAMPLE, GOLDEN

HOSTILE = '<script>alert("x")</script> & "quotes" \'single\' *bold* | pipe @team #1 :smile:'
HOSTILE_MATRIX = f"""\
version: 1
domain: corp.contoso.com
description: {json.dumps(HOSTILE)}
addresses:
  site_servers: [10.0.0.10]
  consoles: [10.20.0.0/24]
acknowledge:
  CMFW103: {json.dumps("<b>reason</b> " + HOSTILE)}
policies:
  - name: {json.dumps(HOSTILE)}
    id: Evil
    description: {json.dumps("<img src=x onerror=alert(1)>")}
    features: [client-requests, {{client-push: {{from: site_servers}}}}]
    custom_rules:
      - {{id: Tool, name: {json.dumps("<iframe src=//evil>")}, direction: In, protocol: TCP, local_ports: [4242], from: consoles}}
"""


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render(EXAMPLE, out_dir=GOLDEN).files


def visible_text(page: bytes) -> str:
    root = lxml_html.document_fromstring(page.decode("utf-8"))
    for script in root.iter("script", "style"):
        script.drop_tree()
    return " ".join(root.text_content().split())


def test_report_shows_every_policy_rule_and_identity(files: dict[str, bytes]) -> None:
    text = visible_text(files["report.html"])
    build = json.loads(files["build.json"])
    for policy in build["policies"]:
        assert policy["name"] in text and policy["gpo_guid"] in text and policy["backup_id"] in text
        for rule_id in policy["rule_ids"]:
            assert rule_id in text
    assert build["matrix"]["sha256"] in text and "cmfw 0.1.0" in text
    assert "ConfigMgr Clients - Workstations" in text and "Windows Firewall and port settings for clients" in text
    assert "Acknowledged: A booting PXE client has no address yet" in text


def test_report_grid_marks_features_per_policy(files: dict[str, bytes]) -> None:
    root = lxml_html.document_fromstring(files["report.html"].decode())
    grid = root.get_element_by_id("matrix").find(".//table")
    policies = [th.text_content() for th in grid.find("thead").iter("th")][1:]
    row = next(tr for tr in grid.find("tbody") if "client-push" in tr[0].text_content())
    marks = {policy: cell.text_content() for policy, cell in zip(policies, row[1:])}
    assert marks["ConfigMgr Member Servers"] == "✓seedin 135, 137, 138 +7 from site_servers" and marks["ConfigMgr Clients - Laptops"] == ""
    # The default variant is not named (client push's default is `minimal`); the scope is the set's name.
    assert marks["ConfigMgr Clients - Workstations"] == "✓in 135, 445, ICMP +1 from site_servers"
    rc = next(tr for tr in grid.find("tbody") if "remote-control" in tr[0].text_content())
    assert dict(zip(policies, (c.text_content() for c in rc[1:])))["ConfigMgr Console Workstations"] == "✓in 2701 from consoles"



def test_report_grid_says_why_a_feature_is_there(write: Callable[..., Path]) -> None:
    text = "version: 1\ndomain: corp.contoso.com\npolicies:\n  - name: Clients\n    features: [client-notification]\n"
    root = lxml_html.document_fromstring(render(write(text)).files["report.html"].decode())
    rows = {tr[0].text_content(): tr[1].text_content() for tr in root.get_element_by_id("matrix").find(".//tbody")}
    assert rows == {
        "Client requests client-requests": "✓via client-notificationoutbound only",
        "Client notification client-notification": "✓outbound only",
    }


def test_report_loads_nothing_from_anywhere(files: dict[str, bytes]) -> None:
    page = files["report.html"].decode()
    assert "Content-Security-Policy\" content=\"default-src 'none';" in page
    assert not re.search(r"\b(src|href)=\"(?!#)", page)
    assert validate_files({"report.html": files["report.html"]}) == []
    broken = page.replace("</footer>", '<img src="https://example.invalid/x.png"></footer>').encode()
    [problem] = validate_files({"report.html": broken})
    assert "refers outside the page" in problem.message
    for planted, expected in [
        ('<IMG SRC="//example.invalid/x">', "<img src='//example.invalid/x'> refers outside the page"),
        ('<form action="https://example.invalid/"></form>', "<form action='https://example.invalid/'> refers outside"),
        ('<img srcset="x.png 2x">', "<img srcset='x.png 2x'> refers outside"),
        ('<table background="x.png"></table>', "<table background='x.png'> refers outside"),
        ('<button formaction="/x">b</button>', "<button formaction='/x'> refers outside"),
        ('<a href="report.md">md</a>', "<a href='report.md'> refers outside"),
        ('<link rel="stylesheet" href="#x">', "<link> would load something"),
        ('<iframe></iframe>', "<iframe> would load something"),
    ]:
        found = validate_files({"report.html": page.replace("</footer>", planted + "</footer>").encode()})
        assert [p.message for p in found if expected in p.message], (planted, found)
    fine = page.replace("</footer>", '<a href="#lint">lint</a><img src="data:image/png;base64,AA=="></footer>')
    assert validate_files({"report.html": fine.encode()}) == []
    meta = '<meta http-equiv="Content-Security-Policy"'
    lax = page.replace(meta, meta + ' content="script-src *">' + meta, 1)  # the first one counts
    [problem] = validate_files({"report.html": lax.encode()})
    assert problem.message == "has no Content-Security-Policy forbidding external loads"
    for unreadable in (b"", page.encode()[:-1] + b"\xff", "<p>no head</p>".encode()):
        assert validate_files({"report.html": unreadable}), unreadable[-20:]


def test_hostile_names_are_only_text(write: Callable[..., Path]) -> None:
    result = render(write(HOSTILE_MATRIX))
    page = result.files["report.html"].decode()
    root = lxml_html.document_fromstring(page)
    assert len(list(root.iter("script"))) == 1  # ours, the table sorter
    assert not list(root.iter("img", "iframe", "b"))
    text = visible_text(result.files["report.html"])
    assert HOSTILE in text and "<img src=x onerror=alert(1)>" in text and "<iframe src=//evil>" in text
    assert "<b>reason</b>" in text
    assert validate_files({"report.html": result.files["report.html"]}) == []
    report_md = result.files["report.md"].decode()
    rendered = MarkdownIt("commonmark").enable("table").render(report_md)
    assert "<script>" not in rendered and "<b>" not in rendered
    assert html.escape(HOSTILE, quote=False) in rendered.replace("&quot;", '"')


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(lambda t: t.strip() == t))
def test_markdown_text_renders_as_itself(value: str) -> None:
    rendered = MarkdownIt("commonmark").enable("table").render("x " + md.text(value) + "\n")
    inner = rendered.strip().removeprefix("<p>").removesuffix("</p>")
    assert html.unescape(inner) == "x " + value


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(lambda t: t.strip() == t))
def test_markdown_cells_stay_in_their_column(value: str) -> None:
    table = "\n".join(md.table(["A", "B"], [[md.text(value), md.code(value)]])) + "\n"
    rendered = MarkdownIt("commonmark").enable("table").render(table)
    root = lxml_html.fragment_fromstring(rendered, create_parent="div")
    cells = root.findall(".//tbody/tr/td")
    assert len(cells) == 2 and cells[0].text_content() == value and cells[1].text_content() == value


def test_report_md_is_a_short_summary(files: dict[str, bytes]) -> None:
    text = files["report.md"].decode()
    assert text.startswith("### Windows Firewall policy for corp.contoso.com\n")
    assert (
        "| ConfigMgr Clients - Workstations | `{B3606D8A-432C-581D-BB73-070A108F4806}` | 55 | 24 | 31 | 0 open, 10 acknowledged "
        "| 63 of 63 as expected | `intune/Workstations.json` (50), 5 left out |"
    ) in text
    assert "**Lint: no open warnings or errors; 1 note**" in text and "35 acknowledged findings" in text
    assert "The GPO GUIDs are cmfw's, inside the backups; Active Directory gives each imported GPO its own." in text
    html = files["report.html"].decode()
    assert "Active Directory gives the imported GPO its own GUID" in html
    assert "<code>Managed by cmfw: domain corp.contoso.com, policy Workstations. Edit the matrix, not this GPO.</code>" in html
    assert len(text.splitlines()) < 70  # a pull-request comment: the acknowledged findings fold away


def test_diff_as_markdown(tmp_path: Path) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(EXAMPLE.read_text().replace("client_notification: 10124", "client_notification: 10125"))
    text = format_markdown(diff_paths(EXAMPLE, new))
    assert text.splitlines()[:3] == [f"### cmfw diff: `{EXAMPLE}` → `{new}`", "", "**2 GPOs changed, 2 rules changed**"]
    assert "| ✏️ changed | `CMFW-Laptops-ClientNotification-TCP-Out` | remote\\_ports: 10124 → 10125 |" in text
    rendered = MarkdownIt("commonmark").enable("table").render(text)
    assert rendered.count("<table>") == 2 and "remote_ports: 10124 → 10125" in rendered
    same = format_markdown(diff_paths(EXAMPLE, EXAMPLE))
    assert same.endswith("No differences: 6 GPOs, 123 rules.\n")
