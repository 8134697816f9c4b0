"""The grading flow: ``python -m autograder grade`` and its library API.

One job per module:

- :mod:`.plan`: the graders collected once (:func:`prepare`), the checks and what each needs;
- :mod:`.batch`: a batch's submissions, a grading child each, results handed on as they complete
  (:func:`grade_submissions`, :func:`grade_one`);
- :mod:`.processes`: forking a child, the one loop that runs children within their limits, the
  :class:`~.processes.Part` a child reports;
- :mod:`.child`: what runs in a grading child (staging, pytest on the hidden graders);
- :mod:`.late`: the checks that need transformers, graded by a process of their own;
- :mod:`.plugin`: the pytest plugin that turns a graders run into per-check points and messages;
- :mod:`.staging`: a submission's files copied into a private folder as a package;
- :mod:`.intake`: Canvas and Moodle bulk downloads, rosters;
- :mod:`.graded_with` (provenance), :mod:`.progress`, :mod:`.command` (the verb's options and output).

The names below are imported on first use, so that ``import autograder.grading.staging`` (the
sandbox's) does not import torch and pytest.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "BadSubmission": "autograder.grading.staging",
    "CheckResult": "autograder.results.model",
    "DuplicateStudent": "autograder.grading.batch",
    "GraderBug": "autograder.grading.plugin",
    "STOPPED": "autograder.grading.processes",
    "SubmissionResult": "autograder.results.model",
    "add_arguments": "autograder.grading.command",
    "grade_one": "autograder.grading.batch",
    "grade_submissions": "autograder.grading.batch",
    "make_limits": "autograder.grading.batch",
    "make_readable": "autograder.grading.child",
    "partition_paths": "autograder.grading.batch",
    "prepare": "autograder.grading.plan",
    "provenance": "autograder.grading.graded_with",
    "run": "autograder.grading.command",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
