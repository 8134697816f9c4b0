"""From the learner's hand-in to the instructor's gradebook, on one machine, on Gradescope, on PrairieLearn.

The learner bundle is installed in a fresh venv (as a learner installs it); two learners, one with a
correct implementation and one with a classic slip (ex1 multiplies by T), hand in with
``python -m exercises.handin``. The instructor packs the two zips as Canvas's "Download Submissions"
names them, grades the download with a roster, and exports for Canvas; the same hand-ins then go through
the Gradescope bundle's ``run_autograder`` and the PrairieLearn entrypoint, which must agree with the grade.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.manifest import EXERCISES, REPO_ROOT
from autograder.platforms import gradescope, prairielearn
from autograder.platforms.lms import DEFAULT_TITLE

pytestmark = pytest.mark.slow

SOLUTIONS = REPO_ROOT / "solutions"
RIGHT_EX1 = "scaled = logits / temperature_value"
WRONG_EX1 = "scaled = logits * temperature_value"
ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section
"Liddell, Alice",101,S-1,alice,A
"Builder, Bob",102,S-2,bob,A
"Jones, Carol",103,S-3,carol,A
"""


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=1200, **kwargs)


@pytest.fixture(scope="module")
def handins(learner_machine, tmp_path_factory) -> dict[str, Path]:
    """The learner side, once per module: two learners' work in copies of the installed bundle (the shared
    learner venv of tests/conftest.py), two hand-in zips."""
    base = tmp_path_factory.mktemp("learners")
    bundle = learner_machine.bundle
    python = str(learner_machine.python)
    env = learner_machine.env

    handed_in = {}
    for student, slip in (("alice", False), ("bob", True)):
        learner = base / student
        shutil.copytree(bundle, learner)
        for exercise in EXERCISES:
            text = (SOLUTIONS / exercise.filename).read_text()
            if slip and exercise.id == "ex1":
                assert RIGHT_EX1 in text
                text = text.replace(RIGHT_EX1, WRONG_EX1)
            (learner / "exercises" / exercise.filename).write_text(text)
        # python -m puts the current folder first on sys.path: each learner's own exercises/ is used.
        handin = run(
            [python, "-m", "exercises.handin", student, "--out", str(base / "handins")], cwd=learner, env=env
        )
        assert handin.returncode == 0, handin.stdout + handin.stderr
        assert "Traceback" not in handin.stdout + handin.stderr
        handed_in[student] = base / "handins" / f"{student}.zip"
    return handed_in


def test_handin_zips_hold_the_five_files_at_the_top(handins):
    for student, path in handins.items():
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            ex1 = archive.read("ex1_softmax.py").decode()
        assert {exercise.filename for exercise in EXERCISES} <= names, (student, names)
        assert (WRONG_EX1 in ex1) == (student == "bob")


@pytest.fixture(scope="module")
def graded(handins, tmp_path_factory) -> dict[str, object]:
    """The instructor side: a Canvas bulk download of the two zips, graded with a roster, exported."""
    base = tmp_path_factory.mktemp("instructor")
    download = base / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.write(handins["alice"], "liddellalice_101_90001_alice.zip")
        archive.write(handins["bob"], "builderbob_102_90002_bob.zip")
    (base / "roster.csv").write_text(ROSTER)
    grade = run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(download),
            "--roster",
            "roster.csv",
            "--out",
            "out",
        ],
        cwd=base,
    )
    export = run(
        [sys.executable, "-m", "autograder", "lms", "canvas", "--grades", "out/grades.csv", "--roster"]
        + ["roster.csv", "--out", "canvas.csv", "--assignment-id", "5501"],
        cwd=base,
    )
    rows = {row["student"]: row for row in csv.DictReader((base / "out" / "grades.csv").open())}
    return {"base": base, "grade": grade, "export": export, "rows": rows}


def test_the_canvas_download_is_graded_per_student_with_the_roster(graded):
    grade = graded["grade"]
    assert grade.returncode == 0, grade.stdout + grade.stderr
    rows = graded["rows"]
    assert set(rows) == {"alice", "bob", "carol"}
    assert rows["alice"]["total"] == "100" and rows["alice"]["note"] == ""
    assert float(rows["bob"]["ex1"]) < 20 and float(rows["bob"]["total"]) < 100
    assert [rows["bob"][ex] for ex in ("ex2", "ex3", "ex4", "ex5")] == ["20"] * 4
    assert rows["carol"]["note"] == "not submitted"


def test_the_grades_export_for_canvas(graded):
    export = graded["export"]
    assert export.returncode == 0, export.stderr
    table = list(csv.reader((graded["base"] / "canvas.csv").read_text().splitlines()))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{DEFAULT_TITLE} (5501)"]
    assert table[1:] == [
        ["Liddell, Alice", "101", "S-1", "alice", "A", "100"],
        ["Builder, Bob", "102", "S-2", "bob", "A", graded["rows"]["bob"]["total"]],
        ["Jones, Carol", "103", "S-3", "carol", "A", "0"],
    ]


def with_this_python(**extra: str) -> dict[str, str]:
    env = clean_environment()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def test_gradescope_run_autograder_gives_bob_the_same_grade(handins, graded, tmp_path):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(gradescope.build_bundle(tmp_path / "autograder.zip", "visible")) as archive:
        archive.extractall(root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    shutil.copy2(handins["bob"], root / "submission" / "bob.zip")

    result = run([str(root / "run_autograder")], cwd=root, env=with_this_python(AUTOGRADER_ROOT=str(root)))

    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == pytest.approx(float(graded["rows"]["bob"]["total"]))
    assert data["extra_data"]["exercises"]["ex1"] == pytest.approx(float(graded["rows"]["bob"]["ex1"]))


def test_prairielearn_entrypoint_gives_alice_full_marks(handins, tmp_path):
    grader = prairielearn.write_grader(tmp_path / "pl")
    root = tmp_path / "grade"
    with zipfile.ZipFile(handins["alice"]) as archive:
        archive.extractall(root / "student")

    result = run([str(grader / "grader-image" / "entrypoint")], env=with_this_python(PL_GRADE_ROOT=str(root)))

    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["gradable"] is True and data["score"] == pytest.approx(1.0)
