"""nbgrader configuration of the walk-through course (read by every ``nbgrader`` command run in the course).

``python -m autograder course init`` copies this file into the course root, with the line that says where
the ``autograder`` package lives filled in, so ``nbgrader ...`` typed by hand in the course root behaves
exactly like the ``python -m autograder course ...`` wrappers.
"""

from __future__ import annotations

import sys

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (provided by traitlets when it loads this file)

AUTOGRADER_PACKAGE_PARENT = None
if AUTOGRADER_PACKAGE_PARENT and AUTOGRADER_PACKAGE_PARENT not in sys.path:
    sys.path.append(AUTOGRADER_PACKAGE_PARENT)

from autograder.course import settings

c.CourseDirectory.course_id = settings.COURSE_ID

# A submission that loops forever is interrupted after this many seconds in one cell; the rest still runs.
c.Execute.timeout = settings.CELL_TIMEOUT_SECONDS
c.Execute.interrupt_on_timeout = True

# Learners copy and delete cells: a copied graded cell must not stop autograde for the class, and a
# deleted test cell is put back so its tests still run (see autograder/course/sanitize.py).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.course.sanitize.DropDuplicateGradeIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.course.sanitize.RestoreMissingCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback shows each cell's score and the hidden checks' messages, never their source or tracebacks.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "autograder.course.feedback_filter.HideHiddenTests",
]

# Submissions downloaded from an LMS as one zip: see settings.SUBMISSION_FILENAME_REGEXP for the layouts.
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = settings.SUBMISSION_FILENAME_REGEXP
c.ZipCollectApp.strict = True

# One row per student: the notebook's score next to the five exercises recorded by `record-grades`.
c.ExportApp.plugin_class = "autograder.course.export.WideCsvExportPlugin"
