"""A released notebook with the instructor's answers filled in: what a learner who got all right hands in.

Used to check a release end to end (``nbgrader validate`` passes, autograde gives full marks, the notebook
runs in a browser) without keeping a second copy of the answers anywhere.
"""

from __future__ import annotations

import copy

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def answer_text(source_cell_text: str) -> str:
    """A source cell's text with the solution delimiter lines removed: the complete answer."""
    lines = source_cell_text.splitlines()
    return "\n".join(line for line in lines if line.strip() not in SOLUTION_MARKERS)


def solution_cells_by_id(source_notebook) -> dict[str, str]:
    """``grade_id -> answer text`` for every solution cell of the source notebook."""
    answers = {}
    for cell in source_notebook.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("solution"):
            answers[nbgrader["grade_id"]] = answer_text(cell.source)
    return answers


def solved_copy(released_notebook, source_notebook):
    """A copy of ``released_notebook`` whose solution cells hold the source notebook's answers.

    Raises:
        KeyError: A solution cell of the released notebook has no counterpart in the source.
    """
    answers = solution_cells_by_id(source_notebook)
    solved = copy.deepcopy(released_notebook)
    for cell in solved.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("solution"):
            cell.source = answers[nbgrader["grade_id"]]
    return solved
