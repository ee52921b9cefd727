"""`cmfw lint` and `cmfw build` on one big policy: many custom rules, or one big address set.

    python benchmarks/lint.py [--rounds N]

Issue 20: both were quadratic in the rules of a policy (CMFW109 compared every pair)
and in the entries of an address set (each entry of a rule against each of the other).
Budgets: lint with 3,200 custom rules at most 5x the time with 800 (4x is linear) and
under 1.5 s; lint with an address set of 8,000 entries under 1 s; build of the
3,200-rule policy under 3 s. The installed cmfw runs in a fresh process each time,
interleaved, with a bare interpreter start as the reference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import cmfw, interleaved, print_table, workers_note  # noqa: E402

RULES = (100, 400, 800, 1600, 3200)
ADDRESSES = (1000, 2000, 4000, 8000)
HEAD = "version: 1\ndomain: corp.contoso.com\n"


def custom_rules(count: int) -> str:
    """One policy with ``count`` inbound custom rules, each on a port of its own (no finding)."""
    rules = "".join(
        f"      - {{id: App{i}, name: App {i}, direction: In, protocol: TCP, local_ports: [{10000 + i}], from: site_servers}}\n"
        for i in range(count)
    )
    return (HEAD + "addresses:\n  site_servers: [10.0.0.10]\npolicies:\n  - name: Workstations\n"
            "    features: [client-requests]\n    custom_rules:\n" + rules)


def address_set(count: int) -> str:
    """One address set of ``count`` distinct hosts, scoping remote control and a custom rule that repeats it."""
    hosts = "".join(f"    - 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(count))
    return (HEAD + "addresses:\n  consoles:\n" + hosts + "policies:\n  - name: Workstations\n"
            "    features: [client-requests, {remote-control: {from: consoles}}]\n    custom_rules:\n"
            "      - {id: RC, name: Remote control again, direction: In, protocol: TCP, local_ports: [2701], from: consoles}\n")


def check_findings(exe: str, path: Path, expected: int) -> None:
    """The matrix is valid and lints as intended, so the timings are of the work meant."""
    done = subprocess.run([exe, "lint", str(path), "--format", "json"], capture_output=True, text=True)
    found = [f["code"] for f in json.loads(done.stdout)["findings"]] if done.returncode in (0, 1) else None
    if found != ["CMFW109"] * expected:
        sys.exit(f"benchmarks: {path.name} lints as {found or done.stderr[-400:]}, expected {expected} CMFW109")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    exe = cmfw()
    with tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, Sequence[str]] = {"python -c pass": [sys.executable, "-c", "pass"]}
        for count in RULES:
            path = Path(tmp, f"rules-{count}.yaml")
            path.write_text(custom_rules(count), encoding="utf-8")
            check_findings(exe, path, 0)
            cases[f"lint {count} rules"] = [exe, "lint", str(path)]
        out = Path(tmp, "out")
        cases[f"build {RULES[-1]} rules"] = [exe, "build", str(Path(tmp, f"rules-{RULES[-1]}.yaml")), "-o", str(out)]
        for count in ADDRESSES:
            path = Path(tmp, f"addresses-{count}.yaml")
            path.write_text(address_set(count), encoding="utf-8")
            check_findings(exe, path, 1)
            cases[f"lint {count} addresses"] = [exe, "lint", str(path)]

        def fresh_output(name: str) -> None:
            if name.startswith("build"):
                shutil.rmtree(out, ignore_errors=True)

        found = interleaved(cases, args.rounds, before=fresh_output)

    def ratio(name: str, base: str) -> str:
        return f"{found[name].median / found[base].median:.2f}x {base}"

    rows = [("python -c pass (reference)", found["python -c pass"].cell(), "", "")]
    for previous, count in zip((None,) + RULES, RULES):
        name = f"lint {count} rules"
        budget = "< 1.5 s, <= 5x 800 rules" if count == 3200 else ""
        shown = ratio(name, "lint 800 rules") if count == 3200 else (ratio(name, f"lint {previous} rules") if previous else "")
        rows.append((name, found[name].cell(), shown, budget))
    build = f"build {RULES[-1]} rules"
    rows.append((build, found[build].cell(), ratio(build, f"lint {RULES[-1]} rules"), "< 3 s"))
    for previous, count in zip((None,) + ADDRESSES, ADDRESSES):
        name = f"lint {count} addresses"
        rows.append((name, found[name].cell(), ratio(name, f"lint {previous} addresses") if previous else "",
                     "< 1 s" if count == 8000 else ""))
    print(f"{max(args.rounds, 5)} interleaved rounds; {workers_note()}; one policy each")
    print_table(rows)


if __name__ == "__main__":
    main()
