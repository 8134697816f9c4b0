"""The places that follow the exercise manifest: what it generates (marker lists, README tables,
``dev sync``) and the checks that read files only (manifest, places, markers, readme, release)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from autograder.manifest import (
    EXERCISES_DIR,
    GRADERS_DIR,
    MANIFEST,
    REPO_ROOT,
    SOLUTIONS_DIR,
    Exercise,
    ManifestError,
    read_manifest,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

README = REPO_ROOT / "README.md"
BUNDLE_DIR = REPO_ROOT / "autograder" / "learner_bundle"
PYPROJECTS = (REPO_ROOT / "pyproject.toml", BUNDLE_DIR / "pyproject.toml")
READMES = (README, BUNDLE_DIR / "README.md")
TABLE_BEGIN = (
    "<!-- exercises table: generated from the exercise manifest (exercises.toml); do not edit by hand -->"
)
TABLE_END = "<!-- end of exercises table -->"
TABLE_HEAD = "| exercise | file | what it teaches | check just this one |\n|---|---|---|---|"
EXERCISE_FILE = re.compile(r"^(?:test_)?(ex\d+)_\w+\.py$")
SUBPROCESS_TIMEOUT = 900


def _manifest():
    return read_manifest(MANIFEST)


# --------------------------------------------------------------------------------------------------
# What the manifest makes


def exercise_table(exercises: tuple[Exercise, ...]) -> str:
    """The README's exercise table, between its markers."""
    rows = [
        f"| {ex.id} | `exercises/{ex.filename}` | {ex.topic}: {ex.teaches} | `pytest exercises -m {ex.id}` |"
        for ex in exercises
    ]
    return "\n".join([TABLE_BEGIN, TABLE_HEAD, *rows, TABLE_END])


def _table_span(text: str) -> tuple[int, int] | None:
    begin = text.find(TABLE_BEGIN)
    end = text.find(TABLE_END, begin)
    if begin < 0 or end < 0:
        return None
    return begin, end + len(TABLE_END)


def _marker_lines(pyproject: Path) -> list[str]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    markers = data.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("markers", [])
    return [line for line in markers if re.match(r"ex\d+:", line)]


def _rewrite_markers(text: str, exercises: tuple[Exercise, ...]) -> str:
    """``text`` (a pyproject.toml) with its ``exN: ...`` marker lines replaced by the manifest's."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    inserted = False
    for line in lines:
        if re.match(r'\s*"ex\d+: .*",\s*$', line):
            if not inserted:
                indent = line[: len(line) - len(line.lstrip())]
                kept += [f'{indent}"{ex.marker}",\n' for ex in exercises]
                inserted = True
            continue
        kept.append(line)
    return "".join(kept)


def sync() -> list[str]:
    """Rewrites the generated places (marker lists, README tables) from the manifest; the files changed."""
    exercises = _manifest().exercises
    changed = []
    for pyproject in PYPROJECTS:
        text = pyproject.read_text(encoding="utf-8")
        new = _rewrite_markers(text, exercises)
        if new != text:
            pyproject.write_text(new, encoding="utf-8")
            changed.append(_shown(pyproject))
    table = exercise_table(exercises)
    for readme in READMES:
        text = readme.read_text(encoding="utf-8")
        span = _table_span(text)
        if span is None:
            raise ManifestError(
                f"{_shown(readme)} has no exercises table markers: add {TABLE_BEGIN} ... {TABLE_END}"
            )
        new = text[: span[0]] + table + text[span[1] :]
        if new != text:
            readme.write_text(new, encoding="utf-8")
            changed.append(_shown(readme))
    return changed


# --------------------------------------------------------------------------------------------------
# The checks: each returns the problems it found, one line each


def check_manifest() -> list[str]:
    try:
        _manifest()
    except ManifestError as exc:
        return [str(exc)]
    return []


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def _shown(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def check_places() -> list[str]:
    manifest = _manifest()
    problems = []
    for ex in manifest.exercises:
        solution = SOLUTIONS_DIR / ex.filename
        for path in (solution, SOLUTIONS_DIR / f"test_{ex.filename}", GRADERS_DIR / f"test_{ex.filename}"):
            if not path.is_file():
                problems.append(f"{ex.id}: {_shown(path)} is missing")
        if solution.is_file():
            missing = [name for name in ex.names if name not in _defined_names(solution)]
            if missing:
                problems.append(f"{ex.id}: {_shown(solution)} does not define {', '.join(missing)}")
        if not ex.hints:
            problems.append(f"{ex.id}: {MANIFEST.name} has no hints for it")
    known = {ex.id for ex in manifest.exercises}
    for folder in (SOLUTIONS_DIR, GRADERS_DIR):
        for path in sorted(folder.glob("*.py")):
            match = EXERCISE_FILE.match(path.name)
            if match and match.group(1) not in known:
                problems.append(
                    f"{_shown(path)} belongs to {match.group(1)}, which the manifest does not name"
                )
    modules = {ex.filename for ex in manifest.exercises}
    for folder in (SOLUTIONS_DIR, GRADERS_DIR):
        for path in sorted(folder.glob("*.py")):
            name = path.name.removeprefix("test_")
            match = EXERCISE_FILE.match(path.name)
            if match and match.group(1) in known and name not in modules:
                problems.append(f"{_shown(path)} is not named after its exercise's module in the manifest")
    return problems


def check_markers() -> list[str]:
    wanted = [ex.marker for ex in _manifest().exercises]
    problems = []
    for pyproject in PYPROJECTS:
        if _marker_lines(pyproject) != wanted:
            problems.append(
                f"{_shown(pyproject)}: the exN markers are not the manifest's (python -m autograder dev sync)"
            )
    return problems


def check_readme() -> list[str]:
    table = exercise_table(_manifest().exercises)
    problems = []
    for readme in READMES:
        text = readme.read_text(encoding="utf-8")
        span = _table_span(text)
        if span is None:
            problems.append(f"{_shown(readme)}: no exercises table markers ({TABLE_BEGIN})")
        elif text[span[0] : span[1]] != table:
            problems.append(f"{_shown(readme)}: the exercises table is stale (python -m autograder dev sync)")
    return problems


def check_release() -> list[str]:
    from autograder.release import check_exercises

    problems = [
        f"{drift} (python -m autograder release)"
        for drift in check_exercises(EXERCISES_DIR, solutions_dir=SOLUTIONS_DIR)
    ]
    for ex in _manifest().exercises:
        stub = EXERCISES_DIR / ex.filename
        if stub.is_file() and f"TODO({ex.id})" not in stub.read_text(encoding="utf-8"):
            problems.append(f"{ex.id}: exercises/{ex.filename} has no TODO({ex.id}) for the learner")
    return problems
