"""Watch mode as a learner uses it: ``python -m exercises.watch`` in a terminal (a real pseudo-terminal),
and with its output going to a pipe (an editor's panel, a log).

The learner bundle is built in a temporary folder with ex1 already solved; the watcher starts on ex2, a
correct ex2 is saved, and the watcher must say so and move on to ex3; ``h`` shows ex3's first hint and
``q`` ends it. Off a terminal the same happens in plain lines (no escape codes), keys followed by Enter.
Waits for output have a generous deadline and assert nothing about time.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pexpect
import pytest

from autograder.manifest import SOLUTIONS_DIR
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


class PipedWatcher:
    """``python -m exercises.watch`` with its stdin and stdout pipes; a thread collects what it prints."""

    def __init__(self, bundle: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exercises.watch"],
            cwd=bundle,
            env=learner_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.lines.put(raw.decode("utf-8", errors="replace"))
        self.lines.put(None)

    def expect_line(self, words: str) -> str:
        """Wait (up to the generous deadline) for a line holding ``words``; return it."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            line = None
            with contextlib.suppress(queue.Empty):
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line is None:
                printed = "".join(self.seen)
                raise AssertionError(f"the watcher never printed {words!r}; it printed:\n{printed}")
            self.seen.append(line)
            if words in line:
                return line

    def send(self, text: str) -> None:
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()


def test_watch_prints_plain_lines_when_its_output_is_a_pipe(bundle):
    watcher = PipedWatcher(bundle)
    try:
        watcher.expect_line("ex1  softmax with a temperature  done")
        watcher.expect_line(
            "[watching exercises/, on ex2] save a file to check again; h: a hint, q: quit (then Enter)"
        )
        shutil.copyfile(SOLUTIONS_DIR / "ex2_distillation.py", bundle / "exercises" / "ex2_distillation.py")
        watcher.expect_line("ex2 done: on to ex3")
        watcher.expect_line("ex3  halving BERT's layers       not started  -> open exercises/ex3_layers.py")
        watcher.expect_line("[watching exercises/, on ex3]")
        watcher.send("h\n")
        watcher.expect_line("ex3 hint 1 of 4: student_layer_indices is a one-liner")
        watcher.send("q\n")
        status = watcher.process.wait(timeout=DEADLINE_SECONDS)
    finally:
        if watcher.process.poll() is None:
            watcher.process.kill()
            watcher.process.wait()
    while (line := watcher.lines.get(timeout=DEADLINE_SECONDS)) is not None:
        watcher.seen.append(line)
    printed = "".join(watcher.seen)
    assert status == 0, printed
    assert "\x1b" not in printed, f"escape codes in the watcher's output to a pipe:\n{printed!r}"
    assert "Traceback" not in printed, printed


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
