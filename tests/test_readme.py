"""The README tells the truth: its cheap command blocks run, and the demo's printed lines are what it says.

The demo block is compared line by line with what ``python -m autograder grade`` prints today: the table
exactly, the ``graded`` lines as a set (their order follows which grading child finishes first), and the
opening lines with the output folder put in. The ``sandbox:`` line names the protections in force, which
depend on the machine (root or not, the kernel), so it is compared only when grading as root, as in CI.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys

import pytest

from autograder.manifest import REPO_ROOT

README = REPO_ROOT / "README.md"
DEMO_OUT = "autograder-out"


def _blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of the README as (info string, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _block_after(text: str, command: str) -> list[str]:
    """The lines of the plain block that follows the bash block holding exactly ``command``."""
    blocks = _blocks(text)
    for (info, body), (_, after) in itertools.pairwise(blocks):
        if info == "bash" and body.strip() == command:
            return after.rstrip("\n").split("\n")
    raise AssertionError(f"README.md has no ```bash block holding only {command!r} followed by its output")


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("readme") / DEMO_OUT
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--out", str(out)],
        check=False,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, f"the demo exited {run.returncode}: {run.stdout.strip()[-500:]}"
    return run.stdout.replace(str(out), DEMO_OUT).rstrip("\n").split("\n")


def test_demo_table_is_what_grade_prints(demo_output):
    promised = _block_after(README.read_text(), "python -m autograder grade")
    start = promised.index(next(line for line in promised if line.startswith("student ")))
    table = promised[start:]
    assert table == demo_output[-len(table) :], "README's demo table differs from what the command prints"


def test_demo_graded_lines_and_opening_lines_are_what_grade_prints(demo_output):
    promised = _block_after(README.read_text(), "python -m autograder grade")

    def graded(lines: list[str]) -> set[str]:
        return {re.sub(r" \(\d+/\d+\)$", "", line) for line in lines if line.startswith("graded ")}

    shown = graded(promised)
    assert shown and shown <= graded(demo_output)
    openings = [line for line in promised if not line.startswith("graded ")][:2]
    assert openings[0] == demo_output[0]
    assert openings[1].startswith("sandbox: ")
    if os.geteuid() == 0:
        assert openings[1] == demo_output[1]
