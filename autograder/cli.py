"""The verbs of ``python -m autograder``: parsing only; each verb's work lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
VERBS = {
    "release": ("autograder.release", "write exercises/ (stubs) from solutions/, or a learner bundle"),
    "grade": ("autograder.engine", "grade submissions with the hidden graders; writes grades.csv and more"),
    "course": ("autograder.course.commands", "the nbgrader course: release, autograde, feedback, export"),
    "gradescope": ("autograder.platforms.gradescope", "write the Gradescope autograder zip"),
    "prairielearn": ("autograder.platforms.prairielearn", "write a PrairieLearn external grader"),
    "lms": ("autograder.platforms.lms", "write grades as a Canvas or Moodle gradebook CSV"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that verb's module is imported (torch only for verbs needing it)."""
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        if only is not None and verb != only:
            continue
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    verb = given[0] if given and given[0] in VERBS else None
    args = build_parser(only=verb or "").parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
