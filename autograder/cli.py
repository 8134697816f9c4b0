"""The verbs of ``python -m autograder``: parsing only; each verb's work lives in its own module."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from typing import NoReturn

DESCRIPTION = """\
The instructor's side of the DistilBERT and RoBERTa exercises: make the learners' stubs, grade
hand-ins with the hidden graders, and take the grades to Gradescope, PrairieLearn, Canvas or Moodle."""

EPILOG = """\
examples:
  python -m autograder release --bundle learner.zip    the learners' download
  python -m autograder grade hand-ins/ --jobs 2        grade a class (grades.csv, report.html)
  python -m autograder grade                           grade the demo class
  python -m autograder lms canvas --grades autograder-out/grades.csv --roster roster.csv --out canvas.csv

'python -m autograder VERB --help' shows a verb's options."""

# verb -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
VERBS = {
    "release": ("autograder.release.command", "write exercises/ from solutions/, or the learner bundle"),
    "grade": ("autograder.grading.command", "grade submissions with the hidden graders; writes grades.csv"),
    "course": ("autograder.course.commands", "the nbgrader course: release, autograde, feedback, export"),
    "gradescope": ("autograder.platforms.gradescope", "write the Gradescope autograder zip"),
    "prairielearn": ("autograder.platforms.prairielearn", "write a PrairieLearn external grader"),
    "lms": ("autograder.platforms.lms", "write grades as a Canvas or Moodle gradebook CSV"),
    "dev": ("autograder.dev.command", "for maintainers: check that every place follows the manifest"),
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and shows an option's default when its help does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or action.option_strings == []
            or isinstance(action, argparse._SubParsersAction)
        ):
            return text
        return f"{text} (default %(default)s)"


class _Parser(argparse.ArgumentParser):
    """A bad option or argument is one line naming it, without the usage text before it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that verb's module is imported (torch only for verbs needing it)."""
    parser = _Parser(
        prog="python -m autograder",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text, formatter_class=_HelpFormatter)
        if only is not None and verb != only:
            continue
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parses ``argv`` (default ``sys.argv[1:]``), runs the chosen verb and returns its exit status."""
    for stream in (sys.stdout, sys.stderr):  # a name that is not UTF-8 is printed escaped, never fatal
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    given = sys.argv[1:] if argv is None else argv
    verb = given[0] if given and given[0] in VERBS else None
    args = build_parser(only=verb or "").parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
