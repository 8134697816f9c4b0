"""The nbgrader course around the walk-through, end to end with the real nbgrader and real kernels.

One course in a temporary folder: release, an LMS zip of submissions (correct, blank, wrong, raising,
looping forever, and edited the way learners edit) brought in with ``collect``, serial autograde,
feedback, the five exercises recorded from a grades.csv, export. A copy of the same course is autograded
with ``--jobs 2`` and must end with the same gradebook. Fast unit tests for the pieces come first.
"""

from __future__ import annotations

import argparse
import copy
import csv
import html
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course import commands, release_notebook
from autograder.course.collect import find_notebooks
from autograder.course.course_dir import course_config_text
from autograder.course.exercise_grades import GradesFileError, read_exercise_points
from autograder.course.feedback_filter import HideHiddenTests, hide_hidden_regions
from autograder.course.gradebook import cell_grades, gradebook_url
from autograder.course.nbgrader_cli import nbgrader_environment
from autograder.course.settings import ASSIGNMENT_ID, CELL_TIMEOUT_SECONDS, SUBMISSION_FILENAME_REGEXP
from autograder.course.solved import solved_copy
from autograder.grading.intake import read_roster
from autograder.manifest import EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR

SOURCE_NOTEBOOK = SOLUTIONS_DIR / "walkthrough.ipynb"
RELEASED_NOTEBOOK = EXERCISES_DIR / "walkthrough.ipynb"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

WRONG_SOFTEN = """def soften(logits, T):
    z = np.asarray(logits, dtype=np.float64) * T
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
"""
RAISING_SOFTEN = """def soften(logits, T):
    raise ValueError("temperature trouble")
"""
STUDENTS = ("correct", "blank", "wrong", "raising", "looping", "deleted", "tinkerer")
PARALLEL_STUDENTS = ("correct", "wrong", "deleted", "tinkerer")


# ---------------------------------------------------------------- helpers


def run_course(course_root: Path, *argv: str) -> int:
    """``python -m autograder course --course ROOT ARGV...``, in this process (nbgrader runs in children)."""
    parser = argparse.ArgumentParser(prog="python -m autograder course")
    commands.add_arguments(parser)
    return commands.run(parser.parse_args(["--course", str(course_root), *argv]))


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_by_id(notebook, grade_id: str):
    matches = [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade_id") == grade_id]
    assert len(matches) == 1, f"the notebook has {len(matches)} cells with grade_id {grade_id!r}; expected 1"
    return matches[0]


def source_notebook():
    assert SOURCE_NOTEBOOK.is_file(), f"{SOURCE_NOTEBOOK} is missing: the walk-through's source notebook"
    return nbformat.read(SOURCE_NOTEBOOK, as_version=4)


def autograded_points(notebook) -> dict[str, float]:
    """``grade_id -> points`` of the autograded (code) test cells of a notebook."""
    return {
        nbgrader_meta(cell)["grade_id"]: float(nbgrader_meta(cell)["points"])
        for cell in notebook.cells
        if cell.cell_type == "code" and nbgrader_meta(cell).get("grade")
    }


def hidden_source_lines(notebook) -> set[str]:
    """Code lines of the hidden-test regions that appear nowhere in the learners' notebook.

    Lines that only hold a string (failure messages are rendered, with values, in the feedback) and short
    lines (``)``, ``else:``) are left out: they would also match legitimate text.
    """
    visible_text = RELEASED_NOTEBOOK.read_text(encoding="utf-8")
    lines: set[str] = set()
    for cell in notebook.cells:
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            elif (
                inside
                and len(stripped) >= 20
                and not stripped.startswith(("'", '"', "f'", 'f"', "#"))
                and json_escaped(stripped) not in visible_text
            ):
                lines.add(stripped)
    return lines


def json_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def visible_text_of_html(page: str) -> str:
    """The text a reader sees in an HTML page: styles and scripts dropped, tags removed, entities decoded."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.DOTALL | re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def make_submissions(released, source) -> dict[str, nbformat.NotebookNode]:
    """The class: one notebook per student, built from the released notebook and the answers."""
    correct = solved_copy(released, source)

    def with_answer(grade_id: str, text: str):
        notebook = copy.deepcopy(correct)
        cell_by_id(notebook, grade_id).source = text
        return notebook

    looping = copy.deepcopy(correct)
    recipes = cell_by_id(looping, "recipes")
    recipes.source = "while True:  # stuck\n    pass\n" + recipes.source

    deleted = copy.deepcopy(correct)
    deleted.cells = [
        cell for cell in deleted.cells if nbgrader_meta(cell).get("grade_id") != "test_soften_hidden"
    ]

    tinkerer = copy.deepcopy(correct)
    soften_index = tinkerer.cells.index(cell_by_id(tinkerer, "soften"))
    basics_index = tinkerer.cells.index(cell_by_id(tinkerer, "test_soften_basics"))
    tinkerer.cells.insert(basics_index + 1, copy.deepcopy(tinkerer.cells[basics_index]))
    tinkerer.cells.insert(soften_index + 1, copy.deepcopy(tinkerer.cells[soften_index]))
    tinkerer.cells.insert(
        soften_index + 1, nbformat.v4.new_code_cell("print(soften(np.array([0.0, 1.0]), 2))")
    )
    tinkerer.cells.append(nbformat.v4.new_markdown_cell("My notes: T flattens the distribution."))
    tinkerer.cells.append(nbformat.v4.new_code_cell("scratch = 1 + 1"))
    for index, cell in enumerate(tinkerer.cells):
        cell["id"] = f"tinkerer-{index}"

    return {
        "correct": correct,
        "blank": copy.deepcopy(released),
        "wrong": with_answer("soften", WRONG_SOFTEN),
        "raising": with_answer("soften", RAISING_SOFTEN),
        "looping": looping,
        "deleted": deleted,
        "tinkerer": tinkerer,
    }


def write_lms_zip(submissions: dict, zip_path: Path) -> None:
    """An LMS download: notebooks named in the three accepted layouts, plus files that are not submissions."""
    layouts = (
        "{student}_walkthrough.ipynb",
        "{student}/walkthrough.ipynb",
        "late/{student}_walkthrough (1).ipynb",
        "{student}/exercises/walkthrough.ipynb",
    )
    with zipfile.ZipFile(zip_path, "w") as archive:
        for index, (student, notebook) in enumerate(submissions.items()):
            archive.writestr(layouts[index % len(layouts)].format(student=student), nbformat.writes(notebook))
        archive.writestr("index.html", "<html>LMS export</html>")
        archive.writestr("correct/notes.txt", "not a notebook")


def notebook_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_collect_finds_the_notebook_in_hand_ins_nested_folders_and_canvas_downloads(tmp_path):
    handin = notebook_zip(tmp_path / "alice.zip", {"walkthrough.ipynb": b"alice", "ex1_softmax.py": b""})
    nested = tmp_path / "bob"
    (nested / "exercises").mkdir(parents=True)
    (nested / "exercises" / "walkthrough.ipynb").write_bytes(b"bob")
    inner = tmp_path / "inner.zip"
    notebook_zip(inner, {"exercises/walkthrough.ipynb": b"carol"})
    zipped_twice = notebook_zip(tmp_path / "carol.zip", {"exercises.zip": inner.read_bytes()})
    lms = notebook_zip(
        tmp_path / "lms.zip",
        {"dave/exercises/walkthrough.ipynb": b"dave", "erin_walkthrough.ipynb": b"erin", "index.html": b""},
    )
    canvas = notebook_zip(tmp_path / "canvas.zip", {"doejane_1234_99_walkthrough-1.ipynb": b"jane"})
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,canvas_id\njdoe,1234\n")
    found = find_notebooks(
        [handin, nested, zipped_twice, lms, canvas], tmp_path / "work", read_roster(roster)
    )
    assert found == {
        "alice": b"alice",
        "bob": b"bob",
        "carol": b"carol",
        "dave": b"dave",
        "erin": b"erin",
        "jdoe": b"jane",
    }


def test_collect_skips_a_notebook_it_cannot_read_and_collects_the_others(tmp_path, capsys):
    """An encrypted notebook in a download of notebooks named by student, or an encrypted hand-in zip,
    is named in one line on stderr and not collected; every other student's notebook is."""
    from test_intake import encrypted_zip

    download = tmp_path / "download.zip"
    download.write_bytes(encrypted_zip({"eve_walkthrough.ipynb": b"eve"}))
    with zipfile.ZipFile(tmp_path / "download.zip", "a") as archive:
        archive.writestr("erin_walkthrough.ipynb", b"erin")
    locked = tmp_path / "mal.zip"
    locked.write_bytes(encrypted_zip({"walkthrough.ipynb": b"mal"}))
    handin = notebook_zip(tmp_path / "alice.zip", {"walkthrough.ipynb": b"alice"})
    found = find_notebooks([download, locked, handin], tmp_path / "work")
    err = capsys.readouterr().err
    assert found == {"erin": b"erin", "alice": b"alice"}, found
    lines = err.splitlines()
    assert len(lines) == 2 and all("encrypted" in line for line in lines) and "Traceback" not in err, err
    assert all(line.startswith("warning: ") and line.endswith("(not collected)") for line in lines), err


def test_collect_names_a_damaged_or_missing_hand_in_and_collects_the_others(tmp_path, capsys):
    handins = tmp_path / "handins"
    handins.mkdir()
    good = notebook_zip(handins / "s1.zip", {"walkthrough.ipynb": b"one"})
    notebook_zip(handins / "s2.zip", {"walkthrough.ipynb": b"two"})
    damaged = handins / "s3.zip"
    damaged.write_bytes(good.read_bytes()[:100])
    found = find_notebooks([*sorted(handins.iterdir()), tmp_path / "gone.zip"], tmp_path / "work")
    err = capsys.readouterr().err
    assert found == {"s1": b"one", "s2": b"two"}
    assert err.splitlines() == [
        f"warning: {damaged} is not a zip file (not collected)",
        f"warning: {tmp_path / 'gone.zip'}: no such file or folder (not collected)",
    ]


def test_collect_reads_a_folder_of_hand_ins_as_one_hand_in_per_student(tmp_path, capsys):
    handins = tmp_path / "handins"
    handins.mkdir()
    notebook_zip(handins / "s1.zip", {"walkthrough.ipynb": b"one", "ex1_softmax.py": b""})
    notebook_zip(handins / "s2.zip", {"s2/walkthrough.ipynb": b"two"})
    (handins / "s3" / "exercises").mkdir(parents=True)
    (handins / "s3" / "exercises" / "walkthrough.ipynb").write_bytes(b"three")
    (handins / "s4.zip").write_bytes(b"not a zip")
    assert find_notebooks([handins], tmp_path / "work") == {"s1": b"one", "s2": b"two", "s3": b"three"}
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {handins / 's4.zip'} is not a zip file (not collected)"
    ]


def test_collect_into_a_course_never_released_releases_it_first(tmp_path, capfd):
    """nbgrader's zip_collect files nothing for an assignment that was not released: `course collect`
    releases it first (saying so) instead of reporting 0 submissions; nbgrader's log stays out of sight."""
    handin = notebook_zip(tmp_path / "s1.zip", {"walkthrough.ipynb": SOURCE_NOTEBOOK.read_bytes()})
    root = tmp_path / "course"
    assert run_course(root, "collect", str(handin)) == 0
    out, err = capfd.readouterr()
    released = root / "release" / ASSIGNMENT_ID / "walkthrough.ipynb"
    assert out.splitlines() == [
        f"released the walk-through first (nbgrader collects a released assignment only): {released}",
        f"1 submissions in {root / 'submitted'}: s1",
    ]
    assert err == ""


def test_a_failing_nbgrader_command_is_one_line_naming_its_kept_log(tmp_path):
    from autograder.course.nbgrader_cli import NbgraderError, run_nbgrader

    with pytest.raises(NbgraderError) as caught:
        run_nbgrader(tmp_path, ["autograde", "no-such-assignment"])
    message = str(caught.value)
    assert "\n" not in message and "exited with status 1: [AutogradeApp | ERROR] No notebooks" in message
    log = tmp_path / "nbgrader.log"
    assert message.endswith(f"(its whole output: {log})") and "No nbgrader_config.py" in log.read_text()


@pytest.mark.parametrize("bad", ["damaged.zip", "notes.txt", "missing.zip"])
def test_collect_of_a_bad_path_is_one_readable_line(tmp_path, capsys, bad):
    if bad != "missing.zip":
        (tmp_path / bad).write_bytes(b"this is not a zip")
    status = run_course(tmp_path / "course", "collect", str(tmp_path / bad))
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(f"course collect: {tmp_path / bad}") and err.count("\n") == 1, err
    assert "Traceback" not in err


def nbgrader_validate(notebook_path: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", str(notebook_path)],
        cwd=notebook_path.parent,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout + completed.stderr


def grades_by_student(course_root: Path, students=None) -> dict[str, dict[str, tuple]]:
    """``student -> grade_id -> (auto_score, manual_score, needs_manual_grade)`` for the walk-through."""
    table: dict[str, dict[str, tuple]] = {}
    for grade in cell_grades(gradebook_url(course_root), ASSIGNMENT_ID):
        if students is None or grade.student in students:
            table.setdefault(grade.student, {})[grade.cell] = (
                grade.auto_score,
                grade.manual_score,
                grade.needs_manual_grade,
            )
    return table


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def collected_course(tmp_path_factory):
    """A released course with the class's submissions collected from an LMS zip (not yet autograded)."""
    root = tmp_path_factory.mktemp("course") / "walkthrough-course"
    assert run_course(root, "init") == 0
    assert run_course(root, "release") == 0
    released = nbformat.read(root / "release" / ASSIGNMENT_ID / "walkthrough.ipynb", as_version=4)
    submissions = make_submissions(released, source_notebook())
    zip_path = root.parent / "lms download.zip"
    write_lms_zip(submissions, zip_path)
    assert run_course(root, "collect", str(zip_path)) == 0
    return root


@pytest.fixture(scope="module")
def graded_course(collected_course, tmp_path_factory):
    """The collected course autograded serially (plain nbgrader), then feedback, exercises and export."""
    root = tmp_path_factory.mktemp("serial") / "course"
    shutil.copytree(collected_course, root)
    assert run_course(root, "autograde") == 0
    assert run_course(root, "feedback") == 0
    grades_csv = root.parent / "grades.csv"
    grades_csv.write_text(
        "student,ex1,ex2,ex3,ex4,ex5,total,max_total\n"
        "correct,20,20,20,20,20,100,100\n"
        "wrong,20,7.5,0,20,10,57.5,100\n"
        "exercises_only,20,20,0,0,0,40,100\n",
        encoding="utf-8",
    )
    assert run_course(root, "record-grades", str(grades_csv)) == 0
    assert run_course(root, "export", "--to", str(root.parent / "export.csv")) == 0
    return root


@pytest.fixture(scope="module")
def parallel_course(collected_course, tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel") / "course"
    shutil.copytree(collected_course, root)
    student_options = [option for student in PARALLEL_STUDENTS for option in ("--student", student)]
    assert run_course(root, "autograde", "--jobs", "2", *student_options) == 0
    return root


# ---------------------------------------------------------------- fast checks of the pieces


def test_hidden_region_becomes_a_note_and_visible_checks_stay():
    source = (
        "assert f(1) == 1, 'visible'\n    ### BEGIN HIDDEN TESTS\n    assert f(2) == 4\n"
        "    ### END HIDDEN TESTS\nprint('done')"
    )
    shown = hide_hidden_regions(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "# hidden")
    assert shown == "assert f(1) == 1, 'visible'\n    # hidden\nprint('done')"


def test_hidden_region_without_end_marker_is_hidden_to_the_end_of_the_cell():
    source = "visible = 1\n### BEGIN HIDDEN TESTS\nassert secret()\nassert more_secret()"
    shown = hide_hidden_regions(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "# hidden")
    assert "secret" not in shown and shown.startswith("visible = 1")


def test_feedback_filter_keeps_only_the_message_of_a_failed_test_cell():
    test_cell = nbformat.v4.new_code_cell(
        "check()\n### BEGIN HIDDEN TESTS\nassert secret_reference() == 3, 'did you divide by T?'\n"
        "### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}},
        outputs=[
            nbformat.v4.new_output(
                "error",
                ename="AssertionError",
                evalue="did you divide by T?",
                traceback=[
                    "\x1b[0;31mAssertionError\x1b[0m Traceback",
                    "----> 3 assert secret_reference() == 3",
                ],
            )
        ],
    )
    timed_out = nbformat.v4.new_code_cell(
        "check_slowly()",
        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "u", "points": 1}},
        outputs=[nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=["long"])],
    )
    learner_cell = nbformat.v4.new_code_cell(
        "1/0",
        metadata={"nbgrader": {"grade": False, "solution": True, "grade_id": "s"}},
        outputs=[
            nbformat.v4.new_output(
                "error",
                ename="ZeroDivisionError",
                evalue="division by zero",
                traceback=["frame 1", "frame 2"],
            )
        ],
    )
    notebook = nbformat.v4.new_notebook(cells=[test_cell, timed_out, learner_cell])
    filtered, _ = HideHiddenTests().preprocess(notebook, {})
    assert "secret_reference" not in filtered.cells[0].source
    assert filtered.cells[0].source.startswith("check()")
    assert filtered.cells[0].outputs[0]["traceback"] == ["AssertionError: did you divide by T?"]
    assert filtered.cells[1].outputs[0]["traceback"][0].startswith("CellTimeoutError: this cell ran longer")
    assert filtered.cells[2].outputs[0]["traceback"] == ["frame 1", "frame 2"], (
        "a learner's own cell keeps its traceback"
    )


@pytest.mark.parametrize(
    ("path", "student"),
    [
        ("/c/downloaded/walkthrough/extracted/lms/alice_walkthrough.ipynb", "alice"),
        ("/c/downloaded/walkthrough/extracted/lms/bob.smith/walkthrough.ipynb", "bob.smith"),
        ("/c/downloaded/walkthrough/extracted/lms/late/carol_01_walkthrough (1).ipynb", "carol_01"),
        (
            "/c/downloaded/walkthrough/extracted/submissions_walkthrough/dave@uni.edu_walkthrough.ipynb",
            "dave@uni.edu",
        ),
    ],
)
def test_submission_file_names_give_the_student_id(path, student):
    match = re.match(SUBMISSION_FILENAME_REGEXP, path)
    assert match is not None, f"{path} is not recognised as a submission"
    assert match["student_id"] == student
    assert match["file_id"] == ASSIGNMENT_ID


@pytest.mark.parametrize(
    "path", ["/c/extracted/lms/alice/notes.ipynb", "/c/extracted/lms/alice_homework.ipynb"]
)
def test_other_notebooks_are_not_taken_for_submissions(path):
    assert re.match(SUBMISSION_FILENAME_REGEXP, path) is None


def test_course_config_sets_the_timeout_the_filters_and_the_package_location(tmp_path):
    from traitlets.config.loader import PyFileConfigLoader

    (tmp_path / "nbgrader_config.py").write_text(course_config_text(), encoding="utf-8")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    assert config.Execute.timeout == CELL_TIMEOUT_SECONDS
    assert "autograder.course.feedback_filter.HideHiddenTests" in config.GenerateFeedback.preprocessors
    assert "autograder.course.sanitize.DropDuplicateGradeIds" in config.Autograde.sanitize_preprocessors
    assert f"AUTOGRADER_PACKAGE_PARENT = {str(REPO_ROOT)!r}" in course_config_text()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("student,ex1,ex2,ex3,ex4,total\nann,1,2,3,4,10\n", "no column ex5"),
        ("student,ex1,ex2,ex3,ex4,ex5\nann,1,2,3,4,25\n", "outside 0..20"),
        ("student,ex1,ex2,ex3,ex4,ex5\nann,1,2,x,4,5\n", "not a number"),
        ("student,ex1,ex2,ex3,ex4,ex5\nann,1,2,3,4,5\nann,1,2,3,4,5\n", "appears twice"),
    ],
)
def test_a_malformed_grades_csv_is_refused_with_the_reason(tmp_path, text, complaint):
    path = tmp_path / "grades.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GradesFileError, match=complaint):
        read_exercise_points(path)


def test_python_m_autograder_course_lists_the_verbs():
    completed = subprocess.run(
        [sys.executable, "-m", "autograder", "course", "--help"],
        cwd=REPO_ROOT,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for verb in ("init", "release", "collect", "autograde", "feedback", "export", "record-grades"):
        assert verb in completed.stdout


# ---------------------------------------------------------------- release


@pytest.mark.slow
def test_exercises_copy_is_what_release_notebook_makes_now(tmp_path, collected_course):
    made = release_notebook(tmp_path)
    assert RELEASED_NOTEBOOK.is_file(), f"{RELEASED_NOTEBOOK} is missing: run `python -m autograder release`"
    assert made.read_bytes() == RELEASED_NOTEBOOK.read_bytes(), (
        f"{RELEASED_NOTEBOOK} is out of date with {SOURCE_NOTEBOOK}: run `python -m autograder release`"
    )
    in_course = collected_course / "release" / ASSIGNMENT_ID / "walkthrough.ipynb"
    assert in_course.read_bytes() == made.read_bytes(), "two releases of the same source differ"


def test_released_notebook_has_no_answers_and_no_hidden_tests():
    text = RELEASED_NOTEBOOK.read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "Model answer"):
        assert marker not in text, f"{RELEASED_NOTEBOOK} contains {marker!r}"
    released = nbformat.read(RELEASED_NOTEBOOK, as_version=4)
    assert autograded_points(released) == autograded_points(source_notebook())
    assert all(nbgrader_meta(cell).get("checksum") for cell in released.cells if nbgrader_meta(cell))


@pytest.mark.slow
def test_validate_fails_the_blank_notebook_with_the_reasons_and_passes_a_solved_one(tmp_path):
    released = nbformat.read(RELEASED_NOTEBOOK, as_version=4)
    blank_path = tmp_path / "blank" / "walkthrough.ipynb"
    solved_path = tmp_path / "solved" / "walkthrough.ipynb"
    for path, notebook in ((blank_path, released), (solved_path, solved_copy(released, source_notebook()))):
        path.parent.mkdir()
        nbformat.write(notebook, path)
    blank_report = nbgrader_validate(blank_path)
    assert "VALIDATION FAILED" in blank_report, blank_report
    assert "soften is not answered yet" in blank_report, blank_report
    assert "You did not provide a response" in blank_report, blank_report
    solved_report = nbgrader_validate(solved_path)
    assert "Success! Your notebook passes all the tests." in solved_report, solved_report


# ---------------------------------------------------------------- the class, end to end


@pytest.mark.slow
def test_collect_files_every_student_of_the_lms_zip(collected_course):
    submitted = sorted(p.name for p in (collected_course / "submitted").iterdir())
    assert submitted == sorted(STUDENTS)
    for student in STUDENTS:
        assert (collected_course / "submitted" / student / ASSIGNMENT_ID / "walkthrough.ipynb").is_file()


@pytest.mark.slow
def test_autograde_scores_each_kind_of_submission(graded_course):
    points = autograded_points(source_notebook())
    full = sum(points.values())
    grades = grades_by_student(graded_course)
    assert sorted(grades) == sorted(STUDENTS)

    def autograded(student: str) -> dict[str, float]:
        return {cell: grades[student][cell][0] or 0.0 for cell in points}

    for student in ("correct", "deleted", "tinkerer"):
        assert autograded(student) == points, (
            f"{student}: {autograded(student)} instead of full marks {points}"
        )
        assert grades[student]["written_answer"][2], f"{student}'s written answer should wait for a grader"
    assert sum(autograded("blank").values()) == 0, autograded("blank")
    wrong = autograded("wrong")
    assert wrong["test_soften_basics"] == points["test_soften_basics"], (
        "T = 1 is right even when T multiplies"
    )
    assert wrong["test_soften_hidden"] == 0
    assert 0 < sum(wrong.values()) < full
    raising = autograded("raising")
    assert raising["test_soften_basics"] == raising["test_soften_hidden"] == 0
    assert raising["test_recipes"] == points["test_recipes"], "answers that do not use soften still count"
    looping = autograded("looping")
    assert looping["test_recipes"] == looping["test_what_it_revealed"] == 0
    assert sum(looping.values()) == full - points["test_recipes"] - points["test_what_it_revealed"]
    restored = (graded_course / "autograded" / "deleted" / ASSIGNMENT_ID / "walkthrough.ipynb").read_text(
        encoding="utf-8"
    )
    assert "was missing from the submission" in restored, "the deleted test cell was not put back"


@pytest.mark.slow
def test_feedback_shows_scores_and_messages_never_hidden_test_source(graded_course):
    hidden_lines = hidden_source_lines(source_notebook())
    assert hidden_lines, "the source notebook has no hidden-test code to look for"
    pages = {}
    for student in STUDENTS:
        path = graded_course / "feedback" / student / ASSIGNMENT_ID / "walkthrough.html"
        assert path.is_file(), f"no feedback for {student}"
        raw = path.read_text(encoding="utf-8")
        text = visible_text_of_html(raw)
        pages[student] = text
        assert "BEGIN HIDDEN TESTS" not in raw
        leaked = sorted(line for line in hidden_lines if line in text)
        assert not leaked, f"{student}'s feedback shows hidden-test source: {leaked[:3]}"
        if student in ("correct", "wrong", "deleted", "tinkerer"):
            assert "Traceback" not in text, f"{student}'s feedback shows a traceback (only test cells fail)"
        assert re.search(r"Score: [\d.]+ / 35", text), f"{student}'s feedback has no total score"
    assert "Did you multiply the logits by T instead of dividing?" in pages["wrong"]
    assert "soften raised ValueError: temperature trouble" in pages["raising"]
    assert "soften is not answered yet" in pages["blank"]
    assert "CellTimeoutError" in pages["looping"]


@pytest.mark.slow
def test_export_holds_the_notebook_and_the_five_exercises_of_every_student(graded_course):
    with open(graded_course.parent / "export.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == sorted((*STUDENTS, "exercises_only"))
    full = sum(autograded_points(source_notebook()).values())
    correct = rows["correct"]
    assert float(correct["walkthrough"]) == full and float(correct["walkthrough_max"]) == 35
    assert [float(correct[f"ex{i}"]) for i in range(1, 6)] == [20] * 5
    assert float(correct["total"]) == full + 100 and float(correct["max_total"]) == 135
    wrong = rows["wrong"]
    assert [float(wrong[f"ex{i}"]) for i in range(1, 6)] == [20, 7.5, 0, 20, 10]
    assert float(wrong["exercises"]) == 57.5
    only = rows["exercises_only"]
    assert float(only["walkthrough"]) == 0 and float(only["exercises"]) == 40
    assert float(rows["blank"]["exercises"]) == 0 and float(rows["blank"]["walkthrough"]) == 0


@pytest.mark.slow
def test_parallel_autograde_leaves_the_same_gradebook_as_serial(graded_course, parallel_course):
    serial = grades_by_student(graded_course, PARALLEL_STUDENTS)
    parallel = grades_by_student(parallel_course, PARALLEL_STUDENTS)
    assert sorted(parallel) == sorted(PARALLEL_STUDENTS)
    assert parallel == serial
    for student in PARALLEL_STUDENTS:
        assert (parallel_course / "autograded" / student / ASSIGNMENT_ID / "walkthrough.ipynb").is_file()
