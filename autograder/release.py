"""Release: the learner's ``exercises/`` from ``solutions/``, and the learner bundle.

``solutions/`` is the single source of truth. A function body the learner writes is enclosed in
solution markers, at the body's indentation::

    def softmax_with_temperature(logits, temperature=1.0, dim=-1):
        \"\"\"...\"\"\"
        # BEGIN SOLUTION: divide by the temperature, then a numerically stable softmax along dim
        ...
        # END SOLUTION

and the stub gets, in its place::

        # TODO(ex1): divide by the temperature, then a numerically stable softmax along dim
        raise NotImplementedError("ex1: implement softmax_with_temperature")

``python -m autograder release`` rewrites ``exercises/``; ``--check`` reports drift without writing;
``--bundle PATH`` also writes what learners download (a folder, or a zip when PATH ends in ``.zip``).

A release records what it wrote (``exercises/.released.json``, each file's SHA-256; not committed).
The next one rewrites or removes a file only while it is still what a release wrote; a file edited by
hand (or added) since then stops the release, which names it, unless ``--force``. Before any recorded
release (a fresh clone), what the last commit holds counts as released (``git status``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.layout import EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR

NOTEBOOK = "walkthrough.ipynb"
IGNORED_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".ruff_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
BUNDLE_TEMPLATES_DIR = Path(__file__).resolve().parent / "learner_bundle"
BUNDLE_TEMPLATES = ("README.md", "pyproject.toml")
ZIP_TIMESTAMP = (2020, 1, 1, 0, 0, 0)
MANIFEST = ".released.json"

_EXERCISE_FILE = re.compile(r"^(ex\d+)_\w*\.py$")
_BEGIN = re.compile(r"^#\s*BEGIN SOLUTION\b\s*:?\s*(?P<todo>.*?)\s*$")
_END = re.compile(r"^#\s*END SOLUTION\s*$")
_PLACEHOLDER = "@@solution-region-{}@@"


class StubError(ValueError):
    """Malformed solution markers, or a solution file that does not give a valid stub."""


class EditedFiles(RuntimeError):
    """Files of ``exercises/`` changed since the last release wrote them; ``files`` names them."""

    def __init__(self, files: list[str]):
        super().__init__(", ".join(files))
        self.files = files


@dataclass(frozen=True)
class Region:
    """One solution region: the lines of its two markers (1-based), their indentation, the TODO text."""

    begin: int
    end: int
    indent: str
    todo: str


def exercise_id_for(filename: str) -> str | None:
    """``"ex3"`` for ``ex3_layers.py``; None for a file that is not an exercise module."""
    match = _EXERCISE_FILE.match(Path(filename).name)
    return match.group(1) if match else None


def find_regions(source: str, filename: str = "<source>") -> list[Region]:
    """The solution regions of ``source``, in order.

    Markers are recognised in real comments only (a docstring that mentions them is left alone).

    Raises:
        StubError: the source is not valid Python, or a marker is malformed, unclosed, nested, shares a
            line with code, or ``END SOLUTION`` is indented differently from its ``BEGIN SOLUTION``.
    """
    try:
        ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise StubError(f"{filename}:{exc.lineno}: not valid Python ({exc.msg})") from None
    lines = source.splitlines()
    regions: list[Region] = []
    opened: tuple[int, int, str] | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        text = token.string
        is_begin = "BEGIN SOLUTION" in text
        is_end = "END SOLUTION" in text
        if not (is_begin or is_end):
            continue
        row, col = token.start
        where = f"{filename}:{row}"
        if lines[row - 1][:col].strip():
            raise StubError(f"{where}: a solution marker must be on a line of its own")
        if is_begin:
            match = _BEGIN.match(text)
            if opened is not None:
                raise StubError(
                    f"{where}: BEGIN SOLUTION inside the region opened at line {opened[0]}; "
                    "regions cannot nest (close it with # END SOLUTION first)"
                )
            if match is None or not match.group("todo"):
                raise StubError(
                    f"{where}: BEGIN SOLUTION needs the learner's TODO text: "
                    "'# BEGIN SOLUTION: <what to implement>'"
                )
            opened = (row, col, match.group("todo"))
        else:
            if not _END.match(text):
                raise StubError(f"{where}: write the end marker exactly as '# END SOLUTION'")
            if opened is None:
                raise StubError(f"{where}: END SOLUTION without a BEGIN SOLUTION before it")
            begin_row, begin_col, todo = opened
            if col != begin_col:
                raise StubError(
                    f"{where}: END SOLUTION is indented differently from its BEGIN SOLUTION "
                    f"(line {begin_row})"
                )
            regions.append(Region(begin_row, row, lines[begin_row - 1][:begin_col], todo))
            opened = None
    if opened is not None:
        raise StubError(f"{filename}:{opened[0]}: BEGIN SOLUTION without its END SOLUTION")
    return regions


def _enclosing_names(tree: ast.AST, raise_lines: set[int]) -> dict[int, tuple[ast.AST, str] | None]:
    """For each line holding a stub's ``raise``: its innermost function and the name the stub reports."""
    found: dict[int, tuple[ast.AST, str] | None] = {}

    def visit(node: ast.AST, scopes: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Raise) and child.lineno in raise_lines:
                found[child.lineno] = _function_and_name(scopes)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, [*scopes, child])
            else:
                visit(child, scopes)

    visit(tree, [])
    return found


def _function_and_name(scopes: list[ast.AST]) -> tuple[ast.AST, str] | None:
    functions = [i for i, scope in enumerate(scopes) if not isinstance(scope, ast.ClassDef)]
    if not functions:
        return None
    innermost = functions[-1]
    function = scopes[innermost]
    classes: list[str] = []
    for scope in reversed(scopes[:innermost]):
        if not isinstance(scope, ast.ClassDef):
            break
        classes.insert(0, scope.name)
    if classes and function.name == "__init__":
        return function, ".".join(classes)
    return function, ".".join([*classes, function.name])


def make_stub(source: str, exercise_id: str, *, filename: str = "<source>") -> str:
    """The learner's stub of a solution module: each solution region becomes a TODO and a raise.

    Args:
        source: the solution module's text.
        exercise_id: ``"ex1"`` ... ``"ex5"``, used in the TODO and the exception message.
        filename: named in error messages.

    Returns:
        The stub's text (the source unchanged when it has no markers).

    Raises:
        StubError: malformed markers (see :func:`find_regions`), a region outside a function, two regions
            in one function, or a stub that would not be valid Python.
    """
    regions = find_regions(source, filename)
    if not regions:
        return source
    lines = source.splitlines(keepends=True)
    stub_lines: list[str] = []
    raise_line_to_region: dict[int, int] = {}
    position = 0
    for index, region in enumerate(regions):
        stub_lines.extend(lines[position : region.begin - 1])
        stub_lines.append(f"{region.indent}# TODO({exercise_id}): {region.todo}\n")
        message = f"{exercise_id}: implement {_PLACEHOLDER.format(index)}"
        stub_lines.append(f'{region.indent}raise NotImplementedError("{message}")\n')
        raise_line_to_region[len(stub_lines)] = index
        position = region.end
    stub_lines.extend(lines[position:])
    stub = "".join(stub_lines)

    try:
        tree = ast.parse(stub, filename=filename)
    except SyntaxError as exc:
        raise StubError(
            f"{filename}: replacing the solution regions gives invalid Python at stub line {exc.lineno} "
            f"({exc.msg}); is each region exactly a function's body, at the body's indentation?"
        ) from None
    enclosing = _enclosing_names(tree, set(raise_line_to_region))
    used: dict[int, int] = {}
    for stub_line, index in raise_line_to_region.items():
        region = regions[index]
        found = enclosing.get(stub_line)
        if found is None:
            raise StubError(
                f"{filename}:{region.begin}: BEGIN SOLUTION outside a function; a solution region must be "
                "(part of) a function's body"
            )
        function, name = found
        if id(function) in used:
            raise StubError(
                f"{filename}:{region.begin}: a second solution region in {name} (the first begins at line "
                f"{used[id(function)]}); use one region per function"
            )
        used[id(function)] = region.begin
        stub = stub.replace(_PLACEHOLDER.format(index), name, 1)
    return stub


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


def _record(dest: Path, written: dict[str, bytes], keep: dict[str, str] | None = None) -> None:
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

    def released(relative: str, path: Path) -> bool:
        if manifest is not None:
            return manifest.get(relative) == _digest(path.read_bytes())
        if relative not in (changed or {}):
            return True
        # not committed yet: a release made it when solutions/ has its source
        return not changed[relative] and relative in wanted

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
    _record(dest, {r: c.encode("utf-8", errors="surrogateescape") for r, c in wanted.items()}, notebook)
    return changes


def bundle_files(
    *, exercises_dir: Path = EXERCISES_DIR, solutions_dir: Path = SOLUTIONS_DIR
) -> dict[str, bytes]:
    """What the learner bundle holds: relative POSIX path -> bytes.

    ``exercises/`` as rendered from ``solutions_dir`` (plus the released notebook from ``exercises_dir``
    when there is one), the learner README and pyproject.toml. Nothing of solutions/, autograder/, tests/.
    """
    files: dict[str, bytes] = {}
    for name in BUNDLE_TEMPLATES:
        files[name] = (BUNDLE_TEMPLATES_DIR / name).read_bytes()
    for relative, content in render_exercises(solutions_dir).items():
        files[f"exercises/{relative}"] = content.encode("utf-8", errors="surrogateescape")
    notebook = Path(exercises_dir) / NOTEBOOK
    if notebook.is_file():
        files[f"exercises/{NOTEBOOK}"] = notebook.read_bytes()
    return dict(sorted(files.items()))


def build_bundle(
    dest: Path, *, exercises_dir: Path = EXERCISES_DIR, solutions_dir: Path = SOLUTIONS_DIR
) -> Path:
    """Write the learner bundle to ``dest``: a folder, or a zip when ``dest`` ends in ``.zip``.

    A zip holds one top-level folder named after it (``course.zip`` -> ``course/README.md`` ...), its
    entries sorted and dated alike so the same sources give the same bytes. An existing folder is
    replaced only when it is empty or an earlier bundle (README.md, pyproject.toml and exercises/).

    Returns:
        ``dest``.

    Raises:
        FileExistsError: ``dest`` is a folder holding something other than an earlier bundle.
    """
    dest = Path(dest)
    files = bundle_files(exercises_dir=exercises_dir, solutions_dir=solutions_dir)
    if dest.suffix.lower() == ".zip":
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative, data in files.items():
                info = zipfile.ZipInfo(f"{dest.stem}/{relative}", date_time=ZIP_TIMESTAMP)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return dest
    if dest.exists():
        contents = {child.name for child in dest.iterdir()}
        earlier_bundle = {"README.md", "pyproject.toml", "exercises"} <= contents
        if contents and not earlier_bundle:
            raise FileExistsError(f"{dest} exists and is not an earlier learner bundle; choose another path")
        shutil.rmtree(dest)
    for relative, data in files.items():
        path = dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return dest


def _release_notebook(exercises_dir: Path, solutions_dir: Path) -> str:
    if not (solutions_dir / NOTEBOOK).is_file():
        return f"no {solutions_dir.name}/{NOTEBOOK}: notebook not released"
    try:
        from autograder.course import release_notebook
    except ImportError as exc:
        return f"notebook not released: autograder.course.release_notebook is not available ({exc})"
    released = release_notebook(exercises_dir)
    if Path(released).resolve() == (exercises_dir / NOTEBOOK).resolve():
        _record(exercises_dir, {NOTEBOOK: Path(released).read_bytes()}, read_manifest(exercises_dir))
    return f"released {_shown(Path(released))} (nbgrader)"


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="rewrite exercises/ even where a file was edited since the last release (the edits are lost)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files of exercises/ that are not what solutions/ makes",
    )
    mode.add_argument(
        "--bundle",
        metavar="PATH",
        type=Path,
        help="also write the learner bundle (exercises/, README.md, pyproject.toml) to PATH, "
        "a folder or a .zip",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.check:
            drift = check_exercises()
            if drift:
                print(f"{EXERCISES_DIR.name}/ is out of date with {SOLUTIONS_DIR.name}/:")
                for line in drift:
                    print(f"  {line}")
                print("Run `python -m autograder release` to rewrite it (never edit a stub by hand).")
                return 1
            print(f"{EXERCISES_DIR.name}/ is current with {SOLUTIONS_DIR.name}/ (notebook not checked here).")
            return 0
        changes = write_exercises(force=args.force)
    except StubError as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 2
    except EditedFiles as exc:
        print(
            f"release stopped, nothing written: {', '.join(exc.files)} changed since the last release "
            f"(edit {SOLUTIONS_DIR.name}/ instead, or run again with --force to overwrite them)",
            file=sys.stderr,
        )
        return 1
    for line in changes:
        print(line)
    if not changes:
        print(f"{EXERCISES_DIR.name}/ was already current.")
    try:
        print(_release_notebook(EXERCISES_DIR, SOLUTIONS_DIR))
    except Exception as exc:  # noqa: BLE001 (nbgrader's errors share no base class; report any, fail)
        print(f"releasing the notebook failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.bundle is not None:
        try:
            written = build_bundle(args.bundle)
        except FileExistsError as exc:
            print(f"bundle not written: {exc}", file=sys.stderr)
            return 1
        print(f"learner bundle: {written}")
    return 0
