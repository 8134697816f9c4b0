"""The learner's hand-in: ``python -m exercises.handin STUDENT_ID [--out DIR]``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.grading.staging import PACKAGE, stage, student_id
from autograder.manifest import EXERCISES, EXERCISES_DIR, SOLUTIONS_DIR
from solutions import handin

EXERCISE_FILES = sorted(exercise.filename for exercise in EXERCISES)


def learner_copy(dest: Path) -> Path:
    """A learner's folder: the released exercises/, with ex1 solved."""
    shutil.copytree(EXERCISES_DIR, dest / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(SOLUTIONS_DIR / "ex1_softmax.py", dest / "exercises" / "ex1_softmax.py")
    return dest / "exercises"


def test_handin_prints_the_progress_then_writes_a_zip_named_by_the_id_with_the_files_at_its_top(tmp_path):
    learner_copy(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "exercises.handin", "alice", "--out", "handed-in"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "your progress" in out
    assert "ex1  softmax with a temperature  done" in out
    assert "1 of 5 done." in out
    assert out.index("your progress") < out.index("Wrote handed-in/alice.zip")
    assert "the grader takes your student id (alice) from its name" in out
    zip_path = tmp_path / "handed-in" / "alice.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(archive.namelist())
        solved = archive.read("ex1_softmax.py")
    assert names == sorted([*EXERCISE_FILES, "walkthrough.ipynb"])
    assert solved == (SOLUTIONS_DIR / "ex1_softmax.py").read_bytes()
    # The grader reads it as alice's, with every exercise file found.
    assert student_id(zip_path) == "alice"
    staged = stage(zip_path, tmp_path / "staged") / PACKAGE
    assert all((staged / name).read_bytes() for name in EXERCISE_FILES)


def test_handin_of_finished_work_does_not_tell_you_to_hand_in(tmp_path):
    exercises = learner_copy(tmp_path)
    for name in EXERCISE_FILES:
        shutil.copyfile(SOLUTIONS_DIR / name, exercises / name)
    result = subprocess.run(
        [sys.executable, "-m", "exercises.handin", "alice"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "All 5 done." in result.stdout.splitlines() and "To hand in" not in result.stdout, result.stdout


def test_handin_without_the_notebook_holds_the_exercise_files_only(tmp_path):
    folder = learner_copy(tmp_path)
    (folder / "walkthrough.ipynb").unlink()
    written = handin.write_handin("bob", tmp_path / "out", exercise_dir=folder)
    assert written == tmp_path / "out" / "bob.zip"
    with zipfile.ZipFile(written) as archive:
        assert sorted(archive.namelist()) == EXERCISE_FILES


@pytest.mark.parametrize("bad_id", ["a/b", "../alice", "alice smith", ".hidden", "a;b", "é" * 3, "x" * 65])
def test_handin_refuses_an_id_that_is_not_a_plain_name_in_one_line(bad_id, tmp_path, capsys):
    code = handin.main([bad_id, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{bad_id!r} is not a plain name" in err
    assert list(tmp_path.iterdir()) == []


def test_handin_help_says_what_it_writes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        handin.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: python -m solutions.handin [-h] [--out DIR] STUDENT_ID" in text
    assert "write DIR/STUDENT_ID.zip with your ex*.py files (and walkthrough.ipynb when present)" in text


def test_the_released_handin_and_the_bundle_readme_agree():
    assert (EXERCISES_DIR / "handin.py").read_text() == (SOLUTIONS_DIR / "handin.py").read_text()
    readme = Path(handin.__file__).resolve().parent.parent / "autograder" / "learner_bundle" / "README.md"
    text = " ".join(readme.read_text().split())
    assert "python -m exercises.handin STUDENT_ID" in text
    assert "STUDENT_ID.zip" in text
    assert "python -m zipfile" not in text
