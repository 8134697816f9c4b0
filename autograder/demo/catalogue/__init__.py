"""Known submissions that judge the graders: the classic mistakes, and correct code in other styles.

Every entry is a real file, the whole exercise file as a learner would hand it in, in the folder of its
exercise: ``autograder/demo/catalogue/<exercise module>/<student id>.py``. Beside the files, each folder's
``entries.toml`` holds one table per file, keyed by its student id:

- ``kind``: ``wrong`` (a misconception put in), ``correct`` (another style, must score 100) or
  ``hollow`` (checks its arguments, then does not do its job: must score 0 on its exercise);
- ``misconception``: what the code gets wrong, or for the others how it is written;
- ``origin``: who wrote it (``GRADERS``: the graders' authors; ``OUTSIDER``: someone who read the
  contract and the stubs but never the graders);
- ``expect`` (``wrong`` only): words some failed check's message on that exercise must contain;
- ``contract`` (optional): the contract's sentence the entry breaks or follows;
- ``demo = true`` (``wrong`` only, optional): shown in the instructor's demo class.

``WRONG``: the hidden graders must take points off that exercise only and say ``expect``.
``ALTERNATIVES``: each must score 100. ``HOLLOW``: each must score 0 on its exercise and 20 on the others.
``DEMO_MISTAKES``: the entries of ``WRONG`` marked ``demo``.

``entry.write(folder)`` writes a complete submission: the five solution files, with this entry's exercise
file replaced by the entry's file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.manifest import EXERCISE_BY_ID, EXERCISES, SOLUTIONS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "ALTERNATIVES",
    "CATALOGUE_DIR",
    "DEMO_MISTAKES",
    "HOLLOW",
    "WRONG",
    "Alternative",
    "CatalogueError",
    "Hollow",
    "Mistake",
    "by_student",
    "load",
]

CATALOGUE_DIR = Path(__file__).parent
INDEX_NAME = "entries.toml"
_KEYS = {"kind", "misconception", "origin", "expect", "contract", "demo"}


class CatalogueError(ValueError):
    """The catalogue's files and their ``entries.toml`` disagree, or an entry's metadata is malformed."""


@dataclass(frozen=True)
class _Entry:
    student: str
    exercise: str
    source: str
    misconception: str = ""
    origin: str = ""
    contract: str = ""

    @property
    def filename(self) -> str:
        """The exercise file this entry replaces, e.g. ``ex1_softmax.py``."""
        return EXERCISE_BY_ID[self.exercise].filename

    @property
    def path(self) -> Path:
        """Where the entry's file lives in the catalogue."""
        return CATALOGUE_DIR / Path(self.filename).stem / f"{self.student}.py"

    def exercise_source(self) -> str:
        """The changed exercise file's text."""
        return self.source

    def write(self, dest_dir: Path | str) -> Path:
        """Write the five exercise files into ``dest_dir`` (created), this entry's one changed; returns it."""
        folder = Path(dest_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for exercise in EXERCISES:
            text = (SOLUTIONS_DIR / exercise.filename).read_text()
            if exercise.id == self.exercise:
                text = self.source
            (folder / exercise.filename).write_text(text)
        return folder


@dataclass(frozen=True)
class Mistake(_Entry):
    """A known-wrong submission; ``expect`` is words the feedback on its exercise must contain."""

    expect: str = ""
    demo: bool = False


@dataclass(frozen=True)
class Alternative(_Entry):
    """A correct submission in another style."""

    @property
    def style(self) -> str:
        """What is different from the solution."""
        return self.misconception


@dataclass(frozen=True)
class Hollow(_Entry):
    """Code that validates its arguments and does nothing useful."""

    @property
    def style(self) -> str:
        """What it returns instead of doing its job."""
        return self.misconception


def _entry(student: str, exercise: str, source: str, meta: dict, where: str) -> _Entry:
    unknown = set(meta) - _KEYS
    if unknown:
        raise CatalogueError(f"{where}: {student} has unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    if not isinstance(meta.get("misconception"), str) or not meta["misconception"]:
        raise CatalogueError(f"{where}: {student} needs a misconception (what it gets wrong, or its style)")
    common = {
        "student": student,
        "exercise": exercise,
        "source": source,
        "misconception": meta["misconception"],
        "origin": meta.get("origin", ""),
        "contract": meta.get("contract", ""),
    }
    kind = meta.get("kind")
    if kind != "wrong" and ("expect" in meta or "demo" in meta):
        raise CatalogueError(f"{where}: {student} is {kind!r}; only a 'wrong' entry has expect or demo")
    if kind == "wrong":
        if not isinstance(meta.get("expect"), str) or not meta["expect"]:
            raise CatalogueError(f"{where}: {student} is wrong but has no expect (words of its feedback)")
        return Mistake(**common, expect=meta["expect"], demo=meta.get("demo", False) is True)
    if kind == "correct":
        return Alternative(**common)
    if kind == "hollow":
        return Hollow(**common)
    raise CatalogueError(f"{where}: {student} has the kind {kind!r}, not one of 'wrong', 'correct', 'hollow'")


def load(root: Path = CATALOGUE_DIR) -> list[_Entry]:
    """Every entry under ``root``, exercise by exercise, each folder in its ``entries.toml``'s order."""
    entries: list[_Entry] = []
    for exercise in EXERCISES:
        folder = root / Path(exercise.filename).stem
        if not folder.exists():
            continue  # a new exercise without known mistakes yet: `dev check --only catalogue` says so
        index_path = folder / INDEX_NAME
        where = f"{folder.name}/{INDEX_NAME}"
        try:
            index = tomllib.loads(index_path.read_text())
        except FileNotFoundError:
            raise CatalogueError(f"{where} is missing (one table per file of {folder.name}/)") from None
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{where} is not valid TOML: {exc}") from None
        files = {path.stem for path in folder.glob("*.py")}
        unlisted, missing = sorted(files - set(index)), sorted(set(index) - files)
        if unlisted or missing:
            raise CatalogueError(
                f"{where} and the folder's files disagree: files without a table {unlisted}, "
                f"tables without a file {missing}"
            )
        for student, meta in index.items():
            if not student.startswith(f"{exercise.id}-"):
                raise CatalogueError(f"{where}: {student} should start with {exercise.id}-")
            source = (folder / f"{student}.py").read_text()
            entries.append(_entry(student, exercise.id, source, meta, where))
    return entries


_ENTRIES = load()

WRONG: list[Mistake] = [entry for entry in _ENTRIES if isinstance(entry, Mistake)]
ALTERNATIVES: list[Alternative] = [entry for entry in _ENTRIES if isinstance(entry, Alternative)]
HOLLOW: list[Hollow] = [entry for entry in _ENTRIES if isinstance(entry, Hollow)]
DEMO_MISTAKES: list[Mistake] = [entry for entry in WRONG if entry.demo]


def by_student(student: str) -> Mistake | Alternative | Hollow:
    """The entry of ``WRONG``, ``ALTERNATIVES`` or ``HOLLOW`` with this student id."""
    entries: list[Mistake | Alternative | Hollow] = [*WRONG, *ALTERNATIVES, *HOLLOW]
    for entry in entries:
        if entry.student == student:
            return entry
    raise KeyError(student)
