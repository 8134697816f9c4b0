"""Fixtures shared across test files."""

from __future__ import annotations

import os
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.manifest import REPO_ROOT
from autograder.release import build_bundle


@dataclass(frozen=True)
class LearnerMachine:
    """A fresh venv with the learner bundle installed in it, as a learner installs it."""

    python: Path
    bundle: Path
    """The bundle as built (read-only for the tests: copy it before running anything in it)."""
    env: dict[str, str]
    """The environment to run the venv's python in (no PYTHONPATH or VIRTUAL_ENV of this process)."""


@pytest.fixture(scope="session")
def learner_machine(tmp_path_factory) -> LearnerMachine:
    """One venv for the tests that need a learner's machine but not a fresh one each, built once per run.

    The bundle is installed with ``pip install -c .ci/constraints.txt .`` (torch pinned to the local CPU
    build). The test that proves the README's commands work as written builds its own venv.
    """
    base = tmp_path_factory.mktemp("learner-machine")
    bundle = build_bundle(base / "bundle")
    environment = base / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(environment)
    python = environment / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(REPO_ROOT / ".ci" / "constraints.txt"), "."],
        check=False,
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return LearnerMachine(python=python, bundle=bundle, env=env)
