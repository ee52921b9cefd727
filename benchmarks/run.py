"""Benchmarks for cmfw's performance budgets (DESIGN.md), reported as ratios in one run.

    python benchmarks/run.py [--repeat N]

Every figure is the median of N runs on this machine, next to a reference measured
in the same run (a bare interpreter start, or the same work at half the size), so
the ratios mean something on any machine. Budgets on the 2-core reference machine:
example build < 1 s wall including interpreter start; `cmfw --help` < 0.3 s;
1,000 policies < 10 s; cost linear in policies.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEATURES = [
    "client-requests", "client-notification", "software-updates", "content-download",
    "{remote-control: {from: consoles}}", "{client-push: {from: site_servers}}", "wake-up-proxy",
    "peer-cache", "branchcache", "remote-assistance", "remote-desktop", "fallback-status-point",
]


def big_matrix(policies: int) -> str:
    lines = [
        "version: 1", "domain: corp.contoso.com",
        "addresses:", "  site_servers: [10.0.0.10, 10.0.0.11]", "  consoles: [10.20.0.0/24]",
        "  management_points: [10.0.0.20]", "policies:",
    ]
    for i in range(policies):
        lines += [f"  - name: Policy {i}", f"    id: P{i}", f"    features: [{', '.join(FEATURES)}]"]
    return "\n".join(lines) + "\n"


def timed(command: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed_call(func, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from builder.build import render

    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        bare = timed([python, "-c", "pass"], args.repeat)
        help_time = timed([python, "-m", "builder", "--help"], args.repeat)
        example = timed([python, "-m", "builder", "build", str(ROOT / "examples/contoso.yaml"), "-o", f"{tmp}/out"], args.repeat)
        sizes = {}
        for n in (250, 500, 1000):
            path = Path(tmp, f"m{n}.yaml")
            path.write_text(big_matrix(n))
            sizes[n] = timed_call(lambda: render(path), max(1, args.repeat // 2))

    pol_rows = _registry_pol_rows(args.repeat)
    rows = [
        ("python -c pass (reference)", bare, "", ""),
        ("cmfw --help", help_time, f"{help_time / bare:.1f}x interpreter start", "< 0.3 s"),
        ("cmfw build examples/contoso.yaml", example, f"{example / bare:.1f}x interpreter start", "< 1 s"),
        ("render 250 policies (in process)", sizes[250], "", ""),
        ("render 500 policies (in process)", sizes[500], f"{sizes[500] / sizes[250]:.2f}x 250 (linear: 2.0)", ""),
        ("render 1000 policies (in process)", sizes[1000], f"{sizes[1000] / sizes[500]:.2f}x 500 (linear: 2.0)", "< 10 s"),
    ]
    rows += pol_rows
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark'.ljust(width)}  {'median':>9}  {'ratio':<32}  budget")
    for name, seconds, ratio, budget in rows:
        print(f"{name.ljust(width)}  {seconds:8.3f}s  {ratio:<32}  {budget}")


def _registry_pol_rows(repeat: int) -> list[tuple[str, float, str, str]]:
    """cmfw's registry.pol reader and writer against Samba's C parser, 10,000 entries."""
    from builder.registry.registrypol import Entry, decode, encode

    key = r"SOFTWARE\Policies\Microsoft\WindowsFirewall"
    entries = []
    for i in range(5000):
        rule = f"v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|LPort={1000 + i}|RA4=10.0.0.0/8|Name=Rule {i}|"
        entries.append(Entry.sz(key + "\\FirewallRules", f"CMFW-Bench-{i}-In", rule))
        entries.append(Entry.dword(key + f"\\Bench{i}", "Value", i))
    data = encode(entries)
    read = statistics.median(_time(lambda: decode(data), repeat))
    write = statistics.median(_time(lambda: encode(entries), repeat))
    rows = [(f"registry.pol read, 10,000 entries ({len(data) // 1024} KiB)", read, "", ""),
            ("registry.pol write, 10,000 entries", write, "", "")]
    with tempfile.NamedTemporaryFile(suffix=".pol") as fh:
        fh.write(data)
        fh.flush()
        try:
            done = subprocess.run(["/usr/bin/python3", str(Path(__file__).with_name("samba_pol_timing.py")), fh.name, str(repeat)],
                                  capture_output=True, text=True, timeout=300, check=True)
        except (OSError, subprocess.CalledProcessError):
            return rows + [("Samba ndr_unpack (not installed: apt-get install python3-samba)", float("nan"), "", "")]
    alone, full = map(float, done.stdout.split())
    rows[0] = (rows[0][0], read, f"{read / full:.2f}x Samba unpack+read", "< 2x Samba")
    rows.append(("Samba ndr_unpack alone (C)", alone, "", ""))
    rows.append(("Samba ndr_unpack + read entries", full, "", ""))
    return rows


def _time(func, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return samples


if __name__ == "__main__":
    main()
