"""A grading batch: every submission graded by a grading child of its own, at most ``jobs`` at a time,
its late checks by the late pass, and its result handed on as soon as both parts are in.

:func:`grade_submissions` writes the results (an interrupted batch resumes where it stopped);
:func:`grade_one` returns one result and writes nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from autograder.grading.graded_with import provenance
from autograder.grading.late import LatePass, start_child
from autograder.grading.plan import Plan, prepare
from autograder.grading.processes import Child, Part, run_children
from autograder.grading.progress import Progress
from autograder.grading.staging import BadSubmission, scratch_folder, student_id
from autograder.manifest import GRADERS_DIR
from autograder.results import ResultsFolder, SubmissionResult
from autograder.results.model import CheckResult, terminal_safe
from autograder.sandbox import confine
from autograder.sandbox.limits import DEFAULTS, Limits

if TYPE_CHECKING:
    from autograder.grading.intake import Submission


class DuplicateStudent(ValueError):
    """Two submissions would get the same student id."""


@contextlib.contextmanager
def staging_root() -> Iterator[str]:
    """A folder for the batch's staged submissions, and its cgroups (as root): both removed at the end
    of the batch whatever happened (a killed child, Ctrl-C), with everything in them; those an engine
    that was killed left behind are removed when the next batch starts."""
    with scratch_folder("ag-batch-") as root:
        os.chmod(root, 0o711)  # workers (nobody) reach their own folder but cannot list the others
        confine.BUDGET.start()
        try:
            yield root
        finally:
            confine.BUDGET.finish()


def combine(student: str, parts: list[tuple[Part, list[CheckResult]]], plan: Plan) -> SubmissionResult:
    """One submission's result from its parts (each with the checks it graded), in plan order."""
    checks: dict[tuple[str, str], CheckResult] = {}
    errors = []
    for part, part_plan in parts:
        part_checks, error = part.results(part_plan)
        checks.update({(c.exercise, c.name): c for c in part_checks})
        if error:
            errors.append(error)
    ordered = [checks.pop((c.exercise, c.name)) for c in plan.checks if (c.exercise, c.name) in checks]
    ordered.extend(checks.values())
    seconds = sum(part.seconds for part, _ in parts)
    return SubmissionResult(student, ordered, "; ".join(errors) if errors else None, seconds)


def run_batch(
    items: list[tuple[str, Path]],
    plan: Plan,
    limits: Limits,
    jobs: int,
    on_result: Callable[[SubmissionResult, list[str]], None],
    *,
    reap_strays: bool = False,
) -> list[SubmissionResult]:
    """Grade ``items`` (student, source); ``on_result(result, grader_errors)`` as each completes."""
    with staging_root() as root:
        return _run_batch(items, plan, limits, jobs, on_result, root, reap_strays)


def _run_batch(
    items: list[tuple[str, Path]],
    plan: Plan,
    limits: Limits,
    jobs: int,
    on_result: Callable[[SubmissionResult, list[str]], None],
    root: str,
    reap_strays: bool,
) -> list[SubmissionResult]:
    graded_with = provenance(plan.graders_dir, limits)
    late_plan, main_plan = plan.fresh(late=True), plan.fresh(late=False)
    graded: dict[str, Part] = {}  # main parts done, waiting for their late part
    results: list[SubmissionResult] = []
    late: LatePass | None = None

    def complete(student: str) -> None:
        if student not in graded or (late is not None and student not in late.parts):
            return
        main = graded.pop(student)
        parts = [(main, main_plan)]
        if late is not None:
            extra = late.parts.pop(student)
            parts.append((extra, late_plan))
            main.grader_errors.extend(extra.grader_errors)
        result = combine(student, parts, plan)
        result.provenance = graded_with
        results.append(result)
        on_result(result, main.grader_errors)

    def finished(child: Child) -> None:
        graded[child.part.student] = child.part
        complete(child.part.student)

    if late_plan and items:
        late = LatePass.start(items, plan, limits, jobs, root, on_part=complete)
    part = False if late is not None else None  # without the late checks, or every check

    def start(student: str, source: Path, close: list[int]) -> Child:
        return start_child(
            student,
            source,
            close,
            staging_root=root,
            plan=plan,
            limits=limits,
            late=part,
        )

    try:
        run_children(
            items,
            jobs=jobs,
            seconds=limits.submission_timeout,
            start=start,
            finished=finished,
            listener=late,
            waiting=lambda: bool(graded),
            reap_strays=reap_strays,
        )
    finally:
        if late is not None:
            late.stop()
    return results


def make_limits(timeout: float, memory_mb: int, submission_timeout: float) -> Limits:
    return Limits(
        call_timeout=float(timeout), memory_mb=int(memory_mb), submission_timeout=float(submission_timeout)
    )


def report_grader_errors(student: str, problems: list[str], stream: TextIO) -> None:
    for problem in problems:
        text = terminal_safe(
            f"!!! GRADER ERROR while grading {terminal_safe(student, lines=False)}: {problem}"
        )
        print(f"\n{text}\n", file=stream, flush=True)


def grade_one(
    path: Path | str,
    *,
    timeout: float = DEFAULTS.call_timeout,
    memory_mb: int = DEFAULTS.memory_mb,
    graders_dir: Path | str = GRADERS_DIR,
    submission_timeout: float = DEFAULTS.submission_timeout,
) -> SubmissionResult:
    """Grade one submission (folder or zip) and return its result; writes no file.

    Raises:
        BadSubmission: ``path`` is neither a folder nor a ``.zip`` file.
        GraderBug: the graders are broken.
    """
    source = check_path(Path(path))
    assert isinstance(source, Path)
    results = run_batch(
        [(student_id(source), source)],
        prepare(Path(graders_dir)),
        make_limits(timeout, memory_mb, submission_timeout),
        1,
        lambda result, problems: report_grader_errors(result.student, problems, sys.stderr),
    )
    return results[0]


def check_path(path: Path | Submission) -> Path | Submission:
    """A folder or zip as its resolved path, or a submission found by :mod:`autograder.grading.intake`
    as is.

    Raises:
        BadSubmission: the path is neither a folder nor a zip, or the submission has nothing to grade.
    """
    if not isinstance(path, (str, Path)):
        if path.source is None:
            raise BadSubmission(f"{path.origin}: {path.note}")
        return path
    path = Path(path)
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        return path.resolve()
    if not path.exists():
        raise BadSubmission(f"{path}: no such file or folder")
    raise BadSubmission(f"{path} is neither a folder nor a .zip file")


def partition_paths(paths: Iterable[Path | str]) -> tuple[list[Path], list[str]]:
    """Split paths into submissions (folders and zips) and one error message per other path."""
    good: list[Path] = []
    problems = []
    for path in paths:
        try:
            good.append(Path(check_path(Path(path))))  # type: ignore[arg-type]
        except BadSubmission as exc:
            problems.append(str(exc))
    return good, problems


def _student_and_source(item: Path | Submission) -> tuple[str, Path | None, str]:
    if isinstance(item, (str, Path)):
        return student_id(Path(item)), Path(item), str(item)
    return item.student, item.source, item.origin


def students(paths: Sequence[Path | Submission]) -> list[tuple[str, Path | None]]:
    """(student id, source) for each path or found submission, refusing two with the same id.

    Raises:
        DuplicateStudent: two would get the same student id.
        BadSubmission: an id that cannot name a file.
    """
    by_id: dict[str, list[str]] = {}
    for item in paths:
        student, _, origin = _student_and_source(item)
        by_id.setdefault(student, []).append(origin)
    clashes = {sid: found for sid, found in by_id.items() if len(found) > 1}
    if clashes:
        detail = "; ".join(f"{sid}: {', '.join(map(str, found))}" for sid, found in sorted(clashes.items()))
        raise DuplicateStudent(f"two submissions have the same student id ({detail})")
    bad = [sid for sid in by_id if not sid or sid.startswith(".") or "/" in sid]
    if bad:
        raise BadSubmission(f"cannot use {bad[0]!r} as a student id")
    return [_student_and_source(item)[:2] for item in paths]


def grade_submissions(
    paths: Iterable[Path | str | Submission],
    out_dir: Path | str,
    *,
    jobs: int = 1,
    force: bool = False,
    timeout: float = DEFAULTS.call_timeout,
    memory_mb: int = DEFAULTS.memory_mb,
    submission_timeout: float = DEFAULTS.submission_timeout,
    graders_dir: Path | str = GRADERS_DIR,
    progress: bool | TextIO = False,
    reap_strays: bool = False,
    folder: ResultsFolder | None = None,
) -> list[SubmissionResult]:
    """Grade a batch and write ``out_dir/results/<student>.json``, ``grades.csv`` and ``report.html``.

    Students whose results file already exists are not graded again unless ``force``. ``folder``: the
    results of ``out_dir`` already read (by the command line), else they are read here. Returns one
    result per path, in the order given.

    Raises:
        BadSubmission: a path is neither a folder nor a ``.zip`` (see :func:`partition_paths`).
        DuplicateStudent: two paths would share a student id. Both are raised before grading starts.
        GraderBug: the graders are broken.
    """
    items = students([check_path(path) for path in paths])  # type: ignore[arg-type]
    plan = prepare(Path(graders_dir))
    if folder is None:
        folder = ResultsFolder(Path(out_dir), warn=lambda text: print(f"warning: {text}", file=sys.stderr))
    reporter = Progress(len(items), None if progress is True else progress) if progress else None
    done: dict[str, SubmissionResult] = {}
    to_grade = []
    for student, source in items:
        previous = folder.results.get(student)
        if previous is not None and previous.finished and not force:  # a noted row is graded again
            done[student] = previous
            if reporter:
                reporter.advance("already graded", previous)
            continue
        to_grade.append((student, source))

    def record(result: SubmissionResult, grader_errors: list[str]) -> None:
        report_grader_errors(result.student, grader_errors, sys.stderr)
        folder.add(result)
        done[result.student] = result
        if reporter:
            reporter.advance("graded", result)

    run_batch(
        to_grade,  # type: ignore[arg-type]
        plan,
        make_limits(timeout, memory_mb, submission_timeout),
        jobs,
        record,
        reap_strays=reap_strays,
    )
    folder.write_outputs()
    return [done[student] for student, _ in items]
