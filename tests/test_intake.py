"""Intake: each layout instructors download becomes the right students, with a note where nothing can be
graded; the grading command's options are checked by its parser; one real grading run reads the notes."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from autograder import grading
from autograder.cli import build_parser, main
from autograder.grading import intake
from autograder.manifest import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR
from autograder.results import SubmissionResult, gradescope_json

FILES = sorted(exercise.filename for exercise in EXERCISES)


def exercise_files(tag: str) -> dict[str, bytes]:
    """Five exercise files whose contents say whose they are."""
    return {name: f"# {tag}'s {name}\n".encode() for name in FILES}


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for relative, data in files.items():
            archive.writestr(relative, data)
    return buffer.getvalue()


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes(files))
    return path


def found_files(submission: intake.Submission) -> dict[str, bytes]:
    assert submission.source is not None, submission
    return {path.name: path.read_bytes() for path in sorted(submission.source.iterdir())}


def by_student(gathered: intake.Gathered) -> dict[str, intake.Submission]:
    return {submission.student: submission for submission in gathered.submissions}


# --------------------------------------------------------------------------------------------------
# One student per folder or zip


def test_a_folder_or_zip_per_student_with_the_files_at_the_top_or_one_level_down(tmp_path):
    given = tmp_path / "given"
    paths = [
        write_folder(given / "alice", exercise_files("alice")),
        write_folder(given / "bob", {f"exercises/{n}": d for n, d in exercise_files("bob").items()}),
        write_folder(given / "carol", {"exercises.zip": zip_bytes(exercise_files("carol"))}),
        write_zip(given / "dave.zip", exercise_files("dave")),
        write_zip(given / "erin.zip", {f"exercises/{n}": d for n, d in exercise_files("erin").items()}),
        write_zip(given / "frank.zip", {"exercises.zip": zip_bytes(exercise_files("frank"))}),
        write_folder(
            given / "gus",
            {**exercise_files("gus"), "old/ex1_softmax.py": b"# an older copy\n", "notes.txt": b""},
        ),
    ]
    gathered = intake.gather(paths, tmp_path / "work")
    assert gathered.problems == [] and gathered.warnings == []
    found = by_student(gathered)
    assert list(found) == ["alice", "bob", "carol", "dave", "erin", "frank", "gus"]
    for student, submission in found.items():
        assert submission.note == ""
        assert found_files(submission) == exercise_files(student), student


def test_notes_for_a_file_that_is_not_a_zip_an_empty_folder_and_a_folder_without_exercise_files(tmp_path):
    (tmp_path / "gina.txt").write_text("my answers")
    (tmp_path / "harry.zip").write_bytes(b"not really a zip")
    (tmp_path / "ivy").mkdir()
    write_folder(tmp_path / "jack", {"report.pdf": b"%PDF", "exercises/model.py": b""})
    gathered = intake.gather(
        [tmp_path / n for n in ("gina.txt", "harry.zip", "ivy", "jack", "missing.zip")], tmp_path / "work"
    )
    found = by_student(gathered)
    assert {s: found[s].note for s in found} == {
        "gina": "not a zip file",
        "harry": "not a zip file",
        "ivy": "no exercise files",
        "jack": "no exercise files",
    }
    assert all(submission.source is None for submission in found.values())
    assert found["gina"].describe() == f"gina: not a zip file ({tmp_path / 'gina.txt'} is not a .zip file)"
    assert (
        found["harry"]
        .describe()
        .startswith(f"harry: not a zip file ({tmp_path / 'harry.zip'} cannot be read")
    )
    assert found["ivy"].describe() == f"ivy: no exercise files ({tmp_path / 'ivy'} is empty)"
    assert (
        "jack: no exercise files" in found["jack"].describe() and "holds none of" in found["jack"].describe()
    )
    assert gathered.problems == [f"{tmp_path / 'missing.zip'}: no such file or folder"]


# --------------------------------------------------------------------------------------------------
# Canvas


def canvas_download(tmp_path: Path) -> dict[str, bytes]:
    """Files as Canvas's "Download Submissions" names them (lib/content_zipper.rb)."""
    files = {
        f"doejane_1234_{5000 + i}_{name}": data
        for i, (name, data) in enumerate(exercise_files("jane").items())
    }
    files["roejohn_LATE_5678_6001_jroe.zip"] = zip_bytes(exercise_files("john"))  # a hand-in zip, late
    files["smithann_9012_7001_exercises.zip"] = zip_bytes(
        {f"exercises/{n}": d for n, d in exercise_files("ann").items()}
    )
    files["leebo_3456_8001_essay.pdf"] = b"%PDF"
    return files


ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section\n"
    "    Points Possible,,,,\n"
    '"Doe, Jane",1234,S1,jdoe,A\n'
    '"Roe, John",5678,S2,jroe,A\n'
    '"Smith, Ann",9012,S3,asmith,A\n'
    '"Lee, Bo",3456,S4,blee,A\n'
    '"Absent, Al",1111,S5,aabsent,A\n'
)


@pytest.mark.parametrize("packed", [True, False], ids=["zip", "unpacked"])
def test_a_canvas_bulk_download_is_split_per_student_and_mapped_by_the_roster(tmp_path, packed):
    files = canvas_download(tmp_path)
    download = (
        write_zip(tmp_path / "submissions.zip", files)
        if packed
        else write_folder(tmp_path / "submissions", files)
    )
    (tmp_path / "roster.csv").write_text(ROSTER)
    roster = intake.read_roster(tmp_path / "roster.csv")
    gathered = intake.gather([download], tmp_path / "work", roster=roster)
    found = by_student(gathered)
    assert sorted(found) == ["aabsent", "asmith", "blee", "jdoe", "jroe"]
    assert found_files(found["jdoe"]) == exercise_files("jane")
    assert found_files(found["jroe"]) == exercise_files("john") and found["jroe"].late
    assert found_files(found["asmith"]) == exercise_files("ann")
    assert found["blee"].note == "no exercise files"
    assert found["aabsent"].note == "not submitted" and found["aabsent"].source is None
    assert gathered.problems == [] and gathered.warnings == []


def test_a_canvas_download_without_a_roster_names_students_by_name_and_user_id(tmp_path):
    files = {
        "doejane_1234_5000_ex1_softmax.py": b"# jane\n",
        "doejane_1234_5002_ex1_softmax-1.py": b"# jane, again\n",  # Canvas renames a re-upload
        "anon_Xy12z_5001_ex2_distillation.py": b"# someone\n",
        "müllerjan_77_5003_ex3_layers.py": b"# jan\n",
    }
    gathered = intake.gather([write_zip(tmp_path / "download.zip", files)], tmp_path / "work")
    found = by_student(gathered)
    assert sorted(found) == ["anon_Xy12z", "doejane_1234", "mullerjan_77"]
    assert found_files(found["doejane_1234"]) == {"ex1_softmax.py": b"# jane, again\n"}
    assert found_files(found["anon_Xy12z"]) == {"ex2_distillation.py": b"# someone\n"}


def test_a_student_not_on_the_roster_is_graded_under_the_lms_name_with_a_warning(tmp_path):
    (tmp_path / "roster.csv").write_text("student_id,canvas_id\njdoe,1234\n")
    download = write_zip(tmp_path / "d.zip", {"newkid_777_1_ex1_softmax.py": b"# new\n"})
    gathered = intake.gather(
        [download], tmp_path / "work", roster=intake.read_roster(tmp_path / "roster.csv")
    )
    assert sorted(by_student(gathered)) == ["jdoe", "newkid_777"]
    assert len(gathered.warnings) == 1 and "newkid_777 is not on the roster" in gathered.warnings[0]


# --------------------------------------------------------------------------------------------------
# Moodle


def moodle_download() -> dict[str, bytes]:
    """Files as Moodle's "Download all submissions" writes them (mod/assign/classes/downloader.php)."""
    files = {f"Jane Doe_77_assignsubmission_file/{n}": d for n, d in exercise_files("jane").items()}
    files["John Roe_78_assignsubmission_file_/jroe.zip"] = zip_bytes(exercise_files("john"))  # Moodle < 4.1
    files["John Roe_78_assignsubmission_onlinetext_/onlinetext.html"] = b"<p>done</p>"
    files["Ann Smith_79_assignsubmission_onlinetext/onlinetext.html"] = b"<p>forgot the files</p>"
    return files


def test_a_moodle_download_with_folders_is_split_per_student_and_mapped_by_id_or_name(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Identifier,Full name,ID number\nParticipant 77,Jane Doe,jdoe\n,John Roe,jroe\n,Ann Smith,asmith\n"
        ",Ben Gone,bgone\n"
    )
    download = write_zip(tmp_path / "COURSE-assignment-42.zip", moodle_download())
    gathered = intake.gather([download], tmp_path / "work", roster=intake.read_roster(roster))
    found = by_student(gathered)
    assert sorted(found) == ["asmith", "bgone", "jdoe", "jroe"]
    assert found_files(found["jdoe"]) == exercise_files("jane")
    assert found_files(found["jroe"]) == exercise_files("john")
    assert found["asmith"].note == "no exercise files"
    assert found["bgone"].note == "not submitted"


def test_a_moodle_download_without_folders_and_without_a_roster(tmp_path):
    files = {f"Jane Doe_77_assignsubmission_file_{n}": d for n, d in exercise_files("jane").items()}
    gathered = intake.gather([write_folder(tmp_path / "download", files)], tmp_path / "work")
    assert list(by_student(gathered)) == ["jane-doe_77"]
    assert found_files(by_student(gathered)["jane-doe_77"]) == exercise_files("jane")


def test_the_notebook_is_found_in_the_same_layouts(tmp_path):
    nested = write_folder(
        tmp_path / "alice", {"exercises/walkthrough.ipynb": b"{}", "exercises/ex1_softmax.py": b""}
    )
    canvas = write_zip(tmp_path / "canvas.zip", {"doejane_1234_5000_walkthrough.ipynb": b'{"jane": 1}'})
    gathered = intake.gather([nested, canvas], tmp_path / "work", wanted={"walkthrough.ipynb"})
    found = by_student(gathered)
    assert found_files(found["alice"]) == {"walkthrough.ipynb": b"{}"}
    assert found_files(found["doejane_1234"]) == {"walkthrough.ipynb": b'{"jane": 1}'}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,email\nJane,j@x\n", "has no student id column"),
        ("student_id,canvas_id\njane doe,12\n", "'jane doe' is not a plain student id"),
    ],
)
def test_a_roster_it_cannot_use_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(intake.IntakeError, match=message) as info:
        intake.read_roster(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# The grading command


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--timeout=-1", "argument --timeout: must be a positive number of seconds, not -1"),
        ("--timeout=0", "argument --timeout: must be a positive number of seconds, not 0"),
        ("--timeout=soon", "argument --timeout: 'soon' is not a number of seconds"),
        ("--submission-timeout=0", "argument --submission-timeout: must be a positive number of seconds"),
        ("--memory-mb=0", "argument --memory-mb: must be a positive number of MB, not 0"),
        ("--jobs=0", "argument --jobs: must be at least 1, not 0"),
        ("--jobs=-2", "argument --jobs: must be at least 1, not -2"),
    ],
)
def test_bad_options_are_refused_by_the_parser_in_one_line(option, message, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["grade", "somewhere", option])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_timed_out_result_is_noted_and_not_kept_as_a_finished_grade():
    stopped = SubmissionResult("slow", [], error=grading.STOPPED.format(seconds=4))
    assert stopped.row_note == "timed out" and not stopped.finished
    assert SubmissionResult("fine", []).finished
    assert not SubmissionResult("gone", [], note="not submitted").finished


def test_grading_a_canvas_download_writes_a_row_and_one_line_per_student_with_the_note_column(
    tmp_path, capsys
):
    jane = {f.name: f.read_bytes() for f in SOLUTIONS_DIR.glob("ex*_*.py") if f.name in FILES}
    john = {name: (EXERCISES_DIR / name).read_bytes() for name in FILES}
    files = {f"doejane_1234_{5000 + i}_{name}": data for i, (name, data) in enumerate(sorted(jane.items()))}
    files["roejohn_LATE_5678_6001_jroe.zip"] = zip_bytes(john)
    files["leebo_3456_8001_essay.pdf"] = b"%PDF"
    download = write_zip(tmp_path / "submissions.zip", files)
    (tmp_path / "roster.csv").write_text(ROSTER)
    (tmp_path / "mine.txt").write_text("not a zip")
    (tmp_path / "ivy").mkdir()
    out = tmp_path / "out"
    # An earlier run stopped jdoe at the time limit: that row is graded again, not kept.
    stopped = SubmissionResult("jdoe", [], error=grading.STOPPED.format(seconds=4))
    (out / "results").mkdir(parents=True)
    (out / "results" / "jdoe.json").write_text(json.dumps(gradescope_json(stopped)))

    status = main(
        [
            "grade",
            str(download),
            str(tmp_path / "mine.txt"),
            str(tmp_path / "ivy"),
            "--roster",
            str(tmp_path / "roster.csv"),
            "--out",
            str(out),
            "--jobs",
            "2",
        ]
    )
    captured = capsys.readouterr()
    assert status == 1  # not everything could be graded
    text = (out / "grades.csv").read_text()
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(text))}
    assert text.splitlines()[0].split(",") == [
        "student",
        "ex1",
        "ex2",
        "ex3",
        "ex4",
        "ex5",
        "total",
        "max_total",
        "note",
    ]
    assert {s: (r["total"], r["note"]) for s, r in rows.items()} == {
        "jdoe": ("100", ""),
        "jroe": ("0", ""),
        "blee": ("0", "no exercise files"),
        "asmith": ("0", "not submitted"),
        "aabsent": ("0", "not submitted"),
        "mine": ("0", "not a zip file"),
        "ivy": ("0", "no exercise files"),
    }
    assert captured.err.count(f"ivy: no exercise files ({tmp_path / 'ivy'} is empty)") == 1
    for student, note in [
        ("blee", "no exercise files"),
        ("asmith", "not submitted"),
        ("mine", "not a zip file"),
    ]:
        assert captured.err.count(f"{student}: {note}") == 1, captured.err
    assert "Traceback" not in captured.err + captured.out


def test_an_output_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should go")
    status = main(["grade", str(tmp_path / "alice"), "--out", str(blocker)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {blocker}: ") and err.count("\n") == 1 and "Traceback" not in err
