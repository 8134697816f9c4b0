"""Run one ``nbgrader`` command in a course root, in a child process with the course's configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from autograder.manifest import REPO_ROOT

LOG_NAME = "nbgrader.log"
"""Where, in the course, the output of the last nbgrader command that failed is kept."""


class NbgraderError(RuntimeError):
    """An nbgrader command exited with a failure status; the message (one line) ends with its last line
    of output and names the file that holds all of it."""


def nbgrader_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment nbgrader needs: this Python's ``bin`` on PATH and the package importable.

    nbgrader runs ``alembic`` from PATH when it creates a gradebook, and the course configuration imports
    ``autograder.course`` (the feedback filter, the export plugin).
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    python_path = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(python_path))
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if extra:
        env.update(extra)
    return env


def run_nbgrader(
    course_root: Path,
    arguments: Sequence[str],
    *,
    capture: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``nbgrader <arguments>`` with ``course_root`` as working directory (so its config applies).

    Args:
        course_root: The course directory holding ``nbgrader_config.py``.
        arguments: The nbgrader sub-command and its options, e.g. ``["autograde", "walkthrough"]``.
        capture: Keep nbgrader's log (its many lines, warnings from its database layer included) out of
            this process's stdout and stderr: returned on success; on a failure written to
            ``nbgrader.log`` in the course and named, with its last line, in the error. False lets it
            through.
        extra_env: Variables set for the child on top of :func:`nbgrader_environment`.

    Raises:
        NbgraderError: The command failed.
    """
    command = [sys.executable, "-m", "nbgrader", *arguments]
    completed = subprocess.run(
        command,
        cwd=course_root,
        env=nbgrader_environment(extra_env),
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise NbgraderError(_failure(course_root, arguments, completed))
    return completed


def _failure(course_root: Path, arguments: Sequence[str], completed: subprocess.CompletedProcess) -> str:
    """One line: the command, its status, its last line of output and where the whole of it is."""
    text = f"`nbgrader {' '.join(arguments)}` in {course_root} exited with status {completed.returncode}"
    output = completed.stdout or ""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if lines:
        text += f": {lines[-1][:300]}"
        log = Path(course_root) / LOG_NAME
        try:
            log.write_text(output)
            text += f" (its whole output: {log})"
        except OSError:
            pass
    return text
