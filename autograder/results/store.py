"""The results on disk: ``results/<student>.json`` per student, then ``grades.csv`` and ``report.html``.

Every file is written atomically (a temporary file, then ``os.replace``), so an interrupted run never
leaves half a file. A :class:`ResultsFolder` reads the folder once and keeps its results in memory: each
new result is written, then ``grades.csv`` and ``report.html`` are rebuilt from memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .gradescope import from_gradescope_json, gradescope_json
from .model import SubmissionResult
from .report import report_html
from .table import grades_csv

RESULTS_FOLDER = "results"


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # backslashreplace: a lone surrogate (a folder name that is not UTF-8) is written out, not fatal
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def result_path(out_dir: Path, student: str) -> Path:
    return Path(out_dir) / RESULTS_FOLDER / f"{student}.json"


def write_result(out_dir: Path, result: SubmissionResult) -> Path:
    path = result_path(out_dir, result.student)
    write_atomic(path, json.dumps(gradescope_json(result), indent=2) + "\n")
    return path


def read_result(path: Path) -> SubmissionResult:
    return from_gradescope_json(json.loads(Path(path).read_text(encoding="utf-8")))


def read_all_results(out_dir: Path, warn: Callable[[str], None] | None = None) -> list[SubmissionResult]:
    """Every result on disk under ``out_dir/results``, sorted by student.

    A file that cannot be read is left out and ``warn`` is told so, in one line (with no ``warn``,
    :class:`UnreadableResult` is raised instead: a result is never dropped in silence).
    """
    results = []
    for path in sorted((Path(out_dir) / RESULTS_FOLDER).glob("*.json")):
        try:
            results.append(read_result(path))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"{path} is not a results file this package can read ({type(exc).__name__}: {exc})"
            if warn is None:
                raise UnreadableResult(problem) from exc
            warn(f"{problem}; it is left out of grades.csv and report.html, and its student graded again")
    return sorted(results, key=lambda r: r.student)


class UnreadableResult(ValueError):
    """A file under ``results/`` is not a result (damaged, or written by something else)."""


class ResultsFolder:
    """The results of one output folder, read once and kept in memory; :meth:`add` writes a new one."""

    def __init__(self, out_dir: Path, warn: Callable[[str], None] | None = None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.results = {result.student: result for result in read_all_results(self.out_dir, warn)}

    def add(self, result: SubmissionResult, *, rebuild: bool = True) -> Path:
        """Write ``result`` (replacing the student's earlier one), then (``rebuild``) the class files."""
        path = write_result(self.out_dir, result)
        self.results[result.student] = result
        if rebuild:
            self.write_outputs()
        return path

    def write_outputs(self) -> list[SubmissionResult]:
        """Rebuild ``grades.csv`` and ``report.html`` from the results held; returns them, by student."""
        results = sorted(self.results.values(), key=lambda r: r.student)
        write_atomic(self.out_dir / "grades.csv", grades_csv(results))
        write_atomic(self.out_dir / "report.html", report_html(results))
        return results
