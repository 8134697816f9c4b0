"""``python -m autograder course VERB``: the instructor's nbgrader workflow for the walk-through notebook.

Each verb is a thin wrapper over nbgrader run in the course root with the course's nbgrader_config.py.
The course root (``--course``, default ./nbgrader-course) is created on first use, its configuration
written from autograder/course/nbgrader_config.py and its source notebook copied from
solutions/walkthrough.ipynb. A term looks like:

  init -> release (upload release/walkthrough/walkthrough.ipynb to the LMS) -> collect ZIP ->
  autograde --jobs 2 -> feedback (return feedback/<student>/walkthrough/walkthrough.html) ->
  record-grades out/grades.csv -> export
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .settings import ASSIGNMENT_ID, CELL_TIMEOUT_SECONDS, DEFAULT_COURSE_DIR

COLLECT_HELP = f"""\
Bring in the notebooks downloaded from an LMS (nbgrader zip_collect). Give the download as a zip or its
unpacked folder, or one folder or zip per student (as python -m exercises.handin writes them). A student's
id is read from each notebook's path, at any depth: <student>_{ASSIGNMENT_ID}.ipynb,
<student>/{ASSIGNMENT_ID}.ipynb or <student>/exercises/{ASSIGNMENT_ID}.ipynb, also with a suffix before
.ipynb ("<student>_{ASSIGNMENT_ID} (1).ipynb"); ids are letters, digits, _ . @ -. A Canvas or Moodle bulk
download is split per student, the ids mapped by --roster. Other files are skipped. Each student found
gets a fresh submitted/<student>/{ASSIGNMENT_ID}/.
"""

AUTOGRADE_HELP = f"""\
Run every submission with the hidden tests restored and store the scores in the gradebook (a cell that
runs longer than {CELL_TIMEOUT_SECONDS} s is interrupted). --jobs N grades N students at once: the class is
shared out among N nbgrader processes, each with a private copy of the gradebook, merged back one student
at a time: the gradebook ends up as a serial run leaves it.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``course`` verbs to ``parser``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.add_argument(
        "--course",
        type=Path,
        default=Path(DEFAULT_COURSE_DIR),
        metavar="DIR",
        help=f"the course root, created if missing (default: ./{DEFAULT_COURSE_DIR})",
    )
    verbs = parser.add_subparsers(dest="course_verb", required=True, metavar="VERB")

    init = verbs.add_parser("init", help="create or refresh the course: config and source notebook")
    init.add_argument(
        "--source",
        type=Path,
        default=None,
        metavar="NOTEBOOK",
        help="the source notebook (default: solutions/walkthrough.ipynb)",
    )

    release = verbs.add_parser("release", help="generate the learners' notebook into the course's release/")
    release.add_argument(
        "--to", type=Path, default=None, metavar="DIR", help="also copy the released notebook into DIR"
    )

    collect = verbs.add_parser(
        "collect",
        help="bring in an LMS download (zip) with nbgrader zip_collect",
        description=COLLECT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    collect.add_argument(
        "zip", type=Path, nargs="+", metavar="PATH", help="the download (zip or folder), or one per student"
    )
    collect.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="student ids for a Canvas or Moodle download (see grade --help)",
    )

    autograde = verbs.add_parser(
        "autograde",
        help="autograde the collected submissions",
        description=AUTOGRADE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    autograde.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="students graded at once (default 1)"
    )
    autograde.add_argument(
        "--student", action="append", default=[], metavar="ID", help="only this student (repeatable)"
    )

    feedback = verbs.add_parser("feedback", help="HTML feedback per student, hidden tests left out")
    feedback.add_argument(
        "--student", action="append", default=[], metavar="ID", help="only this student (repeatable)"
    )

    export = verbs.add_parser("export", help="one CSV row per student: walk-through and exercises")
    export.add_argument(
        "--to",
        type=Path,
        default=None,
        metavar="CSV",
        help="where to write (default: export.csv in the course root)",
    )

    record = verbs.add_parser("record-grades", help="store `python -m autograder grade`'s grades.csv")
    record.add_argument(
        "grades_csv",
        type=Path,
        metavar="GRADES_CSV",
        help="header student,ex1,ex2,ex3,ex4,ex5,total,max_total",
    )


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``course`` verb; returns the exit status."""
    from autograder.grading.intake import IntakeError

    from .autograde import CourseError
    from .collect import CollectError
    from .exercise_grades import GradesFileError
    from .feedback import FeedbackLeakError
    from .nbgrader_cli import NbgraderError

    try:
        return VERB_RUNNERS[args.course_verb](args)
    except (
        CourseError,
        CollectError,
        IntakeError,
        NbgraderError,
        FeedbackLeakError,
        GradesFileError,
        FileNotFoundError,
    ) as error:
        print(f"course {args.course_verb}: {error}", file=sys.stderr)
        return 1


def _init(args: argparse.Namespace) -> int:
    from .course_dir import SOURCE_NOTEBOOK, init_course

    root = init_course(args.course, source_notebook=args.source or SOURCE_NOTEBOOK)
    print(f"course ready in {root}")
    return 0


def _release(args: argparse.Namespace) -> int:
    from .course_dir import ensure_course
    from .release import generate_assignment

    released = generate_assignment(ensure_course(args.course))
    print(f"released: {released}")
    if args.to is not None:
        args.to.mkdir(parents=True, exist_ok=True)
        copy = shutil.copy(released, args.to / released.name)
        print(f"copied to {copy}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from autograder.grading.intake import read_roster

    from .collect import check_paths, collect_zip
    from .course_dir import ensure_course, released_notebook_path
    from .release import generate_assignment

    paths = check_paths(list(args.zip))
    roster = read_roster(args.roster) if args.roster else None
    course = ensure_course(args.course)
    if not released_notebook_path(course).is_file():  # nbgrader files nothing for an unreleased assignment
        released = generate_assignment(course)
        print(f"released the walk-through first (nbgrader collects a released assignment only): {released}")
    students = collect_zip(course, paths, roster)
    print(f"{len(students)} submissions in {args.course / 'submitted'}: {', '.join(students)}")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    from .autograde import autograde
    from .course_dir import ensure_course
    from .gradebook import gradebook_url, submission_scores

    if args.jobs < 1:
        print("course autograde: --jobs must be at least 1", file=sys.stderr)
        return 2
    root = ensure_course(args.course)
    outcomes = autograde(root, jobs=args.jobs, students=args.student or None)
    scores = submission_scores(gradebook_url(root), ASSIGNMENT_ID)
    for outcome in outcomes:
        score, max_score = scores.get(outcome.student, (0.0, 0.0))
        status = "" if outcome.ok else "  (autograde reported an error)"
        print(f"{outcome.student:>20}  {score:g} / {max_score:g}{status}")
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def _feedback(args: argparse.Namespace) -> int:
    from .course_dir import ensure_course
    from .feedback import generate_feedback

    files = generate_feedback(ensure_course(args.course), students=args.student)
    print(f"{len(files)} feedback files in {args.course / 'feedback'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .course_dir import ensure_course
    from .nbgrader_cli import run_nbgrader

    root = ensure_course(args.course)
    destination = (args.to or root / "export.csv").resolve()
    run_nbgrader(root, ["export", "--to", str(destination)])
    print(f"exported: {destination}")
    return 0


def _record_grades(args: argparse.Namespace) -> int:
    from .course_dir import ensure_course
    from .exercise_grades import record_grades

    students = record_grades(ensure_course(args.course), args.grades_csv)
    print(f"recorded the exercises of {len(students)} students")
    return 0


VERB_RUNNERS = {
    "init": _init,
    "release": _release,
    "collect": _collect,
    "autograde": _autograde,
    "feedback": _feedback,
    "export": _export,
    "record-grades": _record_grades,
}
