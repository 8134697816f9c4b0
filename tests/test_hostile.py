"""Hostile submissions against the real graders: the batch completes, every submission has a row, the
hostile exercise scores no more than an honest wrong answer, and the other exercises keep their points.

Each hostile submission is the reference solution with one exercise file replaced. They are graded in
one batch (``--jobs 2``, a 3 s timeout per call) and the tests read the results.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from autograder import grading
from autograder.manifest import EXERCISES, SOLUTIONS_DIR

SOLUTION_EX1 = (SOLUTIONS_DIR / "ex1_softmax.py").read_text()

ZEROS = """
import torch


def softmax_with_temperature(logits, temperature=1.0, dim=-1):
    return torch.zeros_like(logits)
"""

# name -> (exercise file replaced, its text). "{out}" is replaced by the batch's output folder.
HOSTILE: dict[str, tuple[str, str]] = {
    "hang_in_function": (
        "ex1_softmax.py",
        ("def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n    while True:\n        pass\n"),
    ),
    "sleep_at_import": ("ex1_softmax.py", "import time\ntime.sleep(1000)\n" + ZEROS),
    "loop_at_import": ("ex1_softmax.py", "while True:\n    pass\n" + ZEROS),
    "segfault": (
        "ex1_softmax.py",
        (
            "import ctypes\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    return ctypes.string_at(0)\n"
        ),
    ),
    # Crashes just before its limit, each time: a repeat in a new process gets only what is left of the
    # call's 3 s (the red team's submission saved its progress in shared memory and finished there).
    "segfault_late": (
        "ex1_softmax.py",
        (
            "import os, signal, time\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    time.sleep(2)\n"
            "    os.kill(os.getpid(), signal.SIGSEGV)\n"
        ),
    ),
    # A socket through the x32 system call numbers, which the seccomp filter answers by killing (SIGSYS).
    "foreign_abi_socket": (
        "ex1_softmax.py",
        (
            "import ctypes\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    ctypes.CDLL(None).syscall(0x40000000 | 41, 2, 1, 0)\n"
            "    return logits.softmax(dim)\n"
        ),
    ),
    "abort": (
        "ex1_softmax.py",
        ("import os\n\ndef softmax_with_temperature(logits, temperature=1.0, dim=-1):\n    os.abort()\n"),
    ),
    "sys_exit": (
        "ex1_softmax.py",
        ("import sys\n\ndef softmax_with_temperature(logits, temperature=1.0, dim=-1):\n    sys.exit(3)\n"),
    ),
    "os_exit": (
        "ex1_softmax.py",
        ("import os\n\ndef softmax_with_temperature(logits, temperature=1.0, dim=-1):\n    os._exit(0)\n"),
    ),
    "keyboard_interrupt": (
        "ex1_softmax.py",
        ("def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n    raise KeyboardInterrupt\n"),
    ),
    "exit_at_import": ("ex1_softmax.py", "import os\nos._exit(0)\n"),
    "syntax_error": ("ex1_softmax.py", "def softmax_with_temperature(logits:\n    return logits\n"),
    "missing_function": (
        "ex1_softmax.py",
        ZEROS.replace("def softmax_with_temperature", "def softmax_with_temp"),
    ),
    "wrong_type": (
        "ex1_softmax.py",
        (
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    return logits.softmax(dim).numpy()\n"
        ),
    ),
    "memory_hog": (
        "ex1_softmax.py",
        (
            "import torch\n\ndef softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    hog = torch.ones(50 * 2**30, dtype=torch.uint8)\n"
            "    return torch.zeros_like(logits) + hog[0]\n"
        ),
    ),
    "huge_output": (
        "ex1_softmax.py",
        ZEROS.replace("    return", "    print('x' * 100_000_000)\n    return"),
    ),
    "patches_torch": (
        "ex1_softmax.py",
        "import torch\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "torch.Tensor.__eq__ = lambda *a: torch.tensor(True)\n"
        "torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)\n" + ZEROS,
    ),
    "patches_pytest": (
        "ex1_softmax.py",
        "import pytest\n"
        "pytest.approx = lambda *a, **k: type('A', (), {'__eq__': lambda s, o: True})()\n" + ZEROS,
    ),
    "tensor_subclass": (
        "ex1_softmax.py",
        (
            "import torch\n\n"
            "class Agreeable(torch.Tensor):\n"
            "    def __eq__(self, other):\n        return True\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    return torch.zeros_like(logits).as_subclass(Agreeable)\n"
        ),
    ),
    "agreeable_object": (
        "ex1_softmax.py",
        (
            "class Agreeable:\n"
            "    def __eq__(self, other):\n        return True\n"
            "    def __getattr__(self, name):\n        return lambda *a, **k: self\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    return Agreeable()\n"
        ),
    ),
    "writes_results_dir": (
        "ex1_softmax.py",
        "from pathlib import Path\n"
        "for name in ('grades.csv', 'results/alice.json', 'hacked.txt'):\n"
        "    try:\n"
        "        Path('{out}', name).write_text('hacked')\n"
        "    except OSError:\n"
        "        pass\n" + ZEROS,
    ),
    "kills_parent": (
        "ex1_softmax.py",
        (
            "import os\nimport signal\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    for pid in (os.getppid(), 1):\n"
            "        try:\n            os.kill(pid, signal.SIGKILL)\n"
            "        except OSError:\n            pass\n"
            "    os.killpg(0, signal.SIGKILL)\n"
        ),
    ),
    "fork_bomb_lite": (
        "ex1_softmax.py",
        (
            "import ctypes\nimport os\nimport time\n\n"
            "def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "    for _ in range(4):\n"
            "        if os.fork() == 0:\n"
            "            os.setsid()\n"
            "            ctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)  # PR_SET_NAME: found in /proc\n"
            "            time.sleep(1000)\n            os._exit(0)\n"
            "    return logits * 0\n"
        ),
    ),
    # Cheating: the reference solutions, the demo's correct alternatives and a classmate's files are
    # installed or staged on the grading machine; none of them may be read.
    "imports_the_solution": (
        "ex1_softmax.py",
        (
            "import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'Refuse' not in type(f).__name__]\n"
            "from solutions.ex1_softmax import softmax_with_temperature\n"
        ),
    ),
    "reads_the_solution_file": (
        "ex1_softmax.py",
        (
            "import pathlib\n"
            "text = pathlib.Path('{solutions}', 'ex1_softmax.py').read_text()\n"
            "exec(text.replace('from .model', 'from staged_submission.model'))\n"
        ),
    ),
    "imports_a_demo_alternative": (
        "ex1_softmax.py",
        (
            "import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'Refuse' not in type(f).__name__]\n"
            "from autograder.demo import catalogue\n"
            "exec(catalogue.ALTERNATIVES[0].exercise_source())\n"
        ),
    ),
    "copies_a_classmate": (
        "ex1_softmax.py",
        (
            "import glob\nimport os\n"
            "mine = os.path.realpath('staged_submission/ex1_softmax.py')\n"
            "for path in glob.glob('/tmp/ag-batch-*/ag-grade-*/staged_submission/ex1_softmax.py'):\n"
            "    if os.path.realpath(path) != mine:\n"
            "        try:\n"
            "            exec(open(path).read().replace('from .model', 'from staged_submission.model'))\n"
            "            break\n"
            "        except Exception:\n"
            "            pass\n"
            "else:\n"
            "    import torch\n\n"
            "    def softmax_with_temperature(logits, temperature=1.0, dim=-1):\n"
            "        return torch.zeros_like(logits)\n"
        ),
    ),
    "hangs_in_ex4": (
        "ex4_masking.py",
        (
            "class DynamicMasker:\n    def __init__(self, *args, **kwargs):\n"
            "        while True:\n            pass\n"
        ),
    ),
}
HONEST_WRONG = "honest_zeros"
CORRECT_WITH_EXTRAS = "brings_conftest_and_model"


def _write(folder: Path, replaced: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for exercise in EXERCISES:
        shutil.copyfile(SOLUTIONS_DIR / exercise.filename, folder / exercise.filename)
    for filename, text in replaced.items():
        (folder / filename).write_text(text)
    return folder


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    out = root / "out"
    marker = f"agbomb{os.getpid() % 100000}"
    paths = []
    for name, (filename, text) in HOSTILE.items():
        text = text.replace("{out}", str(out)).replace("{marker}", marker)
        text = text.replace("{solutions}", str(SOLUTIONS_DIR))
        paths.append(_write(root / "class" / name, {filename: text.replace("{{", "{").replace("}}", "}")}))
    paths.append(_write(root / "class" / HONEST_WRONG, {"ex1_softmax.py": ZEROS}))
    extras = _write(root / "class" / CORRECT_WITH_EXTRAS, {})
    (extras / "conftest.py").write_text("import os\nos._exit(1)\n")
    (extras / "model.py").write_text("raise RuntimeError('my own model')\n")
    (extras / "exercises").mkdir()
    (extras / "exercises" / "model.py").write_text("BertModel = None\n")
    paths.append(extras)
    results = grading.grade_submissions(paths, out, jobs=2, timeout=3, submission_timeout=240, memory_mb=1024)
    yield out, {r.student: r for r in results}, marker


def test_every_submission_has_a_row(batch):
    out, results, _ = batch
    with open(out / "grades.csv", newline="") as handle:
        students = [row[0] for row in list(csv.reader(handle))[1:]]
    assert sorted(students) == sorted([*HOSTILE, HONEST_WRONG, CORRECT_WITH_EXTRAS])
    assert all(result.error is None for result in results.values())


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_exercise_scores_no_more_than_an_honest_wrong_answer(batch, name):
    _, results, _ = batch
    exercise = "ex4" if name == "hangs_in_ex4" else "ex1"
    honest = results[HONEST_WRONG].exercise_scores()[exercise] if exercise == "ex1" else 0.0
    if name in ("fork_bomb_lite",):
        honest = results[HONEST_WRONG].exercise_scores()["ex1"]
    scores = results[name].exercise_scores()
    assert scores[exercise] <= honest, [
        c for c in results[name].checks if c.passed and c.exercise == exercise
    ]
    for other in (ex.id for ex in EXERCISES if ex.id != exercise):
        assert scores[other] == 20, (other, [c.message for c in results[name].checks if not c.passed][:3])


def test_own_conftest_and_model_are_ignored(batch):
    _, results, _ = batch
    assert results[CORRECT_WITH_EXTRAS].total == 100


def test_messages_say_what_happened(batch):
    _, results, _ = batch

    def first_message(name: str) -> str:
        return next(c.message for c in results[name].checks if c.exercise == "ex1" and not c.passed)

    assert "did not return within 3 s (an infinite loop?)" in first_message("hang_in_function")
    assert "Not run" in results["hang_in_function"].checks[-1].message or any(
        c.message.startswith("Not run") for c in results["hang_in_function"].checks
    )
    assert "importing ex1_softmax.py did not finish within 3 s" in first_message("sleep_at_import")
    assert "died (killed by signal SIGSEGV" in first_message("segfault")
    assert "died (killed by signal SIGABRT" in first_message("abort")
    # A crash is repeated once in a new process (a race can crash honest code); it crashed again.
    again = "and again when the call was repeated in a new process"
    assert again in first_message("segfault") and again in first_message("abort")
    assert again not in first_message("os_exit")
    assert "did not return within 3 s" in first_message("segfault_late")  # the repeat ran out of time
    # what a death says follows from how it died: no guess at memory for a refused call or an exit
    assert "died (killed by signal SIGSYS; it made a system call the sandbox refuses" in first_message(
        "foreign_abi_socket"
    )
    assert "died (exit code 0)" in first_message("os_exit")
    assert "raised SystemExit: 3" in first_message("sys_exit")
    assert "raised KeyboardInterrupt" in first_message("keyboard_interrupt")
    assert "died (exit code 0" in first_message("os_exit")
    assert first_message("syntax_error").startswith("ex1_softmax.py has a syntax error on line 1")
    assert first_message("missing_function") == (
        "MISSING FUNCTION --> ex1_softmax.py has no softmax_with_temperature: "
        "did you misname or forget to define it?"
    )
    assert "got a numpy.ndarray; the contract asks for a torch.Tensor" in first_message("wrong_type")
    assert "subclasses and look-alikes are not accepted" in first_message("tensor_subclass")
    assert "subclasses and look-alikes are not accepted" in first_message("agreeable_object")
    assert "raised" in first_message("memory_hog")


def test_results_folder_is_not_writable_by_the_submission(batch):
    out, _, _ = batch
    assert not (out / "hacked.txt").exists()
    assert "hacked" not in (out / "grades.csv").read_text()


def test_no_process_of_the_submission_outlives_the_batch(batch):
    _, results, marker = batch
    failures = [c.message for c in results["fork_bomb_lite"].checks if c.exercise == "ex1" and not c.passed]
    assert failures and all("PermissionError" in m for m in failures if "raised" in m), failures[:2]
    alive = [pid for pid in _processes() if _name(pid) == marker]
    assert alive == []


def test_the_fork_bomb_ran_and_named_its_processes(tmp_path):
    """The check above looks for processes by name: a process named like the fork bomb's is found."""
    import ctypes
    import subprocess
    import sys

    name = f"agprobe{os.getpid() % 100000}"
    code = f"import ctypes, time; ctypes.CDLL(None).prctl(15, b'{name}', 0, 0, 0); time.sleep(30)"
    probe = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            if any(_name(pid) == name for pid in _processes()):
                break
            ctypes.CDLL(None).usleep(50_000)
        assert any(_name(pid) == name for pid in _processes())
    finally:
        probe.kill()
        probe.wait()


def _processes() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and _is_running(int(entry))]


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
