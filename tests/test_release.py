"""The release tool: stubs from solution markers, exercises/ in step with solutions/, the learner bundle."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from autograder import release
from autograder.manifest import EXERCISES, EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR
from autograder.release import StubError, build_bundle, check_exercises, make_stub, render_exercises

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORBIDDEN_IN_BUNDLE = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "import autograder",
    "from autograder",
    "import solutions",
    "from solutions",
)
MIN_DISTINCTIVE_LINE = 16


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def stub_of(source: str, exercise_id: str = "ex4") -> str:
    return make_stub(textwrap.dedent(source), exercise_id, filename="ex4_masking.py")


def notebook_regions(path: Path) -> list[tuple[list[str], set[int]]]:
    """Each code cell's lines, and the (1-based) numbers of those in nbgrader solution/hidden-test regions."""
    cells = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        inside, open_region = set(), False
        for number, line in enumerate(lines, start=1):
            marker = line.strip()
            if marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                open_region = True
            if open_region:
                inside.add(number)
            if marker in ("### END SOLUTION", "### END HIDDEN TESTS"):
                open_region = False
        cells.append((lines, inside))
    return cells


def solution_only_lines(solutions_dir: Path = SOLUTIONS_DIR) -> set[str]:
    """Code lines found only inside solution regions (long enough not to occur by chance elsewhere).

    Python solution regions, and the notebook's solution and hidden-test regions.
    """
    sources: list[tuple[list[str], set[int]]] = []
    for path in solutions_dir.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        region_lines: set[int] = set()
        for region in release.find_regions(text, str(path)):
            region_lines.update(range(region.begin, region.end + 1))
        sources.append((text.splitlines(), region_lines))
    for path in solutions_dir.rglob("*.ipynb"):
        sources.extend(notebook_regions(path))
    inside, outside = set(), set()
    for lines, region_lines in sources:
        for number, line in enumerate(lines, start=1):
            (inside if number in region_lines else outside).add(line.strip())
    return {
        line for line in inside - outside if len(line) >= MIN_DISTINCTIVE_LINE and not line.startswith("#")
    }


def stripped_lines(name: str, data: bytes) -> set[str]:
    """A file's lines, stripped; for a notebook, the lines of its cells."""
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".ipynb"):
        text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
    return {line.strip() for line in text.splitlines()}


# --- make_stub on inline examples -------------------------------------------------------------------


def test_stub_replaces_a_function_body_after_its_docstring():
    stub = stub_of(
        '''
        import torch


        def double(x: int) -> int:
            """Twice x.

            # BEGIN SOLUTION: a docstring that mentions a marker is not a marker
            """
            # BEGIN SOLUTION: return twice x
            result = x * 2
            return result
            # END SOLUTION


        AFTER = 1
        '''
    )
    assert stub == textwrap.dedent(
        '''
        import torch


        def double(x: int) -> int:
            """Twice x.

            # BEGIN SOLUTION: a docstring that mentions a marker is not a marker
            """
            # TODO(ex4): return twice x
            raise NotImplementedError("ex4: implement double")


        AFTER = 1
        '''
    )


def test_stub_names_methods_by_class_and_init_by_the_class_alone():
    stub = stub_of(
        """
        class DynamicMasker:
            def __init__(self, p: float):
                # BEGIN SOLUTION: store p
                self.p = p
                # END SOLUTION

            def __call__(self, ids):
                # BEGIN SOLUTION: mask the ids
                def helper(values):
                    return values

                return helper(ids)
                # END SOLUTION

            class Inner:
                def method(self):
                    # BEGIN SOLUTION: something nested
                    return 1
                    # END SOLUTION
        """
    )
    assert 'raise NotImplementedError("ex4: implement DynamicMasker")' in stub
    assert 'raise NotImplementedError("ex4: implement DynamicMasker.__call__")' in stub
    assert 'raise NotImplementedError("ex4: implement DynamicMasker.Inner.method")' in stub
    assert "        # TODO(ex4): store p\n        raise" in stub
    assert "            # TODO(ex4): something nested\n            raise" in stub
    assert "helper" not in stub and "self.p = p" not in stub
    ast.parse(stub)


def test_stub_keeps_code_outside_the_region_and_the_region_indentation():
    stub = stub_of(
        """
        def check_then_compute(x):
            if x < 0:
                raise ValueError("x must be >= 0")
            # BEGIN SOLUTION: compute the square root
            return x ** 0.5
            # END SOLUTION
        """,
        exercise_id="ex2",
    )
    assert 'raise ValueError("x must be >= 0")' in stub
    assert "    # TODO(ex2): compute the square root\n" in stub
    assert '    raise NotImplementedError("ex2: implement check_then_compute")\n' in stub
    assert "x ** 0.5" not in stub


def test_a_file_without_markers_is_copied_unchanged():
    source = "def f():\n    return 1  # a comment\n"
    assert make_stub(source, "ex1") == source


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("def f():\n    # BEGIN SOLUTION: x\n    return 1\n", "without its END SOLUTION", 2),
        ("def f():\n    return 1\n    # END SOLUTION\n", "END SOLUTION without a BEGIN SOLUTION", 3),
        (
            (
                "def f():\n    # BEGIN SOLUTION: a\n    # BEGIN SOLUTION: b\n    return 1\n"
                "    # END SOLUTION\n    # END SOLUTION\n"
            ),
            "cannot nest",
            3,
        ),
        ("X = 1\n# BEGIN SOLUTION: x\nY = 2\n# END SOLUTION\n", "outside a function", 2),
        (
            "class C:\n    # BEGIN SOLUTION: x\n    y = 2\n    # END SOLUTION\n",
            "outside a function",
            2,
        ),
        (
            (
                "def f():\n    # BEGIN SOLUTION: a\n    x = 1\n    # END SOLUTION\n"
                "    # BEGIN SOLUTION: b\n    return x\n    # END SOLUTION\n"
            ),
            "one region per function",
            5,
        ),
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "TODO text", 2),
        ("def f():\n    x = 1  # BEGIN SOLUTION: a\n    return x\n", "line of its own", 2),
        (
            "def f():\n    # BEGIN SOLUTION: a\n    return 1\n# END SOLUTION\n",
            "indented differently",
            4,
        ),
    ],
    ids=[
        "unclosed",
        "end-without-begin",
        "nested",
        "module-level",
        "class-body",
        "two-in-one-function",
        "no-todo-text",
        "shares-a-line",
        "end-indentation",
    ],
)
def test_malformed_markers_are_errors_naming_file_and_line(source, message, line):
    with pytest.raises(StubError) as raised:
        make_stub(source, "ex1", filename="solutions/ex1_softmax.py")
    assert message in str(raised.value)
    assert f"solutions/ex1_softmax.py:{line}:" in str(raised.value)


def test_markers_in_a_file_that_is_no_exercise_module_are_an_error(tmp_path):
    (tmp_path / "helpers.py").write_text(
        "def f():\n    # BEGIN SOLUTION: x\n    return 1\n    # END SOLUTION\n"
    )
    with pytest.raises(StubError, match="helpers.py"):
        render_exercises(tmp_path)


def test_render_skips_the_notebook_and_caches_and_keeps_other_learner_files(tmp_path):
    (tmp_path / "ex1_softmax.py").write_text(
        "def f():\n    # BEGIN SOLUTION: one\n    return 1\n    # END SOLUTION\n"
    )
    (tmp_path / "walkthrough.ipynb").write_text("{}")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "ex1_softmax.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tiny_vocab.txt").write_text("[PAD]\n[MASK]\n")
    rendered = render_exercises(tmp_path)
    assert sorted(rendered) == ["data/tiny_vocab.txt", "ex1_softmax.py"]
    assert 'raise NotImplementedError("ex1: implement f")' in rendered["ex1_softmax.py"]


def test_write_then_check_a_temporary_copy(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS_DIR, solutions, ignore=shutil.ignore_patterns("__pycache__"))
    exercises = tmp_path / "exercises"
    first = release.write_exercises(exercises, solutions_dir=solutions)
    assert first and all(line.startswith("added") for line in first)
    assert check_exercises(exercises, solutions_dir=solutions) == []
    assert release.write_exercises(exercises, solutions_dir=solutions) == []

    (exercises / "ex1_softmax.py").write_text("tampered\n")
    (exercises / "stale.py").write_text("x = 1\n")
    (exercises / "model.py").unlink()
    drift = check_exercises(exercises, solutions_dir=solutions)
    assert any("differs" in line and "exercises/ex1_softmax.py" in line for line in drift), drift
    assert any("extra" in line and "exercises/stale.py" in line for line in drift), drift
    assert any("missing" in line and "exercises/model.py" in line for line in drift), drift
    with pytest.raises(release.EditedFiles) as edited:
        release.write_exercises(exercises, solutions_dir=solutions)
    assert edited.value.files == ["exercises/ex1_softmax.py", "exercises/stale.py"]
    assert (exercises / "ex1_softmax.py").read_text() == "tampered\n", (
        "nothing is written when files hold edits"
    )
    changes = release.write_exercises(exercises, solutions_dir=solutions, force=True)
    assert sorted(changes) == [
        "added   exercises/model.py",
        "removed exercises/stale.py",
        "updated exercises/ex1_softmax.py",
    ]
    assert check_exercises(exercises, solutions_dir=solutions) == []


def test_release_rewrites_files_a_release_wrote_when_solutions_change(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS_DIR, solutions, ignore=shutil.ignore_patterns("__pycache__"))
    exercises = tmp_path / "exercises"
    release.write_exercises(exercises, solutions_dir=solutions)
    recorded = json.loads((exercises / release.MANIFEST).read_text())
    assert set(recorded) == set(render_exercises(solutions))
    hints = solutions / "hints.py"
    hints.write_text(hints.read_text() + "\n# a new hint\n")
    assert release.edited_files(exercises, solutions_dir=solutions) == []
    assert release.write_exercises(exercises, solutions_dir=solutions) == ["updated exercises/hints.py"]


def test_without_a_record_or_git_nothing_counts_as_edited(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS_DIR, solutions, ignore=shutil.ignore_patterns("__pycache__"))
    exercises = tmp_path / "exercises"
    release.write_exercises(exercises, solutions_dir=solutions)
    (exercises / release.MANIFEST).unlink()
    (exercises / "ex1_softmax.py").write_text("tampered\n")
    assert release.edited_files(exercises, solutions_dir=solutions) == []


def test_the_demo_class_takes_stubs_made_from_solutions_not_the_working_exercises(tmp_path, monkeypatch):
    from autograder.demo import classroom

    tried = tmp_path / "working-exercises"
    shutil.copytree(EXERCISES_DIR, tried, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(SOLUTIONS_DIR / "ex1_softmax.py", tried / "ex1_softmax.py")  # the instructor tried ex1
    monkeypatch.setattr("autograder.manifest.EXERCISES_DIR", tried)
    monkeypatch.setattr("autograder.release.tree.EXERCISES_DIR", tried)
    folders = classroom.write_demo_class(tmp_path / "demo")
    not_started = next(folder for folder in folders if folder.name == "demo-not-started")
    stubs = render_exercises(SOLUTIONS_DIR)
    assert sorted(p.name for p in not_started.iterdir()) == sorted(ex.filename for ex in EXERCISES)
    for exercise in EXERCISES:
        assert (not_started / exercise.filename).read_text() == stubs[exercise.filename]
    assert "EXERCISES_DIR" not in Path(classroom.__file__).read_text()


# --- the real exercises/ ----------------------------------------------------------------------------


def test_exercises_folder_is_exactly_what_solutions_make():
    rendered = render_exercises()
    for relative, content in rendered.items():
        path = EXERCISES_DIR / relative
        assert path.is_file(), f"exercises/{relative} is missing: run `python -m autograder release`"
        assert path.read_text(encoding="utf-8") == content, (
            f"exercises/{relative} is not what solutions/{relative} makes: run `python -m autograder release`"
        )
    assert check_exercises() == []


@pytest.mark.parametrize("exercise", EXERCISES, ids=[ex.id for ex in EXERCISES])
def test_each_stub_has_its_todo_and_raises_for_every_public_name(exercise):
    solution = (SOLUTIONS_DIR / exercise.filename).read_text(encoding="utf-8")
    stub = (EXERCISES_DIR / exercise.filename).read_text(encoding="utf-8")
    assert release.find_regions(solution), f"solutions/{exercise.filename} has no solution region"
    assert f"# TODO({exercise.id}): " in stub
    ast.parse(stub)
    raised = {
        node.exc.args[0].value
        for node in ast.walk(ast.parse(stub))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", None) == "NotImplementedError"
    }
    for name in exercise.names:
        assert any(
            message == f"{exercise.id}: implement {name}"
            or message.startswith(f"{exercise.id}: implement {name}.")
            for message in raised
        ), f"no stub raises NotImplementedError('{exercise.id}: implement {name}...'); found {sorted(raised)}"


def test_no_stub_contains_solution_code():
    leaked = solution_only_lines()
    assert leaked, "found no solution code to look for: are the solution regions empty?"
    for path in sorted(EXERCISES_DIR.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path
        found = leaked & stripped_lines(path.name, path.read_bytes())
        assert not found, f"{path.relative_to(REPO_ROOT)} contains solution code: {sorted(found)[:3]}"


def test_stubs_are_ruff_clean_apart_from_unused_imports():
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    result = subprocess.run(
        [
            *command,
            "check",
            "--ignore",
            "F401",
            "--no-cache",
            *(str(EXERCISES_DIR / exercise.filename) for exercise in EXERCISES),
        ],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the command line -------------------------------------------------------------------------------


def test_release_check_passes_on_the_repository():
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "release", "--check"],
        check=False,
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "current" in result.stdout


def copy_of_repository(dest: Path, *, with_notebook: bool) -> Path:
    ignore = ["__pycache__", "*.pyc"] + ([] if with_notebook else ["walkthrough.ipynb"])
    for name in ("autograder", "solutions", "exercises"):
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=shutil.ignore_patterns(*ignore))
    shutil.copy(REPO_ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_release_check_fails_on_a_tampered_copy_and_release_repairs_it_only_when_forced(tmp_path):
    repo = copy_of_repository(tmp_path / "repo", with_notebook=False)
    (repo / "exercises" / release.MANIFEST).unlink(missing_ok=True)
    release.write_exercises(repo / "exercises", solutions_dir=repo / "solutions")  # what a release wrote
    stub = repo / "exercises" / "ex2_distillation.py"
    stub.write_text(stub.read_text() + "\n# edited by hand\n")
    env = dict(os.environ, PYTHONPATH=str(repo))

    check = subprocess.run(
        [sys.executable, "-m", "autograder", "release", "--check"],
        check=False,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    assert "exercises/ex2_distillation.py" in check.stdout
    # Its advice is the command that works on hand edits, not the one that refuses them.
    assert check.stdout.splitlines()[-1] == (
        "exercises/ex2_distillation.py edited by hand since the last release: make the edits in solutions/, "
        "then run `python -m autograder release --force`."
    )
    assert stub.read_text().endswith("# edited by hand\n"), "--check must not write"

    refused = subprocess.run(
        [sys.executable, "-m", "autograder", "release", "--bundle", str(tmp_path / "bundle.zip")],
        check=False,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert (
        "release stopped, nothing written: exercises/ex2_distillation.py changed since the last release"
        in (refused.stderr)
    )
    assert "--force" in refused.stderr
    assert stub.read_text().endswith("# edited by hand\n") and not (tmp_path / "bundle.zip").exists()

    rewrite = subprocess.run(
        [sys.executable, "-m", "autograder", "release", "--force"],
        check=False,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert rewrite.returncode == 0, rewrite.stdout + rewrite.stderr
    assert "updated exercises/ex2_distillation.py" in rewrite.stdout
    assert stub.read_text() == (REPO_ROOT / "exercises" / "ex2_distillation.py").read_text()


def test_release_reports_a_malformed_solution_and_writes_nothing(tmp_path):
    repo = copy_of_repository(tmp_path / "repo", with_notebook=False)
    solution = repo / "solutions" / "ex1_softmax.py"
    solution.write_text(solution.read_text().replace("# END SOLUTION", "# (end marker lost)", 1))
    before = {path.name: path.read_text() for path in (repo / "exercises").glob("*.py")}
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "release"],
        check=False,
        cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "solutions/ex1_softmax.py:" in result.stderr
    assert {path.name: path.read_text() for path in (repo / "exercises").glob("*.py")} == before


# --- the learner bundle -----------------------------------------------------------------------------


def expected_bundle_files() -> set[str]:
    files = {"README.md", "pyproject.toml"} | {f"exercises/{name}" for name in render_exercises()}
    if (EXERCISES_DIR / "walkthrough.ipynb").is_file():
        files.add("exercises/walkthrough.ipynb")
    return files


def assert_no_solution_or_grader_content(files: dict[str, bytes]) -> None:
    leaked_lines = solution_only_lines()
    for name, data in files.items():
        assert not name.startswith(("solutions/", "autograder/", "tests/")), name
        text = data.decode("utf-8", errors="replace")
        for forbidden in FORBIDDEN_IN_BUNDLE:
            assert forbidden not in text, f"{name} contains {forbidden!r}"
        found = leaked_lines & stripped_lines(name, data)
        assert not found, f"{name} contains solution code: {sorted(found)[:3]}"


def test_bundle_folder_holds_exactly_the_learner_files(tmp_path):
    bundle = build_bundle(tmp_path / "course")
    files = {
        path.relative_to(bundle).as_posix(): path.read_bytes() for path in bundle.rglob("*") if path.is_file()
    }
    assert set(files) == expected_bundle_files()
    assert_no_solution_or_grader_content(files)
    for exercise in EXERCISES:
        assert files[f"exercises/{exercise.filename}"] == (EXERCISES_DIR / exercise.filename).read_bytes()


def test_bundle_zip_holds_one_folder_and_is_reproducible(tmp_path):
    first = build_bundle(tmp_path / "one" / "course.zip")
    second = build_bundle(tmp_path / "two" / "course.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist()}
    assert {name.removeprefix("course/") for name in files} == expected_bundle_files()
    assert all(name.startswith("course/") for name in files)
    assert_no_solution_or_grader_content(files)


def test_bundle_refuses_to_overwrite_an_unrelated_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_bundle(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    build_bundle(tmp_path / "course")
    build_bundle(tmp_path / "course")


def test_bundle_readme_and_pyproject_tell_the_learner_what_to_do(tmp_path):
    bundle = build_bundle(tmp_path / "course")
    readme = (bundle / "README.md").read_text(encoding="utf-8")
    assert readme.index("pip install -e .") < readme.index("pytest exercises") < readme.index("| ex1 |")
    for exercise in EXERCISES:
        row = next(line for line in readme.splitlines() if line.startswith(f"| {exercise.id} |"))
        assert f"exercises/{exercise.filename}" in row and f"pytest exercises -m {exercise.id}" in row
    for needed in (
        "python -m exercises.hints ex",
        "not started",
        "jupyter lab",
        "python -m exercises.handin STUDENT_ID",
    ):
        assert needed in readme

    project = tomllib.loads((bundle / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = project["project"]["dependencies"]
    assert "torch>=2.2" in dependencies and "numpy" in dependencies
    assert any(dep.startswith("pytest") for dep in dependencies)
    assert project["tool"]["setuptools"]["packages"] == ["exercises"]
    notebook_extra = " ".join(project["project"]["optional-dependencies"]["notebook"])
    assert "nbgrader" in notebook_extra and "jupyterlab" in notebook_extra
    installed = " ".join(dependencies) + " " + notebook_extra
    for module in notebook_imports(EXERCISES_DIR / "walkthrough.ipynb"):
        distribution = {"sklearn": "scikit-learn", "IPython": "ipython"}.get(module, module)
        assert distribution in installed, (
            f"the notebook imports {module}, which `pip install -e .[notebook]` does not install"
        )
    markers = project["tool"]["pytest"]["ini_options"]["markers"]
    assert [marker.split(":")[0] for marker in markers] == [ex.id for ex in EXERCISES]


def notebook_imports(path: Path) -> set[str]:
    """The top-level modules a notebook's code cells import, less the standard library's."""
    modules = set()
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            for line in "".join(cell["source"]).splitlines():
                match = re.match(r"\s*(?:import|from)\s+([A-Za-z_]\w*)", line)
                if match:
                    modules.add(match.group(1))
    return modules - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.slow
def test_bundle_installs_in_a_fresh_venv_and_reports_nothing_done(learner_machine, tmp_path):
    """The bundle installed in a fresh venv (the shared learner venv of tests/conftest.py): its checks run
    and report that nothing is done yet."""
    bundle = shutil.copytree(learner_machine.bundle, tmp_path / "course")
    python = learner_machine.python
    env = learner_machine.env

    checks = subprocess.run(
        [str(python), "-m", "pytest", "exercises"],
        check=False,
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = checks.stdout + checks.stderr
    assert checks.returncode != 0, output
    assert "0 of 5 done" in output, output
    for exercise in EXERCISES:
        assert f"not started  -> open exercises/{exercise.filename}" in output, output
    assert "Traceback" not in output, output
