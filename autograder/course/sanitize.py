"""Autograde preprocessors that survive the ways learners edit a notebook.

Two of nbgrader's own sanitizing steps break on ordinary edits:

* A copied cell: ``DeduplicateIds`` empties the copy's ``nbgrader`` metadata instead of removing it, the
  metadata check then takes the empty dict for an ancient schema and raises ``SchemaTooOldError``, which
  stops ``nbgrader autograde`` for the whole class. :class:`DropDuplicateGradeIds` removes the metadata,
  so the copy becomes an ordinary cell (the last copy keeps the identity, as in nbgrader).
* A deleted test cell: by default the grade is simply missing (0 points, nothing run); with
  ``add_missing_cells`` nbgrader puts the cell back, but looks up its neighbour with an index that fails
  when that neighbour was a read-only cell. :class:`RestoreMissingCells` puts every missing graded cell
  back after the nearest earlier nbgrader cell still in the submission, so its tests run as released.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import DeduplicateIds, OverwriteCells
from traitlets import Bool


class DropDuplicateGradeIds(DeduplicateIds):
    """Like ``DeduplicateIds``, but a duplicate loses its ``nbgrader`` metadata entirely."""

    def preprocess_cell(self, cell, resources, cell_index):
        if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id in self.grade_ids:
            self.log.warning(
                "Cell with id '%s' exists multiple times; the copy is graded as an ordinary cell", grade_id
            )
            del cell.metadata["nbgrader"]
            cell.metadata.pop("deletable", None)
            cell.metadata.pop("editable", None)
        else:
            self.grade_ids.add(grade_id)
        return cell, resources


class RestoreMissingCells(OverwriteCells):
    """Like ``OverwriteCells``, and put back graded cells the learner deleted, where they were released."""

    add_missing_cells = Bool(True, help="Put deleted graded cells back before grading.").tag(config=True)

    def add_missing_grade_cells(self, nb, resources):
        source_notebook = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_order = [cell.name for cell in source_notebook.source_cells]
        source_by_name = {cell.name: cell for cell in source_notebook.source_cells}
        solution_ids = {cell.name for cell in source_notebook.solution_cells}
        for grade_cell in sorted(source_notebook.grade_cells, key=lambda cell: source_order.index(cell.name)):
            present = _grade_id_positions(nb)
            if grade_cell.name in present:
                continue
            self.log.warning(
                "Graded cell %s was deleted from the submission; putting it back", grade_cell.name
            )
            restored = self.missing_cell_transform(
                source_by_name[grade_cell.name],
                grade_cell.max_score,
                is_solution=grade_cell.name in solution_ids,
            )
            earlier = source_order[: source_order.index(grade_cell.name)]
            anchors = [present[name] for name in earlier if name in present]
            nb.cells.insert(max(anchors) + 1 if anchors else 0, restored)
        return nb, resources


def _grade_id_positions(nb) -> dict[str, int]:
    return {
        cell.metadata["nbgrader"]["grade_id"]: index
        for index, cell in enumerate(nb.cells)
        if "grade_id" in cell.get("metadata", {}).get("nbgrader", {})
    }
