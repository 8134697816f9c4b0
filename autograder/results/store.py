"""The results on disk: ``results/<student>.json`` per student, then ``grades.csv`` and ``report.html``.

Every file is written atomically (a temporary file, then ``os.replace``), so an interrupted run never
leaves half a file; ``grades.csv`` and ``report.html`` are rebuilt from all the results on disk.
"""

from __future__ import annotations

import json
import os
import tempfile
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
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
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


def read_all_results(out_dir: Path) -> list[SubmissionResult]:
    """Every result on disk under ``out_dir/results``, sorted by student (unreadable files skipped)."""
    results = []
    for path in sorted((Path(out_dir) / RESULTS_FOLDER).glob("*.json")):
        try:
            results.append(read_result(path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(results, key=lambda r: r.student)


def write_outputs(out_dir: Path) -> list[SubmissionResult]:
    """Rebuild ``grades.csv`` and ``report.html`` from every result on disk; returns those results."""
    results = read_all_results(out_dir)
    write_atomic(Path(out_dir) / "grades.csv", grades_csv(results))
    write_atomic(Path(out_dir) / "report.html", report_html(results))
    return results
