"""Autograde a class of walk-through submissions serially (plain ``nbgrader autograde``) and with ``--jobs``.

Usage: ``python benchmarks/bench_autograde.py [--students 20] [--jobs 2]`` from the repository root.

Builds a course in a temporary folder, releases the walk-through, hands in the same number of solved
notebooks for every student, then grades two identical copies of the course: once with one
``nbgrader autograde`` over the class, once with ``python -m autograder course autograde --jobs N``.
Prints wall-clock seconds per student for each and the speed-up (goal: 1.8 on 2 cores), and checks that
both gradebooks hold the same scores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import nbformat

from autograder.course.autograde import autograde
from autograder.course.course_dir import init_course, released_notebook_path
from autograder.course.gradebook import cell_grades, gradebook_url
from autograder.course.nbgrader_cli import run_nbgrader
from autograder.course.release import generate_assignment
from autograder.course.settings import ASSIGNMENT_ID, NOTEBOOK_FILENAME
from autograder.course.solved import solved_copy
from autograder.manifest import SOLUTIONS_DIR


def build_class(course_root: Path, students: int) -> list[str]:
    """A released course with ``students`` solved submissions in ``submitted/``; returns the ids."""
    init_course(course_root)
    generate_assignment(course_root)
    released = nbformat.read(released_notebook_path(course_root), as_version=4)
    solved = solved_copy(released, nbformat.read(SOLUTIONS_DIR / NOTEBOOK_FILENAME, as_version=4))
    ids = [f"student{index:02d}" for index in range(1, students + 1)]
    for student in ids:
        folder = course_root / "submitted" / student / ASSIGNMENT_ID
        folder.mkdir(parents=True)
        nbformat.write(solved, folder / NOTEBOOK_FILENAME)
    return ids


def scores(course_root: Path) -> list[tuple]:
    return [(g.student, g.cell, g.auto_score) for g in cell_grades(gradebook_url(course_root), ASSIGNMENT_ID)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=20, help="submissions to grade (default 20)")
    parser.add_argument("--jobs", type=int, default=2, help="students graded at once (default 2)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as scratch:
        serial_root = Path(scratch) / "serial"
        ids = build_class(serial_root, args.students)
        parallel_root = Path(scratch) / "parallel"
        shutil.copytree(serial_root, parallel_root)
        print(f"{len(ids)} submissions of {ASSIGNMENT_ID}.ipynb, {os.cpu_count()} CPUs")

        started = time.perf_counter()
        run_nbgrader(serial_root, ["autograde", ASSIGNMENT_ID, "--force"], capture=True)
        serial_seconds = time.perf_counter() - started

        started = time.perf_counter()
        outcomes = autograde(parallel_root, jobs=args.jobs, progress=lambda line: None)
        parallel_seconds = time.perf_counter() - started

        failed = [outcome.student for outcome in outcomes if not outcome.ok]
        same = scores(serial_root) == scores(parallel_root)

    for label, seconds in (
        ("nbgrader autograde (serial)", serial_seconds),
        (f"course autograde --jobs {args.jobs}", parallel_seconds),
    ):
        print(f"{label:<34} {seconds:7.1f} s  {seconds / len(ids):5.2f} s/student")
    print(f"speed-up: {serial_seconds / parallel_seconds:.2f}x (goal 1.8x on 2 cores)")
    print(f"same gradebook scores: {'yes' if same else 'NO'}" + (f"; failed: {failed}" if failed else ""))
    return 0 if same and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
