"""What the hidden checks cost: this tree's graders against another revision's, in the same run.

Each side runs ``python -m pytest autograder/graders --submission-dir solutions`` in-process (no
sandbox, so the figure is the checks' own cost: the inputs they build and the calls they make), with
its own code (``git archive REV`` for the other revision), after one warm-up run each, alternating the
two sides ``--runs`` times so both see the same load. Prints the median wall and CPU seconds of each
side and their ratios.

    python benchmarks/bench_graders.py [--baseline REV] [--runs 5]

Budget (issue 10): the new checks make grading at most 15% slower than the graders before them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "11f5089"  # main before issue 10's graders work began


def export(revision: str, into: Path) -> Path:
    """The files of ``revision`` under ``into`` (no .git), or exit with one line."""
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(f"bench_graders: no revision {revision!r} in {REPO}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_graders(root: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of one in-process graders run in ``root``, and pytest's last line."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "pytest", "autograder/graders", "--submission-dir", "solutions"]
    command += ["-q", "-p", "no:cacheprovider", "-o", "addopts="]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stdout.strip().splitlines() or ["no output"]
    return wall, cpu, lines[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="the revision to compare with")
    parser.add_argument("--runs", type=int, default=5, help="runs of each side, alternating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-graders-") as scratch:
        sides = {
            f"graders of {args.baseline}": export(args.baseline, Path(scratch) / "base"),
            "this tree": REPO,
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        outcome = {}
        for root in sides.values():
            run_graders(root)  # warm-up: bytecode compiled, files in the page cache
        for _ in range(args.runs):
            for name, root in sides.items():
                wall, cpu, last = run_graders(root)
                figures[name].append((wall, cpu))
                outcome[name] = last
    load = os.getloadavg()[0]
    print(f"in-process graders on the solutions, median of {args.runs} runs (load average {load:.1f})")
    medians = {}
    for name, runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        medians[name] = (wall, cpu)
        print(f"  {name:<24} wall {wall:6.2f} s   CPU {cpu:6.2f} s   ({outcome[name]})")
    (base_wall, base_cpu), (new_wall, new_cpu) = medians.values()
    print(f"  ratio this/baseline      wall {new_wall / base_wall:5.2f}x   CPU {new_cpu / base_cpu:5.2f}x")


if __name__ == "__main__":
    main()
