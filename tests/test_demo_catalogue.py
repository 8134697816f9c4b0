"""The catalogue's loader: its files and their entries.toml tables agree, and a malformed folder is named.

The graders are judged against the catalogue in tests/test_graders.py; here only the layout and the
metadata are checked (no grading).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autograder.demo import catalogue
from autograder.demo.catalogue import CATALOGUE_DIR, CatalogueError, load
from autograder.manifest import EXERCISES, REPO_ROOT


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return root


def test_every_entry_is_a_file_in_its_exercise_folder():
    entries = [*catalogue.WRONG, *catalogue.ALTERNATIVES, *catalogue.HOLLOW]
    for entry in entries:
        assert entry.path.parent.name == Path(entry.filename).stem
        assert entry.path.read_text() == entry.exercise_source()
    files = sorted(path.stem for path in CATALOGUE_DIR.glob("ex*/*.py"))
    assert files == sorted(entry.student for entry in entries)
    assert {path.parent.name for path in CATALOGUE_DIR.glob("ex*/*.py")} == {
        Path(exercise.filename).stem for exercise in EXERCISES
    }


def test_metadata_reaches_the_entries():
    demo = [entry.student for entry in catalogue.DEMO_MISTAKES]
    assert demo == [entry.student for entry in catalogue.WRONG if entry.demo] and demo
    assert all(entry.misconception and entry.origin for entry in catalogue.WRONG)
    assert catalogue.by_student("ex5-alt-numpy").origin == "GRADERS"
    with pytest.raises(KeyError):
        catalogue.by_student("ex9-nobody")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda root: (root / "ex1_softmax" / "ex1-stray.py").write_text("x = 1\n"), "files without a table"),
        (lambda root: (root / "ex2_distillation" / "ex2-reversed-kl.py").unlink(), "tables without a file"),
        (lambda root: (root / "ex3_layers" / "entries.toml").unlink(), "ex3_layers/entries.toml is missing"),
        (
            lambda root: _append(root / "ex4_masking", "ex4-extra", 'kind = "wrong"\nmisconception = "m"\n'),
            "ex4-extra is wrong but has no expect",
        ),
        (
            lambda root: _append(root / "ex5_params", "ex5-extra", 'kind = "great"\nmisconception = "m"\n'),
            "has the kind 'great'",
        ),
        (
            lambda root: _append(
                root / "ex5_params", "ex5-extra", 'kind = "correct"\nmisconception = "m"\nexpct = ""\n'
            ),
            "unknown keys ['expct']",
        ),
        (
            lambda root: _append(
                root / "ex1_softmax", "ex2-in-ex1", 'kind = "hollow"\nmisconception = "m"\n'
            ),
            "ex2-in-ex1 should start with ex1-",
        ),
        (lambda root: (root / "ex1_softmax" / "entries.toml").write_text("[a\n"), "is not valid TOML"),
    ],
)
def test_a_malformed_folder_is_named(tmp_path, change, message):
    root = _copy(tmp_path)
    change(root)
    with pytest.raises(CatalogueError) as raised:
        load(root)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_an_exercise_without_a_folder_has_no_entries_yet(tmp_path):
    """A new exercise has no known mistakes until someone adds its folder: the catalogue still loads
    (and ``dev check --only catalogue`` lists its checks that no mistake fails)."""
    root = _copy(tmp_path)
    shutil.rmtree(root / "ex4_masking")
    entries = load(root)
    assert entries and {entry.exercise for entry in entries} == {"ex1", "ex2", "ex3", "ex5"}


def _append(folder: Path, student: str, table: str) -> None:
    (folder / f"{student}.py").write_text('"""An entry."""\n')
    with (folder / "entries.toml").open("a") as index:
        index.write(f"\n[{student}]\n{table}")


def test_pytest_collects_no_catalogue_file():
    """Not under testpaths, and not collected even when pointed at (no name pytest takes for a test file)."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(CATALOGUE_DIR),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, completed.stdout + completed.stderr
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        assert tomllib.load(handle)["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
