"""`cmfw check` of Intune documents on their own: a file or the intune/ folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from builder.cli import cli

from .conftest import GOLDEN


def test_check_reads_intune_files_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "intune"
    shutil.copytree(GOLDEN / "intune", folder)
    runner = CliRunner()
    result = runner.invoke(cli, ["check", str(folder)])
    assert result.exit_code == 0 and result.stdout.endswith("intune-folder, 7 files checked: ok\n")
    doc = json.loads((folder / "Kiosks.json").read_text(encoding="utf-8"))
    doc["technologies"] = "mdm,configManager"
    (folder / "Kiosks.json").write_text(json.dumps(doc), encoding="utf-8")
    result = runner.invoke(cli, ["check", str(folder / "Kiosks.json")])
    assert result.exit_code == 1 and "Kiosks.json" in result.stderr and "technologies" in result.stderr
