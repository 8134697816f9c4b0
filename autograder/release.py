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
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import shutil
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

_EXERCISE_FILE = re.compile(r"^(ex\d+)_\w*\.py$")
_BEGIN = re.compile(r"^#\s*BEGIN SOLUTION\b\s*:?\s*(?P<todo>.*?)\s*$")
_END = re.compile(r"^#\s*END SOLUTION\s*$")
_PLACEHOLDER = "@@solution-region-{}@@"


class StubError(ValueError):
    """Malformed solution markers, or a solution file that does not give a valid stub."""


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
        if path.name.endswith(IGNORED_SUFFIXES) or relative.as_posix() == NOTEBOOK:
            continue
        existing[relative.as_posix()] = path
    return existing


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


def write_exercises(dest: Path = EXERCISES_DIR, *, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Make ``dest`` exactly what ``solutions_dir`` renders (notebook aside); return what changed.

    Only changed files are written; files with no source are removed. Everything is rendered before
    anything is written, so a malformed solution leaves ``dest`` untouched.
    """
    dest = Path(dest)
    wanted = render_exercises(solutions_dir)
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
    return f"released {_shown(Path(released))} (nbgrader)"


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
        changes = write_exercises()
    except StubError as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 2
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
