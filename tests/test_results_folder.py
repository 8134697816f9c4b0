"""The results of an output folder: read once, kept in memory, never dropped in silence."""

from __future__ import annotations

import csv
import json

import pytest

from autograder.results import (
    CheckResult,
    ResultsFolder,
    SubmissionResult,
    UnreadableResult,
    read_all_results,
    write_result,
)


def _result(student: str, points: float) -> SubmissionResult:
    return SubmissionResult(student, [CheckResult("ex1", "test_core", points, 20.0, points == 20.0, "")])


def _csv_rows(out) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_an_unreadable_results_file_is_a_warning_naming_it_and_its_student_is_left_out(tmp_path):
    write_result(tmp_path, _result("alice", 20.0))
    (tmp_path / "results" / "bob.json").write_text("{ not json", encoding="utf-8")
    warnings: list[str] = []
    folder = ResultsFolder(tmp_path, warn=warnings.append)
    assert set(folder.results) == {"alice"}
    assert len(warnings) == 1 and "bob.json" in warnings[0] and "graded again" in warnings[0]
    assert "\n" not in warnings[0]


def test_without_a_warning_reader_an_unreadable_file_raises_instead_of_vanishing(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "carol.json").write_text(json.dumps({"tests": "not a list"}), encoding="utf-8")
    with pytest.raises(UnreadableResult, match="carol.json"):
        read_all_results(tmp_path)


def test_class_files_are_rebuilt_from_memory_not_from_disk(tmp_path):
    folder = ResultsFolder(tmp_path, warn=pytest.fail)
    folder.add(_result("alice", 20.0))
    (tmp_path / "results" / "alice.json").unlink()  # the folder's memory, not the disk, makes the table
    folder.add(_result("bob", 5.0))
    rows = _csv_rows(tmp_path)
    assert set(rows) == {"alice", "bob"}
    assert "bob" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_a_new_result_replaces_the_students_earlier_one(tmp_path):
    folder = ResultsFolder(tmp_path, warn=pytest.fail)
    folder.add(_result("alice", 5.0))
    folder.add(_result("alice", 20.0))
    again = ResultsFolder(tmp_path, warn=pytest.fail)
    assert again.results["alice"].total == folder.results["alice"].total == 20.0
    assert len(_csv_rows(tmp_path)) == 1
