"""What a grading run writes: Gradescope ``results.json`` per student, ``grades.csv``, ``report.html``.

One module per job: :mod:`.model` (the result of one submission), :mod:`.gradescope` (its
``results.json``), :mod:`.table` (``grades.csv`` and the printed table), :mod:`.report` (the class
report), :mod:`.store` (files on disk, written atomically). Everything is importable from here.
"""

from __future__ import annotations

from .gradescope import from_gradescope_json, gradescope_json
from .model import (
    NOT_SUBMITTED,
    STOPPED_AT_LIMIT,
    TIMED_OUT,
    CheckResult,
    SubmissionResult,
    exercise_means,
    number,
    summary_line,
)
from .report import Misconception, misconceptions, report_html, score_bins
from .store import (
    RESULTS_FOLDER,
    ResultsFolder,
    UnreadableResult,
    read_all_results,
    read_result,
    result_path,
    write_atomic,
    write_result,
)
from .table import CSV_HEADER, grades_csv, summary_table

__all__ = [
    "CSV_HEADER",
    "NOT_SUBMITTED",
    "RESULTS_FOLDER",
    "STOPPED_AT_LIMIT",
    "TIMED_OUT",
    "CheckResult",
    "Misconception",
    "ResultsFolder",
    "SubmissionResult",
    "UnreadableResult",
    "exercise_means",
    "from_gradescope_json",
    "grades_csv",
    "gradescope_json",
    "misconceptions",
    "number",
    "read_all_results",
    "read_result",
    "report_html",
    "result_path",
    "score_bins",
    "summary_line",
    "summary_table",
    "write_atomic",
    "write_result",
]
