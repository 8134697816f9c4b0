"""The fixed names and limits of the nbgrader course, shared by its configuration and its commands."""

from __future__ import annotations

COURSE_ID = "distil-roberta"
ASSIGNMENT_ID = "walkthrough"
NOTEBOOK_FILENAME = f"{ASSIGNMENT_ID}.ipynb"

EXERCISES_ASSIGNMENT_ID = "exercises"
"""The gradebook assignment holding the five Python exercises' points from ``python -m autograder grade``."""

CELL_TIMEOUT_SECONDS = 30
"""Per-cell limit in autograde (nbgrader's ``Execute.timeout``): a cell that runs longer is interrupted."""

SUBMISSION_FILENAME_REGEXP = (
    r".*[/\\](?P<student_id>[\w.@-]+?)(?:_|[/\\])(?P<file_id>" + ASSIGNMENT_ID + r")[^/\\]*\.ipynb$"
)
"""How ``zip_collect`` reads a student id from a file in an LMS download.

Matched against each extracted file's path. Accepted layouts inside the zip (at any depth):
``<student>_walkthrough.ipynb``, ``<student>/walkthrough.ipynb``, and the same with a suffix the LMS or
the learner added before ``.ipynb`` (``<student>_walkthrough (1).ipynb``). A student id is made of
letters, digits, ``_``, ``.``, ``@`` and ``-``.
"""

DEFAULT_COURSE_DIR = "nbgrader-course"
