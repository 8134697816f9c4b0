"""How long a learner waits for ``pytest exercises``, against the floor of importing torch.

Builds the learner bundle twice in a temporary folder: as handed out (every exercise a stub) and finished
(the solutions' ``ex*.py`` copied over the stubs). Then, interleaved, ``--runs`` times each:

- ``python -c "import torch"``: the floor, what any check of PyTorch code costs at least;
- ``python -m pytest exercises`` in the untouched bundle;
- ``python -m pytest exercises`` in the finished one.

Prints the median wall time of each, side by side, and each self-check's ratio to the floor (the goal is
at most 1.5), and the same for the CPU time the command used (user + system): on a machine that other
work keeps busy, wall times stretch with the load while CPU times stay close to what an idle machine
gives, so the CPU ratio is the steadier figure there.

Run from the repository root: ``python benchmarks/bench_selfcheck.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from autograder.manifest import SOLUTIONS_DIR
from autograder.release import build_bundle

GOAL = 1.5


LEARNER_UNSET = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
"""Set here, unset for a learner: the repository on the path, and a ban on writing bytecode (which would
make every run compile the exercises' modules again, as a learner's second run never does)."""


def learner_env() -> dict[str, str]:
    """The environment a learner has: nothing of the repository on the path, bytecode cached as usual."""
    return {key: value for key, value in os.environ.items() if key not in LEARNER_UNSET}


def timed_run(command: list[str], cwd: Path, expect_success: bool | None) -> tuple[float, float]:
    """Run ``command``; return its wall time and the CPU time (user + system) it used, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(
        command, cwd=cwd, env=learner_env(), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if expect_success is not None and (completed.returncode == 0) != expect_success:
        raise SystemExit(
            f"{' '.join(command)} in {cwd} exited with {completed.returncode}:\n{completed.stdout[-2000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="runs of each command (default 5); the median counts"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-selfcheck-") as temp:
        stubs = build_bundle(Path(temp) / "stubs")
        finished = build_bundle(Path(temp) / "finished")
        for solution in sorted(SOLUTIONS_DIR.glob("ex*_*.py")):
            shutil.copyfile(solution, finished / "exercises" / solution.name)
        python = sys.executable
        commands = {
            "import torch": ([python, "-c", "import torch"], stubs, True),
            "pytest exercises, stubs": ([python, "-m", "pytest", "exercises", "-q"], stubs, False),
            "pytest exercises, finished": ([python, "-m", "pytest", "exercises", "-q"], finished, True),
        }
        for command, cwd, _ in commands.values():
            timed_run(command, cwd, None)
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (command, cwd, success) in commands.items():
                elapsed, used = timed_run(command, cwd, success)
                wall[name].append(elapsed)
                cpu[name].append(used)

    print(
        f"median of {args.runs} runs each (after one warm-up run), {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"{'command':<30}{'wall':>8}{'x floor':>9}{'cpu':>9}{'x floor':>9}   wall min-max")
    worst = {"wall": 0.0, "cpu": 0.0}
    wall_floor = statistics.median(wall["import torch"])
    cpu_floor = statistics.median(cpu["import torch"])
    for name in commands:
        wall_median, cpu_median = statistics.median(wall[name]), statistics.median(cpu[name])
        wall_ratio, cpu_ratio = wall_median / wall_floor, cpu_median / cpu_floor
        if name != "import torch":
            worst["wall"] = max(worst["wall"], wall_ratio)
            worst["cpu"] = max(worst["cpu"], cpu_ratio)
        print(
            f"{name:<30}{wall_median:>7.2f}s{wall_ratio:>8.2f}x{cpu_median:>8.2f}s{cpu_ratio:>8.2f}x"
            f"   {min(wall[name]):.2f}-{max(wall[name]):.2f}s"
        )
    for measure, ratio in worst.items():
        verdict = "within" if ratio <= GOAL else "over"
        print(f"worst self-check, {measure} time: {ratio:.2f}x the torch-import floor ({verdict} {GOAL}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
