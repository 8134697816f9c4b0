"""Grading throughput: the engine (``python -m autograder grade --jobs 2``) against the naive way.

The naive way starts one ``python -m pytest autograder/graders --submission-dir X`` process per
submission, one after the other. Both grade the same generated class (copies of the solution and the
demo mistakes). Prints seconds per submission for each and the ratio, and splits the engine's time into
its fixed start-up (importing torch and transformers, collecting the graders, building their shared
inputs: paid once per run) and the cost of each further submission.

    python benchmarks/bench_grading.py [-n 20] [--jobs 2] [--naive N]

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
from autograder.layout import GRADERS_DIR, SOLUTIONS_DIR


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


def run_engine(folders: list[Path], out: Path, jobs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "autograder", "grade", *map(str, folders)]
    command += ["--out", str(out), "--jobs", str(jobs)]
    start = time.perf_counter()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(command, cwd=REPO, env=env, check=False, **quiet)  # exit 1: a row was noted
    return time.perf_counter() - start


def run_startup(root: Path, jobs: int) -> float:
    """The engine's fixed cost: a run on one empty folder, less the time that folder's grading took."""
    empty = root / "startup" / "empty"
    empty.mkdir(parents=True)
    seconds = run_engine([empty], root / "startup-out", jobs)
    graded = json.loads((root / "startup-out" / "results" / "empty.json").read_text())["execution_time"]
    return seconds - float(graded)


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
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        folders = generate_class(root / "class", args.n)
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
    further = (engine_seconds - startup) / len(folders)
    print(f"engine start-up, paid once per run: {startup:.1f} s; each submission after it: {further:.2f} s")
    if further < 1:
        enough = math.ceil(startup / (1 - further))
        print(f"amortized at most 1 s per submission from {enough} submissions on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
