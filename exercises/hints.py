"""Hints on request, from a nudge to nearly the answer (never the code); the texts are in
``exercises.toml``.

python -m exercises.hints            which exercises have hints, and how many
python -m exercises.hints ex2        the first hint for ex2
python -m exercises.hints ex2 2      the second one
python -m exercises.hints ex2 --all  all of them
python -m exercises.hints --help     this usage
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn

from .support.manifest import MANIFEST, one_line, read_entries


def read_hints() -> tuple[dict[str, tuple[str, ...]], str | None]:
    """Each exercise's hints, from the manifest (``exercises.toml``'s ``hints``), in its order.

    Returns:
        ``{"ex1": ("Start with the plain softmax ...", ...), ...}`` and None; or an empty table and one
        line naming the problem when the manifest cannot be read.
    """
    entries, problem = read_entries()
    hints: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        texts = entry.get("hints", [])
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            return {}, f"the hints of {entry.get('id')!r} in {MANIFEST.name} are not a list of strings"
        if texts:
            hints[str(entry.get("id"))] = tuple(one_line(text) for text in texts)
    return hints, problem


HINTS, HINTS_PROBLEM = read_hints()
"""id -> its hints, each one line; why they could not be read, or None."""


def _command() -> str:
    return f"python -m {__package__ or 'exercises'}.hints"


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose error is one line naming the problem (and the choices), no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=_command(),
        description="Hints on request, one at a time, from a nudge to nearly the answer (never the code).",
        epilog=f"Examples: {_command()} ex2   |   {_command()} ex2 2   |   {_command()} ex2 --all",
    )
    parser.add_argument(
        "exercise", nargs="?", help=f"the exercise: {', '.join(HINTS)} (none: list how many hints each has)"
    )
    parser.add_argument("number", nargs="?", help="which hint, from 1 (default 1)")
    parser.add_argument("--all", action="store_true", help="show every hint of the exercise")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print hints as the command line asks; return the exit status.

    Args:
        argv: the arguments after the program name (``["ex2", "2"]``); None reads ``sys.argv``.

    Returns:
        0 on success, 2 for an unknown exercise or hint number.
    """
    if HINTS_PROBLEM is not None:
        print(f"{_command()}: {HINTS_PROBLEM}", file=sys.stderr)
        return 2
    parser = _parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if args.number == "--all":
        args.all, args.number = True, None
    if args.exercise is None:
        print("Hints, one at a time, from a nudge to nearly the answer:")
        for exercise, hints in HINTS.items():
            print(f"  {exercise}: {len(hints)} hints   ({_command()} {exercise})")
        return 0
    exercise = args.exercise.lower()
    if exercise not in HINTS:
        print(
            f"{_command()}: no exercise {args.exercise!r}; choose one of {', '.join(HINTS)}.", file=sys.stderr
        )
        return 2
    hints = HINTS[exercise]
    if args.all:
        numbers = list(range(1, len(hints) + 1))
    else:
        try:
            numbers = [int(args.number) if args.number is not None else 1]
        except ValueError:
            numbers = [0]
        if not 1 <= numbers[0] <= len(hints):
            print(
                f"{_command()}: {exercise} has hints 1 to {len(hints)} (or --all); got {args.number!r}.",
                file=sys.stderr,
            )
            return 2
    for number in numbers:
        heading = f"{exercise} hint {number} of {len(hints)}:"
        print(textwrap.fill(f"{heading} {hints[number - 1]}", width=100, subsequent_indent="  "))
    last = numbers[-1]
    if last < len(hints):
        print(f"(next: {_command()} {exercise} {last + 1})")
    return 0


def hint_count(exercise: str) -> int:
    """How many hints ``exercise`` has (0 for an unknown one)."""
    return len(HINTS.get(exercise, ()))


if __name__ == "__main__":
    sys.exit(main())
