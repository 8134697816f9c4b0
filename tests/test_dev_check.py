"""``python -m autograder dev check`` passes on this repository, fails on a copy with each kind of drift."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.dev import places as dev
from autograder.manifest import REPO_ROOT, ManifestError, parse_manifest

COPIED = ("autograder", "solutions", "exercises", "README.md", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.ipynb", "learner-*")


@pytest.fixture
def fixture_repo(tmp_path) -> Path:
    """A copy of what ``dev check`` reads (no .git, no tests, no notebooks)."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=IGNORED)
        else:
            shutil.copy2(source, root / name)
    return root


def _dev_check(root: Path, *only: str) -> tuple[int, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "dev",
            "check",
            "--root",
            str(root),
            *(f"--only={o}" for o in only),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


STATIC = ("manifest", "places", "markers", "readme", "release")


def test_this_repository_follows_its_manifest_statically():
    code, output = _dev_check(REPO_ROOT, *STATIC)
    assert code == 0, output
    assert output.count("ok  ") == len(STATIC)


def test_the_untouched_fixture_passes(fixture_repo):
    code, output = _dev_check(fixture_repo, *STATIC, "points")
    assert code == 0, output


def test_a_stub_that_already_passes_fails_the_check(fixture_repo):
    shutil.copy2(fixture_repo / "solutions" / "ex1_softmax.py", fixture_repo / "exercises" / "ex1_softmax.py")
    code, output = _dev_check(fixture_repo, "stubs")
    assert code == 1
    assert "ex1: the stub already passes every visible check" in output
    assert re.search(r"ex1: the stub earns 20 points from the graders", output), output
    assert "ex2:" not in output


def test_a_stub_without_its_todo_fails_the_check(fixture_repo):
    stub = fixture_repo / "exercises" / "ex2_distillation.py"
    stub.write_text(re.sub(r"TODO\(ex2\)", "NOTE", stub.read_text(encoding="utf-8")), encoding="utf-8")
    code, output = _dev_check(fixture_repo, "release")
    assert code == 1
    assert "ex2: exercises/ex2_distillation.py has no TODO(ex2) for the learner" in output
    assert "differs: exercises/ex2_distillation.py is not what solutions/ex2_distillation.py makes" in output


def test_points_that_do_not_sum_to_twenty_fail_the_check(fixture_repo):
    grader = fixture_repo / "autograder" / "graders" / "test_ex5_params.py"
    points = re.search(r"@pytest\.mark\.points\((\d+)\)", grader.read_text(encoding="utf-8"))
    _edit(grader, points.group(0), f"@pytest.mark.points({int(points.group(1)) + 1})")
    code, output = _dev_check(fixture_repo, "points")
    assert code == 1
    assert "ex5: the checks' points sum to 21, not 20" in output


def test_a_manifest_entry_without_a_grader_fails_the_check(fixture_repo):
    manifest = fixture_repo / "solutions" / "exercises.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8")
        + '\n[[exercise]]\nid = "ex6"\nmodule = "ex6_pruning"\ntopic = "pruning heads"\n'
        'returns = { prune_heads = "a model" }\n',
        encoding="utf-8",
    )
    code, output = _dev_check(fixture_repo, "places", "markers", "readme")
    assert code == 1
    assert "ex6: autograder/graders/test_ex6_pruning.py is missing" in output
    assert "ex6: solutions/ex6_pruning.py is missing" in output
    assert "ex6: exercises.toml has no hints for it" in output
    assert "pyproject.toml: the exN markers are not the manifest's" in output
    assert "README.md: the exercises table is stale" in output


def test_a_stale_readme_table_fails_the_check_and_sync_mends_it(fixture_repo):
    _edit(fixture_repo / "README.md", "how T softens a distribution", "how T sharpens a distribution")
    code, output = _dev_check(fixture_repo, "readme")
    assert code == 1
    assert "README.md: the exercises table is stale" in output
    assert "learner_bundle/README.md" not in output
    subprocess.run(
        [sys.executable, "-m", "autograder", "dev", "sync", "--root", str(fixture_repo)],
        check=True,
        timeout=120,
    )
    assert _dev_check(fixture_repo, "readme")[0] == 0


def test_a_grader_of_an_exercise_the_manifest_does_not_name_fails_the_check(fixture_repo):
    graders = fixture_repo / "autograder" / "graders"
    shutil.copy2(graders / "test_ex5_params.py", graders / "test_ex7_extra.py")
    code, output = _dev_check(fixture_repo, "places")
    assert code == 1
    assert "autograder/graders/test_ex7_extra.py belongs to ex7, which the manifest does not name" in output


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"points_per_exercise": 20}, "no [[exercise]] tables"),
        (
            {"exercise": [{"id": "one", "module": "m", "topic": "t", "returns": {"f": "x"}}]},
            "not of the form exN",
        ),
        ({"exercise": [{"id": "ex1", "module": "ex1_a", "topic": "t"}]}, "'returns' must map"),
        (
            {"exercise": [{"id": "ex1", "module": "ex2_a", "topic": "t", "returns": {"f": "x"}}]},
            "starting 'ex1_'",
        ),
        (
            {"exercise": [{"id": "ex1", "module": "ex1_a", "topic": "t", "returns": {"f": "x"}}]},
            "'points_per_exercise' must be a positive integer",
        ),
    ],
)
def test_a_malformed_manifest_is_one_line_naming_the_field(data, problem):
    with pytest.raises(ManifestError, match=re.escape(problem)):
        parse_manifest(data)


def test_the_readme_table_is_made_from_the_manifest():
    table = dev.exercise_table(dev._manifest().exercises)
    assert table in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(re.findall(r"^\| ex\d+ \|", table, flags=re.MULTILINE)) == len(dev._manifest().exercises)
