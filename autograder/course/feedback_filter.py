"""Keep the hidden tests hidden in the feedback returned to learners.

nbgrader's ``generate_feedback`` renders the autograded notebook, whose test cells hold the hidden tests
again (restored from the gradebook at autograde) and whose failed checks carry full tracebacks through the
hidden test code. This preprocessor runs before the HTML export: in every autograded test cell the hidden
region becomes a one-line note and an error output keeps only its name and message, so a learner sees
"AssertionError: entropy at T=5 ... did you multiply by T?" and the cell's score, never the test itself.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_test_cell(cell) -> bool:
    """Whether ``cell`` is an autograded test cell (graded code that is not the learner's solution)."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(nbgrader.get("grade")) and not nbgrader.get("solution")


def hide_hidden_regions(source: str, begin: str, end: str, note: str) -> str:
    """Replace every hidden-test region of ``source`` (delimiter lines included) by ``note``.

    A region whose end delimiter is missing runs to the end of the cell, so nothing after an opening
    delimiter ever shows.
    """
    kept: list[str] = []
    hiding = False
    for line in source.splitlines():
        if not hiding and begin in line:
            hiding = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(indent + note)
        elif hiding:
            if end in line:
                hiding = False
        else:
            kept.append(line)
    return "\n".join(kept)


def error_summary(ename: str, evalue: str, timeout_message: str) -> str:
    """One line for a failed check: the exception's name and its message, without colour codes."""
    message = ANSI_ESCAPE.sub("", evalue or "").strip()
    if ename == "CellTimeoutError" and not message:
        message = timeout_message
    return f"{ename}: {message}" if message else ename


class HideHiddenTests(Preprocessor):
    """Hide hidden-test source and tracebacks in autograded test cells before feedback is rendered."""

    enabled = Bool(True, help="nbconvert runs a preprocessor only when it is enabled.").tag(config=True)
    begin_delimiter = Unicode("BEGIN HIDDEN TESTS", help="Line marker that opens a hidden-test region.").tag(
        config=True
    )
    end_delimiter = Unicode("END HIDDEN TESTS", help="Line marker that closes a hidden-test region.").tag(
        config=True
    )
    hidden_note = Unicode(
        "# (hidden tests: not shown here; a failed check's message appears below the cell)",
        help="What a learner sees in place of a hidden-test region.",
    ).tag(config=True)
    timeout_message = Unicode(
        "this cell ran longer than the time limit and was stopped (an endless loop?)",
        help="Message for a timed-out cell, whose error carries none.",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if not is_test_cell(cell):
            return cell, resources
        cell.source = hide_hidden_regions(
            cell.source, self.begin_delimiter, self.end_delimiter, self.hidden_note
        )
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [
                    error_summary(
                        output.get("ename", "Error"), output.get("evalue", ""), self.timeout_message
                    )
                ]
        return cell, resources
