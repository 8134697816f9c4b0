"""The exercises as the whole package sees them, read from the manifest ``solutions/exercises.toml``.

One table, used by the release tool, the staging of submissions, the graders, the result writers and
``python -m autograder dev check``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
GRADERS_DIR = Path(__file__).resolve().parent / "graders"
MANIFEST = SOLUTIONS_DIR / "exercises.toml"
MANIFEST_NAME = MANIFEST.name


class ManifestError(ValueError):
    """The exercise manifest is missing a field or holds one of the wrong kind."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id, its module under solutions/ and exercises/, and what it asks for."""

    id: str
    module: str
    names: tuple[str, ...]
    topic: str
    teaches: str = ""
    returns: tuple[tuple[str, str], ...] = ()
    hints: tuple[str, ...] = ()
    """What ``python -m exercises.hints exN`` shows, one at a time, from a nudge to almost the answer."""

    @property
    def filename(self) -> str:
        return f"{self.module}.py"

    @property
    def marker(self) -> str:
        """The pytest marker line (``"ex1: softmax with a temperature"``)."""
        return f"{self.id}: {self.topic}"


@dataclass(frozen=True)
class Manifest:
    """The whole manifest: the exercises in order, the points each is worth, the given files."""

    exercises: tuple[Exercise, ...]
    points_per_exercise: int
    given_files: tuple[str, ...]


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be a non-empty string")
    return value


def parse_manifest(data: dict[str, Any], where: str = MANIFEST_NAME) -> Manifest:
    """The manifest from its TOML data; ``ManifestError`` names the first field that is wrong."""
    entries = data.get("exercise")
    if not isinstance(entries, list) or not entries:
        raise ManifestError(f"{where}: no [[exercise]] tables")
    exercises = []
    for number, entry in enumerate(entries, start=1):
        here = f"{where}, exercise {number}"
        ex_id = _text(entry, "id", here)
        if not re.fullmatch(r"ex\d+", ex_id):
            raise ManifestError(f"{here}: id '{ex_id}' is not of the form exN")
        module = _text(entry, "module", here)
        if not module.startswith(f"{ex_id}_") or not module.isidentifier():
            raise ManifestError(f"{here}: module '{module}' must be a Python name starting '{ex_id}_'")
        returns = entry.get("returns")
        if not isinstance(returns, dict) or not returns:
            raise ManifestError(f"{here}: 'returns' must map each public name to what it returns")
        for name, what in returns.items():
            if not name.isidentifier() or not isinstance(what, str):
                raise ManifestError(f"{here}: returns.{name} must be a name mapped to a description")
        hints = entry.get("hints", [])
        if not isinstance(hints, list) or not all(isinstance(h, str) and h.strip() for h in hints):
            raise ManifestError(f"{here}: 'hints' must be a list of non-empty strings")
        exercises.append(
            Exercise(
                id=ex_id,
                module=module,
                names=tuple(returns),
                topic=_text(entry, "topic", here),
                teaches=entry.get("teaches", ""),
                returns=tuple(returns.items()),
                hints=tuple(hints),
            )
        )
    ids = [ex.id for ex in exercises]
    if len(set(ids)) != len(ids):
        raise ManifestError(f"{where}: an exercise id appears twice: {', '.join(ids)}")
    points = data.get("points_per_exercise")
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise ManifestError(f"{where}: 'points_per_exercise' must be a positive integer")
    given = data.get("given_files", [])
    if not isinstance(given, list) or not all(isinstance(name, str) for name in given):
        raise ManifestError(f"{where}: 'given_files' must be a list of file names")
    return Manifest(tuple(exercises), points, tuple(given))


def read_manifest(path: Path = MANIFEST) -> Manifest:
    """Reads and checks the manifest at ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"cannot read the exercise manifest {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path.name} is not valid TOML: {exc}") from None
    return parse_manifest(data, path.name)


_MANIFEST = read_manifest()
EXERCISES: tuple[Exercise, ...] = _MANIFEST.exercises
POINTS_PER_EXERCISE = _MANIFEST.points_per_exercise
GIVEN_FILES = _MANIFEST.given_files
EXERCISE_BY_ID = {ex.id: ex for ex in EXERCISES}
EXERCISE_BY_MODULE = {ex.module: ex for ex in EXERCISES}
MAX_TOTAL = POINTS_PER_EXERCISE * len(EXERCISES)
EXPECTED_RETURN = {name: what for ex in EXERCISES for name, what in ex.returns}
