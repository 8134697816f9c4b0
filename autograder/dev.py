"""``python -m autograder dev check|sync``: the maintainer's check that every place follows the manifest.

Like ``rustlings dev check``: ``solutions/exercises.toml`` names the exercises once, and ``dev check``
finds every place that disagrees with it or with itself:

- ``manifest``  the manifest reads and every field is of the right kind;
- ``places``    each exercise has its solution (defining its public names), visible checks, grader and
                hints, and nothing has a file of an exercise the manifest does not name;
- ``markers``   both pytest marker lists (``pyproject.toml``, the learner bundle's) are the manifest's;
- ``readme``    the README tables generated from the manifest are current (``dev sync`` rewrites them);
- ``release``   ``exercises/`` is what ``python -m autograder release`` makes, and every stub has its TODO;
- ``points``    each exercise's checks sum to the manifest's points (the graders collected, not run);
- ``stubs``     no stub already passes: each fails its visible checks and earns 0 from the graders;
- ``solutions`` every solution passes its visible checks and earns every point from the graders;
- ``catalogue`` every check is failed by some known mistake of the catalogue (grades it: slow).

``--root DIR`` checks another copy of the repository (its own code does the checking).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from autograder.layout import (
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


def _hint_ids(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "HINTS" and isinstance(node.value, ast.Dict):
            return {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
    return set()


def _shown(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def check_places() -> list[str]:
    manifest = _manifest()
    problems = []
    hints = _hint_ids(SOLUTIONS_DIR / "hints.py")
    for ex in manifest.exercises:
        solution = SOLUTIONS_DIR / ex.filename
        for path in (solution, SOLUTIONS_DIR / f"test_{ex.filename}", GRADERS_DIR / f"test_{ex.filename}"):
            if not path.is_file():
                problems.append(f"{ex.id}: {_shown(path)} is missing")
        if solution.is_file():
            missing = [name for name in ex.names if name not in _defined_names(solution)]
            if missing:
                problems.append(f"{ex.id}: {_shown(solution)} does not define {', '.join(missing)}")
        if ex.id not in hints:
            problems.append(f"{ex.id}: solutions/hints.py has no hints for it")
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
    unknown_hints = sorted(hints - known)
    if unknown_hints:
        problems.append(f"solutions/hints.py has hints for {', '.join(unknown_hints)}, not in the manifest")
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


_GRADE_SCRIPT = """
import json, sys
import pytest
from autograder.grading.plugin import ChecksPlugin
graders, folder, collect_only = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
plugin = ChecksPlugin()
args = [graders, "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--submission-dir", folder]
if collect_only:
    args.append("--collect-only")
try:
    pytest.main(args, plugins=[plugin])
except BaseException as exc:
    plugin.collection_errors.append(f"{type(exc).__name__}: {exc}")
print("\\n@@RESULT@@" + json.dumps({
    "errors": plugin.collection_errors + plugin.grader_errors,
    "plan": [[c.exercise, c.name, c.max_points] for c in plugin.plan],
    "results": [[c.exercise, c.name, c.points, c.passed, c.message] for c in plugin.results],
}))
"""


def _python(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def _graders_on(folder: Path, *, collect_only: bool = False) -> dict:
    """The hidden graders run in a child process on trusted ``folder`` (or only collected)."""
    done = _python("-c", _GRADE_SCRIPT, str(GRADERS_DIR), str(folder), "1" if collect_only else "0")
    marker = done.stdout.rfind("@@RESULT@@")
    if marker < 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"errors": [f"the graders did not run: {tail[0]}"], "plan": [], "results": []}
    return json.loads(done.stdout[marker + len("@@RESULT@@") :])


def check_points() -> list[str]:
    manifest = _manifest()
    run = _graders_on(SOLUTIONS_DIR, collect_only=True)
    problems = [error.splitlines()[0] for error in run["errors"]]
    totals = {ex.id: 0.0 for ex in manifest.exercises}
    for exercise, _, points in run["plan"]:
        totals[exercise] = totals.get(exercise, 0.0) + points
    for exercise, total in totals.items():
        if abs(total - manifest.points_per_exercise) > 1e-9 and not any(exercise in p for p in problems):
            problems.append(
                f"{exercise}: the checks' points sum to {total:g}, not {manifest.points_per_exercise}"
            )
    return problems


def _visible_outcomes(folder: Path) -> tuple[dict[str, list[bool]], str]:
    """exercise id -> each visible check's pass/fail, from pytest's JUnit XML; and pytest's last line."""
    with tempfile.TemporaryDirectory(prefix="dev-check-") as scratch:
        report = Path(scratch) / "junit.xml"
        done = _python(
            "-m",
            "pytest",
            str(folder),
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            f"--junitxml={report}",
        )
        outcomes: dict[str, list[bool]] = {}
        if report.is_file():
            for case in ElementTree.parse(report).iter("testcase"):
                match = re.search(r"test_(ex\d+)_", case.get("classname", "") + "." + case.get("file", ""))
                if match:
                    failed = any(child.tag in ("failure", "error") for child in case)
                    outcomes.setdefault(match.group(1), []).append(not failed)
    last = (done.stdout.strip().splitlines() or ["no output"])[-1]
    return outcomes, last


def check_stubs() -> list[str]:
    manifest = _manifest()
    problems = []
    visible, last = _visible_outcomes(EXERCISES_DIR)
    for ex in manifest.exercises:
        if not visible.get(ex.id):
            problems.append(f"{ex.id}: no visible check ran on the stub ({last})")
        elif all(visible[ex.id]):
            problems.append(f"{ex.id}: the stub already passes every visible check")
    run = _graders_on(EXERCISES_DIR)
    problems += [error.splitlines()[0] for error in run["errors"]]
    for ex in manifest.exercises:
        earned = sum(points for exercise, _, points, _, _ in run["results"] if exercise == ex.id)
        if earned > 0:
            problems.append(f"{ex.id}: the stub earns {earned:g} points from the graders")
    return problems


def check_solutions() -> list[str]:
    manifest = _manifest()
    problems = []
    visible, last = _visible_outcomes(SOLUTIONS_DIR)
    for ex in manifest.exercises:
        if not visible.get(ex.id):
            problems.append(f"{ex.id}: no visible check ran on the solution ({last})")
        elif not all(visible[ex.id]):
            problems.append(f"{ex.id}: the solution fails {visible[ex.id].count(False)} visible check(s)")
    run = _graders_on(SOLUTIONS_DIR)
    problems += [error.splitlines()[0] for error in run["errors"]]
    for exercise, name, _, passed, message in run["results"]:
        if not passed:
            problems.append(f"{exercise}: the solution fails the hidden check {name}: {message[:200]}")
    return problems


_CATALOGUE_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from autograder.demo.catalogue import WRONG
from autograder.grading import grade_submissions
root = Path(tempfile.mkdtemp(prefix="dev-catalogue-"))
paths = [entry.write(root / entry.student) for entry in WRONG]
results = grade_submissions(paths, root / "out", jobs=2, force=True)
failed = sorted({(c.exercise, c.name) for r in results for c in r.checks if not c.passed})
print("\\n@@RESULT@@" + json.dumps(failed))
"""


def check_catalogue() -> list[str]:
    run = _graders_on(SOLUTIONS_DIR, collect_only=True)
    done = _python("-c", _CATALOGUE_SCRIPT)
    marker = done.stdout.rfind("@@RESULT@@")
    if marker < 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return [f"the catalogue was not graded: {tail[0]}"]
    failed = {tuple(pair) for pair in json.loads(done.stdout[marker + len("@@RESULT@@") :])}
    return [
        f"{exercise}: no known mistake fails {name} (add one to autograder/demo/corpus.toml)"
        for exercise, name, _ in run["plan"]
        if (exercise, name) not in failed
    ]


CHECKS: dict[str, Callable[[], list[str]]] = {
    "manifest": check_manifest,
    "places": check_places,
    "markers": check_markers,
    "readme": check_readme,
    "release": check_release,
    "points": check_points,
    "stubs": check_stubs,
    "solutions": check_solutions,
    "catalogue": check_catalogue,
}


def run_checks(names: list[str], report: Callable[[str], None] = print) -> int:
    """Runs the named checks in order, reporting a line per check and per problem; the problem count."""
    count = 0
    for name in names:
        problems = CHECKS[name]()
        report(f"{'ok  ' if not problems else 'FAIL'} {name}")
        for problem in problems:
            report(f"     {problem}")
        count += len(problems)
        if name == "manifest" and problems:
            report("     (the other checks need a manifest that reads)")
            break
    return count


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
# The verb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="check that every place follows the exercise manifest (see the list below)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--root", type=Path, help="check this copy of the repository instead")
    check.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=list(CHECKS),
        metavar="CHECK",
        help=f"leave a check out (repeatable): {', '.join(CHECKS)}",
    )
    check.add_argument(
        "--only",
        action="append",
        default=[],
        choices=list(CHECKS),
        metavar="CHECK",
        help="run only these checks",
    )
    sync_parser = actions.add_parser(
        "sync", help="rewrite the marker lists and README tables from the manifest", description=sync.__doc__
    )
    sync_parser.add_argument("--root", type=Path, help="sync this copy of the repository instead")


def _in_root(root: Path, argv: list[str]) -> int:
    """Runs ``python -m autograder dev ...`` with ``root``'s own code (a fixture or another checkout)."""
    if not (root / "solutions").is_dir() or not (root / "autograder").is_dir():
        print(
            f"dev: {root} is not a copy of this repository (no solutions/ and autograder/)", file=sys.stderr
        )
        return 2
    env = dict(os.environ, PYTHONPATH=str(root.resolve()), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "autograder", "dev", *argv], cwd=root, env=env, check=False
    ).returncode


def run(args: argparse.Namespace) -> int:
    if args.root is not None and args.root.resolve() != REPO_ROOT:
        argv = [args.action]
        if args.action == "check":
            argv += [f"--skip={name}" for name in args.skip] + [f"--only={name}" for name in args.only]
        return _in_root(args.root, argv)
    try:
        if args.action == "sync":
            changed = sync()
            print(f"dev sync: rewrote {', '.join(changed)}" if changed else "dev sync: everything is current")
            return 0
        names = [name for name in (args.only or CHECKS) if name not in args.skip]
        problems = run_checks(names)
    except ManifestError as exc:
        print(f"dev: {exc}", file=sys.stderr)
        return 1
    print(f"dev check: {problems} problem(s)" if problems else "dev check: everything follows the manifest")
    return 1 if problems else 0
