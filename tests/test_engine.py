"""The grading engine: outputs, resume, bad paths, zips, jobs, determinism, the demo class.

Most tests use a small graders package written here (fast); the demo-class test runs the real graders.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from autograder import grading as engine
from autograder.cli import main
from autograder.manifest import EXERCISES, EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR

TOY_CONFTEST = (
    "from autograder.graders.conftest import pytest_addoption, pytest_configure, submission  # noqa\n"
)

TOY_GRADERS = {
    "ex1": """
import pytest
import torch
from autograder.wire.values import SubmissionRaised


@pytest.mark.points(12)
def test_softmax_matches_torch(submission):
    logits = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    got = submission.ex1.softmax_with_temperature(logits, 2.0)
    assert torch.allclose(got, torch.softmax(logits / 2.0, -1), atol=1e-6), "the probabilities differ"


@pytest.mark.points(8)
def test_softmax_rejects_zero_temperature(submission):
    with pytest.raises(SubmissionRaised) as info:
        submission.ex1.softmax_with_temperature(torch.zeros(2, 3), 0.0)
    assert info.value.is_a("ValueError"), f"expected a ValueError, got {info.value.type_name}"
""",
    "ex2": """
import pytest
import torch


@pytest.mark.points(20)
def test_distillation_loss_of_equal_logits_is_zero(submission):
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    got = submission.ex2.distillation_loss(logits, logits.clone())
    assert abs(float(got)) < 1e-6, f"got {float(got):.4g}, expected 0"
""",
    "ex3": """
import pytest


@pytest.mark.points(20)
def test_student_layer_indices_of_twelve(submission):
    got = submission.ex3.student_layer_indices(12)
    assert got == [0, 2, 4, 6, 8, 10], f"got {got}"
""",
    "ex4": """
import pytest
import torch
from autograder.wire.values import Seeded


@pytest.mark.points(20)
def test_masker_keeps_the_shape(submission):
    masker = submission.ex4.DynamicMasker(100, 3, [0, 1, 2])
    ids, labels = masker(torch.arange(10, 30).reshape(2, 10), Seeded(0))
    assert ids.shape == (2, 10) and labels.shape == (2, 10), "wrong shapes"
""",
    "ex5": """
import pytest
from solutions.model import BertConfig, BertModel


@pytest.mark.points(20)
def test_count_parameters_of_a_small_bert(submission):
    model = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=20, max_position_embeddings=32))
    got = submission.ex5.count_parameters(model)
    assert got == sum(p.numel() for p in model.parameters()), f"got {got}"
""",
}


def write_toy_graders(root: Path, overrides: dict[str, str] | None = None) -> Path:
    """A graders package with a unique name (pytest imports it by name), one file per exercise."""
    package = Path(root) / f"toy_graders_{uuid.uuid4().hex[:10]}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "conftest.py").write_text(TOY_CONFTEST)
    for exercise, source in {**TOY_GRADERS, **(overrides or {})}.items():
        (package / f"test_{exercise}_toy.py").write_text(source)
    return package


def copy_submission(source_dir: Path, dest: Path, replace: dict[str, str] | None = None) -> Path:
    dest.mkdir(parents=True)
    for exercise in EXERCISES:
        shutil.copyfile(source_dir / exercise.filename, dest / exercise.filename)
    for filename, text in (replace or {}).items():
        (dest / filename).write_text(text)
    return dest


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    return zip_path


WRONG_LAYERS = (
    (SOLUTIONS_DIR / "ex3_layers.py")
    .read_text()
    .replace("return list(range(0, num_teacher_layers, 2))", "return list(range(1, num_teacher_layers, 2))")
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_graders(tmp_path_factory.mktemp("graders"))


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    copy_submission(SOLUTIONS_DIR, root / "alice")
    copy_submission(SOLUTIONS_DIR, root / "bob", {"ex3_layers.py": WRONG_LAYERS})
    stubs = copy_submission(EXERCISES_DIR, root / "carol-folder")
    zip_folder(stubs, root / "carol.zip")
    shutil.rmtree(stubs)
    (root / "dave.zip").write_bytes(b"this is not a zip file")
    return root


def class_paths(class_dir: Path) -> list[Path]:
    return [class_dir / "alice", class_dir / "bob", class_dir / "carol.zip", class_dir / "dave.zip"]


@pytest.fixture(scope="module")
def graded(class_dir, toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    results = engine.grade_submissions(class_paths(class_dir), out, jobs=2, graders_dir=toy, timeout=10)
    return out, results


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_grades_csv_has_the_contract_header_and_one_sorted_row_per_student(graded):
    out, _ = graded
    rows = read_csv(out / "grades.csv")
    assert rows[0] == ["student", "ex1", "ex2", "ex3", "ex4", "ex5", "total", "max_total", "note"]
    assert [row[:8] for row in rows[1:]] == [
        ["alice", "20", "20", "20", "20", "20", "100", "100"],
        ["bob", "20", "20", "0", "20", "20", "80", "100"],
        ["carol", "0", "0", "0", "0", "0", "0", "100"],
        ["dave", "0", "0", "0", "0", "0", "0", "100"],
    ]


def test_results_json_follows_gradescope_format(graded):
    out, _ = graded
    data = json.loads((out / "results" / "bob.json").read_text())
    assert data["score"] == 80
    assert isinstance(data["execution_time"], (int, float)) and isinstance(data["output"], str)
    names = [test["name"] for test in data["tests"]]
    assert "ex3 test_student_layer_indices_of_twelve" in names
    assert all(name.split(" ")[0] in {ex.id for ex in EXERCISES} for name in names)
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] == "visible"
    failed = [t for t in data["tests"] if t["score"] < t["max_score"]]
    assert [t["name"] for t in failed] == ["ex3 test_student_layer_indices_of_twelve"]
    assert "[1, 3, 5, 7, 9, 11]" in failed[0]["output"]
    assert sum(t["max_score"] for t in data["tests"]) == 100


def test_each_results_file_records_what_graded_it(graded, toy, tmp_path):
    out, _ = graded
    results = (out / "results").glob("*.json")
    graded_with = [json.loads(path.read_text())["extra_data"]["provenance"] for path in results]
    assert graded_with and all(entry == graded_with[0] for entry in graded_with)
    entry = graded_with[0]
    limits = engine.make_limits(20, 2048, 300)
    assert entry["graders_sha256"] == engine.provenance(toy, limits)["graders_sha256"]
    assert entry["torch_version"] and entry["package_version"]
    assert set(entry["sandbox"]) >= {"landlock_abi", "namespaces", "seccomp_no_sockets_no_processes"}
    changed = shutil.copytree(toy, tmp_path / "changed")
    (changed / "test_ex1_toy.py").write_text((changed / "test_ex1_toy.py").read_text() + "\n# changed\n")
    assert engine.provenance(changed, limits)["graders_sha256"] != entry["graders_sha256"]


def test_not_started_and_corrupt_zip_get_clear_messages(graded):
    out, results = graded
    carol = json.loads((out / "results" / "carol.json").read_text())
    assert carol["tests"][0]["output"] == (
        "ex1 not started yet (exercises/ex1_softmax.py still raises NotImplementedError)"
    )
    dave = {r.student: r for r in results}["dave"]
    assert dave.error is not None and "not a readable zip" in dave.error
    assert len(dave.checks) == 6 and all(c.points == 0 for c in dave.checks)


def test_report_html_has_histogram_and_most_failed_checks(graded):
    out, _ = graded
    report = (out / "report.html").read_text()
    assert "<svg" in report and "<rect" in report
    assert 'id="misconceptions"' in report
    assert "test_student_layer_indices_of_twelve" in report
    assert "not started yet" in report
    for student in ("alice", "bob", "carol", "dave"):
        assert f">{student}<" in report


def test_jobs_two_gives_the_grades_of_jobs_one_and_grading_twice_is_identical(
    class_dir, toy, graded, tmp_path
):
    first_out, _ = graded
    engine.grade_submissions(class_paths(class_dir), tmp_path, jobs=1, graders_dir=toy, timeout=10)
    assert (tmp_path / "grades.csv").read_text() == (first_out / "grades.csv").read_text()
    for student in ("alice", "bob", "carol", "dave"):
        again = json.loads((tmp_path / "results" / f"{student}.json").read_text())
        before = json.loads((first_out / "results" / f"{student}.json").read_text())
        for data in (again, before):
            data.pop("execution_time")
        assert again == before


def test_zip_and_folder_of_the_same_work_grade_the_same(class_dir, toy, tmp_path):
    zipped = zip_folder(class_dir / "bob", tmp_path / "bob.zip")
    from_zip = engine.grade_one(zipped, graders_dir=toy, timeout=10)
    from_folder = engine.grade_one(class_dir / "bob", graders_dir=toy, timeout=10)
    assert from_zip.student == from_folder.student == "bob"
    assert from_zip.exercise_scores() == from_folder.exercise_scores()
    assert from_zip.total == 80


def test_resume_grades_only_the_missing_students_and_force_regrades(class_dir, toy, tmp_path):
    engine.grade_submissions(class_paths(class_dir)[:2], tmp_path, graders_dir=toy, timeout=10)
    alice_json = tmp_path / "results" / "alice.json"
    marked = json.loads(alice_json.read_text())
    marked["output"] = "kept from the first run"
    alice_json.write_text(json.dumps(marked))
    (tmp_path / "results" / "bob.json").unlink()  # as if the batch had been killed during bob

    results = engine.grade_submissions(class_paths(class_dir)[:3], tmp_path, graders_dir=toy, timeout=10)
    assert [r.student for r in results] == ["alice", "bob", "carol"]
    assert json.loads(alice_json.read_text())["output"] == "kept from the first run"
    assert (tmp_path / "results" / "bob.json").exists() and (tmp_path / "results" / "carol.json").exists()
    assert [row[0] for row in read_csv(tmp_path / "grades.csv")[1:]] == ["alice", "bob", "carol"]

    engine.grade_submissions(class_paths(class_dir)[:1], tmp_path, graders_dir=toy, timeout=10, force=True)
    assert json.loads(alice_json.read_text())["output"] != "kept from the first run"


def test_duplicate_student_ids_are_refused_before_grading(class_dir, toy, tmp_path):
    zipped = zip_folder(class_dir / "alice", tmp_path / "alice.zip")
    with pytest.raises(engine.DuplicateStudent, match="alice"):
        engine.grade_submissions([class_dir / "alice", zipped], tmp_path / "out", graders_dir=toy)
    assert not (tmp_path / "out").exists()


def test_a_path_that_is_neither_folder_nor_zip_is_refused(tmp_path, toy):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(engine.BadSubmission, match="notes.txt"):
        engine.grade_one(text_file, graders_dir=toy)
    good, problems = engine.partition_paths([text_file, tmp_path / "missing", tmp_path])
    assert good == [tmp_path.resolve()]
    assert len(problems) == 2 and "notes.txt" in problems[0] and "missing" in problems[1]


def test_cli_grades_the_good_paths_and_fails_for_a_bad_one(tmp_path, capsys):
    stubs = copy_submission(EXERCISES_DIR, tmp_path / "erin")
    status = main(["grade", str(stubs), str(tmp_path / "nowhere.zip"), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status != 0
    assert "nowhere.zip" in captured.err
    rows = read_csv(tmp_path / "out" / "grades.csv")
    assert rows[1][:8] == ["erin", "0", "0", "0", "0", "0", "0", "100"]


def test_points_that_do_not_sum_to_twenty_are_a_loud_grader_bug(tmp_path, class_dir):
    broken = TOY_GRADERS["ex3"].replace("points(20)", "points(15)")
    graders = write_toy_graders(tmp_path, {"ex3": broken})
    with pytest.raises(engine.GraderBug, match="ex3.*15"):
        engine.grade_one(class_dir / "alice", graders_dir=graders)


def test_an_exception_inside_a_grader_is_reported_as_a_grader_error(tmp_path, class_dir, capfd):
    buggy = TOY_GRADERS["ex3"].replace("got = submission", "got = 1 / 0 or submission")
    graders = write_toy_graders(tmp_path, {"ex3": buggy})
    result = engine.grade_one(class_dir / "alice", graders_dir=graders)
    check = next(c for c in result.checks if c.exercise == "ex3")
    assert check.points == 0 and check.message.startswith("grader error: ZeroDivisionError")
    assert "GRADER ERROR" in capfd.readouterr().err
    assert result.exercise_scores()["ex1"] == 20


def test_a_submission_over_its_wall_clock_limit_keeps_its_row(tmp_path, toy):
    hang = "import time\n\ndef student_layer_indices(n):\n    time.sleep(60)\n"
    folder = copy_submission(SOLUTIONS_DIR, tmp_path / "slow", {"ex3_layers.py": hang})
    results = engine.grade_submissions(
        [folder], tmp_path / "out", graders_dir=toy, timeout=30, submission_timeout=4
    )
    (result,) = results
    assert result.error is not None and "stopped after 4 s" in result.error
    assert result.exercise_scores()["ex3"] == 0
    assert result.exercise_scores()["ex1"] == 20 and result.exercise_scores()["ex2"] == 20
    assert read_csv(tmp_path / "out" / "grades.csv")[1][0] == "slow"


_KILLED_ENGINE = """
import sys
from autograder.grading import grade_submissions
grade_submissions([sys.argv[1]], sys.argv[2], graders_dir=sys.argv[3], timeout=600, submission_timeout=600)
"""


def _wait_for(condition, what: str, seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _cgroup_folders(name: str) -> list[Path]:
    from autograder.sandbox.cgroups import CGROUP_CONTROLLERS, _own_cgroup

    owns = [_own_cgroup(controller) for controller in CGROUP_CONTROLLERS]
    return [own / name for own in owns if own is not None and (own / name).exists()]


def test_what_a_killed_engine_left_behind_is_removed_by_the_next_run(tmp_path, toy, class_dir, monkeypatch):
    """An engine killed with SIGKILL mid-batch cannot remove its staging folder (a learner's code in the
    temp folder) or its cgroups: the next run removes them, and only those of engines that are gone."""
    temp = Path(tempfile.mkdtemp(prefix="killed-engine-"))  # reachable by the workers (nobody)
    temp.chmod(0o711)
    try:
        _kill_an_engine_then_grade(temp, tmp_path, toy, class_dir, monkeypatch)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _kill_an_engine_then_grade(temp: Path, tmp_path: Path, toy: Path, class_dir: Path, monkeypatch) -> None:
    hang = "import time\n\ndef student_layer_indices(n):\n    time.sleep(600)\n"
    folder = copy_submission(SOLUTIONS_DIR, tmp_path / "hangs", {"ex3_layers.py": hang})
    environment = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-c", _KILLED_ENGINE, str(folder), str(tmp_path / "out"), str(toy)]
    engine_process = subprocess.Popen(command, env=environment, cwd=REPO_ROOT)
    try:
        _wait_for(lambda: list(temp.glob("ag-batch-*/ag-grade-*/staged_submission")), "the staged submission")
    finally:
        engine_process.kill()
        engine_process.wait()
    (left,) = temp.glob("ag-batch-*")
    assert left.name.startswith(f"ag-batch-{engine_process.pid}-")
    cgroups = _cgroup_folders(f"autograder-{engine_process.pid}")  # as root: the batch's, maybe still in use
    alive = temp / f"ag-batch-{os.getpid()}-of-a-running-engine"
    alive.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))

    (result,) = engine.grade_submissions([class_dir / "alice"], tmp_path / "out2", graders_dir=toy)

    assert result.total == 100
    assert sorted(p.name for p in temp.iterdir()) == [alive.name]  # the running engine's folder stays
    assert [f for f in cgroups if f.exists()] == []


def test_a_gone_batchs_cgroups_are_removed_with_a_process_still_in_them():
    """A process still in a killed batch's cgroups (one that joined them after the engine died, on its way
    out) is killed and the folders removed; the folders of a batch whose process runs stay."""
    from autograder.sandbox.cgroups import CGROUP_CONTROLLERS, _own_cgroup, _remove_leftovers

    printed = [sys.executable, "-c", "import os; print(os.getpid())"]
    gone = subprocess.run(printed, capture_output=True, check=True)
    sleeper = subprocess.Popen(["sleep", "600"])
    owns = [_own_cgroup(controller) for controller in CGROUP_CONTROLLERS] if os.geteuid() == 0 else []
    made: list[Path] = []
    try:
        for own in filter(None, owns):
            worker = own / f"autograder-{int(gone.stdout)}" / "w1"
            worker.mkdir(parents=True)
            made.append(worker.parent)
            (worker / "cgroup.procs").write_text(str(sleeper.pid))
            (own / f"autograder-{sleeper.pid}" / "w2").mkdir(parents=True)  # a batch whose process runs
        assert len(made) == (len(CGROUP_CONTROLLERS) if os.geteuid() == 0 else 0)

        for own in filter(None, owns):
            _remove_leftovers(own)

        assert [folder for folder in made if folder.exists()] == []
        if made:
            assert sleeper.wait() == -signal.SIGKILL
        assert all((own / f"autograder-{sleeper.pid}" / "w2").is_dir() for own in filter(None, owns))
    finally:
        sleeper.kill()
        sleeper.wait()
        for own in filter(None, owns):
            for folder in (own / f"autograder-{sleeper.pid}" / "w2", own / f"autograder-{sleeper.pid}"):
                with contextlib.suppress(OSError):
                    folder.rmdir()


def test_only_the_leftovers_of_a_gone_process_of_this_user_are_removed(tmp_path):
    from autograder.grading.staging import remove_leftovers

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True, text=True
    )
    gone_pid = int(gone.stdout)
    made = {
        "gone": tmp_path / f"ag-batch-{gone_pid}-abc",
        "running": tmp_path / f"ag-batch-{os.getpid()}-abc",
        "no pid": tmp_path / "ag-batch-abc",
        "other prefix": tmp_path / f"ag-intake-{gone_pid}-abc",
    }
    for folder in made.values():
        (folder / "staged_submission").mkdir(parents=True)
    a_file = tmp_path / f"ag-batch-{gone_pid}-file"
    a_file.write_text("")

    removed = remove_leftovers("ag-batch-", tmp_path)

    assert removed == [made["gone"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [a_file.name, *(f.name for k, f in made.items() if k != "gone")]
    )


def test_the_graders_run_by_hand_leave_no_staged_copy(tmp_path):
    """``pytest autograder/graders --submission-dir DIR`` (developing graders) stages DIR in the temp
    folder and removes it when the session ends."""
    environment = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "autograder/graders/test_ex1_softmax.py",
    ]
    done = subprocess.run(
        [*command, "--submission-dir", str(SOLUTIONS_DIR)],
        check=False,
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_reply_beyond_the_grading_process_memory_limit_fails_that_check_only(
    tmp_path, toy, class_dir, monkeypatch
):
    """The grading child has a memory limit of its own (lowered here, so that a reply within the wire's
    bounds passes it): the reply that would take it past fails its check, nothing else."""
    from autograder.wire import frame

    monkeypatch.setattr(frame, "grading_memory_limit_bytes", lambda vm_size: vm_size + 300 * 1024 * 1024)
    huge = "import torch\n\ndef student_layer_indices(n):\n    return torch.zeros(120_000_000)\n"
    folder = copy_submission(SOLUTIONS_DIR, tmp_path / "huge", {"ex3_layers.py": huge})
    results = engine.grade_submissions(
        [folder, class_dir / "alice"], tmp_path / "out", jobs=2, graders_dir=toy, timeout=30
    )
    hog, neighbour = results
    assert hog.error is None and neighbour.error is None
    (check,) = [c for c in hog.checks if c.exercise == "ex3"]
    assert check.points == 0 and "memory limit" in check.message, check.message
    assert [hog.exercise_scores()[ex] for ex in ("ex1", "ex2", "ex4", "ex5")] == [20, 20, 20, 20]
    assert neighbour.total == 100


def test_demo_class_command_grades_solution_stubs_and_mistakes(tmp_path, capsys):
    out = tmp_path / "demo-out"
    status = main(["grade", "--out", str(out), "--jobs", "2"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    rows = {row[0]: row for row in read_csv(out / "grades.csv")[1:]}
    assert rows["demo-solution"][6:8] == ["100", "100"]
    assert rows["demo-not-started"][6] == "0"
    mistakes = [name for name in rows if name not in ("demo-solution", "demo-not-started")]
    assert len(mistakes) >= 3
    assert all(0 < float(rows[name][6]) < 100 for name in mistakes)
    assert (out / "demo-submissions" / "demo-solution").is_dir()
    assert "demo-solution" in captured.out and "total" in captured.out


LATE_EX3 = """
import sys

import pytest


@pytest.mark.points(15)
def test_student_layer_indices_of_twelve(submission):
    got = submission.ex3.student_layer_indices(12)
    assert got == [0, 2, 4, 6, 8, 10], f"got {{got}}"


@pytest.mark.points(5)
@pytest.mark.needs("{module}")
def test_student_layer_indices_of_four_with_the_module_loaded(submission):
    assert "{module}" in sys.modules, "graded without the module it needs"
    got = submission.ex3.student_layer_indices(4)
    assert got == [0, 2], f"got {{got}}"
"""


def late_module(root: Path) -> str:
    """A module no process has imported yet, beside the toy graders (on their sys.path)."""
    name = f"late_module_{uuid.uuid4().hex[:10]}"
    (Path(root) / f"{name}.py").write_text("VALUE = 1\n")
    return name


def test_a_check_that_needs_a_module_is_graded_apart_and_merged(tmp_path, class_dir):
    graders = write_toy_graders(tmp_path, {"ex3": LATE_EX3.format(module=late_module(tmp_path))})
    results = engine.grade_submissions(
        [class_dir / "alice", class_dir / "bob"], tmp_path / "out", graders_dir=graders, jobs=2
    )
    alice, bob = results
    assert alice.total == 100, [c.message for c in alice.checks if not c.passed]
    assert [c.name for c in alice.checks if c.exercise == "ex3"] == [
        "test_student_layer_indices_of_twelve",
        "test_student_layer_indices_of_four_with_the_module_loaded",
    ]
    assert bob.exercise_scores()["ex3"] == 0 and bob.exercise_scores()["ex1"] == 20
    saved = json.loads((tmp_path / "out" / "results" / "alice.json").read_text())
    assert len(saved["tests"]) == len(alice.checks)


def test_a_late_pass_that_dies_costs_only_the_checks_it_grades(tmp_path, class_dir, monkeypatch):
    import os

    module = late_module(tmp_path)
    graders = write_toy_graders(tmp_path, {"ex3": LATE_EX3.format(module=module)})
    from autograder.grading import late

    monkeypatch.setattr(late, "_late_pass", lambda *args: os._exit(3))
    (result,) = engine.grade_submissions([class_dir / "alice"], tmp_path / "out", graders_dir=graders)
    late = next(c for c in result.checks if c.name.endswith("with_the_module_loaded"))
    assert not late.passed and f"checks that need {module} ended" in late.message
    assert result.total == 95 and result.exercise_scores()["ex1"] == 20
    assert (tmp_path / "out" / "results" / "alice.json").exists()


def test_children_run_the_session_collected_once_and_grade_as_their_own_pytest_would(
    tmp_path, class_dir, monkeypatch
):
    """The engine collects the graders once and each grading child runs that session (its main or late
    part); where pytest cannot hold a session, each child runs ``pytest.main``: both grade alike."""
    from autograder.grading import plan as plan_module
    from autograder.grading.session import CollectedChecks

    graders = write_toy_graders(tmp_path, {"ex3": LATE_EX3.format(module=late_module(tmp_path))})
    paths = [class_dir / "alice", class_dir / "bob"]
    assert engine.prepare(graders).session is not None
    held = engine.grade_submissions(paths, tmp_path / "held", graders_dir=graders, jobs=2)

    def cannot(cls, graders_dir):
        raise RuntimeError("this pytest cannot hold a session")

    plan_module._collect.cache_clear()
    monkeypatch.setattr(CollectedChecks, "collect", classmethod(cannot))
    try:
        assert engine.prepare(graders).session is None
        own = engine.grade_submissions(paths, tmp_path / "own", graders_dir=graders, jobs=2)
    finally:
        plan_module._collect.cache_clear()

    def seen(results):
        return [[(c.exercise, c.name, c.points, c.passed, c.message) for c in r.checks] for r in results]

    assert seen(held) == seen(own)
    assert [r.total for r in held] == [100, 80]


def test_graders_that_need_a_module_not_installed_are_a_loud_grader_bug(tmp_path, class_dir):
    graders = write_toy_graders(tmp_path, {"ex3": LATE_EX3.format(module="no_such_module_here")})
    with pytest.raises(engine.GraderBug, match="no_such_module_here"):
        engine.grade_one(class_dir / "alice", graders_dir=graders)


def test_the_engine_grades_without_importing_transformers():
    """Only the late pass imports it (4 s or more, and a fifth of the memory every fork copies)."""
    import subprocess
    import sys

    code = "import sys\nfrom autograder.grading import prepare\n"
    code += "prepare()\nprint('transformers' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    engine.prepare()
    late = engine.prepare().needs
    assert late and set(late.values()) == {("transformers",)}
    assert ("ex3", "test_halve_layers_works_on_transformers_models") in late
