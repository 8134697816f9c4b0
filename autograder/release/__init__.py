"""Release: the learner's ``exercises/`` from ``solutions/``, and the learner bundle.

``solutions/`` is the single source of truth. A function body the learner writes is enclosed in
solution markers, at the body's indentation::

    def softmax_with_temperature(logits, temperature=1.0, dim=-1):
        \"\"\"...\"\"\"
        # BEGIN SOLUTION: divide by the temperature, then a numerically stable softmax along dim
        ...
        # END SOLUTION

and the stub gets, in its place::

        # TODO(ex1): divide by the temperature, then a numerically stable softmax along dim
        raise NotImplementedError("ex1: implement softmax_with_temperature")

``python -m autograder release`` rewrites ``exercises/``; ``--check`` reports drift without writing;
``--bundle PATH`` also writes what learners download (a folder, or a zip when PATH ends in ``.zip``).

A release records what it wrote (``exercises/.released.json``, each file's SHA-256; not committed).
The next one rewrites or removes a file only while it is still what a release wrote; a file edited by
hand (or added) since then stops the release, which names it, unless ``--force``. Before any recorded
release (a fresh clone), what the last commit holds counts as released (``git status``).

The modules: :mod:`.stubs` (solution regions -> a stub), :mod:`.tree` (``exercises/`` rendered, checked
and written, with its record of what was released), :mod:`.bundle` (the learners' download) and
:mod:`.command` (``python -m autograder release``).
"""

from __future__ import annotations

from .bundle import BUNDLE_TEMPLATES, BUNDLE_TEMPLATES_DIR, ZIP_TIMESTAMP, build_bundle, bundle_files
from .stubs import Region, StubError, exercise_id_for, find_regions, make_stub
from .tree import (
    IGNORED_DIRS,
    IGNORED_SUFFIXES,
    MANIFEST,
    NOTEBOOK,
    EditedFiles,
    check_exercises,
    edited_files,
    read_manifest,
    render_exercises,
    write_exercises,
)

__all__ = [
    "BUNDLE_TEMPLATES",
    "BUNDLE_TEMPLATES_DIR",
    "IGNORED_DIRS",
    "IGNORED_SUFFIXES",
    "MANIFEST",
    "NOTEBOOK",
    "ZIP_TIMESTAMP",
    "EditedFiles",
    "Region",
    "StubError",
    "build_bundle",
    "bundle_files",
    "check_exercises",
    "edited_files",
    "exercise_id_for",
    "find_regions",
    "make_stub",
    "read_manifest",
    "render_exercises",
    "write_exercises",
]
