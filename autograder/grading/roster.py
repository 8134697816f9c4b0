"""A roster: the student ids of ``grades.csv`` and how Canvas and Moodle name the same students.

:func:`read_roster` reads it from a CSV (an LMS's gradebook export works as it is); the intake
(:mod:`autograder.grading.intake`) uses it to name the students of a bulk download.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class IntakeError(ValueError):
    """A path or roster that cannot be used at all (one line, naming the path)."""


@dataclass
class Roster:
    """Student ids and how the LMSs name them; built by :func:`read_roster`."""

    path: Path
    students: list[str] = field(default_factory=list)
    by_canvas_id: dict[str, str] = field(default_factory=dict)
    by_moodle_id: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    def match(self, *, canvas_id: str = "", moodle_id: str = "", name: str = "") -> tuple[list[str], str]:
        """The student ids for an LMS id or, failing that, a name, and what matched them.

        ``([student], "canvas id")`` or ``([student], "moodle id")`` for an LMS id on the roster; else
        ``(students, "name")`` for the roster entries with that name (more than one when the roster has
        the name twice); else ``([], "")``. A name is the weaker evidence: the caller decides what to do
        when two submissions match one entry by name (see :mod:`autograder.grading.intake`).
        """
        if canvas_id and canvas_id in self.by_canvas_id:
            return [self.by_canvas_id[canvas_id]], "canvas id"
        if moodle_id and moodle_id in self.by_moodle_id:
            return [self.by_moodle_id[moodle_id]], "moodle id"
        key = _name_key(name)
        students = list(self.by_name.get(key, [])) if key else []
        return (students, "name") if students else ([], "")

    def find(self, *, canvas_id: str = "", moodle_id: str = "", name: str = "") -> str | None:
        """The student id for an LMS id or, failing that, a name that one roster entry has; else None."""
        students, _ = self.match(canvas_id=canvas_id, moodle_id=moodle_id, name=name)
        return students[0] if len(students) == 1 else None


ID_COLUMNS = ("student_id", "student id", "sis login id", "sis user id", "id number", "username", "student")
CANVAS_COLUMNS = ("canvas_id", "canvas user id", "canvas_user_id", "user_id", "id")
MOODLE_COLUMNS = ("moodle_id", "participant_id", "participant id", "identifier")
NAME_COLUMNS = ("name", "full name", "full_name", "student")


def read_roster(path: Path | str) -> Roster:
    """Read a roster CSV: a header, then one row per student.

    The student id (as ``grades.csv`` shows it) is the first column present of ``student_id``,
    ``SIS Login ID``, ``SIS User ID``, ``ID number``, ``Username``, ``student``. Optional: the Canvas user
    id (``canvas_id``, or ``ID`` as in Canvas's gradebook export), the Moodle id in download names
    (``moodle_id``, or ``Identifier`` as in Moodle's grading worksheet, "Participant 12"), and the name
    (``name``, ``Full name``, or ``First name`` with ``Last name``/``Surname``). Canvas's
    "Points Possible" row is skipped. Column names are matched without regard to case.

    Raises:
        IntakeError: the file cannot be read, has no id column, or gives an id that is not a plain name.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IntakeError(
            f"{path}: cannot read the roster ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}

    def column(candidates: tuple[str, ...], *, exclude: str | None = None) -> str | None:
        for candidate in candidates:
            if candidate in columns and columns[candidate] != exclude:
                return columns[candidate]
        return None

    id_column = column(ID_COLUMNS)
    if id_column is None:
        raise IntakeError(
            f"{path}: the roster has no student id column (one of: student_id, SIS Login ID, SIS User ID, "
            "ID number, Username, student)"
        )
    canvas_column = column(CANVAS_COLUMNS, exclude=id_column)
    moodle_column = column(MOODLE_COLUMNS, exclude=id_column)
    name_column = column(NAME_COLUMNS, exclude=id_column)
    first = columns.get("first name")
    last = columns.get("last name") or columns.get("surname")
    roster = Roster(path)
    for line, row in enumerate(reader, start=2):
        student = (row.get(id_column) or "").strip()
        label = " ".join((row.get(name_column) or "").split()) if name_column else ""
        if not student or label.lower() == "points possible":
            continue
        if not PLAIN_ID.match(student):
            raise IntakeError(
                f"{path}:{line}: {student!r} is not a plain student id (letters, digits, _ . @ -)"
            )
        roster.students.append(student)
        roster.rows[student] = {k: (v or "") for k, v in row.items() if k is not None}
        if canvas_column and (row.get(canvas_column) or "").strip():
            roster.by_canvas_id[row[canvas_column].strip()] = student
        if moodle_column and (row.get(moodle_column) or "").strip():
            digits = re.sub(r"\D", "", row[moodle_column])
            if digits:
                roster.by_moodle_id[digits] = student
        names = [label]
        if first and last:
            given, family = (row.get(first) or "").strip(), (row.get(last) or "").strip()
            names += [f"{given} {family}", f"{family}, {given}", f"{family} {given}"]
        for name in names:
            if _name_key(name):
                for key in (_name_key(name), _canvas_name(name)):
                    entries = roster.by_name.setdefault(key, [])
                    if student not in entries:
                        entries.append(student)
    return roster


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).replace("_", " ").casefold().split())


def _canvas_name(name: str) -> str:
    """Canvas's form of a (sortable) name in file names: lower case, word characters only."""
    return re.sub(r"[^\w]", "", unicodedata.normalize("NFKC", name).lower())
