"""``python -m autograder release``: write ``exercises/`` (``--check``: only compare), release the
notebook through nbgrader, and with ``--bundle PATH`` write the learner bundle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.manifest import EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR

from .bundle import build_bundle
from .stubs import StubError
from .tree import (
    NOTEBOOK,
    EditedFiles,
    check_exercises,
    edited_files,
    read_manifest,
    record_written,
    write_exercises,
)


def _release_notebook(exercises_dir: Path, solutions_dir: Path) -> str:
    if not (solutions_dir / NOTEBOOK).is_file():
        return f"no {solutions_dir.name}/{NOTEBOOK}: notebook not released"
    try:
        from autograder.course import release_notebook
    except ImportError as exc:
        return f"notebook not released: autograder.course.release_notebook is not available ({exc})"
    released = release_notebook(exercises_dir)
    if Path(released).resolve() == (exercises_dir / NOTEBOOK).resolve():
        record_written(exercises_dir, {NOTEBOOK: Path(released).read_bytes()}, read_manifest(exercises_dir))
    return f"released {_shown(Path(released))} (nbgrader)"


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="rewrite exercises/ even where a file was edited since the last release (the edits are lost)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files of exercises/ that are not what solutions/ makes",
    )
    mode.add_argument(
        "--bundle",
        metavar="PATH",
        type=Path,
        help="also write the learner bundle (exercises/, README.md, pyproject.toml) to PATH, "
        "a folder or a .zip",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.check:
            drift = check_exercises()
            if drift:
                print(f"{EXERCISES_DIR.name}/ is out of date with {SOLUTIONS_DIR.name}/:")
                for line in drift:
                    print(f"  {line}")
                edited = edited_files()
                if edited:
                    print(
                        f"{', '.join(edited)} edited by hand since the last release: make the edits "
                        f"in {SOLUTIONS_DIR.name}/, then run `python -m autograder release --force`."
                    )
                else:
                    print("Run `python -m autograder release` to rewrite it (never edit a stub by hand).")
                return 1
            print(f"{EXERCISES_DIR.name}/ is current with {SOLUTIONS_DIR.name}/ (notebook not checked here).")
            return 0
        changes = write_exercises(force=args.force)
    except StubError as exc:
        print(f"release failed: {exc}", file=sys.stderr)
        return 2
    except EditedFiles as exc:
        print(
            f"release stopped, nothing written: {', '.join(exc.files)} changed since the last release "
            f"(edit {SOLUTIONS_DIR.name}/ instead, or run again with --force to overwrite them)",
            file=sys.stderr,
        )
        return 1
    for line in changes:
        print(line)
    if not changes:
        print(f"{EXERCISES_DIR.name}/ was already current.")
    try:
        print(_release_notebook(EXERCISES_DIR, SOLUTIONS_DIR))
    except Exception as exc:  # noqa: BLE001 (nbgrader's errors share no base class; report any, fail)
        print(f"releasing the notebook failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.bundle is not None:
        try:
            written = build_bundle(args.bundle)
        except FileExistsError as exc:
            print(f"bundle not written: {exc}", file=sys.stderr)
            return 1
        print(f"learner bundle: {written}")
    return 0
