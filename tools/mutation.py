"""Mutation testing of the hidden graders: does every change to a solution cost it points?

Cosmic Ray (https://cosmic-ray.readthedocs.io) makes the mutants: its ``init`` enumerates every place
its core operators apply in ``solutions/exN_*.py`` (binary, comparison and unary operators, boolean
literals and operators, numbers, exception handlers, ``for`` loops, decorators) into a session
database. Each mutant is then graded the way ``pytest autograder/graders --submission-dir DIR`` grades a
trusted folder: the mutated file with the other solution files, in-process, by its exercise's grader
file and :class:`autograder.grading.plugin.ChecksPlugin` (the engine's points, gating included). One warm
process imports torch and ``transformers``, collects the graders and builds their shared inputs once,
then forks a child per mutant (``--jobs`` at a time); the mutated file is only ever written to a
temporary folder, never over ``solutions/``.

A mutant is *killed* when its exercise gets fewer points than the unmutated solution gets in the same
run (a crash, a hang past ``--timeout`` or a failed check with points), *equivalent* when it survives
and ``autograder/graders/equivalent_mutants.toml`` argues that it behaves like the solution on every
input the contract allows, and *surviving* otherwise: a gap in the graders, printed with its diff.

    python tools/mutation.py [--exercise ex2] [--jobs N] [--session FILE] [--json FILE]
    python tools/mutation.py --check-equivalents --json FILE   # only the listed mutants (the test's mode)

``--session FILE`` keeps Cosmic Ray's session database, results included, for ``cr-report FILE``.
The exit status is 0 when no mutant survives unexplained, 1 when one does, 2 for bad arguments or
broken graders.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import dataclasses
import difflib
import gc
import importlib
import io
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder.manifest import (
    EXERCISE_BY_ID,
    EXERCISES,
    GRADERS_DIR,
    POINTS_PER_EXERCISE,
    SOLUTIONS_DIR,
)

EQUIVALENTS_FILE = GRADERS_DIR / "equivalent_mutants.toml"
SEED = 0
FLOAT_RTOL = 1e-6
"""Equivalent means the same replies: exactly for everything but floating tensors, which may differ in
rounding (``a - b`` and ``-b + a`` are both exact answers); these agree to this relative tolerance."""


class UsageError(Exception):
    """Bad arguments or an equivalents file that does not parse: one line for the user."""


# --------------------------------------------------------------------------------------------------
# Mutants: made by Cosmic Ray, named in a form that survives edits elsewhere in the file.


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One mutation of one exercise file."""

    exercise: str
    job_id: str
    operator: str
    occurrence: int
    function: str
    line: int
    removed: tuple[str, ...]
    added: tuple[str, ...]
    source: str

    @property
    def key(self) -> tuple[str, str, str, tuple[str, ...], tuple[str, ...]]:
        """What an entry of the equivalents file matches: no line numbers, no occurrence counts."""
        strip = lambda lines: tuple(line.strip() for line in lines)
        return (self.exercise, self.operator, self.function, strip(self.removed), strip(self.added))

    def describe(self) -> str:
        """The mutant as this tool prints it: where, which operator, then the changed lines."""
        filename = EXERCISE_BY_ID[self.exercise].filename
        head = f"{self.exercise} {self.operator} in {self.function}() (solutions/{filename}:{self.line})"
        return "\n".join(
            [head, *(f"  - {line}" for line in self.removed), *(f"  + {line}" for line in self.added)]
        )


def make_mutants(
    exercises: Sequence[str], session: Path, in_annotations: dict[str, int] | None = None
) -> list[Mutant]:
    """Let Cosmic Ray enumerate the mutations of each exercise's solution file into ``session``.

    Mutations inside annotations are left out (see :func:`annotation_spans`); ``in_annotations``, when
    given, receives how many per exercise."""
    from cosmic_ray.commands import init
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db

    mutants = []
    for exercise_id in exercises:
        path = SOLUTIONS_DIR / EXERCISE_BY_ID[exercise_id].filename
        original = path.read_text()
        with use_db(str(session.with_suffix(f".{exercise_id}.sqlite")), WorkDB.Mode.create) as work_db:
            init([path], work_db, {})
            items = list(work_db.work_items)
        annotations = annotation_spans(original)
        for item in items:
            (spec,) = item.mutations
            if any(start <= tuple(spec.start_pos) < end for start, end in annotations):
                if in_annotations is not None:
                    in_annotations[exercise_id] = in_annotations.get(exercise_id, 0) + 1
                continue
            mutated = mutate_code(
                original, get_operator(spec.operator_name)(**spec.operator_args), spec.occurrence
            )
            if mutated is None or mutated == original:
                continue
            removed, added = _changed_lines(original, mutated)
            mutants.append(
                Mutant(
                    exercise=exercise_id,
                    job_id=item.job_id,
                    operator=spec.operator_name,
                    occurrence=spec.occurrence,
                    function=spec.definition_name or "<module>",
                    line=spec.start_pos[0],
                    removed=removed,
                    added=added,
                    source=mutated,
                )
            )
    return mutants


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the annotations are, in a module that never evaluates them (``from __future__ import
    annotations``): a mutant there (``Tensor | None`` -> ``Tensor + None``) changes no behaviour, so none
    is made. Empty for a module that does evaluate its annotations."""
    import parso

    if "from __future__ import annotations" not in source.splitlines():
        return []
    module = parso.parse(source)
    spans = []
    stack = [module]
    while stack:
        node = stack.pop()
        annotation = None
        if node.type in ("param", "funcdef"):
            annotation = node.annotation
        elif node.type == "annassign":
            annotation = node.children[1]
        if annotation is not None:
            spans.append((annotation.start_pos, annotation.end_pos))
        stack.extend(getattr(node, "children", []))
    return spans


def _changed_lines(original: str, mutated: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    before, after = original.splitlines(), mutated.splitlines()
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += before[i1:i2]
            added += after[j1:j2]
    return tuple(removed), tuple(added)


# --------------------------------------------------------------------------------------------------
# The equivalents file.


@dataclasses.dataclass(frozen=True)
class Equivalent:
    """An entry of ``equivalent_mutants.toml``: a mutant and why it cannot be told from the solution."""

    exercise: str
    operator: str
    function: str
    line: str
    mutated: str
    why: str

    @property
    def key(self) -> tuple[str, str, str, tuple[str, ...], tuple[str, ...]]:
        split = lambda text: tuple(line.strip() for line in text.strip().splitlines())
        return (self.exercise, self.operator, self.function, split(self.line), split(self.mutated))

    def describe(self) -> str:
        change = f"{self.line.strip()} -> {self.mutated.strip()}"
        return f"{self.exercise} {self.operator} in {self.function}(): {change}"


def read_equivalents(path: Path = EQUIVALENTS_FILE) -> list[Equivalent]:
    """The mutants the equivalents file lists, one :class:`Equivalent` each (none if there is no file).

    The file holds ``[[equivalent]]`` groups: ``exercise``, ``function``, ``why`` and ``mutants``, a list
    of ``{operator, mutated}`` tables; ``line`` (the solution's line) is given by the group or by each
    mutant. One argument thus covers every mutant of a line that it explains.

    Raises:
        UsageError: the file is not TOML, or a group lacks a field or names an unknown exercise.
    """
    if not path.exists():
        return []
    try:
        data = _parse_toml(path.read_text())
    except ValueError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    entries = []
    for number, group in enumerate(data.get("equivalent", []), start=1):
        where = f"{path.name}: equivalent group {number}"
        missing = [name for name in ("exercise", "function", "why") if not _text(group.get(name))]
        if missing or not isinstance(group.get("mutants"), list) or not group["mutants"]:
            raise UsageError(f"{where} lacks {', '.join(missing) or 'its list of mutants'}")
        if group["exercise"] not in EXERCISE_BY_ID:
            raise UsageError(f"{where} names an unknown exercise {group['exercise']!r}")
        for item in group["mutants"]:
            line = item.get("line", group.get("line")) if isinstance(item, dict) else None
            if not (isinstance(item, dict) and _text(item.get("operator")) and _text(item.get("mutated"))):
                raise UsageError(f"{where}: each mutant needs an operator and its mutated line")
            if not _text(line):
                raise UsageError(f"{where}: {item['operator']} has no line (the solution's)")
            entries.append(
                Equivalent(
                    exercise=group["exercise"],
                    operator=item["operator"],
                    function=group["function"],
                    line=line,
                    mutated=item["mutated"],
                    why=group["why"],
                )
            )
    return entries


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _parse_toml(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the toml package Cosmic Ray depends on
        import toml

        return toml.loads(text)  # its TomlDecodeError is a ValueError, as tomllib's is
    return tomllib.loads(text)


# --------------------------------------------------------------------------------------------------
# Grading: one warm process, a forked child per mutant.


@dataclasses.dataclass
class Outcome:
    """How one graded file fared on its exercise."""

    points: float
    checks: list[dict[str, Any]]
    status: str  # "graded", "timeout", "crashed"
    seconds: float
    replies: Path | None = None

    def failed_checks(self) -> list[str]:
        return [f"{check['name']}: {check['message'][:160]}" for check in self.checks if not check["passed"]]


class Grader:
    """Grades exercise files in-process, the way ``--submission-dir`` does, but warmed once and forked."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        import pytest
        import torch

        torch.set_num_threads(1)
        with contextlib.suppress(ImportError):
            import transformers  # noqa: F401  (the checks marked needs("transformers") run in the children)
        from autograder.grading.plan import PYTEST_ARGS
        from autograder.grading.plugin import ChecksPlugin
        from autograder.grading.staging import PACKAGE, stage
        from autograder.submission import LocalConnection

        self.pytest_args = [*PYTEST_ARGS, "--rootdir", str(ROOT)]  # the engine's: the same pytest plugins
        self.package = PACKAGE
        # exercise -> the checks the solution passes; once known, a child stops at the first of them it fails
        self.passed_by_solution: dict[str, set[str]] = {}
        stage(SOLUTIONS_DIR, workdir / "warm")
        sys.path.insert(0, str(workdir / "warm"))
        importlib.import_module(f"{PACKAGE}.model")
        plugin = ChecksPlugin(LocalConnection(PACKAGE))
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = pytest.main([str(GRADERS_DIR), "--collect-only", *self.pytest_args], plugins=[plugin])
        if code != 0 or plugin.collection_errors or not plugin.plan:
            detail = "\n".join(plugin.collection_errors) or output.getvalue()[-2000:]
            raise UsageError(f"the graders do not collect (pytest exit code {int(code)}): {detail}")
        support = sys.modules.get("autograder.graders.support")
        if support is not None and hasattr(support, "warm_all"):
            support.warm_all()
        gc.collect()
        gc.freeze()  # the children share the warm heap: keep their collector from walking (and copying) it

    def start(self, exercise: str, source: str, tag: str, *, record: bool = False) -> tuple[int, Path]:
        """Fork a child that grades ``source`` as ``exercise``'s file; returns its pid and result file."""
        result_file = self.workdir / f"{tag}.json"
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                self._grade_in_child(exercise, source, tag, result_file, record)
            finally:
                os._exit(0)
        return pid, result_file

    def _grade_in_child(self, exercise: str, source: str, tag: str, result_file: Path, record: bool) -> None:
        import random

        import numpy
        import pytest
        import torch

        from autograder.grading.plugin import ChecksPlugin
        from autograder.grading.staging import stage
        from autograder.submission import LocalConnection

        gc.set_threshold(50_000, 50, 100)
        folder = self.workdir / tag
        (folder / "files").mkdir(parents=True)
        for other in EXERCISES:
            shutil.copyfile(SOLUTIONS_DIR / other.filename, folder / "files" / other.filename)
        (folder / "files" / EXERCISE_BY_ID[exercise].filename).write_text(source)
        stage(folder / "files", folder / "staged")
        sys.modules[self.package].__path__[:] = [str(folder / "staged" / self.package)]
        for name in list(sys.modules):
            if name.startswith(f"{self.package}.ex"):
                del sys.modules[name]
        # Cosmic Ray's exception replacer names an exception that no code raises.
        from cosmic_ray.exceptions import CosmicRayTestingException

        builtins.CosmicRayTestingException = CosmicRayTestingException
        random.seed(SEED)
        numpy.random.seed(SEED)
        torch.manual_seed(SEED)
        connection: Any = LocalConnection(self.package)
        if record:
            connection = RecordingConnection(connection)
        plugin = ChecksPlugin(connection, whole=False)
        plugins: list[Any] = [plugin]
        if exercise in self.passed_by_solution:
            plugins.append(StopAtFirstLoss(self.passed_by_solution[exercise]))
        grader_file = next(GRADERS_DIR.glob(f"test_{EXERCISE_BY_ID[exercise].module}.py"))
        pytest.main([str(grader_file), *self.pytest_args], plugins=plugins)
        checks = [check.to_dict() for check in plugin.results if check.exercise == exercise]
        if record:
            torch.save(connection.replies, folder / "replies.pt")
        result_file.write_text(json.dumps({"checks": checks}))

    def grade_all(
        self,
        jobs: Iterable[tuple[str, str, str]],
        *,
        parallel: int,
        timeout: float,
        record: bool = False,
        on_done=None,
    ) -> dict[str, Outcome]:
        """Grade ``(tag, exercise, source)`` jobs, ``parallel`` at a time; kill a child past ``timeout``."""
        pending = list(jobs)
        pending.reverse()
        running: dict[int, tuple[str, Path, float]] = {}
        outcomes: dict[str, Outcome] = {}
        while pending or running:
            while pending and len(running) < parallel:
                tag, exercise, source = pending.pop()
                pid, result_file = self.start(exercise, source, tag, record=record)
                running[pid] = (tag, result_file, time.monotonic())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                now = time.monotonic()
                for child, (_tag, _, started) in list(running.items()):
                    if now - started > timeout:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(child, signal.SIGKILL)
                time.sleep(0.02)
                continue
            if pid not in running:
                continue
            tag, result_file, started = running.pop(pid)
            seconds = time.monotonic() - started
            if result_file.exists():
                checks = json.loads(result_file.read_text())["checks"]
                outcome = Outcome(sum(check["points"] for check in checks), checks, "graded", seconds)
                replies = self.workdir / tag / "replies.pt"
                outcome.replies = replies if replies.exists() else None
            else:
                killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
                outcome = Outcome(0.0, [], "timeout" if killed and seconds > timeout else "crashed", seconds)
            outcomes[tag] = outcome
            if on_done is not None:
                on_done(tag, outcome)
            if outcome.replies is None:
                shutil.rmtree(self.workdir / tag, ignore_errors=True)
        return outcomes


class StopAtFirstLoss:
    """A pytest plugin that ends the run at the first failed check the solution passes.

    That check's points are lost, so the mutant is killed whatever the other checks say; the checks
    left unrun count 0, which keeps its points below the solution's.
    """

    def __init__(self, passed_by_solution: set[str]):
        self.passed_by_solution = passed_by_solution
        self.session: Any = None

    def pytest_sessionstart(self, session: Any) -> None:
        self.session = session

    def pytest_runtest_logreport(self, report: Any) -> None:
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.failed and name in self.passed_by_solution and self.session is not None:
            self.session.shouldstop = f"{name} failed: the mutant is killed"


class RecordingConnection:
    """Passes requests on and keeps every reply: what the graders saw the submission do."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.replies: list[Any] = []

    def request(self, tree: dict[str, Any], *, exercise: str) -> dict[str, Any]:
        reply = self.inner.request(tree, exercise=exercise)
        self.replies.append(reply)
        return reply


def _comparable(reply: dict[str, Any]) -> dict[str, Any]:
    """A reply without what the contract leaves free: an exception's traceback and message (its type
    and bases stay)."""
    if reply.get("ok") is False and reply.get("kind") == "raised":
        return {key: value for key, value in reply.items() if key not in ("traceback", "message")}
    return reply


def same_replies(expected: Any, actual: Any, path: str = "reply") -> str | None:
    """None when two recorded reply streams agree (see :data:`FLOAT_RTOL`), else where they first differ."""
    import torch

    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor):
        if not (isinstance(expected, torch.Tensor) and isinstance(actual, torch.Tensor)):
            return f"{path}: {type(expected).__name__} against {type(actual).__name__}"
        if expected.shape != actual.shape or expected.dtype != actual.dtype:
            return (
                f"{path}: {expected.dtype}{tuple(expected.shape)} against {actual.dtype}{tuple(actual.shape)}"
            )
        if expected.is_floating_point():
            close = torch.allclose(expected, actual, rtol=FLOAT_RTOL, atol=0.0, equal_nan=True)
        else:
            close = torch.equal(expected, actual)
        return None if close else f"{path}: the values differ"
    if isinstance(expected, dict) and isinstance(actual, dict):
        expected, actual = _comparable(expected), _comparable(actual)
        if list(expected) != list(actual):
            return f"{path}: keys {list(expected)} against {list(actual)}"
        for key in expected:
            difference = same_replies(expected[key], actual[key], f"{path}[{key!r}]")
            if difference:
                return difference
        return None
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        if type(expected) is not type(actual) or len(expected) != len(actual):
            left, right = type(expected).__name__, type(actual).__name__
            return f"{path}: {left} of {len(expected)} against {right} of {len(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            difference = same_replies(left, right, f"{path}[{index}]")
            if difference:
                return difference
        return None
    if isinstance(expected, float) and isinstance(actual, float):
        return (
            None
            if math.isclose(expected, actual, rel_tol=FLOAT_RTOL, abs_tol=0.0)
            else f"{path}: {expected} against {actual}"
        )
    if type(expected) is not type(actual) or expected != actual:
        return f"{path}: {expected!r:.80} against {actual!r:.80}"
    return None


# --------------------------------------------------------------------------------------------------
# The run.


@dataclasses.dataclass
class Report:
    """Everything the run found, per exercise."""

    baseline: dict[str, float]
    mutants: list[Mutant]
    outcomes: dict[str, Outcome]
    equivalents: list[Equivalent]
    seconds: float
    jobs: int
    in_annotations: dict[str, int] = dataclasses.field(default_factory=dict)

    def killed(self, mutant: Mutant) -> bool:
        outcome = self.outcomes[mutant.job_id]
        return outcome.status != "graded" or outcome.points < self.baseline[mutant.exercise] - 1e-9

    def matching_entry(self, mutant: Mutant) -> Equivalent | None:
        return next((entry for entry in self.equivalents if entry.key == mutant.key), None)

    def classify(self) -> dict[str, dict[str, list[Mutant]]]:
        table: dict[str, dict[str, list[Mutant]]] = {}
        for mutant in self.mutants:
            row = table.setdefault(mutant.exercise, {"killed": [], "equivalent": [], "surviving": []})
            if self.killed(mutant):
                row["killed"].append(mutant)
            elif self.matching_entry(mutant) is not None:
                row["equivalent"].append(mutant)
            else:
                row["surviving"].append(mutant)
        return table

    def to_json(self) -> dict[str, Any]:
        table = self.classify()
        return {
            "baseline": self.baseline,
            "not_made_in_annotations": self.in_annotations,
            "seconds": round(self.seconds, 1),
            "jobs": self.jobs,
            "exercises": {
                exercise: {
                    "made": sum(len(group) for group in row.values()),
                    **{name: len(group) for name, group in row.items()},
                }
                for exercise, row in table.items()
            },
            "surviving": [
                {
                    "exercise": m.exercise,
                    "operator": m.operator,
                    "function": m.function,
                    "line": m.line,
                    "removed": list(m.removed),
                    "added": list(m.added),
                }
                for row in table.values()
                for m in row["surviving"]
            ],
            "equivalent": [m.describe() for row in table.values() for m in row["equivalent"]],
            "unmatched_equivalents": [
                entry.describe()
                for entry in self.equivalents
                if entry.exercise in table and not any(entry.key == m.key for m in self.mutants)
            ],
        }


def run_mutation(exercises: Sequence[str], *, jobs: int, timeout: float, session: Path | None) -> Report:
    started = time.monotonic()
    equivalents = read_equivalents()
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        workdir = Path(scratch)
        session_base = session if session is not None else workdir / "session.sqlite"
        in_annotations: dict[str, int] = {}
        mutants = make_mutants(exercises, session_base, in_annotations)
        print(
            f"Cosmic Ray made {len(mutants)} mutants of {', '.join(exercises)}; warming up the graders",
            flush=True,
        )
        grader = Grader(workdir)
        baseline_jobs = [
            (f"solution-{ex}", ex, (SOLUTIONS_DIR / EXERCISE_BY_ID[ex].filename).read_text())
            for ex in exercises
        ]
        solution_outcomes = grader.grade_all(baseline_jobs, parallel=jobs, timeout=timeout)
        baseline = {tag.removeprefix("solution-"): o.points for tag, o in solution_outcomes.items()}
        grader.passed_by_solution = {
            tag.removeprefix("solution-"): {check["name"] for check in o.checks if check["passed"]}
            for tag, o in solution_outcomes.items()
        }
        for exercise, points in sorted(baseline.items()):
            if points < POINTS_PER_EXERCISE:
                print(
                    f"warning: the solution itself gets {points:g}/{POINTS_PER_EXERCISE} on {exercise}",
                    flush=True,
                )
        report = Report(baseline, mutants, {}, equivalents, 0.0, jobs, in_annotations)
        by_id = {mutant.job_id: mutant for mutant in mutants}
        progress = Progress(len(mutants))

        def done(job_id: str, outcome: Outcome) -> None:
            report.outcomes[job_id] = outcome
            mutant = by_id[job_id]
            if not report.killed(mutant) and report.matching_entry(mutant) is None:
                print(f"survived: {mutant.describe()}", flush=True)
            progress.advance()

        grader.grade_all(
            [(m.job_id, m.exercise, m.source) for m in mutants], parallel=jobs, timeout=timeout, on_done=done
        )
    report.seconds = time.monotonic() - started
    if session is not None:
        _store_results(report, session)
    return report


class Progress:
    """Prints how far the run is, every 25 mutants."""

    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.monotonic()

    def advance(self) -> None:
        self.done += 1
        if self.done % 25 == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.started
            print(f"  graded {self.done}/{self.total} mutants ({elapsed:.0f} s)", flush=True)


def _store_results(report: Report, session: Path) -> None:
    """Write the outcomes into Cosmic Ray's session databases, for ``cr-report``."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    by_exercise: dict[str, list[Mutant]] = {}
    for mutant in report.mutants:
        by_exercise.setdefault(mutant.exercise, []).append(mutant)
    for exercise, mutants in by_exercise.items():
        with use_db(str(session.with_suffix(f".{exercise}.sqlite")), WorkDB.Mode.open) as work_db:
            for mutant in mutants:
                outcome = report.outcomes[mutant.job_id]
                killed = report.killed(mutant)
                work_db.set_result(
                    mutant.job_id,
                    WorkResult(
                        worker_outcome=WorkerOutcome.NORMAL,
                        test_outcome=TestOutcome.KILLED if killed else TestOutcome.SURVIVED,
                        output=f"{outcome.status}: {outcome.points:g} points",
                        diff="\n".join(
                            [*(f"-{line}" for line in mutant.removed), *(f"+{line}" for line in mutant.added)]
                        ),
                    ),
                )


def check_equivalents(*, jobs: int, timeout: float) -> list[dict[str, Any]]:
    """Grade only the listed mutants: does each still apply, still survive, still give the same replies?"""
    import torch

    entries = read_equivalents()
    exercises = sorted({entry.exercise for entry in entries})
    findings = []
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        workdir = Path(scratch)
        mutants = make_mutants(exercises, workdir / "session.sqlite")
        matched = {entry: [m for m in mutants if m.key == entry.key] for entry in entries}
        grader = Grader(workdir)
        jobs_to_grade = [
            (f"solution-{ex}", ex, (SOLUTIONS_DIR / EXERCISE_BY_ID[ex].filename).read_text())
            for ex in exercises
        ]
        jobs_to_grade += [(m.job_id, m.exercise, m.source) for group in matched.values() for m in group]
        outcomes = grader.grade_all(jobs_to_grade, parallel=jobs, timeout=timeout, record=True)

        def replies(outcome: Outcome) -> Any:
            return torch.load(outcome.replies, weights_only=False) if outcome.replies else None

        for entry, group in matched.items():
            baseline = outcomes[f"solution-{entry.exercise}"]
            finding: dict[str, Any] = {"mutant": entry.describe(), "applies": bool(group), "problems": []}
            if not group:
                finding["problems"].append("no such mutant of the current solution file")
            for mutant in group:
                outcome = outcomes[mutant.job_id]
                if outcome.status != "graded" or outcome.points < baseline.points - 1e-9:
                    finding["problems"].append(
                        f"killed: {outcome.status}, {outcome.points:g} points against the solution's "
                        f"{baseline.points:g} ({'; '.join(outcome.failed_checks())[:400]})"
                    )
                    continue
                difference = same_replies(replies(baseline), replies(outcome))
                if difference:
                    finding["problems"].append(f"replies differ from the solution's: {difference}")
            findings.append(finding)
    return findings


# --------------------------------------------------------------------------------------------------
# The command line.


def print_report(report: Report) -> None:
    from importlib.metadata import version

    table = report.classify()
    print()
    print(
        f"Mutation testing of the hidden graders: Cosmic Ray {version('cosmic-ray')} core operators over "
        "solutions/ex*.py, each mutant graded by its exercise's graders"
    )
    header = f"{'exercise':<10}{'made':>7}{'killed':>8}{'equivalent':>12}{'surviving':>11}"
    print(header)
    print("-" * len(header))
    totals = [0, 0, 0, 0]
    for exercise, row in table.items():
        counts = [
            sum(len(group) for group in row.values()),
            len(row["killed"]),
            len(row["equivalent"]),
            len(row["surviving"]),
        ]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        print(f"{exercise:<10}{counts[0]:>7}{counts[1]:>8}{counts[2]:>12}{counts[3]:>11}")
    print("-" * len(header))
    print(f"{'total':<10}{totals[0]:>7}{totals[1]:>8}{totals[2]:>12}{totals[3]:>11}")
    skipped = sum(report.in_annotations.values())
    if skipped:
        print(
            f"(not made: {skipped} mutations inside annotations, which these modules never evaluate: "
            "from __future__ import annotations)"
        )
    equivalent = [m for row in table.values() for m in row["equivalent"]]
    if equivalent:
        print(f"\nEquivalent, argued in {EQUIVALENTS_FILE.relative_to(ROOT)}:")
        for mutant in equivalent:
            print(mutant.describe())
    surviving = [m for row in table.values() for m in row["surviving"]]
    if surviving:
        print("\nSurviving (the graders give them full points, and no argument says they are equivalent):")
        for mutant in surviving:
            print(mutant.describe())
    stale = report.to_json()["unmatched_equivalents"]
    if stale:
        print(f"\nEntries of {EQUIVALENTS_FILE.name} that match no mutant of the current solutions:")
        for line in stale:
            print(f"  {line}")
    graded = len(report.mutants) or 1
    print(
        f"\n{len(report.mutants)} mutants in {report.seconds:.0f} s with --jobs {report.jobs} "
        f"({report.seconds / graded:.2f} s a mutant, warm-up included)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/mutation.py",
        description="Mutation testing of the hidden graders: Cosmic Ray's mutants of solutions/ex*.py, "
        "each graded by its exercise's graders.",
    )
    parser.add_argument(
        "--exercise",
        action="append",
        choices=sorted(EXERCISE_BY_ID),
        help="only this exercise (repeatable; default all five)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="mutants graded at once (default 2)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds before a mutant's grading counts as a hang, which kills it (default 300)",
    )
    parser.add_argument(
        "--session",
        type=Path,
        help="keep Cosmic Ray's session databases as FILE.exN.sqlite, results included (for cr-report)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures (or the equivalents check) as JSON")
    parser.add_argument(
        "--check-equivalents",
        action="store_true",
        help="grade only the mutants listed "
        "in equivalent_mutants.toml and check that each still applies, survives and gives "
        "the solution's replies",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout:g}")
    try:
        if args.check_equivalents:
            findings = check_equivalents(jobs=args.jobs, timeout=args.timeout)
            for finding in findings:
                verdict = "ok" if not finding["problems"] else "; ".join(finding["problems"])
                print(f"{finding['mutant']}\n  {verdict}")
            if args.json:
                args.json.write_text(json.dumps(findings, indent=2))
            return 1 if any(finding["problems"] for finding in findings) else 0
        exercises = args.exercise or [exercise.id for exercise in EXERCISES]
        report = run_mutation(
            sorted(set(exercises)), jobs=args.jobs, timeout=args.timeout, session=args.session
        )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2))
    return 1 if any(row["surviving"] for row in report.classify().values()) else 0


if __name__ == "__main__":
    sys.exit(main())
