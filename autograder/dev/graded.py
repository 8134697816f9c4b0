"""The checks that run the graders (in a child process, on trusted folders): points, stubs, solutions,
and the catalogue of known mistakes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from autograder.dev.places import SUBPROCESS_TIMEOUT, _manifest
from autograder.manifest import EXERCISES_DIR, GRADERS_DIR, REPO_ROOT, SOLUTIONS_DIR

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


def _python(*args: str, timeout: float = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    """``python *args`` in the repository; one that runs past ``timeout`` seconds is stopped and comes
    back with exit status -1 and a one-line reason as its stderr."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, *args]
    try:
        return subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        reason = f"stopped after {timeout:g} s (a busy machine? run this check alone)"
        return subprocess.CompletedProcess(command, -1, stdout="", stderr=reason)


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
from xml.etree import ElementTree
from autograder.demo.catalogue import WRONG
from autograder.grading import grade_submissions
with tempfile.TemporaryDirectory(prefix="dev-catalogue-") as scratch:
    root = Path(scratch)
    paths = [entry.write(root / entry.student) for entry in WRONG]
    results = grade_submissions(paths, root / "out", jobs=2, force=True)
failed = sorted({(c.exercise, c.name) for r in results for c in r.checks if not c.passed})
print("\\n@@RESULT@@" + json.dumps(failed))
"""


def check_catalogue() -> list[str]:
    run = _graders_on(SOLUTIONS_DIR, collect_only=True)
    done = _python("-c", _CATALOGUE_SCRIPT, timeout=4 * SUBPROCESS_TIMEOUT)
    marker = done.stdout.rfind("@@RESULT@@")
    if marker < 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return [f"the catalogue was not graded: {tail[0]}"]
    failed = {tuple(pair) for pair in json.loads(done.stdout[marker + len("@@RESULT@@") :])}
    return [
        f"{exercise}: no known mistake fails {name} (add one under autograder/demo/catalogue/)"
        for exercise, name, _ in run["plan"]
        if (exercise, name) not in failed
    ]
