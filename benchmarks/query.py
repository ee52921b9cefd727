"""`cmfw query`: one connection, and every scenario of the example.

    python benchmarks/query.py [--rounds N]

Budgets (issue 11): all scenarios of the example under 0.2 s (decided in process,
after loading), one `cmfw query` on the example build under 0.5 s wall including
start-up. The installed cmfw runs in a fresh process each time, interleaved with a
bare interpreter start as the reference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import cmfw, interleaved, print_table, workers_note  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "contoso.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from builder.build import build
    from builder.query import load_source, scenario_checks

    exe = cmfw()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "out")
        build(EXAMPLE, out)
        source = load_source(EXAMPLE)
        samples = []
        for _ in range(max(args.rounds, 5)):
            start = time.perf_counter()
            checks = scenario_checks(source)
            samples.append(time.perf_counter() - start)
        count = sum(len(v) for v in checks.values())
        found = interleaved(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "query one": [exe, "query", str(out), "--policy", "Workstations", "--in", "tcp/2701", "--from", "10.20.0.5"],
                "query scenarios": [exe, "query", str(out), "--scenarios"],
            },
            args.rounds,
        )
    bare = found["python -c pass"].median
    one, every = found["query one"], found["query scenarios"]
    decided = statistics.median(samples)
    print(f"{max(args.rounds, 5)} interleaved rounds; {workers_note()}; {count} scenario checks in the example")
    print_table([
        ("python -c pass (reference)", found["python -c pass"].cell(), "", ""),
        ("all scenarios of the example, in process", f"{decided:7.3f} s ({min(samples):.3f}-{max(samples):.3f})",
         f"{decided / 0.2:.2f}x budget", "< 0.2 s"),
        ("cmfw query (one connection, build)", one.cell(), f"{one.median / bare:.1f}x start, {one.median / 0.5:.2f}x budget", "< 0.5 s"),
        ("cmfw query --scenarios (build)", every.cell(), f"{every.median / bare:.1f}x start", ""),
    ])


if __name__ == "__main__":
    main()
