"""``python -m autograder``'s help is written for its users and costs no torch import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.cli import VERBS, build_parser

LIGHT_CHECK = """
import contextlib, io, sys
from autograder.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print("torch imported" if "torch" in sys.modules else "no torch")
print(out.getvalue())
"""


def _help(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_CHECK, *argv], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def test_top_level_help_speaks_to_users_and_imports_no_torch():
    text = _help("--help")
    assert text.startswith("no torch")
    assert "parsing only" not in text
    assert "grade submissions with the hidden graders" in text
    assert "examples:" in text
    for verb in VERBS:
        assert verb in text


@pytest.mark.parametrize("verb", ["release", "gradescope", "prairielearn", "lms"])
def test_verbs_without_models_show_help_without_torch(verb):
    assert _help(verb, "--help").startswith("no torch")


def test_grade_help_shows_every_limit_default():
    sub = build_parser(only="grade")._subparsers._group_actions[0].choices["grade"]
    text = " ".join(sub.format_help().split())
    assert "(default 1)" in text  # --jobs, from its own help text
    assert "per call into a submission (default 20.0)" in text
    assert "in MB (default 2048)" in text
    assert "whole of one submission (default 300.0)" in text
    assert "(default False)" not in text
