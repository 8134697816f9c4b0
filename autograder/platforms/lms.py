"""Gradebook CSVs for Canvas and Moodle, from ``grades.csv`` and a roster (and the notebook's export).

``python -m autograder lms canvas|moodle --grades out/grades.csv --roster R --out FILE
[--notebook export.csv]``.

- **Canvas** (Grades > Import): the columns of Canvas's own gradebook export, ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment named
  ``Title (assignment id)``; Canvas matches a row to a student by ``ID`` (the Canvas user id), else the
  SIS ids, and a column by the id in brackets (without an id, Canvas offers to create a new assignment).
- **Moodle** (Grades > Import > CSV file): one identifier column and one column per grade item; on the
  import page map the identifier column to the matching user field ("Username", "ID number" or "Email
  address", ``--moodle-identifier``) and each item column to its grade item (or a new one).

The exercises' column holds ``total`` from ``grades.csv`` (out of 100); with ``--notebook``, a second
column holds the walk-through's points from ``python -m autograder course export``. Only students on the
roster are written (the LMS can match no other); the others are listed in a warning.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.settings import ASSIGNMENT_ID as NOTEBOOK_ASSIGNMENT
from autograder.grading import intake

DEFAULT_TITLE = "DistilBERT and RoBERTa exercises"
DEFAULT_NOTEBOOK_TITLE = "DistilBERT and RoBERTa walk-through"
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# Moodle's user fields a grade import can map to, and the roster columns that give them.
MOODLE_IDENTIFIERS = {
    "username": ("Username", ("username",)),
    "idnumber": ("ID number", ("id number", "idnumber", "id_number")),
    "email": ("Email address", ("email address", "email")),
}


class LmsError(ValueError):
    """A file that cannot be used (one line, naming the file)."""


@dataclass
class Gradebook:
    """The rows to write and what to tell the instructor about the ones left out."""

    header: list[str]
    rows: list[list[str]]
    warnings: list[str] = field(default_factory=list)


def _read_csv(path: Path, what: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LmsError(f"{path}: cannot read the {what} ({getattr(exc, 'strerror', None) or exc})") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in columns]
    if missing:
        raise LmsError(
            f"{path}: the {what} has no {', '.join(repr(m) for m in missing)} column "
            f"(columns found: {', '.join(columns) or 'none'})"
        )
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def read_grades(path: Path | str) -> dict[str, str]:
    """student -> total, from the ``grades.csv`` that ``python -m autograder grade`` writes.

    Raises:
        LmsError: the file cannot be read or has no ``student`` or ``total`` column.
    """
    rows = _read_csv(Path(path), "grades file", ("student", "total"))
    return {row["student"]: row["total"] for row in rows if row["student"]}


def read_notebook_points(path: Path | str) -> dict[str, str]:
    """student -> the walk-through's points, from ``python -m autograder course export``'s CSV.

    Raises:
        LmsError: the file cannot be read or has no ``student_id`` or walk-through column.
    """
    rows = _read_csv(Path(path), "notebook export", ("student_id", NOTEBOOK_ASSIGNMENT))
    return {row["student_id"]: row[NOTEBOOK_ASSIGNMENT] for row in rows if row["student_id"]}


def _field(row: dict[str, str], *names: str) -> str:
    lowered = {key.strip().lower(): value.strip() for key, value in row.items()}
    for name in names:
        if lowered.get(name):
            return lowered[name]
    return ""


def _display_name(row: dict[str, str], student: str) -> str:
    name = _field(row, "name", "full name", "full_name", "student")
    if name and name != student:
        return name
    given, family = _field(row, "first name", "first_name"), _field(row, "last name", "surname", "last_name")
    return f"{family}, {given}" if given and family else (name or student)


def _column(title: str, assignment_id: str) -> str:
    return f"{title} ({assignment_id})" if assignment_id else title


def _scores(
    roster: intake.Roster, grades: dict[str, str], notebook: dict[str, str] | None
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(student, exercises' total, notebook points) for each student on the roster, and warnings."""
    warnings = []
    off_roster = sorted(set(grades) - set(roster.students))
    if off_roster:
        warnings.append(
            f"{len(off_roster)} student(s) in the grades are not on the roster {roster.path} and were left "
            f"out: {', '.join(off_roster)}"
        )
    if notebook is not None:
        off_notebook = sorted(set(notebook) - set(roster.students))
        if off_notebook:
            warnings.append(
                f"{len(off_notebook)} student(s) in the notebook export are not on the roster and were "
                f"left out: {', '.join(off_notebook)}"
            )
    ungraded = [student for student in roster.students if student not in grades]
    if ungraded:
        warnings.append(
            f"{len(ungraded)} student(s) on the roster have no row in the grades (their cell is left "
            f"empty): {', '.join(ungraded)}"
        )
    rows = [
        (student, grades.get(student, ""), (notebook or {}).get(student, "")) for student in roster.students
    ]
    return rows, warnings


def canvas_gradebook(
    roster: intake.Roster,
    grades: dict[str, str],
    notebook: dict[str, str] | None = None,
    *,
    title: str = DEFAULT_TITLE,
    assignment_id: str = "",
    notebook_title: str = DEFAULT_NOTEBOOK_TITLE,
    notebook_assignment_id: str = "",
) -> Gradebook:
    """Canvas's gradebook import: the identity columns, then the exercises (and the notebook).

    Raises:
        LmsError: a student on the roster has none of ID, SIS User ID, SIS Login ID (Canvas could not
            match the row).
    """
    header = [*CANVAS_IDENTITY, _column(title, assignment_id)]
    if notebook is not None:
        header.append(_column(notebook_title, notebook_assignment_id))
    scores, warnings = _scores(roster, grades, notebook)
    rows, unmatched = [], []
    for student, total, notebook_points in scores:
        row = roster.rows.get(student, {})
        canvas_id = _field(row, "id", "canvas_id", "canvas user id", "canvas_user_id", "user_id")
        sis_user = _field(row, "sis user id", "sis_user_id")
        sis_login = _field(row, "sis login id", "sis_login_id")
        if not (canvas_id or sis_user or sis_login):
            unmatched.append(student)
        line = [_display_name(row, student), canvas_id, sis_user, sis_login, _field(row, "section"), total]
        rows.append(line + ([notebook_points] if notebook is not None else []))
    if unmatched:
        raise LmsError(
            f"{roster.path}: Canvas matches students by ID, SIS User ID or SIS Login ID, and the roster "
            f"gives none for {len(unmatched)} student(s): {', '.join(unmatched)} "
            "(add an ID or SIS Login ID column)"
        )
    return Gradebook(header, rows, warnings)


def moodle_gradebook(
    roster: intake.Roster,
    grades: dict[str, str],
    notebook: dict[str, str] | None = None,
    *,
    identifier: str = "username",
    title: str = DEFAULT_TITLE,
    notebook_title: str = DEFAULT_NOTEBOOK_TITLE,
) -> Gradebook:
    """Moodle's CSV grade import: the identifier column, then one column per grade item.

    ``identifier`` is the Moodle user field the rows are matched on: ``username`` (the roster's
    ``Username`` column, else the student id), ``idnumber`` (``ID number``) or ``email`` (``Email address``).

    Raises:
        LmsError: a student on the roster has no value for the identifier.
    """
    header_name, columns = MOODLE_IDENTIFIERS[identifier]
    header = [header_name, title] + ([notebook_title] if notebook is not None else [])
    scores, warnings = _scores(roster, grades, notebook)
    rows, unmatched = [], []
    for student, total, notebook_points in scores:
        value = _field(roster.rows.get(student, {}), *columns)
        if not value and identifier == "username":
            value = student
        if not value:
            unmatched.append(student)
        rows.append([value, total] + ([notebook_points] if notebook is not None else []))
    if unmatched:
        raise LmsError(
            f"{roster.path}: the roster has no {header_name} for {len(unmatched)} student(s): "
            f"{', '.join(unmatched)} (add a '{header_name}' column or choose another --moodle-identifier)"
        )
    return Gradebook(header, rows, warnings)


def write_csv(path: Path, gradebook: Gradebook) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(gradebook.header)
    writer.writerows(gradebook.rows)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise LmsError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``python -m autograder lms canvas|moodle``."""
    parser.add_argument("lms", choices=("canvas", "moodle"), help="the gradebook to import into")
    parser.add_argument(
        "--grades", type=Path, required=True, help="grades.csv from python -m autograder grade"
    )
    parser.add_argument(
        "--roster",
        type=Path,
        required=True,
        metavar="CSV",
        help="the class list (as for grade --roster; for Canvas with ID or SIS Login ID, for Moodle with the "
        "identifier column)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    parser.add_argument(
        "--notebook",
        type=Path,
        metavar="CSV",
        help="also the walk-through's points: python -m autograder course export's CSV",
    )
    parser.add_argument(
        "--title", default=DEFAULT_TITLE, help=f"the assignment's name (default {DEFAULT_TITLE!r})"
    )
    parser.add_argument(
        "--assignment-id",
        default="",
        help="Canvas: the assignment's id (in its URL), so the column updates it",
    )
    parser.add_argument(
        "--notebook-title", default=DEFAULT_NOTEBOOK_TITLE, help="the walk-through's assignment name"
    )
    parser.add_argument(
        "--notebook-assignment-id", default="", help="Canvas: the walk-through's assignment id"
    )
    parser.add_argument(
        "--moodle-identifier",
        choices=tuple(MOODLE_IDENTIFIERS),
        default="username",
        help="Moodle: the user field the rows are matched on (default username)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        roster = intake.read_roster(args.roster)
        grades = read_grades(args.grades)
        notebook = read_notebook_points(args.notebook) if args.notebook else None
        if args.lms == "canvas":
            gradebook = canvas_gradebook(
                roster,
                grades,
                notebook,
                title=args.title,
                assignment_id=args.assignment_id,
                notebook_title=args.notebook_title,
                notebook_assignment_id=args.notebook_assignment_id,
            )
        else:
            gradebook = moodle_gradebook(
                roster,
                grades,
                notebook,
                identifier=args.moodle_identifier,
                title=args.title,
                notebook_title=args.notebook_title,
            )
        write_csv(args.out, gradebook)
    except (LmsError, intake.IntakeError) as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 2
    for warning in gradebook.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    where = "Grades > Import" if args.lms == "canvas" else "Grades > Import > CSV file"
    print(f"Wrote {args.out}: {len(gradebook.rows)} students for {args.lms.capitalize()} ({where})")
    return 0
