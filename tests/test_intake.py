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


# --------------------------------------------------------------------------------------------------
# Hostile hand-ins: zips that cannot be read, Moodle names that spoof an id, names that collide


def _patch_headers(data: bytes, patch) -> bytes:
    """``data`` (a zip) with ``patch(buffer, offset, central)`` applied to every local header and every
    central directory entry (``central`` says which)."""
    buffer = bytearray(data)
    for signature, central in ((b"PK\x03\x04", False), (b"PK\x01\x02", True)):
        offset = buffer.find(signature)
        while offset != -1:
            patch(buffer, offset, central)
            offset = buffer.find(signature, offset + 4)
    return bytes(buffer)


def _set_flag(buffer: bytearray, offset: int, central: bool, bit: int) -> None:
    at = offset + (8 if central else 6)
    buffer[at : at + 2] = (int.from_bytes(buffer[at : at + 2], "little") | bit).to_bytes(2, "little")


def encrypted_zip(files: dict[str, bytes]) -> bytes:
    """A zip whose members say they are encrypted (flag bit 0x1), as a password-protected zip does."""
    return _patch_headers(zip_bytes(files), lambda b, o, c: _set_flag(b, o, c, 0x1))


def bad_crc_zip(files: dict[str, bytes]) -> bytes:
    """A stored zip whose members' data no longer match their CRC-32."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for relative, data in files.items():
            archive.writestr(relative, data)
    return buffer.getvalue().replace(b"# ", b"#!")


def unknown_compression_zip(files: dict[str, bytes]) -> bytes:
    """A zip whose members name a compression method Python does not have (99)."""

    def patch(buffer: bytearray, offset: int, central: bool) -> None:
        at = offset + (10 if central else 8)
        buffer[at : at + 2] = (99).to_bytes(2, "little")

    return _patch_headers(zip_bytes(files), patch)


def bad_name_zip(files: dict[str, bytes]) -> bytes:
    """A zip with a member named in bytes that are not UTF-8 although its UTF-8 flag (0x800) is set."""
    data = zip_bytes({**files, "XXXXX.py": b"# x\n"}).replace(b"XXXXX.py", b"\xff\xfe\xfdXX.py")
    return _patch_headers(data, lambda b, o, c: _set_flag(b, o, c, 0x800))


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (encrypted_zip, "encrypted"),
        (bad_crc_zip, "damaged (Bad CRC-32"),
        (unknown_compression_zip, "compressed with a method that cannot be read here"),
    ],
    ids=["encrypted", "bad-crc", "unknown-compression"],
)
def test_a_zip_whose_files_cannot_be_read_gets_a_note_and_the_others_are_still_found(tmp_path, make, why):
    given = tmp_path / "given"
    paths = [
        write_folder(given / "alice", exercise_files("alice")),
        given / "mallory.zip",
        write_zip(given / "bob.zip", exercise_files("bob")),
        write_folder(given / "carol", {"exercises.zip": make(exercise_files("carol"))}),
    ]
    paths[1].write_bytes(make(exercise_files("mallory")))
    gathered = intake.gather(paths, tmp_path / "work")
    found = by_student(gathered)
    assert list(found) == ["alice", "mallory", "bob", "carol"]
    assert found_files(found["alice"]) == exercise_files("alice")
    assert found_files(found["bob"]) == exercise_files("bob")
    for student in ("mallory", "carol"):
        assert found[student].note == "could not be read" and found[student].source is None
        line = found[student].describe()
        assert line.startswith(f"{student}: could not be read (") and why in line and "\n" not in line
    assert f"in {paths[1]}: {why}" in found["mallory"].describe()
    assert f"{paths[3]}: ex1_softmax.py in exercises.zip: {why}" in found["carol"].describe()
    assert gathered.problems == [] and not (tmp_path / "work" / "mallory").exists()


def test_an_encrypted_hand_in_inside_a_canvas_download_gets_a_note_and_the_class_is_found(tmp_path):
    files = {f"doejane_1234_{5000 + i}_{n}": d for i, (n, d) in enumerate(exercise_files("jane").items())}
    files["evilmal_666_7001_handin.zip"] = encrypted_zip(exercise_files("mal"))
    files["roejohn_5678_6001_exercises.zip"] = zip_bytes(exercise_files("john"))
    gathered = intake.gather([write_zip(tmp_path / "download.zip", files)], tmp_path / "work")
    found = by_student(gathered)
    assert found_files(found["doejane_1234"]) == exercise_files("jane")
    assert found_files(found["roejohn_5678"]) == exercise_files("john")
    assert found["evilmal_666"].note == "could not be read"
    assert found["evilmal_666"].describe() == (
        f"evilmal_666: could not be read ({tmp_path / 'download.zip'}: evilmal's files (Canvas user 666): "
        "ex1_softmax.py in handin.zip: encrypted)"
    )


def test_a_zip_with_a_file_name_that_is_not_utf8_gets_a_note_and_the_others_are_still_found(tmp_path):
    honest = write_folder(tmp_path / "alice", exercise_files("alice"))
    bad = tmp_path / "mallory.zip"
    bad.write_bytes(bad_name_zip(exercise_files("mallory")))
    canvas = write_zip(
        tmp_path / "download.zip",
        {
            "doejane_1234_5000_ex1_softmax.py": b"# jane\n",
            "evilmal_666_7001_handin.zip": bad_name_zip(exercise_files("mal")),
        },
    )
    gathered = intake.gather([honest, bad, canvas], tmp_path / "work")
    found = by_student(gathered)
    assert found_files(found["alice"]) == exercise_files("alice")
    assert found_files(found["doejane_1234"]) == {"ex1_softmax.py": b"# jane\n"}
    assert found["mallory"].describe() == (
        f"mallory: could not be read ({bad}: a file name in it is not valid UTF-8)"
    )
    assert found["evilmal_666"].note == "could not be read"
    assert "handin.zip: a file name in it is not valid UTF-8" in found["evilmal_666"].describe()
    with pytest.raises(intake.IntakeError, match="a file name in it is not valid UTF-8") as info:
        intake.lms_layout(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_a_moodle_name_that_holds_a_classmates_id_is_graded_as_its_own_student(tmp_path):
    spoof = "Alice Smith_456_assignsubmission_file_X"
    files = {
        **{f"Alice Smith_456_assignsubmission_file/{n}": d for n, d in exercise_files("alice").items()},
        **{f"{spoof}_789_assignsubmission_file/{n}": d for n, d in exercise_files("mallory").items()},
        **{f"Bob Jones_123_assignsubmission_file_/{n}": d for n, d in exercise_files("bob").items()},
    }
    download = write_zip(tmp_path / "moodle.zip", files)
    gathered = intake.gather([download], tmp_path / "work")
    found = by_student(gathered)
    assert sorted(found) == [
        "alice-smith-456-assignsubmission-file-x_789",
        "alice-smith_456",
        "bob-jones_123",
    ]
    assert found_files(found["alice-smith_456"]) == exercise_files("alice")
    assert found_files(found["alice-smith-456-assignsubmission-file-x_789"]) == exercise_files("mallory")

    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Identifier,Full name,ID number\nParticipant 456,Alice Smith,alice01\n"
        "Participant 789,Mallory Evil,mal03\nParticipant 123,Bob Jones,bob02\n"
    )
    gathered = intake.gather([download], tmp_path / "work2", roster=intake.read_roster(roster))
    found = by_student(gathered)
    assert sorted(found) == ["alice01", "bob02", "mal03"] and gathered.warnings == []
    assert found_files(found["alice01"]) == exercise_files("alice")
    assert found_files(found["mal03"]) == exercise_files("mallory")


def test_a_moodle_file_name_that_holds_a_classmates_id_stays_with_its_uploader(tmp_path):
    files = {f"Alice Smith_456_assignsubmission_file_{n}": d for n, d in exercise_files("alice").items()}
    files["Mallory Evil_789_assignsubmission_file_x_456_assignsubmission_file_ex1_softmax.py"] = b"# mal\n"
    gathered = intake.gather([write_folder(tmp_path / "download", files)], tmp_path / "work")
    found = by_student(gathered)
    assert found_files(found["alice-smith_456"]) == exercise_files("alice")
    assert found["mallory-evil_789"].note == "no exercise files"


def test_two_moodle_folders_with_one_id_are_two_submissions_with_the_same_student_id(tmp_path):
    from autograder.grading.batch import DuplicateStudent, students

    files = {
        **{f"Alice Smith_456_assignsubmission_file/{n}": d for n, d in exercise_files("alice").items()},
        **{f"Mallory_456_assignsubmission_file/{n}": d for n, d in exercise_files("mallory").items()},
    }
    gathered = intake.gather([write_folder(tmp_path / "download", files)], tmp_path / "work")
    assert [s.student for s in gathered.submissions] == ["alice-smith_456", "alice-smith_456"]
    with pytest.raises(DuplicateStudent, match="Mallory_456_assignsubmission_file"):
        students(gathered.submissions)


def canvas_same_names() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for user, tag, name in [
        (1001, "alice", "smithalice"),
        (1002, "mallory", "smithalice"),
        (1003, "bob", "jonesbob"),
    ]:
        files.update({f"{name}_{user}_{user + 4000}_{n}": d for n, d in exercise_files(tag).items()})
    return files


def test_two_canvas_students_whose_names_match_one_roster_entry_get_a_note_and_the_class_is_found(tmp_path):
    from autograder.grading.batch import students

    roster = tmp_path / "roster.csv"
    roster.write_text('student_id,name\nalice01,"Smith, Alice"\nbob02,"Jones, Bob"\nmal03,"Evil, Mallory"\n')
    download = write_folder(tmp_path / "download", canvas_same_names())
    gathered = intake.gather([download], tmp_path / "work", roster=intake.read_roster(roster))
    found = by_student(gathered)
    assert sorted(found) == ["bob02", "mal03", "smithalice_1001", "smithalice_1002"]
    assert found_files(found["bob02"]) == exercise_files("bob")
    assert found["mal03"].note == "not submitted"
    for student, other in [("smithalice_1001", 1002), ("smithalice_1002", 1001)]:
        assert found[student].note == "ambiguous name" and found[student].source is None
        assert found[student].describe() == (
            f"{student}: ambiguous name ({download}: smithalice's files (Canvas user {student[-4:]}) matches "
            f"alice01 on the roster {roster} by name, as does Canvas user {other}: add the Canvas user id "
            "column (canvas_id, or ID) to the roster)"
        )
    assert gathered.problems == [] and gathered.warnings == []
    students(gathered.submissions)  # no two with one id: the class is graded


def test_a_name_never_takes_a_roster_entry_that_an_id_matched_and_a_name_two_entries_share_matches_neither(
    tmp_path,
):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        'student_id,canvas_id,name\nalice01,1001,"Smith, Alice"\nbob02,,"Jones, Bob"\nbob03,,"Jones, Bob"\n'
    )
    download = write_folder(tmp_path / "download", canvas_same_names())
    gathered = intake.gather([download], tmp_path / "work", roster=intake.read_roster(roster))
    found = by_student(gathered)
    assert sorted(found) == ["alice01", "jonesbob_1003", "smithalice_1002"]
    assert found_files(found["alice01"]) == exercise_files("alice")
    assert found_files(found["smithalice_1002"]) == exercise_files("mallory")
    assert found["jonesbob_1003"].note == "ambiguous name"
    assert "matches bob02, bob03 on the roster" in found["jonesbob_1003"].describe()
    mallory, alice = (f"{download}: smithalice's files (Canvas user {user})" for user in (1002, 1001))
    warning = f"{mallory}: its name matches alice01 on the roster {roster}, but alice01 is {alice}"
    assert gathered.warnings == [f"{warning} (graded under smithalice_1002)"]


def test_grading_a_class_with_unreadable_zips_grades_everyone_else_with_one_line_each(tmp_path, capsys):
    solution = {f.name: f.read_bytes() for f in SOLUTIONS_DIR.glob("ex*_*.py") if f.name in FILES}
    honest = write_folder(tmp_path / "honest", solution)
    (tmp_path / "locked.zip").write_bytes(encrypted_zip(solution))
    (tmp_path / "badname.zip").write_bytes(bad_name_zip(solution))
    out = tmp_path / "out"
    status = main(
        ["grade", str(honest), str(tmp_path / "locked.zip"), str(tmp_path / "badname.zip"), "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert status == 1
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))}
    assert {s: (r["total"], r["note"]) for s, r in rows.items()} == {
        "honest": ("100", ""),
        "locked": ("0", "could not be read"),
        "badname": ("0", "could not be read"),
    }
    assert captured.err.count("locked: could not be read (") == 1
    assert captured.err.count("badname: could not be read (") == 1
    assert "Traceback" not in captured.err + captured.out
