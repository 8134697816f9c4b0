"""The batch's progress on stderr: a bar on a terminal, plain lines ("graded alice: 87/100 (3/12)")
otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from autograder.manifest import MAX_TOTAL
from autograder.results import SubmissionResult
from autograder.results.model import number, terminal_safe

BAR_WIDTH = 30
LINE_WIDTH = 160


class Progress:
    """One line per submission graded (or found already graded), out of ``total``."""

    def __init__(self, total: int, stream: TextIO | None = None):
        self.total = total
        self.count = 0
        self.stream = stream if stream is not None else sys.stderr
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, verb: str, result: SubmissionResult) -> None:
        self.count += 1
        student = terminal_safe(result.student, lines=False)
        text = f"{verb} {student}: {number(result.total)}/{MAX_TOTAL} ({self.count}/{self.total})"
        if result.error:
            text += f" [{result.error.splitlines()[0][:100]}]"
        text = terminal_safe(text)
        if self.bar:
            filled = int(BAR_WIDTH * self.count / max(self.total, 1))
            line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"
            self.stream.write(line[:LINE_WIDTH].ljust(LINE_WIDTH))
            if self.count == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
