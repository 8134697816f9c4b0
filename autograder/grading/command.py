"""``python -m autograder grade SUBMISSION... --out DIR``: the grading verb's options and what it prints.

Submissions are folders, zips, or a Canvas or Moodle bulk download (:mod:`autograder.grading.intake`);
with none, the demo class is graded. Every problem is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from autograder.grading.staging import scratch_folder
from autograder.manifest import GRADERS_DIR
from autograder.results import ResultsFolder, SubmissionResult, summary_table
from autograder.results.model import terminal_safe
from autograder.sandbox import confine
from autograder.sandbox import limits as limits_module
from autograder.sandbox.limits import DEFAULTS

DEFAULT_OUT = "autograder-out"


def _positive(kind: type, what: str) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number of {what}, not {text}")
        return value

    return parse


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "submissions",
        nargs="*",
        type=Path,
        help="submission folders or .zip files, one per student (files at the top or one level down), or "
        "a Canvas or Moodle bulk download, zipped or unpacked (none: grade the demo class)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="student ids for LMS downloads: a CSV with student_id (or SIS Login ID, ...), and canvas_id, "
        "moodle_id or name; everyone on it without a submission gets a row 'not submitted'",
    )
    parser.add_argument(
        "--jobs", type=_at_least_one, default=1, help="submissions graded at once (default 1)"
    )
    parser.add_argument("--force", action="store_true", help="grade again students already graded in --out")
    parser.add_argument(
        "--timeout",
        type=_positive(float, "seconds"),
        default=DEFAULTS.call_timeout,
        help="seconds per call into a submission",
    )
    parser.add_argument(
        "--memory-mb",
        type=_positive(int, "MB"),
        default=DEFAULTS.memory_mb,
        help="memory per worker process, in MB",
    )
    parser.add_argument(
        "--submission-timeout",
        type=_positive(float, "seconds"),
        default=DEFAULTS.submission_timeout,
        help="seconds for the whole of one submission",
    )


def run(args: argparse.Namespace) -> int:
    from autograder.sandbox import zygote

    # The sandbox's zygote first: a fresh interpreter, it imports torch while this process does.
    zygote.start()
    paths = list(args.submissions)
    try:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        if not paths:
            from autograder.demo.classroom import write_demo_class

            demo_dir = Path(args.out) / "demo-submissions"
            paths = write_demo_class(demo_dir)
            print(f"No submission given: grading the demo class written to {demo_dir}", file=sys.stderr)
        with scratch_folder("ag-intake-") as unpacked:
            return _run_intake(args, paths, Path(unpacked))
    except OSError as exc:
        print(
            f"error: {exc.filename or args.out}: {exc.strerror or exc}; nothing more was written",
            file=sys.stderr,
        )
        return 2


def _run_intake(args: argparse.Namespace, paths: list[Path], unpacked: Path) -> int:
    from autograder.grading import intake
    from autograder.grading.batch import BadSubmission, DuplicateStudent, grade_submissions, students
    from autograder.grading.plan import prepare
    from autograder.grading.plugin import GraderBug

    try:
        roster = intake.read_roster(args.roster) if getattr(args, "roster", None) else None
    except intake.IntakeError as exc:
        print(f"error: {exc}; nothing was graded", file=sys.stderr)
        return 2
    gathered = intake.gather(paths, unpacked, roster=roster)
    problems = gathered.problems
    for problem in problems:
        print(terminal_safe(f"error: {problem} (not graded)"), file=sys.stderr)
    for warning in gathered.warnings:
        print(terminal_safe(f"warning: {warning}"), file=sys.stderr)
    sources = [found for found in gathered.submissions if found.source is not None]
    noted = [found for found in gathered.submissions if found.source is None]
    try:
        students(gathered.submissions)
        prepare(GRADERS_DIR)
    except (DuplicateStudent, BadSubmission) as exc:
        print(terminal_safe(f"error: {exc}; nothing was graded"), file=sys.stderr)
        return 2
    except GraderBug as exc:
        print(f"GRADER ERROR: {exc}\nnothing was graded", file=sys.stderr)
        return 2
    print(confine.describe_features(confine.features()), file=sys.stderr)
    folder = ResultsFolder(Path(args.out), warn=lambda text: print(f"warning: {text}", file=sys.stderr))
    noted_results = [SubmissionResult(found.student, [], note=found.note) for found in noted]
    for found, result in zip(noted, noted_results, strict=True):
        folder.add(result, rebuild=False)
        print(terminal_safe(found.describe()), file=sys.stderr)
    limits_module.become_subreaper()
    results = grade_submissions(
        sources,
        args.out,
        jobs=args.jobs,
        force=args.force,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        submission_timeout=args.submission_timeout,
        progress=True,
        reap_strays=True,
        folder=folder,
    )
    results += noted_results
    print(terminal_safe(summary_table(results)))
    print(
        f"\nWrote {Path(args.out) / 'grades.csv'}, {Path(args.out) / 'report.html'} and "
        f"{Path(args.out) / 'results'}/<student>.json"
    )
    if not limits_module.drops_privileges():
        print(
            "note: not running as root, so the workers keep your user id (the drop to 'nobody' is off)",
            file=sys.stderr,
        )
    if not limits_module.file_sandbox_available():
        print(
            "WARNING: this kernel has no Landlock (Linux 5.13+), so the workers could read any file your "
            "user can, the reference solutions included: grade on a machine that has it",
            file=sys.stderr,
        )
    not_graded = [r for r in results if r.row_note and r.row_note != intake.NOT_SUBMITTED]
    return 1 if problems or not_graded else 0
