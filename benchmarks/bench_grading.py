"""Grading throughput: the engine (``python -m autograder grade --jobs 2``) against the naive way.

The naive way starts one ``python -m pytest autograder/graders --submission-dir X`` process per
submission, one after the other. Both grade the same generated class (copies of the solution and the
demo mistakes). Prints seconds per submission for each and the ratio, and splits the engine's time into
its fixed start-up (importing torch and transformers, collecting the graders, building their shared
inputs: paid once per run) and the cost of each further submission.

    python benchmarks/bench_grading.py [-n 20] [--jobs 2] [--naive N] [--rounds 3] [--baseline REV]

The speed of these shared machines drifts, by up to twice, within minutes. So the run is interleaved:
``--rounds`` times, the engine grades the whole class, then the naive way grades its share of the
submissions; the engine's figure is the median of its rounds, and the ratio compares figures taken under
the same drift. A fixed pure-Python loop is timed before and after, to say how fast the machine ran, and
each engine run's CPU time is read from ``/proc/stat`` (the whole machine's busy time, every core
counted: run it on an otherwise idle machine), which drifts less than the wall time and says whether a
change saved work or only moved it.

``--baseline REV`` also grades the class with the engine of another revision of this repository (``git
archive REV``), in each round, so that a change is measured under the same load as what it changes.

Goal (issue 11): <= 0.7 s per submission amortized with --jobs 2, and >= 10x the naive throughput.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.demo.classroom import copy_exercise_files, demo_mistakes
from autograder.manifest import GRADERS_DIR, SOLUTIONS_DIR


def generate_class(root: Path, count: int) -> list[Path]:
    mistakes = demo_mistakes()
    folders = []
    for index in range(count):
        folder = root / f"student{index:03d}"
        folder.mkdir(parents=True)
        if mistakes and index % 2:
            mistakes[(index // 2) % len(mistakes)].write(folder)
        else:
            copy_exercise_files(SOLUTIONS_DIR, folder)
        folders.append(folder)
    return folders


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since it booted, every core counted (``/proc/stat``:
    user, nice, system, irq and softirq time; idle, I/O wait and steal are not), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


class EngineRun(NamedTuple):
    seconds: float  # wall time
    cpu: float | None  # the machine's busy CPU seconds meanwhile (None off Linux)


def run_engine(folders: list[Path], out: Path, jobs: int, repo: Path = REPO) -> EngineRun:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    command = [sys.executable, "-m", "autograder", "grade", *map(str, folders)]
    command += ["--out", str(out), "--jobs", str(jobs)]
    busy_before = busy_cpu_seconds()
    start = time.perf_counter()
    quiet = subprocess.DEVNULL
    subprocess.run(
        command, cwd=repo, env=env, check=False, stdout=quiet, stderr=quiet
    )  # exit 1: a row was noted
    seconds = time.perf_counter() - start
    busy_after = busy_cpu_seconds()
    cpu = busy_after - busy_before if busy_before is not None and busy_after is not None else None
    return EngineRun(seconds, cpu)


def run_startup(root: Path, jobs: int, repo: Path = REPO) -> float:
    """The engine's fixed cost: a run on one empty folder, less the time that folder's grading took."""
    empty = root / "startup" / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    out = root / f"startup-out-{repo.name}"
    seconds = run_engine([empty], out, jobs, repo).seconds
    graded = json.loads((out / "results" / "empty.json").read_text())["execution_time"]
    return seconds - float(graded)


def checkout(revision: str, destination: Path) -> Path:
    """The files of ``revision`` of this repository, unpacked in ``destination``."""
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination


def run_naive(folders: list[Path]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    for folder in folders:
        subprocess.run(
            [sys.executable, "-m", "pytest", str(GRADERS_DIR), "-q", "-p", "no:cacheprovider",
             "--submission-dir", str(folder)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )  # fmt: skip
    return time.perf_counter() - start


def machine_loop() -> float:
    """Seconds for a fixed pure-Python loop: how fast this machine runs the interpreter right now."""
    start = time.perf_counter()
    total = 0
    for number in range(5_000_000):
        total += number
    return time.perf_counter() - start


def shares(items: list[Path], parts: int) -> list[list[Path]]:
    """``items`` cut into ``parts`` runs of nearly equal length, in order."""
    size, extra = divmod(len(items), parts)
    cuts = [index * size + min(index, extra) for index in range(parts + 1)]
    return [items[cuts[index] : cuts[index + 1]] for index in range(parts)]


def report(name: str, engine_runs: list[EngineRun], startup: float, count: int) -> float:
    """Print an engine's figure (the median of its runs, split into start-up and each submission);
    returns the median."""
    runs = [run.seconds for run in engine_runs]
    median = statistics.median(runs)
    spread = ", ".join(f"{seconds:.1f}" for seconds in runs)
    print(f"{name}: {median:.1f} s for {count} = {median / count:.2f} s per submission "
          f"(start-up {startup:.1f} s, then {(median - startup) / count:.2f} s each; "
          f"median of {len(runs)} runs: {spread} s)")  # fmt: skip
    cpu = [run.cpu for run in engine_runs if run.cpu is not None]
    if cpu:
        print(f"  CPU: the machine was busy {statistics.median(cpu):.1f} s (every core counted, median) in "
              f"those runs: {statistics.median(cpu) / count:.2f} s per submission, "
              f"{statistics.median(cpu) / median:.2f} cores busy on average")  # fmt: skip
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="submissions to generate (default 20)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--naive", type=int, default=None, help="grade only this many the naive way")
    parser.add_argument("--rounds", type=int, default=3, help="engine runs, each before a share of the naive")
    parser.add_argument("--baseline", metavar="REV", help="also time the engine of this git revision")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.n < 1:
        parser.error("-n and --rounds must be at least 1")
    loop_before = machine_loop()
    root = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    engine_runs: list[EngineRun] = []
    baseline_runs: list[EngineRun] = []
    naive_seconds = 0.0
    try:
        folders = generate_class(root / "class", args.n)
        naive_folders = folders[: args.naive] if args.naive else folders
        if args.baseline:
            baseline = checkout(args.baseline, root / "baseline")
            baseline_startup = run_startup(root, args.jobs, baseline)
        startup = run_startup(root, args.jobs)
        for round_number, share in enumerate(shares(naive_folders, args.rounds)):
            if args.baseline:
                out = root / f"baseline-out-{round_number}"
                baseline_runs.append(run_engine(folders, out, args.jobs, baseline))
            engine_runs.append(run_engine(folders, root / f"out-{round_number}", args.jobs))
            naive_seconds += run_naive(share)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loop_after = machine_loop()
    engine_seconds = report(f"engine --jobs {args.jobs}", engine_runs, startup, len(folders))
    engine_each = engine_seconds / len(folders)
    naive_each = naive_seconds / len(naive_folders)
    print(f"naive (one pytest process each, serial): {naive_seconds:.1f} s for {len(naive_folders)} "
          f"= {naive_each:.2f} s per submission")  # fmt: skip
    print(f"speed-up: {naive_each / engine_each:.1f}x")
    if args.baseline:
        name = f"baseline {args.baseline} engine --jobs {args.jobs}"
        report(name, baseline_runs, baseline_startup, len(folders))
    further = (engine_seconds - startup) / len(folders)
    if further < 1:
        enough = math.ceil(startup / (1 - further))
        print(f"engine: amortized at most 1 s per submission from {enough} submissions on")
    print(f"machine: a fixed Python loop took {loop_before:.2f} s before and {loop_after:.2f} s after "
          "(the lower, the faster the machine ran)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
