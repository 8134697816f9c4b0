"""Intake: what instructors download becomes one submission per student, or a row saying why there is none.

Accepted, for each path given:

- a student's folder or ``.zip`` (the student id is its name), holding the wanted files at the top or
  one level down: ``alice/ex1_softmax.py``, ``alice/exercises/ex1_softmax.py``, ``alice/exercises.zip``,
  ``alice.zip`` with ``ex1_softmax.py`` or ``exercises/ex1_softmax.py`` or ``exercises.zip`` inside;
- a Canvas bulk download ("Download Submissions"), as the zip or the folder it unpacks to: one file per
  uploaded file, named ``<name>_<user id>_<file id>_<original name>`` (``<name>_LATE_...`` when late,
  ``anon_<id>_...`` when graded anonymously), Canvas's ``ContentZipper``;
- a Moodle bulk download ("Download all submissions"), as the zip or its folder: one folder per student,
  ``<Full Name>_<id>_assignsubmission_file`` (older versions end it with ``_``), or, when downloaded
  without folders, files named ``<Full Name>_<id>_assignsubmission_file_<original name>``.

An optional roster (CSV) maps the LMS's ids and names to the student ids used in ``grades.csv``
(:func:`read_roster`); a student on it with nothing in the download gets a row "not submitted".

Every student's wanted files are copied, flat, into a folder of their own under a working folder; that
folder is what the engine stages. A submission holding none of them, or a file that is not a zip, is
kept with a note instead: the engine writes its row without grading it.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.grading.roster import IntakeError, Roster, read_roster
from autograder.manifest import EXERCISES

__all__ = ["IntakeError", "Roster", "gather", "read_roster"]

EXERCISE_FILES = frozenset(exercise.filename for exercise in EXERCISES)
NOTEBOOK = "walkthrough.ipynb"

NOT_SUBMITTED = "not submitted"
NOT_A_ZIP = "not a zip file"
NO_EXERCISE_FILES = "no exercise files"
TIMED_OUT = "timed out"
NOTES = (NOT_SUBMITTED, NOT_A_ZIP, NO_EXERCISE_FILES, TIMED_OUT)

MAX_MEMBER_BYTES = 50_000_000

CANVAS_FILE = re.compile(
    r"^(?:(?P<name>[^/]*?)_)??(?:(?P<late>LATE)_)?(?P<user>\d+|anon_[A-Za-z0-9]+)_(?P<file_id>\d+)_"
    r"(?P<original>[^/]+)$"
)
MOODLE_ENTRY = re.compile(
    r"^(?P<name>[^/]+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<original>[^/]*))?$"
)
# Canvas renames a re-uploaded file "ex1_softmax-1.py"; Moodle and browsers use "ex1_softmax (1).py".
RENAMED_COPY = re.compile(r"^(?P<stem>.+?)(?:-\d+| \(\d+\))(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Submission:
    """One student's hand-in as found: ``source`` is the folder to grade, or None with a ``note``."""

    student: str
    source: Path | None
    note: str = ""
    origin: str = ""
    detail: str = ""
    late: bool = False

    def describe(self) -> str:
        """One console line for a submission with a note: the student, the note, the path."""
        where = f" ({self.detail})" if self.detail else (f" ({self.origin})" if self.origin else "")
        return f"{self.student}: {self.note}{where}"


def _ascii_word(name: str) -> str:
    """Canvas's name in a file name as plain ASCII (``müllerjan`` -> ``mullerjan``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_]", "", ascii_name)


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").lower() or "student"


# --------------------------------------------------------------------------------------------------
# Containers: a folder or a zip, seen as files by relative path


Reader = Callable[[], bytes]


class _Container:
    """The files of a folder or a zip: relative POSIX path -> a function that reads at most the limit."""

    def __init__(self, files: dict[str, Reader], where: str):
        self.files = files
        self.where = where

    @classmethod
    def of_folder(cls, folder: Path) -> _Container:
        files: dict[str, Reader] = {}
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(folder).as_posix()
            if any(part.startswith(".") or part == "__pycache__" for part in relative.split("/")):
                continue
            files[relative] = _file_reader(path)
        return cls(files, str(folder))

    @classmethod
    def of_zip(cls, archive: zipfile.ZipFile, where: str) -> _Container:
        files: dict[str, Reader] = {}
        for info in archive.infolist():
            name = info.filename.replace("\\", "/").lstrip("/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if info.is_dir() or not parts or ".." in parts or parts[0] == "__MACOSX":
                continue
            files["/".join(parts)] = _member_reader(archive, info)
        return cls(files, where)

    def top_level(self) -> set[str]:
        return {relative.split("/", 1)[0] for relative in self.files}


def _file_reader(path: Path) -> Reader:
    def read() -> bytes:
        with open(path, "rb") as handle:
            return handle.read(MAX_MEMBER_BYTES + 1)

    return read


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Reader:
    def read() -> bytes:
        with archive.open(info) as handle:
            return handle.read(MAX_MEMBER_BYTES + 1)

    return read


def _wanted_name(name: str, wanted: frozenset[str]) -> str | None:
    """``name`` as one of the wanted files (``ex1_softmax-1.py`` is ``ex1_softmax.py``), or None."""
    if name in wanted:
        return name
    match = RENAMED_COPY.match(name)
    if match and match["stem"] + match["suffix"] in wanted:
        return match["stem"] + match["suffix"]
    return None


def _pick(candidates: list[str]) -> str:
    """The shallowest path; among equals one inside a folder named ``exercises``, then by name."""
    return min(candidates, key=lambda p: (p.count("/"), "exercises" not in p.split("/")[:-1], p))


def find_wanted(files: dict[str, Reader], wanted: frozenset[str]) -> dict[str, Reader]:
    """The wanted files in ``files`` (any depth, the shallowest copy of each), else those of the first
    zip at the top or one level down that holds some (``exercises.zip`` first); empty when none."""
    found: dict[str, list[str]] = {}
    for relative in files:
        name = _wanted_name(PurePosixPath(relative).name, wanted)
        if name is not None:
            found.setdefault(name, []).append(relative)
    if found:
        return {name: files[_pick(paths)] for name, paths in found.items()}
    zips = [r for r in files if r.lower().endswith(".zip") and r.count("/") <= 1]
    for relative in sorted(zips, key=lambda r: (r.count("/"), PurePosixPath(r).name != "exercises.zip", r)):
        try:
            inner = zipfile.ZipFile(io.BytesIO(files[relative]()))
        except (zipfile.BadZipFile, OSError, ValueError):
            continue
        inner_found = {
            name: reader
            for name, reader in find_wanted(_Container.of_zip(inner, relative).files, wanted).items()
            if not name.lower().endswith(".zip")
        }
        if inner_found:
            return inner_found
    return {}


# --------------------------------------------------------------------------------------------------
# Gathering


@dataclass
class _Found:
    student: str
    files: dict[str, Reader]
    origin: str
    empty: bool = False
    late: bool = False
    listed: bool = False


class _Gatherer:
    def __init__(self, workdir: Path, wanted: frozenset[str], roster: Roster | None):
        self.workdir = Path(workdir)
        self.wanted = wanted
        self.roster = roster
        self.submissions: list[Submission] = []
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.archives: list[zipfile.ZipFile] = []

    def close(self) -> None:
        for archive in self.archives:
            archive.close()

    # One path ---------------------------------------------------------------------------------------

    def add(self, path: Path) -> None:
        if path.is_dir():
            container = _Container.of_folder(path)
            if not self._class_download(container):
                self._student(path, container, empty=not any(path.iterdir()))
        elif path.is_file():
            if path.suffix.lower() != ".zip":
                self._noted(_path_student(path), NOT_A_ZIP, str(path), f"{path} is not a .zip file")
                return
            try:
                archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                self._noted(
                    _path_student(path), NOT_A_ZIP, str(path), f"{path} cannot be read as a zip ({exc})"
                )
                return
            self.archives.append(archive)
            container = _Container.of_zip(archive, str(path))
            if not self._class_download(container):
                self._student(path, container, empty=not container.files)
        elif not path.exists():
            self.problems.append(f"{path}: no such file or folder")
        else:
            self.problems.append(f"{path} is neither a folder nor a file")

    def _student(self, path: Path, container: _Container, *, empty: bool) -> None:
        student = _path_student(path)
        self._found(_Found(student, find_wanted(container.files, self.wanted), str(path), empty=empty))

    # LMS downloads ----------------------------------------------------------------------------------

    def _class_download(self, container: _Container) -> bool:
        layout = _layout_of(container, self.wanted)
        if layout == "moodle":
            matches = {name: MOODLE_ENTRY.match(name) for name in container.top_level()}
            self._moodle(container, {name: m for name, m in matches.items() if m})
        elif layout == "canvas":
            matches = {r: CANVAS_FILE.match(r) for r in container.files if "/" not in r}
            self._canvas(container, {r: m for r, m in matches.items() if m})
        return layout is not None

    def _canvas(self, container: _Container, matches: dict[str, re.Match]) -> None:
        groups: dict[str, dict[str, Reader]] = {}
        names: dict[str, str] = {}
        late: dict[str, bool] = {}
        for relative, match in sorted(matches.items()):
            user = match["user"]
            groups.setdefault(user, {})[match["original"]] = container.files[relative]
            names[user] = match["name"] or ""
            late[user] = late.get(user, False) or bool(match["late"])
        for user, files in groups.items():
            name = names[user]
            listed = self.roster.find(canvas_id=user, name=name) if self.roster else None
            student = listed or (f"{_ascii_word(name)}_{user}" if _ascii_word(name) else user)
            self._found(
                _Found(
                    student,
                    find_wanted(files, self.wanted),
                    f"{container.where}: {name or user}'s files (Canvas user {user})",
                    late=late[user],
                    listed=listed is not None,
                )
            )

    def _moodle(self, container: _Container, matches: dict[str, re.Match]) -> None:
        groups: dict[str, dict[str, Reader]] = {}
        names: dict[str, str] = {}
        for top, match in sorted(matches.items()):
            key = match["id"]
            names[key] = match["name"]
            files = groups.setdefault(key, {})
            if match["plugin"] != "file":
                continue
            inside = f"{top}/"
            for relative, reader in container.files.items():
                if relative.startswith(inside):
                    files[relative[len(inside) :]] = reader
                elif relative == top and match["original"]:
                    files[match["original"]] = reader
        for key, files in groups.items():
            name = names[key]
            listed = self.roster.find(moodle_id=key, name=name) if self.roster else None
            student = listed or f"{_slug(name)}_{key}"
            self._found(
                _Found(
                    student,
                    find_wanted(files, self.wanted),
                    f"{container.where}: {name}'s files (Moodle id {key})",
                    listed=listed is not None,
                )
            )

    # Results ----------------------------------------------------------------------------------------

    def _noted(self, student: str, note: str, origin: str, detail: str) -> None:
        self.submissions.append(Submission(student, None, note, origin, detail))

    def _found(self, found: _Found) -> None:
        if self.roster is not None and not found.listed and found.student not in self.roster.students:
            self.warnings.append(
                f"{found.origin}: {found.student} is not on the roster {self.roster.path} "
                "(graded under that id)"
            )
        if not found.files:
            what = "is empty" if found.empty else f"holds none of {', '.join(sorted(self.wanted))}"
            self.submissions.append(
                Submission(found.student, None, NO_EXERCISE_FILES, found.origin, f"{found.origin} {what}")
            )
            return
        if not found.student or found.student.startswith(".") or "/" in found.student:
            self.problems.append(f"{found.origin}: cannot use {found.student!r} as a student id")
            return
        folder = self.workdir / found.student
        folder.mkdir(parents=True, exist_ok=True)
        for name, reader in found.files.items():
            (folder / name).write_bytes(reader())
        self.submissions.append(Submission(found.student, folder, "", found.origin, late=found.late))

    def not_submitted(self) -> None:
        if self.roster is None:
            return
        present = {submission.student for submission in self.submissions}
        for student in self.roster.students:
            if student not in present:
                self._noted(
                    student, NOT_SUBMITTED, str(self.roster.path), f"on the roster {self.roster.path}"
                )


def _path_student(path: Path) -> str:
    """A folder's name, a file's name without its suffix (``alice.zip``, ``alice.rar`` -> ``alice``)."""
    return path.name if path.is_dir() else path.stem


def lms_layout(path: Path | str, wanted: Iterable[str] = EXERCISE_FILES) -> str | None:
    """``"canvas"`` or ``"moodle"`` when ``path`` (a folder or zip) is that LMS's bulk download, else None.

    Raises:
        IntakeError: ``path`` is a file that cannot be read as a zip.
    """
    path = Path(path)
    wanted = frozenset(wanted)
    if path.is_dir():
        container = _Container.of_folder(path)
        return _layout_of(container, wanted)
    try:
        with zipfile.ZipFile(path) as archive:
            return _layout_of(_Container.of_zip(archive, str(path)), wanted)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntakeError(f"{path} cannot be read as a zip ({exc})") from None


def _layout_of(container: _Container, wanted: frozenset[str]) -> str | None:
    top = container.top_level()
    if any(_wanted_name(name, wanted) for name in top):
        return None
    if any((m := MOODLE_ENTRY.match(name)) and m["plugin"] == "file" for name in top):
        return "moodle"
    if any(_wanted_name(PurePosixPath(relative).name, wanted) for relative in container.files):
        return None
    if any(CANVAS_FILE.match(relative) for relative in container.files if "/" not in relative):
        return "canvas"
    return None


@dataclass
class Gathered:
    """What :func:`gather` found: the submissions, the paths that gave none, and what to point out."""

    submissions: list[Submission]
    problems: list[str]
    warnings: list[str]


def gather(
    paths: Iterable[Path | str],
    workdir: Path | str,
    *,
    roster: Roster | None = None,
    wanted: Iterable[str] = EXERCISE_FILES,
) -> Gathered:
    """Find every student's submission in ``paths`` (see the module's text).

    Args:
        paths: folders and zips as given on the command line.
        workdir: an empty folder that lives as long as the submissions are used: each student's wanted
            files are copied into ``workdir/<student>/``.
        roster: maps LMS ids and names to student ids; students on it with no submission get a row
            "not submitted".
        wanted: the file names to look for (default the five exercise files).

    Returns:
        The submissions (each with a ``source`` folder or a ``note``) in the order found; one line per
        path that gave nothing at all (a missing path, a bad id); one line per entry not on the roster.
    """
    gatherer = _Gatherer(Path(workdir), frozenset(wanted), roster)
    try:
        for path in paths:
            gatherer.add(Path(path))
        gatherer.not_submitted()
    finally:
        gatherer.close()
    return Gathered(gatherer.submissions, gatherer.problems, gatherer.warnings)
