"""``exercises/`` as the release makes it from ``solutions/``: rendered, compared, written, and the record
of what a release wrote (``exercises/.released.json``) that keeps a hand edit from being overwritten.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from autograder.manifest import EXERCISES_DIR, SOLUTIONS_DIR

from .stubs import StubError, exercise_id_for, find_regions, make_stub

NOTEBOOK = "walkthrough.ipynb"
IGNORED_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
MANIFEST = ".released.json"


class EditedFiles(RuntimeError):
    """Files of ``exercises/`` changed since the last release wrote them; ``files`` names them."""

    def __init__(self, files: list[str]):
        super().__init__(", ".join(files))
        self.files = files


def _learner_files(solutions_dir: Path) -> list[Path]:
    files = []
    for path in sorted(solutions_dir.rglob("*")):
        relative = path.relative_to(solutions_dir)
        if any(part in IGNORED_DIRS for part in relative.parts) or not path.is_file():
            continue
        if path.name.endswith(IGNORED_SUFFIXES) or relative.as_posix() == NOTEBOOK:
            continue
        files.append(path)
    return files


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        fh.write(content)


def render_exercises(solutions_dir: Path = SOLUTIONS_DIR) -> dict[str, str]:
    """Everything ``exercises/`` holds, made from ``solutions/``: relative POSIX path -> content.

    Every ``*.py`` (stubbed when it has solution markers) and every other learner file; never the
    notebook (released by nbgrader), ``__pycache__`` or compiled files.

    Raises:
        StubError: a solution file with malformed markers, or markers in a file not named ``exN_*.py``.
    """
    solutions_dir = Path(solutions_dir)
    rendered: dict[str, str] = {}
    for path in _learner_files(solutions_dir):
        relative = path.relative_to(solutions_dir).as_posix()
        content = _read(path)
        if path.suffix == ".py":
            shown = f"{solutions_dir.name}/{relative}"
            exercise_id = exercise_id_for(path.name)
            if exercise_id is None:
                if find_regions(content, shown):
                    raise StubError(
                        f"{shown}: solution markers in a file that is not an exercise module (exN_*.py)"
                    )
            else:
                content = make_stub(content, exercise_id, filename=shown)
        rendered[relative] = content
    return rendered


def _existing_files(exercises_dir: Path) -> dict[str, Path]:
    if not exercises_dir.is_dir():
        return {}
    existing = {}
    for path in sorted(exercises_dir.rglob("*")):
        relative = path.relative_to(exercises_dir)
        if any(part in IGNORED_DIRS for part in relative.parts) or not path.is_file():
            continue
        if path.name.endswith(IGNORED_SUFFIXES) or relative.as_posix() in (NOTEBOOK, MANIFEST):
            continue
        existing[relative.as_posix()] = path
    return existing


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(dest: Path) -> dict[str, str] | None:
    """What the last release wrote into ``dest`` (relative path -> SHA-256), or None before any."""
    try:
        data = json.loads((Path(dest) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def record_written(dest: Path, written: dict[str, bytes], keep: dict[str, str] | None = None) -> None:
    """Write ``dest/.released.json``: the entries of ``keep``, then each written file's SHA-256."""
    manifest = dict(keep or {})
    manifest.update({relative: _digest(data) for relative, data in written.items()})
    text = json.dumps(dict(sorted(manifest.items())), indent=1) + "\n"
    (Path(dest) / MANIFEST).write_text(text, encoding="utf-8")


def _changed_since_commit(dest: Path) -> dict[str, bool] | None:
    """Files under ``dest`` that differ from the last commit -> whether the commit has them at all;
    None outside git."""
    try:
        listing = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--no-renames", "--", "."],
            cwd=dest,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        prefix = subprocess.run(
            ["git", "rev-parse", "--show-prefix"], cwd=dest, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    changed = {}
    for line in listing.splitlines():
        path = line[3:].strip().strip('"')
        if path.startswith(prefix):
            changed[path[len(prefix) :]] = not line.startswith("??")
    return changed


def edited_files(dest: Path = EXERCISES_DIR, *, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """The files of ``dest`` a release would rewrite or remove that are not what the last release wrote.

    A file already equal to what ``solutions_dir`` makes is never in the list. What the last release
    wrote is in ``dest/.released.json``; without it, what the last commit holds (a file not committed
    yet counts as released when ``solutions_dir`` has its source); outside git nothing is listed.
    """
    dest = Path(dest)
    if not dest.is_dir():
        return []
    manifest = read_manifest(dest)
    changed = _changed_since_commit(dest) if manifest is None else None
    if manifest is None and changed is None:
        return []

    wanted = render_exercises(solutions_dir)
    changed_files = changed or {}

    def released(relative: str, path: Path) -> bool:
        if manifest is not None:
            return manifest.get(relative) == _digest(path.read_bytes())
        if relative not in changed_files:
            return True
        # not committed yet: a release made it when solutions/ has its source
        return not changed_files[relative] and relative in wanted

    edited = []
    for relative, path in _existing_files(dest).items():
        if relative in wanted and _read(path) == wanted[relative]:
            continue
        if not released(relative, path):
            edited.append(f"{dest.name}/{relative}")
    notebook = dest / NOTEBOOK
    if notebook.is_file() and (manifest is None or NOTEBOOK in manifest) and not released(NOTEBOOK, notebook):
        edited.append(f"{dest.name}/{NOTEBOOK}")
    return edited


def check_exercises(dest: Path = EXERCISES_DIR, *, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """The drift between ``dest`` and what ``solutions_dir`` makes: one line per file; empty when current.

    The released notebook is left out (nbgrader makes it; its own test checks it).
    """
    dest = Path(dest)
    wanted = render_exercises(solutions_dir)
    existing = _existing_files(dest)
    drift = []
    for relative, content in wanted.items():
        if relative not in existing:
            drift.append(f"missing: {dest.name}/{relative}")
        elif _read(existing[relative]) != content:
            drift.append(
                f"differs: {dest.name}/{relative} is not what {Path(solutions_dir).name}/{relative} makes"
            )
    for relative in existing:
        if relative not in wanted:
            drift.append(f"extra: {dest.name}/{relative} has no source in {Path(solutions_dir).name}/")
    return drift


def write_exercises(
    dest: Path = EXERCISES_DIR, *, solutions_dir: Path = SOLUTIONS_DIR, force: bool = False
) -> list[str]:
    """Make ``dest`` exactly what ``solutions_dir`` renders (notebook aside); return what changed.

    Only changed files are written; files with no source are removed. Everything is rendered before
    anything is written, so a malformed solution leaves ``dest`` untouched; so does a file edited since
    the last release (unless ``force``). What was written is recorded in ``dest/.released.json``.

    Raises:
        StubError: a malformed solution.
        EditedFiles: files of ``dest`` that hold edits, when not ``force``.
    """
    dest = Path(dest)
    wanted = render_exercises(solutions_dir)
    edited = [] if force else edited_files(dest, solutions_dir=solutions_dir)
    if edited:
        raise EditedFiles(edited)
    existing = _existing_files(dest)
    changes = []
    for relative, content in wanted.items():
        if relative not in existing:
            _write(dest / relative, content)
            changes.append(f"added   {dest.name}/{relative}")
        elif _read(existing[relative]) != content:
            _write(dest / relative, content)
            changes.append(f"updated {dest.name}/{relative}")
    for relative, path in existing.items():
        if relative not in wanted:
            path.unlink()
            changes.append(f"removed {dest.name}/{relative}")
    previous = read_manifest(dest) or {}
    notebook = {NOTEBOOK: previous[NOTEBOOK]} if NOTEBOOK in previous else {}
    written = {relative: text.encode("utf-8", errors="surrogateescape") for relative, text in wanted.items()}
    record_written(dest, written, notebook)
    return changes
