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
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
