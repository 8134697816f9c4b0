"""The one fixture through which the graders reach a submission.

Under the grading engine, the engine's plugin hands over a connection to a worker process. For
developing graders, ``pytest autograder/graders --submission-dir DIR`` stages DIR and answers calls in
this process (trusted code only: never use it on learners' work).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
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
def submission(request) -> Iterator[Submission]:
    connection = getattr(request.config, "_autograder_connection", None)
    if connection is not None:
        yield Submission(connection)
        return
    folder = request.config.getoption("--submission-dir")
    if folder is None:
        pytest.exit("no submission: run the graders through `python -m autograder grade`", returncode=4)
    from autograder.grading.staging import PACKAGE, scratch_folder, stage

    with scratch_folder("ag-dev-") as scratch:  # removed when the session ends
        staged = str(stage(Path(folder), Path(scratch)))
        sys.path.insert(0, staged)
        for name in list(sys.modules):
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                del sys.modules[name]
        try:
            yield Submission(LocalConnection(PACKAGE))
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(staged)
