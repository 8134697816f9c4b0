"""Watch mode as a learner uses it: ``python -m exercises.watch`` in a terminal (a real pseudo-terminal).

The learner bundle is built in a temporary folder with ex1 already solved; the watcher starts on ex2, a
correct ex2 is saved, and the watcher must say so and move on to ex3; ``h`` shows ex3's first hint and
``q`` ends it. Waits for output have a generous deadline and assert nothing about time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from autograder.layout import SOLUTIONS_DIR
from autograder.release import build_bundle

DEADLINE_SECONDS = 600


def learner_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    bundle = build_bundle(tmp_path / "course")
    shutil.copyfile(SOLUTIONS_DIR / "ex1_softmax.py", bundle / "exercises" / "ex1_softmax.py")
    return bundle


def test_watch_moves_on_when_a_saved_exercise_passes_and_answers_keys(bundle):
    watcher = pexpect.spawn(
        sys.executable,
        ["-m", "exercises.watch"],
        cwd=str(bundle),
        env=learner_env(),
        encoding="utf-8",
        timeout=DEADLINE_SECONDS,
        dimensions=(60, 200),
    )
    try:
        watcher.expect_exact("ex1  softmax with a temperature  done")
        watcher.expect_exact("[watching exercises/, on ex2]")
        shutil.copyfile(SOLUTIONS_DIR / "ex2_distillation.py", bundle / "exercises" / "ex2_distillation.py")
        watcher.expect_exact("ex2 done: on to ex3")
        watcher.expect_exact("not started  -> open exercises/ex3_layers.py")
        watcher.expect_exact("[watching exercises/, on ex3]")
        watcher.send("h")
        watcher.expect_exact("ex3 hint 1 of 4: student_layer_indices is a one-liner")
        watcher.send("q")
        watcher.expect(pexpect.EOF)
    finally:
        watcher.close(force=True)
    assert watcher.exitstatus == 0
    assert "Traceback" not in (watcher.before or "")


def test_watch_answers_help_and_names_a_mistyped_argument(bundle):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "exercises.watch", *args],
            check=False,
            cwd=bundle,
            env=learner_env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    helped = run("--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m exercises.watch"), helped
    assert "h shows the next hint" in helped.stdout and "q quits" in helped.stdout, helped
    mistyped = run("ex2")
    assert mistyped.returncode == 2 and mistyped.stdout == "", mistyped
    assert mistyped.stderr.splitlines() == [
        "python -m exercises.watch: unrecognized arguments: ex2 (see python -m exercises.watch --help)"
    ], mistyped
