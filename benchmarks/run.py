"""cmfw's performance goals (issue 16, DESIGN.md), each measured and set against its budget.

    python benchmarks/run.py [--rounds N] [--policies N] [--one-core]

Every command case runs the installed ``cmfw`` in a fresh process, writes included, in
interleaved rounds (harness.py): the table gives the median with min and max, the peak
resident memory of the largest process (the build's own or one worker's), the budget
and the ratio measured/budget. The budgets are for the 2-core reference machine; on a
shared or slower machine read the ratios between rows (the 100 → 1,000 row says whether
the cost is linear whatever the machine). The registry.pol codec rows time the library
in this process, per 10,000 entries, at 10k and 100k entries.

Nothing here runs in CI: the CI never times anything.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from harness import Timing, cmfw, interleaved, workers_note

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEATURES = [
    "client-requests", "client-notification", "software-updates", "content-download",
    "{remote-control: {from: consoles}}", "{client-push: {from: site_servers}}", "wake-up-proxy",
    "peer-cache", "branchcache", "remote-assistance", "remote-desktop", "fallback-status-point",
]

#: One extra inbound port in one policy: the "B" side of the diff case.
_EXTRA_PORT = [
    "    custom_rules:",
    "      - {id: Agent, name: Inventory agent, direction: In, protocol: TCP, local_ports: [9443], from: site_servers}",
]


def big_matrix(policies: int, extra_port_in: int | None = None) -> str:
    """A matrix of ``policies`` policies, each with twelve features (~34 rules)."""
    lines = [
        "version: 1", "domain: corp.contoso.com",
        "addresses:", "  site_servers: [10.0.0.10, 10.0.0.11]", "  consoles: [10.20.0.0/24]",
        "  management_points: [10.0.0.20]", "policies:",
    ]
    for i in range(policies):
        lines += [f"  - name: Policy {i}", f"    id: P{i}", f"    features: [{', '.join(FEATURES)}]"]
        if i == extra_port_in:
            lines += _EXTRA_PORT
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (at least 5)")
    parser.add_argument("--policies", type=int, default=1000, help="the big matrix's size (budgets are for 1,000)")
    parser.add_argument("--one-core", action="store_true", help="also time the big build with CMFW_JOBS=1")
    args = parser.parse_args()
    exe, n, small = cmfw(), args.policies, max(1, args.policies // 10)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "small.yaml").write_text(big_matrix(small))
        (t / "big.yaml").write_text(big_matrix(n))
        (t / "big-b.yaml").write_text(big_matrix(n, extra_port_in=n // 2))
        # The --check and check cases read a build of the big matrix, made once, untimed.
        _untimed([exe, "build", str(t / "big.yaml"), "-o", str(t / "kept")])
        cases = {
            "python -c pass (reference)": [sys.executable, "-c", "pass"],
            "cmfw --help": [exe, "--help"],
            "build examples/contoso.yaml": [exe, "build", str(ROOT / "examples" / "contoso.yaml"), "-o", str(t / "example")],
            f"build {small} policies": [exe, "build", str(t / "small.yaml"), "-o", str(t / "small")],
            f"build {n} policies": [exe, "build", str(t / "big.yaml"), "-o", str(t / "big")],
            f"validate {n} policies": [exe, "validate", str(t / "big.yaml")],
            f"build --check, {n} policies up to date": [exe, "build", str(t / "big.yaml"), "-o", str(t / "kept"), "--check"],
            f"diff of two {n}-policy matrices (one port)": [exe, "diff", str(t / "big.yaml"), str(t / "big-b.yaml")],
            f"check of a {n}-policy build": [exe, "check", str(t / "kept")],
        }
        expect = {f"diff of two {n}-policy matrices (one port)": (1,)}
        timings = interleaved(cases, args.rounds, expect=expect)
        one_core = {}
        if args.one_core:
            one_core = interleaved({f"build {n} policies, CMFW_JOBS=1": cases[f"build {n} policies"]},
                                   args.rounds, env={"CMFW_JOBS": "1"})
    codec = _registry_pol(max(args.rounds, 5))
    _report(timings, one_core, codec, n, small, max(args.rounds, 5))


def _untimed(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _report(timings: dict[str, Timing], one_core: dict[str, Timing], codec: dict[str, list[float]], n: int, small: int, rounds: int) -> None:
    t = {name: timing for name, timing in timings.items()}
    big, little = t[f"build {n} policies"], t[f"build {small} policies"]
    linear = big.median / little.median
    marginal_ms = (big.median - little.median) / (n - small) * 1000
    rows: list[tuple[str, str, str, str, str]] = []

    def row(timing: Timing, budget: float | None, what: str = "") -> None:
        rss = f"{statistics.median(timing.rss):.0f} MiB" if timing.rss else ""
        ratio = f"{timing.median / budget:.2f}" if budget else ""
        rows.append((timing.name, timing.cell(), rss, what or (f"< {budget:g} s" if budget else ""), ratio))

    bare = t["python -c pass (reference)"]
    row(bare, None, "interpreter start")
    row(t["cmfw --help"], 0.3)
    row(t["build examples/contoso.yaml"], 1.0)
    rows.append(("  example build / interpreter start", f"{t['build examples/contoso.yaml'].median / bare.median:7.1f}x", "", "", ""))
    row(little, None)
    row(big, 10.0)
    rows.append((f"  per-policy marginal cost ({small} → {n})", f"{marginal_ms:7.2f} ms", "", "< 8 ms", f"{marginal_ms / 8:.2f}"))
    rows.append((f"  {small} → {n} ratio (linear: {n / small:g})", f"{linear:7.2f}", "", f"≤ {n / small * 1.05:g}",
                 f"{linear / (n / small * 1.05):.2f}"))
    rows.append(("  peak memory of the build (largest process)", f"{max(big.rss):7.0f} MiB", "", "< 400 MiB", f"{max(big.rss) / 400:.2f}"))
    for timing in one_core.values():
        row(timing, None, f"one core: {timing.median / big.median:.2f}x the default")
    row(t[f"validate {n} policies"], 3.0)
    row(t[f"build --check, {n} policies up to date"], 2.0)
    row(t[f"diff of two {n}-policy matrices (one port)"], 3.0)
    row(t[f"check of a {n}-policy build"], 8.0)
    for name, samples in codec.items():
        median = statistics.median(samples)
        budget = 20.0 if "decode" in name else 8.0
        rows.append((name, f"{median:7.2f} ms ({min(samples):.2f}-{max(samples):.2f})", "", f"≤ {budget:g} ms / 10k", f"{median / budget:.2f}"))
    header = ("case", "median (min-max)", "peak RSS", "budget", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(f"cmfw benchmarks: {rounds} interleaved rounds, fresh processes, writes included; {workers_note()}")
    for r in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())
    over = [r[0].strip() for r in rows if r[4] and float(r[4]) > 1]
    print("over budget: " + (", ".join(over) if over else "nothing"))


def _registry_pol(rounds: int) -> dict[str, list[float]]:
    """The registry.pol codec in this process, milliseconds per 10,000 entries."""
    from builder.registry.registrypol import Entry, decode, encode

    key = r"SOFTWARE\Policies\Microsoft\WindowsFirewall"
    out: dict[str, list[float]] = {}
    for size in (10_000, 100_000):
        entries = []
        for i in range(size // 2):
            rule = f"v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|LPort={1000 + i % 60000}|RA4=10.0.0.0/8|Name=Rule {i}|"
            entries.append(Entry.sz(key + "\\FirewallRules", f"CMFW-Bench-{i}-In", rule))
            entries.append(Entry.dword(key + f"\\Bench{i % 50}", "Value", i))
        data = encode(entries)
        scale = 10_000 / size * 1000
        out[f"registry.pol decode, {size:,} entries (per 10k)"] = [s * scale for s in _time(lambda: decode(data), rounds)]
        out[f"registry.pol encode, {size:,} entries (per 10k)"] = [s * scale for s in _time(lambda: encode(entries), rounds)]
    return out


def _time(func: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return samples


if __name__ == "__main__":
    main()
