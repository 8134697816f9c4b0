"""``python -m autograder dev check|sync``: the verb's options, the checks in order, and what it prints."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from autograder.dev import __doc__ as CHECKS_TEXT
from autograder.dev.graded import check_catalogue, check_points, check_solutions, check_stubs
from autograder.dev.places import (
    check_manifest,
    check_markers,
    check_places,
    check_readme,
    check_release,
    sync,
)
from autograder.manifest import REPO_ROOT, ManifestError

CHECKS: dict[str, Callable[[], list[str]]] = {
    "manifest": check_manifest,
    "places": check_places,
    "markers": check_markers,
    "readme": check_readme,
    "release": check_release,
    "points": check_points,
    "stubs": check_stubs,
    "solutions": check_solutions,
    "catalogue": check_catalogue,
}


def run_checks(names: list[str], report: Callable[[str], None] = print) -> int:
    """Runs the named checks in order, reporting a line per check and per problem; the problem count."""
    count = 0
    for name in names:
        problems = CHECKS[name]()
        report(f"{'ok  ' if not problems else 'FAIL'} {name}")
        for problem in problems:
            report(f"     {problem}")
        count += len(problems)
        if name == "manifest" and problems:
            report("     (the other checks need a manifest that reads)")
            break
    return count


# --------------------------------------------------------------------------------------------------
# The verb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="check that every place follows the exercise manifest (see the list below)",
        description=CHECKS_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--root", type=Path, help="check this copy of the repository instead")
    check.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=list(CHECKS),
        metavar="CHECK",
        help=f"leave a check out (repeatable): {', '.join(CHECKS)}",
    )
    check.add_argument(
        "--only",
        action="append",
        default=[],
        choices=list(CHECKS),
        metavar="CHECK",
        help="run only these checks",
    )
    sync_parser = actions.add_parser(
        "sync", help="rewrite the marker lists and README tables from the manifest", description=sync.__doc__
    )
    sync_parser.add_argument("--root", type=Path, help="sync this copy of the repository instead")


def _in_root(root: Path, argv: list[str]) -> int:
    """Runs ``python -m autograder dev ...`` with ``root``'s own code (a fixture or another checkout)."""
    if not (root / "solutions").is_dir() or not (root / "autograder").is_dir():
        print(
            f"dev: {root} is not a copy of this repository (no solutions/ and autograder/)", file=sys.stderr
        )
        return 2
    env = dict(os.environ, PYTHONPATH=str(root.resolve()), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "autograder", "dev", *argv], cwd=root, env=env, check=False
    ).returncode


def run(args: argparse.Namespace) -> int:
    if args.root is not None and args.root.resolve() != REPO_ROOT:
        argv = [args.action]
        if args.action == "check":
            argv += [f"--skip={name}" for name in args.skip] + [f"--only={name}" for name in args.only]
        return _in_root(args.root, argv)
    try:
        if args.action == "sync":
            changed = sync()
            print(f"dev sync: rewrote {', '.join(changed)}" if changed else "dev sync: everything is current")
            return 0
        names = [name for name in (args.only or CHECKS) if name not in args.skip]
        problems = run_checks(names)
    except ManifestError as exc:
        print(f"dev: {exc}", file=sys.stderr)
        return 1
    print(f"dev check: {problems} problem(s)" if problems else "dev check: everything follows the manifest")
    return 1 if problems else 0
