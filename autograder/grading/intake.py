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

Moodle's id is the one it appends to the name: a folder's name ends with ``_<id>_assignsubmission_<plugin>``
(whatever the name before it holds); in a file's name it is the first ``_<id>_assignsubmission_<plugin>_``
(Moodle writes the name with its underscores made spaces, and what follows is the student's file name).
Each folder, and each set of files with one prefix, is one submission: two of them with the same Moodle
id are two submissions with the same student id (the grading command stops before grading).

An optional roster (CSV) maps the LMS's ids and names to the student ids used in ``grades.csv``
(:func:`read_roster`); a student on it with nothing in the download gets a row "not submitted". A name
is weaker than an id: a submission matched to a roster entry only by its name loses that entry to one
matched by id or given by its own folder (it keeps the LMS's name and id, with a warning), and two
submissions matched to one entry only by name, or one whose name several entries have, get a row each
under the LMS's name and id with the note "ambiguous name" and are not graded (that entry gets no "not
submitted" row).

Every student's wanted files are copied, flat, into a folder of their own under a working folder; that
folder is what the engine stages. A submission holding none of them, a file that is not a zip, or a
zip or file that cannot be read (encrypted, damaged, a compression Python lacks, a file name that is not
valid UTF-8) is kept with a note instead: the engine writes its row without grading it.
"""

from __future__ import annotations

import io
import lzma
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.grading.roster import IntakeError, Roster, read_roster
from autograder.manifest import EXERCISES
from autograder.results.model import terminal_safe

__all__ = ["IntakeError", "Roster", "gather", "read_roster"]

EXERCISE_FILES = frozenset(exercise.filename for exercise in EXERCISES)
NOTEBOOK = "walkthrough.ipynb"

NOT_SUBMITTED = "not submitted"
NOT_A_ZIP = "not a zip file"
NO_EXERCISE_FILES = "no exercise files"
UNREADABLE = "could not be read"
AMBIGUOUS_NAME = "ambiguous name"
TIMED_OUT = "timed out"
NOTES = (NOT_SUBMITTED, NOT_A_ZIP, NO_EXERCISE_FILES, UNREADABLE, AMBIGUOUS_NAME, TIMED_OUT)

MAX_MEMBER_BYTES = 50_000_000

CANVAS_FILE = re.compile(
    r"^(?:(?P<name>[^/]*?)_)??(?:(?P<late>LATE)_)?(?P<user>\d+|anon_[A-Za-z0-9]+)_(?P<file_id>\d+)_"
    r"(?P<original>[^/]+)$"
)
# A folder: the id is the last one, at the end (a name is free text). A file: the first one (Moodle makes
# the name's underscores spaces; the student's own file name follows it and may hold anything).
MOODLE_FOLDER = re.compile(r"^(?P<name>[^/]+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
MOODLE_FILE = re.compile(
    r"^(?P<name>[^/]+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<original>[^/]+)$"
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
        return f"{terminal_safe(self.student, lines=False)}: {self.note}{where}"


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


class Unreadable(OSError):
    """A file or zip member that cannot be read: one line naming it and saying why."""


# What Python's zipfile raises on hostile or damaged bytes: a bad CRC or header, deflate/bzip2/LZMA data
# that does not decode, a member cut short, an encrypted member (RuntimeError) or an unknown compression
# (NotImplementedError), a name flagged UTF-8 that is not (UnicodeDecodeError), a field out of range.
ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    RuntimeError,
    ValueError,
    OverflowError,
    OSError,
)


def _why(exc: BaseException) -> str:
    """A few words on why a zip or one of its members cannot be read."""
    if isinstance(exc, UnicodeDecodeError):
        return "a file name in it is not valid UTF-8"
    if isinstance(exc, NotImplementedError):
        return f"compressed with a method that cannot be read here ({_one_line(exc)})"
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return "encrypted"
    if isinstance(exc, (zipfile.BadZipFile, zlib.error)):
        return f"damaged ({_one_line(exc)})"
    if isinstance(exc, EOFError):
        return "cut short"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {_one_line(exc)}" if str(exc) else type(exc).__name__


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _open_zip(source: Path | io.BytesIO) -> zipfile.ZipFile:
    """``source`` as a zip.

    Raises:
        zipfile.BadZipFile, OSError: not a zip (or not a file).
        Unreadable: a zip whose list of members cannot be read (a name that is not valid UTF-8, ...).
    """
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        raise
    except ZIP_ERRORS as exc:
        raise Unreadable(_why(exc)) from None


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
            files["/".join(parts)] = _member_reader(archive, info, where)
        return cls(files, where)

    def top_level(self) -> set[str]:
        return {relative.split("/", 1)[0] for relative in self.files}


def _file_reader(path: Path) -> Reader:
    """Reads at most the limit; raises :class:`Unreadable` naming the file."""

    def read() -> bytes:
        try:
            with open(path, "rb") as handle:
                return handle.read(MAX_MEMBER_BYTES + 1)
        except OSError as exc:
            raise Unreadable(f"{path}: {_why(exc)}") from None

    return read


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> Reader:
    """Reads at most the limit; raises :class:`Unreadable` naming the member and the zip."""

    def read() -> bytes:
        if info.flag_bits & 0x1:
            raise Unreadable(f"{info.filename} in {where}: encrypted")
        try:
            with archive.open(info) as handle:
                return handle.read(MAX_MEMBER_BYTES + 1)
        except ZIP_ERRORS as exc:
            raise Unreadable(f"{info.filename} in {where}: {_why(exc)}") from None

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
    zip at the top or one level down that holds some (``exercises.zip`` first); empty when none.

    Raises:
        Unreadable: none found, and a zip that might have held them cannot be read (the first such).
    """
    found: dict[str, list[str]] = {}
    for relative in files:
        name = _wanted_name(PurePosixPath(relative).name, wanted)
        if name is not None:
            found.setdefault(name, []).append(relative)
    if found:
        return {name: files[_pick(paths)] for name, paths in found.items()}
    zips = [r for r in files if r.lower().endswith(".zip") and r.count("/") <= 1]
    unreadable: list[Unreadable] = []
    for relative in sorted(zips, key=lambda r: (r.count("/"), PurePosixPath(r).name != "exercises.zip", r)):
        try:
            data = files[relative]()
        except Unreadable as exc:
            unreadable.append(exc)
            continue
        try:
            inner = _open_zip(io.BytesIO(data))
        except Unreadable as exc:
            unreadable.append(Unreadable(f"{relative}: {exc}"))
            continue
        except (zipfile.BadZipFile, OSError, ValueError):
            continue
        try:
            inner_found = {
                name: reader
                for name, reader in find_wanted(_Container.of_zip(inner, relative).files, wanted).items()
                if not name.lower().endswith(".zip")
            }
        except Unreadable as exc:
            unreadable.append(exc)
            continue
        if inner_found:
            return inner_found
    if unreadable:
        raise unreadable[0]
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
    note: str = ""
    detail: str = ""
    unreadable: str = ""
    # A submission from an LMS download: its id from the LMS's names, which LMS id it has, the roster
    # column that would name it, and whether the roster entry it has was matched by name only.
    lms_id: str = ""
    lms: str = ""
    id_column: str = ""
    by_name: bool = False
    warned: bool = False


class _Gatherer:
    def __init__(self, workdir: Path, wanted: frozenset[str], roster: Roster | None):
        self.workdir = Path(workdir)
        self.wanted = wanted
        self.roster = roster
        self.found: list[_Found] = []
        self.submissions: list[Submission] = []
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.archives: list[zipfile.ZipFile] = []
        self.claimed: set[str] = set()  # roster entries an ambiguous name matched: no "not submitted"

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
                archive = _open_zip(path)
            except Unreadable as exc:
                self._noted(_path_student(path), UNREADABLE, str(path), f"{path}: {exc}")
                return
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
        files, unreadable = self._wanted(container.files)
        self.found.append(_Found(_path_student(path), files, str(path), empty=empty, unreadable=unreadable))

    def _wanted(self, files: dict[str, Reader]) -> tuple[dict[str, Reader], str]:
        """The wanted files, or none and why a zip that might hold them cannot be read."""
        try:
            return find_wanted(files, self.wanted), ""
        except Unreadable as exc:
            return {}, str(exc)

    # LMS downloads ----------------------------------------------------------------------------------

    def _class_download(self, container: _Container) -> bool:
        layout = _layout_of(container, self.wanted)
        if layout == "moodle":
            self._moodle(container)
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
            self._lms_found(
                files,
                f"{container.where}: {name or user}'s files (Canvas user {user})",
                lms_id=f"{_ascii_word(name)}_{user}" if _ascii_word(name) else user,
                lms=f"Canvas user {user}",
                id_column="the Canvas user id column (canvas_id, or ID)",
                match=self.roster.match(canvas_id=user, name=name) if self.roster else ([], ""),
                late=late[user],
            )

    def _moodle(self, container: _Container) -> None:
        """One submission per folder (or per file prefix) of the ``file`` plugin; a student with only
        other plugins' entries (online text) gets one without files."""
        folders = {relative.split("/", 1)[0] for relative in container.files if "/" in relative}
        names: dict[str, str] = {}
        sources: dict[str, dict[str, tuple[str, dict[str, Reader]]]] = {}
        for top in sorted(container.top_level()):
            match = (MOODLE_FOLDER if top in folders else MOODLE_FILE).match(top)
            if match is None:
                continue
            key = match["id"]
            names.setdefault(key, match["name"])
            by_source = sources.setdefault(key, {})
            if match["plugin"] != "file":
                continue
            if top in folders:
                inside = f"{top}/"
                files = {
                    r[len(inside) :]: reader for r, reader in container.files.items() if r.startswith(inside)
                }
                by_source[top] = (match["name"], files)
            else:
                prefix = top[: match.start("original")]
                by_source.setdefault(prefix, (match["name"], {}))[1][match["original"]] = container.files[top]
        for key, by_source in sources.items():
            file_names = [name for name, _ in by_source.values()]
            name = file_names[0] if file_names else names[key]
            listed = self.roster.match(moodle_id=key, name=name) if self.roster else ([], "")
            entries = list(by_source.items()) or [("", (name, {}))]
            for source, (entry_name, files) in entries:
                where = f"{entry_name}'s files" if len(entries) == 1 else source
                self._lms_found(
                    files,
                    f"{container.where}: {where} (Moodle id {key})",
                    lms_id=f"{_slug(name)}_{key}",
                    lms=f"Moodle id {key}",
                    id_column="the Moodle id column (moodle_id, or Identifier)",
                    match=listed,
                )

    def _lms_found(
        self,
        files: dict[str, Reader],
        origin: str,
        *,
        lms_id: str,
        lms: str,
        id_column: str,
        match: tuple[list[str], str],
        late: bool = False,
    ) -> None:
        wanted, unreadable = self._wanted(files)
        found = _Found(lms_id, wanted, origin, late=late, unreadable=unreadable)
        found.lms_id, found.lms, found.id_column = lms_id, lms, id_column
        students, how = match
        if len(students) == 1:
            found.student, found.listed, found.by_name = students[0], True, how == "name"
        elif students:
            self.claimed.update(students)
            found.note = AMBIGUOUS_NAME
            found.detail = (
                f"{origin} matches {', '.join(students)} on the roster {self.roster_path} by name: "
                f"add {id_column} to the roster"
            )
        self.found.append(found)

    @property
    def roster_path(self) -> str:
        return str(self.roster.path) if self.roster is not None else ""

    # Results ----------------------------------------------------------------------------------------

    def _noted(self, student: str, note: str, origin: str, detail: str) -> None:
        self.found.append(_Found(student, {}, origin, note=note, detail=detail))

    def _settle_names(self) -> None:
        """A roster entry matched by name only goes to nobody when another submission also claims it:
        to the one matched by id (or given by its own folder) if there is one, the others keep the
        LMS's id; else every one of them gets the note "ambiguous name"."""
        claims: dict[str, list[_Found]] = {}
        for found in self.found:
            if not found.note:
                claims.setdefault(found.student, []).append(found)
        for student, entries in claims.items():
            by_name = [found for found in entries if found.by_name]
            if not by_name or len(entries) == 1:
                continue
            explicit = [found for found in entries if not found.by_name]
            for found in by_name:
                if explicit:
                    self.warnings.append(
                        f"{found.origin}: its name matches {student} on the roster {self.roster_path}, but "
                        f"{student} is {explicit[0].origin} (graded under {found.lms_id})"
                    )
                    found.student, found.listed, found.by_name = found.lms_id, False, False
                    found.warned = True
                    continue
                others = ", ".join(other.lms for other in by_name if other is not found)
                found.note = AMBIGUOUS_NAME
                found.detail = (
                    f"{found.origin} matches {student} on the roster {self.roster_path} by name, as does "
                    f"{others}: add {found.id_column} to the roster"
                )
                found.student = found.lms_id
            if not explicit:
                self.claimed.add(student)

    def finish(self) -> None:
        """Every submission found, in order: settled against the roster, copied or noted."""
        self._settle_names()
        for found in self.found:
            self._submit(found)
        self.not_submitted()

    def _submit(self, found: _Found) -> None:
        if found.note:
            self.submissions.append(Submission(found.student, None, found.note, found.origin, found.detail))
            return
        if (
            self.roster is not None
            and not found.listed
            and not found.warned
            and found.student not in self.roster.students
        ):
            self.warnings.append(
                f"{found.origin}: {found.student} is not on the roster {self.roster.path} "
                "(graded under that id)"
            )
        if found.unreadable:
            self._unreadable(found, found.unreadable)
            return
        if not found.files:
            what = "is empty" if found.empty else f"holds none of {', '.join(sorted(self.wanted))}"
            self.submissions.append(
                Submission(found.student, None, NO_EXERCISE_FILES, found.origin, f"{found.origin} {what}")
            )
            return
        if not found.student or found.student.startswith(".") or "/" in found.student:
            self.problems.append(f"{found.origin}: cannot use {found.student!r} as a student id")
            return
        try:
            contents = {name: reader() for name, reader in found.files.items()}
        except Unreadable as exc:
            self._unreadable(found, str(exc))
            return
        folder = self.workdir / found.student
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            (folder / name).write_bytes(data)
        self.submissions.append(Submission(found.student, folder, "", found.origin, late=found.late))

    def _unreadable(self, found: _Found, why: str) -> None:
        detail = why if why.startswith(found.origin) or found.origin in why else f"{found.origin}: {why}"
        self.submissions.append(Submission(found.student, None, UNREADABLE, found.origin, detail))

    def not_submitted(self) -> None:
        if self.roster is None:
            return
        present = {submission.student for submission in self.submissions} | self.claimed
        for student in self.roster.students:
            if student not in present:
                where = str(self.roster.path)
                self.submissions.append(
                    Submission(student, None, NOT_SUBMITTED, where, f"on the roster {where}")
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
        with _open_zip(path) as archive:
            return _layout_of(_Container.of_zip(archive, str(path)), wanted)
    except Unreadable as exc:
        raise IntakeError(f"{path} could not be read: {exc}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntakeError(f"{path} cannot be read as a zip ({exc})") from None


def _layout_of(container: _Container, wanted: frozenset[str]) -> str | None:
    top = container.top_level()
    if any(_wanted_name(name, wanted) for name in top):
        return None
    folders = {relative.split("/", 1)[0] for relative in container.files if "/" in relative}
    if any(
        (m := (MOODLE_FOLDER if name in folders else MOODLE_FILE).match(name)) and m["plugin"] == "file"
        for name in top
    ):
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
        gatherer.finish()
    finally:
        gatherer.close()
    return Gathered(gatherer.submissions, gatherer.problems, gatherer.warnings)
