"""The progress plugin of ``pytest exercises`` (loaded by ``exercises/conftest.py``): which exercises are
done, which are not started, what to do next.

- ``pytest exercises -m ex3`` runs only ex3's checks (the markers ex1..ex5 are registered here).
- A check that reaches a function you have not written yet (its ``raise NotImplementedError("ex3:
  implement ...")`` is still there) is reported as "not started", in one line, without a traceback. It
  still counts as a failure.
- At the end, one line per exercise: done, not started, failing (with the first failing check's
  message), or, when its checks were not selected, its state when they last ran in full (kept in
  ``.exercises-progress.json`` beside ``exercises/``, while the exercise's file is unchanged), then the
  one next step: the next exercise, or the hand-in command when all five pass.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .manifest import MANIFEST, read_entries
from .stub_message import STUB_PATTERN

SUPPORT_DIR = Path(__file__).resolve().parent
EXERCISE_DIR = SUPPORT_DIR.parent
PACKAGE = EXERCISE_DIR.name
HELPER_FILE = SUPPORT_DIR / "checking.py"
PROGRESS_FILE = EXERCISE_DIR.parent / f".{PACKAGE}-progress.json"
"""Each exercise's state when its checks last ran in full, and a digest of its file then; in the learner's
folder (beside ``exercises/``), never handed in."""


def read_exercises(manifest: Path = MANIFEST) -> tuple[dict[str, tuple[str, str]], str | None]:
    """``{"ex1": ("ex1_softmax", "softmax with a temperature"), ...}`` from the manifest, in its order.

    Returns:
        The table, and None; or an empty table and one line naming the problem when the manifest is
        missing or unreadable (``pytest_configure`` stops the run with it).
    """
    entries, problem = read_entries(manifest)
    try:
        return {entry["id"]: (entry["module"], entry["topic"]) for entry in entries}, problem
    except (KeyError, TypeError) as missing:
        return {}, f"cannot read the exercises from {manifest} (an entry has no {missing}): restore it"


EXERCISES, MANIFEST_PROBLEM = read_exercises()
"""id -> (module, what it is about); the manifest's problem, or None."""
NOT_STARTED_CATEGORY = "not started"
MAX_MESSAGE_CHARS = 400

_EXERCISE_MARK = re.compile(r"^ex\d+$")
_TEST_FILE = re.compile(r"^test_(ex\d+)(?:_\w*)?\.py$")


@dataclass
class ExerciseProgress:
    """What the checks of one exercise did in this run."""

    passed: int = 0
    failed: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    import_error: str | None = None

    @property
    def status(self) -> str:
        if self.import_error is not None or self.failed:
            return "failing"
        if self.not_started:
            return "in progress" if self.passed else "not started"
        if self.passed:
            return "done"
        return "not run"


def source_digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def read_saved_progress(path: Path | None = None) -> dict[str, dict]:
    """The saved state of each exercise (``{"ex1": {"status": "done", "source": digest}}``), or {}."""
    try:
        saved = json.loads((path or PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, dict):
        return {}
    return {key: value for key, value in saved.items() if isinstance(value, dict) and "status" in value}


def _stub_exception(exc: BaseException | None) -> tuple[str, str] | None:
    """(exercise id, function name) when ``exc`` (or what caused it) is an untouched stub's exception."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, NotImplementedError) and exc.args:
            match = STUB_PATTERN.match(str(exc.args[0]))
            if match:
                return match.group(1), match.group(2)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, AssertionError) or not first:
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return first if len(first) <= MAX_MESSAGE_CHARS else first[: MAX_MESSAGE_CHARS - 3] + "..."


def _exercise_of(item: pytest.Item) -> str | None:
    for mark in item.iter_markers():
        if _EXERCISE_MARK.match(mark.name):
            return mark.name
    match = _TEST_FILE.match(item.path.name)
    return match.group(1) if match else None


class StubReports:
    """Reports a stub's failure without pytest formatting its traceback (the progress report words it)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
        """A stub's failure gets its one-line report here, without pytest formatting its traceback."""
        if call.excinfo is None or _stub_exception(call.excinfo.value) is None:
            return None
        sections = [(f"Captured {key} {when}", content) for when, key, content in item._report_sections]
        return pytest.TestReport(
            item.nodeid,
            item.location,
            dict.fromkeys(item.keywords, 1),
            "failed",
            "not started",
            call.when,
            sections,
            call.duration,
            call.start,
            call.stop,
            user_properties=item.user_properties,
        )


class ProgressReport:
    """Collects each check's outcome per exercise and writes the summary at the end of the run."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.progress: dict[str, ExerciseProgress] = {}
        self.partly_run: set[str] = set()

    def _entry(self, exercise: str) -> ExerciseProgress:
        return self.progress.setdefault(exercise, ExerciseProgress())

    def shown_path(self, path: Path) -> str:
        relative = os.path.relpath(path, self.config.invocation_params.dir)
        return str(path) if relative.startswith("..") else relative

    def exercise_file(self, exercise: str) -> Path:
        if exercise in EXERCISES:
            return EXERCISE_DIR / f"{EXERCISES[exercise][0]}.py"
        candidates = sorted(EXERCISE_DIR.glob(f"{exercise}_*.py"))
        return candidates[0] if candidates else EXERCISE_DIR / f"{exercise}.py"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector):
        outcome = yield
        report = outcome.get_result()
        match = _TEST_FILE.match(collector.path.name) if isinstance(collector, pytest.Module) else None
        if not report.failed or match is None:
            return
        error_lines = [line[2:] for line in str(report.longrepr).splitlines() if line.startswith("E ")]
        if not error_lines:
            return
        self._entry(match.group(1)).import_error = error_lines[-1].strip()[:MAX_MESSAGE_CHARS]
        report.longrepr = "\n".join([f"could not import {self.shown_path(collector.path)}:", *error_lines])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        exercise = _exercise_of(item)
        if exercise is None:
            return
        entry = self._entry(exercise)
        if report.failed and call.excinfo is not None:
            stub = _stub_exception(call.excinfo.value)
            if stub is not None:
                stub_exercise, name = stub
                stub_file = Path(call.excinfo.traceback[-1].path) if call.excinfo.traceback else None
                if stub_file is None or not stub_file.is_file():
                    stub_file = self.exercise_file(stub_exercise)
                report.longrepr = (
                    f"{stub_exercise} not started yet: open {self.shown_path(stub_file)} and replace the "
                    f"TODO({stub_exercise}) in {name}"
                )
                report.not_started = stub_exercise
                if name not in entry.not_started:
                    entry.not_started.append(name)
            else:
                entry.failed.append(_one_line(call.excinfo.value))
                self._hide_helper_frames(item, call, report)
        elif report.when == "call" and report.passed:
            entry.passed += 1

    @staticmethod
    def _hide_helper_frames(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
        """Show a failed check from the check down to your code, without the comparison helper's inside.

        The helper module gets pytest's ``__tracebackhide__`` flag (what it would say itself), and the
        report is made again.
        """
        excinfo = call.excinfo
        if not isinstance(item, pytest.Function) or excinfo is None:
            return
        helper_frames = [entry for entry in excinfo.traceback if Path(entry.path).resolve() == HELPER_FILE]
        if not helper_frames or len(helper_frames) == len(excinfo.traceback):
            return
        helper_frames[0].frame.f_globals.setdefault("__tracebackhide__", True)
        report.longrepr = item.repr_failure(excinfo)

    def pytest_report_teststatus(self, report: pytest.TestReport):
        if report.failed and getattr(report, "not_started", None):
            return NOT_STARTED_CATEGORY, "N", ("NOT STARTED", {"yellow": True})
        return None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            exercise = _exercise_of(item)
            if exercise is not None:
                self.partly_run.add(exercise)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.progress:
            return
        writer = terminalreporter
        writer.write_sep("=", "your progress")
        ids = list(EXERCISES) + sorted(set(self.progress) - set(EXERCISES))
        width = max(len(EXERCISES.get(ex, ("", ex))[1]) for ex in ids)
        earlier = read_saved_progress()
        done = 0
        next_step: str | None = None
        check_next: str | None = None
        not_checked = 0
        for exercise in ids:
            entry = self.progress.get(exercise, ExerciseProgress())
            topic = EXERCISES.get(exercise, ("", exercise))[1]
            path = self.shown_path(self.exercise_file(exercise))
            status = entry.status
            if status == "not run":
                status, detail, colour = self._earlier_state(exercise, earlier.get(exercise))
                if status == "done":
                    done += 1
                else:
                    not_checked += 1
                    if check_next is None:
                        check_next = f"Next: check {exercise}: pytest {PACKAGE} -m {exercise}"
            elif status == "done":
                done += 1
                detail, colour = "done", {"green": True}
            elif status == "not started":
                detail, colour = f"not started  -> open {path}", {"yellow": True}
            elif status == "in progress":
                names = ", ".join(entry.not_started)
                detail = f"in progress ({entry.passed} checks pass)  -> still to write: {names}"
                colour = {"yellow": True}
            else:
                if entry.import_error is not None:
                    detail = f"failing: its checks cannot import it: {entry.import_error}"
                else:
                    detail = f"failing: {entry.failed[0]}"
                colour = {"red": True}
            if status not in ("done", "not checked") and next_step is None:
                next_step = self._next_step(exercise, status, path)
            writer.write_line(f"{exercise}  {topic:<{width}}  {detail}", **colour)
        self._save_progress(earlier)
        total = len(ids)
        summary = f"{done} of {total} done"
        if not_checked:
            summary += f" ({not_checked} not checked in this run)"
        writer.write_line(summary + ".", bold=True)
        if next_step is not None or check_next is not None:
            writer.write_line(next_step or check_next)
        else:
            writer.write_line(f"All {total} done. To hand in: python -m {PACKAGE}.handin STUDENT_ID")

    def _earlier_state(self, exercise: str, saved: dict | None) -> tuple[str, str, dict]:
        """An exercise whose checks did not run: its last known state, while its file is unchanged."""
        if not saved:
            return "not checked", "not checked in this run", {}
        if saved.get("source") != source_digest(self.exercise_file(exercise)):
            return "not checked", f"not checked in this run (changed since it was {saved['status']})", {}
        if saved["status"] == "done":
            return "done", "done (when last checked)", {"green": True}
        return "not checked", f"{saved['status']} when last checked", {}

    def _save_progress(self, earlier: dict[str, dict]) -> None:
        """Remember each exercise whose checks all ran, with a digest of its file (best effort)."""
        saved = dict(earlier)
        for exercise, entry in self.progress.items():
            if entry.status == "not run" or exercise in self.partly_run:
                continue
            saved[exercise] = {"status": entry.status, "source": source_digest(self.exercise_file(exercise))}
        try:
            PROGRESS_FILE.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        except OSError:
            pass

    def _next_step(self, exercise: str, status: str, path: str) -> str:
        if status == "failing":
            step = f"Next: fix {exercise} in {path} (its failing check is shown above)."
        else:
            step = f"Next: {exercise}: open {path} and replace the TODO({exercise})."
        if (EXERCISE_DIR / "hints.py").is_file():
            step += f" Stuck? python -m {PACKAGE}.hints {exercise}"
        return step


def pytest_sessionstart(session: pytest.Session) -> None:
    """One thread for torch: the checks' tensors are tiny, and a pool of threads only adds its start-up
    (and waits badly on a busy machine). Then the objects that importing torch made, which live as long
    as the run, are moved out of the garbage collector's way (``gc.freeze``): its full collections during
    the checks no longer walk them."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
    gc.freeze()


def pytest_configure(config: pytest.Config) -> None:
    if MANIFEST_PROBLEM is not None:
        raise pytest.UsageError(MANIFEST_PROBLEM)
    for exercise, (_, topic) in EXERCISES.items():
        config.addinivalue_line("markers", f"{exercise}: {topic}")
    # One exercise's syntax error must not stop the checks of the other four.
    config.option.continue_on_collection_errors = True
    if not config.pluginmanager.has_plugin("exercise-progress"):
        config.pluginmanager.register(ProgressReport(config), "exercise-progress")
        config.pluginmanager.register(StubReports(), "exercise-stub-reports")
