"""The one fixture through which the graders reach a submission.

Under the grading engine, the engine's plugin hands over a connection to a worker process. For
developing graders, ``pytest autograder/graders --submission-dir DIR`` stages DIR and answers calls in
this process (trusted code only: never use it on learners' work).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from autograder.submission import LocalConnection, Submission


def pytest_addoption(parser):
    parser.addoption(
        "--submission-dir",
        default=None,
        help="development only: grade this trusted folder in-process",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): how many points the check is worth")
    config.addinivalue_line(
        "markers",
        "requires(check, ...): a side-property check whose points count only when these earlier checks of "
        "the same exercise pass (see autograder/grading/plugin.py)",
    )
    config.addinivalue_line(
        "markers",
        "needs(module, ...): the check needs these modules (transformers); the engine imports them in a "
        "process of their own, while the other checks are graded without them",
    )


@pytest.fixture(scope="session")
def submission(request) -> Submission:
    connection = getattr(request.config, "_autograder_connection", None)
    if connection is None:
        folder = request.config.getoption("--submission-dir")
        if folder is None:
            pytest.exit("no submission: run the graders through `python -m autograder grade`", returncode=4)
        from autograder.grading.staging import PACKAGE, stage

        staged = stage(Path(folder), Path(tempfile.mkdtemp(prefix="ag-dev-")))
        sys.path.insert(0, str(staged))
        for name in list(sys.modules):
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                del sys.modules[name]
        connection = LocalConnection(PACKAGE)
    return Submission(connection)
