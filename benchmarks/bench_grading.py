"""Grading throughput: the engine (``python -m autograder grade --jobs 2``) against the naive way.

The naive way starts one ``python -m pytest autograder/graders --submission-dir X`` process per
submission, one after the other. Both grade the same generated class (copies of the solution and the
demo mistakes). Prints seconds per submission for each and the ratio, and splits the engine's time into
its fixed start-up (importing torch and transformers, collecting the graders, building their shared
inputs: paid once per run) and the cost of each further submission.

    python benchmarks/bench_grading.py [-n 20] [--jobs 2] [--naive N] [--baseline REV]

``--baseline REV`` also grades the class with the engine of another revision of this repository (``git
archive REV``), in the same run, so that a change is measured under the same load as what it changes.

Goal (issue 11): <= 0.7 s per submission amortized with --jobs 2, and >= 10x the naive throughput.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run_engine(folders: list[Path], out: Path, jobs: int, repo: Path = REPO) -> float:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    command = [sys.executable, "-m", "autograder", "grade", *map(str, folders)]
    command += ["--out", str(out), "--jobs", str(jobs)]
    start = time.perf_counter()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(command, cwd=repo, env=env, check=False, **quiet)  # exit 1: a row was noted
    return time.perf_counter() - start


def run_startup(root: Path, jobs: int, repo: Path = REPO) -> float:
    """The engine's fixed cost: a run on one empty folder, less the time that folder's grading took."""
    empty = root / "startup" / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    out = root / f"startup-out-{repo.name}"
    seconds = run_engine([empty], out, jobs, repo)
    graded = json.loads((out / "results" / "empty.json").read_text())["execution_time"]
    return seconds - float(graded)


def checkout(revision: str, destination: Path) -> Path:
    """The files of ``revision`` of this repository, unpacked in ``destination``."""
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination


def report(name: str, seconds: float, startup: float, count: int) -> float:
    each = seconds / count
    further = (seconds - startup) / count
    print(f"{name}: {seconds:.1f} s for {count} = {each:.2f} s per submission "
          f"(start-up {startup:.1f} s, then {further:.2f} s each)")  # fmt: skip
    return each


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="submissions to generate (default 20)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--naive", type=int, default=None, help="grade only this many the naive way")
    parser.add_argument("--baseline", metavar="REV", help="also time the engine of this git revision")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        folders = generate_class(root / "class", args.n)
        if args.baseline:
            baseline = checkout(args.baseline, root / "baseline")
            baseline_startup = run_startup(root, args.jobs, baseline)
            baseline_seconds = run_engine(folders, root / "baseline-out", args.jobs, baseline)
        startup = run_startup(root, args.jobs)
        engine_seconds = run_engine(folders, root / "out", args.jobs)
        naive_folders = folders[: args.naive] if args.naive else folders
        naive_seconds = run_naive(naive_folders)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    engine_each = engine_seconds / len(folders)
    naive_each = naive_seconds / len(naive_folders)
    print(f"engine --jobs {args.jobs}: {engine_seconds:.1f} s for {len(folders)} "
          f"= {engine_each:.2f} s per submission")  # fmt: skip
    print(f"naive (one pytest process each, serial): {naive_seconds:.1f} s for {len(naive_folders)} "
          f"= {naive_each:.2f} s per submission")  # fmt: skip
    print(f"speed-up: {naive_each / engine_each:.1f}x")
    if args.baseline:
        name = f"baseline {args.baseline} engine --jobs {args.jobs}"
        report(name, baseline_seconds, baseline_startup, len(folders))
    further = (engine_seconds - startup) / len(folders)
    print(f"engine start-up, paid once per run: {startup:.1f} s; each submission after it: {further:.2f} s")
    if further < 1:
        enough = math.ceil(startup / (1 - further))
        print(f"amortized at most 1 s per submission from {enough} submissions on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
