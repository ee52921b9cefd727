"""The habits admins expect of a CLI: -V, one error style, stdin, defaults, search, completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder import __version__
from builder.cli import cli
from builder.syntax.powershell import command_problems, parse_errors

from .conftest import EXAMPLE, ROOT


def run(*args: object, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
    return result.exit_code, result.stdout, result.stderr


def test_short_version_flag() -> None:
    assert run("-V")[:2] == (0, f"cmfw {__version__}\n")


@pytest.mark.parametrize(
    "args, message",
    [
        (["build", "--bogus"], "cmfw: error: No such option '--bogus'. (see: cmfw build --help)"),
        (["bogus"], "cmfw: error: No such command 'bogus'. (see: cmfw --help)"),
        (["build", "x.yaml"], "cmfw: error: Missing option '-o' / '--output'. (see: cmfw build --help)"),
        (["features", "--format", "xml"], "cmfw: error: Invalid value for '--format': 'xml' is not one of 'text', 'json'. (see: cmfw features --help)"),
    ],
)
def test_usage_errors_have_the_one_error_style(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2 and out == "" and err == message + "\n"


def test_init_defaults_to_firewall_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init")
    assert code == 0 and out.startswith("wrote firewall.yaml:") and (tmp_path / "firewall.yaml").is_file()
    code, _, err = run("init")
    assert code == 2 and err == "cmfw: error: firewall.yaml: already exists; use --force to overwrite it\n"


def test_a_dash_reads_the_matrix_from_stdin(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    code, out, _ = run("validate", "-", input=text)
    assert code == 0 and out.startswith("-: valid: 6 policies")
    code, _, _ = run("build", "-", "-o", tmp_path / "out", input=text)
    assert code == 0 and '"path": "-"' in (tmp_path / "out" / "build.json").read_text()
    assert run("build", "-", "-o", tmp_path / "out", "--check", input=text)[0] == 0
    assert run("diff", "-", tmp_path / "out", input=text)[1].splitlines()[-1] == "no differences: 6 GPOs, 123 rules"
    assert run("query", "-", "--policy", "Workstations", "--in", "tcp/2701", "--from", "10.20.0.5", input=text)[0] == 0
    code, out, err = run("lint", "-", input="version: 1\n")
    assert code == 2 and "<stdin>:1:1: error: missing required key 'domain'" in out + err


def test_features_search_and_suggestions() -> None:
    code, out, _ = run("features", "--search", "445")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert code == 0 and "client-push" in names and "remote-control" not in names
    code, out, _ = run("features", "--search", "wol")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == ["wake-up-proxy"]
    code, _, err = run("features", "--search", "zzzz")
    assert code == 1 and err == "cmfw: no feature matches 'zzzz'; see `cmfw features`\n"
    code, _, err = run("features", "wol")
    assert code == 2 and "unknown feature 'wol'; did you mean 'wake-up-proxy'?" in err
    code, out, _ = run("features", "remote-assistance", "--variant", "modern")
    assert code == 0 and "variant modern" in out and "variant legacy" not in out
    code, _, err = run("features", "remote-assistance", "--variant", "nope")
    assert code == 2 and "remote-assistance has no variant 'nope'" in err


def _complete(shell: str, words: list[str], cwd: Path = ROOT) -> list[str]:
    env = dict(os.environ, _CMFW_COMPLETE=f"{shell}_complete", COMP_WORDS="\n".join(words), COMP_CWORD=str(len(words) - 1),
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "builder"], env=env, capture_output=True, text=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_powershell_completion_script_parses_and_calls_only_cmfw() -> None:
    code, script, _ = run("completion", "powershell")
    assert code == 0 and script.startswith("# cmfw completion for PowerShell")
    assert parse_errors(script) == []
    assert command_problems(script, ["Register-ArgumentCompleter", "ForEach-Object", "Remove-Item", "cmfw"]) == []


def test_powershell_completion_completes_features_variants_and_policy_ids() -> None:
    assert _complete("powershell", ["cmfw", "features", "wake"]) == ["wake-up-proxy"]
    assert _complete("powershell", ["cmfw", "features", "remote-assistance", "--variant", "m"]) == ["modern"]
    assert _complete("powershell", ["cmfw", "query", str(EXAMPLE), "--policy", "La"]) == ["Laptops"]
    assert "build" in _complete("powershell", ["cmfw", "b"])


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_click_shells_have_their_scripts(shell: str) -> None:
    code, script, _ = run("completion", shell)
    assert code == 0 and "_CMFW_COMPLETE" in script


# -- output that fits, colours that obey, foreign text that cannot drive the terminal --------


def _run_env(env: dict[str, str], *args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", [["inspect", "output/contoso/gpo"], ["features"], ["features", "--search", "RPC"]])
def test_tables_fit_columns(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = _run_env({"COLUMNS": "80"}, *command)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    code, wide, _ = _run_env({"COLUMNS": "80"}, *command, "--wide")
    assert code == 0
    if command[0] == "inspect":
        assert max(len(line) for line in wide.splitlines()) > 80 and "--wide shows every column" in out
        assert "PROGRAM (SERVICE)" in wide and "ICMP" in wide


def test_colour_obeys_no_color_and_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = ["query", "output/contoso", "--policy", "Workstations", "--in", "tcp/2701", "--from", "10.20.0.5"]
    assert "\x1b[" in _run_env({}, "--color", "always", *args)[1]
    assert "\x1b[" not in _run_env({"NO_COLOR": "1"}, *args)[1]
    assert "\x1b[" not in _run_env({}, "--color", "never", *args)[1]
    assert "\x1b[" not in _run_env({}, *args)[1]  # not a terminal: click leaves colour out


def test_quiet_and_verbose(tmp_path: Path) -> None:
    code, out, err = _run_env({}, "-q", "build", EXAMPLE, "-o", tmp_path / "out")
    assert code == 0 and out == "" and err == ""
    code, out, err = _run_env({}, "-v", "lint", EXAMPLE)
    assert code == 0 and out.count("(acknowledged: ") == 35 and "CMFW103 client-push" in out
    code, out, err = _run_env({}, "lint", EXAMPLE)
    assert "(acknowledged: " not in out and err.endswith("35 acknowledged\n")


def test_foreign_control_characters_are_escaped(tmp_path: Path) -> None:
    from builder.registry.policyfile import RULES_KEY
    from builder.registry.registrypol import Entry, encode

    evil = "Evil\x1b[2J\r\nCMFW-Forged: Action=Allow\u202e"
    rule = f"v2.31|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=445|Name={evil}|"
    pol = tmp_path / "registry.pol"
    pol.write_bytes(encode([Entry.sz(RULES_KEY, "X-Rule", rule)]))
    for fmt in ("text", "lines"):
        code, out, _ = _run_env({}, "inspect", pol, "--format", fmt)
        assert code == 0 and "\x1b" not in out and "\r" not in out and "\u202e" not in out
        assert "Evil\\x1b[2J\\r\\nCMFW-Forged: Action=Allow\\u202e" in out
    lines = _run_env({}, "inspect", pol, "--format", "lines")[1].splitlines()
    assert not any(line.startswith("CMFW-Forged") for line in lines)


def _run_on_a_terminal(args: list[str]) -> tuple[int, bytes, bytes]:
    """Run cmfw with stderr on a pseudo-terminal (stdout a pipe): (status, stdout, terminal)."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "builder", *args], stdout=subprocess.PIPE, stderr=follower,
                               env=dict(os.environ, COLUMNS="100"))
    os.close(follower)
    seen = b""
    while True:  # until the child closes its end: EOF (or EIO on Linux)
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = process.communicate()
    os.close(leader)
    return process.returncode, out, seen


def test_progress_on_a_terminal_only_and_cleared(tmp_path: Path) -> None:
    code, _, terminal = _run_on_a_terminal(["build", str(EXAMPLE), "-o", str(tmp_path / "out")])
    assert code == 0
    assert b"\r\x1b[Kcmfw: rendering gpo" in terminal and b"cmfw: writing" in terminal
    after = terminal[terminal.rindex(b"cmfw: writing"):]
    assert after.index(b"\r\x1b[K") < after.index(b"\n")  # the line is cleared before anything else shows
    # -q: no progress on the terminal either; a pipe never gets it
    code, _, quiet = _run_on_a_terminal(["-q", "build", str(EXAMPLE), "-o", str(tmp_path / "out")])
    assert code == 0 and b"rendering" not in quiet
    piped = subprocess.run([sys.executable, "-m", "builder", "build", str(EXAMPLE), "-o", str(tmp_path / "out")],
                           capture_output=True)
    assert piped.returncode == 0 and b"rendering" not in piped.stderr and b"\r" not in piped.stderr


def test_progress_is_cleared_before_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("version: 1", "version: 1\nbogus: 1", 1), encoding="utf-8")
    code, _, terminal = _run_on_a_terminal(["build", str(bad), "-o", str(tmp_path / "out")])
    assert code == 2 and b"bogus" in terminal
    assert not (tmp_path / "out").exists()
