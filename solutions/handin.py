"""Hand in your work: ``python -m exercises.handin STUDENT_ID [--out DIR]``.

Runs the visible checks once and prints your progress, then writes ``DIR/STUDENT_ID.zip`` (DIR is the
current folder unless ``--out`` says otherwise) holding your ``ex1_softmax.py`` ... ``ex5_params.py``
and ``walkthrough.ipynb`` when it is there, all at the top level of the zip. Upload that file: the
grader takes your student id from its name. Failing checks do not stop the hand-in; they cost points.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from pathlib import Path

EXERCISE_DIR = Path(__file__).resolve().parent
PACKAGE = EXERCISE_DIR.name
NOTEBOOK = "walkthrough.ipynb"
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
EXERCISE_FILE = re.compile(r"^ex\d+_\w+\.py$")
PROGRESS_HEADING = "your progress"


def handed_in_files(exercise_dir: Path = EXERCISE_DIR) -> list[Path]:
    """The files a hand-in holds: every ``exN_*.py``, then the notebook when there is one."""
    files = sorted(
        path for path in exercise_dir.iterdir() if EXERCISE_FILE.match(path.name) and path.is_file()
    )
    notebook = exercise_dir / NOTEBOOK
    if notebook.is_file():
        files.append(notebook)
    return files


def progress_summary(exercise_dir: Path = EXERCISE_DIR) -> str:
    """Run the visible checks (``pytest``) once and return the progress summary they end with."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(exercise_dir), "-q", "--tb=no", "-p", "no:cacheprovider"],
        check=False,
        capture_output=True,
        text=True,
        cwd=exercise_dir.parent,
    )
    lines = result.stdout.splitlines()
    headings = [i for i, line in enumerate(lines) if line.startswith("=") and PROGRESS_HEADING in line]
    start = headings[0] if headings else None
    if start is None:
        tail = "\n".join(lines[-5:] + result.stderr.strip().splitlines()[-3:])
        return f"(the visible checks did not print their progress summary; the end of their output:)\n{tail}"
    # "All 5 done. To hand in: python -m ...handin STUDENT_ID" is what you are doing: "All 5 done."
    return "\n".join(line.split(" To hand in: ", 1)[0] for line in lines[start:])


def write_handin(student_id: str, out_dir: Path, exercise_dir: Path = EXERCISE_DIR) -> Path:
    """Write ``out_dir/<student_id>.zip`` holding :func:`handed_in_files` at its top level; returns it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{student_id}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in handed_in_files(exercise_dir):
            archive.write(path, arcname=path.name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PACKAGE}.handin",
        description=(
            "Run the visible checks once, print your progress, and write DIR/STUDENT_ID.zip with your "
            f"ex*.py files (and {NOTEBOOK} when present) at its top level. Upload that zip: the grader "
            "takes your student id from its name."
        ),
    )
    parser.add_argument("student_id", metavar="STUDENT_ID", help="your student id, as your course gives it")
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="where to write the zip (default: here)"
    )
    args = parser.parse_args(argv)
    if not PLAIN_NAME.match(args.student_id):
        print(
            f"handin: {args.student_id!r} is not a plain name: use your student id, made of letters, "
            "digits and _ . @ - (at most 64 characters, no spaces or slashes)",
            file=sys.stderr,
        )
        return 2
    if not any(EXERCISE_FILE.match(path.name) for path in handed_in_files()):
        print(f"handin: no ex*.py file in {EXERCISE_DIR}: nothing to hand in", file=sys.stderr)
        return 1
    print(progress_summary())
    try:
        target = write_handin(args.student_id, args.out)
    except OSError as exc:
        target = args.out / f"{args.student_id}.zip"
        print(f"handin: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    names = ", ".join(path.name for path in handed_in_files())
    print(f"\nWrote {target} ({names}).")
    print(f"Upload {target.name}: the grader takes your student id ({args.student_id}) from its name.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
