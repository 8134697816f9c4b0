"""The platforms: the Gradescope bundle and its run_autograder, the PrairieLearn external grader, and the
gradebook CSVs for Canvas and Moodle. Each grader runs as its platform would run it, in a temp tree."""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder.manifest import EXERCISES, REPO_ROOT
from autograder.platforms import gradescope, prairielearn
from autograder.release import find_regions, make_stub

SCHEMAS = REPO_ROOT / "autograder" / "platforms" / "schemas"
SOLUTIONS = REPO_ROOT / "solutions"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def stub_text(exercise) -> str:
    return make_stub((SOLUTIONS / exercise.filename).read_text(), exercise.id, filename=exercise.filename)


def write_handin_zip(path: Path, solved: tuple[str, ...] = ()) -> Path:
    """A zip as ``python -m exercises.handin`` writes it: the five files at its top level, the
    exercises in ``solved`` taken from the solutions, the others left as the released stubs."""
    with zipfile.ZipFile(path, "w") as archive:
        for exercise in EXERCISES:
            solved_text = (SOLUTIONS / exercise.filename).read_text()
            archive.writestr(exercise.filename, solved_text if exercise.id in solved else stub_text(exercise))
    return path


def environment_with_this_python() -> dict[str, str]:
    """The environment a platform's script sees, with this venv's python first on PATH."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH",)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# --------------------------------------------------------------------------------------------------
# Gradescope


def gradescope_tree(tmp_path: Path, bundle: Path) -> Path:
    """/autograder as Gradescope lays it out: source/ (the unpacked zip), run_autograder copied to the
    top, submission/ and results/."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def solution_bodies() -> list[str]:
    """The body of every solution region of the five exercises, each line stripped of its indent."""
    bodies = []
    for exercise in EXERCISES:
        source = (SOLUTIONS / exercise.filename).read_text()
        text = source.splitlines()
        for region in find_regions(source, exercise.filename):
            body = [line.strip() for line in text[region.begin : region.end - 1] if line.strip()]
            if len(body) >= 2:
                bodies.append("\n".join(body))
    return bodies


def missing_imports(names: set[str], texts: dict[str, str]) -> list[str]:
    """The ``autograder`` and ``solutions`` modules that the bundle's Python files import by name but the
    bundle lacks (module ``a.b`` is ``a/b.py`` or ``a/b/__init__.py``)."""
    missing = set()
    for name, text in texts.items():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                path = module.replace(".", "/")
                if module.split(".")[0] in ("autograder", "solutions") and not (
                    f"{path}.py" in names or f"{path}/__init__.py" in names
                ):
                    missing.add(f"{module} (imported by {name})")
    return sorted(missing)


def stripped(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def test_gradescope_bundle_holds_the_graders_and_given_code_but_no_solution(tmp_path):
    bundle = gradescope.build_bundle(tmp_path / "autograder.zip", "hidden")
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        texts = {name: archive.read(name).decode("utf-8", "replace") for name in names}

    assert {"setup.sh", "run_autograder", "pyproject.toml", "README.md"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    for exercise in EXERCISES:
        assert f"autograder/graders/test_{exercise.module}.py" in names
    given = {"solutions/model.py", "solutions/support/checking.py", "solutions/support/diagnosis/__init__.py"}
    assert given <= names
    solution_files = {name for name in names if name.startswith("solutions/")}
    assert solution_files == {f"solutions/{name}" for name in gradescope.GIVEN_SOLUTION_FILES}
    assert not [name for name in names if name.startswith(("autograder/course/", "autograder/demo/"))]
    assert not [name for name in names if name.endswith((".ipynb", ".pyc"))]
    # Not run on Gradescope: the LMS export's link to the nbgrader course, the demo class of `grade`.
    assert missing_imports(names, texts) == [
        "autograder.course.settings (imported by autograder/platforms/lms.py)",
        "autograder.demo.classroom (imported by autograder/grading/command.py)",
    ]
    bodies = solution_bodies()
    assert len(bodies) >= len(EXERCISES)
    leaked = [name for name, text in texts.items() for body in bodies if body in stripped(text)]
    assert not leaked, leaked

    setup = texts["setup.sh"]
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in setup
    assert "pip install /autograder/source\n" in setup and "[dev]" not in setup
    assert "--visibility hidden" in texts["run_autograder"]
    assert "AUTOGRADER_ROOT" in texts["run_autograder"]


def test_gradescope_bundle_is_reproducible(tmp_path):
    first = gradescope.build_bundle(tmp_path / "a.zip").read_bytes()
    assert gradescope.build_bundle(tmp_path / "b.zip").read_bytes() == first


def test_gradescope_verb_refuses_an_unknown_visibility(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "gradescope", "--out", str(tmp_path / "a.zip")]
        + ["--visibility", "all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice: 'all'" in result.stderr
    assert not (tmp_path / "a.zip").exists()


def test_run_autograder_grades_a_handin_zip_as_gradescope_runs_it(tmp_path):
    root = gradescope_tree(tmp_path, gradescope.build_bundle(tmp_path / "autograder.zip", "after_published"))
    write_handin_zip(root / "submission" / "alice.zip", solved=("ex1",))
    (root / "submission_metadata.json").write_text(
        json.dumps({"users": [{"email": "alice@example.edu", "name": "Alice", "id": 7}]})
    )
    env = environment_with_this_python()
    env["AUTOGRADER_ROOT"] = str(root)

    run = subprocess.run(
        [str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, check=False
    )

    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema("gradescope_results.schema.json"))
    assert data["score"] == 20
    assert data["extra_data"]["exercises"] == {"ex1": 20, "ex2": 0, "ex3": 0, "ex4": 0, "ex5": 0}
    assert data["extra_data"]["student"] == "alice@example.edu"
    assert data["visibility"] == "after_published"
    assert {test["visibility"] for test in data["tests"]} == {"after_published"}
    assert sum(test["max_score"] for test in data["tests"]) == 100
    assert {test["name"].split()[0] for test in data["tests"]} == {exercise.id for exercise in EXERCISES}
    ex1 = [test for test in data["tests"] if test["name"].startswith("ex1 ")]
    assert all(test["status"] == "passed" for test in ex1)
    assert "total 20/100" in data["output"]


def test_run_autograder_explains_an_upload_without_exercise_files(tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "notes.txt").write_text("my answers are in my head")

    assert gradescope.run_autograder(root, "visible") == 0

    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema("gradescope_results.schema.json"))
    assert data["score"] == 0 and data["tests"] == []
    assert "none of ex1_softmax.py" in data["output"] and "notes.txt" in data["output"]
    assert "python -m exercises.handin" in data["output"]


def test_run_autograder_without_a_submission_folder_writes_nothing_and_says_so(tmp_path, capsys):
    root = tmp_path / "autograder"
    root.mkdir()

    assert gradescope.run_autograder(root) == 1

    assert not (root / "results" / "results.json").exists()
    error = capsys.readouterr().err
    assert error.strip() == f"autograder: {root / 'submission'}: the submission folder does not exist"


def test_the_gradescope_schema_rejects_what_gradescope_does_not_take():
    gradescope_schema = schema("gradescope_results.schema.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "visibility": "public"}, gradescope_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tests": [{"name": "t", "max_score": 1}]}, gradescope_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 1, "tests": [{"name": "t", "points": 1}]}, gradescope_schema)


# --------------------------------------------------------------------------------------------------
# PrairieLearn


def test_prairielearn_grader_has_image_entrypoint_and_a_question_using_them(tmp_path):
    out = prairielearn.write_grader(tmp_path / "pl", image="example.org/course/grader:1")

    info = json.loads((out / "questions" / prairielearn.QUESTION_ID / "info.json").read_text())
    assert info["gradingMethod"] == "External"
    options = info["externalGradingOptions"]
    assert options == {
        "enabled": True,
        "image": "example.org/course/grader:1",
        "entrypoint": prairielearn.ENTRYPOINT_IN_IMAGE,
        "timeout": options["timeout"],
    }
    assert 0 < options["timeout"] <= 600
    html = (out / "questions" / prairielearn.QUESTION_ID / "question.html").read_text()
    upload = re.search(r'<pl-file-upload file-names="([^"]+)"', html)
    assert upload and [name.strip() for name in upload.group(1).split(",")] == [e.filename for e in EXERCISES]
    assert "<pl-external-grader-results>" in html

    dockerfile = (out / "grader-image" / "Dockerfile").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in dockerfile
    assert f"COPY entrypoint {prairielearn.ENTRYPOINT_IN_IMAGE}" in dockerfile
    assert os.access(out / "grader-image" / "entrypoint", os.X_OK)
    source = out / "grader-image" / "source"
    assert (source / "autograder" / "graders" / "test_ex2_distillation.py").is_file()
    solutions = source / "solutions"
    shipped = [path.relative_to(solutions).as_posix() for path in solutions.rglob("*") if path.is_file()]
    assert sorted(shipped) == sorted(gradescope.GIVEN_SOLUTION_FILES)


def test_prairielearn_refuses_to_write_into_an_unrelated_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(prairielearn.PlatformError, match="is not an earlier PrairieLearn grader"):
        prairielearn.write_grader(tmp_path)


def test_prairielearn_entrypoint_grades_the_uploaded_files(tmp_path):
    out = prairielearn.write_grader(tmp_path / "pl")
    root = tmp_path / "grade"
    (root / "student").mkdir(parents=True)
    for exercise in EXERCISES:
        solved = exercise.id in ("ex3", "ex5")
        text = (SOLUTIONS / exercise.filename).read_text() if solved else stub_text(exercise)
        (root / "student" / exercise.filename).write_text(text)
    env = environment_with_this_python()
    env["PL_GRADE_ROOT"] = str(root)

    run = subprocess.run(
        [str(out / "grader-image" / "entrypoint")], env=env, capture_output=True, text=True, check=False
    )

    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema("prairielearn_results.schema.json"))
    assert data["gradable"] is True
    assert data["score"] == pytest.approx(0.4)
    assert sum(test["max_points"] for test in data["tests"]) == pytest.approx(100)
    by_exercise: dict[str, float] = {}
    for test in data["tests"]:
        exercise = test["name"].split()[0]
        by_exercise[exercise] = by_exercise.get(exercise, 0) + test["points"]
    assert by_exercise == pytest.approx({"ex1": 0, "ex2": 0, "ex3": 20, "ex4": 0, "ex5": 20})
    failed = [test for test in data["tests"] if test["points"] < test["max_points"]]
    assert failed and all(test["message"] != "passed" and test["output"] for test in failed)
    assert "total 40/100" in data["message"]


def test_prairielearn_entrypoint_marks_an_upload_without_exercise_files_not_gradable(tmp_path):
    root = tmp_path / "grade"
    (root / "student").mkdir(parents=True)
    (root / "student" / "answers.txt").write_text("42")

    assert prairielearn.grade(root) == 0

    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema("prairielearn_results.schema.json"))
    assert data["gradable"] is False
    assert "answers.txt" in data["format_errors"][0] and "ex1_softmax.py" in data["format_errors"][0]


def test_prairielearn_entrypoint_without_a_student_folder_is_not_gradable_and_fails(tmp_path, capsys):
    root = tmp_path / "grade"
    root.mkdir()

    assert prairielearn.grade(root) == 1

    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, schema("prairielearn_results.schema.json"))
    assert data["gradable"] is False
    assert capsys.readouterr().err.strip() == (
        f"autograder: {root / 'student'}: the submission folder does not exist"
    )


def test_the_prairielearn_schema_rejects_what_prairielearn_does_not_take():
    pl_schema = schema("prairielearn_results.schema.json")
    no_max_points = {"score": 0.5, "tests": [{"name": "t", "points": 1}]}
    for bad in ({"message": "no score"}, {"score": 40}, no_max_points):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, pl_schema)


# --------------------------------------------------------------------------------------------------
# LMS gradebooks


GRADES_CSV = """student,ex1,ex2,ex3,ex4,ex5,total,max_total,note
alice,20,20,20,20,20,100,100,
bob,20,0,0,0,0,20,100,
carol,0,0,0,0,0,0,100,not submitted
zed,20,20,0,0,0,40,100,
"""
CANVAS_ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section
"Liddell, Alice",101,S-1,alice,Group A
"Builder, Bob",102,S-2,bob,Group B
"Jones, Carol",103,S-3,carol,Group A
"""
MOODLE_ROSTER = """student_id,First name,Surname,ID number,Username,Email address
alice,Alice,Liddell,7001,aliddell,alice@example.edu
bob,Bob,Builder,7002,bbuilder,bob@example.edu
carol,Carol,Jones,7003,cjones,carol@example.edu
"""
NOTEBOOK_EXPORT = """student_id,last_name,first_name,email,walkthrough,walkthrough_max,total,max_total
alice,Liddell,Alice,,9.5,10,9.5,10
bob,Builder,Bob,,4,10,4,10
"""


def lms(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "lms", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


@pytest.fixture
def class_files(tmp_path):
    (tmp_path / "grades.csv").write_text(GRADES_CSV)
    (tmp_path / "canvas-roster.csv").write_text(CANVAS_ROSTER)
    (tmp_path / "moodle-roster.csv").write_text(MOODLE_ROSTER)
    (tmp_path / "export.csv").write_text(NOTEBOOK_EXPORT)
    return tmp_path


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text().splitlines()))


def test_canvas_export_has_canvas_columns_and_the_notebook_and_warns_about_students_off_the_roster(
    class_files,
):
    run = lms(
        class_files,
        "canvas",
        "--grades",
        "grades.csv",
        "--roster",
        "canvas-roster.csv",
        "--out",
        "canvas.csv",
        "--notebook",
        "export.csv",
        "--assignment-id",
        "5501",
        "--notebook-assignment-id",
        "5502",
    )

    assert run.returncode == 0, run.stderr
    rows = read_rows(class_files / "canvas.csv")
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "DistilBERT and RoBERTa exercises (5501)",
        "DistilBERT and RoBERTa walk-through (5502)",
    ]
    assert rows[1:] == [
        ["Liddell, Alice", "101", "S-1", "alice", "Group A", "100", "9.5"],
        ["Builder, Bob", "102", "S-2", "bob", "Group B", "20", "4"],
        ["Jones, Carol", "103", "S-3", "carol", "Group A", "0", ""],
    ]
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: 1 student(s) in the grades are not on the roster canvas-roster.csv and were left out: zed"
    ]
    assert "Wrote canvas.csv: 3 students for Canvas" in run.stdout


def test_moodle_export_maps_the_chosen_identifier(class_files):
    run = lms(
        class_files,
        "moodle",
        "--grades",
        "grades.csv",
        "--roster",
        "moodle-roster.csv",
        "--out",
        "moodle.csv",
        "--moodle-identifier",
        "email",
        "--notebook",
        "export.csv",
    )

    assert run.returncode == 0, run.stderr
    assert read_rows(class_files / "moodle.csv") == [
        ["Email address", "DistilBERT and RoBERTa exercises", "DistilBERT and RoBERTa walk-through"],
        ["alice@example.edu", "100", "9.5"],
        ["bob@example.edu", "20", "4"],
        ["carol@example.edu", "0", ""],
    ]


def test_moodle_export_by_username_without_a_notebook(class_files):
    run = lms(
        class_files, "moodle", "--grades", "grades.csv", "--roster", "moodle-roster.csv", "--out", "m.csv"
    )

    assert run.returncode == 0, run.stderr
    assert read_rows(class_files / "m.csv") == [
        ["Username", "DistilBERT and RoBERTa exercises"],
        ["aliddell", "100"],
        ["bbuilder", "20"],
        ["cjones", "0"],
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"grades.csv": "student,score\nalice,3\n"},
            (
                "error: grades.csv: the grades file has no 'total' column (columns found: student, score); "
                "nothing was written"
            ),
        ),
        (
            {"export.csv": "student_id,total\nalice,3\n"},
            (
                "error: export.csv: the notebook export has no 'walkthrough' column (columns found: "
                "student_id, total); nothing was written"
            ),
        ),
        (
            {"grades.csv": None},
            "error: grades.csv: cannot read the grades file (No such file or directory); nothing was written",
        ),
        (
            {"canvas-roster.csv": "Name,Section\nAlice,A\n"},
            (
                "error: canvas-roster.csv: the roster has no student id column (one of: student_id, "
                "SIS Login ID, SIS User ID, ID number, Username, student); nothing was written"
            ),
        ),
        (
            {"canvas-roster.csv": "student_id,name\nalice,Alice\n"},
            (
                "error: canvas-roster.csv: Canvas matches students by ID, SIS User ID or SIS Login ID, and "
                "the roster gives none for 1 student(s): alice (add an ID or SIS Login ID column); "
                "nothing was written"
            ),
        ),
    ],
)
def test_lms_errors_are_one_line_naming_the_file(class_files, change, message):
    for name, text in change.items():
        if text is None:
            (class_files / name).unlink()
        else:
            (class_files / name).write_text(text)

    run = lms(
        class_files,
        "canvas",
        "--grades",
        "grades.csv",
        "--roster",
        "canvas-roster.csv",
        "--out",
        "c.csv",
        "--notebook",
        "export.csv",
    )

    assert run.returncode == 2
    assert run.stderr.strip() == message
    assert not (class_files / "c.csv").exists()


def test_moodle_export_names_students_without_the_identifier(class_files):
    (class_files / "moodle-roster.csv").write_text("student_id,Username,ID number\nalice,al,7001\nbob,bo,\n")

    run = lms(
        class_files,
        "moodle",
        "--grades",
        "grades.csv",
        "--roster",
        "moodle-roster.csv",
        "--out",
        "m.csv",
        "--moodle-identifier",
        "idnumber",
    )

    assert run.returncode == 2
    assert run.stderr.strip() == (
        "error: moodle-roster.csv: the roster has no ID number for 1 student(s): bob (add a 'ID number' "
        "column or choose another --moodle-identifier); nothing was written"
    )
