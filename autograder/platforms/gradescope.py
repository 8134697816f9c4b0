"""Gradescope: the autograder bundle, and the grading its ``run_autograder`` does for each submission.

``python -m autograder gradescope --out autograder.zip [--visibility ...]`` writes the zip to upload as a
programming assignment's autograder ("Zip file upload"). Gradescope unpacks it into
``/autograder/source``, runs ``setup.sh`` once to build the image, then ``run_autograder`` in
``/autograder`` for every submission: the student's upload is in ``/autograder/submission`` and the result
goes to ``/autograder/results/results.json``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/).

The bundle holds this package's grading code (the engine, the sandbox, the hidden graders) and the given
code the graders use (``solutions/model.py``, ``support/checking.py``, ``support/diagnosis/``), never the
reference solutions of the five exercises, the notebook course or the demo class.

``python -m autograder.platforms.gradescope [--root DIR] [--visibility ...]`` is what ``run_autograder``
calls; ``AUTOGRADER_ROOT`` (default ``/autograder``) moves the whole tree, so it also runs in a temp tree.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from autograder.grading import intake
from autograder.manifest import EXERCISES, REPO_ROOT

from .common import PlatformError, fail, grade_upload, upload_listing, write_results

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
DEFAULT_VISIBILITY = "after_due_date"
DEFAULT_ROOT = "/autograder"
TORCH_REQUIREMENT = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The parts of autograder/ a grading run needs; course/ (nbgrader), demo/ and learner_bundle/ stay out.
GRADING_PACKAGES = ("grading", "graders", "results", "sandbox", "wire", "platforms")
# What the graders import from solutions/: the given model and the shared checking and diagnosis
# helpers (the learner has them too: exercises/model.py, exercises/support/); no exercise solution.
DIAGNOSIS_MODULES = ("softmax", "distillation", "layers", "masking", "params")
GIVEN_SOLUTION_FILES = (
    "__init__.py",
    "exercises.toml",
    "model.py",
    "support/__init__.py",
    "support/checking.py",
    "support/stub_message.py",
    *(f"support/diagnosis/{name}.py" for name in ("__init__", "core", *DIAGNOSIS_MODULES)),
)
SKIPPED_SUFFIXES = (".pyc", ".pyo")

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euxo pipefail
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv python3-pip libseccomp2
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# The CPU build of torch, pinned (the default index would pull a multi-GB CUDA build).
/autograder/venv/bin/python -m pip install --index-url {TORCH_CPU_INDEX} {TORCH_REQUIREMENT}
# The grading package itself, without its development extras.
/autograder/venv/bin/python -m pip install /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this in /autograder for every submission: the upload is in submission/, the result
# goes to results/results.json. AUTOGRADER_ROOT moves the tree (for a test run outside Gradescope).
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON=python3
if [ -x "$ROOT/venv/bin/python" ]; then
  PYTHON="$ROOT/venv/bin/python"
fi
cd "$ROOT"
exec "$PYTHON" -m autograder.platforms.gradescope --root "$ROOT" --visibility {visibility}
"""

BUNDLE_README = """# Gradescope autograder: DistilBERT and RoBERTa exercises

Built by `python -m autograder gradescope`. Upload this zip as the autograder of a programming
assignment worth {max_total} points. Students upload their five `ex*.py` files, or the zip that
`python -m exercises.handin STUDENT_ID` writes. Test visibility: `{visibility}`.

`setup.sh` installs the CPU build of torch and this package; `run_autograder` grades
`/autograder/submission` with the hidden graders in a sandbox and writes `/autograder/results/results.json`.
"""


# --------------------------------------------------------------------------------------------------
# The bundle


def _package_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        files[f"autograder/{path.name}"] = path
    for package in GRADING_PACKAGES:
        for path in sorted((PACKAGE_DIR / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in SKIPPED_SUFFIXES:
                files[path.relative_to(PACKAGE_DIR.parent).as_posix()] = path
    solutions = REPO_ROOT / "solutions"
    for name in GIVEN_SOLUTION_FILES:
        files[f"solutions/{name}"] = solutions / name
    files["pyproject.toml"] = REPO_ROOT / "pyproject.toml"
    return files


def bundle_files(visibility: str = DEFAULT_VISIBILITY) -> dict[str, bytes]:
    """What the autograder zip holds: path in the zip -> bytes.

    Raises:
        PlatformError: a file of the bundle is missing (the package is not a source checkout).
    """
    if visibility not in VISIBILITIES:
        raise PlatformError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    from autograder.manifest import MAX_TOTAL

    contents: dict[str, bytes] = {
        "setup.sh": SETUP_SH.encode(),
        "run_autograder": RUN_AUTOGRADER.format(visibility=visibility).encode(),
        "README.md": BUNDLE_README.format(visibility=visibility, max_total=MAX_TOTAL).encode(),
    }
    for name, path in _package_files().items():
        try:
            contents[name] = path.read_bytes()
        except OSError as exc:
            raise PlatformError(
                f"{path}: cannot read it for the bundle ({exc.strerror or exc}); build the bundle from a "
                "checkout of the repository"
            ) from None
    return contents


def build_bundle(out: Path | str, visibility: str = DEFAULT_VISIBILITY) -> Path:
    """Write the autograder zip to ``out``; the same sources give the same bytes.

    Raises:
        PlatformError: a bundle file is missing, or ``out`` cannot be written.
    """
    out = Path(out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(bundle_files(visibility).items()):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(buffer.getvalue())
    except OSError as exc:
        raise PlatformError(f"{out}: cannot write the bundle ({exc.strerror or exc})") from None
    return out


# --------------------------------------------------------------------------------------------------
# One submission, as run_autograder grades it


def _student_name(root: Path) -> str:
    """Who submitted, from Gradescope's ``submission_metadata.json`` (email, else name); "submission"."""
    try:
        metadata = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        user = metadata["users"][0]
        return str(user.get("email") or user.get("name") or "submission")
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "submission"


def _no_files_output(note: str, upload: Path) -> str:
    wanted = ", ".join(exercise.filename for exercise in EXERCISES)
    return (
        f"Nothing was graded ({note}): none of {wanted} was found in your upload (found: "
        f"{upload_listing(upload)}). Upload those files, or the zip that "
        "`python -m exercises.handin YOUR_ID` writes, and submit again."
    )


def results_json(root: Path, visibility: str) -> dict[str, Any]:
    """Grade ``root/submission`` and return Gradescope's ``results.json`` content.

    Raises:
        PlatformError: no submission folder, or the graders are broken.
    """
    from autograder.results import gradescope_json

    started = time.monotonic()
    upload = root / "submission"
    result = grade_upload(upload, _student_name(root))
    data = gradescope_json(result)
    if result.note == intake.NO_EXERCISE_FILES or (result.note and not result.checks):
        data["output"] = _no_files_output(result.note, upload)
    data["visibility"] = visibility
    data["stdout_visibility"] = "hidden"
    data["execution_time"] = round(time.monotonic() - started, 1)
    data["extra_data"]["engine_seconds"] = round(result.execution_time, 2)
    for test in data["tests"]:
        test["visibility"] = visibility
    return data


def run_autograder(root: Path | str, visibility: str = DEFAULT_VISIBILITY) -> int:
    """Grade the submission under ``root`` and write ``root/results/results.json``; 0 when written.

    On a set-up problem (no submission folder, broken graders) nothing is written, so Gradescope shows
    the run as failed instead of recording a score, and one line goes to the instructor's log.
    """
    root = Path(root)
    try:
        data = results_json(root, visibility)
        write_results(root, data)
    except PlatformError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename or root}: {exc.strerror or exc}")
    print(data["output"].splitlines()[0])
    return 0


# --------------------------------------------------------------------------------------------------
# Command lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``python -m autograder gradescope``: build the bundle."""
    parser.add_argument(
        "--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default autograder.zip)"
    )
    parser.add_argument(
        "--visibility",
        choices=VISIBILITIES,
        default=DEFAULT_VISIBILITY,
        help=f"when students see the tests and score (default {DEFAULT_VISIBILITY})",
    )


def run(args: argparse.Namespace) -> int:
    try:
        written = build_bundle(args.out, args.visibility)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder: {written} (visibility {args.visibility}); upload it as the autograder zip")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``run_autograder``'s command: grade one submission under the Gradescope tree."""
    parser = argparse.ArgumentParser(prog="python -m autograder.platforms.gradescope", description=__doc__)
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT),
        help="the Gradescope tree (default $AUTOGRADER_ROOT, else /autograder)",
    )
    parser.add_argument("--visibility", choices=VISIBILITIES, default=DEFAULT_VISIBILITY)
    args = parser.parse_args(argv)
    return run_autograder(args.root, args.visibility)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
